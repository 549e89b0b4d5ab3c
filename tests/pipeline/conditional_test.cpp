// Conditional generation: the label embedding of the denoiser, label dropout in training,
// classifier-free guidance in sampling, and the pipeline with class names.
#include <catch2/catch.hpp>

#include <ldm/diffusion/guidance.hpp>
#include <ldm/io/checkpoint.hpp>
#include <ldm/pipeline/latent_diffusion.hpp>
#include <ldm/train/train.hpp>

#include "support/gradcheck.hpp"
#include "support/same_model.hpp"

#include <cmath>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

using namespace ldm;
using Catch::Matchers::Contains;

namespace {

std::vector<std::string> names_of(const Denoiser<float>& den) {
  std::vector<std::string> names;
  den.visit([&](const std::string& name, const auto&) { names.push_back(name); });
  return names;
}

Eigen::VectorXi ints(std::initializer_list<int> values) {
  Eigen::VectorXi v(static_cast<Eigen::Index>(values.size()));
  Eigen::Index i = 0;
  for (int x : values) v(i++) = x;
  return v;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("ldm_conditional_test_" + name)).string();
}

}  // namespace

TEST_CASE("conditional denoiser: label_embed is the one new parameter, the others start bit for bit as before") {
  const Options plain{.input_size = 5, .latent_size = 3, .hidden_size = 8, .num_layers = 2, .num_steps = 50};
  Options conditional = plain;
  conditional.num_classes = 3;
  const auto [e0, d0, n0] = build<float>(plain, make_key(4));
  const auto models1 = build<float>(conditional, make_key(4));
  const auto& [e1, d1, unused] = models1;
  const Denoiser<float>& n1 = std::get<2>(models1);  // a reference, not a binding: a lambda captures it
  REQUIRE(n0.num_classes() == 0);
  REQUIRE(n1.num_classes() == 3);
  REQUIRE(n1.no_label() == 3);
  REQUIRE(n1.label_embed.rows() == 4);  // [num_classes + 1, hidden]
  REQUIRE(n1.label_embed.cols() == 8);
  std::vector<std::string> expected = names_of(n0);
  REQUIRE(std::find(expected.begin(), expected.end(), "label_embed.weight") == expected.end());
  expected.insert(expected.begin() + 2, "label_embed.weight");  // after time_mlp_1
  REQUIRE(names_of(n1) == expected);
  bool same = true;
  n0.visit([&](const std::string& name, const auto& p) {
    n1.visit([&](const std::string& other, const auto& q) {
      if (name == other) same = same && p.rows() == q.rows() && p.cols() == q.cols() && p == q;
    });
  });
  REQUIRE(same);
  visit_together([&](const std::string&, const auto& a, const auto& b) { same = same && a == b; }, e0, e1);
  visit_together([&](const std::string&, const auto& a, const auto& b) { same = same && a == b; }, d0, d1);
  REQUIRE(same);
}

TEST_CASE("param_count with classes is the sum of the visited sizes") {
  for (const int classes : {0, 1, 3, 10}) {
    const Options o{
        .input_size = 7, .latent_size = 4, .hidden_size = 12, .num_layers = 3, .num_steps = 20, .num_classes = classes};
    const auto [e, d, n] = build<float>(o, make_key(1));
    INFO("num_classes " << classes);
    const std::size_t visited = count_parameters(e) + count_parameters(d) + count_parameters(n);
    REQUIRE(param_count(o) == visited);
    REQUIRE(detail::parameter_count(o) == static_cast<long double>(visited));
    Options none = o;
    none.num_classes = 0;
    REQUIRE(param_count(o) == param_count(none) + (classes > 0 ? static_cast<std::size_t>(classes + 1) * 12 : 0));
  }
  REQUIRE_THROWS_WITH(param_count({.input_size = 3, .num_classes = -1}),
                      Contains("num_classes must be at least 0 (0 = unconditional), got -1"));
  REQUIRE_THROWS_WITH(Denoiser<float>(2, 4, 1, 10, make_key(0), TimeEmbedding::normalized, -2),
                      Contains("num_classes must be >= 0"));
}

