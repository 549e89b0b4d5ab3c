// Training helpers that never know the model (ensmallen style: a settings struct kept apart from
// the running state): Adam / AdamW, global-norm gradient clipping, learning-rate schedules and
// an exponential moving average of the parameters. Everything walks models through `visit`,
// so gradients, moments and averages are models of the same type as the parameters.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/threads.hpp>
#include <ldm/core/visit.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace ldm {

namespace detail {

// Throws "<where>: <what> <name> is RxC but <ref_what> is RxC". The message is built only on a
// mismatch, so the check costs no allocation on the hot path.
template <class A, class B>
void require_same_param_shape(const char* where, const char* what, const std::string& name, const A& a,
                              const char* ref_what, const B& ref) {
  if (a.rows() != ref.rows() || a.cols() != ref.cols())
    throw std::invalid_argument(concat(where, ": ", what, " ", name, " is ", a.rows(), "x", a.cols(), " but ", ref_what,
                                       " is ", ref.rows(), "x", ref.cols()));
}

// The comparisons are written so that NaN fails them too.
inline void require_at_least(const char* where, const char* what, double value, double low) {
  if (!(value >= low)) throw std::invalid_argument(concat(where, ": ", what, " must be >= ", low, ", got ", value));
}

inline void require_in_unit_interval(const char* where, const char* what, double value, bool include_one) {
  if (!(value >= 0.0 && (include_one ? value <= 1.0 : value < 1.0)))
    throw std::invalid_argument(
        concat(where, ": ", what, " must be in [0, 1", include_one ? "]" : ")", ", got ", value));
}

template <class Tensor>
using scalar_of = typename std::remove_cvref_t<Tensor>::Scalar;

// Coefficients [first, first + count) of a parameter as a flat array (parameters are plain,
// contiguous objects).
template <class Tensor>
auto flat_slice(Tensor& t, Eigen::Index first, Eigen::Index count) {
  using Flat = Eigen::Array<scalar_of<Tensor>, Eigen::Dynamic, 1>;
  if constexpr (std::is_const_v<Tensor>)
    return Eigen::Map<const Flat>(t.data() + first, count);
  else
    return Eigen::Map<Flat>(t.data() + first, count);
}

// Coefficients per slice: 4096 (16 KiB of floats: four tensors of a slice stay in L1).
inline constexpr Eigen::Index kSlice = 4096;

// f(first, count) over the slices of [0, n) that part `part` of `parts` takes.
template <class F>
void for_each_slice_of_part(Eigen::Index n, Eigen::Index part, Eigen::Index parts, F&& f) {
  const auto [first_slice, last_slice] = share((n + kSlice - 1) / kSlice, part, parts);
  for (Eigen::Index first = first_slice * kSlice; first < std::min(n, last_slice * kSlice); first += kSlice)
    f(first, std::min(kSlice, n - first));
}

// visitor(part, parts, name, tensors...) over every tensor of the models on each thread of one
// parallel region (one fork and one join for the whole model, not one per tensor). With
// for_each_slice_of_part each thread takes its share of the slices of every tensor; every
// coefficient is computed alone, so the result does not depend on the thread count.
template <class F, class... Models>
void parallel_visit(F&& visitor, Models&... models) {
  Eigen::Index total = 0;
  visit_together([&](const std::string&, const auto& first, const auto&...) { total += first.size(); },
                 std::as_const(models)...);
  parallel_parts(total, 16 * kSlice, [&](Eigen::Index part, Eigen::Index parts) {
    visit_together([&](const std::string& name, auto&... tensors) { visitor(part, parts, name, tensors...); },
                   models...);
  });
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Adam with decoupled weight decay.

// The settings (PyTorch's torch.optim.AdamW names; weight_decay 0 gives plain Adam).
struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

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
  template <bool ZeroGrad, class Grads>
  void update(Model& params, Grads& grads, double lr) {
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
        [&](Eigen::Index part, Eigen::Index parts, const std::string&, auto& p_, auto& g_, auto& m_, auto& v_) {
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
          });
        },
        params, grads, state_.m, state_.v);
  }

  AdamOptions options_;
  AdamState<Model> state_;
};

// ---------------------------------------------------------------------------------------------
// Gradient buffers.

