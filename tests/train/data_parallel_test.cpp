// ldm/train/data_parallel.hpp: the exact sum (known answers, independence of the process count
// and of the chunks' order, non-finite terms), the checks of a data-parallel setting, and both
// trainers giving the same bits on 1, 2 and 3 ranks (threads as ranks: support/thread_ranks.hpp).
#include <catch2/catch.hpp>

#include <ldm/core/errors.hpp>
#include <ldm/nn/build.hpp>
#include <ldm/train/data_parallel.hpp>
#include <ldm/train/denoiser_trainer.hpp>
#include <ldm/train/latents.hpp>
#include <ldm/train/vae_trainer.hpp>

#include "support/same_model.hpp"
#include "support/thread_ranks.hpp"
#include "support/train_data.hpp"

#include <cmath>
#include <vector>

using namespace ldm;
using Catch::Matchers::Contains;

namespace {

// Chunk c of 6: two tensors (5 and 3 entries) of floats over 12 orders of magnitude.
std::vector<std::vector<float>> chunk_values(int c) {
  const Matrix<float> v = normal<float>(fold_in(make_key(5), static_cast<std::uint32_t>(c)), 1, 8).values;
  std::vector<float> a(5), b(3);
  for (int i = 0; i < 5; ++i) a[static_cast<std::size_t>(i)] = v(0, i) * std::pow(10.0f, static_cast<float>(i - 4));
  for (int i = 0; i < 3; ++i) b[static_cast<std::size_t>(i)] = v(0, 5 + i) * 1e3f;
  return {a, b};
}

// The exact sum of chunks [first, last) of 6 (weights 1/6), on one rank of `ranks`.
std::vector<float> sum_on(Communicator& comm, bool reversed = false) {
  const auto [first, last] = detail::share(6, comm.rank(), comm.size());
  std::vector<std::vector<std::vector<float>>> values;
  std::vector<std::vector<std::span<float>>> chunks;
  std::vector<double> weights;
  for (Eigen::Index c = first; c < last; ++c) values.push_back(chunk_values(static_cast<int>(c)));
  for (auto& v : values) {
    chunks.push_back({std::span<float>(v[0]), std::span<float>(v[1])});
    weights.push_back(1.0 / 6.0);
  }
  if (reversed) std::reverse(chunks.begin(), chunks.end());
  std::vector<float> out(8);
  ExactSum<float>{}(comm, 6, chunks, weights, {std::span<float>(out.data(), 5), std::span<float>(out.data() + 5, 3)});
  return out;
}

template <class Model>
bool same_bits(const Model& a, const Model& b) {
  bool same = true;
  visit_together([&](const std::string&, const auto& x, const auto& y) { same = same && x == y; }, a, b);
  return same;
}

}  // namespace

TEST_CASE("ExactSum: dyadic terms sum exactly with their weights") {
  SerialCommunicator alone;
  std::vector<double> c0{0.5, -0.25, 3.0}, c1{1.0, 1.0, -8.0}, c2{0.0, 2.0, 0.125};
  std::vector<double> out(3);
  ExactSum<double>{}(alone, 3, {{std::span<double>(c0)}, {std::span<double>(c1)}, {std::span<double>(c2)}},
                     std::vector<double>{0.25, 0.25, 0.5}, {std::span<double>(out)});
  CHECK(out == std::vector<double>{0.125 + 0.25, -0.0625 + 0.25 + 1.0, 0.75 - 2.0 + 0.0625});
}

TEST_CASE("ExactSum: within 2^-52 of the largest term of each tensor, against a long double sum") {
  SerialCommunicator alone;
  const std::vector<float> got = sum_on(alone);
  for (int t = 0; t < 2; ++t) {
    const std::size_t first = t == 0 ? 0 : 5, count = t == 0 ? 5 : 3;
    long double largest = 0;
    for (int c = 0; c < 6; ++c)
      for (std::size_t i = 0; i < count; ++i)
        largest = std::max(largest, std::abs(static_cast<long double>(chunk_values(c)[t][i]) / 6));
    for (std::size_t i = 0; i < count; ++i) {
      long double exact = 0;
      for (int c = 0; c < 6; ++c) exact += static_cast<long double>(chunk_values(c)[t][i]) / 6;
      INFO("tensor " << t << " entry " << i);
      // The fixed point is within 2^-52 of the largest term; the float result within its half ulp.
      CHECK(std::abs(static_cast<long double>(got[first + i]) - exact) <=
            std::ldexp(largest, -52) + std::abs(exact) * std::ldexp(1.0L, -24));
    }
  }
}

TEST_CASE("ExactSum: the same bits on 1, 2 and 3 ranks and in any order of the chunks") {
  SerialCommunicator alone;
  const std::vector<float> one = sum_on(alone);
  CHECK(sum_on(alone, true) == one);
  for (int size : {2, 3}) {
    ldm_test::ThreadRanks ranks(size);
    std::vector<std::vector<float>> got(static_cast<std::size_t>(size));
    ranks.run([&](Communicator& comm) { got[static_cast<std::size_t>(comm.rank())] = sum_on(comm, comm.rank() == 1); });
    for (const auto& g : got) CHECK(g == one);
  }
}

TEST_CASE("ExactSum: a non-finite term on any rank throws TrainingError on every rank") {
  ldm_test::ThreadRanks ranks(2);
  std::vector<int> threw(2);
  ranks.run([&](Communicator& comm) {
    std::vector<float> g{1.0f, comm.rank() == 1 ? NAN : 2.0f}, out(2);
    try {
      ExactSum<float>{}(comm, 2, {{std::span<float>(g)}}, std::vector<double>{0.5}, {std::span<float>(out)});
    } catch (const TrainingError& e) {
      threw[static_cast<std::size_t>(comm.rank())] = std::string(e.what()).find("not finite") != std::string::npos;
    }
  });
  CHECK(threw == std::vector<int>{1, 1});
}

