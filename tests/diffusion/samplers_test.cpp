// Eigen's allocation guard (a forbidden Eigen heap allocation throws, in Release too), so a test
// can prove the sampling loop allocates nothing.
#include "support/no_malloc.hpp"

#include <ldm/diffusion/samplers.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

using Catch::Matchers::Contains;
using LD = long double;

namespace {

// ---------------------------------------------------------------------------------------------
// Helpers

LD abar_at(const ldm::Schedule<double>& s, int t) { return t < 0 ? 1.0L : static_cast<LD>(s.alphas_cumprod_f64(t)); }

struct Recorded {
  int step, num_steps, t;
  ldm::Matrix<double> z;
};

// A toy network with a closed form: eps(z, t) = 0.3 z + 0.1 (t + 1) (or the same as v). It
// checks that every row gets the same, current timestep.
struct LinearModel {
  std::vector<int> seen;
  ldm::Matrix<double> operator()(const ldm::Matrix<double>& z, const Eigen::VectorXi& t) {
    REQUIRE(t.size() == z.rows());
    REQUIRE((t.array() == t(0)).all());
    seen.push_back(t(0));
    return (0.3 * z.array() + 0.1 * (t(0) + 1)).matrix();
  }
};

LD linear_model(LD z, int t) { return 0.3L * z + 0.1L * (t + 1); }

ldm::Matrix<double> start_latents() {
  ldm::Matrix<double> x(3, 2);
  x << 1.2, -0.7, 0.05, 2.1, -1.6, 0.4;
  return x;
}

// x0_hat and eps_hat by hand, in long double, from the prediction conventions.
struct Hat {
  LD x0, eps;
};
Hat hat(LD z, LD out, LD abar, ldm::Prediction p, LD clip = 0) {
  const LD a = std::sqrt(abar), b = std::sqrt(1 - abar);
  Hat h = p == ldm::Prediction::epsilon ? Hat{(z - b * out) / a, out} : Hat{a * z - b * out, a * out + b * z};
  if (clip > 0) {
    h.x0 = std::clamp(h.x0, -clip, clip);
    h.eps = (z - a * h.x0) / b;
  }
  return h;
}

ldm::StepCallback<double> recorder(std::vector<Recorded>& log) {
  return [&log](int step, int n, int t, const ldm::Matrix<double>& z) { log.push_back({step, n, t, z}); };
}

void require_close(const ldm::Matrix<double>& got, const ldm::Matrix<LD>& want, double tol = 1e-12) {
  REQUIRE(got.rows() == want.rows());
  REQUIRE(got.cols() == want.cols());
  for (Eigen::Index r = 0; r < got.rows(); ++r)
    for (Eigen::Index c = 0; c < got.cols(); ++c) {
      INFO("(" << r << ", " << c << ")");
      CHECK(got(r, c) == Approx(static_cast<double>(want(r, c))).epsilon(tol).margin(tol));
    }
}

// The exact network for data x0 ~ N(m_c, s_c^2) independently per column c.
// z_t = a x0 + b eps with a = sqrt(abar), b = sqrt(1 - abar) is Gaussian with mean a m and
// variance a^2 s^2 + b^2, and Cov(eps, z_t) = b, Cov(x0, z_t) = a s^2. For jointly Gaussian
// variables E[u | z] = E[u] + Cov(u, z) / Var(z) (z - E[z]), so
//   eps*(z_t, t) = b (z_t - a m) / (abar s^2 + 1 - abar),
//   x0*(z_t, t)  = m + a s^2 (z_t - a m) / (abar s^2 + 1 - abar),
//   v*(z_t, t)   = a eps* - b x0*  (v is linear in eps and x0).
// These are the minimisers of the training losses, so a sampler fed them should reproduce
// N(m, s^2) up to its own discretisation error. It writes into a buffer it owns and returns a
// reference, like an allocation-free network.
template <class S>
struct GaussianOracle {
  const ldm::Schedule<S>& schedule;
  std::vector<double> m, s;
  ldm::Prediction prediction = ldm::Prediction::epsilon;
  ldm::Matrix<S> out{};

