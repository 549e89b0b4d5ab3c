// Test helper: whether two LatentDiffusion models hold the same bits (after a save and load, or
// a stopped and resumed fit).
#pragma once

#include <ldm/pipeline/latent_diffusion.hpp>

#include <string>

namespace ldm_test {

// Every weight of the three models, the latent scaling's mean and the latent bound equal.
template <class S>
bool same_model(const ldm::LatentDiffusion<S>& a, const ldm::LatentDiffusion<S>& b) {
  bool same = true;
  const auto compare = [&](const std::string&, const auto& x, const auto& y) { same = same && x == y; };
  ldm::visit_together(compare, a.encoder, b.encoder);
  ldm::visit_together(compare, a.decoder, b.decoder);
  ldm::visit_together(compare, a.denoiser, b.denoiser);
  return same && a.latent_scaling.mean == b.latent_scaling.mean && a.latent_bound == b.latent_bound;
}

}  // namespace ldm_test
