// ldm/train/adam.hpp: Adam/AdamW against a long-double re-derivation of the recursion, bias
// correction, decoupled weight decay, state save/restore, and that the hot-path calls allocate
// nothing. The two cases that run Adam together with the EMA and clipping are here as well.

// Eigen's allocation guard (a forbidden Eigen heap allocation throws, in Release too), so the
// hot-path calls can be shown to allocate nothing.
#include "support/no_malloc.hpp"

#include <ldm/core/random.hpp>
#include <ldm/core/threads.hpp>
#include <ldm/nn/encoder.hpp>
#include <ldm/train/adam.hpp>
#include <ldm/train/ema.hpp>
#include <ldm/train/gradients.hpp>

#include <catch2/catch.hpp>

#include "support/toy_model.hpp"
#include "support/toy_values.hpp"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

using Catch::Matchers::Contains;
using namespace ldm_test;  // the shared test helpers

namespace {

// The Adam / AdamW recursion written out for one scalar in long double (PyTorch AdamW docs):
// p -= lr wd p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr m_hat / (sqrt(v_hat) + eps).
struct ScalarAdam {
  long double p, m = 0, v = 0;
  int t = 0;
  void step(const ldm::AdamOptions& o, long double g, long double lr) {
    ++t;
    const long double b1 = o.beta1, b2 = o.beta2, eps = o.eps, wd = o.weight_decay;
    p = p - lr * wd * p;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const long double m_hat = m / (1 - std::pow(b1, static_cast<long double>(t)));
    const long double v_hat = v / (1 - std::pow(b2, static_cast<long double>(t)));
    p = p - lr * m_hat / (std::sqrt(v_hat) + eps);
  }
};

// Runs `steps` Adam steps on a 2x3 toy model (+3 biases) and compares every entry with the
// scalar recursion. lrs[t] is the rate of step t (the schedule overload) or, if empty, options.lr.
template <class S>
void check_toy_adam(const ldm::AdamOptions& o, int steps, const std::vector<double>& lrs, double tolerance) {
  auto params = make_toy<S>(2, 3);
  fill(params, toy_param);
  ldm::Adam<Toy<S>> adam(o, params);
  std::vector<ScalarAdam> ref;
  for (long k = 0; k < 9; ++k) ref.push_back({static_cast<long double>(static_cast<S>(toy_param(k)))});
  auto grads = ldm::zeros_like(params);
  for (int t = 1; t <= steps; ++t) {
    fill(grads, [&](long k) { return toy_grad(t, k); });
    const double lr = lrs.empty() ? o.lr : lrs[static_cast<std::size_t>(t - 1)];
    if (lrs.empty())
      adam.step(params, grads);
    else
      adam.step(params, grads, lr);
    for (long k = 0; k < 9; ++k)
      ref[static_cast<std::size_t>(k)].step(o, static_cast<S>(toy_grad(t, k)), static_cast<S>(lr));
  }
  REQUIRE(adam.state().step == steps);
  long k = 0;
  params.visit([&](const std::string& name, const auto& p) {
    for (Eigen::Index i = 0; i < p.size(); ++i, ++k) {
      INFO(name << " entry " << i << " (k = " << k << ")");
      const double expected = static_cast<double>(ref[static_cast<std::size_t>(k)].p);
      REQUIRE(std::abs(static_cast<double>(p.data()[i]) - expected) <= tolerance);
    }
  });
}

}  // namespace

TEST_CASE("Adam: one and three steps match the recursion computed in long double", "[optim][adam]") {
  SECTION("one step, plain Adam, double") { check_toy_adam<double>({.lr = 1e-2}, 1, {}, 1e-15); }
  SECTION("three steps, AdamW, double") {
    check_toy_adam<double>({.lr = 0.05, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1}, 3, {}, 1e-14);
  }
  SECTION("three steps with rates from a schedule, double") {
    check_toy_adam<double>({.lr = 123.0, .weight_decay = 0.01}, 3, {0.01, 0.03, 0.02}, 1e-14);
  }
  SECTION("three steps, AdamW, float") { check_toy_adam<float>({.lr = 0.05, .weight_decay = 0.1}, 3, {}, 2e-6); }
}

