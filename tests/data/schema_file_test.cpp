#include <catch2/catch.hpp>

#include <ldm/data/schema_file.hpp>
#include <ldm/data/table_reader.hpp>

#include "support/test_files.hpp"

#include <string>

TEST_CASE("write_schema / read_schema: the schema comes back whole") {
  const ldm::Schema schema = ldm::read_table(LDM_EXAMPLES_DATA_DIR "/penguins.csv").table.schema;
  ldm_test::TempDir dir("schema_file");
  const std::string path = dir.file("schema.json");
  ldm::write_schema(path, schema);
  CHECK(nlohmann::json(ldm::read_schema(path)) == nlohmann::json(schema));
  const nlohmann::json written = nlohmann::json::parse(ldm_test::read_bytes(path));
  CHECK(written["columns"][0]["type"] == "categorical");
  CHECK(written["columns"][2]["decimals"] == 1);
}

TEST_CASE("read_schema refuses what no table could have, naming the file") {
  ldm_test::TempDir dir("schema_file_bad");
  const std::string path = dir.file("s.json");
  const auto error = [&](const std::string& text) {
    ldm_test::write_bytes(path, text);
    try {
      (void)ldm::read_schema(path);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string at = "read_schema: " + path + ": ";
  CHECK(error(R"({"columns": [{"name": "a", "type": "text"}]})") ==
        at + "must be numeric, integer, categorical, date or datetime, got 'text'");
  CHECK(error(R"({"columns": [{"name": "a", "type": "categorical"}]})") ==
        at + "column 'a' is categorical but has no categories");
  CHECK(error(R"({"columns": [{"name": "a"}, {"name": "a"}]})") == at + "column 'a' appears twice");
  CHECK(error(R"({"columns": [{"name": "a", "type": "categorical", "categories": ["x", "x"]}]})") ==
        at + "column 'a' has a category twice");
  CHECK(error(R"({"columns": []})") == at + "the schema has no columns");
  CHECK(error(R"({"columns": [{"name": "a", "min": 2, "max": 1}]})") == at + "column 'a': min 2 is above max 1");
  CHECK_THAT(error("{"), Catch::Matchers::StartsWith(at + "[json.exception.parse_error"));
  CHECK(error(R"({"columns": [{"name": "a", "type": "integer", "min": 1, "max": 2}]})").empty());
  CHECK_THROWS_WITH(ldm::read_schema(dir.file("none.json")), "read_schema: cannot open " + dir.file("none.json"));
}

TEST_CASE("describe: one aligned line per column") {
  const ldm::TableRead r = ldm::read_table(LDM_EXAMPLES_DATA_DIR "/penguins.csv");
  CHECK(ldm::describe(r.table) ==
        "  species            categorical  3 categories (Adelie, Chinstrap, Gentoo)\n"
        "  island             categorical  3 categories (Biscoe, Dream, Torgersen)\n"
        "  bill_length_mm     numeric      32.1..59.6, 1 decimal, 2 missing ('NA')\n"
        "  bill_depth_mm      numeric      13.1..21.5, 1 decimal, 2 missing ('NA')\n"
        "  flipper_length_mm  integer      172..231, 2 missing ('NA')\n"
        "  body_mass_g        integer      2700..6300, 2 missing ('NA')\n"
        "  sex                categorical  2 categories (female, male), 11 missing ('NA')\n"
        "  year               integer      2007..2009\n");
  ldm::Schema s;
  s.columns.push_back({"k", ldm::ColumnType::categorical, {"1", "2", "3", "4", "5", "6", "7"}, true, ""});
  s.columns.push_back({"x", ldm::ColumnType::numeric, {}, false, "", -1, 2.5, 3});
  s.columns.push_back({"d", ldm::ColumnType::date, {}, true, "NA", -1, 11017});
  s.columns.push_back({"t", ldm::ColumnType::datetime, {}, false, "", 0, 86399});
  CHECK(ldm::describe(s) ==
        "  k  categorical  7 categories (1, 2, 3, 4, 5, 6, ...), has missing cells (empty)\n"
        "  x  numeric      -1.000..2.500, 3 decimals\n"
        "  d  date         1969-12-31..2000-03-01, has missing cells ('NA')\n"
        "  t  datetime     1970-01-01 00:00:00..1970-01-01 23:59:59\n");
  // A category that could be misread in the list is quoted.
  ldm::Schema q;
  q.columns.push_back(
      {"item", ldm::ColumnType::categorical, {"Lamp, desk", "chair", " stool", "", "x (y)"}, false, ""});
  CHECK(ldm::describe(q) == "  item  categorical  5 categories ('Lamp, desk', chair, ' stool', '', 'x (y)')\n");
}
