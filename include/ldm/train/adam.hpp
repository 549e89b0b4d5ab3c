// Adam and AdamW (ensmallen style: the settings struct apart from the running state; the
// optimizer never knows the model, it walks parameters, gradients and moments with visit).
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/json.hpp>
#include <ldm/train/detail/parallel_visit.hpp>
#include <ldm/train/ema.hpp>

#include <Eigen/Core>

#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace ldm {

// The settings (PyTorch's torch.optim.AdamW names; weight_decay 0 gives plain Adam).
struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(AdamOptions, lr, beta1, beta2, eps, weight_decay)

// The running state: first and second moments (models of the parameters' type) and the number
// of steps taken. Saved and restored with a checkpoint to resume training exactly.
template <class Model>
struct AdamState {
  Model m, v;
  long long step = 0;
};

// Adam (Kingma & Ba 2015) with decoupled weight decay (AdamW, Loshchilov & Hutter 2019), the
// update of PyTorch's torch.optim.AdamW (docs' algorithm box and its single-tensor code):
//   t += 1
//   p -= lr * wd * p                                  (decoupled decay, before the moments)
//   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// which is p -= lr m_hat / (sqrt(v_hat) + eps) with m_hat = m/(1-b1^t), v_hat = v/(1-b2^t).
// The bias corrections are computed in double, the elementwise update in the model's scalar.
// One Adam per model; models trained together (encoder and decoder) use one each.
template <class Model>
class Adam {
 public:
  Adam(const AdamOptions& options, const Model& like)
      : options_(options), state_{zeros_like(like), zeros_like(like), 0} {
    const char* where = "Adam";
    detail::require_at_least(where, "lr", options.lr, 0.0);
    detail::require_in_unit_interval(where, "beta1", options.beta1, false);
    detail::require_in_unit_interval(where, "beta2", options.beta2, false);
    if (!(options.eps > 0.0))
      throw std::invalid_argument(detail::concat(where, ": eps must be > 0, got ", options.eps));
    detail::require_at_least(where, "weight_decay", options.weight_decay, 0.0);
  }

  // One update with options().lr.
  void step(Model& params, const Model& grads) { step(params, grads, options_.lr); }

  // One update with a learning rate from a schedule. Allocates nothing. Throws, leaving params
  // and state untouched, on a negative lr or a gradient whose shape differs from its parameter.
  void step(Model& params, const Model& grads, double lr) { update<false>(params, grads, lr); }

  // step(params, grads, lr) and then every gradient set to zero (PyTorch's optimizer.step() and
  // optimizer.zero_grad()), in the same pass over memory: a training loop that adds its next
  // gradients into grads needs no zeroing pass of its own. grads are left as they were when it
  // throws.
  void step_and_zero_grad(Model& params, Model& grads, double lr) { update<true>(params, grads, lr); }

  // step_and_zero_grad(params, grads, lr) and then ema.update(params), in the same pass: each
  // slice of the average is blended while the new parameters are in cache, the same bits as the
  // two calls one after the other. Throws before changing anything on a shape that differs.
  void step_and_zero_grad(Model& params, Model& grads, double lr, Ema<Model>& ema) {
    update<true>(params, grads, lr, &ema);
  }

  const AdamOptions& options() const { return options_; }
  AdamState<Model>& state() { return state_; }
  const AdamState<Model>& state() const { return state_; }

  // f(name, tensor) for every state tensor: "m.<param>" for all parameters, then "v.<param>".
  // With a checkpoint writer this saves the moments; the non-const overload restores them
  // (assign into the tensor). The step counter is state().step.
  template <class F>
  void visit_state(F&& f) {
    state_.m.visit([&](const std::string& name, auto& t) { f("m." + name, t); });
    state_.v.visit([&](const std::string& name, auto& t) { f("v." + name, t); });
  }
  template <class F>
  void visit_state(F&& f) const {
    state_.m.visit([&](const std::string& name, const auto& t) { f("m." + name, t); });
    state_.v.visit([&](const std::string& name, const auto& t) { f("v." + name, t); });
  }

 private:
  // With an Ema (zero or one), its average is blended with each slice just updated.
  template <bool ZeroGrad, class Grads, class... Average>
  void update(Model& params, Grads& grads, double lr, Average*... ema) {
    const char* where = "Adam::step";
    detail::require_at_least(where, "lr", lr, 0.0);
    if (state_.step < 0)
      throw std::invalid_argument(detail::concat(where, ": state().step must be >= 0, got ", state_.step));
    visit_together(
        [&](const std::string& name, const auto& p, const auto& g, const auto& m, const auto& v) {
          detail::require_same_param_shape(where, "gradient", name, g, "the parameter", p);
          detail::require_same_param_shape(where, "first moment", name, m, "the parameter", p);
          detail::require_same_param_shape(where, "second moment", name, v, "the parameter", p);
        },
        std::as_const(params), grads, std::as_const(state_.m), std::as_const(state_.v));
    double ema_weight = 0;
    ((ema_weight = ema->start_update(params)), ...);  // its checks, before anything changes

    state_.step += 1;
    const double t = static_cast<double>(state_.step);
    const double bias_correction1 = 1.0 - std::pow(options_.beta1, t);
    const double bias_correction2 = 1.0 - std::pow(options_.beta2, t);
    const double step_size = lr / bias_correction1;
    const double decay = 1.0 - lr * options_.weight_decay;
    const bool decays = options_.weight_decay > 0.0;

    // One pass over memory: each slice of p, g, m, v is updated while it is in cache, in one
    // parallel region for the whole model.
    detail::parallel_visit(
        [&](Eigen::Index part, Eigen::Index parts, const std::string&, auto& p_, auto& g_, auto& m_, auto& v_,
            auto&... average_) {
          using S = detail::scalar_of<decltype(p_)>;
          const S b1 = static_cast<S>(options_.beta1);
          const S b2 = static_cast<S>(options_.beta2);
          const S one_minus_b1 = static_cast<S>(1.0 - options_.beta1);
          const S one_minus_b2 = static_cast<S>(1.0 - options_.beta2);
          const S inv_sqrt_bc2 = static_cast<S>(1.0 / std::sqrt(bias_correction2));
          const S eps = static_cast<S>(options_.eps);
          detail::for_each_slice_of_part(p_.size(), part, parts, [&](Eigen::Index first, Eigen::Index count) {
            auto p = detail::flat_slice(p_, first, count);
            auto g = detail::flat_slice(g_, first, count);
            auto m = detail::flat_slice(m_, first, count);
            auto v = detail::flat_slice(v_, first, count);
            if (decays) p *= static_cast<S>(decay);
            m = b1 * m + one_minus_b1 * g;
            v = b2 * v + one_minus_b2 * g.square();
            p -= static_cast<S>(step_size) * m / (v.sqrt() * inv_sqrt_bc2 + eps);
            if constexpr (ZeroGrad) g.setZero();  // the slice is still in L1
            (Ema<Model>::blend(detail::flat_slice(average_, first, count), p, ema_weight), ...);
          });
        },
        params, grads, state_.m, state_.v, ema->average_to_update()...);
  }

  AdamOptions options_;
  AdamState<Model> state_;
};

}  // namespace ldm
