#include <catch2/catch.hpp>

#include <ldm/core/random.hpp>
#include <ldm/core/threads.hpp>
#include <ldm/nn/build.hpp>

#include <algorithm>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace ldm;
using Catch::Matchers::Contains;

TEST_CASE("set_num_threads sets the count, random draws do not depend on it") {
  set_num_threads(1);
  REQUIRE(num_threads() == 1);
  const Matrix<float> one = normal<float>(make_key(3), 200, 300).values;
  set_num_threads(3);
  REQUIRE(num_threads() == 3);
  REQUIRE(normal<float>(make_key(3), 200, 300).values == one);
  set_num_threads(0);
  REQUIRE(num_threads() == static_cast<int>(std::thread::hardware_concurrency()));
  REQUIRE_THROWS_WITH(set_num_threads(-2), Contains("n must be >= 0, got -2"));
}

TEST_CASE("parallel_parts gives each part once and share cuts a range in order") {
  set_num_threads(3);
  std::vector<int> calls(3, 0);
  Eigen::Index seen_parts = 0;
  detail::parallel_parts(3000, 1000, [&](Eigen::Index part, Eigen::Index parts) {
    calls[static_cast<std::size_t>(part)] += 1;  // each part is its own slot: no race
    if (part == 0) seen_parts = parts;
  });
  REQUIRE(seen_parts == 3);
  REQUIRE(calls == std::vector<int>{1, 1, 1});
  // Below two grains of work: one call on the calling thread.
  detail::parallel_parts(1999, 1000, [&](Eigen::Index part, Eigen::Index parts) {
    REQUIRE(part == 0);
    REQUIRE(parts == 1);
  });
  set_num_threads(0);
  REQUIRE(detail::share(10, 0, 3) == std::pair<Eigen::Index, Eigen::Index>{0, 3});
  REQUIRE(detail::share(10, 1, 3) == std::pair<Eigen::Index, Eigen::Index>{3, 6});
  REQUIRE(detail::share(10, 2, 3) == std::pair<Eigen::Index, Eigen::Index>{6, 10});
  REQUIRE(detail::share(1, 0, 2) == std::pair<Eigen::Index, Eigen::Index>{0, 0});
  REQUIRE(detail::share(1, 1, 2) == std::pair<Eigen::Index, Eigen::Index>{0, 1});
}

namespace {

// Everything a forward and backward pass of the three models gives for one batch.
struct ModelPasses {
  Matrix<float> eps_hat, eps_hat_shared_t, dz, mu, log_var, dx_enc, x_hat, dz_dec;
  Denoiser<float> denoiser_grad;
  Encoder<float> encoder_grad;
  Decoder<float> decoder_grad;
};

ModelPasses run_models(int threads, Eigen::Index rows) {
  set_num_threads(threads);
  const Options options{.input_size = 40, .latent_size = 8, .hidden_size = 32, .num_layers = 2, .num_steps = 50};
  const auto [encoder, decoder, denoiser] = build<float>(options, make_key(1));
  const Matrix<float> z = normal<float>(make_key(2), rows, 8).values;
  const Matrix<float> x = normal<float>(make_key(3), rows, 40).values;
  const Matrix<float> d8 = normal<float>(make_key(4), rows, 8).values;
  const Matrix<float> d40 = normal<float>(make_key(5), rows, 40).values;
  Eigen::VectorXi t(rows);
  for (Eigen::Index i = 0; i < rows; ++i) t(i) = static_cast<int>((i * 7) % 50);
  ModelPasses p;
  p.denoiser_grad = zeros_like(denoiser);
  p.encoder_grad = zeros_like(encoder);
  p.decoder_grad = zeros_like(decoder);
  DenoiserWorkspace<float> dws;
  denoiser.forward(z, Eigen::VectorXi::Constant(rows, 17), dws);  // a sampling step: rows share t
  p.eps_hat_shared_t = dws.out;
  denoiser.forward(z, t, dws);
  p.eps_hat = dws.out;
  p.dz = denoiser.backward(z, dws, d8, p.denoiser_grad);
  EncoderWorkspace<float> ews;
  encoder.forward(x, ews);
  p.mu = ews.out.mu;
  p.log_var = ews.out.log_var;
  p.dx_enc = encoder.backward(x, ews, d8, d8.reverse(), p.encoder_grad);
  DecoderWorkspace<float> xws;
  decoder.forward(z, xws);
  p.x_hat = xws.out;
  p.dz_dec = decoder.backward(z, xws, d40, p.decoder_grad);
  set_num_threads(0);
  return p;
}

// Largest |a - b| over every output and gradient of the two runs, relative to the largest |a|.
double largest_difference(ModelPasses& a, ModelPasses& b) {
  double diff = 0;
  const auto add = [&](const auto& u, const auto& v) {
    REQUIRE(u.rows() == v.rows());
    REQUIRE(u.cols() == v.cols());
    if (u.size() == 0) return;
    const double scale = std::max(1.0, static_cast<double>(u.cwiseAbs().maxCoeff()));
    diff = std::max(diff, static_cast<double>((u - v).cwiseAbs().maxCoeff()) / scale);
  };
  const std::pair<Matrix<float>*, Matrix<float>*> outputs[] = {
      {&a.eps_hat, &b.eps_hat}, {&a.eps_hat_shared_t, &b.eps_hat_shared_t},
      {&a.dz, &b.dz},           {&a.mu, &b.mu},
      {&a.log_var, &b.log_var}, {&a.dx_enc, &b.dx_enc},
      {&a.x_hat, &b.x_hat},     {&a.dz_dec, &b.dz_dec}};
  for (const auto& [u, v] : outputs) add(*u, *v);
  const auto grads = [&](const std::string&, const auto& u, const auto& v) { add(u, v); };
  Denoiser<float>::visit_each(grads, a.denoiser_grad, b.denoiser_grad);
  Encoder<float>::visit_each(grads, a.encoder_grad, b.encoder_grad);
  Decoder<float>::visit_each(grads, a.decoder_grad, b.decoder_grad);
  return diff;
}

}  // namespace

TEST_CASE("models on big batches (a row slice per thread) agree with one thread, and repeat exactly") {
  // 300 rows on 2 threads: each thread runs every layer of a forward pass, and the input
  // gradients of a backward pass, on its own 150 rows (detail::for_row_slices); on 1 thread
  // layer by layer. Products may differ in the last bits between the two, never between runs.
  ModelPasses one = run_models(1, 300), two = run_models(2, 300), again = run_models(2, 300);
  CHECK(largest_difference(one, two) < 1e-5);
  CHECK(largest_difference(two, again) == 0);
  CHECK(one.eps_hat.allFinite());
  CHECK(one.eps_hat.cwiseAbs().maxCoeff() > 0.1f);  // real values, not zeros
  CHECK(one.denoiser_grad.blocks[0].up.weight.cwiseAbs().maxCoeff() > 0.01f);
  // A small batch stays layer by layer on 2 threads too, with the same results.
  ModelPasses small_one = run_models(1, 40), small_two = run_models(2, 40);
  CHECK(largest_difference(small_one, small_two) < 1e-5);
}
