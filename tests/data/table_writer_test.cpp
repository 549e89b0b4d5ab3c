#include <catch2/catch.hpp>

#include <ldm/data/table_reader.hpp>
#include <ldm/data/table_writer.hpp>

#include "support/test_files.hpp"

#include <cmath>
#include <limits>
#include <sstream>
#include <string>

namespace {

const double NA = std::numeric_limits<double>::quiet_NaN();

bool same_table(const ldm::Table& a, const ldm::Table& b) {
  if (nlohmann::json(a.schema) != nlohmann::json(b.schema)) return false;
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  for (Eigen::Index r = 0; r < a.rows(); ++r)
    for (Eigen::Index c = 0; c < a.cols(); ++c)
      if (std::isnan(a.cells(r, c)) ? !std::isnan(b.cells(r, c)) : a.cells(r, c) != b.cells(r, c)) return false;
  return true;
}

ldm::Table example() {
  ldm::Schema s;
  s.columns.push_back({"name, full", ldm::ColumnType::categorical, {"a\"b", "plain", " edge", "x\ny"}, true, "NA"});
  s.columns.push_back({"w", ldm::ColumnType::numeric, {}, true, "", -2.5, 39.1, 2});
  s.columns.push_back({"n", ldm::ColumnType::integer, {}, false, "", -3, 2007});
  ldm::Table t{s, ldm::Matrix<double>(5, 3)};
  t.cells << 0, 39.1, 2007,  //
      1, 18, -3,             //
      2, NA, 0,              //
      NA, -2.5, 5,           //
      3, 0.25, 7;
  return t;
}

}  // namespace

TEST_CASE("write_table writes categories as text, missing cells as the file did, numbers on the column's grid") {
  ldm_test::TempDir dir("table_writer");
  const std::string path = dir.file("t.csv");
  ldm::write_table(path, example());
  CHECK(ldm_test::read_bytes(path) ==
        "\"name, full\",w,n\n"
        "\"a\"\"b\",39.1,2007\n"
        "plain,18,-3\n"
        "\" edge\",,0\n"
        "NA,-2.5,5\n"
        "\"x\ny\",0.25,7\n");
  CHECK(dir.entries() == std::vector<std::string>{"t.csv"});  // no temporary file left
}

TEST_CASE("read_table(write_table(t)) gives back t when its values are on the columns' grids") {
  ldm_test::TempDir dir("table_writer_round_trip");
  const std::string path = dir.file("t.csv");
  const ldm::Table t = example();
  ldm::write_table(path, t);
  const ldm::Table back = ldm::read_table(path, t.schema);
  CHECK(same_table(back, t));
  // The learned schema is the same too, but for the ranges and categories of what was written.
  ldm::write_table(path, t, ';');
  CHECK(same_table(ldm::read_table(path, t.schema, {.delimiter = ';'}), t));
}

TEST_CASE("write_table writes a date column as the dates it read, the nearest day of a generated value") {
  ldm_test::TempDir dir("table_writer_dates");
  const std::string path = dir.file("t.csv");
  const std::string text = "d,x\n2000-03-01,1\nNA,2\n1969-12-31,3\n";
  ldm_test::write_bytes(path, text);
  ldm::Table t = ldm::read_table(path).table;
  REQUIRE(t.schema.columns[0].type == ldm::ColumnType::date);
  ldm::write_table(path, t);
  CHECK(ldm_test::read_bytes(path) == text);
  // Date-times the same way.
  const std::string times = "t\n2000-03-01 12:34:56\n1969-12-31 23:59:59\n";
  ldm_test::write_bytes(path, times);
  const ldm::Table timed = ldm::read_table(path).table;
  REQUIRE(timed.schema.columns[0].type == ldm::ColumnType::datetime);
  ldm::write_table(path, timed);
  CHECK(ldm_test::read_bytes(path) == times);
  const std::string iso = "t,m\n2000-03-01T12:34:56,2000-03-01T12:34\n,1969-12-31T23:59\n";
  ldm_test::write_bytes(path, iso);
  ldm::write_table(path, ldm::read_table(path).table);
  CHECK(ldm_test::read_bytes(path) == iso);
  t.cells(0, 0) = 11016.7;
  std::ostringstream out;
  ldm::write_table(out, t, '-');  // a delimiter inside the date: quoted
  CHECK(out.str() == "d-x\n\"2000-03-01\"-1\nNA-2\n\"1969-12-31\"-3\n");
  // The space or ':' inside a date-time too, so that it reads back as one cell.
  for (const char delimiter : {' ', ':', 'T', '1'}) {
    std::ostringstream times_out;
    ldm::write_table(times_out, timed, delimiter);
    INFO("delimiter '" << delimiter << "': " << times_out.str());
    const ldm::Table back = ldm::parse_table(times_out.str(), "t.csv", timed.schema, {.delimiter = delimiter});
    CHECK(back.cells == timed.cells);
  }
  std::ostringstream spaced;
  ldm::write_table(spaced, timed, ' ');
  CHECK(spaced.str() == "t\n\"2000-03-01 12:34:56\"\n\"1969-12-31 23:59:59\"\n");
}

