// ldm/pipeline/latent_diffusion.hpp: fit, sample, reconstruct, postprocess, save and load, bad
// input, and the conditional pipeline (class names, sampling by label, guidance).
#include <catch2/catch.hpp>

#include <ldm/core/threads.hpp>
#include <ldm/pipeline/latent_diffusion.hpp>

#include "support/labels.hpp"
#include "support/pipeline_data.hpp"
#include "support/same_model.hpp"
#include "support/test_files.hpp"

#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

using namespace ldm;
using Catch::Matchers::Contains;
using ldm_test::cluster_rows;
using ldm_test::ints;
using ldm_test::Labelled;
using ldm_test::three_classes;
using ldm_test::tiny_conditional_fit;

namespace {

FitOptions small_fit() {
  FitOptions o;
  o.model = {.latent_size = 3, .hidden_size = 32, .num_layers = 2, .num_steps = 100};
  o.vae = {.steps = 300, .batch_size = 64, .kl_weight = 1e-3, .lr = 3e-3};
  o.denoiser = {.steps = 300, .batch_size = 64, .lr = 2e-3, .warmup_steps = 20, .ema_decay = 0.99};
  return o;
}

}  // namespace

TEST_CASE("LatentDiffusion: fit, sample, reconstruct on two clusters", "[slow]") {
  const ldm_test::TempDir dir("pipeline_fit");
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
  const std::string path = dir.file("fit.safetensors");
  model.save(path);
  const auto loaded = LatentDiffusion<float>::load(path);
  REQUIRE(loaded.sample(300, {}, make_key(3)).values == samples);
  REQUIRE(loaded.reconstruct(rows) == rec);
  REQUIRE(loaded.columns.names == model.columns.names);
  REQUIRE(loaded.latent_bound == model.latent_bound);
}

TEST_CASE("LatentDiffusion: a v-prediction model records its target and samples as one", "[slow]") {
  const ldm_test::TempDir dir("pipeline_v");
  const Matrix<float> rows = cluster_rows(make_key(1), 400);
  FitOptions o = small_fit();
  o.denoiser.prediction = Prediction::v;
  const auto model = LatentDiffusion<float>::fit(rows, o, make_key(2));
  REQUIRE(model.prediction == Prediction::v);
  // The sampler options' prediction is not the model's: the model's wins.
  SampleOptions told_epsilon;
  told_epsilon.sampler.prediction = Prediction::epsilon;
  const Matrix<float> samples = model.sample(300, told_epsilon, make_key(3)).values;
  REQUIRE(model.sample(300, {}, make_key(3)).values == samples);
  const auto cluster_shares = [](const Matrix<float>& x) {
    const Eigen::VectorXf means = x.leftCols(6).rowwise().mean();
    return std::pair{(means.array() < 5).cast<double>().mean(), ((means.array() - 5).abs() > 2).cast<double>().mean()};
  };
  const auto [low, near_centre] = cluster_shares(samples);
  INFO("low cluster " << low << ", near a centre " << near_centre);
  REQUIRE(low > 0.3);
  REQUIRE(low < 0.7);
  REQUIRE(near_centre > 0.8);
  // Read as noise, the same denoiser's output lands between the clusters or on the range's edges.
  LatentDiffusion<float> misread = model;
  misread.prediction = Prediction::epsilon;
  REQUIRE(misread.sample(300, {}, make_key(3)).values != samples);

  const std::string path = dir.file("v.safetensors");
  model.save(path);
  REQUIRE(read_safetensors(path).metadata.at("prediction") == "v");
  const auto loaded = LatentDiffusion<float>::load(path);
  REQUIRE(loaded.prediction == Prediction::v);
  REQUIRE(loaded.sample(300, {}, make_key(3)).values == samples);
  // An epsilon model's file has no such key (files as before); a bad value is a format error.
  misread.save(path);
  REQUIRE(read_safetensors(path).metadata.count("prediction") == 0);
  REQUIRE(LatentDiffusion<float>::load(path).prediction == Prediction::epsilon);
  misread.save(path, {}, {{"prediction", "x0"}});
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::load(path),
                      Contains(path) && Contains("metadata 'prediction' must be epsilon or v, got 'x0'"));
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
  const ldm_test::TempDir dir("pipeline_bad_input");
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
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::load(dir.file("does_not_exist.safetensors")), Contains("does_not_exist"));
}

TEST_CASE("LatentDiffusion: a file of the models alone is not a pipeline file") {
  const ldm_test::TempDir dir("pipeline_models_only");
  const auto [e, d, n] = build<float>(
      {.input_size = 3, .latent_size = 2, .hidden_size = 4, .num_layers = 1, .num_steps = 10}, make_key(0));
  const std::string path = dir.file("models_only.safetensors");
  save_models(path, e, d, n);
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::load(path), Contains("not a LatentDiffusion file"));
}

