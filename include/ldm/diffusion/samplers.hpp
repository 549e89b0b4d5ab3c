// Samplers: the reverse process from x_T ~ N(0, I) to latents, one function per method.
// Each reaches the network only through a callable model(z_t, t) (stable-diffusion.cpp style):
//   z_t: const Matrix<S>& [B, latent]; t: const Eigen::VectorXi& [B], every entry the current
//   training timestep; returns eps_hat (Prediction::epsilon) or v_hat (Prediction::v) as
//   something that binds to const Matrix<S>& of the same shape (a Matrix, or a reference to a
//   buffer the model owns, which keeps the loop allocation-free).
// Every sampler returns {samples, key}; the key advances only by the draws the sampler made.
//
// Conventions shared by all samplers (abar = alphas_cumprod, read in double):
// - alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t); "t = -1" past the last step means
//   abar = 1 (clean data), diffusers' set_alpha_to_one / final_sigmas_type = "zero".
// - x0_hat = (z - sigma eps_hat) / alpha (epsilon) or alpha z - sigma v_hat (v, Salimans & Ho
//   2022); eps_hat = alpha v_hat + sigma z for v.
// - clip_x0 > 0 clamps x0_hat to [-clip_x0, clip_x0] and then recomputes
//   eps_hat = (z - alpha x0_hat) / sigma from the clipped x0, as diffusers does with
//   use_clipped_model_output.
// - The callback runs after every step with (step index from 0, number of steps, timestep the
//   model just saw, z after the update); after the last step z is the returned sample.
// - The loop allocates nothing: buffers are sized once, one VectorXi t is refilled per step.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/random.hpp>
#include <ldm/diffusion/schedule.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace ldm {

enum class Prediction { epsilon, v };
enum class SamplerKind { ddpm, ddim, dpmpp_2m };
enum class TimestepSpacing { leading, trailing, linspace };
enum class VarianceType { fixed_small, fixed_large };
constexpr auto enum_names(Prediction) {
  return std::array{std::pair{Prediction::epsilon, "epsilon"}, std::pair{Prediction::v, "v"}};
}
constexpr auto enum_names(SamplerKind) {  // the names of the ldm command's --sampler
  return std::array{std::pair{SamplerKind::ddpm, "ddpm"}, std::pair{SamplerKind::ddim, "ddim"},
                    std::pair{SamplerKind::dpmpp_2m, "dpm++2m"}};
}
constexpr auto enum_names(TimestepSpacing) {
  return std::array{std::pair{TimestepSpacing::leading, "leading"}, std::pair{TimestepSpacing::trailing, "trailing"},
                    std::pair{TimestepSpacing::linspace, "linspace"}};
}
constexpr auto enum_names(VarianceType) {
  return std::array{std::pair{VarianceType::fixed_small, "fixed_small"},
                    std::pair{VarianceType::fixed_large, "fixed_large"}};
}

struct SamplerOptions {
  SamplerKind kind = SamplerKind::ddim;  // used by sample() only
  // ddim and dpmpp_2m: steps taken, in [1, schedule.num_steps]. DDPM always runs every
  // training timestep T-1..0 and ignores num_steps and spacing.
  int num_steps = 50;
  double eta = 0.0;  // ddim: 0 deterministic, 1 the DDPM posterior noise; must be >= 0
  TimestepSpacing spacing = TimestepSpacing::leading;
  VarianceType variance = VarianceType::fixed_small;  // ddpm only
  Prediction prediction = Prediction::epsilon;
  double clip_x0 = 0.0;  // 0 = off; else x0_hat is clamped to [-clip_x0, clip_x0] elementwise
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SamplerOptions, kind, num_steps, eta, spacing, variance, prediction,
                                                clip_x0)

// on_step(step, num_steps, t, z): see the conventions above.
template <class S>
using StepCallback = std::function<void(int step, int num_steps, int t, const Matrix<S>& z)>;

namespace detail {

// round(p / q) with ties to even, as numpy's round; p >= 0, q > 0.
inline long long round_half_even(long long p, long long q) {
  const long long k = p / q, twice_rest = 2 * (p % q);
  if (twice_rest > q || (twice_rest == q && k % 2 != 0)) return k + 1;
  return k;
}

}  // namespace detail

