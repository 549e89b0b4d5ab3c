// The tiny trained pipeline that the limit tests, the fuzz seeds and the file tests fit: 4 rows
// of 3 columns, latent 2, hidden 4, 1 layer, 10 diffusion steps, one optimizer step per phase.
// It fits in milliseconds; its weights mean nothing, its files and shapes are real.
#pragma once

#include <ldm/pipeline/latent_diffusion.hpp>

#include <string>
#include <vector>

namespace ldm_test {

// The 4 training rows of 3 columns.
inline ldm::Matrix<float> tiny_rows() {
  ldm::Matrix<float> rows(4, 3);
  rows << 1, 2, 3, 2, 2, 1, 0, 5, 1, 3, 3, 3;
  return rows;
}

// Latent 2, hidden 4, 1 layer, 10 diffusion steps; one VAE step and one denoiser step on the
// whole batch of 4 (no warm-up, so the one step has a learning rate).
inline ldm::FitOptions tiny_fit_options() {
  ldm::FitOptions fit;
  fit.model = {.latent_size = 2, .hidden_size = 4, .num_layers = 1, .num_steps = 10};
  fit.vae = {.steps = 1, .batch_size = 4};
  fit.denoiser = {.steps = 1, .batch_size = 4, .warmup_steps = 0};
  return fit;
}

// tiny_rows() fitted with tiny_fit_options().
inline ldm::LatentDiffusion<float> tiny_pipeline(ldm::Key key = ldm::make_key(7),
                                                 const std::vector<std::string>& column_names = {}) {
  return ldm::LatentDiffusion<float>::fit(tiny_rows(), tiny_fit_options(), key, {}, column_names);
}

}  // namespace ldm_test
