// Counter-based randomness: explicit keys, Threefry-2x32, uniform and normal draws that do not
// depend on the thread count. No global state, no std::*_distribution. Keys, bits and uniforms
// are integer and bit operations, identical on every compiler and OS; normals also go through
// std::log and a rational function in double, so another libm or FMA contraction (e.g. on
// aarch64) may move a double normal by an ulp.
//
// Conventions (JAX's default "partitionable" threefry; the tests check the JAX 0.11.2 values quoted
// in DESIGN.md):
// - A Key is two uint32 words; make_key(seed) = {seed >> 32, seed & 0xffffffff} (jax.random.PRNGKey).
// - Element i of a stream drawn from `key` is computed from threefry2x32(key, {hi32(i), lo32(i)})
//   alone, so it does not depend on the shape, on the thread count or on other elements.
// - split(key, n)[i] = threefry2x32(key, {hi32(i), lo32(i)}); fold_in(key, d) = threefry2x32(key, {0, d}).
// - A draw (random_bits, uniform, normal, fill_*) takes its values from `key` itself and returns
//   the key to use next: threefry2x32(key, {0xffffffff, 0xffffffff}), the last counter of the
//   stream, which no draw of fewer than 2^64 - 1 values reaches. So the values and the next key
//   never share a counter. As in JAX, use a key once: either draw from it or split it, not both
//   (split(key)[0] and element 0 of a draw from key come from the same block).
#pragma once

#include <ldm/core/checks.hpp>

#include <Eigen/Core>

#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace ldm {

using Key = std::array<std::uint32_t, 2>;

// jax.random.PRNGKey(seed): the high and low 32 bits of the seed.
constexpr Key make_key(std::uint64_t seed) {
  return {static_cast<std::uint32_t>(seed >> 32), static_cast<std::uint32_t>(seed & 0xffffffffu)};
}

// Threefry-2x32 with 20 rounds: Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011 (Random123). Rotation constants and the key-schedule parity 0x1BD11BDA are
// from that paper; JAX and Nx use the same function.
constexpr std::array<std::uint32_t, 2> threefry2x32(Key key, std::array<std::uint32_t, 2> counter) {
  constexpr int rotations[8] = {13, 15, 26, 6, 17, 29, 16, 24};
  const std::uint32_t ks[3] = {key[0], key[1], 0x1BD11BDAu ^ key[0] ^ key[1]};
  std::uint32_t x0 = counter[0] + ks[0];
  std::uint32_t x1 = counter[1] + ks[1];
  for (int group = 0; group < 5; ++group) {  // 5 groups of 4 rounds, a key injection after each
    for (int r = 0; r < 4; ++r) {
      x0 += x1;
      x1 = std::rotl(x1, rotations[(group % 2) * 4 + r]);
      x1 ^= x0;
    }
    const int s = group + 1;
    x0 += ks[s % 3];
    x1 += ks[(s + 1) % 3] + static_cast<std::uint32_t>(s);
  }
  return {x0, x1};
}

