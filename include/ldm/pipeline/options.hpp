// The pipeline's settings: how LatentDiffusion fits (FitOptions: the model, the schedule and
// both stages' trainers) and how it samples (SampleOptions), with their JSON mapping.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/communicator.hpp>
#include <ldm/core/json.hpp>
#include <ldm/diffusion/samplers.hpp>
#include <ldm/diffusion/schedule.hpp>
#include <ldm/nn/options.hpp>
#include <ldm/train/denoiser_trainer.hpp>
#include <ldm/train/latents.hpp>
#include <ldm/train/vae_trainer.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>

namespace ldm {

// Training settings. The defaults are a budget in optimizer steps (not epochs), so data sets of
// a few hundred and of many thousand rows both get a good model in minutes on two cores.
struct FitOptions {
  // latent 16 where the seed's Options say 32: the seed sized its latent for its 287-wide rows;
  // the tables ldm fits are narrower (digits: 64 columns), and 16 is also the latent of the tuned
  // PyTorch reference of this model that ldm is measured against (issue 17).
  Options model{.input_size = 0, .latent_size = 16, .hidden_size = 256, .num_layers = 4, .num_steps = 1000};
  ScheduleOptions schedule{};
  VaeTrainOptions vae{.steps = 5600, .batch_size = 128, .kl_weight = 1e-3, .lr = 1e-3};
  DenoiserTrainOptions denoiser{
      .steps = 6000, .batch_size = 256, .lr = 1e-3, .cosine_decay = true, .clip_grad_norm = 1.0, .ema_decay = 0.999};
  LatentSource latent_source = LatentSource::posterior_sample;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(FitOptions, model, schedule, vae, denoiser, latent_source)

// The defaults for a mixed table of `rows` rows encoded `width` wide (TableDiffusion: categorical
// columns or missing cells; width is TableEncoding::width(), one entry per category), chosen on
// held-out rows of real tables (README, "Real tables against sequential CART").
// From table_long_vae_rows rows the VAE gets a lower KL weight and trains longer to a
// cosine-decayed rate: at FitOptions' KL weight it loses a table's detail before the denoiser
// sees it (diamonds: its reconstructions of held-out rows alone score C2ST 0.78; 0.42 with these
// settings). On smaller tables that VAE memorises (survey, 166 rows: exact copies of training rows
// on 2 of 3 seeds), so they keep FitOptions' VAE. The denoiser takes FitOptions' 6,000 steps up
// to 3,000 rows (more steps copied rows of small tables: survey, 8 exact copies in 71 at 12,000
// steps, none at 6,000), above that 2 steps per row up to 9,000; always of 128 rows, where a step
// costs about 60% of one of 256, so every table trains in under 5 minutes on two cores of an AVX2
// CPU (Zen 3). On txhousing (6,021 rows) 12,000 steps of 128 rows scored as 12,000 of 256
// (boosting C2ST 0.716 / 0.708) and far better than 6,000 of 256 (0.760); over 3 seeds of survey
// and biopsy (166 and 489 rows) 6,000 steps of 128 scored as 6,000 of 256 (mean C2ST 0.639 /
// 0.647 and 0.528 / 0.523) in 153-186 s instead of 178-273 s.
// Wide rows (categorical columns of hundreds of categories) cap the VAE's steps: a step costs
// about as much as the VAE has weights (its products and Adam), and the first and last layers
// grow with the width, so the steps times vae_param_count stay at most those of the long VAE at
// table_vae_full_width. Measured on Zen 3 (2 threads): a VAE step took 2.1 ms at width 30 (README,
// "Scale") and, on 1,500 rows of 4 numbers and 3 categorical columns, 2.9 ms at width 300 and
// 7.3 ms at 956, where 20,000 steps (146 s) next to the denoiser's 6,000 (230 s) went over 5
// minutes; capped to 6,618 steps (47 s), the run took 273 s.
// Numeric tables keep FitOptions' defaults: on digits the longer VAE scored worse.
inline constexpr Eigen::Index table_long_vae_rows = 400;
inline constexpr long long table_long_vae_steps = 20000;
inline constexpr Eigen::Index table_vae_full_width = 128;
inline constexpr Eigen::Index table_denoiser_batch = 128;
inline constexpr long long table_denoiser_steps_per_row = 2;
inline constexpr long long table_denoiser_max_steps = 9000;

inline FitOptions table_fit_options(Eigen::Index rows, Eigen::Index width) {
  detail::require_positive("table_fit_options", "rows", rows);
  detail::require_positive("table_fit_options", "width", width);
  FitOptions o;
  if (rows >= table_long_vae_rows) {
    o.vae.kl_weight = 1e-5;
    o.vae.steps = table_long_vae_steps;
    o.vae.cosine_decay = true;
  }
  const auto vae_weights = [&](Eigen::Index input_width) {
    Options at = o.model;
    at.input_size = static_cast<int>(std::min<Eigen::Index>(input_width, std::numeric_limits<int>::max()));
    return static_cast<long double>(vae_param_count(at));
  };
  const long double budget = table_long_vae_steps * vae_weights(table_vae_full_width);
  o.vae.steps = std::min<long long>(o.vae.steps, static_cast<long long>(budget / vae_weights(width)));
  o.denoiser.steps = std::clamp<long long>(table_denoiser_steps_per_row * static_cast<long long>(rows),
                                           o.denoiser.steps, table_denoiser_max_steps);
  o.denoiser.batch_size = table_denoiser_batch;
  return o;
}

struct SampleOptions {
  SamplerOptions sampler{};  // its prediction is the model's own (LatentDiffusion::prediction)
  // Clamp the predicted x0 to the range of the training latents (unless sampler.clip_x0 is
  // set): DDIM without it now and then throws latents far outside the data.
  bool clip_to_latent_range = true;
  // Round integer-valued columns and clip every column to its range seen at fit time.
  bool postprocess = true;
  Eigen::Index batch_rows = 4096;  // rows denoised at once; results do not depend on it
  // Largest result a call may ask for: n x max(input_size, latent_size) x sizeof(S) bytes
  // (the working memory is a few times that). A larger n is refused before anything is allocated.
  std::uint64_t max_matrix_bytes = std::uint64_t{8} << 30;  // 8 GiB
  // Classifier-free guidance scale w of labelled sampling (guidance.hpp): 0 = unconditional,
  // 1 = the plain conditional model. Measured on digits (README, DDIM-50): the share of rows a
  // classifier puts in the requested digit is 0.989 at w = 1, 0.998 at 1.5 and 2, 0.999 at 3.
  double guidance = 2.0;
  // The processes that share the work (core/communicator.hpp; nullptr: this one alone): each
  // denoises its share of the batches of batch_rows rows and all get every row. The rows do
  // not depend on the process count (they do on batch_rows). Not saved: it is no setting.
  Communicator* communicator = nullptr;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SampleOptions, sampler, clip_to_latent_range, postprocess, batch_rows,
                                                max_matrix_bytes, guidance)

}  // namespace ldm
