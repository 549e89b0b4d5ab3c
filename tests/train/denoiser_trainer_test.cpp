// ldm/train/denoiser_trainer.hpp: the denoiser loss and its gradient (eps and v, min-SNR, with
// labels), label dropout, DenoiserTrainer and train_denoiser, and the reproducibility of both
// training phases together.
#include <catch2/catch.hpp>

#include <ldm/train/denoiser_trainer.hpp>
#include <ldm/train/latents.hpp>
#include <ldm/train/vae_trainer.hpp>

#include "support/gradcheck.hpp"
#include "support/labels.hpp"
#include "support/train_data.hpp"

#include <cmath>
#include <string>
#include <tuple>

using namespace ldm;
using Catch::Matchers::Contains;
using ldm_test::ints;
using ldm_test::mean_of;
using ldm_test::plane_data;

namespace {

// 64 latents in 2 dimensions from 3 classes, fixed (mean) latents with identity scaling.
LatentSet<double> labelled_latents() {
  LatentSet<double> set;
  set.mu = normal<double>(make_key(20), 64, 2).values;
  set.log_var = Matrix<double>::Constant(64, 2, -4);
  set.scaling.mean = Vector<double>::Zero(2);
  set.scaling.scale = Vector<double>::Ones(2);
  set.labels = ldm_test::cyclic_labels(64, 3);
  return set;
}

}  // namespace

TEST_CASE("one denoiser step's gradient equals the finite difference of its loss (eps and v, min-SNR)") {
  const auto schedule = make_schedule<double>({.num_steps = 50});
  Denoiser<double> den(3, 6, 2, 50, make_key(5));
  ldm_test::randomize(den, make_key(6));
  const Matrix<double> z0 = normal<double>(make_key(7), 5, 3).values;
  const Matrix<double> eps = normal<double>(make_key(8), 5, 3).values;
  Eigen::VectorXi t(5);
  t << 0, 3, 20, 41, 49;
  for (const Prediction prediction : {Prediction::epsilon, Prediction::v}) {
    for (const double gamma : {0.0, 5.0}) {
      DenoiserBuffers<double> buffers;
      Denoiser<double> grad = zeros_like(den), scratch = zeros_like(den);
      denoiser_loss_and_gradient(den, schedule, z0, t, eps, prediction, gamma, grad, buffers);
      const auto loss = [&] {
        DenoiserBuffers<double> b;
        return denoiser_loss_and_gradient(den, schedule, z0, t, eps, prediction, gamma, scratch, b);
      };
      REQUIRE(ldm_test::max_parameter_error(den, grad, loss) < 1e-6);
    }
  }
}

TEST_CASE("the denoiser loss is the plain MSE against eps or v") {
  const auto schedule = make_schedule<double>({.num_steps = 10});
  Denoiser<double> den(2, 4, 1, 10, make_key(9));
  const Matrix<double> z0 = normal<double>(make_key(10), 3, 2).values;
  const Matrix<double> eps = normal<double>(make_key(11), 3, 2).values;
  Eigen::VectorXi t(3);
  t << 1, 5, 9;
  Denoiser<double> grad = zeros_like(den);
  DenoiserBuffers<double> b;
  const double loss = denoiser_loss_and_gradient(den, schedule, z0, t, eps, Prediction::epsilon, 0.0, grad, b);
  const Matrix<double> z_t = add_noise(schedule, z0, t, eps);
  REQUIRE(loss == Approx((den(z_t, t) - eps).squaredNorm() / 6).epsilon(1e-13));
  const double v_loss = denoiser_loss_and_gradient(den, schedule, z0, t, eps, Prediction::v, 0.0, grad, b);
  REQUIRE(v_loss == Approx((den(z_t, t) - velocity(schedule, z0, t, eps)).squaredNorm() / 6).epsilon(1e-13));
}

TEST_CASE("the denoiser loss with labels: gradient equals finite differences (eps and v)") {
  const auto schedule = make_schedule<double>({.num_steps = 50});
  Denoiser<double> den(3, 6, 1, 50, make_key(15), TimeEmbedding::normalized, 2);
  ldm_test::randomize(den, make_key(16));
  const Matrix<double> z0 = normal<double>(make_key(17), 5, 3).values;
  const Matrix<double> eps = normal<double>(make_key(18), 5, 3).values;
  const Eigen::VectorXi t = ints({0, 3, 20, 41, 49});
  const Eigen::VectorXi labels = ints({1, 0, 2, 1, 1});
  for (const Prediction prediction : {Prediction::epsilon, Prediction::v}) {
    DenoiserBuffers<double> buffers;
    Denoiser<double> grad = zeros_like(den), scratch = zeros_like(den);
    const double value = denoiser_loss_and_gradient(den, schedule, z0, t, labels, eps, prediction, 5.0, grad, buffers);
    const auto loss = [&] {
      DenoiserBuffers<double> b;
      return denoiser_loss_and_gradient(den, schedule, z0, t, labels, eps, prediction, 5.0, scratch, b);
    };
    REQUIRE(value == loss());
    REQUIRE(ldm_test::max_parameter_error(den, grad, loss) < 1e-6);
  }
}

