// The work of read_table (table_reader.hpp): records from a RecordReader, each cell parsed
// straight into the table's matrix (one double per cell, no string per cell), per column the
// facts the schema needs. A column whose type is not declared is read as numbers until its first
// cell that is not one; then its earlier cells become categories, their text rebuilt from the
// value and how it was written (NumberText::form; the rare text that cannot be rebuilt is kept).
// A column whose first present cell is a date (YYYY-MM-DD, iso_date.hpp) is read as day numbers
// until a cell that is not a date; then it becomes categorical the same way, its dates' texts
// rebuilt from the day numbers. The same for date-times (in seconds), in the TimeFormat of the
// first present cell (YYYY-MM-DD HH:MM:SS, ...): a cell in another is not one.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/data/detail/csv_records.hpp>
#include <ldm/data/detail/csv_syntax.hpp>
#include <ldm/data/detail/iso_date.hpp>
#include <ldm/data/detail/table_cells.hpp>
#include <ldm/data/schema.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ldm::detail {

// How one kept column is read, and what was seen in it.
struct ColumnReading {
  // date and datetime: inferred from the first present cell, or declared (`declared` says so)
  enum class Kind { inferred, numeric, categorical, date, datetime };
  std::string name;
  Kind kind = Kind::inferred;
  TimeFormat time_format = TimeFormat::space_seconds;  // datetime: the first present cell's, or the schema's
  bool known_categories = false;                       // against a schema: an unknown text is an error
  bool whole_only = false;                             // against a schema: an integer column
  std::string declared;                                // for messages: "declared numeric", "the schema says integer"

  std::size_t present = 0;
  // Each spelling of a missing cell and how often it was seen: a file that writes both "" and
  // "NA" gets back the one it wrote most (the first of equals).
  std::vector<std::pair<std::string, std::size_t>> missing_spellings;
  double min = std::numeric_limits<double>::infinity(), max = -std::numeric_limits<double>::infinity();
  bool whole = true;
  int decimals = 0;
  CategoryCodes codes;
  // Inferred columns still numeric: per row how its number was written, and the texts that
  // cannot be rebuilt from the value (kTextForm), in row order.
  std::vector<std::uint8_t> forms;
  std::vector<std::size_t> text_ends;
  std::string texts;

  bool has_missing() const { return !missing_spellings.empty(); }

  void count_missing(std::string_view text) {
    for (auto& [spelling, count] : missing_spellings)
      if (spelling == text) {
        ++count;
        return;
      }
    missing_spellings.emplace_back(text, 1);
  }

  // The spelling seen most often; the first of equals. Empty if none was seen.
  std::string missing_text() const {
    const auto most = std::max_element(missing_spellings.begin(), missing_spellings.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; });
    return most == missing_spellings.end() ? std::string{} : most->first;
  }
};

struct ParsedTable {
  std::vector<ColumnReading> columns;  // kept columns, in result order
  Matrix<double> cells;
  std::size_t last_line = 0;
};

struct ParserSettings {
  char delimiter = ',';
  std::vector<std::string> na_values;
  std::size_t max_categories = 1000;
  RecordLimits limits{};
  std::uint64_t size_hint = 0;  // the file's size if known: the first guess of the row count
};

class TableParser {
 public:
  // `plan(names, line)` maps the header's names to the columns (sets columns and, per file
  // column, its slot or -1 for a dropped one).
  TableParser(const std::string& file, const ParserSettings& settings)
      : file_(file), settings_(settings), na_(settings.na_values) {}

