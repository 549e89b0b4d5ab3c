// Tests of <ldm/data/csv_writer.hpp>: write_csv of numbers, of text columns, of a CsvTable.
#include <ldm/data/csv_reader.hpp>
#include <ldm/data/csv_writer.hpp>

#include <catch2/catch.hpp>

#include "support/test_files.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using Catch::Matchers::Contains;
using ldm_test::TempDir;

TEST_CASE("write_csv then read_csv gives back exactly the same numbers", "[csv_writer]") {
  TempDir dir("csv_round_trip");
  const std::string path = dir.file("r.csv");
  std::mt19937_64 bits(12345);  // raw bit patterns: every exponent, subnormals included

  SECTION("double") {
    ldm::Matrix<double> m(50, 7);
    for (Eigen::Index i = 0; i < m.size(); ++i) {
      double v;
      do v = std::bit_cast<double>(bits());
      while (!std::isfinite(v));
      m.data()[i] = v;
    }
    m(0, 0) = 0.1;
    m(0, 1) = -0.0;
    m(0, 2) = std::numeric_limits<double>::denorm_min();
    m(0, 3) = std::numeric_limits<double>::max();
    m(0, 4) = std::numeric_limits<double>::lowest();
    m(0, 5) = 1e23;
    m(0, 6) = 123456789012345678.0;
    const std::vector<std::string> names{"a", "b,c", "say \"hi\"", " padded ", "e", "f", "g"};
    ldm::write_csv(path, names, m);
    REQUIRE_THAT(ldm_test::read_bytes(path), Contains("0.1,-0,5e-324,1.7976931348623157e+308,"));
    const ldm::CsvTable t = ldm::read_csv(path);
    REQUIRE(t.columns == names);
    REQUIRE(std::memcmp(t.values.data(), m.data(), sizeof(double) * static_cast<std::size_t>(m.size())) == 0);
  }
  SECTION("float") {
    ldm::Matrix<float> m(200, 5);
    for (Eigen::Index i = 0; i < m.size(); ++i) {
      float v;
      do v = std::bit_cast<float>(static_cast<std::uint32_t>(bits()));
      while (!std::isfinite(v));
      m.data()[i] = v;
    }
    m(0, 0) = 0.1f;
    m(0, 1) = std::numeric_limits<float>::denorm_min();
    ldm::write_csv(path, {}, m);
    REQUIRE(ldm_test::read_bytes(path).rfind("0.1,1e-45,", 0) == 0);  // shortest float text
    const ldm::Matrix<float> back = ldm::read_csv(path, {.header = false}).values.cast<float>();
    REQUIRE(std::memcmp(back.data(), m.data(), sizeof(float) * static_cast<std::size_t>(m.size())) == 0);
  }
  SECTION("bad input") {
    REQUIRE_THROWS_WITH(ldm::write_csv(path, {"a"}, ldm::Matrix<double>::Zero(1, 2)),
                        Contains(path) && Contains("1 column names for 2 columns"));
    ldm::Matrix<float> m = ldm::Matrix<float>::Zero(2, 2);
    m(1, 0) = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(ldm::write_csv(path, {}, m), Contains("values(1, 0) = nan is not finite"));
    REQUIRE(dir.entries().empty());
    REQUIRE_THROWS_WITH(ldm::write_csv(dir.file("none/r.csv"), {}, ldm::Matrix<float>::Zero(1, 1)),
                        Contains(dir.file("none/r.csv")) && Contains("No such file"));
  }
}

TEST_CASE("write_csv with a text column quotes what must be quoted and reads back exactly", "[csv_writer]") {
  TempDir dir("csv_write_text");
  const std::string path = dir.file("t.csv");
  const std::vector<std::string> labels{"a,b", "say \"hi\"", "two\nlines", "", " padded ", "cr\r\nlf"};
  ldm::Matrix<float> values(6, 2);
  values << 0.1f, 1, 2, -0.5f, std::numeric_limits<float>::denorm_min(), 3, 4, 5, 6, 7, 8, 9;
  ldm::write_csv(path, {"x", "y"}, values, {ldm::TextColumn{"label", labels}});
  REQUIRE(ldm_test::read_bytes(path) ==
          "label,x,y\n"
          "\"a,b\",0.1,1\n"
          "\"say \"\"hi\"\"\",2,-0.5\n"
          "\"two\nlines\",1e-45,3\n"
          ",4,5\n"
          "\" padded \",6,7\n"
          "\"cr\r\nlf\",8,9\n");
  const ldm::CsvTable back = ldm::read_csv(path, {.text_columns = {"label"}});
  REQUIRE(back.columns == std::vector<std::string>{"x", "y"});
  REQUIRE(back.text_column("label") == labels);
  const ldm::Matrix<float> numbers = back.values.cast<float>();
  REQUIRE(std::memcmp(numbers.data(), values.data(), sizeof(float) * static_cast<std::size_t>(values.size())) == 0);
}

