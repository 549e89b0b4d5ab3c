// Tests of diffusion/guidance.hpp: GuidedDenoiser, classifier-free guidance
// eps = eps_u + w (eps_c - eps_u), alone and inside every sampler.
#include <ldm/core/random.hpp>
#include <ldm/diffusion/guidance.hpp>
#include <ldm/diffusion/samplers.hpp>
#include <ldm/diffusion/schedule.hpp>

#include <catch2/catch.hpp>

#include "support/gradcheck.hpp"
#include "support/labels.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

using namespace ldm;
using Catch::Matchers::Contains;
using ldm_test::ints;

namespace {

// The unconditional and the conditional prediction of den, each from its own B-row pass.
struct Predictions {
  Matrix<double> uncond, cond;
};

Predictions predictions(const Denoiser<double>& den, const Matrix<double>& z, const Eigen::VectorXi& t,
                        const Eigen::VectorXi& labels) {
  DenoiserWorkspace<double> ws;
  den.forward(z, t, ws);
  Predictions p{ws.out, {}};
  den.forward(z, t, labels, ws);
  p.cond = ws.out;
  return p;
}

}  // namespace

TEST_CASE("guidance: w = 0 is the unconditional and w = 1 the conditional prediction bit for bit, else the mix") {
  Denoiser<double> den(3, 8, 2, 100, make_key(31), TimeEmbedding::normalized, 4);
  ldm_test::randomize(den, make_key(32));
  const Matrix<double> z = normal<double>(make_key(33), 6, 3).values;
  const Eigen::VectorXi labels = ints({0, 3, 1, 1, 2, 4});
  for (const Eigen::VectorXi& t : {Eigen::VectorXi(Eigen::VectorXi::Constant(6, 60)), ints({0, 5, 10, 50, 98, 99})}) {
    const Predictions p = predictions(den, z, t, labels);
    const Matrix<double>& uncond = p.uncond;
    const Matrix<double>& cond = p.cond;
    GuidedDenoiser<double> w0(den, labels, 0.0), w1(den, labels, 1.0), w3(den, labels, 3.0);
    REQUIRE(w0(z, t) == uncond);
    REQUIRE(w1(z, t) == cond);
    const Matrix<double> mixed = uncond + 3.0 * (cond - uncond);
    REQUIRE((w3(z, t) - mixed).norm() < 1e-12 * mixed.norm());
    REQUIRE((w3(z, t) - cond).norm() > 1e-3);
    const Matrix<double> first = w3(z, t);
    REQUIRE(w3(z, t) == first);  // the buffers are reused; a second call gives the same values
  }
  REQUIRE(GuidedDenoiser<double>(den, labels, 2.5).scale() == 2.5);
  const Denoiser<double> plain(3, 8, 1, 100, make_key(0));
  REQUIRE_THROWS_WITH(GuidedDenoiser<double>(plain, labels, 2.0), Contains("the denoiser is unconditional"));
  REQUIRE_THROWS_WITH(GuidedDenoiser<double>(den, ints({0, 5}), 2.0), Contains("labels(1) = 5 is outside [0, 4]"));
  REQUIRE_THROWS_WITH(GuidedDenoiser<double>(den, labels, INFINITY), Contains("guidance scale must be finite"));
  GuidedDenoiser<double> guided(den, ints({0, 1}), 2.0);
  REQUIRE_THROWS_WITH(guided(z, Eigen::VectorXi::Constant(6, 3)), Contains("it has 2 labels but z_t has 6 rows"));
}

TEST_CASE("guidance: w = 2 is eps_u + 2 (eps_c - eps_u), entry by entry") {
  Denoiser<double> den(3, 8, 1, 50, make_key(51), TimeEmbedding::normalized, 3);
  ldm_test::randomize(den, make_key(52));
  const Matrix<double> z = normal<double>(make_key(53), 5, 3).values;
  const Eigen::VectorXi labels = ints({2, 0, 3, 1, 0});  // 3 = no label: that row is eps_u itself
  for (const Eigen::VectorXi& t : {Eigen::VectorXi(Eigen::VectorXi::Constant(5, 17)), ints({0, 9, 25, 40, 49})}) {
    INFO("t(0) " << t(0));
    const Predictions p = predictions(den, z, t, labels);
    GuidedDenoiser<double> w2(den, labels, 2.0);
    const Matrix<double> got = w2(z, t);
    REQUIRE(got.rows() == 5);
    REQUIRE(got.cols() == 3);
    for (Eigen::Index r = 0; r < 5; ++r)
      for (Eigen::Index c = 0; c < 3; ++c) {
        const double eps_u = p.uncond(r, c), eps_c = p.cond(r, c);
        const double expected = eps_u + 2.0 * (eps_c - eps_u);
        INFO("row " << r << ", column " << c << ": eps_u " << eps_u << ", eps_c " << eps_c);
        REQUIRE(std::abs(got(r, c) - expected) <= 1e-13 * (1.0 + std::abs(expected)));
      }
    // Every labelled row moves past eps_c; the "no label" row (eps_c = eps_u) stays eps_u.
    for (const Eigen::Index r : {0, 1, 3, 4}) REQUIRE((got.row(r) - p.cond.row(r)).norm() > 1e-6);
    REQUIRE((got.row(2) - p.uncond.row(2)).norm() <= 1e-13 * (1.0 + p.uncond.row(2).norm()));
  }
}

