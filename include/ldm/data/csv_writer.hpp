// Writing CSV tables: a header line of column names, then one line per row. Numbers are the
// shortest decimal text that reads back exactly (std::to_chars), cells are quoted per RFC 4180
// when they must be, and the file is replaced atomically (io/atomic_file.hpp), so read_csv
// gives back what was written, bit for bit.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/data/csv_table.hpp>
#include <ldm/data/detail/csv_syntax.hpp>
#include <ldm/io/atomic_file.hpp>

#include <cmath>
#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace ldm {

namespace detail {

// Appends the numbers of row r of values, each after a delimiter unless it opens the line.
// Throws std::invalid_argument naming the path and the cell for a value that is not finite.
template <class Derived>
void append_number_cells(std::string& text, const std::string& path, const Eigen::MatrixBase<Derived>& values,
                         Eigen::Index r, char delimiter, bool opens_line) {
  for (Eigen::Index c = 0; c < values.cols(); ++c) {
    if (!std::isfinite(values(r, c)))
      throw std::invalid_argument(
          concat("write_csv: ", path, ": values(", r, ", ", c, ") = ", values(r, c), " is not finite"));
    if (c || !opens_line) text += delimiter;
    text += exact_number_text(values(r, c));
  }
}

// A text cell; one that is empty and alone on its line is written "" (a blank line at the end
// of a file is not a record to read_csv).
inline std::string text_cell(const std::string& s, char delimiter, bool alone) {
  return alone && s.empty() ? std::string("\"\"") : csv_quoted(s, delimiter);
}

inline void write_atomically(const std::string& path, const std::string& text) {
  AtomicFile file(path);
  file.write(text);
  file.commit();
}

// The text write_csv writes: a header (unless columns is empty) and the rows of values. `where`
// names the file in messages.
template <class Derived>
std::string csv_text(const std::string& where, const std::vector<std::string>& columns,
                     const Eigen::MatrixBase<Derived>& values, char delimiter) {
  static_assert(std::is_floating_point_v<typename Derived::Scalar>, "write_csv: values must be float or double");
  if (!columns.empty() && static_cast<Eigen::Index>(columns.size()) != values.cols())
    throw std::invalid_argument(
        concat("write_csv: ", where, ": ", columns.size(), " column names for ", values.cols(), " columns"));
  std::string text;
  for (std::size_t c = 0; c < columns.size(); ++c)
    text += (c ? std::string(1, delimiter) : std::string()) + csv_quoted(columns[c], delimiter);
  if (!columns.empty()) text += '\n';
  for (Eigen::Index r = 0; r < values.rows(); ++r) {
    append_number_cells(text, where, values, r, delimiter, true);
    text += '\n';
  }
  return text;
}

// The text of text columns first, then numeric ones, always with a header (see write_csv).
template <class Derived>
std::string csv_text(const std::string& where, const std::vector<std::string>& columns,
                     const Eigen::MatrixBase<Derived>& values, const std::vector<TextColumn>& text_columns,
                     char delimiter) {
  static_assert(std::is_floating_point_v<typename Derived::Scalar>, "write_csv: values must be float or double");
  if (static_cast<Eigen::Index>(columns.size()) != values.cols())
    throw std::invalid_argument(
        concat("write_csv: ", where, ": ", columns.size(), " column names for ", values.cols(), " columns"));
  for (const TextColumn& t : text_columns)
    if (static_cast<Eigen::Index>(t.values.size()) != values.rows())
      throw std::invalid_argument(concat("write_csv: ", where, ": text column ", quoted_text(t.name), " has ",
                                         t.values.size(), " values for ", values.rows(), " rows"));
  const bool alone = text_columns.size() + columns.size() == 1;
  std::string text;
  // (Appended cell by cell: building "," + cell trips GCC 12's -Wstringop-overflow.)
  for (std::size_t t = 0; t < text_columns.size(); ++t) {
    if (t) text += delimiter;
    text += text_cell(text_columns[t].name, delimiter, alone);
  }
  for (std::size_t c = 0; c < columns.size(); ++c) {
    if (c || !text_columns.empty()) text += delimiter;
    text += text_cell(columns[c], delimiter, alone);
  }
  text += '\n';
  for (Eigen::Index r = 0; r < values.rows(); ++r) {
    const auto row = static_cast<std::size_t>(r);
    for (std::size_t t = 0; t < text_columns.size(); ++t) {
      if (t) text += delimiter;
      text += text_cell(text_columns[t].values[row], delimiter, alone);
    }
    append_number_cells(text, where, values, r, delimiter, text_columns.empty());
    text += '\n';
  }
  return text;
}

}  // namespace detail

// Writes a header (unless columns is empty) and the rows of values, atomically (AtomicFile).
// Numbers are the shortest decimal that reads back exactly (std::to_chars), so
// read_csv(write_csv(x)) == x bit for bit (after a cast to float for float). Throws
// std::invalid_argument if columns does not match the width or a value is not finite,
// std::runtime_error naming the path if the file cannot be written.
template <class Derived>
void write_csv(const std::string& path, const std::vector<std::string>& columns,
               const Eigen::MatrixBase<Derived>& values, char delimiter = ',') {
  detail::write_atomically(path, detail::csv_text(path, columns, values, delimiter));
}

// Writes text columns (e.g. class labels) and numeric ones: the text columns first, in the given
// order, then the numeric columns; always with a header. Text cells are written as they are,
// quoted when they hold the delimiter, a quote or a line break or begin or end with a blank,
// so read_csv with CsvOptions::text_columns naming them reads back the same strings (and the
// numbers bit for bit, as above). Throws std::invalid_argument if columns does not match the
// width, a text column has not one value per row, or a value is not finite; std::runtime_error
// naming the path if the file cannot be written. Nothing is written when it throws.
template <class Derived>
void write_csv(const std::string& path, const std::vector<std::string>& columns,
               const Eigen::MatrixBase<Derived>& values, const std::vector<TextColumn>& text_columns,
               char delimiter = ',') {
  detail::write_atomically(path, detail::csv_text(path, columns, values, text_columns, delimiter));
}

// Writes a table as read_csv gives it: its text columns first, then its numeric ones (see
// above). read_csv(path, {.text_columns = the text columns' names}) gives back the same table.
inline void write_csv(const std::string& path, const CsvTable& table, char delimiter = ',') {
  write_csv(path, table.columns, table.values, table.text, delimiter);
}

// The same three to a stream (the ldm command's `--out -`: standard output), with the same
// checks, made before anything is written; a stream that fails is a std::runtime_error.
template <class Derived>
void write_csv(std::ostream& out, const std::vector<std::string>& columns, const Eigen::MatrixBase<Derived>& values,
               char delimiter = ',') {
  detail::put_stream_text(out, detail::csv_text("the stream", columns, values, delimiter), "write_csv", true);
}

template <class Derived>
void write_csv(std::ostream& out, const std::vector<std::string>& columns, const Eigen::MatrixBase<Derived>& values,
               const std::vector<TextColumn>& text_columns, char delimiter = ',') {
  detail::put_stream_text(out, detail::csv_text("the stream", columns, values, text_columns, delimiter), "write_csv",
                          true);
}

inline void write_csv(std::ostream& out, const CsvTable& table, char delimiter = ',') {
  write_csv(out, table.columns, table.values, table.text, delimiter);
}

}  // namespace ldm
