#include <catch2/catch.hpp>

#include <ldm/pipeline/latent_diffusion.hpp>

#include "support/same_model.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>

using namespace ldm;
using Catch::Matchers::Contains;

namespace {

// Two clusters of integer-valued rows in 6 columns (0..10), plus a constant column.
Matrix<float> cluster_rows(Key key, Eigen::Index n) {
  const Matrix<float> noise = normal<float>(key, n, 7).values;
  Matrix<float> rows(n, 7);
  for (Eigen::Index r = 0; r < n; ++r) {
    const float centre = r % 2 == 0 ? 2.0f : 8.0f;
    for (Eigen::Index c = 0; c < 6; ++c) rows(r, c) = std::clamp(std::round(centre + noise(r, c)), 0.0f, 10.0f);
    rows(r, 6) = 3.0f;
  }
  return rows;
}

FitOptions small_fit() {
  FitOptions o;
  o.model = {.latent_size = 3, .hidden_size = 32, .num_layers = 2, .num_steps = 100};
  o.vae = {.steps = 300, .batch_size = 64, .kl_weight = 1e-3, .lr = 3e-3};
  o.denoiser = {.steps = 300, .batch_size = 64, .lr = 2e-3, .warmup_steps = 20, .ema_decay = 0.99};
  return o;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("ldm_pipeline_test_" + name)).string();
}

}  // namespace

TEST_CASE("LatentDiffusion: fit, sample, reconstruct on two clusters", "[slow]") {
  const Matrix<float> rows = cluster_rows(make_key(1), 400);
  int vae_steps = 0, denoiser_steps = 0;
  const auto progress = [&](const Progress& p) {
    (std::string(p.phase) == "vae" ? vae_steps : denoiser_steps) = static_cast<int>(p.step);
    return true;
  };
  const auto model = LatentDiffusion<float>::fit(rows, small_fit(), make_key(2), progress);
  REQUIRE(vae_steps == 300);
  REQUIRE(denoiser_steps == 300);
  REQUIRE(model.options.input_size == 7);
  REQUIRE(model.columns.names[6] == "x6");
  REQUIRE(model.columns.integer.sum() == 7);
  REQUIRE(model.columns.min(6) == 3.0f);
  REQUIRE(model.latent_bound > 0);

  // Reconstructions are close: the VAE learnt the two clusters.
  const Matrix<float> rec = model.reconstruct(rows);
  const double rec_error = (rec - rows).cwiseAbs().mean();
  INFO("mean absolute reconstruction error " << rec_error);
  REQUIRE(rec_error < 1.0);

  // Samples sit on the data's grid and range, and fall into both clusters.
  const auto [samples, next] = model.sample(300, {}, make_key(3));
  REQUIRE(samples.rows() == 300);
  REQUIRE(next != make_key(3));
  REQUIRE((samples.array() == samples.array().round()).all());
  REQUIRE(samples.minCoeff() >= 0);
  REQUIRE(samples.maxCoeff() <= 10);
  REQUIRE((samples.col(6).array() == 3.0f).all());
  const Eigen::VectorXf row_means = samples.leftCols(6).rowwise().mean();
  const double low = (row_means.array() < 5).cast<double>().mean();
  INFO("share of samples in the low cluster " << low);
  REQUIRE(low > 0.3);
  REQUIRE(low < 0.7);
  // Cluster members: most samples are near a centre, not in between.
  REQUIRE(((row_means.array() - 5).abs() > 2).cast<double>().mean() > 0.8);
  // The same key gives the same samples, whatever the batch size.
  SampleOptions small_batches;
  small_batches.batch_rows = 300;
  REQUIRE(model.sample(300, small_batches, make_key(3)).values == samples);

  // Save, load in a fresh object: identical samples and reconstructions.
  const std::string path = temp_path("fit.safetensors");
  model.save(path);
  const auto loaded = LatentDiffusion<float>::load(path);
  REQUIRE(loaded.sample(300, {}, make_key(3)).values == samples);
  REQUIRE(loaded.reconstruct(rows) == rec);
  REQUIRE(loaded.columns.names == model.columns.names);
  REQUIRE(loaded.latent_bound == model.latent_bound);
  std::filesystem::remove(path);
}

