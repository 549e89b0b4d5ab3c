// Tests of ldm/eval/distances.hpp: Frechet distance, MMD, KS and correlation error, by hand
// where the numbers are small, against closed forms and long double references otherwise.

#include <ldm/eval/distances.hpp>

#include <ldm/core/random.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <vector>

using Catch::Matchers::Contains;
using ldm::Matrix;

namespace {

Matrix<double> column_of(std::initializer_list<double> values) {
  Matrix<double> m(static_cast<Eigen::Index>(values.size()), 1);
  Eigen::Index r = 0;
  for (double v : values) m(r++, 0) = v;
  return m;
}

Matrix<double> gaussian(std::uint64_t seed, Eigen::Index rows, Eigen::Index cols) {
  return ldm::normal<double>(ldm::make_key(seed), rows, cols).values;
}

// Sample covariance (n - 1) in long double, by plain loops.
std::vector<std::vector<long double>> covariance_ld(const Matrix<double>& m) {
  const auto n = m.rows(), d = m.cols();
  std::vector<long double> mean(static_cast<std::size_t>(d), 0.0L);
  for (Eigen::Index c = 0; c < d; ++c) {
    for (Eigen::Index r = 0; r < n; ++r) mean[c] += m(r, c);
    mean[c] /= n;
  }
  std::vector<std::vector<long double>> cov(d, std::vector<long double>(d, 0.0L));
  for (Eigen::Index i = 0; i < d; ++i)
    for (Eigen::Index j = 0; j < d; ++j) {
      for (Eigen::Index r = 0; r < n; ++r) cov[i][j] += (m(r, i) - mean[i]) * (m(r, j) - mean[j]);
      cov[i][j] /= (n - 1);
    }
  return cov;
}

long double mean_ld(const Matrix<double>& m, Eigen::Index c) {
  long double s = 0;
  for (Eigen::Index r = 0; r < m.rows(); ++r) s += m(r, c);
  return s / m.rows();
}

const double not_a_number = std::numeric_limits<double>::quiet_NaN();

}  // namespace

TEST_CASE("frechet_distance of a set with itself is 0 and it is symmetric", "[distances]") {
  const Matrix<double> a = gaussian(2, 60, 5);
  const double trace = 2 * a.cols();  // ~ Tr(Ca + Ca)
  CHECK(ldm::frechet_distance(a, a) == Approx(0.0).margin(1e-9 * trace));
  const Matrix<double> b = (gaussian(3, 40, 5).array() * 1.5 + 0.3).matrix();
  const double ab = ldm::frechet_distance(a, b);
  CHECK(ab > 0.5);
  CHECK(ldm::frechet_distance(b, a) == Approx(ab).epsilon(1e-10));
  // The same translation of both sets and a reordering of rows change nothing.
  const Matrix<double> a_moved = (a.array() + 3.0).matrix();
  const Matrix<double> b_moved = (b.colwise().reverse().array() + 3.0).matrix();
  CHECK(ldm::frechet_distance(a_moved, b_moved) == Approx(ab).epsilon(1e-9));
}

TEST_CASE("frechet_distance in 1-D is (m1 - m2)^2 + (s1 - s2)^2", "[distances]") {
  // a: mean 2.5, sample variance 5/3; b: mean 5, sample variance (9 + 1 + 16) / 2 = 13.
  const Matrix<double> a = column_of({1, 2, 3, 4});
  const Matrix<double> b = column_of({2, 4, 9});
  const long double s1 = std::sqrt(5.0L / 3.0L), s2 = std::sqrt(13.0L);
  const long double expected = (2.5L - 5.0L) * (2.5L - 5.0L) + (s1 - s2) * (s1 - s2);
  CHECK(ldm::frechet_distance(a, b) == Approx(static_cast<double>(expected)).epsilon(1e-12));
}

