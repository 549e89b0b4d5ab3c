// Reading numeric CSV tables (with or without a header), or just their column names.
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

#include <ldm/core/errors.hpp>
#include <ldm/data/csv_table.hpp>
#include <ldm/data/detail/csv_syntax.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
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

namespace detail {

inline void check_delimiter(const std::string& file, char d) {
  if (d == '"' || d == '\n' || d == '\r')
    throw std::invalid_argument(concat("read_csv: ", file,
                                       ": the delimiter must not be a quote or a line break, got character ",
                                       static_cast<int>(d)));
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

using CsvFile = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

inline CsvFile open_csv(const std::string& path) {
  CsvFile f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw std::runtime_error("read_csv: cannot open " + path + ": " + std::strerror(errno));
  return f;
}

[[noreturn]] inline void fail_read(const std::string& path) {
  throw std::runtime_error("read_csv: cannot read " + path + ": " + std::strerror(errno));
}

// The whole file, refused before it is held in memory if it is above the size limit or has a
// line above the line limit. A file above 64 MiB is read twice: once to check every line, then
// into a buffer of exactly its size (a buffer grown as it is read could take twice that).
inline std::string read_whole_file(const std::string& path, const CsvOptions& options) {
  const CsvFile f = open_csv(path);
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
    if (std::ferror(f.get())) fail_read(path);
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

// Whether the first record is a header: CsvOptions::header, or with detect_header, whether
// one of its cells is neither a number nor empty.
inline bool is_header(const std::vector<CsvCell>& first, const CsvOptions& options) {
  if (!options.detect_header) return options.header;
  for (const CsvCell& cell : first) {
    double ignored;
    if (!cell.text.empty() && !parse_number(cell.text, ignored).empty()) return true;
  }
  return false;
}

// Every column's name: the first record's cells if it is a header, else "0", "1", ...
inline std::vector<std::string> column_names(const std::vector<CsvCell>& first, bool header) {
  std::vector<std::string> names;
  for (std::size_t c = 0; c < first.size(); ++c)
    names.push_back(header ? std::string(first[c].text) : std::to_string(c));
  return names;
}

// Throws when a name appears twice (CsvTable finds columns by name).
inline void check_unique_names(const std::vector<std::string>& names, const std::string& file, std::size_t line) {
  std::set<std::string> seen;
  for (const std::string& name : names)
    if (!seen.insert(name).second)
      throw std::runtime_error("read_csv: " + file + ":" + std::to_string(line) + ": the column name " +
                               quoted_text(name) + " appears twice");
}

}  // namespace detail

// Parses CSV text already in memory, as read_csv does a file; name stands for the file in
// messages. Throws as read_csv.
inline CsvTable parse_csv(std::string_view text, const std::string& name, const CsvOptions& options = {}) {
  const std::string& path = name;
  detail::check_delimiter(path, options.delimiter);
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
    detail::check_unique_names(names, path, line);
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
                        const bool header = detail::is_header(cells, options);
                        names = detail::column_names(cells, header);
                        set_columns(line);
                        if (header) return true;
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
                      return true;
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

// The names of every column of a CSV file, numeric and text, in file order, as read_csv names
// them: the first record's cells if it is a header (CsvOptions::header, detect_header), else
// "0", "1", ... For choosing CsvOptions::text_columns before read_csv, say. Reads the file only
// a little past its first record (a header may span lines inside quotes): a 64 KiB block, or
// for a longer header at most about twice its size, so a big file costs no more than its first
// lines. Throws what read_csv would throw for the part read, with the same messages: a file
// that cannot be opened or read, an empty file, a duplicate name, a malformed quoted field, a
// line, record or size above CsvOptions' limits; std::invalid_argument for a bad delimiter.
inline std::vector<std::string> read_csv_header(const std::string& path, const CsvOptions& options = {}) {
  const detail::CsvFile f = detail::open_csv(path);
  detail::check_delimiter(path, options.delimiter);
  detail::LineLengthCheck lines(path, options.max_line_bytes);
  std::string text;
  std::size_t tried = 0;  // bytes split at the last try
  char buffer[1 << 16];
  while (true) {
    const std::size_t got = std::fread(buffer, 1, sizeof buffer, f.get());
    if (got == 0 && std::ferror(f.get())) detail::fail_read(path);
    const bool end = got == 0;
    if (text.size() + got > options.max_file_bytes)
      detail::fail_file_too_large(path, text.size() + got, options.max_file_bytes);
    lines.add(std::string_view(buffer, got));
    text.append(buffer, got);
    // Split up to the last line break read (all of it at the end of the file): a first record
    // cut short there fails to split and is tried again with more text. Trying again only once
    // the text has doubled keeps a long header linear.
    const std::size_t cut = end ? text.size() : text.rfind('\n') + 1;  // npos + 1 == 0: no line yet
    if (!end && (cut == 0 || cut < 2 * tried)) continue;
    tried = cut;
    std::string_view view(text.data(), cut);
    if (view.substr(0, 3) == "\xEF\xBB\xBF") view.remove_prefix(3);  // UTF-8 byte-order mark
    std::optional<std::vector<std::string>> names;
    std::size_t line = 0;
    try {
      detail::split_csv(view, options.delimiter, options.max_columns, path,
                        [&](std::size_t at, const std::vector<detail::CsvCell>& cells) {
                          names = detail::column_names(cells, detail::is_header(cells, options));
                          line = at;
                          return false;  // the first record is all that is needed
                        });
    } catch (const std::runtime_error&) {
      if (end) throw;
      continue;
    }
    if (names) {
      detail::check_unique_names(*names, path, line);
      return *names;
    }
    if (end) throw std::runtime_error("read_csv: " + path + ": the file is empty");
  }
}

}  // namespace ldm
