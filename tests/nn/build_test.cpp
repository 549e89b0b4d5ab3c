#include <catch2/catch.hpp>

#include <ldm/ldm.hpp>

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
  const auto [enc, dec, den] = build<float>(o, make_key(0));
  REQUIRE(count_parameters(enc) + count_parameters(dec) + count_parameters(den) == param_count(o));
  for (const Options small : {Options{.input_size = 5, .latent_size = 2, .hidden_size = 4, .num_layers = 0},
                              Options{.input_size = 1, .latent_size = 7, .hidden_size = 2, .num_layers = 3}}) {
    const auto [e, d, n] = build<double>(small, make_key(1));
    REQUIRE(count_parameters(e) + count_parameters(d) + count_parameters(n) == param_count(small));
  }
}

TEST_CASE("build: the key decides the weights, the options the shapes") {
  const Options o{.input_size = 6, .latent_size = 2, .hidden_size = 8, .num_layers = 2, .num_steps = 20};
  auto [e1, d1, n1] = build<float>(o, make_key(3));
  auto [e2, d2, n2] = build<float>(o, make_key(3));
  auto [e3, d3, n3] = build<float>(o, make_key(4));
  REQUIRE(e1.enc_dense_0.weight == e2.enc_dense_0.weight);
  REQUIRE(n1.blocks[1].down.weight == n2.blocks[1].down.weight);
  REQUIRE(e1.enc_dense_0.weight != e3.enc_dense_0.weight);
  REQUIRE(d1.dec_output.bias != d3.dec_output.bias);
  // The three models draw from independent keys, as do the layers inside each.
  REQUIRE(e1.enc_dense_1.weight != d1.dec_dense_1.weight);
  REQUIRE(n1.blocks[0].up.weight != n1.blocks[1].up.weight);
  REQUIRE(e1.input_size() == 6);
  REQUIRE(d1.input_size() == 6);
  REQUIRE(n1.latent_size() == 2);
  REQUIRE(n1.num_layers() == 2);
  REQUIRE(n1.num_steps == 20);
  // build_* agree with build.
  const auto keys = split(make_key(3), 3);
  REQUIRE(build_encoder<float>(6, 2, 8, keys[0]).enc_mu.weight == e1.enc_mu.weight);
  REQUIRE(build_decoder<float>(6, 2, 8, keys[1]).dec_dense_0.bias == d1.dec_dense_0.bias);
  REQUIRE(build_denoiser<float>(2, 8, 2, 20, keys[2]).noise_pred.weight == n1.noise_pred.weight);
  // One pass through the three models works end to end.
  const Matrix<float> x = normal<float>(make_key(5), 3, 6).values;
  const auto [mu, log_var] = e1(x);
  Eigen::VectorXi t(3);
  t << 0, 10, 19;
  REQUIRE(d1(mu).cols() == 6);
  REQUIRE(n1(mu, t).cols() == 2);
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
