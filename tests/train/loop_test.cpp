// ldm/train/loop.hpp: run_steps, the one loop of every training phase, with a counting trainer.
#include <catch2/catch.hpp>

#include <ldm/train/loop.hpp>

#include <stdexcept>
#include <vector>

namespace {

// A trainer whose loss at step s is s + 0.5 and that throws at step `throw_at` (before counting it).
struct CountingTrainer {
  long long done = 0, throw_at = -1;
  double step() {
    if (done == throw_at) throw ldm::TrainingError("bad step");
    return static_cast<double>(done++) + 0.5;
  }
  long long steps_done() const { return done; }
  long long epoch() const { return done / 4; }
  double last_lr() const { return 0.25; }
  std::size_t batch_size() const { return 8; }
};

}  // namespace

TEST_CASE("run_steps takes every step, reports each and records the losses") {
  CountingTrainer trainer;
  std::vector<ldm::Progress> seen;
  std::vector<double> losses;
  const bool finished = ldm::run_steps(
      trainer, "vae", 6,
      [&](const ldm::Progress& p) {
        seen.push_back(p);
        return true;
      },
      {}, &losses);
  CHECK(finished);
  CHECK(trainer.done == 6);
  CHECK(losses == std::vector<double>{0.5, 1.5, 2.5, 3.5, 4.5, 5.5});
  REQUIRE(seen.size() == 6);
  CHECK(std::string(seen[0].phase) == "vae");
  CHECK(seen[0].step == 1);
  CHECK(seen[5].step == 6);
  CHECK(seen[5].total_steps == 6);
  CHECK(seen[4].epoch == 1);  // after 5 steps of 4 per epoch
  CHECK(seen[3].loss == 3.5);
  CHECK(seen[3].lr == 0.25);
}

TEST_CASE("run_steps stops when progress says so and saves on the cadence and at the stop") {
  CountingTrainer trainer;
  std::vector<long long> saved_at;
  const ldm::Checkpointing every_3{.every = 3, .save = [&] { saved_at.push_back(trainer.done); }};
  const bool finished = ldm::run_steps(
      trainer, "denoiser", 100, [](const ldm::Progress& p) { return p.step < 7; }, every_3);
  CHECK_FALSE(finished);
  CHECK(trainer.done == 7);
  CHECK(saved_at == std::vector<long long>{3, 6, 7});  // 3 and 6 on the cadence, 7 at the stop
}

TEST_CASE("run_steps resumes where the trainer is and never saves without a save function") {
  CountingTrainer trainer;
  trainer.done = 4;  // a trainer restored at step 4
  std::vector<ldm::Progress> seen;
  const bool finished = ldm::run_steps(trainer, "vae", 6,
                                       [&](const ldm::Progress& p) {
                                         seen.push_back(p);
                                         return true;
                                       },
                                       {.every = 1});
  CHECK(finished);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].step == 5);
  CHECK(seen[1].step == 6);
  // Nothing to do when the trainer is done already.
  CHECK(ldm::run_steps(trainer, "vae", 6, {}));
  CHECK(trainer.done == 6);
}

TEST_CASE("a step that throws ends run_steps with that error and no checkpoint") {
  CountingTrainer trainer;
  trainer.throw_at = 2;
  int saves = 0;
  std::vector<double> losses;
  CHECK_THROWS_AS(ldm::run_steps(trainer, "vae", 10, {}, {.every = 1, .save = [&] { ++saves; }}, &losses),
                  ldm::TrainingError);
  CHECK(saves == 2);  // after steps 1 and 2, none for the step that threw
  CHECK(losses == std::vector<double>{0.5, 1.5});
}

TEST_CASE("total_loss reads a plain loss as it is") { CHECK(ldm::total_loss(2.5) == 2.5); }
