#include <ldm/diffusion/schedule.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <type_traits>
#include <vector>

using Catch::Matchers::Contains;

namespace {

// The schedule recomputed independently in long double, straight from the definitions.
struct Reference {
  std::vector<long double> betas, abar, posterior;
};

Reference reference_schedule(const ldm::ScheduleOptions& o) {
  const int T = o.num_steps;
  Reference r;
  for (int i = 0; i < T; ++i) {
    const long double frac = T == 1 ? 0.0L : static_cast<long double>(i) / (T - 1);
    long double beta = 0;
    if (o.beta_schedule == ldm::BetaSchedule::linear) {
      beta = o.beta_start + (static_cast<long double>(o.beta_end) - o.beta_start) * frac;
    } else if (o.beta_schedule == ldm::BetaSchedule::scaled_linear) {
      const long double a = std::sqrt(static_cast<long double>(o.beta_start));
      const long double b = std::sqrt(static_cast<long double>(o.beta_end));
      beta = (a + (b - a) * frac) * (a + (b - a) * frac);
    } else {
      const long double pi = 3.141592653589793238462643383279L;
      auto f = [&](long double t) {
        const long double c = std::cos((t + 0.008L) / 1.008L * pi / 2);
        return c * c;
      };
      beta = std::min(1 - f(static_cast<long double>(i + 1) / T) / f(static_cast<long double>(i) / T), 0.999L);
    }
    r.betas.push_back(beta);
  }
  long double product = 1;
  for (int i = 0; i < T; ++i) {
    const long double previous = product;
    product *= 1 - r.betas[i];
    r.abar.push_back(product);
    r.posterior.push_back(r.betas[i] * (1 - previous) / (1 - product));
  }
  return r;
}

template <class S>
void check_against_reference(const ldm::ScheduleOptions& o, double rel) {
  const auto s = ldm::make_schedule<S>(o);
  const Reference r = reference_schedule(o);
  REQUIRE(s.num_steps == o.num_steps);
  for (const auto* v : {&s.betas, &s.alphas, &s.alphas_cumprod, &s.sqrt_alphas_cumprod,
                        &s.sqrt_one_minus_alphas_cumprod, &s.posterior_variance})
    REQUIRE(v->size() == o.num_steps);
  REQUIRE(s.alphas_cumprod_f64.size() == o.num_steps);
  for (int t = 0; t < o.num_steps; ++t) {
    INFO("t = " << t);
    const auto b = static_cast<double>(r.betas[t]);
    const auto ab = static_cast<double>(r.abar[t]);
    CHECK(double(s.betas(t)) == Approx(b).epsilon(rel));
    CHECK(double(s.alphas(t)) == Approx(1 - b).epsilon(rel));
    CHECK(double(s.alphas_cumprod(t)) == Approx(ab).epsilon(rel));
    CHECK(s.alphas_cumprod_f64(t) == Approx(ab).epsilon(1e-12));
    CHECK(double(s.sqrt_alphas_cumprod(t)) == Approx(std::sqrt(ab)).epsilon(rel));
    CHECK(double(s.sqrt_one_minus_alphas_cumprod(t)) == Approx(std::sqrt(1 - ab)).epsilon(rel));
    CHECK(double(s.posterior_variance(t)) == Approx(static_cast<double>(r.posterior[t])).epsilon(rel).margin(1e-30));
  }
}

template <class S>
void check_monotone(const ldm::Schedule<S>& s) {
  for (int t = 1; t < s.num_steps; ++t) {
    INFO("t = " << t);
    REQUIRE(s.betas(t) >= s.betas(t - 1));
    REQUIRE(s.alphas_cumprod_f64(t) < s.alphas_cumprod_f64(t - 1));
    REQUIRE(s.alphas_cumprod(t) <= s.alphas_cumprod(t - 1));
  }
  REQUIRE(s.posterior_variance(0) == S(0));
}

}  // namespace

TEST_CASE("linear schedule matches a long double computation", "[schedule]") {
  check_against_reference<double>({}, 1e-12);
  check_against_reference<float>({}, 2e-6);
  check_against_reference<double>({.num_steps = 37, .beta_start = 3e-4, .beta_end = 0.2}, 1e-12);
}

TEST_CASE("linear default hits the known end points", "[schedule]") {
  const auto s = ldm::make_schedule<float>({.num_steps = 1000, .beta_start = 1e-4, .beta_end = 0.02});
  REQUIRE(s.num_steps == 1000);
  REQUIRE(s.betas(0) == Approx(1e-4).epsilon(1e-6));
  REQUIRE(s.betas(999) == Approx(0.02).epsilon(1e-6));
  REQUIRE(s.alphas_cumprod(0) == Approx(0.9999).epsilon(1e-7));
  REQUIRE(s.alphas_cumprod_f64(0) == Approx(0.9999).epsilon(1e-15));
  // DESIGN.md: abar[999] ~ 4.04e-5 (4.03583e-5 exactly).
  REQUIRE(s.alphas_cumprod_f64(999) == Approx(4.0358e-5).epsilon(1e-4));
  REQUIRE(double(s.alphas_cumprod(999)) == Approx(4.0358e-5).epsilon(1e-4));
  REQUIRE(s.posterior_variance(0) == 0.0f);
  // Later posterior variances sit just below beta_t: beta_t (1 - abar_{t-1}) / (1 - abar_t).
  REQUIRE(s.posterior_variance(1) < s.betas(1));
  REQUIRE(s.posterior_variance(999) == Approx(s.betas(999)).epsilon(1e-3));
  check_monotone(s);
}