namespace detail {

// The counter of element i: {hi32(i), lo32(i)} (JAX iota_2x32_shape).
constexpr std::array<std::uint32_t, 2> counter_of(std::uint64_t i) {
  return {static_cast<std::uint32_t>(i >> 32), static_cast<std::uint32_t>(i & 0xffffffffu)};
}

// The key every draw returns: the stream's last counter, never used for values.
constexpr Key next_key(Key key) { return threefry2x32(key, {0xffffffffu, 0xffffffffu}); }

// 32 bits of element i, as JAX random_bits: the two output words xor-ed.
constexpr std::uint32_t bits32_at(Key key, std::uint64_t i) {
  const auto y = threefry2x32(key, counter_of(i));
  return y[0] ^ y[1];
}

// 64 bits of element i for double draws: both output words, y0 high (not JAX's layout).
constexpr std::uint64_t bits64_at(Key key, std::uint64_t i) {
  const auto y = threefry2x32(key, counter_of(i));
  return (static_cast<std::uint64_t>(y[0]) << 32) | y[1];
}

// [0, 1) on the grid k * 2^-23 from the top 23 bits: put them in the mantissa of a float in
// [1, 2) and subtract 1 (JAX uniform). All-zero bits give 0, all-one bits 1 - 2^-23.
constexpr float unit_float_from_bits(std::uint32_t bits) {
  return std::bit_cast<float>((bits >> 9) | 0x3f800000u) - 1.0f;
}

// [0, 1) on the grid k * 2^-52 from the top 52 bits, the same construction for double.
constexpr double unit_double_from_bits(std::uint64_t bits) {
  return std::bit_cast<double>((bits >> 12) | 0x3ff0000000000000ull) - 1.0;
}

// Phi^{-1}(p), the standard normal quantile, for 0 < p < 1: Wichura, "Algorithm AS 241: The
// percentage points of the normal distribution", Applied Statistics 37(3), 477-484, 1988
// (PPND16, relative accuracy about 1e-16). Three rational approximations: |p - 0.5| <= 0.425,
// then in r = sqrt(-log(min(p, 1 - p))) for r <= 5 and r > 5. Coefficients as published.
// p = 0 gives -inf, p = 1 gives +inf, p outside [0, 1] or NaN gives NaN.
// AS241's central branch, for q = p - 0.5 with |q| <= 0.425: one rational function, no call,
// so a loop over lanes of it vectorises (normal_quantile_lanes below); normal_quantile uses the same
// function, so both give the same bits.
inline double central_normal_quantile(double q) {
  const double r = 0.180625 - q * q;
  return q *
         (((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r + 6.7265770927008700853e+4) * r +
              4.5921953931549871457e+4) *
                 r +
             1.3731693765509461125e+4) *
                r +
            1.9715909503065514427e+3) *
               r +
           1.3314166789178437745e+2) *
              r +
          3.3871328727963666080e+0) /
         (((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r + 3.9307895800092710610e+4) * r +
              2.1213794301586595867e+4) *
                 r +
             5.3941960214247511077e+3) *
                r +
            6.8718700749205790830e+2) *
               r +
           4.2313330701600911252e+1) *
              r +
          1.0);
}

inline double normal_quantile(double p) {
  if (!(p >= 0.0 && p <= 1.0)) return std::numeric_limits<double>::quiet_NaN();
  const double q = p - 0.5;
  if (std::fabs(q) <= 0.425) return central_normal_quantile(q);
  const double tail = q < 0.0 ? p : 1.0 - p;  // exact: 1 - p has no rounding for p >= 0.5
  if (tail == 0.0) return q < 0.0 ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  double r = std::sqrt(-std::log(tail));
  double z;
  if (r <= 5.0) {
    r -= 1.6;
    z = (((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r + 2.41780725177450611770e-1) * r +
             1.27045825245236838258e+0) *
                r +
            3.64784832476320460504e+0) *
               r +
           5.76949722146069140550e+0) *
              r +
          4.63033784615654529590e+0) *
             r +
         1.42343711074968357734e+0) /
        (((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r + 1.51986665636164571966e-2) * r +
             1.48103976427480074590e-1) *
                r +
            6.89767334985100004550e-1) *
               r +
           1.67638483018380384940e+0) *
              r +
          2.05319162663775882187e+0) *
             r +
         1.0);
  } else {
    r -= 5.0;
    z = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r + 1.24266094738807843860e-3) * r +
             2.65321895265761230930e-2) *
                r +
            2.96560571828504891230e-1) *
               r +
           1.78482653991729133580e+0) *
              r +
          5.46378491116411436990e+0) *
             r +
         6.65790464350110377720e+0) /
        (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r + 1.84631831751005468180e-5) * r +
             7.86869131145613259100e-4) *
                r +
            1.48753612908506148525e-2) *
               r +
           1.36929880922735805310e-1) *
              r +
          5.99832206555887937690e-1) *
             r +
         1.0);
  }
  return q < 0.0 ? -z : z;
}

// A normal from the same 23 bits a float uniform uses: the midpoint of that uniform's grid cell,
// p = (k + 0.5) 2^-23, so 0 < p < 1 and |z| <= Phi^{-1}(1 - 2^-24) ~ 5.33.
inline double normal_from_bits32(std::uint32_t bits) {
  return normal_quantile((static_cast<double>(bits >> 9) + 0.5) * 0x1p-23);
}