// The descending training timesteps a sampler visits, by diffusers' rules (DDIMScheduler
// .set_timesteps, timestep_spacing with steps_offset = 0), with T = train_steps, N = num_steps:
//   leading:  (arange(N) * (T // N))[::-1]
//   trailing: round(arange(T, 0, -T / N)) - 1
//   linspace: round(linspace(0, T - 1, N))[::-1]
// computed in exact integer arithmetic (numpy rounds ties to even, so do we). Always exactly
// N distinct entries: numpy's float arange yields N + 1 for some N (e.g. T = 1000, N = 61).
inline std::vector<int> timesteps(int train_steps, int num_steps, TimestepSpacing spacing) {
  if (train_steps < 1)
    throw std::invalid_argument(detail::concat("timesteps: train_steps must be >= 1, got ", train_steps));
  if (num_steps < 1 || num_steps > train_steps)
    throw std::invalid_argument(
        detail::concat("timesteps: num_steps must be in [1, ", train_steps, "], got ", num_steps));
  const long long T = train_steps, N = num_steps;
  std::vector<int> ts(static_cast<std::size_t>(N));
  for (long long i = 0; i < N; ++i) {
    long long t = 0;
    switch (spacing) {
      case TimestepSpacing::leading:  // entry i of the reversed arange: (N - 1 - i) * (T // N)
        t = (N - 1 - i) * (T / N);
        break;
      case TimestepSpacing::trailing:  // T - i T / N = T (N - i) / N
        t = detail::round_half_even(T * (N - i), N) - 1;
        break;
      case TimestepSpacing::linspace:  // (N - 1 - i) (T - 1) / (N - 1); a single step is t = 0
        t = N == 1 ? 0 : detail::round_half_even((N - 1 - i) * (T - 1), N - 1);
        break;
      default:
        throw std::invalid_argument(detail::concat("timesteps: spacing must be leading, trailing or linspace, got ",
                                                   static_cast<int>(spacing)));
    }
    ts[static_cast<std::size_t>(i)] = static_cast<int>(t);
  }
  return ts;
}

// The timesteps DPM-Solver++ visits, by diffusers' DPMSolverMultistepScheduler.set_timesteps:
// leading and linspace take the rule above with N + 1 steps and drop the last entry (t = 0),
// trailing is the rule above. The solver then jumps from the last entry straight to clean data
// (final_sigmas_type "zero"), so it never spends a second-order step on the tiny, badly
// conditioned t -> 0 stretch. With N = T every training timestep is visited.
inline std::vector<int> dpmpp_timesteps(int train_steps, int num_steps, TimestepSpacing spacing) {
  if (spacing == TimestepSpacing::trailing || num_steps >= train_steps || num_steps < 1)
    return timesteps(train_steps, num_steps, spacing);
  std::vector<int> ts = timesteps(train_steps, num_steps + 1, spacing);
  ts.pop_back();
  return ts;
}