TEST_CASE("LatentDiffusion: postprocess rounds integer columns and clips to the range") {
  LatentDiffusion<double> m;
  m.options.input_size = 2;
  m.columns.min = Vector<double>::Constant(2, 0.0);
  m.columns.max = Vector<double>::Constant(2, 10.0);
  m.columns.integer = Vector<double>(2);
  m.columns.integer << 1, 0;
  Matrix<double> rows(3, 2);
  rows << 2.4, 2.4, -3.0, 11.5, 9.6, 0.25;
  m.postprocess(rows);
  Matrix<double> expected(3, 2);
  expected << 2, 2.4, 0, 10, 10, 0.25;
  REQUIRE(rows == expected);

  // A value that rounds to -0 comes out as +0, so a CSV never shows "-0".
  m.columns.min(0) = -5.0;
  Matrix<double> near_zero(2, 2);
  near_zero << -0.4, 1.0, -0.0, 1.0;
  m.postprocess(near_zero);
  REQUIRE(near_zero(0, 0) == 0.0);
  REQUIRE_FALSE(std::signbit(near_zero(0, 0)));
  REQUIRE_FALSE(std::signbit(near_zero(1, 0)));
}

TEST_CASE("LatentDiffusion: bad input is refused with a clear message") {
  FitOptions o = small_fit();
  const Matrix<float> one_row = Matrix<float>::Zero(1, 3);
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::fit(one_row, o, make_key(0)), Contains("at least 2 rows"));
  Matrix<float> nan = Matrix<float>::Zero(5, 3);
  nan(2, 1) = std::nanf("");
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::fit(nan, o, make_key(0)), Contains("row 2, column 1"));
  o.model.input_size = 4;
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::fit(Matrix<float>::Zero(5, 3), o, make_key(0)),
                      Contains("input_size 4 but the rows have 3 columns"));
  o.model.input_size = 0;
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::fit(Matrix<float>::Zero(5, 3), o, make_key(0), {}, {"a", "b"}),
                      Contains("2 column names for 3 columns"));
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::load(temp_path("does_not_exist.safetensors")),
                      Contains("does_not_exist"));
}

TEST_CASE("LatentDiffusion: a file of the models alone is not a pipeline file") {
  const auto [e, d, n] = build<float>(
      {.input_size = 3, .latent_size = 2, .hidden_size = 4, .num_layers = 1, .num_steps = 10}, make_key(0));
  const std::string path = temp_path("models_only.safetensors");
  save_models(path, e, d, n);
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::load(path), Contains("not a LatentDiffusion file"));
  std::filesystem::remove(path);
}

namespace {

FitOptions tiny_fit() {
  FitOptions o;
  o.model = {.latent_size = 2, .hidden_size = 8, .num_layers = 1, .num_steps = 20};
  o.vae = {.steps = 40,
           .batch_size = 16,
           .kl_weight = 1e-3,
           .kl_warmup_steps = 10,
           .lr = 3e-3,
           .warmup_steps = 5,
           .cosine_decay = true,
           .clip_grad_norm = 1.0};
  o.denoiser = {.steps = 40, .batch_size = 16, .lr = 2e-3, .warmup_steps = 5, .ema_decay = 0.9};
  return o;
}

}  // namespace

