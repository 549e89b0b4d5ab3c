#include <catch2/catch.hpp>

#include <ldm/data/table_reader.hpp>

#include "support/test_files.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace {

using ldm::ColumnType;
using ldm::TableOptions;
using ldm::TableRead;

// Reads text both ways, from a file (streamed) and from memory, and requires the same result.
TableRead read(const std::string& text, const TableOptions& options = {}) {
  ldm_test::TempDir dir("table_reader");
  const std::string path = dir.file("t.csv");
  ldm_test::write_bytes(path, text);
  TableRead from_file = ldm::read_table(path, options);
  const TableRead from_memory = ldm::parse_table(text, "t.csv", options);
  REQUIRE(nlohmann::json(from_file.table.schema) == nlohmann::json(from_memory.table.schema));
  REQUIRE(from_file.table.cells.array().isNaN().matrix() == from_memory.table.cells.array().isNaN().matrix());
  REQUIRE(from_file.table.cells.array().isNaN().select(0, from_file.table.cells).matrix() ==
          from_memory.table.cells.array().isNaN().select(0, from_memory.table.cells).matrix());
  ldm::validate(from_file.table);
  return from_file;
}

// The message read_table gives for text (in memory, named t.csv), or "" if it reads.
std::string error_of(const std::string& text, const TableOptions& options = {}) {
  try {
    (void)ldm::parse_table(text, "t.csv", options);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

const double NA = std::numeric_limits<double>::quiet_NaN();

bool same_cells(const ldm::Matrix<double>& a, const std::vector<std::vector<double>>& rows) {
  if (a.rows() != static_cast<Eigen::Index>(rows.size())) return false;
  for (Eigen::Index r = 0; r < a.rows(); ++r) {
    if (a.cols() != static_cast<Eigen::Index>(rows[static_cast<std::size_t>(r)].size())) return false;
    for (Eigen::Index c = 0; c < a.cols(); ++c) {
      const double want = rows[static_cast<std::size_t>(r)][static_cast<std::size_t>(c)];
      if (std::isnan(want) ? !std::isnan(a(r, c)) : a(r, c) != want) return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("read_table infers numeric, integer and categorical columns, missing cells and decimals") {
  const TableRead r = read(
      "size,count,colour,grade,note\n"
      "1.5,3,red,9,\"a, b\"\n"
      "NA,4,blue,10,x\n"
      "2.25,,red,9,\"say \"\"hi\"\"\"\n"
      "-0.125,7,NA,1,x\n");
  const ldm::Schema& s = r.table.schema;
  REQUIRE(s.size() == 5);
  CHECK(s.columns[0].type == ColumnType::numeric);
  CHECK(s.columns[0].decimals == 3);
  CHECK(s.columns[0].min == -0.125);
  CHECK(s.columns[0].max == 2.25);
  CHECK(s.columns[0].has_missing);
  CHECK(s.columns[0].missing_text == "NA");
  CHECK(s.columns[1].type == ColumnType::integer);
  CHECK(s.columns[1].missing_text == "");
  CHECK(s.columns[1].decimals == 0);
  CHECK(s.columns[2].type == ColumnType::categorical);
  CHECK(s.columns[2].categories == std::vector<std::string>{"blue", "red"});
  CHECK(s.columns[3].type == ColumnType::integer);  // numbers, even if few distinct: declare them to make categories
  CHECK(s.columns[4].categories == std::vector<std::string>{"a, b", "say \"hi\"", "x"});
  CHECK_FALSE(s.columns[4].has_missing);
  CHECK(same_cells(r.table.cells, {{1.5, 3, 1, 9, 0}, {NA, 4, 0, 10, 2}, {2.25, NA, 1, 9, 1}, {-0.125, 7, NA, 1, 2}}));
  CHECK(r.warnings.empty());
}

TEST_CASE("read_table: categories are sorted by value when all are integers, else by text") {
  const TableOptions options{.categorical = {"n"}};
  const TableRead r = read("n,t\n10,b10\n9,b9\n-1,a\n10,b10\n", options);
  CHECK(r.table.schema.columns[0].categories == std::vector<std::string>{"-1", "9", "10"});
  CHECK(r.table.schema.columns[1].categories == std::vector<std::string>{"a", "b10", "b9"});
  CHECK(same_cells(r.table.cells, {{2, 1}, {1, 2}, {0, 0}, {2, 1}}));
}

TEST_CASE("read_table: a column that turns to text late keeps its earlier cells as they were written") {
  // Numbers first (in several spellings, across many rows), then a word: every earlier cell
  // becomes the category of its own text, not of its value.
  std::string text = "code\n";
  const std::vector<std::string> spellings = {
      "007", "7", "1.50", "1.5", "+3", "1e5", ".5", "-0", "0.1234567890123456789"};
  for (int i = 0; i < 3000; ++i) text += spellings[static_cast<std::size_t>(i) % spellings.size()] + "\n";
  text += "NA\nseven\n";
  const TableRead r = read(text);
  const ldm::Column& c = r.table.schema.columns[0];
  REQUIRE(c.type == ColumnType::categorical);
  CHECK(c.categories ==
        std::vector<std::string>{"+3", "-0", ".5", "0.1234567890123456789", "007", "1.5", "1.50", "1e5", "7", "seven"});
  for (int i = 0; i < 3000; ++i)
    CHECK(c.categories[static_cast<std::size_t>(r.table.cells(i, 0))] ==
          spellings[static_cast<std::size_t>(i) % spellings.size()]);
  CHECK(std::isnan(r.table.cells(3000, 0)));
}

TEST_CASE("read_table: a column of YYYY-MM-DD dates is a date column of day numbers") {
  // Day numbers from 1970-01-01 (detail/iso_date.hpp): 2000-03-01 is 11017.
  const TableRead r = read(
      "when,mixed,late,quoted,n\n"
      "NA,2020-01-01,2020-01-01,\" 2020-01-01\",1\n"
      "2000-03-01,7,2020-01-02,2020-01-02,2\n"
      "2000-02-29,2020-01-03,2020-01-32,2020-01-03,3\n"
      "1970-01-01,2020-01-04,2020-01-04,2020-01-04,4\n");
  const ldm::Schema& s = r.table.schema;
  CHECK(s.columns[0].type == ColumnType::date);
  CHECK(s.columns[0].has_missing);
  CHECK(s.columns[0].missing_text == "NA");
  CHECK(s.columns[0].min == 0);
  CHECK(s.columns[0].max == 11017);
  CHECK(std::isnan(r.table.cells(0, 0)));
  CHECK(r.table.cells(1, 0) == 11017);
  CHECK(r.table.cells(2, 0) == 11016);
  CHECK(r.table.cells(3, 0) == 0);
  // A number, a day that does not exist, or a date with blanks inside quotes: categories,
  // with the earlier dates' texts as the file wrote them.
  CHECK(s.columns[1].categories == std::vector<std::string>{"2020-01-01", "2020-01-03", "2020-01-04", "7"});
  CHECK(s.columns[2].categories == std::vector<std::string>{"2020-01-01", "2020-01-02", "2020-01-04", "2020-01-32"});
  CHECK(s.columns[3].categories == std::vector<std::string>{" 2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"});
  CHECK(s.columns[4].type == ColumnType::integer);
  CHECK(r.warnings.empty());  // a date on every row is no identifier
  // Declared categorical, dates stay categories; declared numeric, they are refused.
  CHECK(read("d\n2020-01-01\n2020-01-02\n", {.categorical = {"d"}}).table.schema.columns[0].type ==
        ColumnType::categorical);
  CHECK(error_of("d\n2020-01-01\n", {.numeric = {"d"}}) ==
        "read_table: t.csv:2: column 'd': '2020-01-01' is not a number (the column is declared numeric)");
}

TEST_CASE("read_table: a column of YYYY-MM-DD HH:MM:SS date-times is a datetime column of seconds") {
  const TableRead r = read(
      "at,mixed\n"
      "2000-03-01 12:34:56,2000-03-01 00:00:00\n"
      ",2000-03-01\n"
      "1970-01-01 00:00:01,2000-03-02 00:00:00\n");
  const ldm::Column& at = r.table.schema.columns[0];
  CHECK(at.type == ColumnType::datetime);
  CHECK(at.missing_text == "");
  CHECK(at.min == 1);
  CHECK(at.max == 11017.0 * 86400 + 45296);
  CHECK(r.table.cells(0, 0) == 11017.0 * 86400 + 45296);
  // A date among date-times: text, every cell as written.
  CHECK(r.table.schema.columns[1].categories ==
        std::vector<std::string>{"2000-03-01", "2000-03-01 00:00:00", "2000-03-02 00:00:00"});
  const ldm::Schema schema = r.table.schema;
  CHECK_THROWS_WITH(ldm::parse_table("at,mixed\n2000-03-01,2000-03-01\n", "held.csv", schema),
                    "read_table: held.csv:2: column 'at': '2000-03-01' is not a date-time written YYYY-MM-DD "
                    "HH:MM:SS (the schema says datetime)");
}

TEST_CASE("read_table: date-times with ISO's 'T' or to the minute are datetime columns written as the first cell") {
  const TableRead r = read(
      "t,minute,t_minute,switch\n"
      "2000-03-01T12:34:56,2000-03-01 12:34,2000-03-01T12:34,2000-03-01T12:34:56\n"
      "NA,2000-03-01 12:35,2000-03-01T00:00,2000-03-01 12:34:56\n");
  const auto& columns = r.table.schema.columns;
  CHECK(columns[0].type == ColumnType::datetime);
  CHECK(columns[0].time_format == ldm::TimeFormat::t_seconds);
  CHECK(r.table.cells(0, 0) == 11017.0 * 86400 + 45296);
  CHECK(columns[1].time_format == ldm::TimeFormat::space_minutes);
  CHECK(r.table.cells(1, 1) == 11017.0 * 86400 + 45300);
  CHECK(columns[2].time_format == ldm::TimeFormat::t_minutes);
  CHECK(r.table.cells(1, 2) == 11017.0 * 86400);
  // One column, one spelling: a cell written otherwise makes every cell a category, as written.
  CHECK(columns[3].type == ColumnType::categorical);
  CHECK(columns[3].categories == std::vector<std::string>{"2000-03-01 12:34:56", "2000-03-01T12:34:56"});
  // Against the schema, the column's own spelling only; the schema file keeps it.
  CHECK_THROWS_WITH(ldm::parse_table("t,minute,t_minute,switch\n2000-03-01 12:34:56,2000-03-01 12:34,2000-03-01T12:34,"
                                     "2000-03-01T12:34:56\n",
                                     "held.csv", r.table.schema),
                    "read_table: held.csv:2: column 't': '2000-03-01 12:34:56' is not a date-time written "
                    "YYYY-MM-DDTHH:MM:SS (the schema says datetime)");
  const nlohmann::json j = r.table.schema;
  CHECK(j["columns"][1]["time_format"] == "YYYY-MM-DD HH:MM");
  CHECK(j.get<ldm::Schema>().columns[2].time_format == ldm::TimeFormat::t_minutes);
}

TEST_CASE("read_table against a schema with a date column: dates only") {
  const ldm::Schema schema = read("d,x\n2020-01-01,1\n2020-03-01,2\n").table.schema;
  const ldm::Table t = ldm::parse_table("x,d\n5,2021-06-30\n", "held.csv", schema);
  CHECK(t.cells(0, 0) == 18808);  // 2021-06-30
  CHECK(t.schema.columns[0].min == 18808);
  std::string message;
  try {
    (void)ldm::parse_table("d,x\n2020-01-01,1\n5,2\n", "held.csv", schema);
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  CHECK(message == "read_table: held.csv:3: column 'd': '5' is not a date written YYYY-MM-DD (the schema says date)");
}

TEST_CASE("read_table: declared types override inference") {
  const std::string text = "a,b,c\n1,2.5,3\n2,3,4\n";
  const TableRead r = read(text, {.categorical = {"a"}, .numeric = {"c"}});
  CHECK(r.table.schema.columns[0].type == ColumnType::categorical);
  CHECK(r.table.schema.columns[0].categories == std::vector<std::string>{"1", "2"});
  CHECK(r.table.schema.columns[1].type == ColumnType::numeric);
  CHECK(r.table.schema.columns[2].type == ColumnType::numeric);  // whole, but declared numeric: never rounded
  CHECK(error_of("a,b\n1,2\nx,3\n", {.numeric = {"a"}}) ==
        "read_table: t.csv:3: column 'a': 'x' is not a number (the column is declared numeric)");
  CHECK(error_of(text, {.categorical = {"a"}, .numeric = {"a"}}) ==
        "read_table: t.csv: column 'a' is declared categorical and also numeric");
  CHECK(error_of(text, {.drop = {"c"}, .numeric = {"c"}}) ==
        "read_table: t.csv: column 'c' is declared numeric and also dropped");
}

TEST_CASE("read_table: na_values decide what is missing, in any case, quoted or not") {
  const TableRead by_default = read("a,b\nnull,x\n\"NA\",n/a\nNAN,\"y\"\n1, \n");
  CHECK(by_default.table.schema.columns[0].missing_text == "null");
  CHECK(same_cells(by_default.table.cells, {{NA, 0}, {NA, NA}, {NA, 1}, {1, NA}}));
  // "-" is missing, "NA" and "" are text.
  const TableRead changed = read("a,b\n-,NA\n2,\n3,x\n", {.na_values = {"-"}});
  CHECK(changed.table.schema.columns[0].type == ColumnType::integer);
  CHECK(changed.table.schema.columns[0].missing_text == "-");
  CHECK(changed.table.schema.columns[1].categories == std::vector<std::string>{"", "NA", "x"});
  CHECK_FALSE(changed.table.schema.columns[1].has_missing);
}

TEST_CASE("read_table: a column's missing cells are written back as the file wrote most of them") {
  // a: one empty cell, then two NA; b: NA then empty, once each (the first of equals wins).
  const TableRead r = read("a,b\n,NA\n1,\nNA,2\nNA,3\n");
  CHECK(r.table.schema.columns[0].missing_text == "NA");
  CHECK(r.table.schema.columns[1].missing_text == "NA");
  CHECK(read("a\nNA\n\n\n1\n").table.schema.columns[0].missing_text == "");
}

TEST_CASE("read_table: a dropped column may hold anything") {
  std::string text = "id,junk,x\n";
  for (int i = 0; i < 2000; ++i)
    text += std::to_string(i) + ",\"" + std::to_string(i * 7919) + "zz\"\"\x01\"," + std::to_string(i % 3) + "\n";
  CHECK_THAT(error_of(text), Catch::Matchers::Contains("column 'junk' has more than 1000 distinct values"));
  const TableRead r = read(text, {.drop = {"junk"}});
  REQUIRE(r.table.schema.size() == 2);
  CHECK(r.table.schema.columns[1].name == "x");
  CHECK(r.table.cells(1999, 1) == 1);
  CHECK(r.warnings == std::vector<std::string>{
                          "column 'id' has a different value on every row; is it an identifier? --drop-column id"});
}

TEST_CASE("read_table refuses bad input with one line naming the file, the line and the column") {
  CHECK(error_of("") == "read_table: t.csv: the file is empty (a header line is needed)");
  CHECK(error_of("a,b\n") == "read_table: t.csv: the file has a header but no data rows");
  CHECK(error_of("a,b\n\n\n") == "read_table: t.csv: the file has a header but no data rows");
  CHECK(error_of("a,b\n1,2\n3\n") == "read_table: t.csv:3: the row has 1 cells, expected 2: column 'b' is missing");
  CHECK(error_of("a,b\n1,2\n3,4,5\n") ==
        "read_table: t.csv:3: the row has 3 cells, expected 2: there is an extra cell at index 2");
  CHECK(error_of("a,b\n1,2\n\n3,4\n") == "read_table: t.csv:3: the row has 1 cells, expected 2: column 'b' is missing");
  CHECK(error_of("a,b\n1,\"2\n3,4\n") == "read_table: t.csv:2: a quoted field is not closed");
  CHECK(error_of("a,b\n1,\"2\"x\n") == "read_table: t.csv:2: unexpected 'x' after a closing quote");
  CHECK(error_of("a,b,a\n1,2,3\n") == "read_table: t.csv:1: the column name 'a' appears twice");
  CHECK(
      error_of("a,b\nNA,1\n,2\n") ==
      "read_table: t.csv: column 'a' is missing on every row, so it cannot be learned; leave it out: --drop-column a");
  CHECK(error_of("a,b\n1,2\n", {.drop = {"c"}}) ==
        "read_table: t.csv: --drop-column names 'c', which is not a column; the columns are: a, b");
  CHECK(error_of("a,b\n1,2\n", {.categorical = {"B"}}) ==
        "read_table: t.csv: --categorical names 'B', which is not a column; the columns are: a, b");
  CHECK(error_of("a,b\n1,2\n", {.numeric = {""}}) ==
        "read_table: t.csv: --numeric names '', which is not a column; the columns are: a, b");
  CHECK(error_of("a,b\n1,2\n", {.drop = {"a", "b"}}) == "read_table: t.csv: every column is left out");
  CHECK(error_of("a,b\ncaf\xE9,2\n") ==
        "read_table: t.csv: column 'a': 'caf\xE9' is not UTF-8 text; convert the file (e.g. iconv -f latin1 -t utf-8)");
  CHECK(
      error_of("\xE9,b\n1,2\n") ==
      "read_table: t.csv: the column name '\xE9' is not UTF-8 text; convert the file (e.g. iconv -f latin1 -t utf-8)");
  CHECK(error_of("\xE9,b\n1,2\n", {.drop = {"\xE9"}}).empty());  // dropped: never looked at
  CHECK(error_of("a\n1\n", {.delimiter = '"'}) ==
        "read_table: t.csv: the delimiter must not be a quote or a line break");
  CHECK(error_of("a,b\n1,2\n", {.max_columns = 1}) ==
        "read_table: t.csv:1: the record has more than 1 cells, the limit (max_columns)");
  CHECK(error_of("a\n12345678\n", {.max_line_bytes = 4}) ==
        "read_table: t.csv:2: the line (or quoted record) is longer than 4 bytes, the limit (max_line_bytes)");
  CHECK(error_of("a\n1\n", {.max_file_bytes = 3}) ==
        "read_table: t.csv: the file has 4 bytes, above the limit of 3 (max_file_bytes)");
  CHECK_THAT(error_of("a\n1\n"), Catch::Matchers::Equals(""));
  CHECK_THROWS_WITH(ldm::read_table("/nonexistent/t.csv"),
                    "read_table: cannot open /nonexistent/t.csv: No such file or directory");
}

TEST_CASE("read_table refuses a column of 100,000 distinct texts at once, without a huge dictionary") {
  ldm_test::TempDir dir("table_reader_distinct");
  const std::string path = dir.file("ids.csv");
  std::string text = "id,x\n";
  for (int i = 0; i < 100000; ++i) text += "user" + std::to_string(i) + "," + std::to_string(i % 5) + "\n";
  ldm_test::write_bytes(path, text);
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(ldm::read_table(path),
                    "read_table: " + path +
                        ":1002: column 'id' has more than 1000 distinct values, the limit (max_categories); if it is "
                        "not a category, leave it out: --drop-column id");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  CHECK(ldm::read_table(path, {.max_categories = 100000}).table.schema.columns[0].categories.size() == 100000);
}

TEST_CASE("read_table: quoting, CRLF, a byte-order mark and blank lines follow csv_reader") {
  const TableRead r = read("\xEF\xBB\xBF\"a\",b\r\n\"x,\r\ny\",1\r\n  z  ,2\r\n\r\n\r\n");
  CHECK(r.table.schema.columns[0].name == "a");
  CHECK(r.table.schema.columns[0].categories == std::vector<std::string>{"x,\r\ny", "z"});
  CHECK(r.table.rows() == 2);
  // One column: a blank line inside the table is a missing cell, at the end it is nothing.
  const TableRead one = read("a\n1\n\n2\n\n");
  CHECK(same_cells(one.table.cells, {{1}, {NA}, {2}}));
  // Tab-separated, with a quoted blank-edged category.
  CHECK(read("a\tb\n\" p \"\t1\n", {.delimiter = '\t'}).table.schema.columns[0].categories ==
        std::vector<std::string>{" p "});
}

TEST_CASE("read_table: records cut anywhere by the chunks read the same") {
  // A RecordReader fed one byte at a time splits every record at every possible place.
  const std::string text = "\xEF\xBB\xBFh1,\"h\"\"2\"\r\n\"a\"\"b\n\",  1 \r\n\"\"\"\",\"x\" \n\n,\"\"\n\n";
  std::size_t at = 0;
  const std::string file = "t.csv";
  ldm::detail::RecordReader records(
      [&](char* out, std::size_t n) {
        if (at == text.size() || n == 0) return std::size_t{0};
        *out = text[at++];
        return std::size_t{1};
      },
      file, ',', {1000, 1000, 10}, 1);
  std::vector<std::vector<std::string>> got;
  std::vector<std::size_t> lines;
  while (records.next()) {
    got.emplace_back();
    for (const auto& cell : records.cells()) got.back().emplace_back(cell.text);
    lines.push_back(records.line());
  }
  CHECK(got == std::vector<std::vector<std::string>>{{"h1", "h\"2"}, {"a\"b\n", "1"}, {"\"", "x"}, {""}, {"", ""}});
  CHECK(lines == std::vector<std::size_t>{1, 2, 4, 5, 6});
}

TEST_CASE("read_table reads a file larger than its chunks the same as in memory") {
  std::string text = "k,v,w\n";
  for (int i = 0; i < 120000; ++i)
    text += "\"cat " + std::to_string(i % 37) + "\n\"\"q\"\"\"," + std::to_string(i * 0.25) + "," +
            (i % 11 ? std::to_string(i % 5) : "NA") + "\n";
  REQUIRE(text.size() > (std::size_t{3} << 20));
  const TableRead r = read(text);
  CHECK(r.table.rows() == 120000);
  CHECK(r.table.schema.columns[0].categories.size() == 37);
  CHECK(r.table.schema.columns[1].type == ColumnType::numeric);
  CHECK(r.table.schema.columns[1].decimals == 6);  // std::to_string writes 6 decimals
  CHECK(r.table.cells(119999, 1) == 119999 * 0.25);
  CHECK(r.table.schema.columns[2].type == ColumnType::integer);
}

TEST_CASE("read_table: a column without a name is named as pandas names it") {
  const TableRead r = read("a,,c\n1,2,3\n");
  CHECK(r.table.schema.columns[1].name == "Unnamed: 1");
  CHECK(read("a,,c\n1,x,3\n", {.drop = {"Unnamed: 1"}}).table.schema.size() == 2);
  CHECK(read("caf\xC3\xA9,\xE2\x82\xAC\n\xF0\x9F\x90\xA7,1\n").table.schema.columns[0].categories ==
        std::vector<std::string>{"\xF0\x9F\x90\xA7"});  // UTF-8: café, €, a penguin
}

TEST_CASE("read_table: a table of categorical columns only, and a category alone in its column") {
  const TableRead r = read("a,b\nx,u\ny,u\nx,u\n");
  CHECK(r.table.schema.columns[0].categories == std::vector<std::string>{"x", "y"});
  CHECK(r.table.schema.columns[1].categories == std::vector<std::string>{"u"});
  CHECK(same_cells(r.table.cells, {{0, 0}, {1, 0}, {0, 0}}));
}

TEST_CASE("read_table against a schema: columns reordered, categories known, ranges of this file") {
  const TableRead train = read("c,n,i\nx,1.5,1\ny,2.25,2\n");
  const ldm::Schema& schema = train.table.schema;
  const ldm::Table t = ldm::parse_table("i,extra,n,c\n3,?,NA,y\n-1,!,0.5,x\n", "h.csv", schema, {.drop = {"extra"}});
  CHECK(same_cells(t.cells, {{1, NA, 3}, {0, 0.5, -1}}));
  CHECK(t.schema.columns[1].has_missing);
  CHECK(t.schema.columns[1].missing_text == "NA");
  CHECK(t.schema.columns[1].min == 0.5);
  CHECK(t.schema.columns[2].min == -1);
  CHECK(t.schema.columns[2].max == 3);
  CHECK(t.schema.columns[0].categories == schema.columns[0].categories);
  const auto error = [&](const std::string& text) {
    try {
      (void)ldm::parse_table(text, "h.csv", schema);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error("c,n,i\nz,1,1\n") == "read_table: h.csv:2: column 'c': 'z' is not one of its 2 categories (x, y)");
  CHECK(error("c,n,i\nx,a,1\n") == "read_table: h.csv:2: column 'n': 'a' is not a number (the schema says numeric)");
  CHECK(error("c,n,i\nx,1,2.5\n") ==
        "read_table: h.csv:2: column 'i': '2.5' is not a whole number (the schema says integer)");
  CHECK(error("c,n\nx,1\n") == "read_table: h.csv: the schema's column 'i' is not in the file; its columns are: c, n");
  CHECK(error("c,n,i,e\nx,1,1,2\n") ==
        "read_table: h.csv: column 'e' is not in the schema; leave it out: --drop-column e");
  ldm::Schema bad = schema;
  bad.columns[0].categories.clear();
  CHECK_THROWS_WITH(ldm::parse_table("c,n,i\nx,1,1\n", "h.csv", bad),
                    "read_table: h.csv: column 'c' is categorical but has no categories");
}

TEST_CASE("read_table: the penguins table") {
  const TableRead r = ldm::read_table(LDM_EXAMPLES_DATA_DIR "/penguins.csv");
  const ldm::Schema& s = r.table.schema;
  CHECK(r.table.rows() == 344);
  CHECK(r.warnings.empty());
  const auto column = [&](const std::string& name) { return s.columns[s.index_of(name)]; };
  CHECK(column("species").categories == std::vector<std::string>{"Adelie", "Chinstrap", "Gentoo"});
  CHECK(column("island").categories == std::vector<std::string>{"Biscoe", "Dream", "Torgersen"});
  CHECK(column("sex").categories == std::vector<std::string>{"female", "male"});
  const auto missing = [&](const std::string& name) {
    return r.table.cells.col(static_cast<Eigen::Index>(s.index_of(name))).array().isNaN().count();
  };
  CHECK(missing("sex") == 11);
  CHECK(column("sex").missing_text == "NA");
  for (const char* name : {"bill_length_mm", "bill_depth_mm"}) {
    CHECK(column(name).type == ColumnType::numeric);
    CHECK(column(name).decimals == 1);
    CHECK(missing(name) == 2);
  }
  CHECK(column("bill_length_mm").min == 32.1);
  CHECK(column("bill_length_mm").max == 59.6);
  for (const char* name : {"flipper_length_mm", "body_mass_g", "year"}) CHECK(column(name).type == ColumnType::integer);
  CHECK(column("year").min == 2007);
  CHECK(column("year").max == 2009);
  CHECK_FALSE(column("year").has_missing);
}

TEST_CASE("TableOptions as JSON: every field, defaults for missing keys") {
  const TableOptions options{.delimiter = ';', .na_values = {"?"}, .drop = {"id"}, .max_categories = 50};
  const TableOptions back = nlohmann::json(options).get<TableOptions>();
  CHECK(back.delimiter == ';');
  CHECK(back.na_values == std::vector<std::string>{"?"});
  CHECK(back.drop == std::vector<std::string>{"id"});
  CHECK(back.max_categories == 50);
  const TableOptions defaults = nlohmann::json::object().get<TableOptions>();
  CHECK(defaults.na_values == TableOptions{}.na_values);
}