namespace detail {

// The noise level at timestep t; t = -1 is the clean end (abar = 1).
struct NoiseLevel {
  double abar, alpha, sigma;
};

template <class S>
NoiseLevel noise_level(const Schedule<S>& schedule, int t) {
  if (t < 0) return {1.0, 1.0, 0.0};
  const double abar = schedule.alphas_cumprod_f64(t);
  return {abar, std::sqrt(abar), std::sqrt(1.0 - abar)};
}

// uses_steps: whether the sampler reads num_steps and spacing (DDPM does not).
template <class S>
void validate_sampling(const char* where, const Schedule<S>& schedule, const Matrix<S>& x_T, const SamplerOptions& o,
                       bool uses_steps) {
  if (schedule.num_steps < 1 || schedule.alphas_cumprod_f64.size() != schedule.num_steps)
    throw std::invalid_argument(concat(where, ": schedule has num_steps = ", schedule.num_steps, " but ",
                                       schedule.alphas_cumprod_f64.size(),
                                       " alphas_cumprod_f64; build it with make_schedule"));
  if (x_T.rows() < 1 || x_T.cols() < 1)
    throw std::invalid_argument(
        concat(where, ": x_T must have at least one row and column, got ", x_T.rows(), "x", x_T.cols()));
  if (uses_steps && (o.num_steps < 1 || o.num_steps > schedule.num_steps))
    throw std::invalid_argument(concat(where, ": num_steps must be in [1, ", schedule.num_steps,
                                       "] (the schedule's steps), got ", o.num_steps));
  if (!(o.eta >= 0.0) || !std::isfinite(o.eta))
    throw std::invalid_argument(concat(where, ": eta must be finite and >= 0, got ", o.eta));
  if (!(o.clip_x0 >= 0.0) || !std::isfinite(o.clip_x0))
    throw std::invalid_argument(concat(where, ": clip_x0 must be finite and >= 0 (0 = off), got ", o.clip_x0));
  if (uses_steps && o.spacing != TimestepSpacing::leading && o.spacing != TimestepSpacing::trailing &&
      o.spacing != TimestepSpacing::linspace)
    throw std::invalid_argument(
        concat(where, ": spacing must be leading, trailing or linspace, got ", static_cast<int>(o.spacing)));
  if (o.variance != VarianceType::fixed_small && o.variance != VarianceType::fixed_large)
    throw std::invalid_argument(
        concat(where, ": variance must be fixed_small or fixed_large, got ", static_cast<int>(o.variance)));
  if (o.prediction != Prediction::epsilon && o.prediction != Prediction::v)
    throw std::invalid_argument(
        concat(where, ": prediction must be epsilon or v, got ", static_cast<int>(o.prediction)));
}

// The buffers and the timestep vector one sampling run reuses on every step.
template <class S>
struct SamplerState {
  Matrix<S> z, x0, eps, noise;
  Eigen::VectorXi t;
  explicit SamplerState(Matrix<S> x_T) : z(std::move(x_T)), t(z.rows()) {
    x0.resize(z.rows(), z.cols());
    eps.resize(z.rows(), z.cols());
  }
};

// Calls the model at timestep t, turns its output into x0_hat and eps_hat (clipped and
// re-derived when clip_x0 > 0), writing state.x0 and state.eps.
template <class S, class Model>
void predict(const char* where, Model& model, SamplerState<S>& st, int t, NoiseLevel n, const SamplerOptions& o) {
  st.t.setConstant(t);
  const Matrix<S>& out = model(std::as_const(st.z), std::as_const(st.t));
  if (out.rows() != st.z.rows() || out.cols() != st.z.cols())
    throw std::runtime_error(concat(where, ": model output is ", out.rows(), "x", out.cols(), " but z_t is ",
                                    st.z.rows(), "x", st.z.cols()));
  const S alpha = static_cast<S>(n.alpha), sigma = static_cast<S>(n.sigma);
  if (o.prediction == Prediction::epsilon) {
    st.x0 = (st.z - sigma * out) / alpha;
    st.eps = out;
  } else {  // v = alpha eps - sigma x0  =>  x0 = alpha z - sigma v, eps = alpha v + sigma z
    st.x0 = alpha * st.z - sigma * out;
    st.eps = alpha * out + sigma * st.z;
  }
  if (o.clip_x0 > 0.0) {
    const S c = static_cast<S>(o.clip_x0);
    st.x0 = st.x0.cwiseMax(-c).cwiseMin(c);
    st.eps = (st.z - alpha * st.x0) / sigma;
  }
}

template <class S>
void notify(const StepCallback<S>& on_step, int step, int num_steps, int t, const Matrix<S>& z) {
  if (on_step) on_step(step, num_steps, t, z);
}

}  // namespace detail

// DDPM ancestral sampling (Ho et al. 2020, eq. 6-7; diffusers DDPMScheduler.step) over every
// training timestep t = T-1 .. 0, prev = t - 1:
//   mean = sqrt(abar_prev) beta'/(1 - abar_t) x0_hat + sqrt(alpha') (1 - abar_prev)/(1 - abar_t) z,
//   alpha' = abar_t / abar_prev, beta' = 1 - alpha';
//   variance fixed_small = (1 - abar_prev)/(1 - abar_t) beta', fixed_large = beta';
//   z_prev = mean + sqrt(variance) noise, no noise at t = 0.
// The noise of each step is fill_normal(key, ...) from the running key (T - 1 draws).
// options.num_steps, spacing and eta are not used (for fewer steps use DDIM: with eta = 1 it
// is this process on a subsequence of timesteps).
template <class S, class Model>
Draw<S> ddpm_sample(Model&& model, const Schedule<S>& schedule, std::type_identity_t<Matrix<S>> x_T, Key key,
                    const SamplerOptions& options = {}, const std::type_identity_t<StepCallback<S>>& on_step = {}) {
  constexpr const char* where = "ddpm_sample";
  detail::validate_sampling(where, schedule, x_T, options, false);
  detail::SamplerState<S> st(std::move(x_T));
  st.noise.resize(st.z.rows(), st.z.cols());
  const int T = schedule.num_steps;
  for (int step = 0; step < T; ++step) {
    const int t = T - 1 - step;
    const detail::NoiseLevel n = detail::noise_level(schedule, t);
    const detail::NoiseLevel p = detail::noise_level(schedule, t - 1);
    detail::predict(where, model, st, t, n, options);
    const double alpha_step = n.abar / p.abar, beta_step = 1.0 - alpha_step;
    const S c_x0 = static_cast<S>(p.alpha * beta_step / (1.0 - n.abar));
    const S c_z = static_cast<S>(std::sqrt(alpha_step) * (1.0 - p.abar) / (1.0 - n.abar));
    st.z = c_x0 * st.x0 + c_z * st.z;
    if (t > 0) {
      const double variance =
          options.variance == VarianceType::fixed_small ? (1.0 - p.abar) / (1.0 - n.abar) * beta_step : beta_step;
      key = fill_normal(key, st.noise);
      st.z += static_cast<S>(std::sqrt(variance)) * st.noise;
    }
    detail::notify(on_step, step, T, t, st.z);
  }
  return {std::move(st.z), key};
}