TEST_CASE("guidance: every constructor error and the call's batch check, with their messages") {
  const Denoiser<double> den(3, 8, 1, 100, make_key(61), TimeEmbedding::normalized, 4);
  const Eigen::VectorXi labels = ints({0, 4, 2});
  const GuidedDenoiser<double> ok(den, labels, -1.5);  // any finite scale; label 4 is "no label"
  REQUIRE(ok.scale() == -1.5);
  REQUIRE(ok.labels() == labels);

  const Denoiser<double> plain(3, 8, 1, 100, make_key(0));
  REQUIRE_THROWS_AS(GuidedDenoiser<double>(plain, labels, 2.0), std::invalid_argument);
  REQUIRE_THROWS_WITH(GuidedDenoiser<double>(plain, labels, 2.0),
                      "GuidedDenoiser: the denoiser is unconditional (num_classes = 0); guidance needs a model "
                      "trained with labels");
  const double inf = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_AS(GuidedDenoiser<double>(den, labels, inf), std::invalid_argument);
  REQUIRE_THROWS_WITH(GuidedDenoiser<double>(den, labels, inf),
                      "GuidedDenoiser: the guidance scale must be finite, got inf");
  REQUIRE_THROWS_WITH(GuidedDenoiser<double>(den, labels, -inf),
                      "GuidedDenoiser: the guidance scale must be finite, got -inf");
  REQUIRE_THROWS_WITH(GuidedDenoiser<double>(den, labels, std::numeric_limits<double>::quiet_NaN()),
                      "GuidedDenoiser: the guidance scale must be finite, got nan");
  REQUIRE_THROWS_AS(GuidedDenoiser<double>(den, ints({0, 5}), 2.0), std::invalid_argument);
  REQUIRE_THROWS_WITH(GuidedDenoiser<double>(den, ints({0, 5}), 2.0),
                      "GuidedDenoiser: labels(1) = 5 is outside [0, 4] (4 = no label)");
  REQUIRE_THROWS_WITH(GuidedDenoiser<double>(den, ints({1, 2, -1, 9}), 2.0),
                      "GuidedDenoiser: labels(2) = -1 is outside [0, 4] (4 = no label)");  // the first bad one

  // The batch must have one row per label, at every scale (w = 0 and 1 take their own path).
  const Matrix<double> z = Matrix<double>::Zero(2, 3);
  const Eigen::VectorXi t = ints({5, 5});
  for (const double scale : {0.0, 1.0, 2.0}) {
    INFO("scale " << scale);
    GuidedDenoiser<double> guided(den, labels, scale);
    REQUIRE_THROWS_AS(guided(z, t), std::invalid_argument);
    REQUIRE_THROWS_WITH(guided(z, t), "GuidedDenoiser: it has 3 labels but z_t has 2 rows");
  }
}

TEST_CASE("guidance works with every sampler, at w = 0 the samples are the unconditional ones bit for bit") {
  Denoiser<float> den(2, 16, 1, 40, make_key(41), TimeEmbedding::normalized, 3);
  ldm_test::randomize(den, make_key(42), 0.3);
  const auto schedule = make_schedule<float>({.num_steps = 40});
  const Matrix<float> x_T = normal<float>(make_key(43), 9, 2).values;
  const Eigen::VectorXi labels = ints({0, 0, 0, 1, 1, 1, 2, 2, 2});
  DenoiserWorkspace<float> ws;
  const auto plain = [&](const Matrix<float>& z_t, const Eigen::VectorXi& t) -> const Matrix<float>& {
    den.forward(z_t, t, ws);
    return ws.out;
  };
  for (const SamplerKind kind : {SamplerKind::ddpm, SamplerKind::ddim, SamplerKind::dpmpp_2m}) {
    INFO("sampler " << static_cast<int>(kind));
    const SamplerOptions options{.kind = kind, .num_steps = 10, .eta = 0.5};
    GuidedDenoiser<float> w0(den, labels, 0.0), w3(den, labels, 3.0);
    const Matrix<float> reference = sample(plain, schedule, x_T, make_key(44), options).values;
    REQUIRE(sample(w0, schedule, x_T, make_key(44), options).values == reference);
    const Matrix<float> guided = sample(w3, schedule, x_T, make_key(44), options).values;
    REQUIRE(guided.allFinite());
    REQUIRE((guided - reference).norm() > 1e-3);
  }
}
