// Tests of <ldm/data/csv_reader.hpp>: read_csv, parse_csv, read_csv_header.
#include <ldm/data/columns.hpp>
#include <ldm/data/csv_reader.hpp>

#include <catch2/catch.hpp>

#include "support/test_files.hpp"

#include <cmath>
#include <string>
#include <vector>

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

// A check for one reader (read_csv or read_csv_header): rejects(content, reason, options)
// writes content to path and requires the reader to throw std::runtime_error "read_csv: <path>..."
// that contains reason.
template <class Result>
auto rejecter(Result (*read)(const std::string&, const ldm::CsvOptions&), const std::string& path) {
  return [read, path](const std::string& content, const std::string& reason, const ldm::CsvOptions& options = {}) {
    write_bytes(path, content);
    REQUIRE_THROWS_AS(read(path, options), std::runtime_error);
    REQUIRE_THROWS_WITH(read(path, options), Contains("read_csv: " + path) && Contains(reason));
  };
}

}  // namespace

TEST_CASE("read_csv reads a header and numbers", "[csv_reader]") {
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

TEST_CASE("read_csv handles the usual variations of the format", "[csv_reader]") {
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

TEST_CASE("read_csv errors name the file, the line and the column", "[csv_reader]") {
  TempDir dir("csv_errors");
  const auto rejects = rejecter(ldm::read_csv, dir.file("bad.csv"));
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

TEST_CASE("the digits data set reads as 1797 rows of 64 pixels and a label", "[csv_reader]") {
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

TEST_CASE("parse_csv reads text in memory exactly as read_csv reads the file", "[csv_reader]") {
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

TEST_CASE("read_csv: tab- and space-separated files, and delimiters it refuses", "[csv_reader]") {
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

TEST_CASE("read_csv: a huge cell or name is cut short in the message", "[csv_reader]") {
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

TEST_CASE("read_csv: many blank lines before the end are records, after it they are ignored", "[csv_reader]") {
  // 200,000 blank lines at the end (found once, not once per line, which would be quadratic).
  const ldm::CsvTable t = ldm::parse_csv("a\n1\n" + std::string(200'000, '\n'), "t");
  REQUIRE(t.values == rows({{1}}));
  REQUIRE_THROWS_WITH(ldm::parse_csv("a\n1\n" + std::string(200'000, '\n') + "2\n", "t"),
                      Contains("t:3: column 'a' (index 0): the cell is empty"));
  REQUIRE(ldm::parse_csv("a\n1\n" + std::string(200'000, '\n') + "2\n", "t", {.allow_empty = true}).rows() == 200'002);
}

TEST_CASE("read_csv_header gives every column's name as read_csv names them", "[csv_reader]") {
  TempDir dir("csv_header");
  const std::string path = dir.file("h.csv");

  SECTION("a quoted header with a byte-order mark and CRLF line ends") {
    write_bytes(path, "\xEF\xBB\xBF\"a, b\",\"say \"\"hi\"\"\", label ,\" c \"\r\n1,2,x,3\r\n");
    REQUIRE(ldm::read_csv_header(path) == std::vector<std::string>{"a, b", "say \"hi\"", "label", " c "});
    REQUIRE(ldm::read_csv(path, {.text_columns = {"label"}}).columns ==
            std::vector<std::string>{"a, b", "say \"hi\"", " c "});
  }
  SECTION("a name with a line break inside quotes") {
    write_bytes(path, "\"two\nlines\";y\n1;2\n");
    REQUIRE(ldm::read_csv_header(path, {.delimiter = ';'}) == std::vector<std::string>{"two\nlines", "y"});
  }
  SECTION("no header, or a detected one") {
    write_bytes(path, "1,2,3\n4,5,6\n");
    REQUIRE(ldm::read_csv_header(path, {.header = false}) == std::vector<std::string>{"0", "1", "2"});
    REQUIRE(ldm::read_csv_header(path, {.detect_header = true}) == std::vector<std::string>{"0", "1", "2"});
    REQUIRE(ldm::read_csv_header(path) == std::vector<std::string>{"1", "2", "3"});
    write_bytes(path, "1,b,\n4,5,6\n");
    REQUIRE(ldm::read_csv_header(path, {.detect_header = true}) == std::vector<std::string>{"1", "b", ""});
  }
  SECTION("a header over many reads: 20,000 names, one of them 100,000 bytes of quoted lines") {
    std::string header, long_name;
    // (Built by appending: "c" + std::to_string(c) trips GCC 12's -Wrestrict.)
    for (int i = 0; i < 10'000; ++i) long_name.append("line ").append(std::to_string(i % 10)).append("\n");
    std::vector<std::string> expected;
    for (int c = 0; c < 20'000; ++c) {
      expected.push_back(c == 15'000 ? long_name : std::string("c").append(std::to_string(c)));
      if (c) header += ',';
      if (c == 15'000)
        header.append("\"").append(long_name).append("\"");
      else
        header += expected.back();
    }
    write_bytes(path, header.append("\n").append(200'000, '1').append("\n"));
    REQUIRE(ldm::read_csv_header(path) == expected);
  }
}

TEST_CASE("read_csv_header reads no further than the first record", "[csv_reader]") {
  TempDir dir("csv_header_first");
  const std::string path = dir.file("h.csv");
  // Rows read_csv refuses: a cell that is not a number, an unclosed quote, a line over the limit.
  write_bytes(path, "a,b\n1,x\n\"2,3\n" + std::string(1'000'000, '4') + "\n");
  REQUIRE_THROWS_WITH(ldm::read_csv(path, {.max_line_bytes = 100'000}),
                      Contains(path + ":4: the line is longer than 100000 bytes"));
  REQUIRE(ldm::read_csv_header(path, {.max_line_bytes = 100'000}) == std::vector<std::string>{"a", "b"});
  REQUIRE(ldm::read_csv_header(path, {.max_file_bytes = 100'000}) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("read_csv_header errors are those of read_csv, naming the file", "[csv_reader]") {
  TempDir dir("csv_header_errors");
  const std::string path = dir.file("bad.csv");
  const auto rejects = rejecter(ldm::read_csv_header, path);
  rejects("", ": the file is empty");
  rejects("\n\r\n\n", ": the file is empty");
  rejects("a,b,a\n1,2,3\n", ":1: the column name 'a' appears twice");
  rejects("a,\"b\n1,2\n", ":1: a quoted field is not closed");
  rejects("a,\"b\"c\n1,2\n", ":1: unexpected 'c' after a closing quote");
  rejects("a,b,c,d\n1,2,3,4\n", ":1: the record has more than 3 cells", {.max_columns = 3});
  rejects("abcdef,g\n1,2\n", ":1: the line is longer than 4 bytes", {.max_line_bytes = 4});
  rejects("\"a\n\nb\",c\n1,2\n", "the file has 13 bytes or more, above the limit of 8", {.max_file_bytes = 8});
  const std::string absent = dir.file("absent.csv");
  REQUIRE_THROWS_WITH(ldm::read_csv_header(absent),
                      Contains("read_csv: cannot open " + absent) && Contains("No such file"));
  REQUIRE_THROWS_WITH(ldm::read_csv_header(dir.path.string()), Contains("read_csv: cannot read " + dir.path.string()));
  write_bytes(path, "a\n1\n");
  REQUIRE_THROWS_AS(ldm::read_csv_header(path, {.delimiter = '"'}), std::invalid_argument);
}