// The same from the 52 bits a double uniform uses: p = (k + 0.5) 2^-52, exact in double, and
// 1 - p is exactly the p of the mirrored bits, so the tails are symmetric; |z| <= ~8.21.
// (With 53 bits, (2^53 - 1 + 0.5) would round to 2^53 and give p = 1, z = inf.)
inline double normal_from_bits64(std::uint64_t bits) {
  return normal_quantile((static_cast<double>(bits >> 12) + 0.5) * 0x1p-52);
}

template <class S>
constexpr void require_float_or_double() {
  static_assert(std::is_same_v<S, float> || std::is_same_v<S, double>,
                "ldm random draws are defined for float and double only");
}

template <class S>
S uniform_at(Key key, std::uint64_t i) {
  require_float_or_double<S>();
  if constexpr (std::is_same_v<S, float>)
    return unit_float_from_bits(bits32_at(key, i));
  else
    return unit_double_from_bits(bits64_at(key, i));
}

template <class S>
S normal_at(Key key, std::uint64_t i) {
  require_float_or_double<S>();
  if constexpr (std::is_same_v<S, float>)
    return static_cast<float>(normal_from_bits32(bits32_at(key, i)));
  else
    return normal_from_bits64(bits64_at(key, i));
}

// Draws are computed kLanes elements at a time, each operation applied to all lanes in a loop
// the compiler vectorises (Threefry's adds, rotations and xors on 16 words at once). The lanes
// run the same operations as the one-element functions above, so they give the same bits.
inline constexpr std::size_t kLanes = 16;

using Lanes32 = std::array<std::uint32_t, kLanes>;

// y[j] = threefry2x32(key, counter_of(first + j)) for j < kLanes: the 20 rounds and 5 key
// injections of threefry2x32 on vectors of kLanes words (GCC's and clang's vector extension:
// loops over arrays are vectorised by GCC at -O2 but not at -O3 -march=native, where they ran
// at half the speed of the one-element code). Other compilers take one element at a time.
inline std::array<Lanes32, 2> threefry2x32_lanes(Key key, std::uint64_t first) {
  std::array<Lanes32, 2> y;
#if defined(__GNUC__)
  using Vector = std::uint32_t __attribute__((vector_size(4 * kLanes)));
  const std::uint32_t ks[3] = {key[0], key[1], 0x1BD11BDAu ^ key[0] ^ key[1]};
  Vector x0, x1;
  for (std::size_t j = 0; j < kLanes; ++j) {
    const std::uint64_t i = first + j;
    x0[j] = static_cast<std::uint32_t>(i >> 32) + ks[0];
    x1[j] = static_cast<std::uint32_t>(i & 0xffffffffu) + ks[1];
  }
  const auto round = [&](int rotation) {
    x0 += x1;
    x1 = (x1 << rotation) | (x1 >> (32 - rotation));
    x1 ^= x0;
  };
  for (int group = 0; group < 5; ++group) {
    for (const int rotation : group % 2 == 0 ? std::array{13, 15, 26, 6} : std::array{17, 29, 16, 24}) round(rotation);
    const int s = group + 1;
    x0 += ks[s % 3];
    x1 += ks[(s + 1) % 3] + static_cast<std::uint32_t>(s);
  }
  for (std::size_t j = 0; j < kLanes; ++j) {
    y[0][j] = x0[j];
    y[1][j] = x1[j];
  }
#else
  for (std::size_t j = 0; j < kLanes; ++j) {
    const auto block = threefry2x32(key, counter_of(first + j));
    y[0][j] = block[0];
    y[1][j] = block[1];
  }
#endif
  return y;
}

// z[j] = normal_quantile(p[j]) for j < kLanes, p in (0, 1): the central branch for every lane
// at once (vectorised), then the tail branch, one lane at a time, for the ~15% beyond it.
inline void normal_quantile_lanes(const double* p, double* z) {
  for (std::size_t j = 0; j < kLanes; ++j) z[j] = central_normal_quantile(p[j] - 0.5);
  for (std::size_t j = 0; j < kLanes; ++j)
    if (!(std::fabs(p[j] - 0.5) <= 0.425)) z[j] = normal_quantile(p[j]);
}

