// ldm/train/vae_trainer.hpp: the VAE step's gradient, training that learns, a NaN loss that stops
// training before it changes a weight, the progress callback and bad input.
#include <catch2/catch.hpp>

#include <ldm/train/loop.hpp>
#include <ldm/train/vae_trainer.hpp>

#include "support/gradcheck.hpp"
#include "support/train_data.hpp"

#include <cmath>
#include <string>
#include <vector>

using namespace ldm;
using Catch::Matchers::Contains;
using ldm_test::mean_of;
using ldm_test::plane_data;

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
  REQUIRE(ldm_test::max_parameter_error(enc, g_enc, total) < 1e-6);
  REQUIRE(ldm_test::max_parameter_error(dec, g_dec, total) < 1e-6);
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
}