TEST_CASE("label_embed starts as N(0, 1) draws, like nn.Embedding") {
  const Denoiser<double> den(2, 64, 0, 10, make_key(7), TimeEmbedding::normalized, 99);
  const auto values = den.label_embed.array();
  const double n = static_cast<double>(values.size());  // 6400
  const double mean = values.mean();
  const double var = (values - mean).square().sum() / (n - 1);
  INFO("mean " << mean << ", variance " << var);
  REQUIRE(std::abs(mean) < 5 / std::sqrt(n));         // 5 standard errors
  REQUIRE(std::abs(var - 1) < 5 * std::sqrt(2 / n));  // the variance's standard error is sqrt(2 / n)
}

TEST_CASE("conditional forward: the label's row is added to the time embedding before time_mlp_1") {
  // time_mlp_1(emb + l) = W emb + (b + W l): an unconditional copy with its bias moved by W l
  // must give the same prediction as the conditional model with label l.
  Denoiser<double> den(3, 8, 2, 100, make_key(1), TimeEmbedding::normalized, 2);
  test::randomize(den, make_key(2));
  const Matrix<double> z = normal<double>(make_key(3), 4, 3).values;
  const Eigen::VectorXi t = ints({0, 17, 50, 99});
  for (int label = 0; label <= 2; ++label) {
    Denoiser<double> shifted = den;
    shifted.label_embed.resize(0, 0);
    REQUIRE(shifted.num_classes() == 0);
    shifted.time_mlp_1.bias += den.time_mlp_1.weight * den.label_embed.row(label).transpose();
    INFO("label " << label);
    REQUIRE((den(z, t, Eigen::VectorXi::Constant(4, label)) - shifted(z, t)).norm() < 1e-12);
  }
  // Without labels a conditional model predicts with the "no label" token, bit for bit.
  REQUIRE(den(z, t) == den(z, t, Eigen::VectorXi::Constant(4, 2)));
  // Labels do change the prediction.
  REQUIRE((den(z, t, ints({0, 0, 0, 0})) - den(z, t, ints({1, 1, 1, 1}))).norm() > 1e-3);
}

TEST_CASE("conditional forward: one timestep for the whole batch gives what row-by-row calls give") {
  // A sampling step (one t, many rows, few labels) runs time_mlp_1 once per label: same values.
  Denoiser<double> den(3, 8, 1, 100, make_key(11), TimeEmbedding::raw, 2);
  test::randomize(den, make_key(12));
  const Matrix<double> z = normal<double>(make_key(13), 7, 3).values;
  const Eigen::VectorXi labels = ints({0, 2, 1, 1, 0, 2, 2});
  const Eigen::VectorXi t = Eigen::VectorXi::Constant(7, 42);
  const Matrix<double> batch = den(z, t, labels);
  for (Eigen::Index r = 0; r < 7; ++r) {
    const Matrix<double> one = den(z.row(r), t.segment(r, 1), labels.segment(r, 1));
    REQUIRE((batch.row(r) - one).norm() < 1e-12);
  }
}

TEST_CASE("conditional backward matches finite differences for z_t and every parameter, label_embed included") {
  Denoiser<double> den(3, 6, 2, 50, make_key(5), TimeEmbedding::normalized, 3);
  test::randomize(den, make_key(6));
  const Matrix<double> r = normal<double>(make_key(8), 6, 3).values;
  // Mixed timesteps, then one timestep for all rows (the per-label time path), each with labels
  // that leave class 1 out: its row of the gradient must stay exactly 0.
  for (const Eigen::VectorXi& t : {ints({0, 13, 27, 49, 5, 5}), Eigen::VectorXi(Eigen::VectorXi::Constant(6, 31))}) {
    Matrix<double> z = normal<double>(make_key(7), 6, 3).values;
    const Eigen::VectorXi labels = ints({0, 3, 2, 0, 3, 2});
    const auto loss = [&] { return (den(z, t, labels).array() * r.array()).sum(); };
    DenoiserWorkspace<double> ws;
    den.forward(z, t, labels, ws);
    Denoiser<double> grad = zeros_like(den);
    const Matrix<double> dz = den.backward(z, ws, r, grad);
    std::string worst;
    const double error = test::max_parameter_error(den, grad, loss, &worst);
    INFO("t(0) " << t(0) << ", worst parameter: " << worst);
    REQUIRE(error < 1e-6);
    REQUIRE(test::relative_error(dz, test::numeric_gradient(z, loss)) < 1e-6);
    REQUIRE(grad.label_embed.row(1).norm() == 0);
    REQUIRE(grad.label_embed.row(3).norm() > 0);
  }
}