TEST_CASE("min-SNR weights: min(SNR, gamma)/SNR for eps, min(SNR, gamma)/(SNR + 1) for v") {
  const auto schedule = make_schedule<double>({});
  const double abar0 = schedule.alphas_cumprod_f64(0), snr0 = abar0 / (1 - abar0);  // ~9999
  REQUIRE(min_snr_weight(schedule, 0, Prediction::epsilon, 5.0) == Approx(5 / snr0));
  REQUIRE(min_snr_weight(schedule, 0, Prediction::v, 5.0) == Approx(5 / (snr0 + 1)));
  const double abar = schedule.alphas_cumprod_f64(999), snr = abar / (1 - abar);  // ~4e-5
  REQUIRE(min_snr_weight(schedule, 999, Prediction::epsilon, 5.0) == 1.0);
  REQUIRE(min_snr_weight(schedule, 999, Prediction::v, 5.0) == Approx(snr / (snr + 1)));
  REQUIRE(min_snr_weight(schedule, 0, Prediction::epsilon, 0.0) == 1.0);
}

TEST_CASE("drop_labels: the share of dropped labels is p, the rest unchanged, drawn from the key") {
  const Eigen::Index n = 200000;
  Eigen::VectorXi labels(n);
  for (Eigen::Index i = 0; i < n; ++i) labels(i) = static_cast<int>(i % 7);
  Eigen::VectorXi out;
  drop_labels(labels, 0.1, 7, make_key(3), out);
  const double share = (out.array() == 7).cast<double>().mean();
  const double sigma = std::sqrt(0.1 * 0.9 / static_cast<double>(n));
  INFO("dropped share " << share);
  REQUIRE(std::abs(share - 0.1) < 5 * sigma);  // binomial, 5 standard deviations
  REQUIRE(((out.array() == 7) || (out.array() == labels.array())).all());
  Eigen::VectorXi again = labels;
  drop_labels(again, 0.1, 7, make_key(3), again);  // in place, same key: the same rows
  REQUIRE(again == out);
  drop_labels(labels, 0.1, 7, make_key(4), again);
  REQUIRE(again != out);
  drop_labels(labels, 0.0, 7, make_key(3), out);
  REQUIRE(out == labels);
  drop_labels(labels, 1.0, 7, make_key(3), out);
  REQUIRE((out.array() == 7).all());
  REQUIRE_THROWS_WITH(drop_labels(labels, 1.5, 7, make_key(3), out), Contains("p must be in [0, 1], got 1.5"));
  REQUIRE_THROWS_WITH(drop_labels(labels, std::nan(""), 7, make_key(3), out), Contains("p must be in [0, 1]"));
}

TEST_CASE("DenoiserTrainer with labels: label_dropout 1 trains only the no-label row, 0 never it") {
  const auto schedule = make_schedule<double>({.num_steps = 20});
  const LatentSet<double> latents = labelled_latents();
  for (const double dropout : {0.0, 1.0}) {
    Denoiser<double> den(2, 8, 1, 20, make_key(21), TimeEmbedding::normalized, 3);
    const Matrix<double> before = den.label_embed;
    DenoiserTrainer<double> trainer(
        den, latents, schedule,
        {.steps = 3, .batch_size = 16, .warmup_steps = 0, .ema_decay = 0, .label_dropout = dropout}, make_key(22));
    trainer.step();
    INFO("label_dropout " << dropout);
    for (int row = 0; row < 4; ++row) {
      const bool changed = den.label_embed.row(row) != before.row(row);
      REQUIRE(changed == (dropout == 1.0 ? row == 3 : row < 3));
    }
  }
}

TEST_CASE("DenoiserTrainer with labels: runs are bit-reproducible and the dropout draw follows the key") {
  const auto schedule = make_schedule<double>({.num_steps = 20});
  const LatentSet<double> latents = labelled_latents();
  const auto run = [&](double dropout, Key key) {
    Denoiser<double> den(2, 8, 1, 20, make_key(23), TimeEmbedding::normalized, 3);
    train_denoiser(den, latents, schedule, {.steps = 12, .batch_size = 16, .warmup_steps = 2, .label_dropout = dropout},
                   key);
    return den;
  };
  const Denoiser<double> a = run(0.5, make_key(1)), b = run(0.5, make_key(1));
  const Denoiser<double> c = run(0.2, make_key(1)), d = run(0.5, make_key(2));
  bool same = true;
  visit_together([&](const std::string&, const auto& x, const auto& y) { same = same && x == y; }, a, b);
  REQUIRE(same);
  REQUIRE(a.label_embed != c.label_embed);
  REQUIRE(a.label_embed != d.label_embed);
}

