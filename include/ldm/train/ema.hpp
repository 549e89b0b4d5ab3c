// An exponential moving average of a model's parameters, the weights sampling uses.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/json.hpp>
#include <ldm/train/detail/parallel_visit.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace ldm {

struct EmaOptions {
  double max_decay = 0.9999;        // diffusers EMAModel `decay`: the cap
  double min_decay = 0.0;           // diffusers `min_decay`: the floor once averaging starts
  long long update_after_step = 0;  // updates up to this one (and the next) copy the parameters
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EmaOptions, max_decay, min_decay, update_after_step)

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
    const double weight = start_update(params);
    detail::parallel_visit(
        [&](Eigen::Index part, Eigen::Index parts, const std::string&, auto& s_, const auto& p_) {
          detail::for_each_slice_of_part(s_.size(), part, parts, [&](Eigen::Index first, Eigen::Index count) {
            blend(detail::flat_slice(s_, first, count), detail::flat_slice(p_, first, count), weight);
          });
        },
        shadow_, params);
  }

  // update() in two halves, for an optimizer that averages in its own pass over the parameters
  // (Adam::step_and_zero_grad with an Ema): start_update checks the shapes and counts the update,
  // throwing before anything changes, and returns the weight 1 - decay; the caller then calls
  // blend(average slice, parameter slice, weight) on every slice of average_to_update().
  double start_update(const Model& params) {
    visit_together(
        [](const std::string& name, const auto& s, const auto& p) {
          detail::require_same_param_shape("Ema::update", "parameter", name, p, "its average", s);
        },
        std::as_const(shadow_), params);
    step_ += 1;
    decay_ = decay_at(step_);
    return 1.0 - decay_;
  }
  Model& average_to_update() { return shadow_; }

  // shadow -= (1 - decay) * (shadow - param), the one expression both paths use (so they give
  // the same bits).
  template <class Average, class Params>
  static void blend(Average&& s, const Params& p, double weight) {
    using S = typename std::remove_cvref_t<Average>::Scalar;
    s -= static_cast<S>(weight) * (s - p);
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