  const ldm::Matrix<S>& operator()(const ldm::Matrix<S>& z, const Eigen::VectorXi& t) {
    out.resize(z.rows(), z.cols());
    for (Eigen::Index r = 0; r < z.rows(); ++r) {
      const double abar = schedule.alphas_cumprod_f64(t(r));
      const double a = std::sqrt(abar), b = std::sqrt(1 - abar);
      for (Eigen::Index c = 0; c < z.cols(); ++c) {
        const double mc = m[c], sc = s[c];
        const double centred = static_cast<double>(z(r, c)) - a * mc;
        const double denom = abar * sc * sc + 1 - abar;
        const double eps = b * centred / denom;
        const double x0 = mc + a * sc * sc * centred / denom;
        out(r, c) = static_cast<S>(prediction == ldm::Prediction::epsilon ? eps : a * eps - b * x0);
      }
    }
    return out;
  }
};

struct ColumnStats {
  double mean, std;
};
template <class S>
ColumnStats column_stats(const ldm::Matrix<S>& x, Eigen::Index c) {
  const Eigen::ArrayXd col = x.col(c).template cast<double>().array();
  const double mean = col.mean();
  return {mean, std::sqrt((col - mean).square().sum() / static_cast<double>(col.size() - 1))};
}

// Data N(0.8, 0.7^2) in column 0 (narrower than the prior) and N(-1.2, 1.6^2) in column 1
// (wider), so a sampler that shrinks or inflates the spread fails one of them.
const std::vector<double> kMean{0.8, -1.2}, kStd{0.7, 1.6};
// Tolerances for every sampler: |mean - m| < 0.05 and |std / s - 1| < 5%.
constexpr double kMeanTol = 0.05, kStdRelTol = 0.05;

ColumnStats require_gaussian(const ldm::Matrix<float>& x, Eigen::Index c) {
  const ColumnStats st = column_stats(x, c);
  INFO("column " << c << ": mean " << st.mean << " (want " << kMean[c] << "), std " << st.std << " (want " << kStd[c]
                 << ", ratio " << st.std / kStd[c] << ")");
  CHECK(std::abs(st.mean - kMean[c]) < kMeanTol);
  CHECK(std::abs(st.std / kStd[c] - 1) < kStdRelTol);
  return st;
}

void require_gaussian(const ldm::Matrix<float>& x) {
  REQUIRE(x.allFinite());
  for (Eigen::Index c = 0; c < 2; ++c) require_gaussian(x, c);
}

// x_T ~ N(0, I) [rows, 2], each column then shifted and scaled to sample mean 0 and sample std
// 1 exactly. DDIM and DPM-Solver++ are deterministic and, for Gaussian data, affine in x_T,
// so their sample mean and std are then exactly the solver's: the tolerances measure the
// solver and not the luck of the draw. DDPM adds fresh noise every step; for it, many rows
// keep the draw's error small (s / sqrt(16000) = 0.013 on the mean, 0.6% on the std).
ldm::Matrix<float> standard_start(Eigen::Index rows, std::uint64_t seed) {
  ldm::Matrix<float> x = ldm::normal<float>(ldm::make_key(seed), rows, 2).values;
  for (Eigen::Index c = 0; c < 2; ++c) {
    const ColumnStats st = column_stats(x, c);
    x.col(c) = ((x.col(c).array() - static_cast<float>(st.mean)) / static_cast<float>(st.std)).matrix();
  }
  return x;
}

ldm::Draw<float> run_oracle(const ldm::SamplerOptions& o, Eigen::Index rows = 4000, std::uint64_t seed = 7) {
  const auto schedule = ldm::make_schedule<float>();
  GaussianOracle<float> oracle{schedule, kMean, kStd, o.prediction};
  return ldm::sample(oracle, schedule, standard_start(rows, seed), ldm::make_key(seed + 1), o);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// timesteps

TEST_CASE("timesteps follow diffusers' spacing rules", "[samplers]") {
  using ldm::TimestepSpacing;
  SECTION("T = 1000, N = 50") {
    const auto leading = ldm::timesteps(1000, 50, TimestepSpacing::leading);
    const auto trailing = ldm::timesteps(1000, 50, TimestepSpacing::trailing);
    const auto linspace = ldm::timesteps(1000, 50, TimestepSpacing::linspace);
    REQUIRE(leading.size() == 50);
    REQUIRE(trailing.size() == 50);
    REQUIRE(linspace.size() == 50);
    for (int i = 0; i < 50; ++i) {
      CHECK(leading[i] == 980 - 20 * i);   // arange(50) * 20, reversed
      CHECK(trailing[i] == 999 - 20 * i);  // round(arange(1000, 0, -20)) - 1
    }
    // round(linspace(0, 999, 50)) reversed: step 999/49 = 20.3878.
    CHECK(linspace[0] == 999);
    CHECK(linspace[1] == 979);   // 978.61
    CHECK(linspace[24] == 510);  // 25 * 20.3878 = 509.69
    CHECK(linspace[48] == 20);   // 20.39
    CHECK(linspace[49] == 0);
  }
  SECTION("uneven splits and ties (numpy rounds half to even)") {
    CHECK(ldm::timesteps(1000, 3, TimestepSpacing::leading) == std::vector<int>{666, 333, 0});
    // arange(1000, 0, -333.33) = 1000, 666.67, 333.33 -> 1000, 667, 333 -> minus 1.
    CHECK(ldm::timesteps(1000, 3, TimestepSpacing::trailing) == std::vector<int>{999, 666, 332});
    // linspace(0, 999, 3) = 0, 499.5, 999 and 499.5 rounds to 500.
    CHECK(ldm::timesteps(1000, 3, TimestepSpacing::linspace) == std::vector<int>{999, 500, 0});
    // arange(10, 0, -2.5) = 10, 7.5, 5, 2.5 -> 10, 8, 5, 2 -> minus 1.
    CHECK(ldm::timesteps(10, 4, TimestepSpacing::trailing) == std::vector<int>{9, 7, 4, 1});
    CHECK(ldm::timesteps(10, 4, TimestepSpacing::leading) == std::vector<int>{6, 4, 2, 0});
    // linspace(0, 9, 4) = 0, 3, 6, 9.
    CHECK(ldm::timesteps(10, 4, TimestepSpacing::linspace) == std::vector<int>{9, 6, 3, 0});
    // numpy's float arange would give 62 entries here (the last one -1); we give exactly 61.
    const auto t61 = ldm::timesteps(1000, 61, TimestepSpacing::trailing);
    REQUIRE(t61.size() == 61);
    CHECK(t61.front() == 999);
    CHECK(t61.back() == 15);  // round(1000 / 61 = 16.39) - 1
  }
  SECTION("one step and every step") {
    CHECK(ldm::timesteps(1000, 1, TimestepSpacing::leading) == std::vector<int>{0});
    CHECK(ldm::timesteps(1000, 1, TimestepSpacing::trailing) == std::vector<int>{999});
    CHECK(ldm::timesteps(1000, 1, TimestepSpacing::linspace) == std::vector<int>{0});
    for (auto sp : {TimestepSpacing::leading, TimestepSpacing::trailing, TimestepSpacing::linspace}) {
      const auto all = ldm::timesteps(7, 7, sp);
      CHECK(all == std::vector<int>{6, 5, 4, 3, 2, 1, 0});
    }
  }
  SECTION("always N distinct descending entries in [0, T)") {
    for (int T : {1, 2, 7, 100, 1000})
      for (int N = 1; N <= T; N += (T > 100 ? 37 : 1))
        for (auto sp : {TimestepSpacing::leading, TimestepSpacing::trailing, TimestepSpacing::linspace}) {
          const auto ts = ldm::timesteps(T, N, sp);
          INFO("T " << T << " N " << N << " spacing " << static_cast<int>(sp));
          REQUIRE(ts.size() == static_cast<std::size_t>(N));
          REQUIRE(ts.front() < T);
          REQUIRE(ts.back() >= 0);
          for (int i = 1; i < N; ++i) REQUIRE(ts[i] < ts[i - 1]);
        }
  }
  SECTION("DPM-Solver++ drops t = 0 for leading and linspace") {
    const auto leading = ldm::dpmpp_timesteps(1000, 20, TimestepSpacing::leading);
    const auto linspace = ldm::dpmpp_timesteps(1000, 20, TimestepSpacing::linspace);
    const auto trailing = ldm::dpmpp_timesteps(1000, 20, TimestepSpacing::trailing);
    REQUIRE(leading.size() == 20);
    REQUIRE(linspace.size() == 20);
    for (int i = 0; i < 20; ++i) {
      CHECK(leading[i] == 47 * (20 - i));  // arange(21) * (1000 // 21), reversed, last dropped
      CHECK(trailing[i] == 999 - 50 * i);  // as timesteps()
    }
    CHECK(linspace.front() == 999);  // round(linspace(0, 999, 21)) reversed, last dropped
    CHECK(linspace[1] == 949);       // 949.05
    CHECK(linspace.back() == 50);    // 49.95
    CHECK(ldm::dpmpp_timesteps(5, 5, TimestepSpacing::leading) == std::vector<int>{4, 3, 2, 1, 0});
    REQUIRE_THROWS_WITH(ldm::dpmpp_timesteps(5, 0, TimestepSpacing::leading), Contains("got 0"));
  }
  SECTION("bad arguments") {
    REQUIRE_THROWS_WITH(ldm::timesteps(1000, 0, TimestepSpacing::leading),
                        Contains("timesteps: num_steps must be in [1, 1000], got 0"));
    REQUIRE_THROWS_WITH(ldm::timesteps(1000, 1001, TimestepSpacing::leading), Contains("got 1001"));
    REQUIRE_THROWS_WITH(ldm::timesteps(0, 1, TimestepSpacing::leading), Contains("train_steps must be >= 1, got 0"));
    REQUIRE_THROWS_WITH(ldm::timesteps(10, 2, static_cast<TimestepSpacing>(5)),
                        Contains("spacing") && Contains("got 5"));
  }
}

// ---------------------------------------------------------------------------------------------
// One step of each sampler against a hand computation in long double

TEST_CASE("DDIM steps match a hand computation", "[samplers]") {
  const auto sched = ldm::make_schedule<double>({.num_steps = 10, .beta_start = 0.05, .beta_end = 0.3});
  const ldm::Matrix<double> x_T = start_latents();
  const ldm::Key key = ldm::make_key(42);

  SECTION("eta = 0, epsilon: first step, last step, callback and key") {
    LinearModel model;
    std::vector<Recorded> log;
    const auto out = ldm::ddim_sample(model, sched, x_T, key, {.num_steps = 5}, recorder(log));
    // leading, T = 10, N = 5: 8, 6, 4, 2, 0.
    REQUIRE(model.seen == std::vector<int>{8, 6, 4, 2, 0});
    REQUIRE(log.size() == 5);
    for (int i = 0; i < 5; ++i) {
      CHECK(log[i].step == i);
      CHECK(log[i].num_steps == 5);
      CHECK(log[i].t == model.seen[i]);
    }
    ldm::Matrix<LD> want(3, 2), last(3, 2);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 2; ++c) {
        // Step 0: t = 8 -> prev 6: z = sqrt(abar_6) x0 + sqrt(1 - abar_6) eps.
        const LD z = x_T(r, c);
        const Hat h = hat(z, linear_model(z, 8), abar_at(sched, 8), ldm::Prediction::epsilon);
        want(r, c) = std::sqrt(abar_at(sched, 6)) * h.x0 + std::sqrt(1 - abar_at(sched, 6)) * h.eps;
        // Last step: t = 0 -> abar_prev = 1, so the result is x0_hat(z, 0).
        const LD z3 = log[3].z(r, c);
        last(r, c) = hat(z3, linear_model(z3, 0), abar_at(sched, 0), ldm::Prediction::epsilon).x0;
      }
    require_close(log[0].z, want);
    require_close(out.values, last);
    REQUIRE(out.values == log[4].z);
    REQUIRE(out.key == key);  // nothing drawn
  }

  SECTION("eta = 0.7 draws sigma-scaled noise from the running key") {
    LinearModel model;
    std::vector<Recorded> log;
    const double eta = 0.7;
    const auto out = ldm::ddim_sample(
        model, sched, x_T, key, {.num_steps = 5, .eta = eta, .spacing = ldm::TimestepSpacing::trailing}, recorder(log));
    REQUIRE(model.seen == std::vector<int>{9, 7, 5, 3, 1});
    // Steps 0..3 draw (sigma > 0), the last step (abar_prev = 1) does not.
    ldm::Matrix<double> noise(3, 2);
    const ldm::Key k1 = ldm::fill_normal(key, noise);
    ldm::Key k = k1;
    for (int i = 0; i < 3; ++i) {
      ldm::Matrix<double> unused(3, 2);
      k = ldm::fill_normal(k, unused);
    }
    REQUIRE(out.key == k);
    const LD at = abar_at(sched, 9), ap = abar_at(sched, 7);
    const LD sigma = eta * std::sqrt((1 - ap) / (1 - at) * (1 - at / ap));
    ldm::Matrix<LD> want(3, 2);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 2; ++c) {
        const LD z = x_T(r, c);
        const Hat h = hat(z, linear_model(z, 9), at, ldm::Prediction::epsilon);
        want(r, c) = std::sqrt(ap) * h.x0 + std::sqrt(1 - ap - sigma * sigma) * h.eps + sigma * noise(r, c);
      }
    require_close(log[0].z, want);
  }

