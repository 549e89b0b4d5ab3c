// Tests of ldm/eval/softmax_regression.hpp.

#include <ldm/eval/softmax_regression.hpp>

#include <ldm/core/random.hpp>

#include <catch2/catch.hpp>

using Catch::Matchers::Contains;
using ldm::Matrix;

TEST_CASE("SoftmaxRegression separates blobs and checks its input", "[softmax_regression]") {
  // Three blobs in 2-D, 40 rows each, centres 6 standard deviations apart.
  const Matrix<double> noise = ldm::normal<double>(ldm::make_key(50), 120, 2).values;
  Matrix<double> x(120, 2);
  Eigen::VectorXi labels(120);
  const double centres[3][2] = {{0, 0}, {6, 0}, {0, 6}};
  for (int i = 0; i < 120; ++i) {
    labels(i) = i % 3;
    x(i, 0) = centres[i % 3][0] + noise(i, 0);
    x(i, 1) = centres[i % 3][1] + noise(i, 1);
  }
  ldm::SoftmaxRegression classifier;
  REQUIRE_THROWS_WITH(classifier.predict(x), Contains("call fit() first"));
  classifier.fit(x.topRows(90), labels.head(90));
  CHECK(classifier.num_classes() == 3);
  CHECK(classifier.accuracy(x.topRows(90), labels.head(90)) == 1.0);
  CHECK(classifier.accuracy(x.bottomRows(30), labels.tail(30)) == 1.0);
  const Eigen::VectorXi predicted = classifier.predict(Matrix<double>{{0.2, -0.1}, {5.5, 0.5}, {-0.3, 6.2}});
  CHECK(predicted(0) == 0);
  CHECK(predicted(1) == 1);
  CHECK(predicted(2) == 2);
  const Matrix<double> p = classifier.predict_proba(x);
  CHECK((p.rowwise().sum().array() - 1.0).abs().maxCoeff() < 1e-12);
  CHECK(p.minCoeff() >= 0.0);

  REQUIRE_THROWS_WITH(classifier.predict(ldm::normal<double>(ldm::make_key(1), 2, 3).values),
                      Contains("ldm::SoftmaxRegression::predict: x must have 2 columns, got 2x3"));
  REQUIRE_THROWS_WITH(classifier.fit(x, labels.head(10)), Contains("labels has 10 entries but x has 120 rows"));
  REQUIRE_THROWS_WITH(classifier.fit(x, Eigen::VectorXi::Zero(120)),
                      Contains("labels must name at least 2 classes, got 1"));
  REQUIRE_THROWS_WITH(classifier.fit(x, Eigen::VectorXi::Constant(120, -1)), Contains("labels must be >= 0, got -1"));
}
