#include <ldm/core/random.hpp>

#include <catch2/catch.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <span>
#include <vector>

using Catch::Matchers::Contains;
using ldm::Key;

namespace {

// Element i's block, computed here without the library's helpers.
std::array<std::uint32_t, 2> block_at(Key key, std::uint64_t i) {
  return ldm::threefry2x32(key, {static_cast<std::uint32_t>(i >> 32), static_cast<std::uint32_t>(i)});
}

// Relative error, with an exact zero required when the reference is zero.
double relative_error(double value, double reference) {
  if (reference == 0.0) return value == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::fabs(value - reference) / std::fabs(reference);
}

struct Moments {
  double mean, variance;
};

template <class M>
Moments moments(const M& values) {
  long double sum = 0, sum_sq = 0;
  for (Eigen::Index i = 0; i < values.size(); ++i) sum += values.data()[i];
  const long double mean = sum / values.size();
  for (Eigen::Index i = 0; i < values.size(); ++i) {
    const long double d = values.data()[i] - mean;
    sum_sq += d * d;
  }
  return {static_cast<double>(mean), static_cast<double>(sum_sq / (values.size() - 1))};
}

// Kolmogorov-Smirnov statistic sup |F_n(x) - Phi(x)| against the exact normal CDF
// Phi(x) = 0.5 erfc(-x / sqrt 2), evaluated in long double.
template <class M>
double ks_statistic_normal(const M& values) {
  std::vector<double> x(values.data(), values.data() + values.size());
  std::sort(x.begin(), x.end());
  const long double n = static_cast<long double>(x.size());
  long double d = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const long double cdf = 0.5L * std::erfc(-static_cast<long double>(x[i]) / std::sqrt(2.0L));
    d = std::max({d, cdf - i / n, (i + 1) / n - cdf});
  }
  return static_cast<double>(d);
}

}  // namespace

TEST_CASE("threefry2x32 matches the Random123 known answers", "[random]") {
  // Random123 kat_vectors, "threefry2x32 20": counter words, key words -> output.
  REQUIRE(ldm::threefry2x32({0u, 0u}, {0u, 0u}) == std::array<std::uint32_t, 2>{0x6b200159u, 0x99ba4efeu});
  REQUIRE(ldm::threefry2x32({0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}) ==
          std::array<std::uint32_t, 2>{0x1cb996fcu, 0xbb002be7u});
  REQUIRE(ldm::threefry2x32({0x13198a2eu, 0x03707344u}, {0x243f6a88u, 0x85a308d3u}) ==
          std::array<std::uint32_t, 2>{0xc4923a9cu, 0x483df7a0u});
  // It is constexpr, so keys can be made at compile time.
  STATIC_REQUIRE(ldm::threefry2x32({0u, 0u}, {0u, 0u})[0] == 0x6b200159u);
}

TEST_CASE("make_key splits a 64-bit seed like jax.random.PRNGKey", "[random]") {
  REQUIRE(ldm::make_key(0) == Key{0u, 0u});
  REQUIRE(ldm::make_key(3) == Key{0u, 3u});
  REQUIRE(ldm::make_key(0x123456789abcdef0ull) == Key{0x12345678u, 0x9abcdef0u});
}

TEST_CASE("split and fold_in follow JAX's partitionable threefry", "[random]") {
  const Key key0 = ldm::make_key(0);
  // JAX: jax.random.split(jax.random.PRNGKey(0)).
  const auto halves = ldm::split(key0);
  REQUIRE(halves[0] == Key{1797259609u, 2579123966u});
  REQUIRE(halves[1] == Key{928981903u, 3453687069u});

  const Key key = ldm::make_key(0xdeadbeefcafef00dull);
  const auto two = ldm::split(key, 2);
  REQUIRE(two.size() == 2);
  REQUIRE(two[0] == ldm::split(key)[0]);
  REQUIRE(two[1] == ldm::split(key)[1]);

  const auto many = ldm::split(key, 7);
  REQUIRE(many.size() == 7);
  for (std::size_t i = 0; i < many.size(); ++i) {
    REQUIRE(many[i] == block_at(key, i));
    // hi32(d) = 0 for d < 2^32, so fold_in(key, d) is key d of a split.
    REQUIRE(ldm::fold_in(key, static_cast<std::uint32_t>(i)) == many[i]);
    REQUIRE(ldm::fold_in(key, static_cast<std::uint32_t>(i)) ==
            ldm::threefry2x32(key, {0u, static_cast<std::uint32_t>(i)}));
    for (std::size_t j = 0; j < i; ++j) REQUIRE(many[i] != many[j]);
  }
  REQUIRE(ldm::split(key, 0).empty());
  REQUIRE(ldm::fold_in(key, 0xffffffffu) == ldm::threefry2x32(key, {0u, 0xffffffffu}));
  // The counter of index i carries its high word too.
  REQUIRE(ldm::detail::counter_of((std::uint64_t{5} << 32) + 9) == std::array<std::uint32_t, 2>{5u, 9u});
}

