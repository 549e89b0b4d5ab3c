// Writing a table the way its training file was written (issue 13, item 3): the header, then
// each row with categories as their text, missing cells as the file wrote them
// (Column::missing_text), integers without decimals, and numeric values rounded to the column's
// decimals with trailing zeros dropped (as R writes penguins: 18 and 18.7 in one column).
// read_table gives back the same table when its values are on the columns' grids.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/data/detail/csv_syntax.hpp>
#include <ldm/data/detail/iso_date.hpp>
#include <ldm/data/table.hpp>
#include <ldm/io/atomic_file.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <ostream>
#include <stdexcept>
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

// Throws std::invalid_argument naming `where` if the table does not fit its schema or the
// delimiter is a quote or a line break.
inline void require_writable(const Table& table, char delimiter, const std::string& where) {
  if (delimiter == '"' || delimiter == '\n' || delimiter == '\r')
    throw std::invalid_argument("write_table: " + where + ": the delimiter must not be a quote or a line break");
  validate(table, "write_table");
}

// Hands the table's text to put(const std::string&) in pieces of about 1 MB, so the text of the
// whole table is never held.
template <class Put>
void put_table_text(const Table& table, char delimiter, Put&& put) {
  const std::vector<Column>& columns = table.schema.columns;
  const bool alone = columns.size() == 1;
  const bool number_delimiter = std::string_view("0123456789.-e").find(delimiter) != std::string_view::npos;
  std::string text;
  for (std::size_t c = 0; c < columns.size(); ++c) {
    if (c) text += delimiter;
    append_text_cell(text, columns[c].name, delimiter, alone);
  }
  text += '\n';
  for (Eigen::Index r = 0; r < table.rows(); ++r) {
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const Column& column = columns[c];
      const double value = table.cells(r, static_cast<Eigen::Index>(c));
      if (c) text += delimiter;
      if (Table::is_missing(value)) {
        append_text_cell(text, column.missing_text, delimiter, alone);
      } else if (column.is_categorical()) {
        append_text_cell(text, column.categories[static_cast<std::size_t>(value)], delimiter, alone);
      } else if (column.is_time()) {
        std::string date;
        append_time(date, value, column);
        // Quoted if it holds the delimiter: '-', a digit, or the ' ' or ':' of a time of day.
        text += csv_quoted(date, delimiter);
      } else if (number_delimiter) {  // e.g. '.' or '-': the number is quoted, which read_table allows
        std::string number;
        append_rounded(number, value, column.is_whole() ? 0 : column.decimals);
        text += csv_quoted(number, delimiter);
      } else {
        append_rounded(text, value, column.is_whole() ? 0 : column.decimals);
      }
    }
    text += '\n';
    if (text.size() >= (std::size_t{1} << 20)) {
      put(text);
      text.clear();
    }
  }
  put(text);
}

}  // namespace detail

// Writes the table (see the top of this file) atomically (io/atomic_file.hpp). Throws
// std::invalid_argument if the table does not fit its schema (validate) or the delimiter is a
// quote or a line break, std::runtime_error naming the path if the file cannot be written;
// nothing is written then.
inline void write_table(const std::string& path, const Table& table, char delimiter = ',') {
  detail::require_writable(table, delimiter, path);
  AtomicFile file(path);
  detail::put_table_text(table, delimiter, [&](const std::string& text) { file.write(text); });
  file.commit();
}

// The same text to a stream (the ldm command's `--out -`: standard output). The checks are
// those above and come first; a stream that fails while written is a std::runtime_error, and
// what it took before stays there (a stream cannot be replaced atomically).
inline void write_table(std::ostream& out, const Table& table, char delimiter = ',') {
  detail::require_writable(table, delimiter, "the stream");
  detail::put_table_text(table, delimiter,
                         [&](const std::string& text) { detail::put_stream_text(out, text, "write_table", false); });
  detail::put_stream_text(out, {}, "write_table", true);
}

}  // namespace ldm