// values[j] = uniform_at<S>(key, first + j) or normal_at<S>(key, first + j), j < kLanes.
template <class S, bool Normal>
void draw_lanes(Key key, std::uint64_t first, S* values) {
  const auto [y0, y1] = threefry2x32_lanes(key, first);
  if constexpr (!Normal) {
    for (std::size_t j = 0; j < kLanes; ++j)
      if constexpr (std::is_same_v<S, float>)
        values[j] = unit_float_from_bits(y0[j] ^ y1[j]);
      else
        values[j] = unit_double_from_bits((static_cast<std::uint64_t>(y0[j]) << 32) | y1[j]);
  } else {
    double p[kLanes], z[kLanes];
    for (std::size_t j = 0; j < kLanes; ++j)  // the p of normal_from_bits32 / normal_from_bits64
      if constexpr (std::is_same_v<S, float>)
        p[j] = (static_cast<double>((y0[j] ^ y1[j]) >> 9) + 0.5) * 0x1p-23;
      else
        p[j] = (static_cast<double>(((static_cast<std::uint64_t>(y0[j]) << 32) | y1[j]) >> 12) + 0.5) * 0x1p-52;
    normal_quantile_lanes(p, z);
    for (std::size_t j = 0; j < kLanes; ++j) values[j] = static_cast<S>(z[j]);
  }
}

inline void require_size(const char* where, const char* what, Eigen::Index value) {
  if (value < 0) throw std::invalid_argument(concat(where, ": ", what, " must be non-negative, got ", value));
}

// out(r, c) = element r * cols + c of the stream of uniforms (Normal false) or normals, for
// every coefficient, kLanes elements at a time (draw_lanes; the last group's lanes past the end
// are computed and dropped). Large outputs are filled by OpenMP threads in fixed chunks of
// `chunk` elements, sized so that a chunk's work pays for a fork; each element depends only on
// its index, so neither the thread count, the chunk size nor the lanes ever change a value.
template <bool Normal, Eigen::Index chunk, class Derived>
void fill_draws(Key key, Eigen::DenseBase<Derived>& out) {
  static_assert(chunk % static_cast<Eigen::Index>(kLanes) == 0);
  using S = typename Derived::Scalar;
  const Eigen::Index cols = out.cols();
  const Eigen::Index n = out.rows() * cols;
  const Eigen::Index chunks = (n + chunk - 1) / chunk;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (chunks > 1)
#endif
  for (Eigen::Index k = 0; k < chunks; ++k) {
    const Eigen::Index begin = k * chunk;
    const Eigen::Index end = begin + chunk < n ? begin + chunk : n;
    Eigen::Index r = begin / cols, c = begin % cols;
    constexpr auto lanes = static_cast<Eigen::Index>(kLanes);
    S values[kLanes];
    for (Eigen::Index i = begin; i < end; i += lanes) {
      draw_lanes<S, Normal>(key, static_cast<std::uint64_t>(i), values);
      const Eigen::Index count = end - i < lanes ? end - i : lanes;
      for (Eigen::Index j = 0; j < count; ++j) {
        out(r, c) = values[j];
        if (++c == cols) {
          c = 0;
          ++r;
        }
      }
    }
  }
}

}  // namespace detail

// Two independent keys from one (jax.random.split(key)).
constexpr std::array<Key, 2> split(Key key) {
  return {threefry2x32(key, detail::counter_of(0)), threefry2x32(key, detail::counter_of(1))};
}

