// ldm/data/quantile_normal.hpp: known values (the median to 0, quartiles to their normal
// quantiles, ties to the middle of their probabilities), monotone, the inverse, bounds, NaN.
#include <catch2/catch.hpp>

#include <ldm/data/quantile_normal.hpp>

#include <cmath>
#include <limits>

using namespace ldm;
using Catch::Matchers::Contains;

namespace {
const double missing_value = std::numeric_limits<double>::quiet_NaN();
Matrix<double> column(std::initializer_list<double> values) {
  Matrix<double> m(static_cast<Eigen::Index>(values.size()), 1);
  Eigen::Index i = 0;
  for (double v : values) m(i++, 0) = v;
  return m;
}
}  // namespace

TEST_CASE("quantile-normal maps the median to 0 and the quartiles to the normal's") {
  QuantileNormal<double> q;
  q.fit(column({5, 1, 4, missing_value, 2, 3}), 5);  // NaN is left out: knots 1..5 at 0, 1/4, ..., 1
  REQUIRE(q.quantiles.cols() == 5);
  REQUIRE(q.quantiles.row(0) == Eigen::RowVectorXd{{1, 2, 3, 4, 5}});
  const Matrix<double> z = [&] {
    Matrix<double> out;
    q.transform(column({3, 2, 4, 2.5, missing_value, 1, 5, -10, 10}), out);
    return out;
  }();
  REQUIRE(z(0, 0) == 0.0);
  REQUIRE(z(1, 0) == Approx(-0.6744897501960817).epsilon(1e-14));
  REQUIRE(z(2, 0) == Approx(0.6744897501960817).epsilon(1e-14));
  REQUIRE(z(3, 0) == Approx(detail::normal_quantile(0.375)).epsilon(1e-14));  // halfway, linear
  REQUIRE(std::isnan(z(4, 0)));
  // The ends and beyond: p clipped to [1e-7, 1 - 1e-7], as scikit-learn.
  const double bound = detail::normal_quantile(1e-7);
  REQUIRE(bound == Approx(-5.199337582192817).epsilon(1e-12));
  REQUIRE(z(5, 0) == Approx(bound).epsilon(1e-14));  // not ==: the compiler may fold one with FMA, not the other
  REQUIRE(z(7, 0) == z(5, 0));
  REQUIRE(z(6, 0) == Approx(-bound).epsilon(1e-9));  // 1 - 1e-7 is not exact in binary
  REQUIRE(z(8, 0) == z(6, 0));
}

TEST_CASE("quantile-normal is monotone and its inverse recovers the values") {
  Matrix<double> x = normal<double>(make_key(1), 5000, 2).values;
  x.col(1) = x.col(1).array().exp() * 100;  // a lognormal "price"
  QuantileNormal<float> q;
  q.fit(x, 1000);
  REQUIRE(q.quantiles.rows() == 2);
  REQUIRE(q.quantiles.cols() == 1000);
  Matrix<double> grid(400, 2);
  for (Eigen::Index r = 0; r < 400; ++r) grid.row(r) << -4 + 0.02 * r, 1 + 2.0 * r;
  Matrix<float> z;
  q.transform(grid, z);
  for (Eigen::Index r = 1; r < 400; ++r) REQUIRE((z(r, 0) >= z(r - 1, 0) && z(r, 1) >= z(r - 1, 1)));
  Matrix<float> zx;
  q.transform(x, zx);
  Matrix<double> back;
  q.inverse(zx, back);
  // Float scores: the inverse is as good as float rounding of z allows.
  REQUIRE(((back - x).array().abs() / (x.array().abs() + 1)).maxCoeff() < 1e-3);
  // Normal scores of the training column: mean ~0, std ~1, and the lognormal becomes symmetric.
  const auto mean = zx.col(1).cast<double>().mean();
  REQUIRE(std::abs(mean) < 1e-3);
  REQUIRE(std::sqrt((zx.col(1).cast<double>().array() - mean).square().mean()) == Approx(1).epsilon(0.02));
}

TEST_CASE("tied knots map to the middle of their probabilities, a constant column to 0") {
  QuantileNormal<double> q;
  q.fit(column({1, 1, 1, 2, 3}));  // knots 1, 1, 1, 2, 3: value 1 spans p in [0, 1/2]
  Matrix<double> z;
  q.transform(column({1, 2}), z);
  REQUIRE(z(0, 0) == Approx(detail::normal_quantile(0.25)).epsilon(1e-14));
  REQUIRE(z(1, 0) == Approx(detail::normal_quantile(0.75)).epsilon(1e-14));
  q.fit(column({7, 7, 7}));
  q.transform(column({7}), z);
  REQUIRE(z(0, 0) == 0.0);
  Matrix<double> back;
  q.inverse(Matrix<double>::Constant(1, 1, 1.3), back);
  REQUIRE(back(0, 0) == 7.0);
}

TEST_CASE("quantile-normal refuses bad input") {
  QuantileNormal<float> q;
  Matrix<float> z;
  REQUIRE_THROWS_WITH(q.transform(column({1}), z), Contains("not fitted"));
  REQUIRE_THROWS_WITH(q.fit(Matrix<double>(0, 1)), Contains("rows and columns"));
  REQUIRE_THROWS_WITH(q.fit(column({1, std::numeric_limits<double>::infinity()})), Contains("x(1, 0)"));
  REQUIRE_THROWS_WITH(q.fit(column({1, 2}), 1), Contains("n_quantiles"));
  q.fit(column({1, 2}));
  REQUIRE_THROWS_WITH(q.transform(Matrix<double>::Zero(1, 2), z), Contains("1 columns"));
}