  SECTION("v prediction") {
    LinearModel model;  // read as v(z, t) this time
    std::vector<Recorded> log;
    ldm::ddim_sample(model, sched, x_T, key,
                     {.num_steps = 2, .spacing = ldm::TimestepSpacing::linspace, .prediction = ldm::Prediction::v},
                     recorder(log));
    REQUIRE(model.seen == std::vector<int>{9, 0});
    ldm::Matrix<LD> want(3, 2);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 2; ++c) {
        const LD z = x_T(r, c);
        const Hat h = hat(z, linear_model(z, 9), abar_at(sched, 9), ldm::Prediction::v);
        want(r, c) = std::sqrt(abar_at(sched, 0)) * h.x0 + std::sqrt(1 - abar_at(sched, 0)) * h.eps;
      }
    require_close(log[0].z, want);
  }

  SECTION("clip_x0 clamps x0_hat and re-derives eps from it") {
    // eps = -4 z pushes x0_hat = (z + 4 sigma z) / alpha far outside [-1, 1].
    auto far_out = [](const ldm::Matrix<double>& z, const Eigen::VectorXi&) -> ldm::Matrix<double> { return -4.0 * z; };
    std::vector<Recorded> log;
    const auto out = ldm::ddim_sample(far_out, sched, x_T, key, {.num_steps = 5, .clip_x0 = 1.0}, recorder(log));
    ldm::Matrix<LD> want(3, 2);
    int clipped = 0;
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 2; ++c) {
        const LD z = x_T(r, c);
        const Hat raw = hat(z, -4 * z, abar_at(sched, 8), ldm::Prediction::epsilon);
        clipped += std::abs(raw.x0) > 1;
        const Hat h = hat(z, -4 * z, abar_at(sched, 8), ldm::Prediction::epsilon, 1.0L);
        want(r, c) = std::sqrt(abar_at(sched, 6)) * h.x0 + std::sqrt(1 - abar_at(sched, 6)) * h.eps;
      }
    REQUIRE(clipped >= 4);  // the test exercises the clamp
    require_close(log[0].z, want);
    // The last step returns x0_hat itself, so the sample lies inside the bound.
    REQUIRE(out.values.cwiseAbs().maxCoeff() <= 1.0);
    // Without clipping the same run leaves the bound far behind.
    const auto free = ldm::ddim_sample(far_out, sched, x_T, key, {.num_steps = 5});
    REQUIRE(free.values.cwiseAbs().maxCoeff() > 2.0);
  }
}

