// Tests of ldm/eval/c2st.hpp: roc_auc and the classifier two-sample test.

#include <ldm/eval/c2st.hpp>

#include <ldm/core/random.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>

using Catch::Matchers::Contains;
using ldm::Matrix;

namespace {

Matrix<double> gaussian(std::uint64_t seed, Eigen::Index rows, Eigen::Index cols) {
  return ldm::normal<double>(ldm::make_key(seed), rows, cols).values;
}

const double not_a_number = std::numeric_limits<double>::quiet_NaN();

}  // namespace

TEST_CASE("roc_auc by hand, with ties", "[c2st]") {
  using Eigen::VectorXd;
  using Eigen::VectorXi;
  CHECK(ldm::roc_auc(Eigen::Vector4d(0.1, 0.4, 0.35, 0.8), Eigen::Vector4i(0, 0, 1, 1)) == Approx(0.75));
  // Positives {0.5, 0.9} vs negatives {0.5, 0.2}: 1/2 (the tie) + 1 + 1 + 1 of 4 pairs.
  CHECK(ldm::roc_auc(Eigen::Vector4d(0.5, 0.5, 0.2, 0.9), Eigen::Vector4i(1, 0, 0, 1)) == Approx(0.875));
  CHECK(ldm::roc_auc(Eigen::Vector4d(1, 1, 1, 1), Eigen::Vector4i(1, 0, 0, 1)) == 0.5);
  CHECK(ldm::roc_auc(Eigen::Vector3d(1, 2, 3), Eigen::Vector3i(0, 1, 1)) == 1.0);
  CHECK(ldm::roc_auc(Eigen::Vector3d(1, 2, 3), Eigen::Vector3i(1, 1, 0)) == 0.0);

  // Against the pairwise count on integer scores with many ties.
  const Matrix<double> u = ldm::uniform<double>(ldm::make_key(30), 2, 60).values;
  VectorXd scores(60);
  VectorXi labels(60);
  for (int i = 0; i < 60; ++i) {
    scores(i) = std::floor(u(0, i) * 5);
    labels(i) = u(1, i) < 0.4 ? 1 : 0;
  }
  double wins = 0, pairs = 0;
  for (int i = 0; i < 60; ++i)
    for (int j = 0; j < 60; ++j)
      if (labels(i) == 1 && labels(j) == 0) {
        pairs += 1;
        wins += scores(i) > scores(j) ? 1.0 : scores(i) == scores(j) ? 0.5 : 0.0;
      }
  CHECK(ldm::roc_auc(scores, labels) == Approx(wins / pairs).epsilon(1e-14));

  REQUIRE_THROWS_WITH(ldm::roc_auc(Eigen::Vector3d(1, 2, 3), Eigen::Vector2i(0, 1)),
                      Contains("ldm::roc_auc: scores has 3 entries but labels has 2"));
  REQUIRE_THROWS_WITH(ldm::roc_auc(Eigen::Vector3d(1, 2, 3), Eigen::Vector3i(0, 2, 1)),
                      Contains("labels must be 0 or 1, got 2 at index 1"));
  REQUIRE_THROWS_WITH(ldm::roc_auc(Eigen::Vector3d(1, 2, 3), Eigen::Vector3i(1, 1, 1)),
                      Contains("labels must contain both 0 and 1, got 3 ones among 3"));
  // A dynamic vector: GCC 12 warns (-Warray-bounds) about the AVX-512 copy of a fixed Vector2d
  // into roc_auc's VectorXd, on a branch that never runs for 2 entries.
  Eigen::VectorXd with_nan(2);
  with_nan << 1, not_a_number;
  REQUIRE_THROWS_WITH(ldm::roc_auc(with_nan, Eigen::Vector2i(0, 1)), Contains("scores has a non-finite value"));
}

TEST_CASE("c2st_auc is ~0.5 for one distribution and ~1 for separated sets", "[c2st]") {
  // 200 rows x 8 columns a side and 30 epochs keep this quick under the sanitizers (the digits
  // case in evaluate_test.cpp runs the default 100). Over 6 other seeds: same in [0.45, 0.53],
  // apart >= 0.99.
  const Matrix<double> real = gaussian(40, 200, 8);
  const Matrix<double> same = gaussian(41, 200, 8);
  Matrix<double> apart = gaussian(42, 200, 8);
  apart.col(0).array() += 4.0;  // one column moved by 4 standard deviations
  const ldm::C2stOptions options{.epochs = 30};
  const double auc_same = ldm::c2st_auc(real, same, ldm::make_key(7), options);
  const double auc_apart = ldm::c2st_auc(real, apart, ldm::make_key(7), options);
  INFO("same " << auc_same << ", apart " << auc_apart);
  CHECK(auc_same == Approx(0.5).margin(0.1));
  CHECK(auc_apart > 0.95);
}

TEST_CASE("c2st_auc is deterministic from the key and validates its input", "[c2st]") {
  const Matrix<double> real = gaussian(43, 60, 3);
  const Matrix<double> synth = (gaussian(44, 50, 3).array() * 2.0).matrix();
  const ldm::C2stOptions quick{.folds = 3, .hidden = 16, .epochs = 20, .batch_size = 32};
  const double first = ldm::c2st_auc(real, synth, ldm::make_key(1), quick);
  CHECK(ldm::c2st_auc(real, synth, ldm::make_key(1), quick) == first);
  CHECK(first > 0.0);
  CHECK(first <= 1.0);

  REQUIRE_THROWS_WITH(ldm::c2st_auc(real, synth, ldm::make_key(1), {.folds = 1}),
                      Contains("ldm::c2st_auc: options.folds must be at least 2, got 1"));
  REQUIRE_THROWS_WITH(ldm::c2st_auc(real, synth, ldm::make_key(1), {.epochs = 0}),
                      Contains("options.epochs must be positive, got 0"));
  REQUIRE_THROWS_WITH(ldm::c2st_auc(real, synth, ldm::make_key(1), {.lr = -1}),
                      Contains("options.lr must be finite and > 0"));
  REQUIRE_THROWS_WITH(ldm::c2st_auc(real, synth.topRows(4), ldm::make_key(1)),
                      Contains("synth must have at least 5 rows, got 4x3"));
  REQUIRE_THROWS_WITH(ldm::c2st_auc(real, gaussian(45, 50, 2), ldm::make_key(1)),
                      Contains("synth must have 3 columns (as real), got 50x2"));
}
