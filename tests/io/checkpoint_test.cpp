#include <ldm/io/checkpoint.hpp>
#include <ldm/nn/build.hpp>

#include <catch2/catch.hpp>

#include "support/test_files.hpp"
#include "support/toy_model.hpp"

#include <cstring>

using Catch::Matchers::Contains;
using ldm_test::TempDir;
using ldm_test::Toy;

namespace {

// A toy model [out, in] whose values start at start and differ from entry to entry.
template <class S>
Toy<S> toy(Eigen::Index in, Eigen::Index out, S start) {
  Toy<S> m(out, in);
  m.weight = ldm::Matrix<S>::NullaryExpr(out, in, [&](Eigen::Index r, Eigen::Index c) {
    return start + S(0.1) * static_cast<S>(r) - S(0.37) * static_cast<S>(c);
  });
  m.bias = ldm::Vector<S>::LinSpaced(out, start, start + S(1));
  return m;
}

// Every parameter's shape and bytes, to check that a model is (un)changed bit for bit.
template <class Model>
std::map<std::string, std::pair<std::vector<std::int64_t>, std::vector<unsigned char>>> snapshot(const Model& m) {
  ldm::TensorMap tensors;
  ldm::add_tensors(tensors, "", m);
  std::map<std::string, std::pair<std::vector<std::int64_t>, std::vector<unsigned char>>> out;
  for (auto& [name, t] : tensors) out[name] = {t.shape, t.bytes};
  return out;
}

// Rewrites path with tensors changed by edit (same metadata).
template <class Edit>
std::string edited_copy(const TempDir& dir, const std::string& path, const std::string& name, Edit edit) {
  ldm::SafetensorsData data = ldm::read_safetensors(path);
  edit(data.tensors, data.metadata);
  const std::string out = dir.file(name);
  ldm::write_safetensors(out, data.tensors, data.metadata);
  return out;
}

template <class S>
void check_toy_round_trip() {
  TempDir dir(std::string("toy_round_trip_") + ldm::dtype_name<S>());
  const std::string path = dir.file("toy.safetensors");
  const Toy<S> enc = toy(5, 3, S(0.5)), dec = toy(3, 5, S(-2)), den = toy(3, 3, S(1) / S(3));
  ldm::save_models(path, enc, dec, den, {{"note", "toy"}},
                   {{"golden.x", ldm::to_tensor(ldm::Matrix<S>::Constant(2, 5, S(7)))}});

  const ldm::SafetensorsData file = ldm::read_safetensors(path);
  REQUIRE(file.metadata == ldm::MetadataMap{{"ldm_format_version", "1"}, {"note", "toy"}});
  REQUIRE(file.at("encoder.toy.weight").dtype == ldm::dtype_name<S>());
  REQUIRE(file.at("encoder.toy.weight").shape == std::vector<std::int64_t>{3, 5});
  REQUIRE(file.at("decoder.toy.bias").shape == std::vector<std::int64_t>{5});
  REQUIRE(file.tensors.size() == 7);

  Toy<S> enc2 = toy(5, 3, S(9)), dec2 = toy(3, 5, S(9)), den2 = toy(3, 3, S(9));
  const ldm::SafetensorsData data = ldm::load_models(path, enc2, dec2, den2);
  REQUIRE(snapshot(enc2) == snapshot(enc));
  REQUIRE(snapshot(dec2) == snapshot(dec));
  REQUIRE(snapshot(den2) == snapshot(den));
  REQUIRE(data.matrix<S>("golden.x") == ldm::Matrix<S>::Constant(2, 5, S(7)));
  REQUIRE(data.metadata.at("note") == "toy");
}

}  // namespace

TEST_CASE("save_models then load_models is bit-exact (toy models, float and double)", "[io]") {
  check_toy_round_trip<float>();
  check_toy_round_trip<double>();
}

