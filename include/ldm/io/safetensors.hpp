// The safetensors format (huggingface/safetensors): named tensors and string metadata.
//
//   [8 bytes: header length n, little-endian u64][n bytes: JSON header][data]
//   header = {"<name>": {"dtype": "F32", "shape": [r, c], "data_offsets": [begin, end]}, ...,
//             "__metadata__": {"<key>": "<value>", ...}}
// Offsets are relative to the start of the data; tensors are row-major and little-endian.
//
// The reader makes the checks of the reference implementation (Rust crate safetensors,
// SafeTensors::read_metadata and Metadata::validate; error names in brackets):
// file shorter than 8 bytes [HeaderTooSmall], header length above 100,000,000 [HeaderTooLarge]
// or past the end of the file [InvalidHeaderLength], header not starting with '{'
// [InvalidHeaderStart], not JSON or not the expected object [InvalidHeaderDeserialization],
// unknown dtype, offsets not starting at 0 / with gaps / overlapping / ending before they begin
// [InvalidOffset], shape * dtype size overflowing [ValidationOverflow] or differing from the
// offsets [TensorInvalidInfo], data not covering the rest of the file exactly
// [MetadataIncompleteBuffer]. It is stricter in four places: a name (or metadata key or field)
// given twice is an error (serde keeps one silently), a tensor may have at most 64 dimensions,
// each below 2^63, and __metadata__ values must be strings. Unknown fields inside a tensor's
// entry are ignored, as the reference does.
//
// Memory: the header is read only after its length was checked against the file size, it is
// parsed by a streaming (SAX) parser straight into a compact list, and no tensor buffer is
// allocated before every offset and size was validated against the file size. So the reader
// never allocates much more than the file's size, and SafetensorsLimits bounds that size.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/io/atomic_file.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <sys/stat.h>