TEST_CASE("DDPM steps match a hand computation", "[samplers]") {
  const auto sched = ldm::make_schedule<double>({.num_steps = 10, .beta_start = 0.05, .beta_end = 0.3});
  const ldm::Matrix<double> x_T = start_latents();
  const ldm::Key key = ldm::make_key(3);
  for (auto variance : {ldm::VarianceType::fixed_small, ldm::VarianceType::fixed_large}) {
    for (auto prediction : {ldm::Prediction::epsilon, ldm::Prediction::v}) {
      INFO("variance " << static_cast<int>(variance) << " prediction " << static_cast<int>(prediction));
      LinearModel model;
      std::vector<Recorded> log;
      // num_steps and spacing are ignored: DDPM visits every training timestep.
      const auto out = ldm::ddpm_sample(
          model, sched, x_T, key, {.num_steps = 3, .variance = variance, .prediction = prediction}, recorder(log));
      REQUIRE(model.seen == std::vector<int>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
      REQUIRE(log.size() == 10);
      CHECK(log[9].num_steps == 10);
      // One draw per step with t > 0: nine chained fill_normal calls.
      ldm::Matrix<double> noise(3, 2), unused(3, 2);
      ldm::Key k = ldm::fill_normal(key, noise);
      for (int i = 1; i < 9; ++i) k = ldm::fill_normal(k, unused);
      REQUIRE(out.key == k);
      // Step 0: t = 9, prev = 8 (Ho et al. 2020, eq. 7).
      const LD at = abar_at(sched, 9), ap = abar_at(sched, 8);
      const LD alpha_step = at / ap, beta_step = 1 - alpha_step;
      const LD var = variance == ldm::VarianceType::fixed_small ? (1 - ap) / (1 - at) * beta_step : beta_step;
      ldm::Matrix<LD> want(3, 2), last(3, 2);
      for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 2; ++c) {
          const LD z = x_T(r, c);
          const Hat h = hat(z, linear_model(z, 9), at, prediction);
          want(r, c) = std::sqrt(ap) * beta_step / (1 - at) * h.x0 + std::sqrt(alpha_step) * (1 - ap) / (1 - at) * z +
                       std::sqrt(var) * noise(r, c);
          // t = 0: abar_prev = 1, so mean = x0_hat and no noise.
          const LD z8 = log[8].z(r, c);
          last(r, c) = hat(z8, linear_model(z8, 0), abar_at(sched, 0), prediction).x0;
        }
      require_close(log[0].z, want);
      require_close(out.values, last, 1e-11);
    }
  }
}

