#include <catch2/catch.hpp>

#include <ldm/train/train.hpp>

#include "support/gradcheck.hpp"

#include <algorithm>
#include <numeric>
#include <set>

using namespace ldm;
using Catch::Matchers::Contains;

namespace {

// 400 rows in 8 columns that lie near a 2-D plane: easy for a VAE with a 2-D latent.
Matrix<double> plane_data(Key key, Eigen::Index rows = 400) {
  const auto [coords, k1] = normal<double>(key, rows, 2);
  const auto [basis, k2] = normal<double>(k1, 2, 8);
  const auto [noise, k3] = normal<double>(k2, rows, 8);
  return coords * basis + 0.05 * noise;
}

double mean_of(const std::vector<double>& v, std::size_t first, std::size_t count) {
  return std::accumulate(v.begin() + static_cast<long>(first), v.begin() + static_cast<long>(first + count), 0.0) /
         static_cast<double>(count);
}

}  // namespace

TEST_CASE("one VAE step's gradient equals the finite difference of its total loss") {
  Encoder<double> enc(5, 2, 6, make_key(1));
  Decoder<double> dec(5, 2, 6, make_key(2));
  const Matrix<double> x = normal<double>(make_key(3), 4, 5).values;
  const Key noise = make_key(4);
  VaeBuffers<double> buffers;
  Encoder<double> g_enc = zeros_like(enc), scratch_e = zeros_like(enc);
  Decoder<double> g_dec = zeros_like(dec), scratch_d = zeros_like(dec);
  const VaeLoss loss = vae_loss_and_gradient(enc, dec, x, noise, 0.3, g_enc, g_dec, buffers);
  REQUIRE(loss.total == Approx(loss.reconstruction + 0.3 * loss.kl).epsilon(1e-14));
  const auto total = [&] {
    VaeBuffers<double> b;
    return vae_loss_and_gradient(enc, dec, x, noise, 0.3, scratch_e, scratch_d, b).total;
  };
  REQUIRE(test::max_parameter_error(enc, g_enc, total) < 1e-6);
  REQUIRE(test::max_parameter_error(dec, g_dec, total) < 1e-6);
}