// DDIM (Song et al. 2021, eq. 12 and 16; diffusers DDIMScheduler.step) over
// timesteps(T, num_steps, spacing), prev = the next entry, abar_prev = 1 after the last:
//   sigma = eta sqrt((1 - abar_prev)/(1 - abar_t)) sqrt(1 - abar_t/abar_prev),
//   z_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps_hat + sigma noise.
// prev is the next visited timestep, not t - T // N as in diffusers (the two agree for leading,
// and for trailing when N divides T). For eta > 1 the direction coefficient is clamped at 0.
// eta = 0 draws nothing and returns the key unchanged; otherwise one fill_normal per step
// with sigma > 0.
template <class S, class Model>
Draw<S> ddim_sample(Model&& model, const Schedule<S>& schedule, std::type_identity_t<Matrix<S>> x_T, Key key,
                    const SamplerOptions& options = {}, const std::type_identity_t<StepCallback<S>>& on_step = {}) {
  constexpr const char* where = "ddim_sample";
  detail::validate_sampling(where, schedule, x_T, options, true);
  const std::vector<int> ts = timesteps(schedule.num_steps, options.num_steps, options.spacing);
  const int N = static_cast<int>(ts.size());
  detail::SamplerState<S> st(std::move(x_T));
  if (options.eta > 0.0) st.noise.resize(st.z.rows(), st.z.cols());
  for (int step = 0; step < N; ++step) {
    const int t = ts[step], prev = step + 1 < N ? ts[step + 1] : -1;
    const detail::NoiseLevel n = detail::noise_level(schedule, t);
    const detail::NoiseLevel p = detail::noise_level(schedule, prev);
    detail::predict(where, model, st, t, n, options);
    const double sigma = options.eta * std::sqrt((1.0 - p.abar) / (1.0 - n.abar) * (1.0 - n.abar / p.abar));
    const double direction = std::sqrt(std::max(0.0, 1.0 - p.abar - sigma * sigma));
    st.z = static_cast<S>(p.alpha) * st.x0 + static_cast<S>(direction) * st.eps;
    if (sigma > 0.0) {
      key = fill_normal(key, st.noise);
      st.z += static_cast<S>(sigma) * st.noise;
    }
    detail::notify(on_step, step, N, t, st.z);
  }
  return {std::move(st.z), key};
}

// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2; diffusers
// DPMSolverMultistepScheduler, algorithm_type "dpmsolver++", solver_order 2, midpoint,
// final_sigmas_type "zero") over dpmpp_timesteps(T, num_steps, spacing), from s to the next entry t
// (abar = 1 after the last), lambda = log(alpha / sigma), h = lambda_t - lambda_s, D0 = x0_hat:
//   first order (first and last step): z_t = (sigma_t/sigma_s) z - alpha_t (e^-h - 1) D0
//   otherwise, with r0 = (lambda_s - lambda_s_prev)/h, D1 = (D0 - D0_prev)/r0:
//                         z_t = (sigma_t/sigma_s) z - alpha_t (e^-h - 1) (D0 + D1/2).
// The last step lands on abar = 1 (sigma_t = 0, e^-h = 0), so it returns x0_hat.
// Deterministic: the key is returned unchanged. eta and variance are unused.
template <class S, class Model>
Draw<S> dpmpp_2m_sample(Model&& model, const Schedule<S>& schedule, std::type_identity_t<Matrix<S>> x_T, Key key,
                        const SamplerOptions& options = {}, const std::type_identity_t<StepCallback<S>>& on_step = {}) {
  constexpr const char* where = "dpmpp_2m_sample";
  detail::validate_sampling(where, schedule, x_T, options, true);
  const std::vector<int> ts = dpmpp_timesteps(schedule.num_steps, options.num_steps, options.spacing);
  const int N = static_cast<int>(ts.size());
  detail::SamplerState<S> st(std::move(x_T));
  Matrix<S> x0_prev(st.z.rows(), st.z.cols());
  auto lambda = [](detail::NoiseLevel n) { return std::log(n.alpha / n.sigma); };
  double lambda_prev = 0.0;  // lambda at the previous step's s
  for (int step = 0; step < N; ++step) {
    const int s = ts[step], t = step + 1 < N ? ts[step + 1] : -1;
    const detail::NoiseLevel ns = detail::noise_level(schedule, s);
    const detail::NoiseLevel nt = detail::noise_level(schedule, t);
    detail::predict(where, model, st, s, ns, options);
    const bool last = t < 0;
    // e^-h - 1 (expm1 keeps its digits when h is small); at the clean end e^-h = 0.
    const double h = last ? 0.0 : lambda(nt) - lambda(ns);
    const double em1 = last ? -1.0 : std::expm1(-h);
    const S c_z = static_cast<S>(nt.sigma / ns.sigma);
    const S c_d = static_cast<S>(-nt.alpha * em1);
    if (step == 0 || last) {
      st.z = c_z * st.z + c_d * st.x0;
    } else {
      const double r0 = (lambda(ns) - lambda_prev) / h;
      const S w0 = static_cast<S>(1.0 + 0.5 / r0), w1 = static_cast<S>(0.5 / r0);
      st.z = c_z * st.z + c_d * (w0 * st.x0 - w1 * x0_prev);
    }
    lambda_prev = lambda(ns);
    x0_prev.swap(st.x0);  // O(1): the buffers trade places
    detail::notify(on_step, step, N, s, st.z);
  }
  return {std::move(st.z), key};
}