TEST_CASE("DPM-Solver++(2M) steps match a hand computation", "[samplers]") {
  const auto sched = ldm::make_schedule<double>({.num_steps = 10, .beta_start = 0.05, .beta_end = 0.3});
  const ldm::Matrix<double> x_T = start_latents();
  const ldm::Key key = ldm::make_key(5);
  for (auto prediction : {ldm::Prediction::epsilon, ldm::Prediction::v}) {
    INFO("prediction " << static_cast<int>(prediction));
    LinearModel model;
    std::vector<Recorded> log;
    const auto out =
        ldm::dpmpp_2m_sample(model, sched, x_T, key, {.num_steps = 4, .prediction = prediction}, recorder(log));
    // dpmpp_timesteps(10, 4, leading): 8, 6, 4, 2, 0 without the 0.
    REQUIRE(model.seen == std::vector<int>{8, 6, 4, 2});
    REQUIRE(out.key == key);
    auto alpha = [&](int t) { return std::sqrt(abar_at(sched, t)); };
    auto sigma = [&](int t) { return std::sqrt(1 - abar_at(sched, t)); };
    auto lambda = [&](int t) { return std::log(alpha(t) / sigma(t)); };
    ldm::Matrix<LD> first(3, 2), second(3, 2), last(3, 2);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 2; ++c) {
        // Step 0 (first order), 8 -> 6: z = (sigma_6/sigma_8) z - alpha_6 (e^-h - 1) D0.
        const LD z = x_T(r, c);
        const LD d_8 = hat(z, linear_model(z, 8), abar_at(sched, 8), prediction).x0;
        const LD h0 = lambda(6) - lambda(8);
        first(r, c) = sigma(6) / sigma(8) * z - alpha(6) * (std::exp(-h0) - 1) * d_8;
        // Step 1 (second order, midpoint), 6 -> 4, from the recorded z after step 0.
        const LD z1 = log[0].z(r, c);
        const LD d_6 = hat(z1, linear_model(z1, 6), abar_at(sched, 6), prediction).x0;
        const LD h = lambda(4) - lambda(6), r0 = (lambda(6) - lambda(8)) / h;
        const LD D1 = (d_6 - d_8) / r0;
        second(r, c) =
            sigma(4) / sigma(6) * z1 - alpha(4) * (std::exp(-h) - 1) * d_6 - 0.5L * alpha(4) * (std::exp(-h) - 1) * D1;
        // Last step (first order) 2 -> clean: sigma = 0, e^-h = 0, so z = x0_hat.
        const LD z2 = log[2].z(r, c);
        last(r, c) = hat(z2, linear_model(z2, 2), abar_at(sched, 2), prediction).x0;
      }
    require_close(log[0].z, first);
    require_close(log[1].z, second);
    require_close(out.values, last);
  }
}

