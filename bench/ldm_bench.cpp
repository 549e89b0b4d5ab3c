// Throughput of the library's real entry points at the seed defaults (input 287, latent 32,
// hidden 256, 4 blocks, 1000 steps, float): DenoiserTrainer::step, VaeTrainer::step, ddim_sample
// and ddpm_sample with the denoiser, plus bare GEMMs of the same shapes for the machine's peak.
//
// FLOPs are counted analytically from the layer sizes: a Dense layer in -> out costs 2 in out
// per sample forward (one multiply and one add per weight), and a training step counts 3x the
// forward (the forward, the weight gradient and the input gradient: 6 flops per weight per
// sample, the usual count). Elementwise work (SiLU, LayerNorm, Adam) is not counted.
//   denoiser forward  F_den = 2 (H^2 + 2 L H + 8 N H^2)        = 4.36 MFLOP at the defaults
//   VAE forward       F_vae = 2 (2 I H + 2 H^2 + 3 H L)        = 0.61 MFLOP
//   decoder forward   F_dec = 2 (L H + H^2 + H I)              = 0.30 MFLOP
//   train steps: 3 F_den (13.1 MFLOP), 3 F_vae (1.82 MFLOP) per sample
//   sampling with k steps: k F_den + F_dec per sample (DDIM-50: 218 MFLOP)
//
// Usage: ldm_bench [--threads N] [Google Benchmark flags]; N = 0 (default) is one per core.
#include <ldm/core/threads.hpp>
#include <ldm/ldm.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using S = float;
constexpr int kInput = 287, kLatent = 32, kHidden = 256, kLayers = 4, kSteps = 1000;

double dense_flops(double in, double out) { return 2.0 * in * out; }

double denoiser_forward_flops() {
  const double H = kHidden, L = kLatent;
  return dense_flops(H, H) + dense_flops(L, H) + kLayers * (dense_flops(H, 4 * H) + dense_flops(4 * H, H)) +
         dense_flops(H, L);
}
double decoder_forward_flops() {
  return dense_flops(kLatent, kHidden) + dense_flops(kHidden, kHidden) + dense_flops(kHidden, kInput);
}
double encoder_forward_flops() {
  return dense_flops(kInput, kHidden) + dense_flops(kHidden, kHidden) + 2 * dense_flops(kHidden, kLatent);
}

// samples/s and GFLOP/s from the wall time of the iterations (threads make CPU time meaningless).
void report(benchmark::State& state, double samples_per_iteration, double flops_per_sample) {
  using benchmark::Counter;
  state.counters["samples/s"] = Counter(samples_per_iteration, Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] =
      Counter(samples_per_iteration * flops_per_sample * 1e-9, Counter::kIsIterationInvariantRate);
}

ldm::Matrix<S> random_rows(Eigen::Index rows, Eigen::Index cols, std::uint32_t seed) {
  return ldm::normal<S>(ldm::make_key(seed), rows, cols).values;
}

// One DenoiserTrainer::step: batch draw, noising, forward, backward, Adam (no EMA, no clipping:
// what the PyTorch peer does). With ema_clip, the trainer's defaults (EMA 0.999, clip 1.0).
void denoiser_train(benchmark::State& state, bool ema_clip) {
  const auto batch = static_cast<int>(state.range(0));
  const auto [encoder, decoder, denoiser0] = ldm::build<S>(ldm::recommended_defaults(), ldm::make_key(1));
  ldm::Denoiser<S> denoiser = denoiser0;
  ldm::LatentSet<S> latents;
  latents.mu = random_rows(8 * batch, kLatent, 2);
  latents.log_var = ldm::Matrix<S>::Zero(8 * batch, kLatent);
  latents.scaling.mean = ldm::Vector<S>::Zero(kLatent);
  latents.scaling.scale = ldm::Vector<S>::Ones(kLatent);
  const ldm::Schedule<S> schedule = ldm::make_schedule<S>({.num_steps = kSteps});
  ldm::DenoiserTrainOptions options{
      .steps = 1 << 30, .batch_size = batch, .lr = 1e-4, .warmup_steps = 0, .cosine_decay = false};
  if (!ema_clip) {
    options.clip_grad_norm = 0;
    options.ema_decay = 0;
  }
  ldm::DenoiserTrainer<S> trainer(denoiser, latents, schedule, options, ldm::make_key(3));
  trainer.step();  // warm-up: sizes every buffer
  for (auto _ : state) benchmark::DoNotOptimize(trainer.step());
  report(state, batch, 3 * denoiser_forward_flops());
}

void BM_DenoiserTrain(benchmark::State& state) { denoiser_train(state, false); }
void BM_DenoiserTrainEmaClip(benchmark::State& state) { denoiser_train(state, true); }

