// Tests of ldm/eval/memorization.hpp.

#include <ldm/eval/memorization.hpp>

#include <ldm/core/random.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <vector>

using Catch::Matchers::Contains;
using ldm::Matrix;

namespace {

Matrix<double> gaussian(std::uint64_t seed, Eigen::Index rows, Eigen::Index cols) {
  return ldm::normal<double>(ldm::make_key(seed), rows, cols).values;
}

}  // namespace

TEST_CASE("memorization on tiny sets, by hand", "[memorization]") {
  const Matrix<double> train = Matrix<double>{{0, 0}, {10, 0}};
  const Matrix<double> holdout = Matrix<double>{{0, 1}, {5, 5}, {20, 20}};
  const Matrix<double> generated = Matrix<double>{
      {0, 0},      // exact copy of a training row: d_train 0 < d_holdout 1       -> 1
      {0, 0.9},    // d_train 0.9 > d_holdout 0.1                                -> 0
      {10, 1},     // d_train 1 < d_holdout sqrt(41)                              -> 1
      {0, 0.5},    // d_train 0.5 == d_holdout 0.5: a tie                         -> 1/2
      {10, 1e-6},  // very near a training row but not a copy                    -> 1
  };
  const ldm::Memorization m = ldm::memorization(generated, train, holdout);
  CHECK(m.nn_share == Approx(3.5 / 5));
  CHECK(m.ideal_share == Approx(2.0 / 5));
  CHECK(m.exact_copies == 1);
}

TEST_CASE("memorization: copies score 1, fresh draws score the ideal share", "[memorization]") {
  const Matrix<double> train = gaussian(20, 300, 3);
  const Matrix<double> holdout = gaussian(21, 200, 3);
  const ldm::Memorization copied = ldm::memorization(train, train, holdout);
  CHECK(copied.nn_share == 1.0);
  CHECK(copied.exact_copies == 300);
  CHECK(copied.ideal_share == Approx(0.6));
  const ldm::Memorization fresh = ldm::memorization(gaussian(22, 500, 3), train, holdout);
  INFO("fresh nn_share " << fresh.nn_share);
  CHECK(fresh.nn_share == Approx(0.6).margin(0.07));
  CHECK(fresh.exact_copies == 0);
  REQUIRE_THROWS_WITH(ldm::memorization(gaussian(23, 4, 2), train, holdout),
                      Contains("ldm::memorization: generated must have 3 columns (as train)"));
  REQUIRE_THROWS_WITH(ldm::memorization(train, train, Matrix<double>(0, 3)),
                      Contains("holdout must have at least 1 rows"));
}

namespace {

// n x d cells from {0, 1, 2, -0.0, NaN}: small enough that rows repeat often.
Matrix<double> coarse(std::uint64_t seed, Eigen::Index n, Eigen::Index d) {
  const Matrix<double> u = ldm::uniform<double>(ldm::make_key(seed), n, d).values;
  const double values[5] = {0.0, 1.0, 2.0, -0.0, std::numeric_limits<double>::quiet_NaN()};
  return u.unaryExpr([&](double x) { return values[std::min(4, static_cast<int>(x * 5))]; });
}

// The definition, pair by pair: rows equal cell by cell, NaN equal to NaN.
std::size_t brute_force_copies(const Matrix<double>& rows, const Matrix<double>& reference) {
  std::size_t copies = 0;
  for (Eigen::Index i = 0; i < rows.rows(); ++i) {
    bool found = false;
    for (Eigen::Index j = 0; j < reference.rows() && !found; ++j) {
      bool same = true;
      for (Eigen::Index c = 0; c < rows.cols() && same; ++c) {
        const double a = rows(i, c), b = reference(j, c);
        same = a == b || (std::isnan(a) && std::isnan(b));
      }
      found = same;
    }
    copies += found ? 1 : 0;
  }
  return copies;
}

// The nearest-record share over the given generated rows, pair by pair.
double brute_force_share(const Matrix<double>& g, const std::vector<Eigen::Index>& rows, const Matrix<double>& train,
                         const Matrix<double>& holdout) {
  const auto nearest = [&](Eigen::Index i, const Matrix<double>& b) {
    double best = std::numeric_limits<double>::infinity();
    for (Eigen::Index j = 0; j < b.rows(); ++j) {
      double d = 0;
      for (Eigen::Index c = 0; c < b.cols(); ++c) d += (g(i, c) - b(j, c)) * (g(i, c) - b(j, c));
      best = std::min(best, d);
    }
    return best;
  };
  double sum = 0;
  for (const Eigen::Index i : rows) {
    const double t = nearest(i, train), h = nearest(i, holdout);
    sum += t < h ? 1.0 : t == h ? 0.5 : 0.0;
  }
  return sum / static_cast<double>(rows.size());
}

}  // namespace