TEST_CASE("frechet_distance of diagonal Gaussian fits in 2-D, by hand", "[distances]") {
  // A grid of 4 points has zero sample covariance between its columns.
  // a: mean (0, 0), variances 4/3 and 16/3; b: mean (5, -1), variances 12 and 4/3.
  const Matrix<double> a = Matrix<double>{{-1, -2}, {1, -2}, {-1, 2}, {1, 2}};
  const Matrix<double> b = Matrix<double>{{2, -2}, {8, -2}, {2, 0}, {8, 0}};
  const long double dx = std::sqrt(4.0L / 3) - std::sqrt(12.0L);
  const long double dy = std::sqrt(16.0L / 3) - std::sqrt(4.0L / 3);
  const long double expected = 25.0L + 1.0L + dx * dx + dy * dy;
  CHECK(ldm::frechet_distance(a, b) == Approx(static_cast<double>(expected)).epsilon(1e-12));
}

TEST_CASE("frechet_distance with correlated 2-D data matches the closed form", "[distances]") {
  // For 2x2 covariances the eigenvalues of Ca^1/2 Cb Ca^1/2 are those of Ca Cb, so
  // Tr sqrt(.) = sqrt(l1) + sqrt(l2) = sqrt(Tr(Ca Cb) + 2 sqrt(det Ca det Cb)).
  Matrix<double> a = gaussian(4, 30, 2);
  a.col(1) += 0.8 * a.col(0);
  Matrix<double> b = gaussian(5, 25, 2);
  b.col(0) = 2.0 * b.col(0) - 0.5 * b.col(1);
  b.array() += 0.7;
  const auto ca = covariance_ld(a), cb = covariance_ld(b);
  const long double tr_ab = ca[0][0] * cb[0][0] + ca[0][1] * cb[1][0] + ca[1][0] * cb[0][1] + ca[1][1] * cb[1][1];
  const long double det_a = ca[0][0] * ca[1][1] - ca[0][1] * ca[1][0];
  const long double det_b = cb[0][0] * cb[1][1] - cb[0][1] * cb[1][0];
  const long double tr_sqrt = std::sqrt(tr_ab + 2 * std::sqrt(det_a * det_b));
  long double mean_term = 0;
  for (Eigen::Index c = 0; c < 2; ++c) mean_term += (mean_ld(a, c) - mean_ld(b, c)) * (mean_ld(a, c) - mean_ld(b, c));
  const long double expected = mean_term + ca[0][0] + ca[1][1] + cb[0][0] + cb[1][1] - 2 * tr_sqrt;
  CHECK(ldm::frechet_distance(a, b) == Approx(static_cast<double>(expected)).epsilon(1e-11));
}

TEST_CASE("frechet_distance refuses bad shapes and values", "[distances]") {
  const Matrix<double> a = gaussian(6, 10, 3);
  REQUIRE_THROWS_WITH(ldm::frechet_distance(a, gaussian(7, 10, 2)),
                      Contains("ldm::frechet_distance: b must have 3 columns (as a), got 10x2"));
  REQUIRE_THROWS_WITH(ldm::frechet_distance(a, Matrix<double>{{1, 2, 3}}),
                      Contains("b must have at least 2 rows, got 1x3"));
  Matrix<double> bad = a;
  bad(4, 1) = not_a_number;
  REQUIRE_THROWS_WITH(ldm::frechet_distance(bad, a), Contains("a has a non-finite value (nan) at row 4, column 1"));
  REQUIRE_THROWS_AS(ldm::frechet_distance(Matrix<double>(5, 0), Matrix<double>(5, 0)), std::invalid_argument);
}

TEST_CASE("mmd2_rbf of 3 points against 2, by hand", "[distances]") {
  // x = {0, 1, 3}, y = {0.5, 2}, sigma = 1: k(d) = exp(-d^2 / 2).
  const Matrix<double> x = column_of({0, 1, 3});
  const Matrix<double> y = column_of({0.5, 2});
  const auto k = [](long double d) { return std::exp(-d * d / 2); };
  const long double xx = 2 * (k(1) + k(3) + k(2)) / (3 * 2);  // pairs i != j, each twice
  const long double yy = 2 * k(1.5L) / (2 * 1);
  const long double xy = (k(0.5L) + k(2) + k(0.5L) + k(1) + k(2.5L) + k(1)) / (3 * 2);
  const long double expected = xx + yy - 2 * xy;
  CHECK(ldm::mmd2_rbf(x, y, 1.0) == Approx(static_cast<double>(expected)).epsilon(1e-12));
  CHECK(ldm::mmd2_rbf(y, x, 1.0) == Approx(static_cast<double>(expected)).epsilon(1e-12));

  // The same with sigma = 2 (k = exp(-d^2 / 8)) in 2-D, the points on the first axis.
  Matrix<double> x2 = Matrix<double>::Zero(3, 2), y2 = Matrix<double>::Zero(2, 2);
  x2.col(0) = x.col(0);
  y2.col(0) = y.col(0);
  const auto k2 = [](long double d) { return std::exp(-d * d / 8); };
  // xy distances 0.5, 2, 0.5, 1, 2.5, 1.
  const long double expected2 =
      2 * (k2(1) + k2(3) + k2(2)) / 6 + 2 * k2(1.5L) / 2 - 2 * (2 * k2(0.5L) + k2(2) + 2 * k2(1) + k2(2.5L)) / 6;
  CHECK(ldm::mmd2_rbf(x2, y2, 2.0) == Approx(static_cast<double>(expected2)).epsilon(1e-12));
}

