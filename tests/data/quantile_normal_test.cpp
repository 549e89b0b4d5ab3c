// ldm/data/quantile_normal.hpp: known values (the median to 0, quartiles to their normal
// quantiles, ties to the middle of their probabilities), monotone, the inverse, bounds, NaN.
#include <catch2/catch.hpp>

#include <ldm/data/quantile_normal.hpp>

#include <cmath>
#include <limits>
#include <map>

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

TEST_CASE("between two repeated values the inverse gives the nearer one, never a value in between") {
  QuantileNormal<double> q;
  q.fit(column({1, 1, 1, 2, 2, 2, 2.5, 3, 4, 5}));  // 10 rows, 10 knots at j / 9; 6 distinct: not discrete
  REQUIRE(q.quantiles.row(0) == Eigen::RowVectorXd{{1, 1, 1, 2, 2, 2, 2.5, 3, 4, 5}});
  REQUIRE(!detail::discrete_knots(q.quantiles.row(0)));
  const auto at = [&](double p) {
    Matrix<double> back;
    q.inverse(Matrix<double>::Constant(1, 1, detail::normal_quantile(p)), back);
    return back(0, 0);
  };
  // Knots 2 (the last 1) and 3 (the first 2) are both in runs: p in (2/9, 3/9) snaps.
  REQUIRE(at(2.4 / 9) == 1.0);
  REQUIRE(at(2.6 / 9) == 2.0);
  // 2 -> 2.5 -> 3 -> 4 -> 5: 2.5, 3, 4 and 5 are single, so they are interpolated as before.
  REQUIRE(at(5.5 / 9) == Approx(2.25).epsilon(1e-9));
  REQUIRE(at(8.5 / 9) == Approx(4.5).epsilon(1e-9));
}

TEST_CASE("a column flagged nearest_knot gives only its knots, the others as before") {
  QuantileNormal<double> q;
  Matrix<double> x(5, 2);
  x << 0, 0, 31, 31, 60, 60, 91, 91, 121, 121;  // month starts of 1970, twice: distinct, so not discrete
  q.fit(x);
  Matrix<double> z = Matrix<double>::Constant(1, 2, detail::normal_quantile(0.5 + 0.3 / 4));  // 0.3 past 60
  Matrix<double> back;
  q.inverse(z, back, {true, false});
  CHECK(back(0, 0) == 60);                                   // the nearest knot
  CHECK(back(0, 1) == Approx(60 + 0.3 * 31).epsilon(1e-9));  // interpolated
  q.inverse(z, back);
  CHECK(back(0, 0) == Approx(60 + 0.3 * 31).epsilon(1e-9));
  REQUIRE_THROWS_WITH(q.inverse(z, back, {true}), Contains("nearest_knot has 1 flags for 2 columns"));
}

TEST_CASE("knots are doubles: a date in years comes back to the digit") {
  // Monthly dates, year + (month - 1) / 12, each month twice: float knots would write
  // 2013.41662597656 for 2013.41666666667.
  Matrix<double> x(48, 1);
  for (Eigen::Index r = 0; r < 48; ++r) x(r, 0) = 2013 + static_cast<double>(r / 2) / 12;
  QuantileNormal<float> q;
  q.fit(x, 10000);
  REQUIRE(q.quantiles.cols() == 48);
  REQUIRE(q.quantiles(0, 10) == 2013 + 5.0 / 12);
  Matrix<float> z;
  q.transform(x, z);
  Matrix<double> back;
  q.inverse(z, back);
  REQUIRE(back == x);  // every value is in a run of two, so the inverse snaps to it exactly
  // Anywhere in between, the inverse gives one of the training values.
  Matrix<float> grid(201, 1);
  for (Eigen::Index r = 0; r < 201; ++r) grid(r, 0) = static_cast<float>(-3 + 0.03 * static_cast<double>(r));
  q.inverse(grid, back);
  for (Eigen::Index r = 0; r < 201; ++r) {
    const double months = (back(r, 0) - 2013) * 12;
    REQUIRE(back(r, 0) == 2013 + std::round(months) / 12);
  }
}

TEST_CASE("with a knot per row an outlier's interval gets a row's share of the samples") {
  // 20,000 rows of a column in [0, 1) and one at 100: with 1,000 knots the last interval spans
  // [~1, 100] with 0.1% of the probability; with a knot per row it is 1 / 20,000.
  Matrix<double> x = uniform<double>(make_key(3), 20001, 1).values;
  x(20000, 0) = 100;
  const Matrix<float> z = normal<float>(make_key(4), 100000, 1).values;
  for (const int knots : {1000, 20001}) {
    QuantileNormal<float> q;
    q.fit(x, knots);
    Matrix<double> back;
    q.inverse(z, back);
    const auto far = (back.array() > 2).count();
    if (knots == 1000)
      REQUIRE((far > 50 && far < 150));  // about 100 of 100,000
    else
      REQUIRE(far < 15);  // about 5 of 100,000
  }
}

TEST_CASE("a discrete column comes back as its own values at their frequencies") {
  // Scores 1..4 on 10, 20, 30 and 40 of 100 rows: 4 distinct knots of 100, discrete.
  Matrix<double> x(100, 1);
  for (Eigen::Index r = 0; r < 100; ++r) x(r, 0) = r < 10 ? 1 : r < 30 ? 2 : r < 60 ? 3 : 4.5;
  QuantileNormal<float> q;
  q.fit(x, 10000);
  REQUIRE(detail::discrete_knots(q.quantiles.row(0)));
  const Matrix<float> z = normal<float>(make_key(5), 100000, 1).values;
  Matrix<double> back;
  q.inverse(z, back);
  std::map<double, double> share;
  for (Eigen::Index r = 0; r < back.rows(); ++r) share[back(r, 0)] += 1e-5;
  REQUIRE(share.size() == 4);  // only the training values: never 2.5 or 3.75
  // Nearest of 100 knots at j / 99: 9.5, 20, 30 and 39.5 of the 99 intervals.
  REQUIRE(share[1] == Approx(9.5 / 99).margin(0.005));
  REQUIRE(share[2] == Approx(20.0 / 99).margin(0.005));
  REQUIRE(share[3] == Approx(30.0 / 99).margin(0.005));
  REQUIRE(share[4.5] == Approx(39.5 / 99).margin(0.005));
  // A continuous column (every value distinct) is still interpolated.
  Matrix<double> y(100, 1);
  for (Eigen::Index r = 0; r < 100; ++r) y(r, 0) = static_cast<double>(r * r);
  q.fit(y, 10000);
  REQUIRE(!detail::discrete_knots(q.quantiles.row(0)));
  q.inverse(Matrix<float>::Zero(1, 1), back);
  REQUIRE(back(0, 0) == Approx(0.5 * (49 * 49 + 50 * 50)).epsilon(1e-6));
}