TEST_CASE("count_copies equals the pair-by-pair count, NaN equal to NaN and -0 to 0", "[memorization]") {
  for (const Eigen::Index d : {1, 3, 6}) {
    const Matrix<double> reference = coarse(30 + d, 400, d);
    const Matrix<double> rows = coarse(40 + d, 700, d);
    const std::size_t expected = brute_force_copies(rows, reference);
    INFO("d " << d << ": " << expected << " copies of 700");
    CHECK(expected > 0);
    if (d == 6) CHECK(expected < 700);  // some rows are copies, some are not
    CHECK(ldm::count_copies(rows, reference) == expected);
  }
  // By hand: NaN matches NaN, -0.0 matches 0.0, nothing matches a NaN in a number's place.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Matrix<double> reference = Matrix<double>{{0.0, nan}, {1.0, 2.0}};
  const Matrix<double> rows = Matrix<double>{{-0.0, nan}, {nan, nan}, {1.0, 2.0}, {1.0, nan}, {0.0, -nan}};
  CHECK(ldm::count_copies(rows, reference) == 3);
  CHECK(ldm::count_copies(Matrix<double>(0, 2), reference) == 0);
  REQUIRE_THROWS_WITH(ldm::count_copies(Matrix<double>(1, 3), reference),
                      Contains("ldm::count_copies: rows must have 2 columns (as reference), got 3"));
}

TEST_CASE("memorization on a sample: all rows up to the cap, else a keyed sample of cap rows", "[memorization]") {
  const Matrix<double> train = gaussian(50, 300, 4), holdout = gaussian(51, 200, 4);
  Matrix<double> generated = gaussian(52, 250, 4);
  generated.topRows(40) = train.topRows(40);  // 40 copies
  std::vector<Eigen::Index> all(250);
  std::iota(all.begin(), all.end(), Eigen::Index{0});

  // n <= cap: every row, the same figures as with no cap, and as the pair-by-pair count.
  ldm::MemorizationOptions capped;
  capped.max_rows = 250;
  ldm::MemorizationOptions uncapped;
  uncapped.max_rows = 0;
  const ldm::Memorization a = ldm::memorization(generated, train, holdout, capped);
  const ldm::Memorization b = ldm::memorization(generated, train, holdout, uncapped);
  const ldm::Memorization c = ldm::memorization(generated, train, holdout);  // default cap 2,000
  CHECK(a.nn_rows == 250);
  CHECK(b.nn_rows == 250);
  CHECK(c.nn_rows == 250);
  CHECK(a.nn_share == b.nn_share);
  CHECK(c.nn_share == b.nn_share);
  CHECK(b.nn_share == Approx(brute_force_share(generated, all, train, holdout)).epsilon(1e-15));
  CHECK(b.exact_copies == 40);

  // n > cap: cap distinct rows drawn with the key, the share over exactly those rows; copies
  // still over every row.
  ldm::MemorizationOptions sampled;
  sampled.max_rows = 60;
  sampled.key = ldm::make_key(9);
  const std::vector<Eigen::Index> rows = ldm::detail::nearest_record_rows(250, sampled);
  REQUIRE(rows.size() == 60);
  CHECK(std::adjacent_find(rows.begin(), rows.end(), std::greater_equal<>()) == rows.end());  // increasing
  CHECK(rows.front() >= 0);
  CHECK(rows.back() < 250);
  const ldm::Memorization s = ldm::memorization(generated, train, holdout, sampled);
  CHECK(s.nn_rows == 60);
  CHECK(s.nn_share == Approx(brute_force_share(generated, rows, train, holdout)).epsilon(1e-15));
  CHECK(s.exact_copies == 40);
  CHECK(ldm::memorization(generated, train, holdout, sampled).nn_share == s.nn_share);  // deterministic
  sampled.key = ldm::make_key(10);
  CHECK(ldm::detail::nearest_record_rows(250, sampled) != rows);  // another key, other rows
}

TEST_CASE("memorization at 50,000 x 50,000 x 10: copies exact, the share on 2,000 rows", "[memorization]") {
  // 50,000 generated rows (the first 1,000 copies of training rows), 50,000 training and
  // 50,000 held-out rows of 10 columns. Not timed here; the README quotes the time.
  const Matrix<double> train = gaussian(60, 50000, 10), holdout = gaussian(61, 50000, 10);
  Matrix<double> generated = gaussian(62, 50000, 10);
  generated.topRows(1000) = train.bottomRows(1000);
  const ldm::Memorization m = ldm::memorization(generated, train, holdout);
  CHECK(m.nn_rows == 2000);
  CHECK(m.exact_copies == 1000);
  CHECK(m.ideal_share == 0.5);
  // 2% copies (share 1) and 98% fresh rows (share about 1/2): 0.51, to a standard error of 0.011.
  CHECK(m.nn_share == Approx(0.51).margin(0.04));
}