TEST_CASE("median_heuristic_bandwidth is the median pooled distance", "[distances]") {
  // Pooled {0, 1, 3, 0.5, 2}: the 10 distances sorted are .5 .5 1 1 1 1.5 2 2 2.5 3; the middle
  // two are 1 and 1.5.
  const Matrix<double> x = column_of({0, 1, 3});
  const Matrix<double> y = column_of({0.5, 2});
  CHECK(ldm::median_heuristic_bandwidth(x, y) == Approx(1.25));
  CHECK(ldm::mmd2_rbf(x, y) == Approx(ldm::mmd2_rbf(x, y, 1.25)).epsilon(1e-14));
  // Capped at 3 points: rows floor(k * 5 / 3) = 0, 1, 3 -> {0, 1, 0.5}: distances 1, .5, .5.
  CHECK(ldm::median_heuristic_bandwidth(x, y, 3) == Approx(0.5));
  // Mostly duplicates: pooled {0, 0, 0, 1, 0, 0} has 10 zero distances of 15; the median of the
  // non-zero ones (all 1) is used. All equal: 1.
  CHECK(ldm::median_heuristic_bandwidth(column_of({0, 0, 0, 1}), column_of({0, 0})) == 1.0);
  CHECK(ldm::median_heuristic_bandwidth(column_of({2, 2}), column_of({2, 2})) == 1.0);
  CHECK(ldm::median_heuristic_bandwidth(column_of({0, 4}), column_of({7})) == Approx(4.0));
  REQUIRE_THROWS_WITH(ldm::median_heuristic_bandwidth(x, y, 1), Contains("max_points must be at least 2, got 1"));
}

TEST_CASE("mmd2_rbf is near 0 for one distribution and positive for shifted ones", "[distances]") {
  const Matrix<double> x = gaussian(10, 300, 4);
  const Matrix<double> y = gaussian(11, 300, 4);
  const Matrix<double> shifted = (gaussian(12, 300, 4).array() + 0.5).matrix();
  const double same = ldm::mmd2_rbf(x, y);
  const double apart = ldm::mmd2_rbf(x, shifted);
  INFO("same " << same << ", shifted " << apart);
  CHECK(std::abs(same) < 0.005);
  CHECK(apart > 0.05);
  // A common translation and a reordering of rows change nothing.
  const Matrix<double> x_moved = (x.colwise().reverse().array() - 2.0).matrix();
  const Matrix<double> shifted_moved = (shifted.array() - 2.0).matrix();
  CHECK(ldm::mmd2_rbf(x_moved, shifted_moved) == Approx(apart).epsilon(1e-10));
}

TEST_CASE("mmd2_rbf refuses bad input", "[distances]") {
  const Matrix<double> x = gaussian(13, 5, 2);
  REQUIRE_THROWS_WITH(ldm::mmd2_rbf(x, x, -1.0), Contains("ldm::mmd2_rbf: bandwidth must be finite and >= 0"));
  REQUIRE_THROWS_WITH(ldm::mmd2_rbf(x, x, not_a_number), Contains("bandwidth must be finite"));
  REQUIRE_THROWS_WITH(ldm::mmd2_rbf(x, Matrix<double>{{1, 2}}), Contains("y must have at least 2 rows, got 1x2"));
  REQUIRE_THROWS_WITH(ldm::mmd2_rbf(x, gaussian(14, 5, 3)), Contains("y must have 2 columns (as x), got 5x3"));
}

