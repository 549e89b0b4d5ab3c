// The text of CSV cells, both ways: splitting records into cells (RFC 4180), reading a cell as
// a number, and printing numbers and quoting cells so that they read back exactly. Shared by
// csv_reader.hpp and csv_writer.hpp.
#pragma once

#include <ldm/core/errors.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <deque>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace ldm::detail {

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
// where the record starts. on_record returns false to stop there (the header reader wants one
// record). Unquoted cells point into text; unescaped quoted ones into storage that lives until
// the next record.
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
    if (!on_record(record_line, cells)) return;
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

// The cell as it must be written to read back as itself: quoted (RFC 4180, a quote doubled)
// when it holds the delimiter, a quote or a line break, or begins or ends with a blank, which
// an unquoted cell loses.
inline std::string csv_quoted(const std::string& name, char delimiter) {
  // A leading byte-order mark is quoted too: a reader drops one at the start of a file.
  const bool plain = name.find_first_of(std::string("\"\r\n") + delimiter) == std::string::npos &&
                     trim_blanks(name).size() == name.size() && name.rfind("\xEF\xBB\xBF", 0) != 0;
  if (plain) return name;
  std::string out = "\"";
  for (const char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// Writes text to a stream (the ldm command's `--out -`) and, when asked, flushes it; a stream
// that fails is a std::runtime_error naming the writer.
inline void put_stream_text(std::ostream& out, std::string_view text, std::string_view writer, bool flush) {
  if (!out.write(text.data(), static_cast<std::streamsize>(text.size())) || (flush && !out.flush()))
    throw std::runtime_error(concat(writer, ": cannot write to the stream"));
}

}  // namespace ldm::detail