TEST_CASE("every sampler keeps a clipped sample inside the bound", "[samplers]") {
  const auto sched = ldm::make_schedule<double>({.num_steps = 20});
  auto far_out = [](const ldm::Matrix<double>& z, const Eigen::VectorXi&) -> ldm::Matrix<double> { return -3.0 * z; };
  for (auto kind : {ldm::SamplerKind::ddpm, ldm::SamplerKind::ddim, ldm::SamplerKind::dpmpp_2m}) {
    INFO("kind " << static_cast<int>(kind));
    const ldm::SamplerOptions clipped{.kind = kind, .num_steps = 10, .eta = 0.5, .clip_x0 = 1.5};
    const auto out = ldm::sample(far_out, sched, 64, 3, ldm::make_key(11), clipped);
    CHECK(out.values.cwiseAbs().maxCoeff() <= 1.5);
    ldm::SamplerOptions free = clipped;
    free.clip_x0 = 0;
    CHECK(ldm::sample(far_out, sched, 64, 3, ldm::make_key(11), free).values.cwiseAbs().maxCoeff() > 3);
  }
}

// ---------------------------------------------------------------------------------------------
// Distribution: the exact network of a Gaussian data set

// DDIM is a first-order solver: for this Gaussian its 50-step map narrows the spread by 4.4%
// (s = 0.7) and 3.1% (s = 1.6) on the default linear schedule, DDIM-1000 by 0.3% (closed form of
// the same affine recurrences). DPM-Solver++(2M)-20 is within 1.5%. So both pass the 5% bound
// with some room, and the next case shows DDIM's error shrinking with the step count.
TEST_CASE("DDIM-50 with the exact network reproduces N(m, s^2)", "[samplers]") {
  for (auto spacing : {ldm::TimestepSpacing::leading, ldm::TimestepSpacing::trailing, ldm::TimestepSpacing::linspace})
    for (auto prediction : {ldm::Prediction::epsilon, ldm::Prediction::v}) {
      INFO("spacing " << static_cast<int>(spacing) << " prediction " << static_cast<int>(prediction));
      require_gaussian(
          run_oracle({.kind = ldm::SamplerKind::ddim, .num_steps = 50, .spacing = spacing, .prediction = prediction})
              .values);
    }
}

TEST_CASE("DDIM's narrowing shrinks as the step count grows", "[samplers]") {
  double previous = 0;
  for (int steps : {10, 20, 50, 200}) {
    const auto x = run_oracle({.kind = ldm::SamplerKind::ddim, .num_steps = steps}).values;
    const double ratio = column_stats(x, 0).std / kStd[0];
    INFO("DDIM-" << steps << ": std ratio " << ratio);
    CHECK(ratio < 1.0);
    CHECK(ratio > previous);
    previous = ratio;
  }
  CHECK(previous > 0.985);  // DDIM-200
}

TEST_CASE("DPM-Solver++(2M)-20 with the exact network reproduces N(m, s^2)", "[samplers]") {
  for (auto spacing : {ldm::TimestepSpacing::leading, ldm::TimestepSpacing::trailing, ldm::TimestepSpacing::linspace})
    for (auto prediction : {ldm::Prediction::epsilon, ldm::Prediction::v}) {
      INFO("spacing " << static_cast<int>(spacing) << " prediction " << static_cast<int>(prediction));
      require_gaussian(
          run_oracle(
              {.kind = ldm::SamplerKind::dpmpp_2m, .num_steps = 20, .spacing = spacing, .prediction = prediction})
              .values);
    }
}

TEST_CASE("DDIM with eta = 1 over every timestep is DDPM fixed_small", "[samplers]") {
  // Song et al. 2021, sec. 4.1: sigma with eta = 1 is the DDPM posterior, and both samplers
  // draw one fill_normal per step with t > 0 from the running key, so the runs coincide.
  const auto sched = ldm::make_schedule<double>({.num_steps = 30, .beta_start = 1e-3, .beta_end = 0.2});
  GaussianOracle<double> oracle{sched, kMean, kStd};
  const ldm::Key key = ldm::make_key(17);
  const auto ddpm = ldm::ddpm_sample(oracle, sched, 50, 2, key);
  const auto ddim = ldm::ddim_sample(oracle, sched, 50, 2, key, {.num_steps = 30, .eta = 1.0});
  REQUIRE(ddim.key == ddpm.key);
  REQUIRE((ddim.values - ddpm.values).cwiseAbs().maxCoeff() < 1e-12);
  // DDPM is stochastic: another key, other samples.
  const auto other = ldm::ddpm_sample(oracle, sched, 50, 2, ldm::make_key(18));
  REQUIRE((other.values - ddpm.values).cwiseAbs().maxCoeff() > 0.1);
  // eta = 0 is another process altogether.
  const auto det = ldm::ddim_sample(oracle, sched, 50, 2, key, {.num_steps = 30});
  REQUIRE((det.values - ddpm.values).cwiseAbs().maxCoeff() > 0.1);
}

TEST_CASE("DDIM with eta 0 is deterministic", "[samplers]") {
  const auto schedule = ldm::make_schedule<float>();
  GaussianOracle<float> oracle{schedule, kMean, kStd};
  const ldm::Matrix<float> x_T = standard_start(500, 1);
  const ldm::SamplerOptions ddim{.kind = ldm::SamplerKind::ddim, .num_steps = 50};
  const auto a = ldm::sample(oracle, schedule, x_T, ldm::make_key(2), ddim);
  const auto b = ldm::sample(oracle, schedule, x_T, ldm::make_key(99), ddim);
  REQUIRE(a.values == b.values);  // the key plays no part
  REQUIRE(a.key == ldm::make_key(2));
  REQUIRE(b.key == ldm::make_key(99));
  // With eta > 0 the key matters.
  ldm::SamplerOptions noisy = ddim;
  noisy.eta = 0.5;
  const auto c = ldm::sample(oracle, schedule, x_T, ldm::make_key(2), noisy);
  const auto d = ldm::sample(oracle, schedule, x_T, ldm::make_key(99), noisy);
  REQUIRE((c.values - d.values).cwiseAbs().maxCoeff() > 0.1f);
}