TEST_CASE("write_csv of a CsvTable: text columns first, and read_csv gives the same table back", "[csv_writer]") {
  TempDir dir("csv_write_table");
  const std::string path = dir.file("t.csv");
  const ldm::CsvTable table = ldm::parse_csv("a;kind;b;note\n1;x;2.5;\"semi;colon\"\n-3; y z ;4e-300;\"\"\"q\"\"\"\n",
                                             "t", {.delimiter = ';', .text_columns = {"kind", "note"}});
  ldm::write_csv(path, table, ';');
  REQUIRE(ldm_test::read_bytes(path) ==
          "kind;note;a;b\n"
          "x;\"semi;colon\";1;2.5\n"
          "y z;\"\"\"q\"\"\";-3;4e-300\n");
  const ldm::CsvTable back = ldm::read_csv(path, {.delimiter = ';', .text_columns = {"kind", "note"}});
  REQUIRE(back.columns == table.columns);
  REQUIRE(back.values == table.values);
  REQUIRE(back.text.size() == 2);
  for (std::size_t t = 0; t < 2; ++t) {
    REQUIRE(back.text[t].name == table.text[t].name);
    REQUIRE(back.text[t].values == table.text[t].values);
  }

  SECTION("random doubles, bit for bit") {
    ldm::CsvTable wide;
    std::mt19937_64 bits(7);
    wide.columns = {"p", "q", "r"};
    wide.values.resize(40, 3);
    for (Eigen::Index i = 0; i < wide.values.size(); ++i) {
      double v;
      do v = std::bit_cast<double>(bits());
      while (!std::isfinite(v));
      wide.values.data()[i] = v;
    }
    wide.text = {{"id", {}}};
    for (int r = 0; r < 40; ++r) wide.text[0].values.push_back("row " + std::to_string(r));
    ldm::write_csv(path, wide);
    const ldm::CsvTable again = ldm::read_csv(path, {.text_columns = {"id"}});
    REQUIRE(again.text_column("id") == wide.text[0].values);
    REQUIRE(std::memcmp(again.values.data(), wide.values.data(), sizeof(double) * 120) == 0);
  }
  SECTION("a lone text column: an empty cell is written \"\", not as a blank line") {
    ldm::CsvTable names;
    names.values.resize(3, 0);
    names.text = {{"name", {"x", "", ""}}};
    ldm::write_csv(path, names);
    REQUIRE(ldm_test::read_bytes(path) == "name\nx\n\"\"\n\"\"\n");
    const ldm::CsvTable again = ldm::read_csv(path, {.text_columns = {"name"}});
    REQUIRE(again.rows() == 3);
    REQUIRE(again.text_column("name") == names.text[0].values);
  }
}

TEST_CASE("write_csv with text columns refuses bad input and leaves the file as it was", "[csv_writer]") {
  TempDir dir("csv_write_text_bad");
  const std::string path = dir.file("t.csv");
  const ldm::Matrix<double> two = ldm::Matrix<double>::Zero(2, 2);
  const std::vector<ldm::TextColumn> labels{{"label", {"p", "q"}}};
  REQUIRE_THROWS_WITH(ldm::write_csv(path, {"a"}, two, labels),
                      Contains("write_csv: " + path) && Contains("1 column names for 2 columns"));
  REQUIRE_THROWS_WITH(ldm::write_csv(path, {"a", "b"}, two, {{"label", {"p"}}}),
                      Contains("write_csv: " + path) && Contains("text column 'label' has 1 values for 2 rows"));
  ldm::Matrix<double> bad = two;
  bad(1, 0) = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(ldm::write_csv(path, {"a", "b"}, bad, labels),
                      Contains("write_csv: " + path) && Contains("values(1, 0) = inf is not finite"));
  REQUIRE(dir.entries().empty());

  ldm_test::write_bytes(path, "before\n");
  REQUIRE_THROWS(ldm::write_csv(path, {"a", "b"}, bad, labels));
  REQUIRE(ldm_test::read_bytes(path) == "before\n");
  REQUIRE(dir.entries() == std::vector<std::string>{"t.csv"});

  const std::string unwritable = dir.file("none/t.csv");
  REQUIRE_THROWS_AS(ldm::write_csv(unwritable, {"a", "b"}, two, labels), std::runtime_error);
  REQUIRE_THROWS_WITH(ldm::write_csv(unwritable, {"a", "b"}, two, labels),
                      Contains(unwritable) && Contains("No such file"));
}

TEST_CASE("write_csv to a stream writes the file's bytes, and refuses bad input before writing", "[csv_writer]") {
  TempDir dir("csv_write_stream");
  const std::string path = dir.file("t.csv");
  Eigen::MatrixXd values(2, 2);
  values << 1, 0.1, -2.5e-300, 3;
  const std::vector<ldm::TextColumn> kinds{{"kind", {"a,b", ""}}};

  std::ostringstream numbers;
  ldm::write_csv(numbers, {"x", "y"}, values);
  ldm::write_csv(path, {"x", "y"}, values);
  CHECK(numbers.str() == "x,y\n1,0.1\n-2.5e-300,3\n");
  CHECK(numbers.str() == ldm_test::read_bytes(path));

  std::ostringstream with_text;
  ldm::write_csv(with_text, {"x", "y"}, values, kinds, ';');
  ldm::write_csv(path, {"x", "y"}, values, kinds, ';');
  CHECK(with_text.str() == "kind;x;y\na,b;1;0.1\n;-2.5e-300;3\n");
  CHECK(with_text.str() == ldm_test::read_bytes(path));

  std::ostringstream table;
  ldm::write_csv(table, ldm::CsvTable{{"x", "y"}, values, kinds});
  CHECK(table.str() == "kind,x,y\n\"a,b\",1,0.1\n,-2.5e-300,3\n");

  values(1, 0) = std::numeric_limits<double>::quiet_NaN();
  std::ostringstream untouched;
  CHECK_THROWS_WITH(ldm::write_csv(untouched, {"x", "y"}, values), Contains("the stream: values(1, 0)"));
  CHECK_THROWS_WITH(ldm::write_csv(untouched, {"x"}, values, kinds), Contains("1 column names for 2 columns"));
  CHECK(untouched.str().empty());
  std::ostringstream failed;
  failed.setstate(std::ios::badbit);
  CHECK_THROWS_WITH(ldm::write_csv(failed, {}, Eigen::MatrixXd::Ones(1, 1)), "write_csv: cannot write to the stream");
}
