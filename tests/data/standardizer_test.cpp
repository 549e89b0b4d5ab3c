#include <ldm/core/visit.hpp>
#include <ldm/data/standardizer.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using Catch::Matchers::Contains;

TEST_CASE("Standardizer::fit gives column means and population standard deviations", "[standardizer]") {
  // Column 0: 1, 2, 3, 6 -> mean 3, population variance (4 + 1 + 0 + 9) / 4 = 3.5.
  // Column 1: -10, 10, -10, 10 -> mean 0, standard deviation 10.
  ldm::Matrix<double> x(4, 2);
  x << 1, -10, 2, 10, 3, -10, 6, 10;
  ldm::Standardizer<double> s;
  REQUIRE_FALSE(s.fitted());
  s.fit(x);
  REQUIRE(s.fitted());
  REQUIRE(s.mean(0) == 3.0);
  REQUIRE(s.mean(1) == 0.0);
  REQUIRE(s.scale(0) == Approx(std::sqrt(3.5)).epsilon(1e-15));
  REQUIRE(s.scale(1) == 10.0);

  const ldm::Matrix<double> z = s.transform(x);
  REQUIRE(z(0, 0) == Approx(-2.0 / std::sqrt(3.5)).epsilon(1e-15));
  REQUIRE(z(3, 0) == Approx(3.0 / std::sqrt(3.5)).epsilon(1e-15));
  REQUIRE(z.col(1) == (ldm::Vector<double>(4) << -1, 1, -1, 1).finished());
  // Standardised training columns have mean 0 and population variance 1.
  REQUIRE(z.colwise().mean().cwiseAbs().maxCoeff() < 1e-15);
  REQUIRE(((z.array().square()).colwise().mean() - 1.0).abs().maxCoeff() < 1e-14);
}

TEST_CASE("a constant column gets scale 1 and maps to exactly 0", "[standardizer]") {
  // 0.1 is not exact in binary: a mean computed as sum / n could miss it and leave a tiny
  // spread; the constant check keeps the column exactly 0 after transform.
  ldm::Matrix<float> x(5, 3);
  x << 0.1f, 7, 1,  //
      0.1f, 7, 2,   //
      0.1f, 7, 3,   //
      0.1f, 7, 4,   //
      0.1f, 7, 5;
  ldm::Standardizer<float> s;
  s.fit(x);
  REQUIRE(s.scale(0) == 1.0f);
  REQUIRE(s.scale(1) == 1.0f);
  REQUIRE(s.mean(0) == 0.1f);
  const ldm::Matrix<float> z = s.transform(x);
  REQUIRE(z.col(0).isZero(0));
  REQUIRE(z.col(1).isZero(0));
  REQUIRE(std::isfinite(z.maxCoeff()));
  REQUIRE(s.inverse(z).col(0) == x.col(0));
  // A single row: every column is constant.
  s.fit(x.topRows(1));
  REQUIRE(s.scale == ldm::Vector<float>::Ones(3));
  REQUIRE(s.transform(x.topRows(1)).isZero(0));
  // A spread that underflows to 0 when squared is treated as constant too.
  ldm::Matrix<double> tiny(2, 1);
  tiny << 0.0, std::numeric_limits<double>::denorm_min();
  ldm::Standardizer<double> t;
  t.fit(tiny);
  REQUIRE(std::isfinite(t.transform(tiny).maxCoeff()));
}

TEST_CASE("inverse undoes transform", "[standardizer]") {
  ldm::Matrix<double> x(6, 4);
  for (Eigen::Index r = 0; r < x.rows(); ++r)
    for (Eigen::Index c = 0; c < x.cols(); ++c) x(r, c) = std::sin(1.7 * r + 0.3 * c) * std::pow(10.0, c) + c;
  ldm::Standardizer<double> s;
  s.fit(x);
  const ldm::Matrix<double> back = s.inverse(s.transform(x));
  REQUIRE((back - x).cwiseAbs().maxCoeff() <= 1e-12 * x.cwiseAbs().maxCoeff());
  // New rows (not the training ones) too, and the buffer variants give the same values.
  const ldm::Matrix<double> y = x.array() * 2.0 - 1.0;
  ldm::Matrix<double> z, w;
  s.transform(y, z);
  s.inverse(z, w);
  REQUIRE(z == s.transform(y));
  REQUIRE((w - y).cwiseAbs().maxCoeff() <= 1e-12 * y.cwiseAbs().maxCoeff());
}

TEST_CASE("Standardizer refuses bad input", "[standardizer]") {
  ldm::Standardizer<float> s;
  REQUIRE_THROWS_WITH(s.transform(ldm::Matrix<float>::Zero(2, 2)), Contains("not fitted"));
  REQUIRE_THROWS_WITH(s.fit(ldm::Matrix<float>(0, 3)),
                      Contains("Standardizer::fit: x must have rows and columns, got 0x3"));
  ldm::Matrix<float> x = ldm::Matrix<float>::Ones(3, 2);
  x(2, 1) = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(s.fit(x), Contains("x(2, 1) = nan is not finite"));
  REQUIRE_FALSE(s.fitted());  // a failed fit changes nothing
  s.fit(ldm::Matrix<float>::Ones(3, 2));
  REQUIRE_THROWS_WITH(s.transform(ldm::Matrix<float>::Zero(2, 3)),
                      Contains("Standardizer::transform: x must have 2 columns, got 2x3"));
  REQUIRE_THROWS_WITH(s.inverse(ldm::Matrix<float>::Zero(2, 1)), Contains("Standardizer::inverse"));
}

TEST_CASE("Standardizer follows the parameter-walking convention", "[standardizer]") {
  ldm::Standardizer<double> s;
  s.fit((ldm::Matrix<double>(2, 3) << 1, 2, 3, 3, 2, 1).finished());
  std::vector<std::string> names;
  s.visit([&](const std::string& name, const auto& p) {
    names.push_back(name);
    REQUIRE(p.size() == 3);
  });
  REQUIRE(names == std::vector<std::string>{"mean", "scale"});
  REQUIRE(ldm::count_parameters(s) == 6);
  ldm::Standardizer<double> copy = ldm::zeros_like(s);
  REQUIRE(copy.mean.isZero(0));
  ldm::visit_together([](const std::string&, auto& a, const auto& b) { a = b; }, copy, s);
  REQUIRE(copy.scale == s.scale);
}
