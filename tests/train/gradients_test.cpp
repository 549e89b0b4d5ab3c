// ldm/train/gradients.hpp: zero_gradients, global_grad_norm and clip_grad_norm (PyTorch's rule).

// Eigen's allocation guard, so zero_gradients can be shown to allocate nothing.
#include "support/no_malloc.hpp"

#include <ldm/core/random.hpp>
#include <ldm/core/threads.hpp>
#include <ldm/nn/encoder.hpp>
#include <ldm/train/gradients.hpp>

#include <catch2/catch.hpp>

#include "support/toy_model.hpp"
#include "support/toy_values.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <utility>

using Catch::Matchers::Contains;
using ldm_test::make_toy;

TEST_CASE("global_grad_norm and clip_grad_norm across two models", "[optim][clip]") {
  auto a = make_toy<double>(1, 2);
  a.weight << 3.0, 0.0;
  a.bias << 0.0;
  auto b = make_toy<float>(1, 1);  // a model of another scalar type: summed in double as well
  b.weight << 0.0f;
  b.bias << 4.0f;
  REQUIRE(ldm::global_grad_norm(a, b) == 5.0);
  REQUIRE(ldm::global_grad_norm(a) == 3.0);

  SECTION("above the threshold: scaled by max_norm / (norm + 1e-6), the norm before returned") {
    const double norm = ldm::clip_grad_norm(1.0, a, b);
    REQUIRE(norm == 5.0);
    REQUIRE(std::abs(ldm::global_grad_norm(a, b) - 1.0) <= 1e-6);
    REQUIRE(a.weight(0, 0) == Approx(3.0 / (5.0 + 1e-6)).epsilon(1e-15));
    REQUIRE(b.bias(0) == Approx(4.0 / (5.0 + 1e-6)).epsilon(1e-7));
    REQUIRE(a.weight(0, 1) == 0.0);
  }
  SECTION("below the threshold: untouched") {
    const auto a0 = a;
    const auto b0 = b;
    REQUIRE(ldm::clip_grad_norm(10.0, a, b) == 5.0);
    REQUIRE(a.weight == a0.weight);
    REQUIRE(a.bias == a0.bias);
    REQUIRE(b.weight == b0.weight);
    REQUIRE(b.bias == b0.bias);
  }
  SECTION("exactly at the threshold PyTorch still scales by 5 / (5 + 1e-6)") {
    ldm::clip_grad_norm(5.0, a, b);
    REQUIRE(a.weight(0, 0) == Approx(15.0 / (5.0 + 1e-6)).epsilon(1e-15));
    REQUIRE(a.weight(0, 0) < 3.0);
  }
  SECTION("one model alone") {
    REQUIRE(ldm::clip_grad_norm(1.5, a) == 3.0);
    REQUIRE(a.weight(0, 0) == Approx(1.5 * 3.0 / (3.0 + 1e-6)).epsilon(1e-15));
    REQUIRE(b.bias(0) == 4.0f);
  }
  SECTION("a non-finite norm is returned and the gradients are left alone") {
    a.bias << std::numeric_limits<double>::infinity();
    REQUIRE(std::isinf(ldm::clip_grad_norm(1.0, a, b)));
    REQUIRE(a.weight(0, 0) == 3.0);
  }
  SECTION("max_norm <= 0 throws") {
    REQUIRE_THROWS_WITH(ldm::clip_grad_norm(0.0, a, b), Contains("clip_grad_norm: max_norm must be > 0, got 0"));
    REQUIRE_THROWS_WITH(ldm::clip_grad_norm(-1.0, a), Contains("max_norm"));
  }
}

TEST_CASE("zero_gradients zeroes every tensor of every model, allocating nothing", "[optim]") {
  ldm::Encoder<float> enc(300, 8, 512, ldm::make_key(1));  // 0.3M coefficients: several slices
  ldm::Encoder<float> small(4, 2, 6, ldm::make_key(2));
  for (int threads : {1, 2}) {
    ldm::set_num_threads(threads);
    ldm::visit_together([](const std::string&, auto& g) { g.setConstant(0.5f); }, enc);
    ldm::visit_together([](const std::string&, auto& g) { g.setConstant(-1.0f); }, small);
    {
      const ldm_test::NoMalloc no_malloc;
      REQUIRE_NOTHROW(ldm::zero_gradients(enc, small));
    }
    ldm::visit_together(
        [](const std::string& name, const auto& g) {
          INFO(name);
          REQUIRE(g.size() > 0);
          REQUIRE(g.cwiseAbs().maxCoeff() == 0.0f);
        },
        std::as_const(enc));
    REQUIRE(small.enc_mu.weight.cwiseAbs().maxCoeff() == 0.0f);
    REQUIRE(small.enc_log_var.bias.cwiseAbs().maxCoeff() == 0.0f);
  }
  ldm::set_num_threads(0);
}