namespace ldm {

// One tensor as stored: dtype name ("F32", "F64", "F16", "BF16", "I64", ...), shape, and the
// raw row-major little-endian bytes.
struct Tensor {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::vector<unsigned char> bytes;
};

using TensorMap = std::map<std::string, Tensor>;
using MetadataMap = std::map<std::string, std::string>;

// What the reader accepts at most; a file beyond either is refused before it is read.
struct SafetensorsLimits {
  std::uint64_t max_header_bytes = 100'000'000;           // the reference's MAX_HEADER_SIZE
  std::uint64_t max_file_bytes = std::uint64_t{8} << 30;  // 8 GiB: the whole file is read into memory
};

namespace detail {

struct DtypeInfo {
  std::string_view name;
  std::size_t size;
};

// The dtypes of the reference (safetensors Dtype) that take whole bytes.
inline constexpr DtypeInfo safetensors_dtypes[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
                                                   {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
                                                   {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};

inline constexpr std::size_t max_rank = 64;

inline std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

inline std::uint64_t load_le(const unsigned char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return v;
}

inline void store_le(unsigned char* p, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

// Product of the dimensions, or false on overflow of n * element_size.
inline bool checked_byte_size(const std::vector<std::int64_t>& shape, std::size_t element_size, std::uint64_t& bytes) {
  std::uint64_t n = element_size;
  for (const std::int64_t d : shape) {
    if (d < 0) return false;
    const auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && n > std::numeric_limits<std::uint64_t>::max() / ud) return false;
    n *= ud;
  }
  bytes = n;
  return true;
}

// Throws std::invalid_argument unless dtype is known and bytes.size() matches the shape.
inline void check_tensor(const Tensor& t) {
  const std::size_t size = [&] {
    for (const DtypeInfo& d : safetensors_dtypes)
      if (d.name == t.dtype) return d.size;
    throw std::invalid_argument("unknown dtype '" + t.dtype + "'");
  }();
  std::uint64_t bytes = 0;
  if (!checked_byte_size(t.shape, size, bytes))
    throw std::invalid_argument("shape " + shape_string(t.shape) + " has a negative dimension or its size overflows");
  if (bytes != t.bytes.size())
    throw std::invalid_argument(concat("shape ", shape_string(t.shape), " and dtype ", t.dtype, " need ", bytes,
                                       " bytes, but it holds ", t.bytes.size()));
}

}  // namespace detail

// Bytes per element of a safetensors dtype, 0 if the dtype is unknown.
inline std::size_t dtype_size(std::string_view dtype) {
  for (const detail::DtypeInfo& d : detail::safetensors_dtypes)
    if (d.name == dtype) return d.size;
  return 0;
}

// Number of elements: the product of the shape (1 for a scalar, shape []). Computed unsigned,
// so a shape such as [2^62, 2, 0] (valid for U8, 0 elements) has no signed overflow on the way.
inline std::int64_t numel(const Tensor& t) {
  std::uint64_t n = 1;
  for (const std::int64_t d : t.shape) n *= static_cast<std::uint64_t>(d);
  return static_cast<std::int64_t>(n);
}

// The dtype a scalar type is written as.
template <class S>
constexpr const char* dtype_name() {
  static_assert(std::is_same_v<S, float> || std::is_same_v<S, double>,
                "ldm::dtype_name: only float (F32) and double (F64) are written");
  return std::is_same_v<S, float> ? "F32" : "F64";
}

// IEEE 754 binary16 bits -> float, exact: (-1)^s 2^(e-15) (1 + m/1024), subnormal m 2^-24.
inline float half_to_float(std::uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  float magnitude;
  if (exponent == 0)
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 31)
    magnitude = mantissa == 0 ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
  else
    magnitude = std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);
  return (h & 0x8000) ? -magnitude : magnitude;
}

// bfloat16 bits -> float, exact: bfloat16 is the upper half of a float32.
inline float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

// A matrix (rank 2, [rows, cols]) or a column vector (rank 1, [n]) as an F32/F64 tensor.
template <class Derived>
Tensor to_tensor(const Eigen::MatrixBase<Derived>& m) {
  using S = typename Derived::Scalar;
  using Bits = std::conditional_t<std::is_same_v<S, float>, std::uint32_t, std::uint64_t>;
  Tensor t;
  t.dtype = dtype_name<S>();
  if constexpr (Derived::ColsAtCompileTime == 1)
    t.shape = {static_cast<std::int64_t>(m.rows())};
  else
    t.shape = {static_cast<std::int64_t>(m.rows()), static_cast<std::int64_t>(m.cols())};
  t.bytes.resize(static_cast<std::size_t>(m.size()) * sizeof(S));
  unsigned char* out = t.bytes.data();
  for (Eigen::Index r = 0; r < m.rows(); ++r)  // row-major, whatever m's storage order
    for (Eigen::Index c = 0; c < m.cols(); ++c, out += sizeof(S))
      detail::store_le(out, std::bit_cast<Bits>(m(r, c)), sizeof(S));
  return t;
}

// A list of integers as an I64 tensor [n].
inline Tensor to_tensor(const std::vector<std::int64_t>& values) {
  Tensor t{"I64", {static_cast<std::int64_t>(values.size())}, {}};
  t.bytes.resize(values.size() * 8);
  for (std::size_t i = 0; i < values.size(); ++i)
    detail::store_le(t.bytes.data() + 8 * i, static_cast<std::uint64_t>(values[i]), 8);
  return t;
}

namespace detail {

// Decodes the F16/BF16/F32/F64 elements of t into out[0 .. numel). Narrowing F64 -> float
// rounds to nearest; every other conversion is exact. Throws std::invalid_argument.
template <class S>
void decode_floats(const Tensor& t, S* out) {
  check_tensor(t);
  const std::size_t size = dtype_size(t.dtype);
  const std::size_t n = t.bytes.size() / size;
  const unsigned char* p = t.bytes.data();
  if (t.dtype == "F32") {
    for (std::size_t i = 0; i < n; ++i)
      out[i] = static_cast<S>(std::bit_cast<float>(static_cast<std::uint32_t>(load_le(p + 4 * i, 4))));
  } else if (t.dtype == "F64") {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<S>(std::bit_cast<double>(load_le(p + 8 * i, 8)));
  } else if (t.dtype == "F16") {
    for (std::size_t i = 0; i < n; ++i)
      out[i] = static_cast<S>(half_to_float(static_cast<std::uint16_t>(load_le(p + 2 * i, 2))));
  } else if (t.dtype == "BF16") {
    for (std::size_t i = 0; i < n; ++i)
      out[i] = static_cast<S>(bfloat16_to_float(static_cast<std::uint16_t>(load_le(p + 2 * i, 2))));
  } else {
    throw std::invalid_argument("dtype " + t.dtype + " is not a floating-point type (F16, BF16, F32, F64)");
  }
}

inline void require_rank(const Tensor& t, std::size_t rank) {
  if (t.shape.size() != rank)
    throw std::invalid_argument(concat("expected ", rank, " dimensions, got shape ", shape_string(t.shape)));
}

}  // namespace detail

// Rank-2 F16/BF16/F32/F64 tensor -> Matrix<S>. Throws std::invalid_argument on another rank
// or dtype, or bytes that do not match the shape.
template <class S>
Matrix<S> to_matrix(const Tensor& t) {
  try {
    detail::require_rank(t, 2);
    detail::check_tensor(t);  // before allocating: the shape must match the bytes
    Matrix<S> m(t.shape[0], t.shape[1]);
    detail::decode_floats(t, m.data());
    return m;
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("to_matrix: ") + e.what());
  }
}