  template <class Plan>
  ParsedTable parse(RecordReader::Read read, Plan plan) {
    RecordReader records(std::move(read), file_, settings_.delimiter, settings_.limits);
    if (!records.next())
      throw std::runtime_error("read_table: " + file_ + ": the file is empty (a header line is needed)");
    std::vector<std::string> names;
    for (const RecordCell& cell : records.cells()) {
      // An empty name is named as pandas names it, so that --drop-column can name it.
      names.push_back(cell.text.empty() ? concat("Unnamed: ", names.size()) : std::string(cell.text));
    }
    std::set<std::string_view> seen;
    for (const std::string& name : names)
      if (!seen.insert(name).second)
        throw std::runtime_error(concat("read_table: ", file_, ":", records.line(), ": the column name ",
                                        quoted_text(name), " appears twice"));
    ParsedTable out;
    slots_ = plan(names, out.columns);
    const auto width = static_cast<Eigen::Index>(out.columns.size());
    if (width == 0) throw std::invalid_argument("read_table: " + file_ + ": every column is left out");
    // Rows are added as read, the matrix grown by half when full (and once to the row count the
    // file's size suggests); it starts small, as a header of many columns may have few rows.
    std::uint64_t start = std::max<std::uint64_t>(1, std::min<std::uint64_t>(1024, (1 << 16) / names.size()));
    if (settings_.size_hint > 0) start = std::min<std::uint64_t>(start, settings_.size_hint / names.size() + 2);
    auto capacity = static_cast<Eigen::Index>(start), rows = Eigen::Index{0};
    bool estimated = false;
    out.cells.resize(capacity, width);
    while (records.next()) {
      const std::vector<RecordCell>& cells = records.cells();
      line_ = records.line();
      if (cells.size() != names.size()) {
        const std::string what = cells.size() < names.size()
                                     ? "column " + quoted_text(names[cells.size()]) + " is missing"
                                     : concat("there is an extra cell at index ", names.size());
        fail(concat("the row has ", cells.size(), " cells, expected ", names.size(), ": ", what));
      }
      if (rows == capacity) {
        Eigen::Index grown = capacity + capacity / 2 + 1;
        if (!estimated && settings_.size_hint > records.bytes_parsed()) {  // rows per byte so far, times the file
          estimated = true;
          const double guess = 1.05 * static_cast<double>(rows) * static_cast<double>(settings_.size_hint) /
                                   static_cast<double>(records.bytes_parsed()) +
                               64;
          grown = std::max(grown, static_cast<Eigen::Index>(
                                      std::min(guess, static_cast<double>(settings_.size_hint / names.size() + 2))));
        }
        capacity = grown;
        out.cells.conservativeResize(capacity, width);  // realloc: big blocks are remapped, not copied
      }
      double* row = out.cells.data() + rows * width;
      for (std::size_t f = 0; f < cells.size(); ++f) {
        const long slot = slots_[f];
        if (slot >= 0) read_cell(out, static_cast<std::size_t>(slot), rows, cells[f], row[slot]);
      }
      ++rows;
    }
    out.last_line = records.line();
    if (rows == 0) throw std::runtime_error("read_table: " + file_ + ": the file has a header but no data rows");
    out.cells.conservativeResize(rows, width);
    return out;
  }