TEST_CASE("random_bits is bit-identical to jax.random.bits", "[random]") {
  const Key key = ldm::make_key(1);
  const auto bits = ldm::random_bits(key, 8);
  REQUIRE(bits.values.size() == 8);
  // JAX 0.11.2: jax.random.bits(jax.random.PRNGKey(1), (8,))[:3].
  REQUIRE(bits.values[0] == 1883912375u);
  REQUIRE(bits.values[1] == 2292451390u);
  REQUIRE(bits.values[2] == 1915204986u);
  for (std::size_t i = 0; i < 8; ++i) {
    const auto y = block_at(key, i);
    REQUIRE(bits.values[i] == (y[0] ^ y[1]));
  }
  // Same key, same bits; a longer draw starts with the same words.
  REQUIRE(ldm::random_bits(key, 8).values == bits.values);
  const auto longer = ldm::random_bits(key, 20);
  REQUIRE(std::equal(bits.values.begin(), bits.values.end(), longer.values.begin()));
  REQUIRE(ldm::random_bits(key, 0).values.empty());
}

TEST_CASE("uniform<float> is bit-identical to jax.random.uniform", "[random]") {
  const Key key = ldm::make_key(3);
  const auto draw = ldm::uniform<float>(key, 1, 8);
  REQUIRE(draw.values.rows() == 1);
  REQUIRE(draw.values.cols() == 8);
  // JAX 0.11.2: jax.random.uniform(jax.random.PRNGKey(3), (8,))[:3] (shortest float32 repr).
  REQUIRE(draw.values(0, 0) == 0.07405257f);
  REQUIRE(draw.values(0, 1) == 0.93814433f);
  REQUIRE(draw.values(0, 2) == 0.64895701f);

  // Every element is the top 23 bits of random_bits times 2^-23, computed here by arithmetic.
  const auto bits = ldm::random_bits(key, 8);
  for (int i = 0; i < 8; ++i) REQUIRE(draw.values(0, i) == static_cast<float>(bits.values[i] >> 9) * 0x1p-23f);

  // The shape does not change the numbers: element (r, c) of a 2x4 draw is element r * 4 + c.
  const auto square = ldm::uniform<float>(key, 2, 4);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 4; ++c) REQUIRE(square.values(r, c) == draw.values(0, r * 4 + c));
}

TEST_CASE("uniform<double> takes 52 bits of the whole block", "[random]") {
  const Key key = ldm::make_key(2024);
  const auto draw = ldm::uniform<double>(key, 10, 100);
  for (Eigen::Index i = 0; i < draw.values.size(); ++i) {
    const auto y = block_at(key, static_cast<std::uint64_t>(i));
    const std::uint64_t u64 = (std::uint64_t{y[0]} << 32) | y[1];
    REQUIRE(draw.values(i / 100, i % 100) == static_cast<double>(u64 >> 12) * 0x1p-52);
  }
}

