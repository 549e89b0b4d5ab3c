// The one training loop every phase runs (train_vae, train_denoiser, FitRun): step, report
// progress, honour a stop request, save checkpoints at their cadence. A step whose loss is not
// finite throws TrainingError from inside the trainer, before it changes a weight.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/random.hpp>

#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace ldm {

// What a progress callback sees after every optimizer step.
struct Progress {
  const char* phase = "";  // "vae" or "denoiser"
  long long step = 0;      // steps done so far (1 after the first)
  long long total_steps = 0;
  long long epoch = 0;  // 0-based pass over the data
  double loss = 0;      // this step's loss
  double lr = 0;        // the learning rate this step used
  double samples_per_second = 0;
};

// Return false to stop training after the current step.
using ProgressCallback = std::function<bool(const Progress&)>;

struct TrainResult {
  std::vector<double> loss;  // one entry per step taken
  Key key{};                 // the key for whatever comes next
  bool stopped = false;      // true when the callback asked to stop
};

namespace detail {

inline void require_finite_loss(const char* phase, long long step, double loss) {
  if (!std::isfinite(loss))
    throw TrainingError(concat("train_", phase, ": the loss is ", loss, " at step ", step,
                               "; training stopped before that step changed any weight"));
}

}  // namespace detail

// What the loop saves besides reporting: save() is called after every `every` steps (0: on no
// cadence) and after the step at which progress asked to stop. An empty save: no checkpoints.
struct Checkpointing {
  long long every = 0;
  std::function<void()> save = {};  // (an initializer: designated initializers may leave it out)
};

// The loss a step returns, as one number: the trainers' step() return a double or a struct
// with a total (VaeLoss); each such struct has its own overload.
inline double total_loss(double loss) { return loss; }

// Steps `trainer` until it has taken `total_steps` steps, or until progress asks to stop
// (then returns false). After each step progress sees it (samples/s counted from the steps
// this call took), then a due checkpoint is saved; `losses`, if given, gets every step's loss.
// Trainer: step(), steps_done(), epoch(), last_lr(), batch_size() (VaeTrainer, DenoiserTrainer).
template <class Trainer>
bool run_steps(Trainer& trainer, const char* phase, long long total_steps, const ProgressCallback& progress,
               const Checkpointing& checkpointing = {}, std::vector<double>* losses = nullptr) {
  const long long first = trainer.steps_done();
  const auto start = std::chrono::steady_clock::now();
  while (trainer.steps_done() < total_steps) {
    const double loss = total_loss(trainer.step());
    if (losses) losses->push_back(loss);
    const long long done = trainer.steps_done();
    bool go = true;
    if (progress) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const auto samples = static_cast<double>((done - first) * static_cast<long long>(trainer.batch_size()));
      go = progress(Progress{phase, done, total_steps, trainer.epoch(), loss, trainer.last_lr(),
                             seconds > 0 ? samples / seconds : 0.0});
    }
    const bool periodic = checkpointing.every > 0 && done % checkpointing.every == 0;
    if (checkpointing.save && (periodic || !go)) checkpointing.save();
    if (!go) return false;
  }
  return true;
}

}  // namespace ldm