 private:
  const std::string& file_;
  const ParserSettings& settings_;
  NaMatcher na_;
  std::vector<long> slots_;
  std::size_t line_ = 0;
  char buffer_[512];

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(concat("read_table: ", file_, ":", line_, ": ", what));
  }
  [[noreturn]] void too_many(const ColumnReading& c) const {
    fail(concat("column ", quoted_text(c.name), " has more than ", settings_.max_categories,
                " distinct values, the limit (max_categories); if it is not a category, leave it out: --drop-column ",
                c.name));
  }

  void read_cell(ParsedTable& out, std::size_t slot, Eigen::Index row, const RecordCell& cell, double& value) {
    ColumnReading& c = out.columns[slot];
    const std::string_view text = cell.quoted ? trim_blanks(cell.text) : cell.text;
    if (na_(text)) {  // quoted or not, as pandas does
      value = std::numeric_limits<double>::quiet_NaN();
      c.count_missing(text);
      if (c.kind == ColumnReading::Kind::inferred) c.forms.push_back(0);
      return;
    }
    ++c.present;
    if (c.kind == ColumnReading::Kind::inferred && c.present == 1 && text.size() == cell.text.size()) {
      // Its first present cell: a date or datetime column, until a cell says otherwise.
      if (iso_date_days(text)) c.kind = ColumnReading::Kind::date;
      if (const auto format = datetime_format_of(text)) {
        c.kind = ColumnReading::Kind::datetime;
        c.time_format = *format;
      }
      if (c.kind != ColumnReading::Kind::inferred) c.forms = {};
    }
    if (c.kind == ColumnReading::Kind::date || c.kind == ColumnReading::Kind::datetime) {
      const bool with_time = c.kind == ColumnReading::Kind::datetime;
      if (const auto time = time_value(text, with_time, c.time_format); time && text.size() == cell.text.size()) {
        value = *time;
        c.min = std::min(c.min, value);
        c.max = std::max(c.max, value);
        return;
      }
      if (!c.declared.empty())
        fail(concat("column ", quoted_text(c.name), ": ", quoted_text(text), " is not a ",
                    with_time ? "date-time written " : "date written ",
                    with_time ? enum_name(c.time_format) : "YYYY-MM-DD", " (", c.declared, ")"));
      to_categorical(out, slot, row);
    }
    if (c.kind != ColumnReading::Kind::categorical) {
      NumberText number;
      if (scan_number(text, number)) {
        if (c.whole_only && number.value != std::floor(number.value))
          fail(concat("column ", quoted_text(c.name), ": ", quoted_text(text), " is not a whole number (", c.declared,
                      ")"));
        value = number.value + 0.0;  // -0 as 0: one zero, so a written table reads back the same
        c.min = std::min(c.min, value);
        c.max = std::max(c.max, value);
        c.whole = c.whole && value == std::floor(value);
        c.decimals = std::max(c.decimals, number.decimals);
        if (c.kind == ColumnReading::Kind::inferred) {
          // A quoted " 5" reads as 5 but, as a category, is the text " 5": kept as written.
          if (text.size() != cell.text.size()) number.form = kTextForm;
          c.forms.push_back(number.form);
          if (number.form == kTextForm) {
            c.texts.append(cell.text);
            c.text_ends.push_back(c.texts.size());
          }
        }
        return;
      }
      if (c.kind == ColumnReading::Kind::numeric)
        fail(concat("column ", quoted_text(c.name), ": ", quoted_text(text), " is not a number (", c.declared, ")"));
      to_categorical(out, slot, row);
    }
    const long code = c.codes.code(cell.text, !c.known_categories, settings_.max_categories);
    if (code < 0) {
      if (!c.known_categories) too_many(c);
      fail(concat("column ", quoted_text(c.name), ": ", quoted_text(cell.text), " is not one of its ", c.codes.size(),
                  " categories (", text_list(c.codes.texts()), ")"));
    }
    value = static_cast<double>(code);
  }

  // The column's first cell that is not a number (or, in a date column, not a date): the earlier
  // rows become categories too.
  void to_categorical(ParsedTable& out, std::size_t slot, Eigen::Index rows) {
    ColumnReading& c = out.columns[slot];
    std::size_t text = 0, from = 0;
    for (Eigen::Index r = 0; r < rows; ++r) {
      double& value = out.cells(r, static_cast<Eigen::Index>(slot));
      if (std::isnan(value)) continue;
      std::string_view written;
      std::string date;
      if (c.kind == ColumnReading::Kind::date || c.kind == ColumnReading::Kind::datetime) {
        append_time(date, value, c.kind == ColumnReading::Kind::datetime, c.time_format);
        written = date;
      } else if (const std::uint8_t form = c.forms[static_cast<std::size_t>(r)]; form == kTextForm) {
        written = std::string_view(c.texts).substr(from, c.text_ends[text] - from);
        from = c.text_ends[text++];
      } else {
        written = fixed_text(value, form, buffer_);
      }
      const long code = c.codes.code(written, true, settings_.max_categories);
      if (code < 0) too_many(c);
      value = static_cast<double>(code);
    }
    c.kind = ColumnReading::Kind::categorical;
    c.forms = {};
    c.text_ends = {};
    c.texts = {};
  }
};

}  // namespace ldm::detail