TEST_CASE("LatentDiffusion with labels: classes, sampling by label, per class, save and load") {
  const Labelled data = three_classes(make_key(1), 60, 0.3f);
  const auto model = LatentDiffusion<float>::fit(data.rows, data.labels, tiny_conditional_fit(), make_key(2));
  REQUIRE(model.class_names == std::vector<std::string>{"high", "low", "mid"});
  REQUIRE(model.options.num_classes == 3);
  REQUIRE(model.denoiser.num_classes() == 3);
  REQUIRE(model.class_index("mid") == 2);

  SampleOptions options;
  REQUIRE(options.guidance == 2.0);
  options.sampler.num_steps = 10;
  const Matrix<float> mid = model.sample(5, "mid", options, make_key(3)).values;
  REQUIRE(mid.rows() == 5);
  REQUIRE(mid.cols() == 4);
  REQUIRE(model.sample_classes(Eigen::VectorXi::Constant(5, 2), options, make_key(3)).values == mid);
  const Draw<float> per_class = model.sample_per_class(4, options, make_key(3));
  REQUIRE(per_class.values.rows() == 12);
  REQUIRE(per_class.values.allFinite());
  REQUIRE(per_class.key == model.sample(5, options, make_key(3)).key);
  // Guidance 0 is the unconditional model: the same rows as sampling without a label.
  SampleOptions unguided = options;
  unguided.guidance = 0.0;
  REQUIRE(model.sample(5, "low", unguided, make_key(3)).values == model.sample(5, options, make_key(3)).values);

  const ldm_test::TempDir dir("conditional_pipeline");
  const std::string path = dir.file("pipeline.safetensors");
  model.save(path);
  const auto loaded = LatentDiffusion<float>::load(path);
  REQUIRE(loaded.class_names == model.class_names);
  REQUIRE(loaded.options.num_classes == 3);
  REQUIRE(ldm_test::same_model(loaded, model));
  REQUIRE(loaded.sample(5, "mid", options, make_key(3)).values == mid);

  // Class names that do not match num_classes are refused.
  SafetensorsData file = read_safetensors(path);
  file.metadata["class_names"] = "[\"a\", \"b\"]";
  write_safetensors(path, file.tensors, file.metadata);
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::load(path),
                      Contains("class_names") && Contains("has 2 entries, expected 3"));
  file.metadata["class_names"] = "{\"a\": 1}";
  write_safetensors(path, file.tensors, file.metadata);
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::load(path), Contains("'class_names' is not a JSON list of strings"));

  // Unknown labels and ids, and labels on an unconditional model.
  REQUIRE_THROWS_WITH(model.sample(5, "top", options, make_key(3)),
                      Contains("unknown label 'top'") && Contains("labels are: high, low, mid"));
  REQUIRE_THROWS_WITH(model.sample_classes(ints({0, 4}), options, make_key(3)),
                      Contains("classes(1) = 4 is outside [0, 3]"));
  REQUIRE_THROWS_WITH(model.sample_per_class(-1, options, make_key(3)), Contains("n_per_class must be >= 0"));
  SampleOptions bad_scale = options;
  bad_scale.guidance = NAN;
  REQUIRE_THROWS_WITH(model.sample(2, "low", bad_scale, make_key(3)), Contains("guidance scale must be finite"));
  const auto plain = LatentDiffusion<float>::fit(data.rows, tiny_conditional_fit(), make_key(2));
  REQUIRE(plain.class_names.empty());
  REQUIRE_THROWS_WITH(plain.sample(5, "low", options, make_key(3)), Contains("the model is unconditional"));
  REQUIRE_THROWS_WITH(plain.sample_per_class(2, options, make_key(3)), Contains("the model is unconditional"));
}

TEST_CASE("LatentDiffusion with labels: bad labels are refused with a clear message") {
  const Labelled data = three_classes(make_key(4), 30, 0.3f);
  std::vector<std::string> short_labels(data.labels.begin(), data.labels.begin() + 10);
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::fit(data.rows, short_labels, tiny_conditional_fit(), make_key(0)),
                      Contains("10 labels for 30 rows"));
  std::vector<std::string> empty_label = data.labels;
  empty_label[7] = "";
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::fit(data.rows, empty_label, tiny_conditional_fit(), make_key(0)),
                      Contains("label 7 is empty"));
  FitOptions five = tiny_conditional_fit();
  five.model.num_classes = 5;
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::fit(data.rows, data.labels, five, make_key(0)),
                      Contains("options say num_classes 5 but the labels have 3 classes"));
  REQUIRE_THROWS_WITH(LatentDiffusion<float>::fit(data.rows, five, make_key(0)),
                      Contains("options say num_classes 5 but no labels were given"));
}