// Rank-1 F16/BF16/F32/F64 tensor -> Vector<S>.
template <class S>
Vector<S> to_vector(const Tensor& t) {
  try {
    detail::require_rank(t, 1);
    detail::check_tensor(t);
    Vector<S> v(t.shape[0]);
    detail::decode_floats(t, v.data());
    return v;
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("to_vector: ") + e.what());
  }
}

// Integer (I8..I64, U8..U64, BOOL) tensor of any rank -> its elements in row-major order.
// Throws std::invalid_argument for a float dtype or a U64 value above INT64_MAX.
inline std::vector<std::int64_t> to_integers(const Tensor& t) {
  try {
    detail::check_tensor(t);
    const bool is_signed = t.dtype[0] == 'I';
    if (!is_signed && t.dtype[0] != 'U' && t.dtype != "BOOL")
      throw std::invalid_argument("dtype " + t.dtype + " is not an integer type");
    const std::size_t size = dtype_size(t.dtype);
    std::vector<std::int64_t> out(t.bytes.size() / size);
    for (std::size_t i = 0; i < out.size(); ++i) {
      const std::uint64_t bits = detail::load_le(t.bytes.data() + size * i, size);
      if (is_signed) {
        const unsigned shift = static_cast<unsigned>(64 - 8 * size);  // sign-extend
        out[i] = static_cast<std::int64_t>(bits << shift) >> shift;
      } else {
        if (bits > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          throw std::invalid_argument(detail::concat("element ", i, " = ", bits, " does not fit in int64"));
        out[i] = static_cast<std::int64_t>(bits);
      }
    }
    return out;
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("to_integers: ") + e.what());
  }
}

// What read_safetensors returns: every tensor by name, the __metadata__ strings, the path.
struct SafetensorsData {
  std::string path;
  TensorMap tensors;
  MetadataMap metadata;

  bool contains(const std::string& name) const { return tensors.count(name) != 0; }

  // Throws FormatError naming the file and the tensor when there is no such tensor.
  const Tensor& at(const std::string& name) const {
    const auto it = tensors.find(name);
    if (it == tensors.end()) throw FormatError("SafetensorsData::at", path, name, "no such tensor in the file");
    return it->second;
  }

