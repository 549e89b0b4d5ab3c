// Learning-rate schedules: constant or cosine, each after an optional linear warm-up.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/json.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace ldm {

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
constexpr auto enum_names(LrSchedule::Kind) {
  return std::array{std::pair{LrSchedule::Kind::constant, "constant"},
                    std::pair{LrSchedule::Kind::warmup_cosine, "warmup_cosine"}};
}

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LrSchedule, kind, base_lr, warmup_steps, total_steps, min_lr)

// The trainers' warm-up option when the user sets none: a tenth of the run, at most 100 steps.
// So the default runs (thousands of steps) warm up over 100 steps, and a budget of 50 steps still
// runs (over 5), where a fixed 100 would be longer than the run itself.
inline constexpr long long auto_warmup = -1;

// The schedule of a trainer's run of `steps` steps: warm-up (auto_warmup or a count, at most
// `steps`), then constant or cosine decay to 0. Throws std::invalid_argument naming the option
// for a warm-up set longer than the run. A run of 0 steps gets a valid schedule it never reads.
inline LrSchedule lr_schedule_for_run(const char* where, double lr, long long warmup_steps, bool cosine,
                                      long long steps) {
  if (warmup_steps == auto_warmup) warmup_steps = std::min<long long>(100, steps / 10);
  if (warmup_steps < 0 || warmup_steps > std::max<long long>(steps, 0))
    throw std::invalid_argument(detail::concat(where, ": warmup_steps must be in [0, steps = ", steps,
                                               "] (or auto_warmup, -1), got ", warmup_steps));
  LrSchedule s{.kind = cosine ? LrSchedule::Kind::warmup_cosine : LrSchedule::Kind::constant,
               .base_lr = lr,
               .warmup_steps = warmup_steps,
               .total_steps = std::max<long long>(steps, 1)};
  s.validate();
  return s;
}

}  // namespace ldm