TEST_CASE("ks_statistic by hand, with ties", "[distances]") {
  // Ties: at 0, F_a = 3/4 and F_b = 1/4, so 1/2; walking one value at a time would see 3/4.
  CHECK(ldm::ks_statistic(Eigen::Vector4d(0, 0, 0, 1), Eigen::Vector4d(0, 1, 1, 1)) == 0.5);
  // {1, 2, 2, 3} vs {2, 2, 2, 4}: gaps 1/4 at 1, 0 at 2, 1/4 at 3.
  CHECK(ldm::ks_statistic(Eigen::Vector4d(1, 2, 2, 3), Eigen::Vector4d(2, 2, 2, 4)) == 0.25);
  // Sizes 3 and 2: {1, 2, 3} vs {1.5, 2.5}: gaps 1/3, 1/6, 1/6, 1/3, 0.
  CHECK(ldm::ks_statistic(Eigen::Vector3d(1, 2, 3), Eigen::Vector2d(1.5, 2.5)) == Approx(1.0 / 3));
  CHECK(ldm::ks_statistic(Eigen::Vector3d(3, 1, 2), Eigen::Vector3d(2, 3, 1)) == 0.0);
  CHECK(ldm::ks_statistic(Eigen::Vector2d(1, 2), Eigen::Vector3d(3, 4, 5)) == 1.0);
  REQUIRE_THROWS_WITH(ldm::ks_statistic(Eigen::VectorXd(0), Eigen::Vector2d(1, 2)),
                      Contains("a and b must be non-empty"));
}

TEST_CASE("mean_ks averages the columns", "[distances]") {
  const Matrix<double> a = Matrix<double>{{0, 1, 5}, {0, 2, 5}, {0, 2, 5}, {1, 3, 5}};
  const Matrix<double> b = Matrix<double>{{0, 2, 9}, {1, 2, 9}, {1, 2, 9}, {1, 4, 9}};
  // Column 0: 1/2 (above); column 1: 1/4 (above); column 2: disjoint, 1.
  CHECK(ldm::mean_ks(a, b) == Approx((0.5 + 0.25 + 1.0) / 3));
  CHECK(ldm::mean_ks(a, a) == 0.0);
  REQUIRE_THROWS_WITH(ldm::mean_ks(a, gaussian(1, 4, 2)),
                      Contains("ldm::mean_ks: b must have 3 columns (as a), got 4x2"));
}

TEST_CASE("correlation_error by hand, constant columns correlate 0", "[distances]") {
  // a: col 1 = 2 col 0 (corr 1), col 2 constant (corr 0).
  // b: col 1 = 4 - col 0 (corr -1), col 2 = {1, 2, 4}: corr with col 0 = 3 / (sqrt(2) sqrt(42/9))
  //    = 9 / sqrt(84), with col 1 the negative.
  const Matrix<double> a = Matrix<double>{{1, 2, 5}, {2, 4, 5}, {3, 6, 5}};
  const Matrix<double> b = Matrix<double>{{1, 3, 1}, {2, 2, 2}, {3, 1, 4}};
  const double r = 9.0 / std::sqrt(84.0);
  const Matrix<double> ca = ldm::correlation_matrix(a), cb = ldm::correlation_matrix(b);
  CHECK(ca(0, 1) == Approx(1.0));
  CHECK(ca(0, 2) == 0.0);
  CHECK(ca(2, 2) == 1.0);
  CHECK(cb(0, 1) == Approx(-1.0));
  CHECK(cb(0, 2) == Approx(r));
  CHECK(cb(2, 1) == Approx(-r));
  CHECK(ldm::correlation_error(a, b) == Approx((2.0 + r + r) / 3));
  CHECK(ldm::correlation_error(a, a) == 0.0);
  CHECK(ldm::correlation_error(column_of({1, 2}), column_of({3, 1})) == 0.0);  // no pairs
  REQUIRE_THROWS_WITH(ldm::correlation_error(a, Matrix<double>{{1, 2, 3}}),
                      Contains("ldm::correlation_error: b must have at least 2 rows, got 1x3"));
}