TEST_CASE("uniforms satisfy 0 <= u < 1, extreme bit patterns included", "[random]") {
  using ldm::detail::unit_double_from_bits;
  using ldm::detail::unit_float_from_bits;
  REQUIRE(unit_float_from_bits(0u) == 0.0f);
  REQUIRE(unit_float_from_bits(0x1ffu) == 0.0f);                  // the 9 dropped bits do not count
  REQUIRE(unit_float_from_bits(0x200u) == 0x1p-23f);              // the smallest positive value
  REQUIRE(unit_float_from_bits(0xffffffffu) == 1.0f - 0x1p-23f);  // the top of the 2^-23 grid
  REQUIRE(unit_float_from_bits(0xffffffffu) < 1.0f);
  REQUIRE(unit_double_from_bits(0u) == 0.0);
  REQUIRE(unit_double_from_bits(0x1000u) == 0x1p-52);
  REQUIRE(unit_double_from_bits(~std::uint64_t{0}) == 1.0 - 0x1p-52);
  REQUIRE(unit_double_from_bits(~std::uint64_t{0}) < 1.0);

  const Key key = ldm::make_key(7);
  const auto f = ldm::uniform<float>(key, 1000, 100).values;
  REQUIRE(f.minCoeff() >= 0.0f);
  REQUIRE(f.maxCoeff() < 1.0f);
  const auto d = ldm::uniform<double>(key, 1000, 100).values;
  REQUIRE(d.minCoeff() >= 0.0);
  REQUIRE(d.maxCoeff() < 1.0);
  // 10^5 uniforms: mean 1/2 and variance 1/12 within 5 standard errors
  // (sd of the mean sqrt(1/12 / n) = 9.1e-4; of the variance sqrt(1/180 / n) = 2.4e-4).
  for (const Moments m : {moments(f), moments(d)}) {
    REQUIRE(std::fabs(m.mean - 0.5) < 5 * 9.13e-4);
    REQUIRE(std::fabs(m.variance - 1.0 / 12) < 5 * 2.36e-4);
  }
}

TEST_CASE("normal_quantile (AS241) matches known quantiles to 1e-14", "[random]") {
  using ldm::detail::normal_quantile;
  // The quantiles of these doubles, computed with mpmath at 60 digits.
  struct Known {
    double p, z;
  };
  const Known known[] = {
      {0.3, -0.52440051270804081597},    {0.75, 0.6744897501960817432},    // central branch
      {0.975, 1.9599639845400538556},    {0.025, -1.9599639845400542118},  // r <= 5
      {1e-10, -6.3613409024040561991},   {0.999, 3.0902323061678132778},    {0.9999999, 5.1993375822906610937},
      {1e-20, -9.2623400897984075796},   {1e-300, -37.047096299361199237},  // r > 5
      {0x1p-24, -5.2947040848545980574}, {0x1p-53, -8.2095361516013868556},
  };
  for (const auto& k : known) {
    INFO("p = " << k.p);
    REQUIRE(relative_error(normal_quantile(k.p), k.z) < 1e-14);
  }
  // The values quoted in DESIGN.md's brief (exact quantiles of the decimal p).
  REQUIRE(relative_error(normal_quantile(0.975), 1.959963984540054) < 1e-14);
  REQUIRE(relative_error(normal_quantile(1e-10), -6.361340902404056) < 1e-14);
  REQUIRE(normal_quantile(0.5) == 0.0);
  REQUIRE(normal_quantile(0.0) == -std::numeric_limits<double>::infinity());
  REQUIRE(normal_quantile(1.0) == std::numeric_limits<double>::infinity());
  REQUIRE(std::isnan(normal_quantile(-0.1)));
  REQUIRE(std::isnan(normal_quantile(1.5)));
  REQUIRE(std::isnan(normal_quantile(std::numeric_limits<double>::quiet_NaN())));
}

TEST_CASE("normal_quantile inverts the normal CDF across (0, 1)", "[random]") {
  // Independent reference: one Newton step on Phi(z) = p in long double, with
  // Phi(z) = 0.5 erfc(-z / sqrt 2) (and 1 - Phi(z) = 0.5 erfc(z / sqrt 2)), from AS241's answer (quadratic convergence
  // makes the refined value exact to long double precision when the start is good to 1e-16).
  using ldm::detail::normal_quantile;
  std::vector<double> ps;
  for (int k = 1; k < 1000; ++k) ps.push_back(k / 1000.0);
  for (int e = 4; e <= 300; e += 4) {
    ps.push_back(std::pow(10.0, -e));
    ps.push_back(1.0 - std::pow(10.0, -std::min(e, 15)));
  }
  double worst = 0;
  for (const double p : ps) {
    const long double z = normal_quantile(p);
    const long double phi = std::exp(-0.5L * z * z) / std::sqrt(2.0L * 3.14159265358979323846264338327950288L);
    // Work with the smaller tail, so p near 1 loses nothing to rounding (1 - p is exact).
    const long double tail = 0.5L * std::erfc(std::fabs(z) / std::sqrt(2.0L));
    const long double target = z < 0 ? p : 1.0L - p;
    const long double refined = z < 0 ? z - (tail - target) / phi : z + (tail - target) / phi;
    worst = std::max(worst, relative_error(static_cast<double>(z), static_cast<double>(refined)));
  }
  INFO("worst relative error " << worst);
  REQUIRE(worst < 1e-14);
}