TEST_CASE("write_table quotes a name or cell that begins with a byte-order mark, which a reader drops") {
  // Found by the table fuzzer: a header "\xEF\xBB\xBF\xEF\xBB\xBFa" reads as "\xEF\xBB\xBFa", which written
  // bare would read back as "a".
  ldm_test::TempDir dir("table_writer_bom");
  const std::string path = dir.file("t.csv");
  const ldm::TableRead read = ldm::parse_table(
      "\xEF\xBB\xBF\xEF\xBB\xBF"
      "a,b\n\xEF\xBB\xBFx,1\n",
      "t.csv");
  REQUIRE(read.table.schema.columns[0].name ==
          "\xEF\xBB\xBF"
          "a");
  ldm::write_table(path, read.table);
  CHECK(ldm_test::read_bytes(path) ==
        "\"\xEF\xBB\xBF"
        "a\",b\n\"\xEF\xBB\xBF"
        "x\",1\n");
  CHECK(same_table(ldm::read_table(path, read.table.schema), read.table));
}

TEST_CASE("write_table rounds to the column's decimals and drops trailing zeros, integers are whole") {
  ldm::Schema s;
  s.columns.push_back({"x", ldm::ColumnType::numeric, {}, false, "", -1, 1, 2});
  s.columns.push_back({"k", ldm::ColumnType::integer, {}, false, "", -1, 1, 0});
  ldm::Table t{s, ldm::Matrix<double>(5, 2)};
  t.cells << 0.125, 2.5,  //
      -0.001, -0.4,       //
      1.999, 1e6,         //
      3.10, 3.5,          //
      -12.345678, -2.5;
  ldm_test::TempDir dir("table_writer_round");
  const std::string path = dir.file("t.csv");
  ldm::write_table(path, t);
  // to_chars rounds the double: 0.125 is exactly half (to even: 0.12); 12.345678 is not.
  CHECK(ldm_test::read_bytes(path) == "x,k\n0.12,2\n0,0\n2,1000000\n3.1,4\n-12.35,-2\n");
}

TEST_CASE("write_table: penguins read and written again are the same file, without the quotes") {
  ldm_test::TempDir dir("table_writer_penguins");
  const std::string path = dir.file("p.csv");
  const std::string original = ldm_test::read_bytes(LDM_EXAMPLES_DATA_DIR "/penguins.csv");
  const ldm::TableRead r = ldm::read_table(LDM_EXAMPLES_DATA_DIR "/penguins.csv");
  ldm::write_table(path, r.table);
  std::string unquoted;
  for (const char c : original)
    if (c != '"') unquoted += c;
  CHECK(ldm_test::read_bytes(path) == unquoted);
  CHECK(same_table(ldm::read_table(path).table, r.table));
}

TEST_CASE("write_table: a lone empty cell is quoted, a table that breaks its schema is refused") {
  ldm::Schema s;
  s.columns.push_back({"", ldm::ColumnType::categorical, {"", "b"}, true, ""});
  ldm::Table t{s, ldm::Matrix<double>(3, 1)};
  t.cells << 0, NA, 1;
  ldm_test::TempDir dir("table_writer_edges");
  const std::string path = dir.file("t.csv");
  ldm::write_table(path, t);
  CHECK(ldm_test::read_bytes(path) == "\"\"\n\"\"\n\"\"\nb\n");
  t.cells(2, 0) = 2;
  CHECK_THROWS_WITH(ldm::write_table(path, t), "write_table: column '', row 2: code 2 is not one of its 2 categories");
  CHECK_THROWS_WITH(ldm::write_table(path, t, '"'),
                    "write_table: " + path + ": the delimiter must not be a quote or a line break");
  CHECK(ldm_test::read_bytes(path) == "\"\"\n\"\"\n\"\"\nb\n");  // unchanged
}

TEST_CASE("write_table to a stream writes the file's bytes, and refuses a bad table or a failed stream") {
  ldm_test::TempDir dir("table_writer_stream");
  const std::string path = dir.file("t.csv");
  ldm::write_table(path, example(), ';');
  std::ostringstream out;
  ldm::write_table(out, example(), ';');
  CHECK(out.str() == ldm_test::read_bytes(path));
  CHECK(out.str().starts_with("name, full;w;n\n"));

  ldm::Table bad = example();
  bad.cells(0, 0) = 7;
  std::ostringstream untouched;
  CHECK_THROWS_WITH(ldm::write_table(untouched, bad), Catch::Contains("code 7 is not one of its 4 categories"));
  CHECK_THROWS_WITH(ldm::write_table(untouched, example(), '\n'),
                    "write_table: the stream: the delimiter must not be a quote or a line break");
  CHECK(untouched.str().empty());  // the checks come before anything is written

  std::ostringstream failed;
  failed.setstate(std::ios::badbit);
  CHECK_THROWS_WITH(ldm::write_table(failed, example()), "write_table: cannot write to the stream");
}
