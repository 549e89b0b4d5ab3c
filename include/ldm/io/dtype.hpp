// A stored tensor's element types (the safetensors dtypes) and the conversions between a Tensor
// (dtype, shape, raw bytes) and Eigen matrices, vectors or integer lists.
//
// Bytes are row-major and little-endian whatever the machine, as the format stores them.
// Decoding reads F16, BF16, F32 and F64 into float or double (exact, except F64 -> float, which
// rounds to nearest) and every integer dtype into int64; encoding writes F32, F64 or I64.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/matrix.hpp>

#include <Eigen/Core>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ldm {

// One tensor as stored: dtype name ("F32", "F64", "F16", "BF16", "I64", ...), shape, and the
// raw row-major little-endian bytes.
struct Tensor {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::vector<unsigned char> bytes;
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

}  // namespace ldm
