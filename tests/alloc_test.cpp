// The steady state allocates nothing: after warm-up, VaeTrainer::step, DenoiserTrainer::step
// (EMA and clipping on; unconditional, and conditional with label dropout) and every step of
// the samplers with the real denoiser (plain, and behind classifier-free guidance) make no heap
// allocation, with one thread and with two.
//
// Two counters watch the heap:
// - support/counting_new.hpp replaces this executable's global operator new / delete with
//   counting versions (every std::vector, std::string, std::function, ... allocation);
// - Eigen's own allocations (matrix storage, GEMM packing buffers) go through malloc, not
//   operator new: support/no_malloc.hpp turns on Eigen's check of each one (while a NoMalloc
//   forbids them), here set to count them rather than throw.
#include "support/no_malloc.hpp"

#include <ldm/core/threads.hpp>
#include <ldm/ldm.hpp>

#include <catch2/catch.hpp>

#include "support/counting_new.hpp"
#include "support/labels.hpp"

namespace {

struct Counts {
  long operator_new, eigen;
};

// Starts counting Eigen allocations (operator new is always counted) and snapshots both. A
// forbidden Eigen allocation is counted, not thrown: a step is never cut short.
Counts start() {
  ldm_test::count_eigen_allocations = true;
  Eigen::internal::set_is_malloc_allowed(false);
  return {ldm_test::operator_new_calls.load(), ldm_test::eigen_allocations.load()};
}

// Allocations since `from`; stops counting Eigen's.
Counts since(const Counts& from) {
  const Counts now{ldm_test::operator_new_calls.load(), ldm_test::eigen_allocations.load()};
  Eigen::internal::set_is_malloc_allowed(true);
  return {now.operator_new - from.operator_new, now.eigen - from.eigen};
}

// Smaller than the seed's model so the test stays quick under the sanitizers; the depth of
// 300 still crosses the GEMM kernel's depth blocks (about 230).
const ldm::Options kOptions{.input_size = 300, .latent_size = 16, .hidden_size = 64, .num_layers = 2, .num_steps = 40};

// Allocations made by 8 steps of a trainer after 2 warm-up steps (which size its buffers).
template <class Trainer>
Counts steady_steps(Trainer& trainer) {
  trainer.step();
  trainer.step();
  const Counts c = start();
  for (int i = 0; i < 8; ++i) trainer.step();
  return since(c);
}

// 96 latents for the denoiser trainers, drawn from q(z|x): random means, log_var -1, unscaled.
ldm::LatentSet<float> posterior_latents() {
  ldm::LatentSet<float> latents;
  latents.mu = ldm::normal<float>(ldm::make_key(4), 96, kOptions.latent_size).values;
  latents.log_var = ldm::Matrix<float>::Constant(96, kOptions.latent_size, -1.0f);
  latents.source = ldm::LatentSource::posterior_sample;
  latents.scaling.mean = ldm::Vector<float>::Zero(kOptions.latent_size);
  latents.scaling.scale = ldm::Vector<float>::Ones(kOptions.latent_size);
  return latents;
}

// The denoiser of kOptions with 3 classes (label_embed added), from the same key.
ldm::Denoiser<float> conditional_denoiser() {
  ldm::Options conditional = kOptions;
  conditional.num_classes = 3;
  return std::get<2>(ldm::build<float>(conditional, ldm::make_key(1)));
}

}  // namespace

TEST_CASE("the counters see allocations", "[alloc]") {
  const ldm_test::NoMalloc allow_at_exit(false);  // allows Eigen allocations again, whatever happens
  static int* volatile sink = nullptr;            // the pointer escapes, so the compiler cannot elide new
  Counts c = start();
  sink = new int(3);
  delete sink;
  { ldm::Matrix<float> m(4, 4); }
  const Counts d = since(c);
  REQUIRE(d.operator_new == 1);
  REQUIRE(d.eigen == 1);
}

