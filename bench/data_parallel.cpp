// Data-parallel scaling of the denoiser's training step (issue 14), run under mpirun:
//   mpirun -np P ldm_data_parallel [--chunks C] [--batch B] [--steps N] [--threads T]
// The model is the seed's default (latent 32, hidden 256, 4 blocks, 1000 timesteps) on random
// latents. --chunks 0 runs the one-process step (the batch in one piece). Rank 0 prints one
// line of JSON: samples/s over the timed steps, and the time of one all-reduce of the
// gradients as the exact sum sends them (int64 per parameter) and, for reference, as floats.
#include <ldm/core/mpi.hpp>
#include <ldm/nn/build.hpp>
#include <ldm/train/denoiser_trainer.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  ldm::MpiSession mpi(argc, argv);
  ldm::MpiCommunicator world;
  int chunks = 4, batch = 1024, steps = 20, threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const int value = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--chunks")) chunks = value;
    if (!std::strcmp(argv[i], "--batch")) batch = value;
    if (!std::strcmp(argv[i], "--steps")) steps = value;
    if (!std::strcmp(argv[i], "--threads")) threads = value;
  }
  ldm::set_num_threads(threads);
  const ldm::Options options{.input_size = 64};
  auto [encoder, decoder, denoiser] = ldm::build<float>(options, ldm::make_key(1));
  ldm::LatentSet<float> latents;
  latents.mu = ldm::normal<float>(ldm::make_key(2), 8 * batch, options.latent_size).values;
  latents.log_var = ldm::Matrix<float>::Constant(8 * batch, options.latent_size, -2.0f);
  latents.scaling.mean = ldm::Vector<float>::Zero(options.latent_size);
  latents.scaling.scale = ldm::Vector<float>::Ones(options.latent_size);
  const auto schedule = ldm::make_schedule<float>({.num_steps = options.num_steps});
  const ldm::DenoiserTrainOptions train{.steps = steps + 2, .batch_size = batch};
  ldm::DenoiserTrainer<float> trainer(denoiser, latents, schedule, train, ldm::make_key(3),
                                      {.communicator = chunks > 0 ? &world : nullptr, .chunks = chunks});
  trainer.step();  // warm-up: buffers sized, pages touched
  trainer.step();
  world.all(true);
  const auto start = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) trainer.step();
  world.all(true);
  const double step_seconds = seconds_since(start) / steps;

  std::size_t params = 0;
  denoiser.visit([&](const std::string&, const auto& p) { params += static_cast<std::size_t>(p.size()); });
  std::vector<std::int64_t> fixed(params, 1);
  std::vector<float> floats(params, 1.0f);
  const int repeats = 10;
  world.all(true);
  auto t = std::chrono::steady_clock::now();
  for (int r = 0; r < repeats; ++r) world.sum(fixed);
  const double int64_seconds = seconds_since(t) / repeats;
  world.all(true);
  t = std::chrono::steady_clock::now();
  for (int r = 0; r < repeats; ++r)
    MPI_Allreduce(MPI_IN_PLACE, floats.data(), static_cast<int>(params), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  const double float_seconds = seconds_since(t) / repeats;
  if (world.rank() == 0)
    std::printf(
        "{\"processes\": %d, \"threads\": %d, \"chunks\": %d, \"batch\": %d, \"parameters\": %zu, "
        "\"step_ms\": %.2f, \"samples_per_second\": %.0f, \"allreduce_int64_ms\": %.2f, \"allreduce_float_ms\": "
        "%.2f}\n",
        world.size(), threads, chunks, batch, params, 1e3 * step_seconds, batch / step_seconds, 1e3 * int64_seconds,
        1e3 * float_seconds);
  return 0;
}