TEST_CASE("scaled_linear schedule is the square of a linspace of square roots", "[schedule]") {
  const ldm::ScheduleOptions o{
      .num_steps = 1000, .beta_start = 0.00085, .beta_end = 0.012, .beta_schedule = ldm::BetaSchedule::scaled_linear};
  check_against_reference<double>(o, 1e-12);
  check_against_reference<float>(o, 2e-6);
  const auto s = ldm::make_schedule<double>(o);
  REQUIRE(s.betas(0) == Approx(0.00085).epsilon(1e-14));
  REQUIRE(s.betas(999) == Approx(0.012).epsilon(1e-14));
  // Midpoint: ((sqrt(a) + sqrt(b)) / 2)^2 lies below the linear midpoint (a + b) / 2.
  const double mid = (std::sqrt(0.00085) + std::sqrt(0.012)) / 2;
  const auto linear = ldm::make_schedule<double>({.num_steps = 3, .beta_start = 0.00085, .beta_end = 0.012});
  const auto scaled = ldm::make_schedule<double>(
      {.num_steps = 3, .beta_start = 0.00085, .beta_end = 0.012, .beta_schedule = ldm::BetaSchedule::scaled_linear});
  REQUIRE(scaled.betas(1) == Approx(mid * mid).epsilon(1e-14));
  REQUIRE(scaled.betas(1) < linear.betas(1));
  check_monotone(s);
}

TEST_CASE("cosine schedule follows Nichol & Dhariwal with beta capped at 0.999", "[schedule]") {
  const ldm::ScheduleOptions o{.num_steps = 1000, .beta_schedule = ldm::BetaSchedule::cosine};
  check_against_reference<double>(o, 1e-12);
  check_against_reference<float>(o, 2e-6);
  const auto s = ldm::make_schedule<double>(o);
  REQUIRE(s.betas(999) == 0.999);  // the cap
  REQUIRE(s.betas(998) < 0.999);
  // abar_t tracks f(t+1) / f(0) while the cap is inactive (the product telescopes).
  auto f = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * std::numbers::pi / 2), 2); };
  REQUIRE(s.alphas_cumprod_f64(499) == Approx(f(0.5) / f(0.0)).epsilon(1e-12));
  check_monotone(s);
  // beta_start and beta_end are ignored: out-of-range values do not matter.
  const auto same = ldm::make_schedule<double>(
      {.num_steps = 1000, .beta_start = -5, .beta_end = 7, .beta_schedule = ldm::BetaSchedule::cosine});
  REQUIRE(same.betas == s.betas);
}

TEST_CASE("a one-step schedule is just beta_start", "[schedule]") {
  const auto s = ldm::make_schedule<double>({.num_steps = 1, .beta_start = 0.3, .beta_end = 0.5});
  REQUIRE(s.betas.size() == 1);
  REQUIRE(s.betas(0) == 0.3);
  REQUIRE(s.alphas_cumprod(0) == Approx(0.7));
  REQUIRE(s.posterior_variance(0) == 0.0);
}

TEST_CASE("make_schedule rejects bad options", "[schedule]") {
  using ldm::make_schedule;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_AS(make_schedule<float>({.num_steps = 0}), std::invalid_argument);
  REQUIRE_THROWS_WITH(make_schedule<float>({.num_steps = 0}), Contains("num_steps") && Contains("got 0"));
  REQUIRE_THROWS_WITH(make_schedule<float>({.num_steps = -3}), Contains("num_steps") && Contains("-3"));
  REQUIRE_THROWS_WITH(make_schedule<float>({.beta_start = 0.0}), Contains("beta_start must be in (0, 1), got 0"));
  REQUIRE_THROWS_WITH(make_schedule<float>({.beta_start = -1e-4}), Contains("beta_start"));
  REQUIRE_THROWS_WITH(make_schedule<float>({.beta_end = 1.0}), Contains("beta_end must be in (0, 1), got 1"));
  REQUIRE_THROWS_WITH(make_schedule<float>({.beta_end = 1.5}), Contains("beta_end") && Contains("1.5"));
  REQUIRE_THROWS_WITH(make_schedule<float>({.beta_start = nan}), Contains("beta_start") && Contains("nan"));
  REQUIRE_THROWS_WITH(make_schedule<float>({.beta_end = nan}), Contains("beta_end") && Contains("nan"));
  REQUIRE_THROWS_WITH(make_schedule<float>({.beta_start = 0.02, .beta_end = 1e-4}),
                      Contains("beta_start must be <= beta_end") && Contains("0.02") && Contains("0.0001"));
  REQUIRE_THROWS_WITH(
      make_schedule<float>({.beta_start = 0.5, .beta_end = 1.2, .beta_schedule = ldm::BetaSchedule::scaled_linear}),
      Contains("beta_end"));
  REQUIRE_THROWS_WITH(make_schedule<float>({.beta_schedule = static_cast<ldm::BetaSchedule>(7)}),
                      Contains("beta_schedule") && Contains("got 7"));
  REQUIRE_THROWS_AS(make_schedule<double>({.num_steps = 0, .beta_schedule = ldm::BetaSchedule::cosine}),
                    std::invalid_argument);
}

