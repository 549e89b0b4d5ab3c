// ldm/nn/build.hpp: build and build_* make the three models from the options and a key.
#include <catch2/catch.hpp>

#include <ldm/core/random.hpp>
#include <ldm/nn/build.hpp>

using namespace ldm;

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

TEST_CASE("build_shapes: the models build() makes, every value 0 (LayerNorm weights 1), nothing drawn") {
  Options o{.input_size = 7, .latent_size = 3, .hidden_size = 8, .num_layers = 2, .num_steps = 10, .num_classes = 4};
  const auto [enc, dec, den] = build<float>(o, make_key(5));
  auto [enc0, dec0, den0] = build_shapes<float>(o);
  std::size_t tensors = 0;
  const auto same_shape_and_zero = [&](const std::string& name, auto& zero, const auto& drawn) {
    INFO(name);
    ++tensors;
    REQUIRE(zero.rows() == drawn.rows());
    REQUIRE(zero.cols() == drawn.cols());
    const bool norm_weight = name.find("_norm.weight") != std::string::npos;
    CHECK((zero.array() == (norm_weight ? 1.0f : 0.0f)).all());
  };
  visit_together(same_shape_and_zero, enc0, enc);
  visit_together(same_shape_and_zero, dec0, dec);
  visit_together(same_shape_and_zero, den0, den);
  CHECK(tensors == 8 + 6 + (2 + 2 + 6 * 2 + 2 + 1));  // label_embed included
  CHECK(den0.num_classes() == 4);
}
