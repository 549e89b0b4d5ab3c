// Writing a table the way its training file was written (issue 13, item 3): the header, then
// each row with categories as their text, missing cells as the file wrote them
// (Column::missing_text), integers without decimals, and numeric values rounded to the column's
// decimals with trailing zeros dropped (as R writes penguins: 18 and 18.7 in one column).
// read_table gives back the same table when its values are on the columns' grids.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/data/detail/csv_syntax.hpp>
#include <ldm/data/table.hpp>
#include <ldm/io/atomic_file.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>

namespace ldm {

namespace detail {

// value rounded to `decimals` places (std::to_chars rounds correctly), trailing zeros and a
// bare point dropped, "-0" written "0".
inline void append_rounded(std::string& out, double value, int decimals) {
  char buffer[1536];  // 309 digits of 1e308, the point, up to 1000 decimals
  const auto r =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, std::clamp(decimals, 0, 1000));
  std::string_view text(buffer, static_cast<std::size_t>(r.ptr - buffer));
  if (text.find('.') != std::string_view::npos) {
    while (text.back() == '0') text.remove_suffix(1);
    if (text.back() == '.') text.remove_suffix(1);
  }
  if (text == "-0") text = "0";
  out += text;
}

// A text cell as RFC 4180 wants it; an empty cell alone on its line is written "" (a blank
// line at the end of a file is no record).
inline void append_text_cell(std::string& out, const std::string& text, char delimiter, bool alone) {
  out += alone && text.empty() ? std::string("\"\"") : csv_quoted(text, delimiter);
}

}  // namespace detail

// Writes the table (see the top of this file) atomically (io/atomic_file.hpp). Throws
// std::invalid_argument if the table does not fit its schema (validate) or the delimiter is a
// quote or a line break, std::runtime_error naming the path if the file cannot be written;
// nothing is written then.
inline void write_table(const std::string& path, const Table& table, char delimiter = ',') {
  if (delimiter == '"' || delimiter == '\n' || delimiter == '\r')
    throw std::invalid_argument("write_table: " + path + ": the delimiter must not be a quote or a line break");
  validate(table, "write_table");
  const std::vector<Column>& columns = table.schema.columns;
  const bool alone = columns.size() == 1;
  const bool number_delimiter = std::string_view("0123456789.-e").find(delimiter) != std::string_view::npos;
  AtomicFile file(path);
  std::string text;
  for (std::size_t c = 0; c < columns.size(); ++c) {
    if (c) text += delimiter;
    detail::append_text_cell(text, columns[c].name, delimiter, alone);
  }
  text += '\n';
  for (Eigen::Index r = 0; r < table.rows(); ++r) {
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const Column& column = columns[c];
      const double value = table.cells(r, static_cast<Eigen::Index>(c));
      if (c) text += delimiter;
      if (Table::is_missing(value)) {
        detail::append_text_cell(text, column.missing_text, delimiter, alone);
      } else if (column.is_categorical()) {
        detail::append_text_cell(text, column.categories[static_cast<std::size_t>(value)], delimiter, alone);
      } else if (number_delimiter) {  // e.g. '.' or '-': the number is quoted, which read_table allows
        std::string number;
        detail::append_rounded(number, value, column.type == ColumnType::integer ? 0 : column.decimals);
        text += detail::csv_quoted(number, delimiter);
      } else {
        detail::append_rounded(text, value, column.type == ColumnType::integer ? 0 : column.decimals);
      }
    }
    text += '\n';
    if (text.size() >= (std::size_t{1} << 20)) {  // written in pieces: the text of the whole table is never held
      file.write(text);
      text.clear();
    }
  }
  file.write(text);
  file.commit();
}

}  // namespace ldm