TEST_CASE("Adam: one AdamW step on a real Encoder<double> matches the recursion", "[optim][adam]") {
  ldm::Encoder<double> enc(4, 2, 6, ldm::make_key(0));
  ldm::Matrix<double> x(3, 4);
  x << 0.5, -1.0, 2.0, 0.25, -0.3, 0.8, 0.0, 1.5, 1.1, -0.7, -2.0, 0.4;
  ldm::EncoderWorkspace<double> ws;
  enc.forward(x, ws);
  const ldm::Matrix<double> d_mu = ws.out.mu;
  const ldm::Matrix<double> d_log_var = ldm::Matrix<double>::Ones(3, 2);
  auto grads = ldm::zeros_like(enc);
  enc.backward(x, ws, d_mu, d_log_var, grads);
  REQUIRE(ldm::global_grad_norm(grads) > 0.1);

  const ldm::AdamOptions o{.lr = 1e-2, .weight_decay = 0.01};
  const auto before = enc;
  ldm::Adam<ldm::Encoder<double>> adam(o, enc);
  adam.step(enc, grads);

  std::size_t checked = 0;
  ldm::visit_together(
      [&](const std::string& name, const auto& p0, const auto& g, const auto& p1) {
        for (Eigen::Index i = 0; i < p0.size(); ++i, ++checked) {
          ScalarAdam ref{p0.data()[i]};
          ref.step(o, g.data()[i], o.lr);
          INFO(name << " entry " << i);
          REQUIRE(std::abs(p1.data()[i] - static_cast<double>(ref.p)) <= 1e-15);
        }
      },
      before, grads, enc);
  REQUIRE(checked == ldm::count_parameters(enc));
  REQUIRE(checked == 4 * 6 + 6 + 6 * 6 + 6 + 2 * (6 * 2 + 2));
}

TEST_CASE("Adam: bias correction makes every step with a constant gradient lr * sign(g)", "[optim][adam]") {
  // With g constant, m_t = (1 - b1^t) g and v_t = (1 - b2^t) g^2, so m_hat = g, v_hat = g^2 and
  // the step is lr g / (|g| + eps). Without the correction step 1 would be lr 0.1/sqrt(0.001).
  const ldm::AdamOptions o{.lr = 1e-2};
  auto params = make_toy<double>(1, 2);
  params.weight << 1.0, -0.5;
  params.bias << 2.0;
  auto grads = make_toy<double>(1, 2);
  grads.weight << 1e-3, -20.0;
  grads.bias << 5.0;
  ldm::Adam<Toy<double>> adam(o, params);
  for (int t = 1; t <= 3; ++t) {
    const auto before = params;
    adam.step(params, grads);
    ldm::visit_together(
        [&](const std::string& name, const auto& p0, const auto& p1, const auto& g) {
          for (Eigen::Index i = 0; i < g.size(); ++i) {
            INFO(name << " entry " << i << " step " << t);
            const double gi = g.data()[i];
            const double delta = p1.data()[i] - p0.data()[i];
            REQUIRE(std::abs(delta + o.lr * gi / (std::abs(gi) + o.eps)) <= 1e-15);
            REQUIRE(std::abs(delta + o.lr * (gi > 0 ? 1.0 : -1.0)) <= o.lr * o.eps / std::abs(gi) + 1e-15);
          }
        },
        before, params, grads);
  }
}

TEST_CASE("Adam: decoupled weight decay with a zero gradient shrinks p by (1 - lr wd)", "[optim][adam]") {
  const ldm::AdamOptions o{.lr = 0.1, .weight_decay = 0.5};
  auto params = make_toy<double>(2, 2);
  fill(params, toy_param);
  const auto start = params;
  const auto grads = ldm::zeros_like(params);
  ldm::Adam<Toy<double>> adam(o, params);
  for (int t = 1; t <= 4; ++t) adam.step(params, grads);
  const long double factor = std::pow(1.0L - 0.1L * 0.5L, 4);  // 0.95^4
  ldm::visit_together(
      [&](const std::string&, const auto& p0, const auto& p) {
        for (Eigen::Index i = 0; i < p.size(); ++i)
          REQUIRE(std::abs(p.data()[i] - static_cast<double>(p0.data()[i] * factor)) <= 1e-15);
      },
      start, params);
  // Plain Adam (weight_decay 0) leaves p alone under a zero gradient.
  auto still = start;
  ldm::Adam<Toy<double>> plain({.lr = 0.1}, still);
  plain.step(still, grads);
  REQUIRE(still.weight == start.weight);
  REQUIRE(still.bias == start.bias);
}

