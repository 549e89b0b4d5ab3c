// The internals of read_safetensors: the header's streaming parser, the checks of its entries
// against each other, and reading a file in order. safetensors.hpp lists the checks and the
// reference's error names they correspond to.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/io/dtype.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace ldm::detail {

// At most this many dimensions per tensor (the reference sets no limit).
inline constexpr std::size_t max_rank = 64;

struct HeaderEntry {
  std::string name, dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;
  std::uint64_t bytes = 0;  // shape * dtype size, set by validation
};

// A SAX handler (nlohmann::json::sax_parse) that reads the header straight into entries and
// metadata, throwing FormatError at the first thing that is not the expected structure.
class HeaderParser {
 public:
  using json = nlohmann::json;

  HeaderParser(std::string where, std::string file) : where_(std::move(where)), file_(std::move(file)) {}

  std::vector<HeaderEntry> entries;
  std::map<std::string, std::string> metadata;  // the MetadataMap of SafetensorsData

  bool null() { return scalar("null"); }
  bool boolean(bool) { return scalar("a boolean"); }
  bool number_integer(json::number_integer_t) { return scalar("a negative integer"); }
  bool number_float(json::number_float_t, const json::string_t&) { return scalar("a non-integer number"); }
  bool binary(json::binary_t&) { return scalar("binary data"); }

  bool number_unsigned(json::number_unsigned_t value) {
    if (state_ == State::shape_element) {
      if (entry_.shape.size() == max_rank) fail(detail::concat("shape has more than ", max_rank, " dimensions"));
      if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        fail(detail::concat("shape dimension ", value, " is too large (at most 2^63 - 1)"));
      entry_.shape.push_back(static_cast<std::int64_t>(value));
      return true;
    }
    if (state_ == State::offsets_element) {
      if (offsets_seen_ == 2) fail("data_offsets must hold exactly 2 integers, got more");
      (offsets_seen_++ == 0 ? entry_.begin : entry_.end) = value;
      return true;
    }
    return scalar("an integer");
  }

  bool string(json::string_t& value) {
    if (state_ == State::dtype_value) {
      if (dtype_size(value) == 0) fail("unknown dtype '" + value + "'");
      entry_.dtype = value;
      state_ = State::info_key;
      return true;
    }
    if (state_ == State::metadata_value) {
      metadata[key_] = value;
      state_ = State::metadata_key;
      return true;
    }
    return scalar("a string");
  }

  bool key(json::string_t& key) {
    switch (state_) {
      case State::top_key:
        if (!names_.insert(key).second) fail_at(key, "the name appears twice in the header");
        entry_ = HeaderEntry{};
        entry_.name = key;
        state_ = State::top_value;
        return true;
      case State::metadata_key:
        if (metadata.count(key)) fail_at("__metadata__", "key '" + key + "' appears twice");
        key_ = key;
        state_ = State::metadata_value;
        return true;
      case State::info_key:
        if (!fields_.insert(key).second) fail("field '" + key + "' appears twice");
        key_ = key;
        state_ = key == "dtype"          ? State::dtype_value
                 : key == "shape"        ? State::shape_value
                 : key == "data_offsets" ? State::offsets_value
                                         : State::skip;  // unknown fields are ignored
        skip_depth_ = 0;
        return true;
      default:
        return true;  // keys inside a skipped value
    }
  }

  bool start_object(std::size_t) {
    switch (state_) {
      case State::start:
        state_ = State::top_key;
        return true;
      case State::top_value:
        if (entry_.name == "__metadata__") {
          state_ = State::metadata_key;
        } else {
          fields_.clear();
          state_ = State::info_key;
        }
        return true;
      case State::skip:
        ++skip_depth_;
        return true;
      default:
        return unexpected("an object");
    }
  }

  bool end_object() {
    switch (state_) {
      case State::top_key:
        state_ = State::done;
        return true;
      case State::metadata_key:
        state_ = State::top_key;
        return true;
      case State::info_key:
        for (const char* field : {"dtype", "shape", "data_offsets"})
          if (!fields_.count(field)) fail(std::string("missing field '") + field + "'");
        entries.push_back(std::move(entry_));
        state_ = State::top_key;
        return true;
      default:
        return end_skipped();
    }
  }

  bool start_array(std::size_t) {
    switch (state_) {
      case State::shape_value:
        state_ = State::shape_element;
        return true;
      case State::offsets_value:
        offsets_seen_ = 0;
        state_ = State::offsets_element;
        return true;
      case State::skip:
        ++skip_depth_;
        return true;
      default:
        return unexpected("an array");
    }
  }