// n independent keys: key i = threefry2x32(key, {hi32(i), lo32(i)}) (jax.random.split(key, n)).
inline std::vector<Key> split(Key key, std::size_t n) {
  std::vector<Key> keys(n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = threefry2x32(key, detail::counter_of(i));
  return keys;
}

// A key derived from `key` and a number, e.g. a step or layer index (jax.random.fold_in).
constexpr Key fold_in(Key key, std::uint32_t data) { return threefry2x32(key, {0u, data}); }

// The same for a key that may be absent (a model built without one: every value zero), which
// stays absent.
constexpr std::optional<Key> fold_in(std::optional<Key> key, std::uint32_t data) {
  if (!key) return std::nullopt;
  return fold_in(*key, data);
}

// A draw: the values and the key to use next.
template <class S>
struct Draw {
  Matrix<S> values;
  Key key;
};

struct Bits {
  std::vector<std::uint32_t> values;
  Key key;
};

// n raw 32-bit words, bit-identical to jax.random.bits(key, (n,)).
inline Bits random_bits(Key key, std::size_t n) {
  Bits out{std::vector<std::uint32_t>(n), detail::next_key(key)};
  for (std::size_t i = 0; i < n; ++i) out.values[i] = detail::bits32_at(key, i);
  return out;
}

// Fills `out` (a matrix, a block, a map, a vector) with uniforms in [0, 1); element
// i = r * cols + c uses counter i whatever the storage order. Allocates nothing.
// float: bit-identical to jax.random.uniform (23 bits, grid 2^-23).
// double: 52 bits of the whole block {y0, y1}, grid 2^-52; JAX has no equivalent.
template <class Derived>
Key fill_uniform(Key key, Eigen::DenseBase<Derived>& out) {
  using S = typename Derived::Scalar;
  detail::require_float_or_double<S>();
  detail::fill_draws<false, Eigen::Index{1} << 14>(key, out);
  return detail::next_key(key);
}

// The same for a temporary expression: fill_uniform(key, m.block(0, 0, 2, 3)).
template <class Derived>
Key fill_uniform(Key key, Eigen::DenseBase<Derived>&& out) {
  return fill_uniform(key, out);
}

// Fills `out` with standard normals by the exact inverse CDF: z = Phi^{-1}(p) computed in double
// with AS241 (detail::normal_quantile) and rounded to the scalar, where p is the midpoint of the
// cell of the uniform drawn for the same element (float: p = ((bits >> 9) + 0.5) 2^-23;
// double: p = ((u64 >> 12) + 0.5) 2^-52), so p is never 0 or 1. One block per value, no
// rejection, so element i depends on (key, i) only. Not the same numbers as jax.random.normal.
template <class Derived>
Key fill_normal(Key key, Eigen::DenseBase<Derived>& out) {
  using S = typename Derived::Scalar;
  detail::require_float_or_double<S>();
  // A normal costs several uniforms (the inverse CDF in double), so smaller chunks: a VAE batch
  // of 256 x 32 latents already splits across threads.
  detail::fill_draws<true, Eigen::Index{1} << 11>(key, out);
  return detail::next_key(key);
}

template <class Derived>
Key fill_normal(Key key, Eigen::DenseBase<Derived>&& out) {
  return fill_normal(key, out);
}

// A [rows, cols] matrix of uniforms in [0, 1) and the next key; see fill_uniform.
template <class S = float>
Draw<S> uniform(Key key, Eigen::Index rows, Eigen::Index cols) {
  detail::require_float_or_double<S>();
  detail::require_size("ldm::uniform", "rows", rows);
  detail::require_size("ldm::uniform", "cols", cols);
  Draw<S> draw{Matrix<S>(rows, cols), Key{}};
  draw.key = fill_uniform(key, draw.values);
  return draw;
}

// A [rows, cols] matrix of standard normals and the next key; see fill_normal.
template <class S = float>
Draw<S> normal(Key key, Eigen::Index rows, Eigen::Index cols) {
  detail::require_float_or_double<S>();
  detail::require_size("ldm::normal", "rows", rows);
  detail::require_size("ldm::normal", "cols", cols);
  Draw<S> draw{Matrix<S>(rows, cols), Key{}};
  draw.key = fill_normal(key, draw.values);
  return draw;
}

// Shuffles items in place with the Fisher-Yates algorithm (Knuth, TAOCP vol. 2, 3.4.2, P):
// for i = n-1 down to 1, swap items[i] with items[j], j = floor(bits32(i) * (i + 1) / 2^32)
// (the multiply-shift range reduction; its bias is below (i + 1) / 2^32). Allocates nothing;
// returns the next key.
template <class T>
Key shuffle(Key key, std::span<T> items) {
  for (std::size_t i = items.size(); i-- > 1;) {
    const std::uint64_t bound = static_cast<std::uint64_t>(i) + 1;
    const auto j = static_cast<std::size_t>((detail::bits32_at(key, i) * bound) >> 32);
    std::swap(items[i], items[j]);
  }
  return detail::next_key(key);
}

}  // namespace ldm