TEST_CASE("conditional samples of three well separated classes land in the requested class", "[slow]") {
  const Labelled data = three_classes(make_key(10), 600, 0.5f);
  FitOptions o;
  o.model = {.latent_size = 2, .hidden_size = 64, .num_layers = 2, .num_steps = 100};
  o.vae = {.steps = 800, .batch_size = 64, .kl_weight = 1e-3, .lr = 3e-3};
  o.denoiser = {.steps = 1500, .batch_size = 128, .lr = 2e-3, .warmup_steps = 50, .ema_decay = 0.99};
  const auto model = LatentDiffusion<float>::fit(data.rows, data.labels, o, make_key(11));
  const Matrix<float> rows = model.sample_per_class(100, {}, make_key(12)).values;
  for (int c = 0; c < 3; ++c) {
    const std::string& name = model.class_names[static_cast<std::size_t>(c)];
    const int centre = name == "low" ? 0 : name == "mid" ? 1 : 2;
    int hits = 0;
    for (Eigen::Index r = c * 100; r < (c + 1) * 100; ++r) {
      Eigen::Index nearest;
      (data.centres.rowwise() - rows.row(r)).rowwise().squaredNorm().minCoeff(&nearest);
      hits += nearest == centre;
    }
    INFO("class " << name << ": " << hits << " of 100 nearest to their centre");
    CHECK(hits >= 95);
  }
}

TEST_CASE("LatentDiffusion: sampling keeps its packed weights for the next call and sees changed weights") {
  // A model wide enough that the GEMM packs its weights (hidden 64, 2 blocks); untrained weights
  // do: only the bits matter here. A copy starts with no packs, so it is the reference.
  FitOptions o = small_fit();
  o.vae.steps = 1;
  o.denoiser.steps = 1;
  o.denoiser.warmup_steps = 0;
  LatentDiffusion<float> model = LatentDiffusion<float>::fit(cluster_rows(make_key(2), 64), o, make_key(3));
  const SampleOptions options{.sampler = {.kind = SamplerKind::dpmpp_2m, .num_steps = 8}, .postprocess = false};
  for (const Eigen::Index n : {1, 5}) {
    INFO("rows " << n);
    const Matrix<float> first = model.sample(n, options, make_key(4)).values;
    REQUIRE(model.sample(n, options, make_key(4)).values == first);  // from the kept packs
    REQUIRE(LatentDiffusion<float>(model).sample(n, options, make_key(4)).values == first);
  }
  // The weights change in place (same addresses, as a training step or a load would leave them):
  // the next call packs them again and equals a fresh copy's result.
  const Matrix<float> before = model.sample(3, options, make_key(5)).values;
  model.denoiser.blocks[0].up.weight *= 0.5f;
  model.denoiser.noise_pred.weight.array() += 0.25f;
  const Matrix<float> after = model.sample(3, options, make_key(5)).values;
  CHECK(after != before);
  REQUIRE(after == LatentDiffusion<float>(model).sample(3, options, make_key(5)).values);
}

TEST_CASE("LatentDiffusion: with ldm's own kernel, fit and sample give the same bits on 1, 2 and 3 threads") {
  // Products of floats are one fma chain per entry (core/gemm_kernel.hpp); everything else in a
  // step was already independent of the thread count. Big enough layers and batches that every
  // product and every forward pass is split between threads.
  if constexpr (!detail::own_kernel<float>) {
    SUCCEED("Eigen's kernel (no AVX-512, no AVX2): products may differ in the last bits between thread counts");
  } else {
    FitOptions o = small_fit();
    o.model = {.latent_size = 4, .hidden_size = 128, .num_layers = 1, .num_steps = 100};
    o.vae.steps = o.denoiser.steps = 15;
    o.denoiser.warmup_steps = 5;
    o.vae.batch_size = o.denoiser.batch_size = 300;
    const Matrix<float> rows = cluster_rows(make_key(1), 400);
    const auto run = [&](int threads) {
      set_num_threads(threads);
      auto model = LatentDiffusion<float>::fit(rows, o, make_key(2));
      SampleOptions s;
      s.sampler.num_steps = 10;
      Matrix<float> sampled = model.sample(300, s, make_key(3)).values;
      set_num_threads(0);
      return std::pair{std::move(model), std::move(sampled)};
    };
    const auto one = run(1);
    for (int threads : {2, 3}) {
      INFO("threads " << threads);
      const auto more = run(threads);
      CHECK(ldm_test::same_model(more.first, one.first));
      CHECK(more.second == one.second);
    }
  }
}