TEST_CASE("Adam: lr 0 moves nothing but still counts the step and the moments", "[optim][adam]") {
  auto params = make_toy<double>(1, 1);
  params.weight << 1.5;
  params.bias << -1.0;
  auto grads = make_toy<double>(1, 1);
  grads.weight << 2.0;
  grads.bias << -4.0;
  ldm::Adam<Toy<double>> adam({.weight_decay = 0.1}, params);
  adam.step(params, grads, 0.0);
  REQUIRE(params.weight(0, 0) == 1.5);
  REQUIRE(params.bias(0) == -1.0);
  REQUIRE(adam.state().step == 1);
  REQUIRE(adam.state().m.weight(0, 0) == Approx(0.2).epsilon(1e-15));
  REQUIRE(adam.state().v.bias(0) == Approx(0.001 * 16.0).epsilon(1e-13));
}

TEST_CASE("Adam: bad options and bad calls throw naming the field", "[optim][adam]") {
  const auto params = make_toy<double>(2, 2);
  using A = ldm::Adam<Toy<double>>;
  REQUIRE_THROWS_WITH(A({.lr = -1.0}, params), Contains("Adam: lr must be >= 0, got -1"));
  REQUIRE_THROWS_WITH(A({.lr = std::nan("")}, params), Contains("lr"));
  REQUIRE_THROWS_WITH(A({.beta1 = 1.0}, params), Contains("beta1 must be in [0, 1), got 1"));
  REQUIRE_THROWS_WITH(A({.beta2 = -0.1}, params), Contains("beta2 must be in [0, 1), got -0.1"));
  REQUIRE_THROWS_WITH(A({.eps = 0.0}, params), Contains("eps must be > 0, got 0"));
  REQUIRE_THROWS_WITH(A({.weight_decay = -0.01}, params), Contains("weight_decay must be >= 0"));
  REQUIRE_NOTHROW(A({.lr = 0.0, .beta1 = 0.0, .beta2 = 0.0}, params));

  auto p = params;
  p.weight.setOnes();
  A adam({}, p);
  REQUIRE_THROWS_WITH(adam.step(p, p, -0.5), Contains("Adam::step: lr must be >= 0, got -0.5"));
  auto wrong = make_toy<double>(2, 3);
  wrong.weight.setOnes();
  wrong.bias.setOnes();
  const auto untouched = p;
  REQUIRE_THROWS_WITH(adam.step(p, wrong), Contains("Adam::step: gradient toy.weight is 2x3 but the parameter is 2x2"));
  REQUIRE(p.weight == untouched.weight);
  REQUIRE(adam.state().step == 0);
  adam.state().step = -3;
  REQUIRE_THROWS_WITH(adam.step(p, p), Contains("state().step must be >= 0, got -3"));
}

TEST_CASE("Adam: state saved as named tensors and restored gives bit-identical next steps",
          "[optim][adam][checkpoint]") {
  const ldm::AdamOptions o{.lr = 0.03, .weight_decay = 0.05};
  auto params = make_toy<double>(2, 3);
  fill(params, toy_param);
  auto grads = ldm::zeros_like(params);
  ldm::Adam<Toy<double>> adam(o, params);
  for (int t = 1; t <= 3; ++t) {
    fill(grads, [&](long k) { return toy_grad(t, k); });
    adam.step(params, grads);
  }

  Saved saved;
  std::vector<std::string> names;
  std::as_const(adam).visit_state([&](const std::string& name, const auto& tensor) {
    names.push_back(name);
    saved[name] = tensor;
  });
  const long long saved_step = adam.state().step;
  REQUIRE(names == std::vector<std::string>{"m.toy.weight", "m.toy.bias", "v.toy.weight", "v.toy.bias"});
  REQUIRE(saved_step == 3);

  ldm::Adam<Toy<double>> restored(o, params);
  restored.visit_state([&](const std::string& name, auto& tensor) { tensor = saved.at(name); });
  restored.state().step = saved_step;

  fill(grads, [&](long k) { return toy_grad(4, k); });
  auto a = params, b = params, fresh_params = params;
  adam.step(a, grads);
  restored.step(b, grads);
  REQUIRE(a.weight == b.weight);
  REQUIRE(a.bias == b.bias);
  REQUIRE(adam.state().m.weight == restored.state().m.weight);
  REQUIRE(adam.state().v.bias == restored.state().v.bias);
  // Without the restored state the next step differs, so the comparison above can fail.
  ldm::Adam<Toy<double>> fresh(o, params);
  fresh.step(fresh_params, grads);
  REQUIRE_FALSE(fresh_params.weight == a.weight);
}

