// ldm/train/ema.hpp: the diffusers EMA rule (EMAModel.get_decay), the shadow values by hand, state
// save/restore and bad options. (Ema's bit-identity across thread counts and that its update
// allocates nothing are checked with Adam in adam_test.cpp.)
#include <ldm/train/ema.hpp>

#include <catch2/catch.hpp>

#include "support/toy_model.hpp"
#include "support/toy_values.hpp"

#include <string>
#include <utility>
#include <vector>

using Catch::Matchers::Contains;
using namespace ldm_test;  // the shared test helpers

TEST_CASE("Ema: the decay follows diffusers EMAModel.get_decay", "[optim][ema]") {
  const auto params = make_toy<double>(1, 1);
  const ldm::Ema<Toy<double>> ema({}, params);
  // optimization_step k -> step = k - 1 -> 0 if step <= 0 else min(0.9999, (1 + step)/(10 + step))
  REQUIRE(ema.decay_at(1) == 0.0);
  REQUIRE(ema.decay_at(2) == 2.0 / 11.0);
  REQUIRE(ema.decay_at(3) == 3.0 / 12.0);
  REQUIRE(ema.decay_at(4) == 4.0 / 13.0);
  REQUIRE(ema.decay_at(5) == 5.0 / 14.0);
  REQUIRE(ema.decay_at(89990) < 0.9999);
  REQUIRE(ema.decay_at(89991) == 0.9999);
  REQUIRE(ema.decay_at(1000000) == 0.9999);

  const ldm::Ema<Toy<double>> capped({.max_decay = 0.5}, params);
  REQUIRE(capped.decay_at(2) == 2.0 / 11.0);
  REQUIRE(capped.decay_at(10) == 0.5);
  const ldm::Ema<Toy<double>> floored({.min_decay = 0.3}, params);
  REQUIRE(floored.decay_at(1) == 0.0);  // "step <= 0 -> 0" comes before the floor
  REQUIRE(floored.decay_at(2) == 0.3);
  REQUIRE(floored.decay_at(5) == 5.0 / 14.0);
  const ldm::Ema<Toy<double>> late({.update_after_step = 2}, params);
  REQUIRE(late.decay_at(3) == 0.0);
  REQUIRE(late.decay_at(4) == 2.0 / 11.0);
}

TEST_CASE("Ema: shadow values on a scalar model, by hand", "[optim][ema]") {
  auto p = make_toy<double>(1, 1);
  p.weight << 1.0;
  p.bias << -2.0;
  ldm::Ema<Toy<double>> ema({}, p);
  REQUIRE(ema.step() == 0);
  REQUIRE(ema.current_decay() == 0.0);
  REQUIRE(ema.average().weight(0, 0) == 1.0);

  const double w_seq[] = {3.0, 5.0, -1.0, 4.0, 2.0};
  const double b_seq[] = {0.5, 0.25, 1.0, -3.0, 0.0};
  long double sw = 1.0L, sb = -2.0L;  // by hand: s = d s + (1 - d) p, d_1 = 0, d_k = k / (k + 9)
  for (int k = 1; k <= 5; ++k) {
    p.weight << w_seq[k - 1];
    p.bias << b_seq[k - 1];
    ema.update(p);
    const long double d = k == 1 ? 0.0L : static_cast<long double>(k) / (k + 9);
    sw = d * sw + (1 - d) * w_seq[k - 1];
    sb = d * sb + (1 - d) * b_seq[k - 1];
    INFO("update " << k);
    REQUIRE(ema.step() == k);
    REQUIRE(ema.current_decay() == Approx(static_cast<double>(d)).epsilon(1e-15));
    REQUIRE(std::abs(ema.average().weight(0, 0) - static_cast<double>(sw)) <= 1e-15);
    REQUIRE(std::abs(ema.average().bias(0) - static_cast<double>(sb)) <= 1e-15);
    if (k == 1) REQUIRE(ema.average().weight(0, 0) == 3.0);  // decay 0: the average is the params
  }
  // Written out for update 2: s = 2/11 * 3 + 9/11 * 5 = 51/11.
  // (checked through the loop; restated here as a plain figure)
  ldm::Ema<Toy<double>> two({}, p);
  p.weight << 3.0;
  two.update(p);
  p.weight << 5.0;
  two.update(p);
  REQUIRE(two.average().weight(0, 0) == Approx(51.0 / 11.0).epsilon(1e-15));

  // update_after_step = 2: the first three updates copy the parameters.
  ldm::Ema<Toy<double>> late({.update_after_step = 2}, p);
  for (double v : {7.0, -7.0, 0.5}) {
    p.weight << v;
    late.update(p);
    REQUIRE(late.average().weight(0, 0) == v);
  }
}

TEST_CASE("Ema: state saved and restored gives bit-identical next updates", "[optim][ema][checkpoint]") {
  auto p = make_toy<double>(2, 3);
  fill(p, toy_param);
  ldm::Ema<Toy<double>> ema({.max_decay = 0.99}, p);
  for (int t = 1; t <= 4; ++t) {
    fill(p, [&](long k) { return toy_param(k) + toy_grad(t, k); });
    ema.update(p);
  }
  Saved saved;
  std::vector<std::string> names;
  std::as_const(ema).visit_state([&](const std::string& name, const auto& t) {
    names.push_back(name);
    saved[name] = t;
  });
  REQUIRE(names == std::vector<std::string>{"ema.toy.weight", "ema.toy.bias"});

  auto other = ldm::zeros_like(p);
  ldm::Ema<Toy<double>> restored({.max_decay = 0.99}, other);
  restored.visit_state([&](const std::string& name, auto& t) { t = saved.at(name); });
  restored.set_step(ema.step());
  REQUIRE(restored.step() == 4);
  REQUIRE(restored.current_decay() == ema.current_decay());

  fill(p, [&](long k) { return toy_param(k) - toy_grad(5, k); });
  ema.update(p);
  restored.update(p);
  REQUIRE(ema.average().weight == restored.average().weight);
  REQUIRE(ema.average().bias == restored.average().bias);
  REQUIRE(restored.current_decay() == 5.0 / 14.0);
}

TEST_CASE("Ema: bad options and bad calls throw naming the field", "[optim][ema]") {
  auto p = make_toy<double>(2, 2);
  p.weight.setZero();
  p.bias.setZero();
  using E = ldm::Ema<Toy<double>>;
  REQUIRE_THROWS_WITH(E({.max_decay = 1.5}, p), Contains("Ema: max_decay must be in [0, 1], got 1.5"));
  REQUIRE_THROWS_WITH(E({.max_decay = 0.4, .min_decay = 0.5}, p),
                      Contains("min_decay must be in [0, max_decay = 0.4], got 0.5"));
  REQUIRE_THROWS_WITH(E({.update_after_step = -1}, p), Contains("update_after_step must be >= 0, got -1"));
  E ema({}, p);
  REQUIRE_THROWS_WITH(ema.set_step(-2), Contains("Ema::set_step: step must be >= 0, got -2"));
  auto wrong = make_toy<double>(2, 2);
  wrong.weight.setOnes();
  wrong.bias.setOnes();
  wrong.bias.resize(3);
  REQUIRE_THROWS_WITH(ema.update(wrong), Contains("Ema::update: parameter toy.bias is 3x1 but its average is 2x1"));
  REQUIRE(ema.step() == 0);
}
