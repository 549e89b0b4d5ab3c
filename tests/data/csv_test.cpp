#include <ldm/data/csv.hpp>

#include <catch2/catch.hpp>

#include "support/test_files.hpp"

#include <bit>
#include <cmath>
#include <random>

using Catch::Matchers::Contains;
using ldm_test::TempDir;
using ldm_test::write_bytes;

namespace {

ldm::Matrix<double> rows(std::initializer_list<std::initializer_list<double>> values) {
  ldm::Matrix<double> m(static_cast<Eigen::Index>(values.size()), static_cast<Eigen::Index>(values.begin()->size()));
  Eigen::Index r = 0;
  for (const auto& row : values) {
    Eigen::Index c = 0;
    for (const double v : row) m(r, c++) = v;
    ++r;
  }
  return m;
}

}  // namespace

TEST_CASE("read_csv reads a header and numbers", "[csv]") {
  TempDir dir("csv_basic");
  const std::string path = dir.file("a.csv");
  write_bytes(path, "a,b,c\n1,2,3\n4.5,-6e2,+7\n-0.125, 1e-3 ,\t8\n");
  const ldm::CsvTable t = ldm::read_csv(path);
  REQUIRE(t.columns == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(t.rows() == 3);
  REQUIRE(t.values == rows({{1, 2, 3}, {4.5, -600, 7}, {-0.125, 0.001, 8}}));
  REQUIRE(t.text.empty());
  REQUIRE(t.column_index("c") == 2);
  REQUIRE_THROWS_WITH(t.column_index("d"), Contains("no numeric column 'd'"));
}

TEST_CASE("read_csv handles the usual variations of the format", "[csv]") {
  TempDir dir("csv_variants");
  const std::string path = dir.file("v.csv");
  const ldm::Matrix<double> expected = rows({{1, 2}, {3, 4}});

  SECTION("CRLF line ends, no final newline, a byte-order mark") {
    write_bytes(path, "\xEF\xBB\xBFx,y\r\n1,2\r\n3,4");
    const ldm::CsvTable t = ldm::read_csv(path);
    REQUIRE(t.columns == std::vector<std::string>{"x", "y"});
    REQUIRE(t.values == expected);
  }
  SECTION("blank lines at the end are ignored") {
    write_bytes(path, "x,y\n1,2\n3,4\n\n\r\n\n");
    REQUIRE(ldm::read_csv(path).values == expected);
  }
  SECTION("quoted header names and quoted numbers") {
    write_bytes(path, "\"a, b\",\"say \"\"hi\"\"\"\n\"1\",2\n3,\" 4 \"\n");
    const ldm::CsvTable t = ldm::read_csv(path);
    REQUIRE(t.columns == std::vector<std::string>{"a, b", "say \"hi\""});
    REQUIRE(t.values == expected);
  }
  SECTION("a quoted name may hold a line break: later lines are still counted") {
    write_bytes(path, "\"two\nlines\",y\n1,2\n3,x\n");
    REQUIRE_THROWS_WITH(ldm::read_csv(path), Contains(path + ":4:") && Contains("column 'y' (index 1)"));
  }
  SECTION("no header: columns are named by their index") {
    write_bytes(path, "1,2\n3,4\n");
    const ldm::CsvTable t = ldm::read_csv(path, {.header = false});
    REQUIRE(t.columns == std::vector<std::string>{"0", "1"});
    REQUIRE(t.values == expected);
  }
  SECTION("detect_header finds a header only when a cell is not a number") {
    write_bytes(path, "1,2\n3,4\n");
    REQUIRE(ldm::read_csv(path, {.detect_header = true}).columns == std::vector<std::string>{"0", "1"});
    write_bytes(path, "1,b\n1,2\n3,4\n");
    const ldm::CsvTable t = ldm::read_csv(path, {.detect_header = true});
    REQUIRE(t.columns == std::vector<std::string>{"1", "b"});
    REQUIRE(t.values == expected);
  }
  SECTION("another delimiter") {
    write_bytes(path, "x;y\n1;2\n3;4\n");
    REQUIRE(ldm::read_csv(path, {.delimiter = ';'}).values == expected);
  }
  SECTION("empty cells are NaN when allowed") {
    write_bytes(path, "x,y\n1,\n,4\n");
    const ldm::CsvTable t = ldm::read_csv(path, {.allow_empty = true});
    REQUIRE(t.values(0, 0) == 1.0);
    REQUIRE(std::isnan(t.values(0, 1)));
    REQUIRE(std::isnan(t.values(1, 0)));
    REQUIRE(t.values(1, 1) == 4.0);
  }
  SECTION("text columns are kept as strings") {
    write_bytes(path, "x,label,y\n1,cat,2\n3,\"dog, big\",4\n");
    const ldm::CsvTable t = ldm::read_csv(path, {.text_columns = {"label"}});
    REQUIRE(t.columns == std::vector<std::string>{"x", "y"});
    REQUIRE(t.values == expected);
    REQUIRE(t.text_column("label") == std::vector<std::string>{"cat", "dog, big"});
    REQUIRE_THROWS_WITH(t.text_column("x"), Contains("no text column 'x'"));
    REQUIRE_THROWS_WITH(ldm::read_csv(path, {.text_columns = {"species"}}),
                        Contains(path) && Contains("text column 'species' is not among the 3 columns"));
  }
}

TEST_CASE("read_csv errors name the file, the line and the column", "[csv]") {
  TempDir dir("csv_errors");
  const std::string path = dir.file("bad.csv");
  const auto rejects = [&](const std::string& content, const std::string& reason, ldm::CsvOptions options = {}) {
    write_bytes(path, content);
    REQUIRE_THROWS_AS(ldm::read_csv(path, options), std::runtime_error);
    REQUIRE_THROWS_WITH(ldm::read_csv(path, options), Contains("read_csv: " + path) && Contains(reason));
  };
  rejects("a,b\n1,2\n3,x\n", ":3: column 'b' (index 1): 'x' is not a number");
  rejects("a,b\n1,2\n3,4,5\n", ":3: the row has 3 cells, expected 2: there is an extra cell at index 2");
  rejects("a,b,c\n1,2\n", ":2: the row has 2 cells, expected 3: column 'c' (index 2) is missing");
  rejects("1,2\n3\n", ":2: the row has 1 cells, expected 2: column '1' (index 1) is missing", {.header = false});
  rejects("a,b\n1,2\n\n3,4\n", ":3: the row has 1 cells, expected 2");  // a blank line inside
  rejects("a,b\n1,\n", ":2: column 'b' (index 1): the cell is empty");
  rejects("a\n1\n\n2\n", ":3: column 'a' (index 0): the cell is empty");
  rejects("a,b\n1,nan\n", ":2: column 'b' (index 1): 'nan' is not a finite number");
  rejects("a,b\n1,-inf\n", "'-inf' is not a finite number");
  rejects("a,b\n1e400,2\n", ":2: column 'a' (index 0): '1e400' is out of the range of double");
  rejects("a,b\n1,2 3\n", "'2 3' is not a number");
  rejects("a,b\n1,0x10\n", "'0x10' is not a number");
  rejects("a,b\n1,++2\n", "'++2' is not a number");
  rejects("a,b\n1,1.5.2\n", "'1.5.2' is not a number");
  rejects("a,a\n1,2\n", ":1: the column name 'a' appears twice");
  rejects("a,b\n1,\"2\n", ":2: a quoted field is not closed");
  rejects("a,b\n1,\"2\"x\n", ":2: unexpected 'x' after a closing quote");
  rejects("", "the file is empty");
  rejects("\n\r\n\n", "the file is empty");
  rejects("a,b\n", "the file has a header but no data rows");
  REQUIRE_THROWS_WITH(ldm::read_csv(dir.file("absent.csv")),
                      Contains("cannot open " + dir.file("absent.csv")) && Contains("No such file"));
}

TEST_CASE("select_columns and drop_columns by name and by index", "[csv]") {
  TempDir dir("csv_select");
  const std::string path = dir.file("s.csv");
  write_bytes(path, "a,b,label,c\n1,2,0,3\n4,5,1,6\n");
  const ldm::CsvTable t = ldm::read_csv(path);

  const ldm::CsvTable features = ldm::drop_columns(t, {"label"});
  REQUIRE(features.columns == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(features.values == rows({{1, 2, 3}, {4, 5, 6}}));
  REQUIRE(ldm::drop_columns(t, {2}).values == features.values);
  REQUIRE(ldm::drop_columns(t, std::vector<Eigen::Index>{2}).values == features.values);
  REQUIRE(ldm::drop_columns(t, std::vector<std::string>{"label"}).values == features.values);
  REQUIRE(ldm::drop_columns(t, {0}).columns == std::vector<std::string>{"b", "label", "c"});
  REQUIRE(ldm::drop_columns(t, std::vector<Eigen::Index>{0, 3, 0}).columns == std::vector<std::string>{"b", "label"});

  const ldm::CsvTable picked = ldm::select_columns(t, {"c", "a"});
  REQUIRE(picked.columns == std::vector<std::string>{"c", "a"});
  REQUIRE(picked.values == rows({{3, 1}, {6, 4}}));
  REQUIRE(ldm::select_columns(t, {3, 0}).values == picked.values);
  REQUIRE(ldm::select_columns(t, std::vector<Eigen::Index>{3, 0}).values == picked.values);
  REQUIRE(ldm::select_columns(t, std::vector<Eigen::Index>{}).values.cols() == 0);

  REQUIRE_THROWS_WITH(ldm::select_columns(t, {"d"}), Contains("select_columns: no numeric column 'd'"));
  REQUIRE_THROWS_WITH(ldm::drop_columns(t, {"lable"}), Contains("drop_columns: no numeric column 'lable'"));
  REQUIRE_THROWS_WITH(ldm::select_columns(t, std::vector<Eigen::Index>{4}), Contains("index 4 is outside [0, 4)"));
  REQUIRE_THROWS_WITH(ldm::drop_columns(t, std::vector<Eigen::Index>{-1}), Contains("index -1 is outside [0, 4)"));
}

TEST_CASE("the digits data set reads as 1797 rows of 64 pixels and a label", "[csv]") {
  const std::string path = std::string(LDM_EXAMPLES_DATA_DIR) + "/digits.csv";
  const ldm::CsvTable t = ldm::read_csv(path);
  REQUIRE(t.rows() == 1797);
  REQUIRE(t.columns.size() == 65);
  REQUIRE(t.columns.front() == "p0");
  REQUIRE(t.columns.back() == "label");
  // First row, from the file: 0,0,5,13,9,1,0,0,... label 0.
  REQUIRE(t.values.row(0).head(5) == rows({{0, 0, 5, 13, 9}}));
  const ldm::CsvTable pixels = ldm::drop_columns(t, {"label"});
  REQUIRE(pixels.values.cols() == 64);
  REQUIRE(pixels.values.minCoeff() == 0.0);
  REQUIRE(pixels.values.maxCoeff() == 16.0);
  const ldm::Matrix<double> labels = ldm::select_columns(t, {"label"}).values;
  REQUIRE(labels.minCoeff() == 0.0);
  REQUIRE(labels.maxCoeff() == 9.0);
  REQUIRE(labels(0, 0) == 0.0);
  REQUIRE(labels(1, 0) == 1.0);
}

TEST_CASE("write_csv then read_csv gives back exactly the same numbers", "[csv]") {
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

TEST_CASE("parse_csv reads text in memory exactly as read_csv reads the file", "[csv]") {
  TempDir dir("csv_parse");
  const std::string text =
      "\xEF\xBB\xBF"
      "a;\"b;c\";label\r\n1;-2.5e3;\"x\"\r\n+4; 5 ;y\r\n\r\n";
  write_bytes(dir.file("t.csv"), text);
  const ldm::CsvOptions options{.delimiter = ';', .text_columns = {"label"}};
  const ldm::CsvTable from_file = ldm::read_csv(dir.file("t.csv"), options);
  const ldm::CsvTable from_text = ldm::parse_csv(text, "text", options);
  REQUIRE(from_text.columns == std::vector<std::string>{"a", "b;c"});
  REQUIRE(from_text.values == rows({{1, -2500}, {4, 5}}));
  REQUIRE(from_text.text_column("label") == std::vector<std::string>{"x", "y"});
  REQUIRE(from_file.columns == from_text.columns);
  REQUIRE(from_file.values == from_text.values);
  REQUIRE(from_file.text_column("label") == from_text.text_column("label"));
  // Errors name the given name in place of a file.
  REQUIRE_THROWS_WITH(ldm::parse_csv("a\nz\n", "inline data"),
                      Contains("read_csv: inline data:2: column 'a' (index 0): 'z' is not a number"));
}

TEST_CASE("read_csv: tab- and space-separated files, and delimiters it refuses", "[csv]") {
  // A blank that is the delimiter separates cells, also before a quoted one.
  REQUIRE(ldm::parse_csv("a\tb\tc\n1\t\"2\"\t3\n", "t", {.delimiter = '\t'}).values == rows({{1, 2, 3}}));
  // An empty cell before a quoted one stays a cell (the blank skipping once ate the delimiter).
  const ldm::Matrix<double> v =
      ldm::parse_csv("a\tb\tc\n1\t\t\"3\"\n", "t", {.delimiter = '\t', .allow_empty = true}).values;
  REQUIRE(v.cols() == 3);
  REQUIRE((v(0, 0) == 1 && std::isnan(v(0, 1)) && v(0, 2) == 3));
  REQUIRE(std::isnan(ldm::parse_csv("a\tb\n1\t\n", "t", {.delimiter = '\t', .allow_empty = true}).values(0, 1)));
  REQUIRE_THROWS_WITH(ldm::parse_csv("a\tb\n1\t\t\n", "t", {.delimiter = '\t', .allow_empty = true}),
                      Contains("the row has 3 cells, expected 2"));
  REQUIRE(ldm::parse_csv("a b\n1 \"2\"\n", "t", {.delimiter = ' '}).values == rows({{1, 2}}));
  for (const char bad : {'"', '\n', '\r'})
    REQUIRE_THROWS_WITH(ldm::parse_csv("a\n1\n", "t", {.delimiter = bad}),
                        Contains("read_csv: t: the delimiter must not be a quote or a line break, got character " +
                                 std::to_string(static_cast<int>(bad))));
}

TEST_CASE("read_csv: a huge cell or name is cut short in the message", "[csv]") {
  const std::string cell(100'000, 'z');
  std::string message;
  try {
    ldm::parse_csv("a\n" + cell + "x\n", "t");
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  REQUIRE_THAT(message, Contains("'" + cell.substr(0, 60) + "'... (100001 bytes) is not a number"));
  REQUIRE(message.size() < 200);
}

TEST_CASE("read_csv: many blank lines before the end are records, after it they are ignored", "[csv]") {
  // 200,000 blank lines at the end (found once, not once per line, which would be quadratic).
  const ldm::CsvTable t = ldm::parse_csv("a\n1\n" + std::string(200'000, '\n'), "t");
  REQUIRE(t.values == rows({{1}}));
  REQUIRE_THROWS_WITH(ldm::parse_csv("a\n1\n" + std::string(200'000, '\n') + "2\n", "t"),
                      Contains("t:3: column 'a' (index 0): the cell is empty"));
  REQUIRE(ldm::parse_csv("a\n1\n" + std::string(200'000, '\n') + "2\n", "t", {.allow_empty = true}).rows() == 200'002);
}