  bool end_array() {
    if (state_ == State::shape_element) {
      state_ = State::info_key;
      return true;
    }
    if (state_ == State::offsets_element) {
      if (offsets_seen_ != 2) fail(detail::concat("data_offsets must hold exactly 2 integers, got ", offsets_seen_));
      state_ = State::info_key;
      return true;
    }
    return end_skipped();
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    throw FormatError(where_, file_, "", std::string("the header is not valid JSON: ") + e.what());
  }

 private:
  enum class State {
    start,
    top_key,
    top_value,
    metadata_key,
    metadata_value,
    info_key,
    dtype_value,
    shape_value,
    shape_element,
    offsets_value,
    offsets_element,
    skip,
    done
  };
  std::string where_, file_;
  State state_ = State::start;
  HeaderEntry entry_;
  std::set<std::string> names_, fields_;
  std::string key_;
  int skip_depth_ = 0;
  int offsets_seen_ = 0;

  [[noreturn]] void fail_at(const std::string& tensor, const std::string& what) {
    throw FormatError(where_, file_, tensor, what);
  }
  [[noreturn]] void fail(const std::string& what) { fail_at(entry_.name, what); }

  // A value (not a container) arrived: accept it in a skipped field, else report it.
  bool scalar(const char* kind) {
    if (state_ == State::skip) {
      if (skip_depth_ == 0) state_ = State::info_key;
      return true;
    }
    if (state_ == State::top_value && entry_.name == "__metadata__" && std::string(kind) == "null") {
      state_ = State::top_key;  // "__metadata__": null, as serde's Option reads it
      return true;
    }
    return unexpected(kind);
  }

  bool end_skipped() {
    if (state_ != State::skip || skip_depth_ == 0) return unexpected("the end of a container");
    if (--skip_depth_ == 0) state_ = State::info_key;
    return true;
  }

  bool unexpected(const std::string& got) {
    switch (state_) {
      case State::start:
        fail_at("", "the header is not a JSON object");
      case State::top_value:
        if (entry_.name == "__metadata__") fail_at("__metadata__", "expected an object of strings, got " + got);
        fail("expected an object with dtype, shape and data_offsets, got " + got);
      case State::metadata_value:
        fail_at("__metadata__", "the value of '" + key_ + "' must be a string, got " + got);
      case State::dtype_value:
        fail("dtype must be a string, got " + got);
      case State::shape_value:
      case State::shape_element:
        fail("shape must be an array of non-negative integers, got " + got);
      case State::offsets_value:
      case State::offsets_element:
        fail("data_offsets must be an array of 2 non-negative integers, got " + got);
      default:
        fail_at(entry_.name, "unexpected " + got + " in the header");
    }
  }
};

// The reference's Metadata::validate: in offset order, each tensor starts where the previous
// one ended (the first at 0) and spans exactly shape * dtype size bytes. Returns the data size
// the header describes.
inline std::uint64_t validate_entries(std::vector<HeaderEntry>& entries, const std::string& where,
                                      const std::string& file) {
  std::sort(entries.begin(), entries.end(), [](const HeaderEntry& a, const HeaderEntry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  std::uint64_t position = 0;
  for (HeaderEntry& e : entries) {
    const std::string offsets = detail::concat("data_offsets [", e.begin, ", ", e.end, "]");
    if (e.end < e.begin) throw FormatError(where, file, e.name, offsets + " end before they begin");
    if (e.begin != position) {
      if (position == 0) throw FormatError(where, file, e.name, offsets + ": the data must start at offset 0");
      throw FormatError(where, file, e.name,
                        detail::concat(offsets, ": the previous tensor ends at ", position,
                                       e.begin > position ? ", leaving a gap" : ", so they overlap"));
    }
    if (!checked_byte_size(e.shape, dtype_size(e.dtype), e.bytes))
      throw FormatError(where, file, e.name,
                        "shape " + shape_string(e.shape) + " overflows: its byte size exceeds 2^64");
    if (e.end - e.begin != e.bytes)
      throw FormatError(where, file, e.name,
                        detail::concat("shape ", shape_string(e.shape), " and dtype ", e.dtype, " need ", e.bytes,
                                       " bytes, but ", offsets, " span ", e.end - e.begin));
    position = e.end;
  }
  return position;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using UniqueFile = std::unique_ptr<std::FILE, FileCloser>;

inline void read_exactly(std::FILE* f, void* out, std::size_t n, const std::string& where, const std::string& file) {
  if (n > 0 && std::fread(out, 1, n, f) != n)
    throw std::runtime_error(where + ": " + file +
                             ": read error: " + (std::ferror(f) ? std::strerror(errno) : "unexpected end of file"));
}

}  // namespace ldm::detail