// 8000 rows keep the draw's error on DDPM's statistics small: s / sqrt(8000) = 0.018 on the
// mean (s = 1.6), about 0.8% on the std.
TEST_CASE("DDPM-1000 with the exact network reproduces N(m, s^2)", "[samplers][slow]") {
  using V = ldm::VarianceType;
  using P = ldm::Prediction;
  for (auto [variance, prediction] : {std::pair{V::fixed_small, P::epsilon}, std::pair{V::fixed_large, P::epsilon},
                                      std::pair{V::fixed_small, P::v}}) {
    INFO("variance " << static_cast<int>(variance) << " prediction " << static_cast<int>(prediction));
    require_gaussian(
        run_oracle({.kind = ldm::SamplerKind::ddpm, .variance = variance, .prediction = prediction}, 8000).values);
  }
}

TEST_CASE("DDIM-1000 with eta 0 agrees with DDPM-1000 in distribution", "[samplers][slow]") {
  const auto schedule = ldm::make_schedule<float>();
  GaussianOracle<float> oracle{schedule, kMean, kStd};
  const ldm::Matrix<float> x_T = standard_start(8000, 1);
  const auto ddim =
      ldm::sample(oracle, schedule, x_T, ldm::make_key(2), {.kind = ldm::SamplerKind::ddim, .num_steps = 1000});
  const auto ddpm = ldm::sample(oracle, schedule, x_T, ldm::make_key(2), {.kind = ldm::SamplerKind::ddpm});
  for (Eigen::Index c = 0; c < 2; ++c) {
    const ColumnStats sa = require_gaussian(ddim.values, c), sd = require_gaussian(ddpm.values, c);
    INFO("column " << c << ": DDIM mean " << sa.mean << " std " << sa.std << ", DDPM mean " << sd.mean << " std "
                   << sd.std);
    CHECK(std::abs(sa.mean - sd.mean) < kMeanTol);
    CHECK(std::abs(sa.std / sd.std - 1) < kStdRelTol);
  }
}

// ---------------------------------------------------------------------------------------------
// Plumbing: overloads, determinism, allocation, bad options

TEST_CASE("the rows overloads draw x_T from the key first", "[samplers]") {
  const auto sched = ldm::make_schedule<float>({.num_steps = 50});
  GaussianOracle<float> oracle{sched, kMean, kStd};
  const ldm::Key key = ldm::make_key(123);
  const auto x_T = ldm::normal<float>(key, 16, 2);
  for (auto kind : {ldm::SamplerKind::ddpm, ldm::SamplerKind::ddim, ldm::SamplerKind::dpmpp_2m}) {
    INFO("kind " << static_cast<int>(kind));
    const ldm::SamplerOptions o{.kind = kind, .num_steps = 10, .eta = 0.3};
    const auto from_rows = ldm::sample(oracle, sched, 16, 2, key, o);
    const auto from_x = ldm::sample(oracle, sched, x_T.values, x_T.key, o);
    REQUIRE(from_rows.values == from_x.values);
    REQUIRE(from_rows.key == from_x.key);
    // The named functions agree with the dispatcher.
    ldm::Draw<float> named;
    if (kind == ldm::SamplerKind::ddpm) named = ldm::ddpm_sample(oracle, sched, 16, 2, key, o);
    if (kind == ldm::SamplerKind::ddim) named = ldm::ddim_sample(oracle, sched, 16, 2, key, o);
    if (kind == ldm::SamplerKind::dpmpp_2m) named = ldm::dpmpp_2m_sample(oracle, sched, 16, 2, key, o);
    REQUIRE(named.values == from_rows.values);
    REQUIRE(named.key == from_rows.key);
    // Same key, same samples; a stochastic sampler moves the key on.
    REQUIRE(ldm::sample(oracle, sched, 16, 2, key, o).values == from_rows.values);
    if (kind == ldm::SamplerKind::dpmpp_2m)
      REQUIRE(from_rows.key == x_T.key);
    else
      REQUIRE(from_rows.key != x_T.key);
  }
}

