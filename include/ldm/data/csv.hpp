// Numeric CSV tables: read (with or without a header), select or drop columns, write back.
//
// Reading follows RFC 4180: fields separated by the delimiter, records by LF or CRLF, a field
// may be quoted ("a, b" and "say ""hi""", newlines included). Unquoted fields are trimmed of
// spaces and tabs. A UTF-8 byte-order mark and blank lines at the end of the file are ignored;
// a blank line anywhere else is a record like any other (so usually a ragged row).
// Numbers are parsed with std::from_chars (locale-independent; an optional leading '+');
// "nan", "inf" and out-of-range values are refused, so the values are always finite, except
// that CsvOptions::allow_empty reads empty cells as NaN (missing values).
// Errors are std::runtime_error "read_csv: <file>:<line>: column '<name>' (index <i>): <what>",
// lines 1-based, column indices 0-based as select_columns takes them.
// Hostile sizes: the file size, the length of every line and the number of cells in a record
// are checked against CsvOptions' limits while the file is read and split, before memory of
// that size is taken, so a 10 GB line or 10^7 columns is refused with a message naming the limit.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/io/atomic_file.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <limits>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include <sys/stat.h>

namespace ldm {

struct CsvOptions {
  bool header = true;          // the first line holds the column names; if false, names are "0", "1", ...
  bool detect_header = false;  // if true, ignore `header`: the first line is a header iff one of its
                               // cells is not a number (nor empty)
  char delimiter = ',';        // any byte but a quote or a line break (tab and space work too)
  bool allow_empty = false;    // empty cells read as NaN instead of being an error
  std::vector<std::string> text_columns = {};  // columns kept as strings in CsvTable::text (e.g. class labels)
  // Limits (see the top of the file). A digits row is about 200 bytes and 65 columns.
  std::uint64_t max_file_bytes = std::uint64_t{4} << 30;   // 4 GiB: the whole file is held in memory
  std::uint64_t max_line_bytes = std::uint64_t{16} << 20;  // 16 MiB per line, '\n' excluded
  std::size_t max_columns = 100'000;                       // cells per record
};

struct TextColumn {
  std::string name;
  std::vector<std::string> values;  // one per row
};

struct CsvTable {
  std::vector<std::string> columns;  // the numeric columns' names, in file order
  Matrix<double> values;             // [rows, columns.size()]
  std::vector<TextColumn> text;      // the CsvOptions::text_columns, in file order

  Eigen::Index rows() const { return values.rows(); }

  // Index of a numeric column; throws std::invalid_argument naming the missing column.
  Eigen::Index column_index(const std::string& name) const {
    for (std::size_t i = 0; i < columns.size(); ++i)
      if (columns[i] == name) return static_cast<Eigen::Index>(i);
    throw std::invalid_argument("CsvTable: no numeric column '" + name + "' (there are " +
                                std::to_string(columns.size()) + ")");
  }

