#include <catch2/catch.hpp>

#include <ldm/nn/vae.hpp>

#include "support/gradcheck.hpp"

using namespace ldm;
using Catch::Matchers::Contains;

TEST_CASE("kl_divergence: known values") {
  Matrix<double> mu = Matrix<double>::Zero(3, 4), lv = Matrix<double>::Zero(3, 4);
  REQUIRE(kl_divergence(mu, lv) == 0);  // the prior itself
  mu.setConstant(1);
  REQUIRE(kl_divergence(mu, lv) == Approx(2.0));  // 0.5 mu^2 per dimension, 4 dimensions
  mu.setZero();
  lv.setConstant(std::log(2.0));
  // per dimension -0.5 (1 + ln 2 - 2) = 0.5 (1 - ln 2)
  REQUIRE(kl_divergence(mu, lv) == Approx(4 * 0.5 * (1 - std::log(2.0))).epsilon(1e-14));
  Matrix<float> one_row(1, 1), lv_row(1, 1);
  one_row << 3;
  lv_row << 0;
  REQUIRE(kl_divergence(one_row, lv_row) == Approx(4.5f));
}

TEST_CASE("kl_divergence: gradient matches finite differences") {
  Matrix<double> mu = normal<double>(make_key(1), 5, 3).values;
  Matrix<double> lv = normal<double>(make_key(2), 5, 3).values;
  Matrix<double> d_mu = Matrix<double>::Zero(5, 3), d_lv = Matrix<double>::Zero(5, 3);
  kl_divergence_backward(mu, lv, 2.0, d_mu, d_lv);
  const auto loss = [&] { return 2.0 * kl_divergence(mu, lv); };
  REQUIRE(ldm_test::relative_error(d_mu, ldm_test::numeric_gradient(mu, loss)) < 1e-8);
  REQUIRE(ldm_test::relative_error(d_lv, ldm_test::numeric_gradient(lv, loss)) < 1e-8);
}

TEST_CASE("kl_divergence: mismatched shapes and empty batches throw") {
  Matrix<double> a(2, 3), b(2, 4), e(0, 3);
  a.setZero();
  b.setZero();
  REQUIRE_THROWS_WITH(kl_divergence(a, b), Contains("mu is 2x3") && Contains("log_var is 2x4"));
  REQUIRE_THROWS_WITH(kl_divergence(e, e), Contains("empty"));
}

TEST_CASE("reparameterize: z = mu + exp(log_var / 2) eps with eps from the key") {
  Matrix<double> mu(2, 3), lv(2, 3);
  mu << 1, 2, 3, 4, 5, 6;
  lv << 0, std::log(4.0), -2, 1, 0, 0;
  const auto [z, next] = reparameterize(mu, lv, make_key(42));
  const auto eps = normal<double>(make_key(42), 2, 3);
  REQUIRE(next == eps.key);
  REQUIRE(next != make_key(42));
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c)
      REQUIRE(z(r, c) == Approx(mu(r, c) + std::exp(lv(r, c) / 2) * eps.values(r, c)).epsilon(1e-15));
  // Same key, same z; log_var -> -inf collapses z onto mu.
  REQUIRE(reparameterize(mu, lv, make_key(42)).values == z);
  lv.setConstant(-200);
  REQUIRE((reparameterize(mu, lv, make_key(3)).values - mu).cwiseAbs().maxCoeff() < 1e-40);
}

TEST_CASE("reparameterize: gradient with respect to mu and log_var") {
  Matrix<double> mu = normal<double>(make_key(5), 4, 3).values;
  Matrix<double> lv = normal<double>(make_key(6), 4, 3).values;
  const Matrix<double> r = normal<double>(make_key(7), 4, 3).values;
  const Key key = make_key(8);
  const auto loss = [&] { return (reparameterize(mu, lv, key).values.array() * r.array()).sum(); };
  Matrix<double> eps, z;
  reparameterize_into(mu, lv, key, eps, z);
  Matrix<double> d_mu = Matrix<double>::Zero(4, 3), d_lv = Matrix<double>::Zero(4, 3);
  reparameterize_backward(lv, eps, r, d_mu, d_lv);
  REQUIRE(ldm_test::relative_error(d_mu, ldm_test::numeric_gradient(mu, loss)) < 1e-8);
  REQUIRE(ldm_test::relative_error(d_lv, ldm_test::numeric_gradient(lv, loss)) < 1e-8);
}

TEST_CASE("reparameterize: mismatched shapes throw") {
  Matrix<float> mu = Matrix<float>::Zero(2, 3), lv = Matrix<float>::Zero(3, 3);
  REQUIRE_THROWS_WITH(reparameterize(mu, lv, make_key(0)),
                      Contains("reparameterize") && Contains("mu is 2x3") && Contains("log_var is 3x3"));
}