TEST_CASE("the denoiser loss with labels: gradient equals finite differences (eps and v)") {
  const auto schedule = make_schedule<double>({.num_steps = 50});
  Denoiser<double> den(3, 6, 1, 50, make_key(15), TimeEmbedding::normalized, 2);
  test::randomize(den, make_key(16));
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
    REQUIRE(test::max_parameter_error(den, grad, loss) < 1e-6);
  }
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

namespace {

// 64 latents in 2 dimensions from 3 classes, fixed (mean) latents with identity scaling.
LatentSet<double> labelled_latents() {
  LatentSet<double> set;
  set.mu = normal<double>(make_key(20), 64, 2).values;
  set.log_var = Matrix<double>::Constant(64, 2, -4);
  set.scaling.mean = Vector<double>::Zero(2);
  set.scaling.scale = Vector<double>::Ones(2);
  set.labels.resize(64);
  for (Eigen::Index i = 0; i < 64; ++i) set.labels(i) = static_cast<int>(i % 3);
  return set;
}

}  // namespace

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

  const Matrix<float> z = Matrix<float>::Zero(2, 2);
  const Eigen::VectorXi t = ints({0, 1});
  const Denoiser<float> plain_f(2, 4, 1, 10, make_key(0));
  REQUIRE_THROWS_WITH(plain_f(z, t, ints({0, 0})), Contains("labels were given but the model is unconditional"));
  const Denoiser<float> cond(2, 4, 1, 10, make_key(0), TimeEmbedding::normalized, 3);
  REQUIRE_THROWS_WITH(cond(z, t, ints({0})), Contains("labels has 1 entries but z_t has 2 rows"));
  REQUIRE_THROWS_WITH(cond(z, t, ints({0, 4})), Contains("labels(1) = 4 is outside [0, 3] (3 = no label)"));
  REQUIRE_THROWS_WITH(cond(z, t, ints({-1, 0})), Contains("labels(0) = -1"));
  DenoiserWorkspace<float> ws;
  REQUIRE_THROWS_WITH(cond.forward(z, t, ints({0, 9}), ws), Contains("labels(1) = 9"));
}