// Dispatch on options.kind.
template <class S, class Model>
Draw<S> sample(Model&& model, const Schedule<S>& schedule, std::type_identity_t<Matrix<S>> x_T, Key key,
               const SamplerOptions& options, const std::type_identity_t<StepCallback<S>>& on_step = {}) {
  switch (options.kind) {
    case SamplerKind::ddpm:
      return ddpm_sample(std::forward<Model>(model), schedule, std::move(x_T), key, options, on_step);
    case SamplerKind::ddim:
      return ddim_sample(std::forward<Model>(model), schedule, std::move(x_T), key, options, on_step);
    case SamplerKind::dpmpp_2m:
      return dpmpp_2m_sample(std::forward<Model>(model), schedule, std::move(x_T), key, options, on_step);
  }
  throw std::invalid_argument(
      detail::concat("sample: kind must be ddpm, ddim or dpmpp_2m, got ", static_cast<int>(options.kind)));
}

// The same samplers starting from x_T ~ N(0, I) [rows, cols], drawn with normal<S>(key, ...)
// first; the returned key follows that draw and the sampler's own.
template <class S, class Model>
Draw<S> ddpm_sample(Model&& model, const Schedule<S>& schedule, Eigen::Index rows, Eigen::Index cols, Key key,
                    const SamplerOptions& options = {}, const std::type_identity_t<StepCallback<S>>& on_step = {}) {
  Draw<S> x_T = normal<S>(key, rows, cols);
  return ddpm_sample(std::forward<Model>(model), schedule, std::move(x_T.values), x_T.key, options, on_step);
}

template <class S, class Model>
Draw<S> ddim_sample(Model&& model, const Schedule<S>& schedule, Eigen::Index rows, Eigen::Index cols, Key key,
                    const SamplerOptions& options = {}, const std::type_identity_t<StepCallback<S>>& on_step = {}) {
  Draw<S> x_T = normal<S>(key, rows, cols);
  return ddim_sample(std::forward<Model>(model), schedule, std::move(x_T.values), x_T.key, options, on_step);
}

template <class S, class Model>
Draw<S> dpmpp_2m_sample(Model&& model, const Schedule<S>& schedule, Eigen::Index rows, Eigen::Index cols, Key key,
                        const SamplerOptions& options = {}, const std::type_identity_t<StepCallback<S>>& on_step = {}) {
  Draw<S> x_T = normal<S>(key, rows, cols);
  return dpmpp_2m_sample(std::forward<Model>(model), schedule, std::move(x_T.values), x_T.key, options, on_step);
}

template <class S, class Model>
Draw<S> sample(Model&& model, const Schedule<S>& schedule, Eigen::Index rows, Eigen::Index cols, Key key,
               const SamplerOptions& options, const std::type_identity_t<StepCallback<S>>& on_step = {}) {
  Draw<S> x_T = normal<S>(key, rows, cols);
  return sample(std::forward<Model>(model), schedule, std::move(x_T.values), x_T.key, options, on_step);
}

}  // namespace ldm