// One VaeTrainer::step: MSE + KL, reparameterisation, backward, Adam on encoder and decoder.
void BM_VaeTrain(benchmark::State& state) {
  const auto batch = static_cast<int>(state.range(0));
  auto [encoder, decoder, denoiser] = ldm::build<S>(ldm::recommended_defaults(), ldm::make_key(1));
  const ldm::Matrix<S> data = random_rows(8 * batch, kInput, 4);
  ldm::VaeTrainer<S> trainer(encoder, decoder, data,
                             {.steps = 1 << 30, .batch_size = batch, .kl_weight = 1e-3, .lr = 1e-3}, ldm::make_key(5));
  trainer.step();
  for (auto _ : state) benchmark::DoNotOptimize(trainer.step().total);
  report(state, batch, 3 * encoder_forward_flops() + 3 * decoder_forward_flops());
}

// Sampling as a user runs it: x_T ~ N(0, I), the sampler calling denoiser.forward into a
// workspace, then the decoder on the latents. kind and steps pick the sampler; rows 1 and 16
// are the latency cases (a few rows wanted at once, interactively), 1024 the throughput case.
// As LatentDiffusion::sample does, every call starts with a new workspace (so the time embedding
// of each step is computed, not looked up) and the weights packed for the GEMM kernel are kept
// from call to call, rechecked against the weights first. cold: new packs every call, as the
// first call on a freshly loaded model pays.
void sample_and_decode(benchmark::State& state, ldm::SamplerKind kind, int steps, bool cold = false) {
  const auto rows = state.range(0);
  const auto [encoder, decoder, denoiser] = ldm::build<S>(ldm::recommended_defaults(), ldm::make_key(1));
  const ldm::Schedule<S> schedule = ldm::make_schedule<S>({.num_steps = kSteps});
  ldm::detail::PackedWeights<S> kept;
  ldm::Key key = ldm::make_key(6);
  const ldm::SamplerOptions options{.kind = kind, .num_steps = steps};
  for (auto _ : state) {
    ldm::detail::PackedWeights<S> fresh;
    ldm::DenoiserWorkspace<S> ws;
    ldm::DecoderWorkspace<S> dec_ws;
    ws.weight_packs = cold ? &fresh : &kept;
    kept.recheck();
    const ldm::Denoiser<S>& net = denoiser;  // a lambda cannot capture a structured binding (clang 14)
    const auto eps = [&](const ldm::Matrix<S>& z_t, const Eigen::VectorXi& t) -> const ldm::Matrix<S>& {
      net.forward(z_t, t, ws);
      return ws.out;
    };
    ldm::Draw<S> z = ldm::sample<S>(eps, schedule, rows, kLatent, key, options);
    key = z.key;
    decoder.forward(z.values, dec_ws);
    benchmark::DoNotOptimize(dec_ws.out.data());
  }
  const int calls = kind == ldm::SamplerKind::ddpm ? kSteps : steps;
  report(state, static_cast<double>(rows), calls * denoiser_forward_flops() + decoder_forward_flops());
}

void BM_Ddim50SampleDecode(benchmark::State& state) { sample_and_decode(state, ldm::SamplerKind::ddim, 50); }
void BM_Dpm20SampleDecode(benchmark::State& state) { sample_and_decode(state, ldm::SamplerKind::dpmpp_2m, 20); }
void BM_Ddim50SampleDecodeCold(benchmark::State& state) { sample_and_decode(state, ldm::SamplerKind::ddim, 50, true); }
void BM_Ddpm1000SampleDecode(benchmark::State& state) { sample_and_decode(state, ldm::SamplerKind::ddpm, kSteps); }

// A model of the seed's sizes in a file, as `ldm sample` finds it: LatentDiffusion::fit on 64
// random rows, one optimizer step per stage (the weights' values do not matter to the timing).
const std::string& model_file() {
  static const std::string path = [] {
    ldm::FitOptions fit;
    fit.model = ldm::recommended_defaults();
    fit.vae = {.steps = 1, .batch_size = 64};
    fit.denoiser = {.steps = 1, .batch_size = 64, .warmup_steps = 0};
    const auto model = ldm::LatentDiffusion<S>::fit(random_rows(64, kInput, 7), fit, ldm::make_key(8));
    std::string file = (std::filesystem::temp_directory_path() / "ldm_bench_model.safetensors").string();
    model.save(file);
    return file;
  }();
  return path;
}

// What `ldm sample -n 1` does besides starting the process and writing one row: read the file
// and build the pipeline (load), then the first sample() of that model, DDIM-50 (cold: its
// workspaces and packed weights are new).
void BM_LoadModel(benchmark::State& state) {
  const std::string& path = model_file();
  for (auto _ : state) benchmark::DoNotOptimize(ldm::LatentDiffusion<S>::load(path).options.input_size);
}