TEST_CASE("load_models rejects a bad checkpoint and leaves every model unchanged", "[io]") {
  TempDir dir("io_rejects");
  const std::string good = dir.file("good.safetensors");
  ldm::save_models(good, toy(4, 3, 1.0f), toy(3, 4, 2.0f), toy(3, 3, 3.0f));

  Toy<float> enc = toy(4, 3, -1.0f), dec = toy(3, 4, -2.0f), den = toy(3, 3, -3.0f);
  const auto before = std::make_tuple(snapshot(enc), snapshot(dec), snapshot(den));
  const auto rejects = [&](const std::string& path, const std::string& tensor, const std::string& reason) {
    INFO("expecting: " << reason);
    REQUIRE_THROWS_AS(ldm::load_models(path, enc, dec, den), ldm::FormatError);
    try {
      ldm::load_models(path, enc, dec, den);
    } catch (const ldm::FormatError& e) {
      REQUIRE_THAT(e.what(), Contains(path) && Contains(reason));
      REQUIRE(e.tensor() == tensor);
      if (!tensor.empty()) REQUIRE_THAT(e.what(), Contains("tensor '" + tensor + "'"));
    }
    REQUIRE(std::make_tuple(snapshot(enc), snapshot(dec), snapshot(den)) == before);
  };

  rejects(edited_copy(dir, good, "missing.safetensors", [](ldm::TensorMap& t, auto&) { t.erase("decoder.toy.bias"); }),
          "decoder.toy.bias", "missing: the model has this parameter, shape [4]");
  rejects(edited_copy(dir, good, "extra.safetensors",
                      [](ldm::TensorMap& t, auto&) { t["encoder.layer2.weight"] = t["encoder.toy.weight"]; }),
          "encoder.layer2.weight", "the model has no parameter 'layer2.weight'");
  // The denoiser comes last: the encoder and decoder are valid and must still stay untouched.
  rejects(edited_copy(dir, good, "shape.safetensors",
                      [](ldm::TensorMap& t, auto&) {
                        t["denoiser.toy.weight"] = ldm::to_tensor(ldm::Matrix<float>::Zero(3, 4));
                      }),
          "denoiser.toy.weight", "shape [3, 4] differs from the model's [3, 3]");
  rejects(edited_copy(dir, good, "rank.safetensors",
                      [](ldm::TensorMap& t, auto&) {
                        t["denoiser.toy.bias"] = ldm::to_tensor(ldm::Matrix<float>::Zero(3, 1));
                      }),
          "denoiser.toy.bias", "shape [3, 1] differs from the model's [3]");
  rejects(edited_copy(dir, good, "dtype.safetensors",
                      [](ldm::TensorMap& t, auto&) {
                        t["denoiser.toy.bias"] = ldm::to_tensor(std::vector<std::int64_t>{1, 2, 3});
                      }),
          "denoiser.toy.bias", "dtype I64 is not a floating-point type");
  rejects(
      edited_copy(dir, good, "version.safetensors", [](auto&, ldm::MetadataMap& m) { m["ldm_format_version"] = "2"; }),
      "", "ldm_format_version is 2; this build reads versions 1 to 1");
  rejects(edited_copy(dir, good, "version_text.safetensors",
                      [](auto&, ldm::MetadataMap& m) { m["ldm_format_version"] = "x"; }),
          "", "must be an integer, got 'x'");

  // Format errors of the file itself come through with the file name too.
  const std::string corrupt = dir.file("corrupt.safetensors");
  ldm_test::write_bytes(corrupt, "short");
  rejects(corrupt, "", "fewer than the 8");
  const std::string truncated = dir.file("truncated.safetensors");
  const std::string bytes = ldm_test::read_bytes(good);
  ldm_test::write_bytes(truncated, bytes.substr(0, bytes.size() - 1));
  rejects(truncated, "encoder.toy.weight", "but the file holds");  // the last tensor in the file

  // Other prefixes are the caller's: they never make a load fail.
  const std::string extras = edited_copy(dir, good, "extras.safetensors", [](ldm::TensorMap& t, auto&) {
    t["encoderx.anything"] = ldm::to_tensor(std::vector<std::int64_t>{1});
    t["standardizer.mean"] = ldm::to_tensor(ldm::Vector<double>::Zero(2));
  });
  REQUIRE_NOTHROW(ldm::load_models(extras, enc, dec, den));
  REQUIRE(snapshot(enc) != std::get<0>(before));
}