TEST_CASE("normal draws use p strictly inside (0, 1), so extremes are finite and symmetric", "[random]") {
  using ldm::detail::normal_from_bits32;
  using ldm::detail::normal_from_bits64;
  const double low32 = normal_from_bits32(0u), high32 = normal_from_bits32(0xffffffffu);
  REQUIRE(std::isfinite(low32));
  REQUIRE(high32 == -low32);  // p = 2^-24 and 1 - 2^-24
  REQUIRE(relative_error(low32, -5.2947040848545980574) < 1e-14);
  const double low64 = normal_from_bits64(0u), high64 = normal_from_bits64(~std::uint64_t{0});
  REQUIRE(std::isfinite(high64));
  REQUIRE(high64 == -low64);  // p = 2^-53 and 1 - 2^-53
  REQUIRE(relative_error(low64, -8.2095361516013868556) < 1e-14);
  // The midpoint of the uniform's grid cell: bits giving uniform u give Phi^{-1}(u + 2^-24).
  const std::uint32_t bits = 0x9e3779b9u;
  REQUIRE(normal_from_bits32(bits) == ldm::detail::normal_quantile(ldm::detail::unit_float_from_bits(bits) + 0x1p-24));

  // A draw's element i is the transform of element i's block.
  const Key key = ldm::make_key(11);
  const auto f = ldm::normal<float>(key, 3, 5).values;
  const auto d = ldm::normal<double>(key, 3, 5).values;
  for (int i = 0; i < 15; ++i) {
    const auto y = block_at(key, static_cast<std::uint64_t>(i));
    REQUIRE(f(i / 5, i % 5) == static_cast<float>(normal_from_bits32(y[0] ^ y[1])));
    REQUIRE(d(i / 5, i % 5) == normal_from_bits64((std::uint64_t{y[0]} << 32) | y[1]));
  }
}

TEMPLATE_TEST_CASE("normal<S> on 10^6 draws has the standard normal distribution", "[random]", float, double) {
  const std::size_t n = 1000000;
  const auto draw = ldm::normal<TestType>(ldm::make_key(42), 1000, 1000);
  REQUIRE(static_cast<std::size_t>(draw.values.size()) == n);
  REQUIRE(draw.values.allFinite());
  const Moments m = moments(draw.values);
  // 5 standard errors: sd of the mean 1/sqrt(n) = 1e-3, sd of the sample variance
  // sqrt(2 / (n - 1)) = 1.414e-3.
  INFO("mean " << m.mean << ", variance " << m.variance);
  REQUIRE(std::fabs(m.mean) < 5 * 1e-3);
  REQUIRE(std::fabs(m.variance - 1.0) < 5 * 1.4142e-3);
  // Kolmogorov-Smirnov at the 0.1% level: critical value 1.949 / sqrt(n).
  const double ks = ks_statistic_normal(draw.values);
  INFO("KS statistic " << ks << ", critical " << 1.949 / std::sqrt(double(n)));
  REQUIRE(ks < 1.949 / std::sqrt(static_cast<double>(n)));
}

TEST_CASE("draws are deterministic and independent of the thread count", "[random]") {
  const Key key = ldm::make_key(123456789);
  // 3 * 10^5 elements: 19 chunks, so the fill really runs on several threads.
  const auto reference_f = ldm::normal<float>(key, 300, 1000);
  const auto reference_d = ldm::normal<double>(key, 300, 1000);
  const auto reference_u = ldm::uniform<double>(key, 300, 1000);
  REQUIRE(ldm::normal<float>(key, 300, 1000).values == reference_f.values);

  // Spot checks against the element formula, so the comparison is not only self-consistency.
  for (const Eigen::Index i : {Eigen::Index{0}, Eigen::Index{16383}, Eigen::Index{16384}, Eigen::Index{299999}})
    REQUIRE(reference_d.values(i / 1000, i % 1000) ==
            ldm::detail::normal_at<double>(key, static_cast<std::uint64_t>(i)));
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  for (const int threads : {1, 2, 4}) {
    INFO(threads << " threads");
    omp_set_num_threads(threads);
    REQUIRE(ldm::normal<float>(key, 300, 1000).values == reference_f.values);
    REQUIRE(ldm::normal<double>(key, 300, 1000).values == reference_d.values);
    REQUIRE(ldm::uniform<double>(key, 300, 1000).values == reference_u.values);
  }
  omp_set_num_threads(saved);
#else
  WARN("built without OpenMP: thread-count independence not exercised");
#endif
}

