// The noise schedule: betas, their cumulative products, and the forward noising
// z_t = sqrt(abar_t) z_0 + sqrt(1 - abar_t) eps that training and the samplers share.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/json.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <type_traits>

namespace ldm {

enum class BetaSchedule { linear, scaled_linear, cosine };
constexpr auto enum_names(BetaSchedule) {
  return std::array{std::pair{BetaSchedule::linear, "linear"}, std::pair{BetaSchedule::scaled_linear, "scaled_linear"},
                    std::pair{BetaSchedule::cosine, "cosine"}};
}

struct ScheduleOptions {
  int num_steps = 1000;
  double beta_start = 1e-4;                           // ignored by cosine
  double beta_end = 0.02;                             // ignored by cosine
  BetaSchedule beta_schedule = BetaSchedule::linear;  // diffusers DDPMScheduler's name
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ScheduleOptions, num_steps, beta_start, beta_end, beta_schedule)

// Everything is indexed by the training timestep t in [0, num_steps).
template <class S = float>
struct Schedule {
  int num_steps = 0;
  Vector<S> betas;
  Vector<S> alphas;                         // 1 - beta_t
  Vector<S> alphas_cumprod;                 // abar_t = prod_{i <= t} alpha_i
  Vector<S> sqrt_alphas_cumprod;            // sqrt(abar_t)
  Vector<S> sqrt_one_minus_alphas_cumprod;  // sqrt(1 - abar_t)
  // DDPM "fixed_small" variance (Ho et al. 2020, eq. 7): beta_t (1 - abar_{t-1}) / (1 - abar_t)
  // with abar_{-1} = 1, so it is 0 at t = 0.
  Vector<S> posterior_variance;
  Vector<double> alphas_cumprod_f64;  // the double products, for samplers that need precision
};

namespace detail {

inline void require_beta(const char* what, double value) {
  if (!(value > 0.0 && value < 1.0))  // also rejects NaN
    throw std::invalid_argument(concat("make_schedule: ", what, " must be in (0, 1), got ", value));
}

// Nichol & Dhariwal 2021, eq. 17: abar(t) = cos^2(phi(t)), phi(t) = ((t + s) / (1 + s)) pi / 2,
// s = 0.008, and beta = 1 - abar(t2) / abar(t1). Written as
// (cos^2 phi1 - cos^2 phi2) / cos^2 phi1 = sin(phi2 + phi1) sin(phi2 - phi1) / cos^2 phi1
// so the small early betas do not lose digits to cancellation.
inline double cosine_beta(double t1, double t2) {
  auto phi = [](double t) { return (t + 0.008) / 1.008 * std::numbers::pi / 2.0; };
  const double c1 = std::cos(phi(t1));
  return std::sin(phi(t2) + phi(t1)) * std::sin(phi(t2) - phi(t1)) / (c1 * c1);
}

// The betas in double, as diffusers builds them for "linear", "scaled_linear" and
// "squaredcos_cap_v2" (betas_for_alpha_bar with max_beta = 0.999).
inline Vector<double> make_betas(const ScheduleOptions& o) {
  const int T = o.num_steps;
  Vector<double> betas(T);
  // linspace(a, b, T) with the end point exact; a single step is just a.
  auto linspace = [T](double a, double b, int i) {
    return T == 1 ? a : (i == T - 1 ? b : a + (b - a) * static_cast<double>(i) / (T - 1));
  };
  for (int i = 0; i < T; ++i) {
    switch (o.beta_schedule) {
      case BetaSchedule::linear:
        betas(i) = linspace(o.beta_start, o.beta_end, i);
        break;
      case BetaSchedule::scaled_linear: {
        const double r = linspace(std::sqrt(o.beta_start), std::sqrt(o.beta_end), i);
        betas(i) = r * r;
        break;
      }
      case BetaSchedule::cosine:
        betas(i) = std::min(cosine_beta(static_cast<double>(i) / T, static_cast<double>(i + 1) / T), 0.999);
        break;
    }
  }
  return betas;
}

// Rows of z0 and eps, one timestep per row, each in [0, num_steps).
template <class S>
void require_noise_inputs(const char* where, const Schedule<S>& schedule, const Matrix<S>& z0, const Eigen::VectorXi& t,
                          const Matrix<S>& eps) {
  require_same_shape(where, "z0", z0, "eps", eps);
  if (t.size() != z0.rows())
    throw std::invalid_argument(
        concat(where, ": t must have one timestep per row of z0 (", z0.rows(), "), got ", t.size()));
  for (Eigen::Index b = 0; b < t.size(); ++b)
    if (t(b) < 0 || t(b) >= schedule.num_steps)
      throw std::invalid_argument(concat(where, ": t(", b, ") must be in [0, ", schedule.num_steps, "), got ", t(b)));
}

// out.row(b) = ca(t_b) * x.row(b) + cb(t_b) * y.row(b); safe when out aliases x or y.
template <class S, class CoefA, class CoefB>
void combine_rows(const Matrix<S>& x, const Matrix<S>& y, const Eigen::VectorXi& t, CoefA ca, CoefB cb,
                  Matrix<S>& out) {
  out.resize(x.rows(), x.cols());
  for (Eigen::Index b = 0; b < x.rows(); ++b) out.row(b) = ca(t(b)) * x.row(b) + cb(t(b)) * y.row(b);
}

}  // namespace detail

// Matrix<S> with S taken from the schedule alone, so Eigen expressions convert to it.
template <class S>
using SameMatrix = std::type_identity_t<Matrix<S>>;

// usage: make_schedule<float>({.num_steps = 1000, .beta_start = 1e-4, .beta_end = 0.02})
// Products are accumulated in double, then stored as S.
template <class S = float>
Schedule<S> make_schedule(const ScheduleOptions& options = {}) {
  if (options.num_steps < 1)
    throw std::invalid_argument(detail::concat("make_schedule: num_steps must be >= 1, got ", options.num_steps));
  switch (options.beta_schedule) {
    case BetaSchedule::linear:
    case BetaSchedule::scaled_linear:
      detail::require_beta("beta_start", options.beta_start);
      detail::require_beta("beta_end", options.beta_end);
      if (options.beta_start > options.beta_end)
        throw std::invalid_argument(detail::concat("make_schedule: beta_start must be <= beta_end, got beta_start = ",
                                                   options.beta_start, ", beta_end = ", options.beta_end));
      break;
    case BetaSchedule::cosine:
      break;
    default:
      throw std::invalid_argument(
          detail::concat("make_schedule: beta_schedule must be linear, scaled_linear or cosine, got ",
                         static_cast<int>(options.beta_schedule)));
  }

  const int T = options.num_steps;
  const Vector<double> betas = detail::make_betas(options);
  Vector<double> abar(T), posterior(T);
  double product = 1.0;
  for (int t = 0; t < T; ++t) {
    const double previous = product;  // abar_{t-1}, 1 at t = 0
    product *= 1.0 - betas(t);
    abar(t) = product;
    posterior(t) = betas(t) * (1.0 - previous) / (1.0 - product);
  }

  Schedule<S> s;
  s.num_steps = T;
  s.betas = betas.cast<S>();
  s.alphas = (1.0 - betas.array()).matrix().cast<S>();
  s.alphas_cumprod = abar.cast<S>();
  s.sqrt_alphas_cumprod = abar.array().sqrt().matrix().cast<S>();
  s.sqrt_one_minus_alphas_cumprod = (1.0 - abar.array()).sqrt().matrix().cast<S>();
  s.posterior_variance = posterior.cast<S>();
  s.alphas_cumprod_f64 = abar;
  return s;
}

// Forward noising (Ho et al. 2020, eq. 4): z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps,
// row b at timestep t(b). out may be z0 or eps itself.
template <class S>
void add_noise(const Schedule<S>& schedule, const SameMatrix<S>& z0, const Eigen::VectorXi& t, const SameMatrix<S>& eps,
               SameMatrix<S>& out) {
  detail::require_noise_inputs("add_noise", schedule, z0, t, eps);
  detail::combine_rows(
      z0, eps, t, [&](int tb) { return schedule.sqrt_alphas_cumprod(tb); },
      [&](int tb) { return schedule.sqrt_one_minus_alphas_cumprod(tb); }, out);
}

template <class S>
Matrix<S> add_noise(const Schedule<S>& schedule, const SameMatrix<S>& z0, const Eigen::VectorXi& t,
                    const SameMatrix<S>& eps) {
  Matrix<S> out;
  add_noise(schedule, z0, t, eps, out);
  return out;
}

// The v-prediction target (Salimans & Ho 2022, sec. 4): v = sqrt(abar_t) eps - sqrt(1 - abar_t) z0.
template <class S>
void velocity(const Schedule<S>& schedule, const SameMatrix<S>& z0, const Eigen::VectorXi& t, const SameMatrix<S>& eps,
              SameMatrix<S>& out) {
  detail::require_noise_inputs("velocity", schedule, z0, t, eps);
  detail::combine_rows(
      z0, eps, t, [&](int tb) { return S(-schedule.sqrt_one_minus_alphas_cumprod(tb)); },
      [&](int tb) { return schedule.sqrt_alphas_cumprod(tb); }, out);
}

template <class S>
Matrix<S> velocity(const Schedule<S>& schedule, const SameMatrix<S>& z0, const Eigen::VectorXi& t,
                   const SameMatrix<S>& eps) {
  Matrix<S> out;
  velocity(schedule, z0, t, eps, out);
  return out;
}

}  // namespace ldm