TEST_CASE("Adam on a real model: state names follow the parameter names", "[optim][adam][checkpoint]") {
  const ldm::Encoder<float> enc(4, 2, 6, ldm::make_key(0));
  const ldm::Adam<ldm::Encoder<float>> adam({}, enc);
  std::vector<std::string> names;
  adam.visit_state([&](const std::string& name, const auto& t) {
    names.push_back(name);
    REQUIRE(t.isZero(0.0f));
  });
  REQUIRE(names.size() == 16);
  REQUIRE(names.front() == "m.enc_dense_0.weight");
  REQUIRE(names[8] == "v.enc_dense_0.weight");
  REQUIRE(names.back() == "v.enc_log_var.bias");
}

TEST_CASE("Adam step_and_zero_grad: the same update as step, then zero gradients", "[optim][adam]") {
  const ldm::Encoder<float> start(300, 8, 64, ldm::make_key(3));
  auto grads = ldm::zeros_like(start);
  fill(grads, [](long k) { return toy_grad(2, k); });
  ldm::Encoder<float> a = start, b = start;
  ldm::Adam<ldm::Encoder<float>> adam_a({.weight_decay = 0.01}, a), adam_b({.weight_decay = 0.01}, b);
  auto used = grads;
  {
    const ldm_test::NoMalloc no_malloc;
    REQUIRE_NOTHROW(adam_a.step(a, grads, 1e-3));
    REQUIRE_NOTHROW(adam_b.step_and_zero_grad(b, used, 1e-3));
  }
  ldm::visit_together(
      [](const std::string& name, const auto& pa, const auto& pb, const auto& g, const auto& u) {
        INFO(name);
        REQUIRE(pa == pb);
        REQUIRE(g.cwiseAbs().maxCoeff() > 0.0f);
        REQUIRE(u.cwiseAbs().maxCoeff() == 0.0f);
      },
      std::as_const(a), std::as_const(b), std::as_const(grads), std::as_const(used));
  REQUIRE(adam_b.state().step == 1);
  // A bad call throws and leaves the gradients as they were.
  auto wrong = ldm::zeros_like(ldm::Encoder<float>(300, 8, 32, ldm::make_key(4)));
  ldm::visit_together([](const std::string&, auto& g) { g.setConstant(2.0f); }, wrong);
  REQUIRE_THROWS_WITH(adam_b.step_and_zero_grad(b, wrong, 1e-3), Contains("gradient"));
  REQUIRE(wrong.enc_mu.weight.minCoeff() == 2.0f);
  REQUIRE(adam_b.state().step == 1);
}

TEST_CASE("Adam step, clipping and EMA update allocate nothing", "[optim][alloc]") {
  ldm::Encoder<float> enc(4, 2, 6, ldm::make_key(1));
  auto grads = ldm::zeros_like(enc);
  ldm::visit_together([](const std::string&, auto& g) { g.setConstant(0.5f); }, grads);
  ldm::Adam<ldm::Encoder<float>> adam({.weight_decay = 0.01}, enc);
  ldm::Ema<ldm::Encoder<float>> ema({}, enc);
  {
    const ldm_test::NoMalloc no_malloc;
    // The guard is live: an Eigen allocation now throws.
    REQUIRE_THROWS_AS(ldm::Matrix<float>(3, 3), std::logic_error);
    REQUIRE_NOTHROW(ldm::clip_grad_norm(1.0, grads));
    REQUIRE_NOTHROW(adam.step(enc, grads));
    REQUIRE_NOTHROW(adam.step(enc, grads, 1e-4));
    REQUIRE_NOTHROW(ema.update(enc));
  }
  REQUIRE(adam.state().step == 2);
}