TEST_CASE("the lanes give the one-element functions' bits", "[random]") {
  // Threefry on kLanes counters at once, across the 2^32 boundary of the low counter word.
  const Key key = ldm::make_key(0x0123456789abcdefull);
  for (const std::uint64_t first :
       {std::uint64_t{0}, std::uint64_t{0xfffffff8u}, std::uint64_t{0xffffffffffffffe0ull}}) {
    const auto y = ldm::detail::threefry2x32_lanes(key, first);
    for (std::size_t j = 0; j < ldm::detail::kLanes; ++j) {
      const auto block = ldm::threefry2x32(key, ldm::detail::counter_of(first + j));
      REQUIRE(y[0][j] == block[0]);
      REQUIRE(y[1][j] == block[1]);
    }
  }
  // Every float normal there is: the 2^23 p of normal_from_bits32, through the lanes (central
  // branch vectorised, tails one at a time) and through normal_quantile, the same doubles.
  long differ = 0;
  for (std::uint32_t k = 0; k < (1u << 23); k += static_cast<std::uint32_t>(ldm::detail::kLanes)) {
    double p[ldm::detail::kLanes], z[ldm::detail::kLanes];
    for (std::size_t j = 0; j < ldm::detail::kLanes; ++j) p[j] = (static_cast<double>(k + j) + 0.5) * 0x1p-23;
    ldm::detail::normal_quantile_lanes(p, z);
    for (std::size_t j = 0; j < ldm::detail::kLanes; ++j)
      differ += std::bit_cast<std::uint64_t>(z[j]) !=
                std::bit_cast<std::uint64_t>(ldm::detail::normal_from_bits32(static_cast<std::uint32_t>(k + j) << 9));
  }
  REQUIRE(differ == 0);
  // Fills of odd sizes (a last group of lanes cut short) equal the element formulas, float and
  // double, uniform and normal.
  const auto check = [&](auto scalar) {
    using S = decltype(scalar);
    ldm::Matrix<S> u(37, 29), n(37, 29);
    ldm::fill_uniform(key, u);
    ldm::fill_normal(key, n);
    for (Eigen::Index i = 0; i < u.size(); ++i) {
      REQUIRE(u(i / 29, i % 29) == ldm::detail::uniform_at<S>(key, static_cast<std::uint64_t>(i)));
      REQUIRE(n(i / 29, i % 29) == ldm::detail::normal_at<S>(key, static_cast<std::uint64_t>(i)));
    }
  };
  check(0.0f);
  check(0.0);
}

TEST_CASE("fill_uniform and fill_normal write blocks, maps and column-major matrices", "[random]") {
  const Key key = ldm::make_key(99);
  const auto expected = ldm::normal<float>(key, 4, 5);

  // A temporary block of a larger matrix: the same values as normal(), the rest untouched.
  ldm::Matrix<float> big = ldm::Matrix<float>::Constant(10, 20, 7.0f);
  const Key after = ldm::fill_normal(key, big.block(2, 3, 4, 5));
  REQUIRE(after == expected.key);
  REQUIRE(big.block(2, 3, 4, 5) == expected.values);
  REQUIRE((big.array() == 7.0f).count() == 200 - 20);

  // A named block and a plain matrix.
  ldm::Matrix<float> other(10, 20);
  auto block = other.block(5, 10, 4, 5);
  REQUIRE(ldm::fill_normal(key, block) == expected.key);
  REQUIRE(block == expected.values);
  ldm::Matrix<float> plain(4, 5);
  REQUIRE(ldm::fill_normal(key, plain) == expected.key);
  REQUIRE(plain == expected.values);

  // Column-major storage still fills in row-major element order i = r * cols + c.
  const auto expected_u = ldm::uniform<double>(key, 3, 4);
  Eigen::MatrixXd column_major(3, 4);
  REQUIRE(ldm::fill_uniform(key, column_major) == expected_u.key);
  REQUIRE(column_major == expected_u.values);

  // A vector [n] is a column: element i is row i.
  ldm::Vector<double> v(6);
  ldm::fill_uniform(key, v);
  REQUIRE(v.transpose() == ldm::uniform<double>(key, 1, 6).values);

  // A map over caller memory.
  std::vector<float> buffer(20);
  Eigen::Map<ldm::Matrix<float>> map(buffer.data(), 4, 5);
  ldm::fill_normal(key, map);
  REQUIRE(map == expected.values);

  // Refilling an existing buffer allocates nothing and gives the same numbers.
  const float* data = plain.data();
  ldm::fill_normal(key, plain);
  REQUIRE(plain.data() == data);
  REQUIRE(plain == expected.values);
}