TEMPLATE_TEST_CASE("add_noise and velocity match a hand computation", "[schedule]", float, double) {
  using S = TestType;
  const auto s = ldm::make_schedule<S>({.num_steps = 10, .beta_start = 0.05, .beta_end = 0.3});
  const Reference r = reference_schedule({.num_steps = 10, .beta_start = 0.05, .beta_end = 0.3});
  ldm::Matrix<S> z0(3, 2), eps(3, 2);
  z0 << 1.0, -2.0, 0.5, 3.0, -1.5, 0.25;
  eps << 0.3, 0.7, -1.1, 0.2, 2.0, -0.4;
  Eigen::VectorXi t(3);
  t << 0, 9, 4;
  const ldm::Matrix<S> z_t = ldm::add_noise(s, z0, t, eps);
  const ldm::Matrix<S> v = ldm::velocity(s, z0, t, eps);
  const double tol = std::is_same_v<S, float> ? 1e-6 : 1e-14;
  for (int b = 0; b < 3; ++b)
    for (int c = 0; c < 2; ++c) {
      const long double a = std::sqrt(r.abar[t(b)]), sig = std::sqrt(1 - r.abar[t(b)]);
      const long double x = z0(b, c), e = eps(b, c);
      CHECK(double(z_t(b, c)) == Approx(static_cast<double>(a * x + sig * e)).epsilon(tol));
      CHECK(double(v(b, c)) == Approx(static_cast<double>(a * e - sig * x)).epsilon(tol).margin(tol));
    }
  // The identities the samplers use: z0 = sqrt(abar) z_t - sqrt(1 - abar) v and
  // eps = sqrt(abar) v + sqrt(1 - abar) z_t.
  for (int b = 0; b < 3; ++b) {
    const S a = s.sqrt_alphas_cumprod(t(b)), sig = s.sqrt_one_minus_alphas_cumprod(t(b));
    for (int c = 0; c < 2; ++c) {
      CHECK(double(a * z_t(b, c) - sig * v(b, c)) == Approx(double(z0(b, c))).epsilon(10 * tol));
      CHECK(double(a * v(b, c) + sig * z_t(b, c)) == Approx(double(eps(b, c))).epsilon(10 * tol));
    }
  }
  // The buffer forms give the same numbers, also when writing over an input.
  ldm::Matrix<S> out;
  ldm::add_noise(s, z0, t, eps, out);
  REQUIRE(out == z_t);
  ldm::Matrix<S> in_place = z0;
  ldm::add_noise(s, in_place, t, eps, in_place);
  REQUIRE(in_place == z_t);
  ldm::velocity(s, z0, t, eps, out);
  REQUIRE(out == v);
}

TEST_CASE("add_noise and velocity reject bad shapes and timesteps", "[schedule]") {
  const auto s = ldm::make_schedule<float>({.num_steps = 10});
  const ldm::Matrix<float> z0 = ldm::Matrix<float>::Ones(3, 2), eps = ldm::Matrix<float>::Ones(3, 2);
  Eigen::VectorXi t = Eigen::VectorXi::Zero(3);
  ldm::Matrix<float> out;
  t(1) = 10;
  REQUIRE_THROWS_WITH(ldm::add_noise(s, z0, t, eps),
                      Contains("add_noise") && Contains("t(1) must be in [0, 10), got 10"));
  t(1) = -1;
  REQUIRE_THROWS_WITH(ldm::velocity(s, z0, t, eps, out), Contains("velocity") && Contains("got -1"));
  REQUIRE_THROWS_WITH(ldm::add_noise(s, z0, Eigen::VectorXi::Zero(2), eps),
                      Contains("one timestep per row") && Contains("(3), got 2"));
  REQUIRE_THROWS_WITH(ldm::add_noise(s, z0, Eigen::VectorXi::Zero(3), ldm::Matrix<float>::Ones(3, 3)),
                      Contains("z0 is 3x2 but eps is 3x3"));
  REQUIRE_THROWS_WITH(ldm::velocity(s, z0, Eigen::VectorXi::Zero(3), ldm::Matrix<float>::Ones(2, 2)),
                      Contains("velocity") && Contains("eps is 2x2"));
  REQUIRE_NOTHROW(ldm::add_noise(s, z0, Eigen::VectorXi::Zero(3), eps, out));
  REQUIRE(out.rows() == 3);
}
