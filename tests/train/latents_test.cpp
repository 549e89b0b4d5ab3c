// ldm/train/latents.hpp: encode_latents and the latent scaling.
#include <catch2/catch.hpp>

#include <ldm/train/latents.hpp>

#include <cmath>

using namespace ldm;

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