TEST_CASE("Adam and EMA give the same bits for 1, 2 and 3 threads", "[optim][adam][ema]") {
  // Large enough that every weight is split among the threads (4096-coefficient slices).
  const ldm::Encoder<float> start(300, 8, 512, ldm::make_key(1));
  auto grads = ldm::zeros_like(start);
  fill(grads, [](long k) { return toy_grad(1, k); });
  const auto run = [&](int threads) {
    ldm::set_num_threads(threads);
    ldm::Encoder<float> enc = start;
    ldm::Adam<ldm::Encoder<float>> adam({.weight_decay = 0.01}, enc);
    ldm::Ema<ldm::Encoder<float>> ema({}, enc);
    for (int t = 0; t < 3; ++t) {
      adam.step(enc, grads);
      ema.update(enc);
    }
    ldm::set_num_threads(0);
    return std::make_pair(enc, ema.average());
  };
  const auto one = run(1);
  REQUIRE(one.first.enc_dense_0.weight != start.enc_dense_0.weight);
  for (int threads : {2, 3}) {
    const auto more = run(threads);
    ldm::visit_together(
        [&](const std::string& name, const auto& a, const auto& b, const auto& c, const auto& d) {
          INFO(name << ", threads " << threads);
          REQUIRE(a == b);
          REQUIRE(c == d);
        },
        one.first, more.first, one.second, more.second);
  }
}

TEST_CASE("Adam step_and_zero_grad with an Ema: the same bits as the step, then ema.update", "[optim][adam][ema]") {
  const ldm::Encoder<float> start(300, 8, 512, ldm::make_key(5));
  auto grads = ldm::zeros_like(start);
  for (int threads : {1, 2, 3}) {
    ldm::set_num_threads(threads);
    ldm::Encoder<float> a = start, b = start;
    ldm::Adam<ldm::Encoder<float>> adam_a({.weight_decay = 0.01}, a), adam_b({.weight_decay = 0.01}, b);
    ldm::Ema<ldm::Encoder<float>> ema_a({.max_decay = 0.99}, a), ema_b({.max_decay = 0.99}, b);
    for (int t = 1; t <= 4; ++t) {  // the decays 0, 2/11, 3/12, 4/13: the average leaves the weights
      fill(grads, [&](long k) { return toy_grad(t, k); });
      auto used = grads;
      adam_a.step(a, grads, 1e-3);
      ema_a.update(a);
      const ldm_test::NoMalloc no_malloc;
      REQUIRE_NOTHROW(adam_b.step_and_zero_grad(b, used, 1e-3, ema_b));
      REQUIRE(used.enc_mu.weight.cwiseAbs().maxCoeff() == 0.0f);
    }
    REQUIRE(ema_b.step() == 4);
    REQUIRE(ema_b.current_decay() == ema_a.current_decay());
    REQUIRE(ema_b.average().enc_dense_0.weight != b.enc_dense_0.weight);
    ldm::visit_together(
        [&](const std::string& name, const auto& pa, const auto& pb, const auto& sa, const auto& sb) {
          INFO(name << ", threads " << threads);
          REQUIRE(pa == pb);
          REQUIRE(sa == sb);
        },
        std::as_const(a), std::as_const(b), ema_a.average(), ema_b.average());
    // An average of another shape throws before anything changes: the parameters, the
    // gradients, Adam's and the average's counters.
    ldm::Ema<ldm::Encoder<float>> other({}, ldm::Encoder<float>(300, 8, 32, ldm::make_key(4)));
    const ldm::Encoder<float> before = b;
    grads.enc_mu.weight.setConstant(2.0f);
    REQUIRE_THROWS_WITH(adam_b.step_and_zero_grad(b, grads, 1e-3, other), Contains("average"));
    REQUIRE(b.enc_dense_0.weight == before.enc_dense_0.weight);
    REQUIRE(grads.enc_mu.weight.minCoeff() == 2.0f);
    REQUIRE(adam_b.state().step == 4);
    REQUIRE(other.step() == 0);
  }
  ldm::set_num_threads(0);
}
