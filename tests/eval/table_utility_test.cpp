// Tests of ldm/eval/table_utility.hpp.

#include <ldm/eval/table_utility.hpp>

#include <ldm/core/random.hpp>

#include <catch2/catch.hpp>

#include "support/mixed_tables.hpp"

using Catch::Matchers::Contains;
using ldm::Matrix;
using namespace ldm_test;  // the shared test helpers

namespace {

const std::vector<ldm::Column> blob_columns{numeric_column("x"), categorical_column("g", {"p", "q"}),
                                            categorical_column("label", {"lo", "hi"}, true)};

// Rows of two blobs 8 standard deviations apart in x; label is the blob, g is noise.
ldm::Table blobs(std::uint64_t seed, Eigen::Index n) {
  const Matrix<double> noise = ldm::normal<double>(ldm::make_key(seed), n, 2).values;
  Matrix<double> cells(n, 3);
  for (Eigen::Index r = 0; r < n; ++r) {
    const double label = static_cast<double>(r % 2);
    cells(r, 0) = 8.0 * label + noise(r, 0);
    cells(r, 1) = noise(r, 1) > 0 ? 1 : 0;
    cells(r, 2) = label;
  }
  return make_table(blob_columns, cells);
}

}  // namespace

TEST_CASE("utility: a separable categorical target is learnt from both tables", "[table_utility]") {
  ldm::Table train = blobs(1, 200);
  train.cells(3, 2) = NA;  // rows with a missing target are left out
  const ldm::TableUtility u = ldm::table_utility(train, blobs(2, 100), blobs(3, 150), "label");
  CHECK(u.target == "label");
  CHECK(u.metric == "accuracy");
  CHECK(u.test_rows == 100);
  CHECK(u.real == Approx(1.0).margin(0.02));
  CHECK(u.synthetic == Approx(1.0).margin(0.02));

  // Synthetic rows of one class: the model predicts that class, right on half the rows.
  ldm::Table one_class = blobs(4, 50);
  one_class.cells.col(2).setZero();
  CHECK(ldm::table_utility(train, blobs(2, 100), one_class, "label").synthetic == Approx(0.5));
}

TEST_CASE("utility: R^2 of ridge regression in known cases", "[table_utility]") {
  const std::vector<ldm::Column> columns{numeric_column("x"), numeric_column("y")};
  Matrix<double> line(20, 2);
  for (int r = 0; r < 20; ++r) line.row(r) << r, 2.0 * r + 1.0;
  const ldm::Table train = make_table(columns, line);
  const ldm::Table held_out = make_table(columns, line.bottomRows(10));
  // Synthetic x constant: no information, the model predicts the mean y of its rows. Chosen
  // equal to the held-out mean (2 * 14.5 + 1 = 30), R^2 is exactly 0.
  Matrix<double> flat(4, 2);
  flat << 3, 28, 3, 32, 3, 29, 3, 31;
  const ldm::TableUtility u = ldm::table_utility(train, held_out, make_table(columns, flat), "y");
  CHECK(u.metric == "r2");
  CHECK(u.synthetic == Approx(0.0).margin(1e-12));
  CHECK(u.real == Approx(1.0).margin(1e-3));  // a straight line, shrunk by lambda = 1e-3 only

  // By hand: ridge on x' = (x - 9.5) / sd gives w = cov(x', y) / (1 + lambda).
  const ldm::RidgeRegression m = ldm::ridge_fit(line.col(0), line.col(1), 0.5);
  const double sd = std::sqrt((line.col(0).array() - 9.5).square().mean());
  CHECK(m.intercept == Approx(20.0));
  CHECK(m.weights(0) == Approx(2.0 * sd / 1.5));
}

TEST_CASE("utility checks its input", "[table_utility]") {
  const ldm::Table t = blobs(5, 20);
  REQUIRE_THROWS_WITH(ldm::table_utility(t, t, t, "labl"),
                      Contains("ldm::table_utility: target: no column named 'labl'; the columns are: x, g, label"));
  ldm::Table no_target = t;
  no_target.cells.col(2).setConstant(NA);
  REQUIRE_THROWS_WITH(ldm::table_utility(t, no_target, t, "label"),
                      Contains("target 'label' is missing on every row of held_out"));
  ldm::Table constant = t;
  constant.cells.col(0).setConstant(2);
  REQUIRE_THROWS_WITH(ldm::table_utility(t, constant, t, "x"),
                      Contains("target 'x' is constant on the held-out rows: R^2 is undefined"));
  const ldm::Table single = make_table({numeric_column("x")}, Matrix<double>{{1}, {2}});
  REQUIRE_THROWS_WITH(ldm::table_utility(single, single, single, "x"),
                      Contains("target 'x' is the only column: no features"));
  REQUIRE_THROWS_WITH(ldm::ridge_fit(Matrix<double>{{1}}, Eigen::VectorXd::Ones(1), 0.0),
                      Contains("ldm::ridge_fit: lambda must be finite and > 0, got 0"));
}
