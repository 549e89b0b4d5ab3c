// Splitting CSV text into records (RFC 4180) as it is read, a chunk at a time, so a file is
// never held whole in memory: the text of one record at most, plus one chunk. Cells are views
// into the chunk (or, for a quoted cell with doubled quotes, into a scratch string) that live
// until the next record is asked for. Used by table_reader.hpp; the older csv_syntax.hpp splits
// a text already in memory for csv_reader.hpp.
#pragma once

#include <ldm/core/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ldm::detail {

struct RecordCell {
  std::string_view text;  // unquoted: trimmed of spaces and tabs; quoted: what the quotes held
  bool quoted = false;
};

struct RecordLimits {
  std::uint64_t max_file_bytes;
  std::uint64_t max_record_bytes;  // a line, or a record whose quoted cells span lines
  std::size_t max_columns;
};

// Reads records from `read(buffer, size)` (returns the bytes read, 0 at the end). Conventions as
// csv_reader.hpp: LF or CRLF, a UTF-8 byte-order mark skipped, blanks around a quoted field
// ignored, blank lines at the end ignored (a blank line elsewhere is a record of one empty cell).
// Errors: std::runtime_error "read_table: <file>:<line>: <what>".
class RecordReader {
 public:
  using Read = std::function<std::size_t(char*, std::size_t)>;

  RecordReader(Read read, const std::string& file, char delimiter, RecordLimits limits,
               std::size_t chunk = std::size_t{1} << 20)
      : read_(std::move(read)), file_(file), delimiter_(delimiter), limits_(limits), buffer_(chunk) {}

  // The next record: true and cells()/line() set, or false at the end of the text.
  bool next() {
    if (blanks_ > 0 && held_) {  // blank lines followed by a record: they were records after all
      --blanks_;
      line_ = first_blank_++;
      current_ = &blank_;
      return true;
    }
    if (held_) {
      held_ = false;
      line_ = record_line_;
      current_ = &cells_;
      return true;
    }
    while (true) {
      if (!parse()) {  // the record runs past the text read so far
        refill();
        continue;
      }
      if (pos_ == record_start_ && eof_) return false;  // the end (blank lines there are ignored)
      const bool blank = cells_.size() == 1 && !cells_[0].quoted && cells_[0].text.empty();
      if (blank) {
        if (blanks_++ == 0) first_blank_ = record_line_;
        continue;
      }
      held_ = true;
      return next();
    }
  }

  const std::vector<RecordCell>& cells() const { return *current_; }
  std::size_t line() const { return line_; }  // 1-based line where the record starts
  std::uint64_t bytes_read() const { return total_; }
  std::uint64_t bytes_parsed() const { return total_ - (end_ - begin_); }

 private:
  Read read_;
  const std::string& file_;
  char delimiter_;
  RecordLimits limits_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0, end_ = 0;  // unparsed text is buffer_[begin_, end_)
  std::size_t pos_ = 0, record_start_ = 0;
  bool eof_ = false, started_ = false;
  std::uint64_t total_ = 0;
  std::size_t next_line_ = 1, record_line_ = 1, line_ = 0;
  std::vector<RecordCell> cells_, blank_ = std::vector<RecordCell>(1);
  const std::vector<RecordCell>* current_ = &cells_;
  struct Unescaped {
    std::size_t cell, offset, size;
  };
  std::vector<Unescaped> unescaped_;  // quoted cells with doubled quotes, unescaped into scratch_
  std::string scratch_;
  std::size_t blanks_ = 0, first_blank_ = 0;  // blank lines not yet handed out, the first one's line
  bool held_ = false;                         // cells_ holds a record not yet handed out

  [[noreturn]] void fail(std::size_t line, const std::string& what) const {
    throw std::runtime_error(concat("read_table: ", file_, ":", line, ": ", what));
  }