TEST_CASE("DataParallel: settings that cannot work are refused, naming the problem") {
  const Matrix<double> data = ldm_test::plane_data(make_key(1), 64);
  auto [enc, dec, den] =
      build<double>({.input_size = 8, .latent_size = 2, .hidden_size = 8, .num_layers = 1}, make_key(9));
  const VaeTrainOptions options{.steps = 2, .batch_size = 4};
  SerialCommunicator alone;
  REQUIRE_THROWS_WITH(VaeTrainer<double>(enc, dec, data, options, make_key(2), nullptr, {.chunks = 5}),
                      Contains("batch of 4 rows cannot be cut into 5 chunks; give 4 chunks or fewer"));
  REQUIRE_THROWS_WITH(VaeTrainer<double>(enc, dec, data, options, make_key(2), nullptr, {.chunks = -1}),
                      Contains("chunks must be >= 0"));
  ldm_test::ThreadRanks ranks(3);
  std::vector<std::string> errors(3);
  ranks.run([&](Communicator& comm) {
    auto [e, d, n] = build<double>({.input_size = 8, .latent_size = 2, .hidden_size = 8, .num_layers = 1}, make_key(9));
    for (const int chunks : {0, 2}) try {
        VaeTrainer<double>(e, d, data, options, make_key(2), nullptr, {.communicator = &comm, .chunks = chunks});
      } catch (const std::invalid_argument& x) {
        errors[static_cast<std::size_t>(comm.rank())] += std::string(x.what()) + "|";
      }
  });
  CHECK_THAT(errors[2], Contains("3 processes share the training but chunks is 0"));
  CHECK_THAT(errors[2], Contains("3 processes but only 2 chunks"));
}

TEST_CASE("VaeTrainer and DenoiserTrainer in 4 chunks: the same weights on 1, 2 and 3 ranks") {
  const Matrix<double> data = ldm_test::plane_data(make_key(3), 100);
  const auto initial = build<double>(
      {.input_size = 8, .latent_size = 2, .hidden_size = 8, .num_layers = 1, .num_steps = 20, .num_classes = 3},
      make_key(9));
  Eigen::VectorXi labels(100);
  for (int i = 0; i < 100; ++i) labels(i) = i % 3;
  const VaeTrainOptions vae{.steps = 6, .batch_size = 10, .kl_weight = 1e-2, .clip_grad_norm = 1.0};
  const DenoiserTrainOptions denoiser{.steps = 6, .batch_size = 10, .ema_decay = 0.9};
  struct Result {
    Encoder<double> enc;
    Decoder<double> dec;
    Denoiser<double> den;
    std::vector<double> losses;
  };
  const auto train_on = [&](Communicator& comm) {
    auto [enc, dec, den] = initial;
    Result r;
    const DataParallel parallel{.communicator = &comm, .chunks = 4};
    VaeTrainer<double> vt(enc, dec, data, vae, make_key(4), nullptr, parallel);
    while (vt.steps_done() < vae.steps) r.losses.push_back(vt.step().total);
    LatentSet<double> latents = encode_latents(enc, data, LatentSource::posterior_sample);
    latents.labels = labels;
    const auto schedule = make_schedule<double>({.num_steps = 20});
    DenoiserTrainer<double> dt(den, latents, schedule, denoiser, make_key(5), parallel);
    while (dt.steps_done() < denoiser.steps) r.losses.push_back(dt.step());
    r.enc = enc;
    r.dec = dec;
    r.den = *dt.ema_average();
    return r;
  };
  SerialCommunicator alone;
  const Result one = train_on(alone);
  for (double loss : one.losses) CHECK(std::isfinite(loss));
  CHECK_FALSE(same_bits(one.enc, std::get<0>(initial)));  // it did train
  for (int size : {2, 3}) {
    ldm_test::ThreadRanks ranks(size);
    std::vector<Result> got(static_cast<std::size_t>(size));
    ranks.run([&](Communicator& comm) { got[static_cast<std::size_t>(comm.rank())] = train_on(comm); });
    for (const Result& r : got) {
      INFO(size << " ranks");
      CHECK(r.losses == one.losses);
      CHECK(same_bits(r.enc, one.enc));
      CHECK(same_bits(r.dec, one.dec));
      CHECK(same_bits(r.den, one.den));
    }
  }
}

TEST_CASE("VaeTrainer in chunks learns as in one piece: the loss falls as far") {
  const Matrix<double> data = ldm_test::plane_data(make_key(6));
  const auto losses = [&](int chunks) {
    auto [enc, dec, den] =
        build<double>({.input_size = 8, .latent_size = 2, .hidden_size = 32, .num_layers = 1}, make_key(9));
    return train_vae(enc, dec, data, {.steps = 300, .batch_size = 32, .lr = 3e-3}, make_key(7), {}, nullptr,
                     {.chunks = chunks})
        .loss;
  };
  const std::vector<double> whole = losses(0);
  const std::vector<double> chunked = losses(4);
  const double first = ldm_test::mean_of(chunked, 0, 10), last = ldm_test::mean_of(chunked, 250, 50);
  INFO("4 chunks: first 10 steps " << first << ", last 50 " << last << "; whole batches, last 50 "
                                   << ldm_test::mean_of(whole, 250, 50));
  CHECK(last < 0.2 * first);
  CHECK(last == Approx(ldm_test::mean_of(whole, 250, 50)).epsilon(0.25));
}
