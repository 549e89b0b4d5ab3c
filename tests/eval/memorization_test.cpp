// Tests of ldm/eval/memorization.hpp.

#include <ldm/eval/memorization.hpp>

#include <ldm/core/random.hpp>

#include <catch2/catch.hpp>

#include <cstdint>

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
