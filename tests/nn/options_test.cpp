// ldm/nn/options.hpp: the seed's defaults, validate's messages, output_size, the exact
// param_count (checked against what the built models visit) and the JSON form of Options.
#include <catch2/catch.hpp>

#include <ldm/nn/build.hpp>
#include <ldm/nn/options.hpp>

#include <nlohmann/json.hpp>

using namespace ldm;
using Catch::Matchers::Contains;

TEST_CASE("recommended_defaults are the seed's") {
  const Options o = recommended_defaults();
  REQUIRE(o.input_size == 287);
  REQUIRE(o.latent_size == 32);
  REQUIRE(o.hidden_size == 256);
  REQUIRE(o.num_layers == 4);
  REQUIRE(o.num_steps == 1000);
  REQUIRE(output_size(o) == 32);
}

TEST_CASE("param_count is exact at the seed defaults and equals what visit reports") {
  const Options o = recommended_defaults();
  // encoder 73728 + 65792 + 2 * 8224; decoder 8448 + 65792 + 73759;
  // denoiser 65792 + 8448 + 4 * (512 + 263168 + 262400) + 8224 (worked out by hand).
  REQUIRE(param_count(o) == 155968u + 147999u + 2186784u);
  REQUIRE(vae_param_count(o) == 155968u + 147999u);
  const auto [enc, dec, den] = build<float>(o, make_key(0));
  REQUIRE(count_parameters(enc) + count_parameters(dec) + count_parameters(den) == param_count(o));
  REQUIRE(count_parameters(enc) + count_parameters(dec) == vae_param_count(o));
  for (const Options small : {Options{.input_size = 5, .latent_size = 2, .hidden_size = 4, .num_layers = 0},
                              Options{.input_size = 1, .latent_size = 7, .hidden_size = 2, .num_layers = 3}}) {
    const auto [e, d, n] = build<double>(small, make_key(1));
    REQUIRE(count_parameters(e) + count_parameters(d) + count_parameters(n) == param_count(small));
    REQUIRE(count_parameters(e) + count_parameters(d) == vae_param_count(small));
  }
  REQUIRE_THROWS_WITH(vae_param_count(Options{}), Contains("input_size is required"));
}

TEST_CASE("bad options throw a message naming the option") {
  Options o;
  REQUIRE_THROWS_WITH(param_count(o), Contains("input_size is required"));
  REQUIRE_THROWS_WITH(build<float>(o, make_key(0)), Contains("input_size is required"));
  o.input_size = -3;
  REQUIRE_THROWS_WITH(param_count(o), Contains("input_size must be positive, got -3"));
  o.input_size = 4;
  o.latent_size = 0;
  REQUIRE_THROWS_WITH(param_count(o), Contains("latent_size must be positive, got 0"));
  o.latent_size = 2;
  o.hidden_size = 7;
  REQUIRE_THROWS_WITH(param_count(o), Contains("hidden_size must be even") && Contains("7"));
  o.hidden_size = -2;
  REQUIRE_THROWS_WITH(param_count(o), Contains("hidden_size must be positive"));
  o.hidden_size = 4;
  o.num_layers = -1;
  REQUIRE_THROWS_WITH(param_count(o), Contains("num_layers must be at least 0, got -1"));
  o.num_layers = 1;
  o.num_steps = 0;
  REQUIRE_THROWS_WITH(build<float>(o, make_key(0)), Contains("num_steps must be positive, got 0"));
  REQUIRE_THROWS_WITH(build_denoiser<float>(2, 4, 1, -5, make_key(0)), Contains("num_steps"));
  REQUIRE_THROWS_WITH(build_encoder<float>(0, 2, 4, make_key(0)), Contains("input_size"));
}

TEST_CASE("param_count with classes is the sum of the visited sizes") {
  for (const int classes : {0, 1, 3, 10}) {
    const Options o{
        .input_size = 7, .latent_size = 4, .hidden_size = 12, .num_layers = 3, .num_steps = 20, .num_classes = classes};
    const auto [e, d, n] = build<float>(o, make_key(1));
    INFO("num_classes " << classes);
    const std::size_t visited = count_parameters(e) + count_parameters(d) + count_parameters(n);
    REQUIRE(param_count(o) == visited);
    REQUIRE(detail::param_count_as<long double>(o) == static_cast<long double>(visited));
    Options none = o;
    none.num_classes = 0;
    REQUIRE(param_count(o) == param_count(none) + (classes > 0 ? static_cast<std::size_t>(classes + 1) * 12 : 0));
  }
  REQUIRE_THROWS_WITH(param_count({.input_size = 3, .num_classes = -1}),
                      Contains("num_classes must be at least 0 (0 = unconditional), got -1"));
  REQUIRE_THROWS_WITH(Denoiser<float>(2, 4, 1, 10, make_key(0), TimeEmbedding::normalized, -2),
                      Contains("num_classes must be >= 0"));
}

TEST_CASE("Options round-trip through JSON, time_embedding written as its name") {
  const Options o{.input_size = 7,
                  .latent_size = 3,
                  .hidden_size = 12,
                  .num_layers = 2,
                  .num_steps = 40,
                  .time_embedding = TimeEmbedding::raw,
                  .num_classes = 5};
  const nlohmann::json j = o;
  CHECK(j.at("time_embedding") == "raw");
  CHECK(j.size() == 7);  // every field written
  const Options back = j.get<Options>();
  CHECK(back.input_size == 7);
  CHECK(back.latent_size == 3);
  CHECK(back.hidden_size == 12);
  CHECK(back.num_layers == 2);
  CHECK(back.num_steps == 40);
  CHECK(back.time_embedding == TimeEmbedding::raw);
  CHECK(back.num_classes == 5);
  // The defaults too, with the seed's time embedding by its name.
  const Options defaults;
  const nlohmann::json dj = defaults;
  CHECK(dj.at("time_embedding") == "normalized");
  const Options default_back = dj.get<Options>();
  CHECK(default_back.input_size == defaults.input_size);
  CHECK(default_back.latent_size == defaults.latent_size);
  CHECK(default_back.hidden_size == defaults.hidden_size);
  CHECK(default_back.num_layers == defaults.num_layers);
  CHECK(default_back.num_steps == defaults.num_steps);
  CHECK(default_back.time_embedding == TimeEmbedding::normalized);
  CHECK(default_back.num_classes == defaults.num_classes);
  // A name that is no time embedding is refused, naming the known ones.
  nlohmann::json bad = j;
  bad["time_embedding"] = "sinusoidal";
  CHECK_THROWS_WITH(bad.get<Options>(), Contains("must be normalized or raw, got 'sinusoidal'"));
}