TEST_CASE("load_models reads F16, BF16 and F64 checkpoints into float models", "[io]") {
  TempDir dir("io_dtypes");
  const std::string path = dir.file("d.safetensors");
  // 1, -2 and 0.5 are exact in every dtype.
  const auto half = [](std::initializer_list<std::uint16_t> bits, const char* dtype, std::vector<std::int64_t> shape) {
    ldm::Tensor t{dtype, std::move(shape), {}};
    for (const std::uint16_t b : bits) {
      t.bytes.push_back(static_cast<unsigned char>(b & 0xff));
      t.bytes.push_back(static_cast<unsigned char>(b >> 8));
    }
    return t;
  };
  ldm::TensorMap tensors;
  tensors["encoder.toy.weight"] = half({0x3c00, 0xc000}, "F16", {1, 2});  // 1, -2
  tensors["encoder.toy.bias"] = half({0x3f00}, "BF16", {1});              // 0.5
  tensors["decoder.toy.weight"] = ldm::to_tensor((ldm::Matrix<double>(1, 1) << 0.1).finished());
  tensors["decoder.toy.bias"] = ldm::to_tensor(ldm::Vector<double>::Constant(1, -0.25));
  tensors["denoiser.toy.weight"] = ldm::to_tensor(ldm::Matrix<float>::Constant(1, 1, 3.0f));
  tensors["denoiser.toy.bias"] = ldm::to_tensor(ldm::Vector<float>::Constant(1, 4.0f));
  ldm::write_safetensors(path, tensors);
  Toy<float> enc = toy(2, 1, 0.0f), dec = toy(1, 1, 0.0f), den = toy(1, 1, 0.0f);
  ldm::load_models(path, enc, dec, den);
  REQUIRE(enc.weight == (ldm::Matrix<float>(1, 2) << 1.0f, -2.0f).finished());
  REQUIRE(enc.bias(0) == 0.5f);
  REQUIRE(dec.weight(0, 0) == 0.1f);  // F64 0.1 rounds to the nearest float
  REQUIRE(dec.bias(0) == -0.25f);
  REQUIRE(den.weight(0, 0) == 3.0f);
}

TEST_CASE("save_models with ldm's models writes their options, load_checkpoint rebuilds them", "[io]") {
  TempDir dir("io_ldm_models");
  const std::string path = dir.file("ldm.safetensors");
  ldm::Options o{12, 4, 8, 2, 100};
  o.time_embedding = ldm::TimeEmbedding::raw;
  const auto [enc, dec, den] = ldm::build<double>(o, ldm::make_key(1));
  ldm::save_models(path, enc, dec, den, {{"input_size", "999"}, {"dataset", "digits"}});

  const ldm::SafetensorsData file = ldm::read_safetensors(path);
  REQUIRE(file.metadata == ldm::MetadataMap{{"dataset", "digits"},
                                            {"hidden_size", "8"},
                                            {"input_size", "12"},  // the library's keys win
                                            {"latent_size", "4"},
                                            {"ldm_format_version", "1"},
                                            {"num_layers", "2"},
                                            {"num_steps", "100"},
                                            {"time_embedding", "raw"}});
  REQUIRE(file.at("denoiser.denoiser_block_2_norm.weight").dtype == "F64");
  REQUIRE(file.at("denoiser.denoiser_block_2_up.weight").shape == std::vector<std::int64_t>{32, 8});
  REQUIRE(file.tensors.size() == 8 + 6 + 4 + 2 * 6 + 2);
  std::size_t scalars = 0;
  for (const auto& [name, t] : file.tensors) scalars += static_cast<std::size_t>(ldm::numel(t));
  REQUIRE(scalars == ldm::param_count(o));

  const ldm::Checkpoint<double> c = ldm::load_checkpoint<double>(path);
  REQUIRE(c.options.input_size == 12);
  REQUIRE(c.options.num_layers == 2);
  REQUIRE(c.options.time_embedding == ldm::TimeEmbedding::raw);
  REQUIRE(c.denoiser.num_steps == 100);
  REQUIRE(snapshot(c.encoder) == snapshot(enc));
  REQUIRE(snapshot(c.decoder) == snapshot(dec));
  REQUIRE(snapshot(c.denoiser) == snapshot(den));
  REQUIRE(c.file.metadata.at("dataset") == "digits");

  // Loading into models built differently: the shapes or the hidden options must agree.
  auto [enc2, dec2, den2] = ldm::build<double>(o, ldm::make_key(2));
  ldm::load_models(path, enc2, dec2, den2);
  REQUIRE(snapshot(den2) == snapshot(den));

  ldm::Options other_steps = o;
  other_steps.num_steps = 1000;
  auto [enc3, dec3, den3] = ldm::build<double>(other_steps, ldm::make_key(2));
  const auto before = snapshot(den3);
  REQUIRE_THROWS_WITH(ldm::load_models(path, enc3, dec3, den3),
                      Contains(path) && Contains("num_steps is 100 but the denoiser's is 1000"));
  ldm::Options normalized = o;
  normalized.time_embedding = ldm::TimeEmbedding::normalized;
  auto [enc4, dec4, den4] = ldm::build<double>(normalized, ldm::make_key(2));
  REQUIRE_THROWS_WITH(ldm::load_models(path, enc4, dec4, den4),
                      Contains("time_embedding is 'raw' but the denoiser's is 'normalized'"));
  ldm::Options wider = o;
  wider.hidden_size = 16;
  auto [enc5, dec5, den5] = ldm::build<double>(wider, ldm::make_key(2));
  REQUIRE_THROWS_WITH(
      ldm::load_models(path, enc5, dec5, den5),
      Contains("'encoder.enc_dense_0.weight'") && Contains("shape [8, 12] differs from the model's [16, 12]"));
  REQUIRE(snapshot(den3) == before);

  REQUIRE_THROWS_WITH(
      ldm::save_models(path, enc, dec, den, {}, {{"decoder.extra", ldm::to_tensor(std::vector<std::int64_t>{1})}}),
      Contains("uses the model prefix 'decoder.'"));
  const auto [enc6, dec6, den6] = ldm::build<double>(wider, ldm::make_key(2));
  REQUIRE_THROWS_WITH(ldm::save_models(path, enc, dec, den6), Contains("options_of: the denoiser latent_size") ||
                                                                  Contains("options_of: the encoder hidden_size"));
  REQUIRE(snapshot(ldm::load_checkpoint<double>(path).encoder) == snapshot(enc));  // still the old file
}