  // Converted copies; errors are FormatErrors naming the file and the tensor.
  template <class S>
  Matrix<S> matrix(const std::string& name) const {
    return convert(name, "SafetensorsData::matrix", [](const Tensor& t) { return to_matrix<S>(t); });
  }
  template <class S>
  Vector<S> vector(const std::string& name) const {
    return convert(name, "SafetensorsData::vector", [](const Tensor& t) { return to_vector<S>(t); });
  }
  std::vector<std::int64_t> integers(const std::string& name) const {
    return convert(name, "SafetensorsData::integers", [](const Tensor& t) { return to_integers(t); });
  }

 private:
  template <class Convert>
  auto convert(const std::string& name, const char* where, Convert convert_tensor) const
      -> decltype(convert_tensor(std::declval<const Tensor&>())) {
    const Tensor& t = at(name);
    try {
      return convert_tensor(t);
    } catch (const std::invalid_argument& e) {
      throw FormatError(where, path, name, e.what());
    }
  }
};

namespace detail {

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
  MetadataMap metadata;

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

// Parses a safetensors file of file_size bytes that read(out, n) delivers in order. Every size
// is checked against file_size and the limits before anything of that size is allocated.
template <class Read>
SafetensorsData parse_safetensors(std::uint64_t file_size, Read&& read, const std::string& path,
                                  const SafetensorsLimits& limits) {
  const std::string where = "read_safetensors";
  if (file_size > limits.max_file_bytes)
    throw FormatError(where, path, "",
                      concat("the file has ", file_size, " bytes, above the limit of ", limits.max_file_bytes,
                             " (SafetensorsLimits::max_file_bytes)"));
  if (file_size < 8)
    throw FormatError(where, path, "",
                      concat("the file has ", file_size, " bytes, fewer than the 8 of the header length"));
  unsigned char length_bytes[8];
  read(length_bytes, 8);
  const std::uint64_t header_size = load_le(length_bytes, 8);
  if (header_size > limits.max_header_bytes)
    throw FormatError(where, path, "",
                      concat("the header length ", header_size, " is above the limit of ", limits.max_header_bytes,
                             " bytes (SafetensorsLimits::max_header_bytes)"));
  if (header_size > file_size - 8)
    throw FormatError(
        where, path, "",
        concat("the header length ", header_size, " runs past the end of the file (", file_size, " bytes)"));
  if (header_size == 0) throw FormatError(where, path, "", "the header is empty (its length is 0)");

  std::string header(static_cast<std::size_t>(header_size), '\0');
  read(header.data(), header.size());
  if (header[0] != '{') throw FormatError(where, path, "", "the header does not start with '{'");
  // nlohmann's lexer would stop at a NUL byte as at the end of input; JSON never holds one.
  if (header.find('\0') != std::string::npos)
    throw FormatError(where, path, "", "the header is not valid JSON: it contains a NUL byte");

  HeaderParser parser(where, path);
  try {
    nlohmann::json::sax_parse(header, &parser);
  } catch (const nlohmann::json::exception& e) {  // parse_error reports most; this is the net
    throw FormatError(where, path, "", std::string("the header is not valid JSON: ") + e.what());
  }
  const std::uint64_t data_size = validate_entries(parser.entries, where, path);
  if (data_size != file_size - 8 - header_size) {
    const std::string last = parser.entries.empty() ? "" : parser.entries.back().name;
    throw FormatError(where, path, last,
                      concat("the tensors cover ", data_size, " bytes of data but the file holds ",
                             file_size - 8 - header_size, " after the header"));
  }

  // Every offset is now known to lie inside the file: allocate and read in offset order.
  SafetensorsData data;
  data.path = path;
  data.metadata = std::move(parser.metadata);
  for (HeaderEntry& e : parser.entries) {
    Tensor t{std::move(e.dtype), std::move(e.shape), {}};
    t.bytes.resize(static_cast<std::size_t>(e.bytes));
    read(t.bytes.data(), t.bytes.size());
    data.tensors.emplace(std::move(e.name), std::move(t));
  }
  return data;
}

}  // namespace detail