TEST_CASE("guidance: w = 0 is the unconditional and w = 1 the conditional prediction bit for bit, else the mix") {
  Denoiser<double> den(3, 8, 2, 100, make_key(31), TimeEmbedding::normalized, 4);
  test::randomize(den, make_key(32));
  const Matrix<double> z = normal<double>(make_key(33), 6, 3).values;
  const Eigen::VectorXi labels = ints({0, 3, 1, 1, 2, 4});
  for (const Eigen::VectorXi& t : {Eigen::VectorXi(Eigen::VectorXi::Constant(6, 60)), ints({0, 5, 10, 50, 98, 99})}) {
    DenoiserWorkspace<double> ws;
    den.forward(z, t, ws);
    const Matrix<double> uncond = ws.out;
    den.forward(z, t, labels, ws);
    const Matrix<double> cond = ws.out;
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

TEST_CASE("guidance works with every sampler, at w = 0 the samples are the unconditional ones bit for bit") {
  Denoiser<float> den(2, 16, 1, 40, make_key(41), TimeEmbedding::normalized, 3);
  test::randomize(den, make_key(42), 0.3);
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

TEST_CASE("a conditional checkpoint stores num_classes and label_embed and loads back") {
  const Options o{
      .input_size = 5, .latent_size = 2, .hidden_size = 8, .num_layers = 1, .num_steps = 20, .num_classes = 3};
  const auto [e, d, n] = build<float>(o, make_key(9));
  REQUIRE(to_metadata(o).at("num_classes") == "3");
  REQUIRE(to_metadata(Options{.input_size = 5}).count("num_classes") == 0);  // unconditional files as before
  const std::string path = temp_path("models.safetensors");
  save_models(path, e, d, n);
  const Checkpoint<float> c = load_checkpoint<float>(path);
  REQUIRE(c.options.num_classes == 3);
  REQUIRE(c.denoiser.label_embed == n.label_embed);
  REQUIRE(read_safetensors(path).tensors.at("denoiser.label_embed.weight").shape == std::vector<std::int64_t>{4, 8});
  // An unconditional model cannot take a conditional file's weights.
  auto [e0, d0, n0] = build<float>(
      {.input_size = 5, .latent_size = 2, .hidden_size = 8, .num_layers = 1, .num_steps = 20}, make_key(0));
  REQUIRE_THROWS_WITH(load_models(path, e0, d0, n0), Contains("label_embed.weight"));
  MetadataMap bad = to_metadata(o);
  bad["num_classes"] = "-4";
  REQUIRE_THROWS_WITH(options_from_metadata(bad),
                      Contains("num_classes must be at least 0 (0 = unconditional), got -4"));
  std::filesystem::remove(path);
}

// ---------------------------------------------------------------------------------------------
// The pipeline.

TEST_CASE("class_names_of: integers sorted by value, other labels by text") {
  REQUIRE(class_names_of({"10", "9", "-1", "9", "0"}) == std::vector<std::string>{"-1", "0", "9", "10"});
  REQUIRE(class_names_of({"b", "a", "10", "9"}) == std::vector<std::string>{"10", "9", "a", "b"});
  REQUIRE(class_names_of({"7", "07", "1"}) == std::vector<std::string>{"1", "07", "7"});  // same value: by text
  REQUIRE(class_names_of({"2.5", "10"}) == std::vector<std::string>{"10", "2.5"});        // 2.5 is no integer
  REQUIRE_THROWS_WITH(class_names_of({"a", ""}), Contains("label 1 is empty"));
  REQUIRE_THROWS_WITH(class_names_of({}), Contains("no labels"));
}

namespace {

// Rows of 4 columns around one of three centres, the label naming the centre.
struct Labelled {
  Matrix<float> rows;
  std::vector<std::string> labels;
  Matrix<float> centres;
};

Labelled three_classes(Key key, Eigen::Index n, float spread) {
  Labelled d;
  d.centres = Matrix<float>::Zero(3, 4);
  d.centres(0, 0) = 4;
  d.centres(1, 1) = 4;
  d.centres(2, 2) = -4;
  const Matrix<float> noise = normal<float>(key, n, 4).values;
  d.rows.resize(n, 4);
  const char* names[] = {"low", "mid", "high"};
  for (Eigen::Index r = 0; r < n; ++r) {
    d.rows.row(r) = d.centres.row(r % 3) + spread * noise.row(r);
    d.labels.push_back(names[r % 3]);
  }
  return d;
}

FitOptions tiny_conditional_fit() {
  FitOptions o;
  o.model = {.latent_size = 2, .hidden_size = 8, .num_layers = 1, .num_steps = 20};
  o.vae = {.steps = 40, .batch_size = 16, .kl_weight = 1e-3, .lr = 3e-3};
  o.denoiser = {.steps = 40, .batch_size = 16, .lr = 2e-3, .warmup_steps = 5, .ema_decay = 0.9, .label_dropout = 0.2};
  return o;
}

}  // namespace

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

  const std::string path = temp_path("pipeline.safetensors");
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
  std::filesystem::remove(path);

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

TEST_CASE("FitRun with labels: stopped and resumed it ends bit-identical, other labels are refused") {
  const Labelled data = three_classes(make_key(5), 48, 0.3f);
  const Key key = make_key(6);
  FitRun<float> whole(data.rows, data.labels, tiny_conditional_fit(), key);
  REQUIRE(whole.run());
  const std::string path = temp_path("resume.safetensors");
  FitRun<float> first(data.rows, data.labels, tiny_conditional_fit(), key);
  REQUIRE_FALSE(
      first.run([](const Progress& p) { return !(std::string(p.phase) == "denoiser" && p.step == 17); }, 0, path));
  FitRun<float> second(data.rows, data.labels, tiny_conditional_fit(), key);
  second.resume(path);
  REQUIRE(second.step() == 17);
  REQUIRE(second.run());
  REQUIRE(ldm_test::same_model(second.model(), whole.model()));
  REQUIRE(second.model().class_names == whole.model().class_names);

  std::vector<std::string> swapped = data.labels;
  std::swap(swapped[0], swapped[1]);
  FitRun<float> other_labels(data.rows, swapped, tiny_conditional_fit(), key);
  REQUIRE_THROWS_WITH(other_labels.resume(path), Contains("other data"));
  FitRun<float> no_labels(data.rows, tiny_conditional_fit(), key);
  REQUIRE_THROWS_WITH(no_labels.resume(path), Contains("other data"));
  FitOptions more_dropout = tiny_conditional_fit();
  more_dropout.denoiser.label_dropout = 0.3;
  FitRun<float> other_dropout(data.rows, data.labels, more_dropout, key);
  REQUIRE_THROWS_WITH(other_dropout.resume(path), Contains("other options"));
  std::filesystem::remove(path);
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