TEST_CASE("options and schedule metadata read back exactly and refuse bad values", "[io]") {
  ldm::Options o{287, 32, 256, 4, 1000};
  const ldm::Options back = ldm::options_from_metadata(ldm::to_metadata(o));
  REQUIRE(back.input_size == 287);
  REQUIRE(back.latent_size == 32);
  REQUIRE(back.hidden_size == 256);
  REQUIRE(back.num_layers == 4);
  REQUIRE(back.num_steps == 1000);
  REQUIRE(back.time_embedding == ldm::TimeEmbedding::normalized);

  ldm::MetadataMap m = ldm::to_metadata(o);
  m.erase("num_layers");
  REQUIRE_THROWS_WITH(ldm::options_from_metadata(m, "f.safetensors"),
                      Contains("f.safetensors") && Contains("the metadata has no 'num_layers'"));
  m = ldm::to_metadata(o);
  m["latent_size"] = "32.5";
  REQUIRE_THROWS_WITH(ldm::options_from_metadata(m), Contains("'latent_size' must be an integer, got '32.5'"));
  m["latent_size"] = "32";
  m["hidden_size"] = "7";
  REQUIRE_THROWS_WITH(ldm::options_from_metadata(m, "f.safetensors"),
                      Contains("f.safetensors") && Contains("hidden_size must be even"));
  m["hidden_size"] = "8";
  m["time_embedding"] = "fourier";
  REQUIRE_THROWS_WITH(ldm::options_from_metadata(m), Contains("must be normalized or raw, got 'fourier'"));

  ldm::ScheduleOptions s;
  s.num_steps = 250;
  s.beta_start = 0.1 + 0.2;  // 0.30000000000000004: needs all 17 digits
  s.beta_end = 1e-300 * 3;
  s.beta_schedule = ldm::BetaSchedule::scaled_linear;
  const ldm::MetadataMap sm = ldm::to_metadata(s);
  REQUIRE(sm.at("beta_start") == "0.30000000000000004");
  REQUIRE(sm.at("beta_schedule") == "scaled_linear");
  const ldm::ScheduleOptions s2 = ldm::schedule_options_from_metadata(sm);
  REQUIRE(s2.num_steps == 250);
  REQUIRE(s2.beta_start == s.beta_start);
  REQUIRE(s2.beta_end == s.beta_end);
  REQUIRE(s2.beta_schedule == ldm::BetaSchedule::scaled_linear);
  REQUIRE(ldm::schedule_options_from_metadata(
              ldm::to_metadata(ldm::ScheduleOptions{.beta_schedule = ldm::BetaSchedule::cosine}))
              .beta_schedule == ldm::BetaSchedule::cosine);
  ldm::MetadataMap bad = sm;
  bad["beta_schedule"] = "sigmoid";
  REQUIRE_THROWS_WITH(ldm::schedule_options_from_metadata(bad), Contains("got 'sigmoid'"));
  bad = sm;
  bad["beta_end"] = "0.02x";
  REQUIRE_THROWS_WITH(ldm::schedule_options_from_metadata(bad),
                      Contains("'beta_end' must be a finite number, got '0.02x'"));
}