TEST_CASE("one denoiser step's gradient equals the finite difference of its loss (eps and v, min-SNR)") {
  const auto schedule = make_schedule<double>({.num_steps = 50});
  Denoiser<double> den(3, 6, 2, 50, make_key(5));
  test::randomize(den, make_key(6));
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
      REQUIRE(test::max_parameter_error(den, grad, loss) < 1e-6);
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

TEST_CASE("BatchOrder: every epoch is a permutation drawn from the key") {
  BatchOrder order(10, 3, make_key(1));
  REQUIRE(order.batch_size() == 3);
  std::multiset<std::uint32_t> epoch0;
  for (int s = 0; s < 3; ++s)
    for (auto i : order.batch(s)) epoch0.insert(i);
  REQUIRE(epoch0.size() == 9);  // 3 batches of 3, the 10th row dropped this epoch
  REQUIRE(std::set<std::uint32_t>(epoch0.begin(), epoch0.end()).size() == 9);
  const auto first_of_epoch1 = std::vector<std::uint32_t>(order.batch(3).begin(), order.batch(3).end());
  const auto first_of_epoch0 = std::vector<std::uint32_t>(order.batch(0).begin(), order.batch(0).end());
  REQUIRE(order.epoch_of(3) == 1);
  REQUIRE(first_of_epoch0 != first_of_epoch1);
  BatchOrder again(10, 3, make_key(1));
  REQUIRE(std::vector<std::uint32_t>(again.batch(3).begin(), again.batch(3).end()) == first_of_epoch1);
  BatchOrder small(2, 8, make_key(1));  // fewer rows than a batch: the batch is the data set
  REQUIRE(small.batch(5).size() == 2);
  REQUIRE_THROWS_WITH(BatchOrder(0, 3, make_key(1)), Contains("no rows"));
  REQUIRE_THROWS_WITH(BatchOrder(5, 0, make_key(1)), Contains("batch_size"));
}

TEST_CASE("VAE training reduces the reconstruction error by 100x in 600 steps", "[slow]") {
  const Matrix<double> data = plane_data(make_key(20));
  Encoder<double> enc(8, 2, 32, make_key(21));
  Decoder<double> dec(8, 2, 32, make_key(22));
  const VaeTrainOptions options{.steps = 600, .batch_size = 64, .kl_weight = 1e-3, .lr = 3e-3};
  const double before = (dec(enc(data).mu) - data).squaredNorm() / double(data.size());
  const TrainResult result = train_vae(enc, dec, data, options, make_key(23));
  const double after = (dec(enc(data).mu) - data).squaredNorm() / double(data.size());
  INFO("reconstruction MSE before " << before << ", after " << after << "; loss first 20 "
                                    << mean_of(result.loss, 0, 20) << ", last 20 " << mean_of(result.loss, 580, 20));
  REQUIRE(result.loss.size() == 600);
  REQUIRE(!result.stopped);
  REQUIRE(after < before / 100);
  REQUIRE(mean_of(result.loss, 580, 20) < mean_of(result.loss, 0, 20) / 5);
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

TEST_CASE("encode_latents: the scaling is mean(mu) and the total standard deviation") {
  Encoder<double> enc(3, 2, 4, make_key(50));
  const Matrix<double> data = normal<double>(make_key(51), 50, 3).values;
  const LatentSet<double> fixed = encode_latents(enc, data, LatentSource::mean, 7);
  const auto [mu, log_var] = enc(data);
  REQUIRE((fixed.mu - mu).norm() < 1e-13);  // batches of 7 rows give the same as one pass
  REQUIRE((fixed.log_var - log_var).norm() < 1e-13);
  for (int j = 0; j < 2; ++j) {
    const double m = mu.col(j).mean();
    const double var = (mu.col(j).array() - m).square().mean();
    const double posterior_var = var + log_var.col(j).array().exp().mean();
    REQUIRE(fixed.scaling.mean(j) == Approx(m).epsilon(1e-12));
    REQUIRE(fixed.scaling.scale(j) == Approx(std::sqrt(var)).epsilon(1e-12));
    const LatentSet<double> sampled = encode_latents(enc, data, LatentSource::posterior_sample);
    REQUIRE(sampled.scaling.scale(j) == Approx(std::sqrt(posterior_var)).epsilon(1e-12));
  }
}

TEST_CASE("a NaN loss stops training at that step, before it changes any weight") {
  Matrix<float> data = plane_data(make_key(60), 32).cast<float>();
  Encoder<float> enc(8, 2, 8, make_key(61));
  Decoder<float> dec(8, 2, 8, make_key(62));
  // A learning rate of 1e30 throws the weights to ~1e30 after step 0, so step 1 overflows.
  VaeTrainer<float> trainer(enc, dec, data, {.steps = 10, .batch_size = 8, .lr = 1e30}, make_key(63));
  trainer.step();
  const Encoder<float> enc_before = enc;
  const Decoder<float> dec_before = dec;
  REQUIRE_THROWS_AS(trainer.step(), TrainingError);
  REQUIRE(enc.enc_dense_0.weight == enc_before.enc_dense_0.weight);
  REQUIRE(dec.dec_output.weight == dec_before.dec_output.weight);
  Encoder<float> e2(8, 2, 8, make_key(61));
  Decoder<float> d2(8, 2, 8, make_key(62));
  REQUIRE_THROWS_WITH(train_vae(e2, d2, data, {.steps = 10, .batch_size = 8, .lr = 1e30}, make_key(63)),
                      Contains("train_vae: the loss is") && Contains("at step 1"));
}

TEST_CASE("a step after one that threw starts again from zero gradients") {
  // The trainers zero their gradient buffers inside Adam's pass; a step that throws before Adam
  // leaves them dirty, so the next step must zero them itself: after the NaN at step 1 and a
  // reset to finite weights, step 1 must equal the same step 1 of a trainer that never threw.
  const Matrix<float> data = plane_data(make_key(60), 32).cast<float>();
  const Encoder<float> enc0(8, 2, 8, make_key(61));
  const Decoder<float> dec0(8, 2, 8, make_key(62));
  const VaeTrainOptions options{.steps = 10, .batch_size = 8, .lr = 1e30};
  Encoder<float> enc = enc0, enc_ref = enc0;
  Decoder<float> dec = dec0, dec_ref = dec0;
  VaeTrainer<float> trainer(enc, dec, data, options, make_key(63));
  VaeTrainer<float> reference(enc_ref, dec_ref, data, options, make_key(63));
  trainer.step();
  reference.step();
  REQUIRE_THROWS_AS(trainer.step(), TrainingError);
  enc = enc0;
  dec = dec0;
  enc_ref = enc0;
  dec_ref = dec0;
  const double loss = trainer.step().total;
  REQUIRE(loss == reference.step().total);
  REQUIRE(std::isfinite(loss));
  REQUIRE(enc.enc_dense_0.weight == enc_ref.enc_dense_0.weight);
  REQUIRE(dec.dec_output.bias == dec_ref.dec_output.bias);
}

TEST_CASE("the progress callback sees every step and can stop training") {
  const Matrix<double> data = plane_data(make_key(70), 40);
  Encoder<double> enc(8, 2, 8, make_key(71));
  Decoder<double> dec(8, 2, 8, make_key(72));
  std::vector<Progress> seen;
  const auto callback = [&](const Progress& p) {
    seen.push_back(p);
    return p.step < 5;
  };
  const TrainResult result =
      train_vae(enc, dec, data, {.steps = 100, .batch_size = 16, .lr = 1e-3}, make_key(73), callback);
  REQUIRE(result.stopped);
  REQUIRE(result.loss.size() == 5);
  REQUIRE(seen.size() == 5);
  REQUIRE(std::string(seen[0].phase) == "vae");
  REQUIRE(seen[0].step == 1);
  REQUIRE(seen[4].total_steps == 100);
  REQUIRE(seen[2].epoch == 1);  // 40 rows make 2 batches of 16 per epoch
  REQUIRE(seen[4].loss == result.loss[4]);
  REQUIRE(seen[4].lr == 1e-3);
  REQUIRE(seen[4].samples_per_second > 0);
}

TEST_CASE("bad training input throws a message naming the problem") {
  Encoder<float> enc(8, 2, 8, make_key(1));
  Decoder<float> dec(8, 2, 8, make_key(2));
  const Matrix<float> wrong = Matrix<float>::Zero(10, 7);
  REQUIRE_THROWS_WITH(train_vae(enc, dec, wrong, {}, make_key(0)), Contains("data must have 8 columns"));
  Matrix<float> nan = Matrix<float>::Zero(10, 8);
  nan(3, 4) = std::nanf("");
  REQUIRE_THROWS_WITH(train_vae(enc, dec, nan, {}, make_key(0)), Contains("row 3, column 4"));
  const Matrix<float> data = Matrix<float>::Zero(10, 8);
  REQUIRE_THROWS_WITH(train_vae(enc, dec, data, {.batch_size = 0}, make_key(0)),
                      Contains("batch_size must be positive"));
  REQUIRE_THROWS_WITH(train_vae(enc, dec, data, {.kl_weight = -1}, make_key(0)), Contains("kl_weight"));
  Denoiser<float> den(2, 8, 1, 20, make_key(3));
  const LatentSet<float> latents = encode_latents(enc, data, LatentSource::mean);
  const auto other = make_schedule<float>({.num_steps = 30});
  REQUIRE_THROWS_WITH(train_denoiser(den, latents, other, {}, make_key(0)),
                      Contains("schedule has 30 steps but the denoiser 20"));
}