TEST_CASE("the sampling loop does not allocate", "[samplers]") {
  const auto sched = ldm::make_schedule<float>({.num_steps = 100});
  GaussianOracle<float> oracle{sched, kMean, kStd, ldm::Prediction::v};
  const auto x_T = ldm::normal<float>(ldm::make_key(8), 32, 4).values;
  oracle.m = {0.1, 0.2, 0.3, 0.4};
  oracle.s = {1.0, 0.5, 2.0, 0.7};
  ldm_test::NoMalloc no_malloc(false);  // allowed again at the end, whatever happens
  int steps = 0;
  // After the first step every buffer, the oracle's included, has its size: forbid Eigen heap
  // allocations from then on (an allocation throws std::logic_error, see support/no_malloc.hpp).
  const ldm::StepCallback<float> forbid = [&](int, int, int, const ldm::Matrix<float>&) {
    ++steps;
    no_malloc.forbid();
  };
  // Check the guard itself: an allocation is caught.
  no_malloc.forbid();
  REQUIRE_THROWS_AS(ldm::Matrix<float>(5, 5), std::logic_error);
  no_malloc.allow();
  for (auto kind : {ldm::SamplerKind::ddpm, ldm::SamplerKind::ddim, ldm::SamplerKind::dpmpp_2m}) {
    INFO("kind " << static_cast<int>(kind));
    steps = 0;
    const ldm::SamplerOptions o{
        .kind = kind, .num_steps = 20, .eta = 0.5, .prediction = ldm::Prediction::v, .clip_x0 = 2.0};
    ldm::Draw<float> out;
    REQUIRE_NOTHROW(out = ldm::sample(oracle, sched, x_T, ldm::make_key(9), o, forbid));
    no_malloc.allow();
    CHECK(steps == (kind == ldm::SamplerKind::ddpm ? 100 : 20));
    CHECK(out.values.allFinite());
  }
}

TEST_CASE("samplers reject bad options", "[samplers]") {
  const auto sched = ldm::make_schedule<float>({.num_steps = 100});
  auto zero = [](const ldm::Matrix<float>& z, const Eigen::VectorXi&) -> ldm::Matrix<float> {
    return ldm::Matrix<float>::Zero(z.rows(), z.cols());
  };
  const ldm::Key key = ldm::make_key(0);
  const ldm::Matrix<float> x_T = ldm::Matrix<float>::Ones(4, 2);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::pair<ldm::SamplerKind, const char*>> kinds{{ldm::SamplerKind::ddpm, "ddpm_sample"},
                                                                    {ldm::SamplerKind::ddim, "ddim_sample"},
                                                                    {ldm::SamplerKind::dpmpp_2m, "dpmpp_2m_sample"}};
  for (const auto& entry : kinds) {
    const ldm::SamplerKind kind = entry.first;  // not a structured binding: the lambda captures it
    const char* name = entry.second;
    INFO(name);
    auto run = [&](ldm::SamplerOptions o) {
      o.kind = kind;
      return ldm::sample(zero, sched, x_T, key, o);
    };
    if (kind == ldm::SamplerKind::ddpm) {
      // DDPM visits every training timestep: num_steps and spacing are not read.
      REQUIRE_NOTHROW(run({.num_steps = 0, .spacing = static_cast<ldm::TimestepSpacing>(9)}));
    } else {
      REQUIRE_THROWS_AS(run({.num_steps = 0}), std::invalid_argument);
      REQUIRE_THROWS_WITH(run({.num_steps = 0}),
                          Contains(name) && Contains("num_steps must be in [1, 100]") && Contains("got 0"));
      REQUIRE_THROWS_WITH(run({.num_steps = 101}), Contains("num_steps") && Contains("got 101"));
      REQUIRE_THROWS_WITH(run({.spacing = static_cast<ldm::TimestepSpacing>(9)}),
                          Contains("spacing") && Contains("got 9"));
    }
    REQUIRE_THROWS_WITH(run({.eta = -0.1}), Contains(name) && Contains("eta must be finite and >= 0, got -0.1"));
    REQUIRE_THROWS_WITH(run({.eta = nan}), Contains("eta") && Contains("nan"));
    REQUIRE_THROWS_WITH(run({.clip_x0 = -1}), Contains("clip_x0") && Contains("got -1"));
    REQUIRE_THROWS_WITH(run({.clip_x0 = nan}), Contains("clip_x0") && Contains("nan"));
    REQUIRE_THROWS_WITH(run({.variance = static_cast<ldm::VarianceType>(9)}),
                        Contains("variance") && Contains("got 9"));
    REQUIRE_THROWS_WITH(run({.prediction = static_cast<ldm::Prediction>(9)}),
                        Contains("prediction") && Contains("got 9"));
    ldm::SamplerOptions ok{.kind = kind, .num_steps = 5};
    REQUIRE_THROWS_WITH(ldm::sample(zero, sched, ldm::Matrix<float>(0, 2), key, ok),
                        Contains(name) && Contains("x_T") && Contains("0x2"));
    auto wrong_shape = [](const ldm::Matrix<float>& z, const Eigen::VectorXi&) -> ldm::Matrix<float> {
      return ldm::Matrix<float>::Zero(z.rows(), z.cols() + 1);
    };
    REQUIRE_THROWS_AS(ldm::sample(wrong_shape, sched, x_T, key, ok), std::runtime_error);
    REQUIRE_THROWS_WITH(ldm::sample(wrong_shape, sched, x_T, key, ok),
                        Contains(name) && Contains("model output is 4x3 but z_t is 4x2"));
    REQUIRE_NOTHROW(ldm::sample(zero, sched, x_T, key, ok));
  }
  REQUIRE_THROWS_WITH(ldm::sample(zero, sched, x_T, key, {.kind = static_cast<ldm::SamplerKind>(4)}),
                      Contains("sample: kind") && Contains("got 4"));
  REQUIRE_THROWS_WITH(ldm::ddim_sample(zero, sched, -1, 2, key), Contains("rows"));
}