// Sets every gradient of the models to zero, the slices shared among the threads in one region
// (what set_zero does on one thread). Allocates nothing.
template <class... Models>
void zero_gradients(Models&... grads) {
  (detail::parallel_visit(
       [](Eigen::Index part, Eigen::Index parts, const std::string&, auto& g_) {
         detail::for_each_slice_of_part(g_.size(), part, parts, [&](Eigen::Index first, Eigen::Index count) {
           detail::flat_slice(g_, first, count).setZero();
         });
       },
       grads),
   ...);
}

// ---------------------------------------------------------------------------------------------
// Gradient clipping by the global norm.

// sqrt of the sum of squares of every gradient entry of every model, accumulated in double.
template <class... Models>
double global_grad_norm(const Models&... grads) {
  double sum = 0.0;
  (grads.visit([&](const std::string&, const auto& g) { sum += g.template cast<double>().squaredNorm(); }), ...);
  return std::sqrt(sum);
}

// PyTorch's torch.nn.utils.clip_grad_norm_ over several models at once: with the global norm n,
// every gradient is scaled by c = max_norm / (n + 1e-6) when c < 1 (so, up to the 1e-6, when
// n > max_norm). Returns n, the norm before clipping. A non-finite n leaves the gradients as
// they are (the caller sees it in the return value and can skip the step). Allocates nothing.
template <class... Models>
double clip_grad_norm(double max_norm, Models&... grads) {
  if (!(max_norm > 0.0))
    throw std::invalid_argument(detail::concat("clip_grad_norm: max_norm must be > 0, got ", max_norm));
  const double norm = global_grad_norm(std::as_const(grads)...);
  const double coef = max_norm / (norm + 1e-6);
  if (std::isfinite(norm) && coef < 1.0) {
    (grads.visit([&](const std::string&, auto& g) { g *= static_cast<detail::scalar_of<decltype(g)>>(coef); }), ...);
  }
  return norm;
}

// ---------------------------------------------------------------------------------------------
// Learning-rate schedules.

// The learning rate at an optimizer step (0-based: the rate for the first step is at(0)).
// - constant: base_lr, after an optional linear warm-up (diffusers
//   get_constant_schedule_with_warmup): base_lr * step / warmup_steps while step < warmup_steps.
// - warmup_cosine: diffusers get_cosine_schedule_with_warmup (num_cycles 0.5):
//   base_lr * step / max(1, warmup_steps) while step < warmup_steps, then
//   min_lr + (base_lr - min_lr) * 0.5 (1 + cos(pi * progress)),
//   progress = (step - warmup_steps) / max(1, total_steps - warmup_steps) clamped to [0, 1].
//   With min_lr = 0 (the default) this is exactly diffusers'; min_lr > 0 lifts the floor the
//   way llm.c's get_lr does, so the rate ends at min_lr instead of 0.
struct LrSchedule {
  enum class Kind { constant, warmup_cosine };
  Kind kind = Kind::constant;
  double base_lr = 1e-3;
  long long warmup_steps = 0;
  long long total_steps = 0;  // used by warmup_cosine: the step where the rate reaches min_lr
  double min_lr = 0.0;

  // Throws std::invalid_argument naming the field when the settings make no schedule.
  void validate() const {
    const char* where = "LrSchedule";
    if (!(base_lr >= 0.0 && std::isfinite(base_lr)))
      throw std::invalid_argument(detail::concat(where, ": base_lr must be finite and >= 0, got ", base_lr));
    if (warmup_steps < 0)
      throw std::invalid_argument(detail::concat(where, ": warmup_steps must be >= 0, got ", warmup_steps));
    if (!(min_lr >= 0.0 && min_lr <= base_lr))
      throw std::invalid_argument(
          detail::concat(where, ": min_lr must be in [0, base_lr = ", base_lr, "], got ", min_lr));
    if (kind == Kind::warmup_cosine) {
      if (total_steps <= 0)
        throw std::invalid_argument(
            detail::concat(where, ": total_steps must be > 0 for warmup_cosine, got ", total_steps));
      if (total_steps < warmup_steps)
        throw std::invalid_argument(
            detail::concat(where, ": total_steps must be >= warmup_steps (", warmup_steps, "), got ", total_steps));
    }
  }

  double at(long long step) const {
    validate();
    if (step < 0) throw std::invalid_argument(detail::concat("LrSchedule::at: step must be >= 0, got ", step));
    if (step < warmup_steps) return base_lr * static_cast<double>(step) / static_cast<double>(warmup_steps);
    if (kind == Kind::constant) return base_lr;
    const double span = static_cast<double>(std::max<long long>(1, total_steps - warmup_steps));
    const double progress = std::clamp(static_cast<double>(step - warmup_steps) / span, 0.0, 1.0);
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  }
};

