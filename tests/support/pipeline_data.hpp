// Test helpers for the pipeline tests: small tables a LatentDiffusion learns in seconds, with and
// without class labels, and the fit options of the labelled ones.
#pragma once

#include <ldm/core/matrix.hpp>
#include <ldm/core/random.hpp>
#include <ldm/pipeline/options.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace ldm_test {

// Two clusters of integer-valued rows in 6 columns (0..10), plus a constant column.
inline ldm::Matrix<float> cluster_rows(ldm::Key key, Eigen::Index n) {
  const ldm::Matrix<float> noise = ldm::normal<float>(key, n, 7).values;
  ldm::Matrix<float> rows(n, 7);
  for (Eigen::Index r = 0; r < n; ++r) {
    const float centre = r % 2 == 0 ? 2.0f : 8.0f;
    for (Eigen::Index c = 0; c < 6; ++c) rows(r, c) = std::clamp(std::round(centre + noise(r, c)), 0.0f, 10.0f);
    rows(r, 6) = 3.0f;
  }
  return rows;
}

// Rows of 4 columns around one of three centres, the label naming the centre.
struct Labelled {
  ldm::Matrix<float> rows;
  std::vector<std::string> labels;
  ldm::Matrix<float> centres;
};

// n rows: row r around centre r % 3 ("low", "mid", "high"), spread the noise's standard deviation.
inline Labelled three_classes(ldm::Key key, Eigen::Index n, float spread) {
  Labelled d;
  d.centres = ldm::Matrix<float>::Zero(3, 4);
  d.centres(0, 0) = 4;
  d.centres(1, 1) = 4;
  d.centres(2, 2) = -4;
  const ldm::Matrix<float> noise = ldm::normal<float>(key, n, 4).values;
  d.rows.resize(n, 4);
  const char* names[] = {"low", "mid", "high"};
  for (Eigen::Index r = 0; r < n; ++r) {
    d.rows.row(r) = d.centres.row(r % 3) + spread * noise.row(r);
    d.labels.push_back(names[r % 3]);
  }
  return d;
}

// Latent 2, hidden 8, 1 layer, 20 diffusion steps, 40 steps per phase, label dropout 0.2.
inline ldm::FitOptions tiny_conditional_fit() {
  ldm::FitOptions o;
  o.model = {.latent_size = 2, .hidden_size = 8, .num_layers = 1, .num_steps = 20};
  o.vae = {.steps = 40, .batch_size = 16, .kl_weight = 1e-3, .lr = 3e-3};
  o.denoiser = {.steps = 40, .batch_size = 16, .lr = 2e-3, .warmup_steps = 5, .ema_decay = 0.9, .label_dropout = 0.2};
  return o;
}

}  // namespace ldm_test
