// ldm/train/lr_schedule.hpp: LrSchedule's values (warm-up, cosine decay, the floor), its checks and
// its JSON form, and lr_schedule_for_run, the warm-up a trainer's run gets.
#include <catch2/catch.hpp>

#include <ldm/train/lr_schedule.hpp>

#include <cmath>

using Catch::Matchers::Contains;
using Catch::Matchers::Equals;

TEST_CASE("LrSchedule: warm-up then cosine decay, as diffusers get_cosine_schedule_with_warmup", "[optim][schedule]") {
  ldm::LrSchedule s{
      .kind = ldm::LrSchedule::Kind::warmup_cosine, .base_lr = 1e-3, .warmup_steps = 100, .total_steps = 1100};
  REQUIRE(s.at(0) == 0.0);
  REQUIRE(s.at(50) == Approx(5e-4).epsilon(1e-14));
  REQUIRE(s.at(99) == Approx(9.9e-4).epsilon(1e-14));
  REQUIRE(s.at(100) == Approx(1e-3).epsilon(1e-14));
  REQUIRE(s.at(350) == Approx(1e-3 * (2.0 + std::sqrt(2.0)) / 4.0).epsilon(1e-14));  // progress 1/4
  REQUIRE(std::abs(s.at(600) - 5e-4) <= 1e-18);                                      // middle: base/2
  REQUIRE(std::abs(s.at(1100)) <= 1e-18);                                            // end: 0
  REQUIRE(std::abs(s.at(5000)) <= 1e-18);                                            // clamped
  for (long long t = 101; t <= 1100; ++t) REQUIRE(s.at(t) <= s.at(t - 1));

  s.min_lr = 1e-4;
  REQUIRE(s.at(600) == Approx(5.5e-4).epsilon(1e-14));
  REQUIRE(s.at(1100) == Approx(1e-4).epsilon(1e-14));
  REQUIRE(s.at(50) == Approx(5e-4).epsilon(1e-14));  // the warm-up ignores the floor

  const ldm::LrSchedule no_warmup{.kind = ldm::LrSchedule::Kind::warmup_cosine, .base_lr = 2e-3, .total_steps = 10};
  REQUIRE(no_warmup.at(0) == 2e-3);
  REQUIRE(no_warmup.at(5) == Approx(1e-3).epsilon(1e-14));
}

TEST_CASE("LrSchedule: constant, with an optional linear warm-up", "[optim][schedule]") {
  const ldm::LrSchedule c{.base_lr = 3e-4};
  REQUIRE(c.at(0) == 3e-4);
  REQUIRE(c.at(123456) == 3e-4);
  const ldm::LrSchedule w{.base_lr = 3e-4, .warmup_steps = 10};
  REQUIRE(w.at(0) == 0.0);
  REQUIRE(w.at(5) == Approx(1.5e-4).epsilon(1e-14));
  REQUIRE(w.at(10) == 3e-4);
  REQUIRE(w.at(1000000) == 3e-4);
}

TEST_CASE("LrSchedule: bad settings throw naming the field", "[optim][schedule]") {
  using K = ldm::LrSchedule::Kind;
  REQUIRE_THROWS_WITH((ldm::LrSchedule{.kind = K::warmup_cosine, .warmup_steps = 100, .total_steps = 50}.at(0)),
                      Contains("total_steps must be >= warmup_steps (100), got 50"));
  REQUIRE_THROWS_WITH((ldm::LrSchedule{.kind = K::warmup_cosine}.at(0)), Contains("total_steps must be > 0"));
  REQUIRE_THROWS_WITH((ldm::LrSchedule{.base_lr = -1e-3}.at(0)), Contains("base_lr"));
  REQUIRE_THROWS_WITH((ldm::LrSchedule{.warmup_steps = -1}.at(0)), Contains("warmup_steps must be >= 0, got -1"));
  REQUIRE_THROWS_WITH((ldm::LrSchedule{.base_lr = 1e-3, .min_lr = 2e-3}.at(0)), Contains("min_lr"));
  REQUIRE_THROWS_WITH((ldm::LrSchedule{}.at(-1)), Contains("LrSchedule::at: step must be >= 0, got -1"));
}

TEST_CASE("lr_schedule_for_run: the automatic warm-up is a tenth of the run, at most 100 steps") {
  const ldm::LrSchedule long_run = ldm::lr_schedule_for_run("t", 1e-3, ldm::auto_warmup, true, 6000);
  CHECK(long_run.kind == ldm::LrSchedule::Kind::warmup_cosine);
  CHECK(long_run.warmup_steps == 100);  // the default runs' warm-up, as before auto_warmup existed
  CHECK(long_run.total_steps == 6000);
  CHECK(long_run.at(50) == 1e-3 * 50 / 100);
  const ldm::LrSchedule short_run = ldm::lr_schedule_for_run("t", 1e-3, ldm::auto_warmup, true, 50);
  CHECK(short_run.warmup_steps == 5);
  CHECK(short_run.at(5) == 1e-3);  // the peak right after the warm-up, then the cosine
  CHECK(short_run.at(49) < 1e-5);
  CHECK(ldm::lr_schedule_for_run("t", 1e-3, ldm::auto_warmup, true, 9).warmup_steps == 0);
  // A run of no steps still gets a valid schedule (it is never read).
  CHECK_NOTHROW(ldm::lr_schedule_for_run("t", 1e-3, ldm::auto_warmup, true, 0).validate());
  const ldm::LrSchedule constant = ldm::lr_schedule_for_run("t", 2e-3, 0, false, 10);
  CHECK(constant.kind == ldm::LrSchedule::Kind::constant);
  CHECK(constant.at(9) == 2e-3);
}

TEST_CASE("lr_schedule_for_run: a warm-up the user set longer than the run is refused, naming it") {
  CHECK_THROWS_WITH(ldm::lr_schedule_for_run("train_denoiser", 1e-3, 100, true, 50),
                    Equals("train_denoiser: warmup_steps must be in [0, steps = 50] (or auto_warmup, -1), got 100"));
  CHECK_THROWS_WITH(ldm::lr_schedule_for_run("train_vae", 1e-3, -2, false, 50),
                    Equals("train_vae: warmup_steps must be in [0, steps = 50] (or auto_warmup, -1), got -2"));
  CHECK_THROWS_WITH(ldm::lr_schedule_for_run("train_vae", -1.0, 0, false, 50),
                    Equals("LrSchedule: base_lr must be finite and >= 0, got -1"));
}

TEST_CASE("LrSchedule round-trips through JSON with its kind as a name") {
  const ldm::LrSchedule s{.kind = ldm::LrSchedule::Kind::warmup_cosine,
                          .base_lr = 0.5,
                          .warmup_steps = 3,
                          .total_steps = 9,
                          .min_lr = 0.125};
  const nlohmann::json j = s;
  CHECK(j.at("kind") == "warmup_cosine");
  const auto back = j.get<ldm::LrSchedule>();
  CHECK(back.kind == s.kind);
  CHECK(back.base_lr == s.base_lr);
  CHECK(back.warmup_steps == s.warmup_steps);
  CHECK(back.total_steps == s.total_steps);
  CHECK(back.min_lr == s.min_lr);
}