  // Moves the unparsed text to the front and reads more after it; a record longer than the
  // buffer doubles it, up to the record limit.
  void refill() {
    const std::size_t kept = end_ - begin_;
    if (kept > limits_.max_record_bytes)
      fail(next_line_, concat("the line (or quoted record) is longer than ", limits_.max_record_bytes,
                              " bytes, the limit (max_line_bytes)"));
    if (begin_ > 0) std::memmove(buffer_.data(), buffer_.data() + begin_, kept);
    begin_ = 0;
    end_ = kept;
    if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
    const std::size_t got = read_(buffer_.data() + end_, buffer_.size() - end_);
    total_ += got;
    if (total_ > limits_.max_file_bytes)
      throw std::runtime_error(concat("read_table: ", file_, ": the file has ", total_,
                                      " bytes or more, above the limit of ", limits_.max_file_bytes,
                                      " (max_file_bytes)"));
    end_ += got;
    if (got == 0) eof_ = true;
    if (!started_ && (end_ >= 3 || eof_)) {  // UTF-8 byte-order mark
      started_ = true;
      if (end_ >= 3 && std::memcmp(buffer_.data(), "\xEF\xBB\xBF", 3) == 0) begin_ = 3;
    }
  }

  bool blank_char(char c) const { return c != delimiter_ && (c == ' ' || c == '\t'); }

  // Parses the record at begin_ into cells_; false (nothing consumed) if the text read so far
  // ends inside it. At the end of the text, a record with no cells is signalled by
  // pos_ == record_start_.
  bool parse() {
    if (!started_) return false;
    const char* text = buffer_.data();
    const std::size_t n = end_;
    std::size_t i = begin_, line = next_line_;
    record_start_ = pos_ = begin_;
    if (i >= n) return eof_;
    cells_.clear();
    unescaped_.clear();
    scratch_.clear();
    while (true) {
      if (cells_.size() == limits_.max_columns)
        fail(next_line_, concat("the record has more than ", limits_.max_columns, " cells, the limit (max_columns)"));
      std::size_t start = i;
      while (start < n && blank_char(text[start])) ++start;
      if (start < n && text[start] == '"') {
        const std::size_t quote_line = line;
        std::size_t from = start + 1;
        i = from;
        bool doubled = false;
        while (true) {
          if (i >= n) {
            if (!eof_) return false;
            fail(quote_line, "a quoted field is not closed");
          }
          const char c = text[i];
          if (c == '"') {
            if (i + 1 >= n && !eof_) return false;  // "" or " cut by the chunk
            if (i + 1 < n && text[i + 1] == '"') {
              if (!doubled) {
                doubled = true;
                unescaped_.push_back({cells_.size(), scratch_.size(), 0});
                scratch_.append(text + from, i - from);
              }
              scratch_ += '"';
              i += 2;
              continue;
            }
            break;
          }
          if (c == '\n') ++line;
          if (doubled) scratch_ += c;
          ++i;
        }
        const std::size_t close = i++;
        while (i < n && blank_char(text[i])) ++i;
        if (i < n && text[i] == '\r' && i + 1 >= n && !eof_) return false;
        if (i < n && text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
        if (i >= n && !eof_) return false;
        if (i < n && text[i] != delimiter_ && text[i] != '\n')
          fail(line, std::string("unexpected '") + text[i] + "' after a closing quote");
        if (doubled) {
          unescaped_.back().size = scratch_.size() - unescaped_.back().offset;
          cells_.push_back({std::string_view(), true});  // text set at the end, once scratch_ stops moving
        } else {
          cells_.push_back({std::string_view(text + from, close - from), true});
        }
      } else {
        std::size_t end = i;
        while (end < n && text[end] != delimiter_ && text[end] != '\n') ++end;
        if (end >= n && !eof_) return false;
        std::size_t stop = end;
        if (stop > i && text[stop - 1] == '\r') --stop;  // CRLF
        std::size_t first = i;
        while (first < stop && blank_char(text[first])) ++first;
        while (stop > first && blank_char(text[stop - 1])) --stop;
        cells_.push_back({std::string_view(text + first, stop - first), false});
        i = end;
      }
      if (i - begin_ > limits_.max_record_bytes)
        fail(next_line_, concat("the line (or quoted record) is longer than ", limits_.max_record_bytes,
                                " bytes, the limit (max_line_bytes)"));
      if (i < n && text[i] == delimiter_) {
        ++i;
        continue;
      }
      break;  // '\n' or the end of the text
    }
    if (i < n) {  // the '\n'
      ++i;
      ++line;
    }
    for (const Unescaped& u : unescaped_) cells_[u.cell].text = std::string_view(scratch_.data() + u.offset, u.size);
    record_line_ = next_line_;
    next_line_ = line;
    begin_ = pos_ = i;
    return true;
  }
};

}  // namespace ldm::detail