TEST_CASE("training and sampling steps allocate nothing after warm-up", "[alloc]") {
  const ldm_test::NoMalloc allow_at_exit(false);  // allows Eigen allocations again, whatever happens
  const int threads = GENERATE(1, 2);
  INFO("threads " << threads);
  ldm::set_num_threads(threads);
  auto [encoder, decoder, denoiser] = ldm::build<float>(kOptions, ldm::make_key(1));
  const ldm::Schedule<float> schedule = ldm::make_schedule<float>({.num_steps = kOptions.num_steps});

  SECTION("VaeTrainer::step") {
    const ldm::Matrix<float> data = ldm::normal<float>(ldm::make_key(2), 96, kOptions.input_size).values;
    ldm::VaeTrainer<float> trainer(encoder, decoder, data,
                                   {.steps = 100, .batch_size = 32, .kl_weight = 1e-3, .clip_grad_norm = 1.0},
                                   ldm::make_key(3));
    const Counts d = steady_steps(trainer);  // crosses two epochs (3 batches each)
    CHECK(d.operator_new == 0);
    CHECK(d.eigen == 0);
    REQUIRE(trainer.steps_done() == 10);
  }

  SECTION("VaeTrainer and DenoiserTrainer steps and sampling on batches of 256 (row slices on 2 threads)") {
    const ldm::Matrix<float> data = ldm::normal<float>(ldm::make_key(2), 512, kOptions.input_size).values;
    ldm::VaeTrainer<float> vae(encoder, decoder, data, {.steps = 100, .batch_size = 256}, ldm::make_key(3));
    ldm::LatentSet<float> latents;
    latents.mu = ldm::normal<float>(ldm::make_key(4), 512, kOptions.latent_size).values;
    latents.log_var = ldm::Matrix<float>::Zero(512, kOptions.latent_size);
    latents.scaling.mean = ldm::Vector<float>::Zero(kOptions.latent_size);
    latents.scaling.scale = ldm::Vector<float>::Ones(kOptions.latent_size);
    ldm::DenoiserTrainer<float> trainer(denoiser, latents, schedule, {.steps = 100, .batch_size = 256},
                                        ldm::make_key(5));
    ldm::DenoiserWorkspace<float> ws;
    const ldm::Denoiser<float>& net = denoiser;
    const auto eps = [&](const ldm::Matrix<float>& z_t, const Eigen::VectorXi& t) -> const ldm::Matrix<float>& {
      net.forward(z_t, t, ws);
      return ws.out;
    };
    const ldm::Matrix<float> x_T = ldm::normal<float>(ldm::make_key(6), 256, kOptions.latent_size).values;
    const ldm::SamplerOptions options{.kind = ldm::SamplerKind::ddim, .num_steps = 5};
    for (int i = 0; i < 2; ++i) {
      vae.step();
      trainer.step();
    }
    ldm::sample(eps, schedule, x_T, ldm::make_key(7), options);
    const Counts c = start();
    for (int i = 0; i < 4; ++i) {  // crosses an epoch (2 batches each)
      vae.step();
      trainer.step();
    }
    const Counts d = since(c);
    CHECK(d.operator_new == 0);
    CHECK(d.eigen == 0);
    Counts first{}, per_step{};
    const ldm::StepCallback<float> watch = [&](int step, int num_steps, int, const ldm::Matrix<float>&) {
      if (step == 0) first = start();
      if (step == num_steps - 1) per_step = since(first);
    };
    const ldm::Draw<float> out = ldm::sample(eps, schedule, x_T, ldm::make_key(7), options, watch);
    CHECK(per_step.operator_new == 0);
    CHECK(per_step.eigen == 0);
    CHECK(out.values.allFinite());
  }

  SECTION("DenoiserTrainer::step with EMA and clipping, latents drawn from q(z|x)") {
    ldm::LatentSet<float> latents = posterior_latents();
    ldm::DenoiserTrainer<float> trainer(
        denoiser, latents, schedule,
        {.steps = 100, .batch_size = 32, .clip_grad_norm = 1.0, .min_snr_gamma = 5.0, .ema_decay = 0.999},
        ldm::make_key(5));
    REQUIRE(trainer.ema_average() != nullptr);
    const Counts d = steady_steps(trainer);
    CHECK(d.operator_new == 0);
    CHECK(d.eigen == 0);
  }

  SECTION("DenoiserTrainer::step of a conditional denoiser, with label dropout") {
    ldm::Denoiser<float> labelled = conditional_denoiser();
    ldm::LatentSet<float> latents = posterior_latents();
    latents.labels = ldm_test::cyclic_labels(96, 3);
    ldm::DenoiserTrainer<float> trainer(
        labelled, latents, schedule,
        {.steps = 100, .batch_size = 32, .clip_grad_norm = 1.0, .ema_decay = 0.999, .label_dropout = 0.1},
        ldm::make_key(5));
    const Counts d = steady_steps(trainer);
    CHECK(d.operator_new == 0);
    CHECK(d.eigen == 0);
  }

  SECTION("every sampler step with classifier-free guidance, one label per row") {
    const ldm::Denoiser<float> labelled = conditional_denoiser();
    const ldm::Matrix<float> x_T = ldm::normal<float>(ldm::make_key(6), 30, kOptions.latent_size).values;
    const Eigen::VectorXi labels = ldm_test::cyclic_labels(30, 3);
    for (const double scale : {2.0, 0.0, 1.0}) {
      ldm::GuidedDenoiser<float> guided(labelled, labels, scale);
      for (const auto kind : {ldm::SamplerKind::ddpm, ldm::SamplerKind::ddim, ldm::SamplerKind::dpmpp_2m}) {
        INFO("sampler " << static_cast<int>(kind) << ", guidance " << scale);
        Counts first{}, per_step{};
        const ldm::StepCallback<float> watch = [&](int step, int num_steps, int, const ldm::Matrix<float>&) {
          if (step == 0) first = start();
          if (step == num_steps - 1) per_step = since(first);
        };
        const ldm::SamplerOptions options{.kind = kind, .num_steps = 10, .eta = 0.5, .clip_x0 = 3.0};
        const ldm::Draw<float> out = ldm::sample(guided, schedule, x_T, ldm::make_key(7), options, watch);
        CHECK(per_step.operator_new == 0);
        CHECK(per_step.eigen == 0);
        CHECK(out.values.allFinite());
      }
    }
  }

  SECTION("every sampler step, the denoiser behind a workspace-reusing callable, weights packed or not") {
    ldm::detail::PackedWeights<float> packs;
    ldm::DenoiserWorkspace<float> ws;
    if (GENERATE(false, true)) ws.weight_packs = &packs;
    const ldm::Denoiser<float>& net = denoiser;  // a lambda cannot capture a structured binding (clang 14)
    const auto eps = [&](const ldm::Matrix<float>& z_t, const Eigen::VectorXi& t) -> const ldm::Matrix<float>& {
      net.forward(z_t, t, ws);
      return ws.out;
    };
    const ldm::Matrix<float> x_T = ldm::normal<float>(ldm::make_key(6), 32, kOptions.latent_size).values;
    for (const auto kind : {ldm::SamplerKind::ddpm, ldm::SamplerKind::ddim, ldm::SamplerKind::dpmpp_2m}) {
      INFO("sampler " << static_cast<int>(kind));
      // The sampler sizes its buffers before the loop and the workspace fills on the first
      // step: count from the end of the first step to the end of the last.
      Counts first{}, per_step{};
      int steps = 0;
      const ldm::StepCallback<float> watch = [&](int step, int num_steps, int, const ldm::Matrix<float>&) {
        ++steps;
        if (step == 0) first = start();
        if (step == num_steps - 1) per_step = since(first);
      };
      const ldm::SamplerOptions options{.kind = kind, .num_steps = 10, .eta = 0.5, .clip_x0 = 3.0};
      const ldm::Draw<float> out = ldm::sample(eps, schedule, x_T, ldm::make_key(7), options, watch);
      CHECK(steps == (kind == ldm::SamplerKind::ddpm ? kOptions.num_steps : 10));
      CHECK(per_step.operator_new == 0);
      CHECK(per_step.eigen == 0);
      CHECK(out.values.allFinite());
    }
  }
  ldm::set_num_threads(0);
}