TEST_CASE("a PyTorch export loads through load_models and reproduces PyTorch's outputs", "[io]") {
  // tests/data/torch_small.safetensors: see tests/data/README.md for the command that wrote it.
  const std::string path = std::string(LDM_TEST_DATA_DIR) + "/torch_small.safetensors";
  const ldm::SafetensorsData file = ldm::read_safetensors(path);
  const ldm::Options o = ldm::options_from_metadata(file.metadata, path);
  REQUIRE(o.input_size == 12);
  REQUIRE(o.latent_size == 4);
  REQUIRE(o.hidden_size == 8);
  REQUIRE(o.num_layers == 2);
  REQUIRE(o.num_steps == 100);
  REQUIRE(file.at("golden.t").dtype == "I64");
  const std::vector<std::int64_t> t64 = file.integers("golden.t");
  Eigen::VectorXi t(static_cast<Eigen::Index>(t64.size()));
  for (std::size_t i = 0; i < t64.size(); ++i) t(static_cast<Eigen::Index>(i)) = static_cast<int>(t64[i]);

  const auto check = [&](auto scalar) {
    using S = decltype(scalar);
    auto [enc, dec, den] = ldm::build<S>(o, ldm::make_key(0));
    const ldm::SafetensorsData data = ldm::load_models(path, enc, dec, den);
    REQUIRE(data.tensors.size() == 39);
    REQUIRE(data.matrix<S>("encoder.enc_dense_0.weight") == enc.enc_dense_0.weight);
    const ldm::Matrix<S> x = data.template matrix<S>("golden.x");
    const ldm::Matrix<S> z = data.template matrix<S>("golden.z");
    REQUIRE(x.rows() == 3);
    const auto out = enc(x);
    const S tol = S(1e-5);
    const auto close = [tol](const ldm::Matrix<S>& a, const ldm::Matrix<S>& b) {
      return a.rows() == b.rows() && a.cols() == b.cols() && (a - b).cwiseAbs().maxCoeff() <= tol;
    };
    REQUIRE(close(out.mu, data.template matrix<S>("golden.mu")));
    REQUIRE(close(out.log_var, data.template matrix<S>("golden.log_var")));
    REQUIRE(close(dec(z), data.template matrix<S>("golden.x_hat")));
    REQUIRE(close(den(z, t), data.template matrix<S>("golden.eps_hat")));
    // And the check can fail: a perturbed weight moves the output past the tolerance.
    enc.enc_mu.bias(0) += S(1e-3);
    REQUIRE_FALSE(close(enc(x).mu, data.template matrix<S>("golden.mu")));
  };
  check(float{});
  check(double{});
}

TEST_CASE("a conditional checkpoint stores num_classes and label_embed and loads back") {
  const ldm::Options o{
      .input_size = 5, .latent_size = 2, .hidden_size = 8, .num_layers = 1, .num_steps = 20, .num_classes = 3};
  const auto [e, d, n] = ldm::build<float>(o, ldm::make_key(9));
  REQUIRE(ldm::to_metadata(o).at("num_classes") == "3");
  REQUIRE(ldm::to_metadata(ldm::Options{.input_size = 5}).count("num_classes") == 0);  // unconditional files as before
  const ldm_test::TempDir dir("conditional_checkpoint");
  const std::string path = dir.file("models.safetensors");
  ldm::save_models(path, e, d, n);
  const ldm::Checkpoint<float> c = ldm::load_checkpoint<float>(path);
  REQUIRE(c.options.num_classes == 3);
  REQUIRE(c.denoiser.label_embed == n.label_embed);
  REQUIRE(ldm::read_safetensors(path).tensors.at("denoiser.label_embed.weight").shape ==
          std::vector<std::int64_t>{4, 8});
  // An unconditional model cannot take a conditional file's weights.
  auto [e0, d0, n0] = ldm::build<float>(
      {.input_size = 5, .latent_size = 2, .hidden_size = 8, .num_layers = 1, .num_steps = 20}, ldm::make_key(0));
  REQUIRE_THROWS_WITH(ldm::load_models(path, e0, d0, n0), Contains("label_embed.weight"));
  ldm::MetadataMap bad = ldm::to_metadata(o);
  bad["num_classes"] = "-4";
  REQUIRE_THROWS_WITH(ldm::options_from_metadata(bad),
                      Contains("num_classes must be at least 0 (0 = unconditional), got -4"));
}