  // The strings of a text column; throws std::invalid_argument if there is none of that name.
  const std::vector<std::string>& text_column(const std::string& name) const {
    for (const TextColumn& t : text)
      if (t.name == name) return t.values;
    throw std::invalid_argument("CsvTable: no text column '" + name + "'");
  }
};

namespace detail {

struct CsvCell {
  std::string_view text;
  bool quoted = false;
};

inline std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits text into records and calls on_record(line, cells) for each; line is the 1-based line
// where the record starts. Unquoted cells point into text; unescaped quoted ones into storage
// that lives until the next record.
// Throws when a record has more than max_columns cells.
template <class OnRecord>
void split_csv(std::string_view text, char delimiter, std::size_t max_columns, const std::string& file,
               OnRecord on_record) {
  std::vector<CsvCell> cells;
  std::deque<std::string> quoted;  // a deque keeps earlier strings in place as it grows
  std::size_t i = 0, line = 1;
  const std::size_t n = text.size();
  // Blank lines from here on are the ignored trailing ones (found once: a search per blank
  // line would make a long run of them quadratic).
  const std::size_t last = text.find_last_not_of("\r\n");
  const std::size_t trailing_blanks = last == std::string_view::npos ? 0 : last + 1;
  const auto fail = [&](std::size_t at_line, const std::string& what) {
    throw std::runtime_error("read_csv: " + file + ":" + std::to_string(at_line) + ": " + what);
  };
  // Space or tab around a quoted field, unless it is the delimiter (tab-separated files).
  const auto is_blank = [delimiter](char c) { return c != delimiter && (c == ' ' || c == '\t'); };
  while (i < n) {
    const std::size_t record_line = line;
    cells.clear();
    quoted.clear();
    while (true) {
      if (cells.size() == max_columns)
        fail(record_line,
             concat("the record has more than ", max_columns, " cells, the limit (CsvOptions::max_columns)"));
      std::size_t start = i;
      while (start < n && is_blank(text[start])) ++start;
      if (start < n && text[start] == '"') {
        std::string& cell = quoted.emplace_back();
        const std::size_t quote_line = line;
        i = start + 1;
        while (true) {
          if (i >= n) fail(quote_line, "a quoted field is not closed");
          if (text[i] == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              cell += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (text[i] == '\n') ++line;
          cell += text[i++];
        }
        while (i < n && is_blank(text[i])) ++i;
        if (i < n && text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
        if (i < n && text[i] != delimiter && text[i] != '\n')
          fail(line, std::string("unexpected '") + text[i] + "' after a closing quote");
        cells.push_back({cell, true});
      } else {
        std::size_t end = i;
        while (end < n && text[end] != delimiter && text[end] != '\n') ++end;
        std::string_view cell = text.substr(i, end - i);
        if (!cell.empty() && cell.back() == '\r') cell.remove_suffix(1);  // CRLF
        cells.push_back({trim_blanks(cell), false});
        i = end;
      }
      if (i < n && text[i] == delimiter) {
        ++i;
        continue;
      }
      break;  // end of line or of text
    }
    if (i < n) {  // the '\n'
      ++i;
      ++line;
    }
    const bool blank = cells.size() == 1 && !cells[0].quoted && cells[0].text.empty();
    if (blank && i >= trailing_blanks) return;  // trailing
    on_record(record_line, cells);
  }
}

// 'text', in quotes, cut after 60 bytes so a huge cell does not make a huge message.
// (Built by appending: "'" + std::string(...) trips GCC 12's -Wrestrict.)
inline std::string quoted_text(std::string_view s) {
  constexpr std::size_t shown = 60;
  std::string q(1, '\'');
  q += s.substr(0, shown);
  q += '\'';
  if (s.size() > shown) q += concat("... (", s.size(), " bytes)");
  return q;
}

// Parses a whole cell as a finite double. Returns an empty string on success, else the reason.
inline std::string parse_number(std::string_view s, double& value) {
  std::string_view digits = s;
  if (digits.size() > 1 && digits[0] == '+' && digits[1] != '-' && digits[1] != '+') digits.remove_prefix(1);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc::result_out_of_range) return quoted_text(s) + " is out of the range of double";
  if (ec != std::errc() || end != digits.data() + digits.size()) return quoted_text(s) + " is not a number";
  if (!std::isfinite(value)) return quoted_text(s) + " is not a finite number";
  return {};
}

[[noreturn]] inline void fail_line_too_long(const std::string& file, std::uint64_t line, std::uint64_t limit) {
  throw std::runtime_error(concat("read_csv: ", file, ":", line, ": the line is longer than ", limit,
                                  " bytes, the limit (CsvOptions::max_line_bytes)"));
}

[[noreturn]] inline void fail_file_too_large(const std::string& file, std::uint64_t size, std::uint64_t limit) {
  throw std::runtime_error(concat("read_csv: ", file, ": the file has ", size, " bytes or more, above the limit of ",
                                  limit, " (CsvOptions::max_file_bytes)"));
}

// Counts lines in chunks of a text and throws as soon as one is longer than the limit.
class LineLengthCheck {
 public:
  LineLengthCheck(const std::string& file, std::uint64_t limit) : file_(file), limit_(limit) {}
  void add(std::string_view chunk) {
    while (!chunk.empty()) {
      const std::size_t newline = chunk.find('\n');
      const std::size_t part = newline == std::string_view::npos ? chunk.size() : newline;
      length_ += part;
      if (length_ > limit_) fail_line_too_long(file_, line_, limit_);
      if (newline == std::string_view::npos) return;
      chunk.remove_prefix(newline + 1);
      length_ = 0;
      ++line_;
    }
  }

 private:
  const std::string& file_;
  std::uint64_t limit_, length_ = 0, line_ = 1;
};

// The whole file, refused before it is held in memory if it is above the size limit or has a
// line above the line limit. A file above 64 MiB is read twice: once to check every line, then
// into a buffer of exactly its size (a buffer grown as it is read could take twice that).
inline std::string read_whole_file(const std::string& path, const CsvOptions& options) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw std::runtime_error("read_csv: cannot open " + path + ": " + std::strerror(errno));
  struct stat info {};
  if (::fstat(::fileno(f.get()), &info) != 0)
    throw std::runtime_error("read_csv: cannot tell the size of " + path + ": " + std::strerror(errno));
  const auto read_all = [&](std::string* content) {  // null: check only
    LineLengthCheck lines(path, options.max_line_bytes);
    std::uint64_t total = 0;
    char buffer[1 << 16];
    std::size_t got;
    while ((got = std::fread(buffer, 1, sizeof buffer, f.get())) > 0) {
      total += got;
      if (total > options.max_file_bytes) fail_file_too_large(path, total, options.max_file_bytes);
      lines.add(std::string_view(buffer, got));
      if (content) content->append(buffer, got);
    }
    if (std::ferror(f.get())) throw std::runtime_error("read_csv: cannot read " + path + ": " + std::strerror(errno));
  };
  std::string content;
  if (S_ISREG(info.st_mode)) {  // a pipe has no size: it is checked while it is read
    const auto size = static_cast<std::uint64_t>(info.st_size);
    if (size > options.max_file_bytes) fail_file_too_large(path, size, options.max_file_bytes);
    if (size > (std::uint64_t{64} << 20)) {
      read_all(nullptr);
      std::rewind(f.get());
    }
    content.reserve(static_cast<std::size_t>(size));
  }
  read_all(&content);
  return content;
}

// Shortest decimal text that reads back (as a double, then cast to S) as exactly value.
template <class S>
std::string exact_number_text(S value) {
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  if constexpr (!std::is_same_v<S, double>) {
    // The shortest text of a float reads back as that float when parsed as a float; parsed as
    // a double and rounded again it almost always does too. Check, else print the double.
    double back = 0;
    std::from_chars(buffer, result.ptr, back);
    if (static_cast<S>(back) != value)
      result = std::to_chars(buffer, buffer + sizeof buffer, static_cast<double>(value));
  }
  return std::string(buffer, result.ptr);
}

inline std::string csv_quoted(const std::string& name, char delimiter) {
  const bool plain = name.find_first_of(std::string("\"\r\n") + delimiter) == std::string::npos &&
                     trim_blanks(name).size() == name.size();
  if (plain) return name;
  std::string out = "\"";
  for (const char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace detail

// Parses CSV text already in memory, as read_csv does a file; name stands for the file in
// messages. Throws as read_csv.
inline CsvTable parse_csv(std::string_view text, const std::string& name, const CsvOptions& options = {}) {
  const std::string& path = name;
  const char d = options.delimiter;
  if (d == '"' || d == '\n' || d == '\r')
    throw std::invalid_argument(detail::concat("read_csv: ", path,
                                               ": the delimiter must not be a quote or a line break, got character ",
                                               static_cast<int>(d)));
  if (text.size() > options.max_file_bytes) detail::fail_file_too_large(path, text.size(), options.max_file_bytes);
  detail::LineLengthCheck(path, options.max_line_bytes).add(text);
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 byte-order mark

  CsvTable table;
  std::vector<std::string> names;  // every column, file order
  std::vector<int> text_slot;      // per column: index into table.text, or -1 for numeric
  std::vector<double> values;      // row-major
  std::size_t width = 0, rows = 0;
  bool first = true;
  const auto where = [&](std::size_t line) { return "read_csv: " + path + ":" + std::to_string(line) + ": "; };
  const auto column = [&](std::size_t c) {
    return "column " + detail::quoted_text(names[c]) + " (index " + std::to_string(c) + "): ";
  };

  const auto set_columns = [&](std::size_t line) {
    std::set<std::string> seen;
    for (std::size_t c = 0; c < names.size(); ++c)
      if (!seen.insert(names[c]).second)
        throw std::runtime_error(where(line) + "the column name " + detail::quoted_text(names[c]) + " appears twice");
    text_slot.assign(names.size(), -1);
    for (const std::string& wanted : options.text_columns) {
      std::size_t c = 0;
      while (c < names.size() && names[c] != wanted) ++c;
      if (c == names.size())
        throw std::runtime_error("read_csv: " + path + ": text column '" + wanted + "' is not among the " +
                                 std::to_string(names.size()) + " columns");
      text_slot[c] = 0;
    }
    for (std::size_t c = 0; c < names.size(); ++c) {
      if (text_slot[c] >= 0) {
        text_slot[c] = static_cast<int>(table.text.size());
        table.text.push_back({names[c], {}});
      } else {
        table.columns.push_back(names[c]);
      }
    }
    width = names.size();
  };

  detail::split_csv(text, options.delimiter, options.max_columns, path,
                    [&](std::size_t line, const std::vector<detail::CsvCell>& cells) {
                      if (first) {
                        first = false;
                        bool is_header = options.header;
                        if (options.detect_header) {
                          is_header = false;
                          for (const detail::CsvCell& cell : cells) {
                            double ignored;
                            if (!cell.text.empty() && !detail::parse_number(cell.text, ignored).empty())
                              is_header = true;
                          }
                        }
                        if (is_header) {
                          for (const detail::CsvCell& cell : cells) names.emplace_back(cell.text);
                          set_columns(line);
                          return;
                        }
                        for (std::size_t c = 0; c < cells.size(); ++c) names.push_back(std::to_string(c));
                        set_columns(line);
                      }
                      if (cells.size() != width) {
                        const std::string detail_text =
                            cells.size() < width ? "column " + detail::quoted_text(names[cells.size()]) + " (index " +
                                                       std::to_string(cells.size()) + ") is missing"
                                                 : "there is an extra cell at index " + std::to_string(width);
                        throw std::runtime_error(where(line) + "the row has " + std::to_string(cells.size()) +
                                                 " cells, expected " + std::to_string(width) + ": " + detail_text);
                      }
                      for (std::size_t c = 0; c < width; ++c) {
                        const std::string_view cell = cells[c].text;
                        if (text_slot[c] >= 0) {
                          table.text[static_cast<std::size_t>(text_slot[c])].values.emplace_back(cell);
                          continue;
                        }
                        const std::string_view number = detail::trim_blanks(cell);  // also inside quotes
                        double value = std::numeric_limits<double>::quiet_NaN();
                        if (number.empty()) {
                          if (!options.allow_empty)
                            throw std::runtime_error(where(line) + column(c) +
                                                     "the cell is empty (CsvOptions::allow_empty reads it as NaN)");
                        } else if (const std::string error = detail::parse_number(number, value); !error.empty()) {
                          throw std::runtime_error(where(line) + column(c) + error);
                        }
                        values.push_back(value);
                      }
                      ++rows;
                    });

  if (first) throw std::runtime_error("read_csv: " + path + ": the file is empty");
  if (rows == 0) throw std::runtime_error("read_csv: " + path + ": the file has a header but no data rows");
  const auto numeric = static_cast<Eigen::Index>(table.columns.size());
  table.values = Eigen::Map<const Matrix<double>>(values.data(), static_cast<Eigen::Index>(rows), numeric);
  return table;
}

// Reads a numeric CSV file (see the top of this file). Throws std::runtime_error naming the
// file, the line and the column for a missing or empty file, a ragged row, a cell that is not
// a finite number, an empty cell (unless allow_empty), a duplicate column name, a text column
// that is not in the header, or a size above CsvOptions' limits; std::invalid_argument for a
// delimiter that is a quote or a line break.
inline CsvTable read_csv(const std::string& path, const CsvOptions& options = {}) {
  const std::string content = detail::read_whole_file(path, options);
  return parse_csv(content, path, options);
}

// The numeric columns of the given indices, in the given order; text columns are kept.
// Throws std::invalid_argument for an index out of range.
inline CsvTable select_columns(const CsvTable& table, const std::vector<Eigen::Index>& indices) {
  CsvTable out;
  out.text = table.text;
  out.values.resize(table.values.rows(), static_cast<Eigen::Index>(indices.size()));
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const Eigen::Index c = indices[k];
    if (c < 0 || c >= static_cast<Eigen::Index>(table.columns.size()))
      throw std::invalid_argument(
          detail::concat("select_columns: index ", c, " is outside [0, ", table.columns.size(), ")"));
    out.columns.push_back(table.columns[static_cast<std::size_t>(c)]);
    out.values.col(static_cast<Eigen::Index>(k)) = table.values.col(c);
  }
  return out;
}

// The numeric columns of the given names, in the given order.
inline CsvTable select_columns(const CsvTable& table, const std::vector<std::string>& names) {
  std::vector<Eigen::Index> indices;
  for (const std::string& name : names) {
    try {
      indices.push_back(table.column_index(name));
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument("select_columns: no numeric column '" + name + "'");
    }
  }
  return select_columns(table, indices);
}

// Every numeric column except the given indices (e.g. a label), in file order.
inline CsvTable drop_columns(const CsvTable& table, const std::vector<Eigen::Index>& indices) {
  std::vector<bool> dropped(table.columns.size(), false);
  for (const Eigen::Index c : indices) {
    if (c < 0 || c >= static_cast<Eigen::Index>(table.columns.size()))
      throw std::invalid_argument(
          detail::concat("drop_columns: index ", c, " is outside [0, ", table.columns.size(), ")"));
    dropped[static_cast<std::size_t>(c)] = true;
  }
  std::vector<Eigen::Index> kept;
  for (std::size_t c = 0; c < dropped.size(); ++c)
    if (!dropped[c]) kept.push_back(static_cast<Eigen::Index>(c));
  return select_columns(table, kept);
}

// Every numeric column except the given names. Throws std::invalid_argument for an unknown name.
inline CsvTable drop_columns(const CsvTable& table, const std::vector<std::string>& names) {
  std::vector<Eigen::Index> indices;
  for (const std::string& name : names) {
    try {
      indices.push_back(table.column_index(name));
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument("drop_columns: no numeric column '" + name + "'");
    }
  }
  return drop_columns(table, indices);
}

// Brace lists, e.g. drop_columns(table, {"label"}) or drop_columns(table, {64}): these
// initializer_list overloads win over the vector ones, which a brace list alone would make
// ambiguous (vector's iterator-pair and size constructors).
inline CsvTable select_columns(const CsvTable& table, std::initializer_list<std::string> names) {
  return select_columns(table, std::vector<std::string>(names));
}
inline CsvTable select_columns(const CsvTable& table, std::initializer_list<Eigen::Index> indices) {
  return select_columns(table, std::vector<Eigen::Index>(indices));
}
inline CsvTable drop_columns(const CsvTable& table, std::initializer_list<std::string> names) {
  return drop_columns(table, std::vector<std::string>(names));
}
inline CsvTable drop_columns(const CsvTable& table, std::initializer_list<Eigen::Index> indices) {
  return drop_columns(table, std::vector<Eigen::Index>(indices));
}

// Writes a header (unless columns is empty) and the rows of values, atomically (AtomicFile).
// Numbers are the shortest decimal that reads back exactly (std::to_chars), so
// read_csv(write_csv(x)) == x bit for bit (after a cast to float for float). Throws
// std::invalid_argument if columns does not match the width or a value is not finite,
// std::runtime_error naming the path if the file cannot be written.
template <class Derived>
void write_csv(const std::string& path, const std::vector<std::string>& columns,
               const Eigen::MatrixBase<Derived>& values, char delimiter = ',') {
  static_assert(std::is_floating_point_v<typename Derived::Scalar>, "write_csv: values must be float or double");
  if (!columns.empty() && static_cast<Eigen::Index>(columns.size()) != values.cols())
    throw std::invalid_argument(
        detail::concat("write_csv: ", path, ": ", columns.size(), " column names for ", values.cols(), " columns"));
  std::string text;
  for (std::size_t c = 0; c < columns.size(); ++c)
    text += (c ? std::string(1, delimiter) : std::string()) + detail::csv_quoted(columns[c], delimiter);
  if (!columns.empty()) text += '\n';
  for (Eigen::Index r = 0; r < values.rows(); ++r) {
    for (Eigen::Index c = 0; c < values.cols(); ++c) {
      if (!std::isfinite(values(r, c)))
        throw std::invalid_argument(
            detail::concat("write_csv: ", path, ": values(", r, ", ", c, ") = ", values(r, c), " is not finite"));
      if (c) text += delimiter;
      text += detail::exact_number_text(values(r, c));
    }
    text += '\n';
  }
  AtomicFile file(path);
  file.write(text);
  file.commit();
}

}  // namespace ldm