TEST_CASE("FitRun: a run stopped in either phase and resumed ends bit-identical to one run") {
  const Matrix<float> rows = cluster_rows(make_key(11), 50);
  const Key key = make_key(12);
  FitRun<float> whole(rows, tiny_fit(), key);
  REQUIRE(whole.run());
  REQUIRE(whole.phase() == FitRun<float>::Phase::done);
  const LatentDiffusion<float> reference = whole.model();

  for (const std::string stop_phase : {"vae", "denoiser"}) {
    const std::string path = temp_path("resume_" + stop_phase + ".safetensors");
    FitRun<float> first(rows, tiny_fit(), key);
    const auto stop_at_17 = [&](const Progress& p) { return !(p.phase == stop_phase && p.step == 17); };
    REQUIRE_FALSE(first.run(stop_at_17, 0, path));
    REQUIRE(std::string(FitRun<float>::phase_name(first.phase())) == stop_phase);
    REQUIRE(first.step() == 17);
    FitRun<float> second(rows, tiny_fit(), key);
    second.resume(path);
    REQUIRE(second.step() == 17);
    REQUIRE(second.run());
    INFO("stopped in the " << stop_phase << " phase");
    REQUIRE(ldm_test::same_model(second.model(), reference));
    std::filesystem::remove(path);
  }
}

TEST_CASE("FitRun: periodic checkpoints, resuming from the last one finishes the same run") {
  const Matrix<float> rows = cluster_rows(make_key(13), 40);
  const std::string path = temp_path("periodic.safetensors");
  FitRun<float> whole(rows, tiny_fit(), make_key(14));
  REQUIRE(whole.run({}, 15, path));  // last save: denoiser step 30
  FitRun<float> again(rows, tiny_fit(), make_key(14));
  again.resume(path);
  REQUIRE(again.phase() == FitRun<float>::Phase::denoiser);
  REQUIRE(again.step() == 30);
  REQUIRE(again.run());
  REQUIRE(ldm_test::same_model(again.model(), whole.model()));
  std::filesystem::remove(path);
}

TEST_CASE("FitRun: resuming with other data, options or seed is refused and changes nothing") {
  const Matrix<float> rows = cluster_rows(make_key(15), 40);
  const std::string path = temp_path("refuse.safetensors");
  FitRun<float> first(rows, tiny_fit(), make_key(16));
  first.run([](const Progress& p) { return p.step < 5; }, 0, path);

  Matrix<float> other_rows = rows;
  other_rows(3, 2) += 1;
  FitRun<float> other_data(other_rows, tiny_fit(), make_key(16));
  const LatentDiffusion<float> before = other_data.model();
  REQUIRE_THROWS_WITH(other_data.resume(path), Contains("other data") && Contains(path));
  REQUIRE(ldm_test::same_model(other_data.model(), before));
  REQUIRE(other_data.step() == 0);

  FitOptions more_steps = tiny_fit();
  more_steps.vae.steps = 41;
  FitRun<float> other_options(rows, more_steps, make_key(16));
  REQUIRE_THROWS_WITH(other_options.resume(path), Contains("other options"));
  FitRun<float> other_seed(rows, tiny_fit(), make_key(17));
  REQUIRE_THROWS_WITH(other_seed.resume(path), Contains("another seed"));

  // A model file is not a training checkpoint.
  const std::string model_path = temp_path("refuse_model.safetensors");
  first.model().save(model_path);
  FitRun<float> fresh(rows, tiny_fit(), make_key(16));
  REQUIRE_THROWS_WITH(fresh.resume(model_path), Contains("not a training checkpoint"));
  // A file above the caller's size limit is refused before it is read.
  REQUIRE_THROWS_WITH(fresh.resume(path, {.max_file_bytes = 100}),
                      Contains("above the limit of 100 (SafetensorsLimits::max_file_bytes)"));
  // Still usable after the refusals.
  fresh.resume(path);
  REQUIRE(fresh.step() == 5);
  REQUIRE_THROWS_WITH(fresh.resume(path), Contains("fresh run"));
  REQUIRE_THROWS_WITH(fresh.run({}, 5, ""), Contains("checkpoint_path is empty"));
  std::filesystem::remove(path);
  std::filesystem::remove(model_path);
}