TEST_CASE("every draw returns a new, reproducible key independent of its values", "[random]") {
  const Key key = ldm::make_key(5);
  const Key next = ldm::threefry2x32(key, {0xffffffffu, 0xffffffffu});
  REQUIRE(next != key);
  REQUIRE(ldm::random_bits(key, 3).key == next);
  REQUIRE(ldm::uniform<float>(key, 2, 2).key == next);
  REQUIRE(ldm::uniform<double>(key, 0, 0).key == next);
  REQUIRE(ldm::normal<float>(key, 7, 1).key == next);
  REQUIRE(ldm::normal<double>(key, 1, 7).key == next);
  REQUIRE(ldm::normal<double>(key, 1, 7).key == ldm::normal<double>(key, 1, 7).key);
  // Chaining keys gives fresh numbers.
  const auto first = ldm::normal<double>(key, 2, 3);
  const auto second = ldm::normal<double>(first.key, 2, 3);
  REQUIRE(second.key != first.key);
  REQUIRE((first.values.array() != second.values.array()).all());
  // The next key is not one of the first split keys.
  for (const Key& k : ldm::split(key, 16)) REQUIRE(k != next);
}

TEST_CASE("empty and negative sizes", "[random]") {
  const Key key = ldm::make_key(1);
  const auto empty = ldm::normal<double>(key, 0, 5);
  REQUIRE(empty.values.rows() == 0);
  REQUIRE(empty.values.cols() == 5);
  REQUIRE(ldm::uniform<float>(key, 3, 0).values.size() == 0);
  REQUIRE_THROWS_AS(ldm::uniform<float>(key, -1, 3), std::invalid_argument);
  REQUIRE_THROWS_WITH(ldm::uniform<float>(key, -1, 3), Contains("ldm::uniform") && Contains("rows") && Contains("-1"));
  REQUIRE_THROWS_WITH(ldm::uniform<double>(key, 2, -4), Contains("ldm::uniform") && Contains("cols") && Contains("-4"));
  REQUIRE_THROWS_WITH(ldm::normal<float>(key, -2, 3), Contains("ldm::normal") && Contains("rows") && Contains("-2"));
  REQUIRE_THROWS_WITH(ldm::normal<double>(key, 3, -7), Contains("ldm::normal") && Contains("cols") && Contains("-7"));
}

TEST_CASE("shuffle: a permutation drawn from the key, Fisher-Yates with multiply-shift indices") {
  std::vector<int> items(10);
  std::iota(items.begin(), items.end(), 0);
  const ldm::Key next = ldm::shuffle(ldm::make_key(5), std::span<int>(items));
  REQUIRE(next == ldm::uniform<float>(ldm::make_key(5), 1, 1).key);
  std::vector<int> sorted = items;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 10; ++i) REQUIRE(sorted[i] == i);
  // The same permutation worked out step by step from the raw bits.
  std::vector<int> expected(10);
  std::iota(expected.begin(), expected.end(), 0);
  const auto bits = ldm::random_bits(ldm::make_key(5), 10).values;
  for (std::size_t i = 9; i >= 1; --i)
    std::swap(expected[i], expected[(static_cast<std::uint64_t>(bits[i]) * (i + 1)) >> 32]);
  REQUIRE(items == expected);
  // Each of the 6 orders of 3 items comes up about equally often over 6000 keys.
  std::map<std::vector<int>, int> counts;
  for (std::uint32_t k = 0; k < 6000; ++k) {
    std::vector<int> three{0, 1, 2};
    ldm::shuffle(ldm::fold_in(ldm::make_key(9), k), std::span<int>(three));
    ++counts[three];
  }
  REQUIRE(counts.size() == 6);
  for (const auto& [order, n] : counts) REQUIRE(std::abs(n - 1000) < 5 * 29);  // sd = sqrt(6000 * 1/6 * 5/6) ~ 29
  std::vector<int> empty;
  REQUIRE_NOTHROW(ldm::shuffle(ldm::make_key(1), std::span<int>(empty)));
}