// ---------------------------------------------------------------------------------------------
// Exponential moving average of the parameters.

struct EmaOptions {
  double max_decay = 0.9999;        // diffusers EMAModel `decay`: the cap
  double min_decay = 0.0;           // diffusers `min_decay`: the floor once averaging starts
  long long update_after_step = 0;  // updates up to this one (and the next) copy the parameters
};

// diffusers' EMAModel (src/diffusers/training_utils.py, use_ema_warmup = False): update() counts
// optimization_step += 1, then
//   step  = max(0, optimization_step - update_after_step - 1)
//   decay = 0                                              if step <= 0
//         = max(min_decay, min(max_decay, (1 + step) / (10 + step)))   otherwise
//   shadow -= (1 - decay) * (shadow - param)
// The shadow starts as a copy of the parameters. With the defaults the decays of updates
// 1, 2, 3, ... are 0, 2/11, 3/12, 4/13, ..., reaching the 0.9999 cap at update 89991.
template <class Model>
class Ema {
 public:
  Ema(const EmaOptions& options, const Model& params) : options_(options), shadow_(params) {
    const char* where = "Ema";
    detail::require_in_unit_interval(where, "max_decay", options.max_decay, true);
    if (!(options.min_decay >= 0.0 && options.min_decay <= options.max_decay))
      throw std::invalid_argument(detail::concat(where, ": min_decay must be in [0, max_decay = ", options.max_decay,
                                                 "], got ", options.min_decay));
    if (options.update_after_step < 0)
      throw std::invalid_argument(
          detail::concat(where, ": update_after_step must be >= 0, got ", options.update_after_step));
  }

  // The decay the update numbered optimization_step (1-based) uses (diffusers get_decay).
  double decay_at(long long optimization_step) const {
    const long long step = std::max<long long>(0, optimization_step - options_.update_after_step - 1);
    if (step <= 0) return 0.0;
    const double s = static_cast<double>(step);
    return std::max(options_.min_decay, std::min(options_.max_decay, (1.0 + s) / (10.0 + s)));
  }

  // Call after every optimizer step. Allocates nothing; throws, leaving the average untouched,
  // when a parameter's shape differs from the average's.
  void update(const Model& params) {
    visit_together(
        [](const std::string& name, const auto& s, const auto& p) {
          detail::require_same_param_shape("Ema::update", "parameter", name, p, "its average", s);
        },
        std::as_const(shadow_), params);
    step_ += 1;
    decay_ = decay_at(step_);
    const double one_minus_decay = 1.0 - decay_;
    detail::parallel_visit(
        [&](Eigen::Index part, Eigen::Index parts, const std::string&, auto& s_, const auto& p_) {
          using S = detail::scalar_of<decltype(s_)>;
          detail::for_each_slice_of_part(s_.size(), part, parts, [&](Eigen::Index first, Eigen::Index count) {
            auto s = detail::flat_slice(s_, first, count);
            s -= static_cast<S>(one_minus_decay) * (s - detail::flat_slice(p_, first, count));
          });
        },
        shadow_, params);
  }

  // The averaged parameters: a model to sample or save with.
  const Model& average() const { return shadow_; }
  const EmaOptions& options() const { return options_; }

  // Number of update() calls so far (diffusers optimization_step).
  long long step() const { return step_; }
  // For restoring a checkpoint; the next update() uses decay_at(step + 1).
  void set_step(long long step) {
    if (step < 0) throw std::invalid_argument(detail::concat("Ema::set_step: step must be >= 0, got ", step));
    step_ = step;
    decay_ = step > 0 ? decay_at(step) : 0.0;
  }
  // The decay the last update() used (0 before the first one).
  double current_decay() const { return decay_; }

  // f(name, tensor) for every averaged tensor, named "ema.<param>"; the non-const overload lets
  // a checkpoint reader assign into them. The counter is step() / set_step().
  template <class F>
  void visit_state(F&& f) {
    shadow_.visit([&](const std::string& name, auto& t) { f("ema." + name, t); });
  }
  template <class F>
  void visit_state(F&& f) const {
    shadow_.visit([&](const std::string& name, const auto& t) { f("ema." + name, t); });
  }

 private:
  EmaOptions options_;
  Model shadow_;
  long long step_ = 0;
  double decay_ = 0.0;
};

}  // namespace ldm