TEST_CASE("conditional training input: labels and models must go together, checked with clear messages") {
  const auto schedule = make_schedule<double>({.num_steps = 20});
  LatentSet<double> latents = labelled_latents();
  Denoiser<double> plain(2, 8, 1, 20, make_key(0));
  REQUIRE_THROWS_WITH(train_denoiser(plain, latents, schedule, {}, make_key(0)),
                      Contains("latents.labels is set but the denoiser is unconditional"));
  Denoiser<double> den(2, 8, 1, 20, make_key(0), TimeEmbedding::normalized, 3);
  REQUIRE_THROWS_WITH(train_denoiser(den, latents, schedule, {.label_dropout = -0.1}, make_key(0)),
                      Contains("label_dropout must be in [0, 1], got -0.1"));
  latents.labels(5) = 4;
  REQUIRE_THROWS_WITH(train_denoiser(den, latents, schedule, {}, make_key(0)),
                      Contains("latents.labels(5) = 4 is outside [0, 3]"));
  latents.labels.resize(10);
  REQUIRE_THROWS_WITH(train_denoiser(den, latents, schedule, {}, make_key(0)),
                      Contains("num_classes = 3 but latents.labels has 10 entries for 64 rows"));
}

TEST_CASE("bad denoiser training input throws a message naming the problem") {
  Encoder<float> enc(8, 2, 8, make_key(1));
  const Matrix<float> data = Matrix<float>::Zero(10, 8);
  Denoiser<float> den(2, 8, 1, 20, make_key(3));
  const LatentSet<float> latents = encode_latents(enc, data, LatentSource::mean);
  const auto other = make_schedule<float>({.num_steps = 30});
  REQUIRE_THROWS_WITH(train_denoiser(den, latents, other, {}, make_key(0)),
                      Contains("schedule has 30 steps but the denoiser 20"));
}

TEST_CASE("denoiser training on 2-D latents cuts the loss 2.5x in 400 steps", "[slow]") {
  // Latents from two well separated clusters: eps prediction is learnable well below 1.
  const auto schedule = make_schedule<double>({.num_steps = 100});
  LatentSet<double> latents;
  latents.mu = normal<double>(make_key(30), 512, 2).values * 0.1;
  latents.mu.topRows(256).array() += 2.0;
  latents.log_var = Matrix<double>::Constant(512, 2, -6);
  latents.scaling.mean = Vector<double>::Constant(2, 0.0);
  latents.scaling.scale = Vector<double>::Constant(2, 2.0);
  Denoiser<double> den(2, 32, 2, 100, make_key(31));
  const DenoiserTrainOptions options{.steps = 400, .batch_size = 128, .lr = 2e-3, .warmup_steps = 20, .ema_decay = 0};
  const TrainResult result = train_denoiser(den, latents, schedule, options, make_key(32));
  const double first = mean_of(result.loss, 0, 20), last = mean_of(result.loss, 380, 20);
  INFO("denoiser loss first 20 steps " << first << ", last 20 " << last);
  REQUIRE(result.loss.size() == 400);
  REQUIRE(last < first / 2.5);
}

TEST_CASE("the same key and data give bit-identical weights, another key does not") {
  const Matrix<float> data = plane_data(make_key(40), 64).cast<float>();
  const auto schedule = make_schedule<float>({.num_steps = 20});
  const auto run = [&](Key key) {
    Encoder<float> enc(8, 2, 8, make_key(41));
    Decoder<float> dec(8, 2, 8, make_key(42));
    Denoiser<float> den(2, 8, 1, 20, make_key(43));
    const TrainResult vae = train_vae(enc, dec, data, {.steps = 30, .batch_size = 16, .kl_warmup_steps = 10}, key);
    const LatentSet<float> latents = encode_latents(enc, data, LatentSource::posterior_sample);
    train_denoiser(den, latents, schedule, {.steps = 30, .batch_size = 16, .warmup_steps = 5}, vae.key);
    return std::tuple{enc, dec, den};
  };
  const auto [e1, d1, n1] = run(make_key(7));
  const auto [e2, d2, n2] = run(make_key(7));
  const auto [e3, d3, n3] = run(make_key(8));
  bool identical = true;
  visit_together([&](const std::string&, const auto& a, const auto& b) { identical = identical && a == b; }, e1, e2);
  visit_together([&](const std::string&, const auto& a, const auto& b) { identical = identical && a == b; }, d1, d2);
  visit_together([&](const std::string&, const auto& a, const auto& b) { identical = identical && a == b; }, n1, n2);
  REQUIRE(identical);
  REQUIRE(e1.enc_dense_0.weight != e3.enc_dense_0.weight);
  REQUIRE(n1.noise_pred.weight != n3.noise_pred.weight);
}