// Reads and validates a whole safetensors file (see the top of this file). Throws FormatError
// (a std::runtime_error) naming the file and, where it applies, the tensor, also for a file or
// header above the limits; std::runtime_error if it cannot be read.
inline SafetensorsData read_safetensors(const std::string& path, const SafetensorsLimits& limits = {}) {
  const std::string where = "read_safetensors";
  detail::UniqueFile file(std::fopen(path.c_str(), "rb"));
  if (!file) throw std::runtime_error(where + ": cannot open " + path + ": " + std::strerror(errno));
  std::FILE* f = file.get();
  struct stat info {};
  if (::fstat(::fileno(f), &info) != 0)
    throw std::runtime_error(where + ": cannot tell the size of " + path + ": " + std::strerror(errno));
  if (!S_ISREG(info.st_mode)) throw std::runtime_error(where + ": " + path + " is not a regular file");
  return detail::parse_safetensors(
      static_cast<std::uint64_t>(info.st_size),
      [&](void* out, std::size_t n) { detail::read_exactly(f, out, n, where, path); }, path, limits);
}

// The same from bytes already in memory; name stands for the file in messages.
inline SafetensorsData read_safetensors_from_memory(std::string_view bytes, const std::string& name = "(memory)",
                                                    const SafetensorsLimits& limits = {}) {
  std::size_t position = 0;
  return detail::parse_safetensors(
      bytes.size(),
      [&](void* out, std::size_t n) {  // parse_safetensors never reads past the size it was given
        if (n > 0) std::memcpy(out, bytes.data() + position, n);
        position += n;
      },
      name, limits);
}

// Writes tensors and metadata atomically (AtomicFile: temporary file, fsync, rename): the
// target is replaced only by a complete file. Data are laid out by element size, largest first,
// then by name (as the reference's writer, so every tensor is aligned to its element size);
// the header is padded with spaces to a multiple of 8 bytes. Throws std::invalid_argument for a
// tensor whose dtype is unknown or whose bytes do not match its shape, std::runtime_error
// naming the path and the system's reason when the file cannot be written.
inline void write_safetensors(const std::string& path, const TensorMap& tensors, const MetadataMap& metadata = {}) {
  std::vector<const TensorMap::value_type*> order;
  for (const auto& item : tensors) {
    if (item.first == "__metadata__")
      throw std::invalid_argument("write_safetensors: " + path + ": '__metadata__' is reserved, not a tensor name");
    try {
      detail::check_tensor(item.second);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("write_safetensors: " + path + ": tensor '" + item.first + "': " + e.what());
    }
    order.push_back(&item);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return dtype_size(a->second.dtype) > dtype_size(b->second.dtype);  // names stay sorted within a size
  });

  // Key order as the reference writes it: __metadata__ first, then the tensors in data order.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto* item : order) {
    const std::uint64_t end = offset + item->second.bytes.size();
    header[item->first] = {{"dtype", item->second.dtype},
                           {"shape", item->second.shape},
                           {"data_offsets", nlohmann::ordered_json::array({offset, end})}};
    offset = end;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::ordered_json::exception& e) {
    throw std::invalid_argument("write_safetensors: " + path +
                                ": a tensor name or metadata string is not valid UTF-8: " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  unsigned char length_bytes[8];
  detail::store_le(length_bytes, text.size(), 8);
  AtomicFile file(path);
  file.write(length_bytes, 8);
  file.write(text);
  for (const auto* item : order) file.write(item->second.bytes.data(), item->second.bytes.size());
  file.commit();
}

}  // namespace ldm
