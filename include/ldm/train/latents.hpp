// The frozen encoder's view of the data that the second stage trains on, and the latent scaling
// (Rombach et al. 2022, sec. 4.3.2: latents rescaled to unit variance before diffusion).
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/json.hpp>
#include <ldm/data/standardizer.hpp>
#include <ldm/nn/encoder.hpp>

#include <algorithm>

namespace ldm {

enum class LatentSource {
  mean,              // the encoder's mu, fixed
  posterior_sample,  // a fresh z ~ q(z|x) for every batch (better on small data sets)
};
constexpr auto enum_names(LatentSource) {
  return std::array{std::pair{LatentSource::mean, "mean"},
                    std::pair{LatentSource::posterior_sample, "posterior_sample"}};
}

// The frozen encoder's view of the data, and the per-dimension standardisation the denoiser
// works in (the latent scaling; undone after sampling).
template <class S>
struct LatentSet {
  Matrix<S> mu, log_var;  // (N, latent)
  LatentSource source = LatentSource::mean;
  Standardizer<S> scaling;
  // (N): each row's class in [0, num_classes] (num_classes = no label) for a conditional
  // denoiser; empty for an unconditional one.
  Eigen::VectorXi labels;
};

// Encodes data in batches of batch_rows. The scaling's mean is mean(mu); its variance is
// var(mu) for fixed latents, and var(mu) + mean(exp(log_var)) (the law of total variance) when
// latents are drawn from q(z|x).
template <class S>
LatentSet<S> encode_latents(const Encoder<S>& encoder, const Matrix<S>& data, LatentSource source,
                            Eigen::Index batch_rows = 1024) {
  detail::require_positive("encode_latents", "batch_rows", batch_rows);
  if (data.rows() == 0) throw std::invalid_argument("encode_latents: the data set has no rows");
  LatentSet<S> set;
  set.source = source;
  set.mu.resize(data.rows(), encoder.latent_size());
  set.log_var.resize(data.rows(), encoder.latent_size());
  EncoderWorkspace<S> ws;
  for (Eigen::Index first = 0; first < data.rows(); first += batch_rows) {
    const Eigen::Index n = std::min(batch_rows, data.rows() - first);
    encoder.forward(data.middleRows(first, n), ws);
    set.mu.middleRows(first, n) = ws.out.mu;
    set.log_var.middleRows(first, n) = ws.out.log_var;
  }
  const Eigen::Array<double, 1, Eigen::Dynamic> mean = set.mu.template cast<double>().colwise().mean().array();
  Eigen::Array<double, 1, Eigen::Dynamic> var =
      (set.mu.template cast<double>().array().rowwise() - mean).square().colwise().mean();
  if (source == LatentSource::posterior_sample)
    var += set.log_var.template cast<double>().array().exp().colwise().mean();
  set.scaling.mean = mean.transpose().template cast<S>();
  set.scaling.scale = var.sqrt().unaryExpr([](double v) { return v > 0 ? v : 1.0; }).transpose().template cast<S>();
  return set;
}

}  // namespace ldm