void BM_LoadAndSampleOneRow(benchmark::State& state) {
  const std::string& path = model_file();
  const ldm::SampleOptions options{.sampler = {.kind = ldm::SamplerKind::ddim, .num_steps = 50}};
  for (auto _ : state) {
    const auto model = ldm::LatentDiffusion<S>::load(path);
    benchmark::DoNotOptimize(model.sample(1, options, ldm::make_key(9)).values.data());
  }
}

// The GEMMs of one training step, bare: for every Dense layer (in -> out) of the model,
// Y = X W^T, dW += dY^T X and dX = dY W in the library's row-major layout, through the same
// ldm::detail::gemm the layers use (Eigen's kernel, or the BLAS with LDM_USE_BLAS). Their rate
// is the most the training step can reach with this GEMM on this machine.
void gemm_peak(benchmark::State& state, const std::vector<std::pair<int, int>>& layers) {
  const auto batch = static_cast<Eigen::Index>(state.range(0));
  struct Shapes {
    ldm::Matrix<S> x, w, y, dw, dx;
  };
  std::vector<Shapes> gemms;
  double flops = 0;
  std::uint32_t seed = 10;
  for (const auto& [in, out] : layers) {
    gemms.push_back({random_rows(batch, in, seed++), random_rows(out, in, seed++), random_rows(batch, out, seed++),
                     ldm::Matrix<S>::Zero(out, in), ldm::Matrix<S>::Zero(batch, in)});
    flops += 3 * dense_flops(in, out) * static_cast<double>(batch);
  }
  for (auto _ : state) {
    for (Shapes& g : gemms) {  // the library's product (ldm/core/gemm.hpp), as Dense calls it
      ldm::detail::gemm<false, true>(g.x, g.w, g.y, false);
      ldm::detail::gemm<true, false>(g.y, g.x, g.dw, true);
      ldm::detail::gemm<false, false>(g.y, g.w, g.dx, false);
    }
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

std::vector<std::pair<int, int>> denoiser_layers() {
  std::vector<std::pair<int, int>> layers{{kHidden, kHidden}, {kLatent, kHidden}};
  for (int i = 0; i < kLayers; ++i) {
    layers.emplace_back(kHidden, 4 * kHidden);
    layers.emplace_back(4 * kHidden, kHidden);
  }
  layers.emplace_back(kHidden, kLatent);
  return layers;
}

std::vector<std::pair<int, int>> vae_layers() {
  return {{kInput, kHidden},  {kHidden, kHidden}, {kHidden, kLatent}, {kHidden, kLatent},
          {kLatent, kHidden}, {kHidden, kHidden}, {kHidden, kInput}};
}

void BM_GemmDenoiser(benchmark::State& state) { gemm_peak(state, denoiser_layers()); }
void BM_GemmVae(benchmark::State& state) { gemm_peak(state, vae_layers()); }

}  // namespace

BENCHMARK(BM_DenoiserTrain)->Arg(32)->Arg(256)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DenoiserTrainEmaClip)->Arg(256)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VaeTrain)->Arg(32)->Arg(256)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Ddim50SampleDecode)->Arg(1)->Arg(16)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Dpm20SampleDecode)->Arg(1)->Arg(16)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Ddim50SampleDecodeCold)->Arg(1)->Arg(16)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadModel)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadAndSampleOneRow)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Ddpm1000SampleDecode)->Arg(256)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GemmDenoiser)->Arg(32)->Arg(256)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GemmVae)->Arg(32)->Arg(256)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);

// --threads N (or --threads=N) is ours; everything else goes to Google Benchmark.
int main(int argc, char** argv) {
  int threads = 0;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (std::strncmp(argv[i], "--threads=", 10) == 0)
      threads = std::atoi(argv[i] + 10);
    else
      rest.push_back(argv[i]);
  }
  ldm::set_num_threads(threads);
  benchmark::AddCustomContext("ldm_threads", std::to_string(ldm::num_threads()));
  benchmark::AddCustomContext("eigen_threads", std::to_string(Eigen::nbThreads()));
  benchmark::AddCustomContext("eigen_simd", Eigen::SimdInstructionSetsInUse());
#ifdef EIGEN_USE_BLAS
  benchmark::AddCustomContext("gemm", "external BLAS (EIGEN_USE_BLAS)");
#else
  benchmark::AddCustomContext(
      "gemm", ldm::detail::own_kernel<S>
                  ? (ldm::detail::gemm_kernel::lanes == 16 ? "ldm's kernel, AVX-512" : "ldm's kernel, AVX2")
                  : "Eigen");
#endif
  int argc2 = static_cast<int>(rest.size());
  benchmark::Initialize(&argc2, rest.data());
  if (benchmark::ReportUnrecognizedArguments(argc2, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
