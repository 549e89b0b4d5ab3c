// Classifier-free guidance (Ho & Salimans 2022, "Classifier-Free Diffusion Guidance", eq. 6):
// a conditional denoiser trained with label dropout predicts both eps(z_t, t, y) and the
// unconditional eps(z_t, t, no label), and sampling follows
//   eps = eps_uncond + w (eps_cond - eps_uncond)
// (the paper's (1 + w') eps_c - w' eps_u with w = 1 + w', the "guidance scale" of diffusers).
// w = 0 is the unconditional model, w = 1 the plain conditional one, w > 1 pushes the samples
// further towards their class.
//
// GuidedDenoiser is the eps(z_t, t) callable every sampler takes (samplers.hpp). For 0 < w != 1
// it stacks [z_t; z_t] with labels [y; no label] into one batch of 2B rows and makes one forward
// pass; w = 0 and w = 1 need one half only and make a B-row pass, so they equal the plain
// unconditional and conditional predictions bit for bit. Buffers are reused: after the first
// call of a given batch size a call allocates nothing.
#pragma once

#include <ldm/nn/denoiser.hpp>

#include <cmath>
#include <stdexcept>
#include <utility>

namespace ldm {

template <class S = float>
class GuidedDenoiser {
 public:
  // labels (B): the class of each row in [0, num_classes] (num_classes = no label); scale = w,
  // finite. The denoiser must be conditional and outlive this object. weight_packs: where its
  // forward passes keep the packed weights (DenoiserWorkspace::weight_packs), or nullptr.
  GuidedDenoiser(const Denoiser<S>& denoiser, Eigen::VectorXi labels, double scale,
                 detail::PackedWeights<S>* weight_packs = nullptr)
      : denoiser_(denoiser), labels_(std::move(labels)), scale_(scale) {
    ws_.weight_packs = weight_packs;
    constexpr const char* where = "GuidedDenoiser";
    const int classes = denoiser.num_classes();
    if (classes == 0)
      throw std::invalid_argument(detail::concat(where,
                                                 ": the denoiser is unconditional (num_classes = 0); "
                                                 "guidance needs a model trained with labels"));
    if (!std::isfinite(scale))
      throw std::invalid_argument(detail::concat(where, ": the guidance scale must be finite, got ", scale));
    for (Eigen::Index b = 0; b < labels_.size(); ++b)
      if (labels_(b) < 0 || labels_(b) > classes)
        throw std::invalid_argument(detail::concat(where, ": labels(", b, ") = ", labels_(b), " is outside [0, ",
                                                   classes, "] (", classes, " = no label)"));
  }

  double scale() const { return scale_; }
  const Eigen::VectorXi& labels() const { return labels_; }

  // eps_hat (B, latent) for z_t (B, latent) at timesteps t (B); valid until the next call.
  const Matrix<S>& operator()(const Matrix<S>& z_t, const Eigen::VectorXi& t) {
    const Eigen::Index n = z_t.rows();
    if (labels_.size() != n)
      throw std::invalid_argument(
          detail::concat("GuidedDenoiser: it has ", labels_.size(), " labels but z_t has ", n, " rows"));
    if (scale_ == 0.0) {  // the unconditional model alone
      denoiser_.forward(z_t, t, ws_);
      return ws_.out;
    }
    if (scale_ == 1.0) {  // the conditional model alone
      denoiser_.forward(z_t, t, labels_, ws_);
      return ws_.out;
    }
    z2_.resize(2 * n, z_t.cols());
    z2_.topRows(n) = z_t;
    z2_.bottomRows(n) = z_t;
    t2_.resize(2 * n);
    t2_.head(n) = t;
    t2_.tail(n) = t;
    labels2_.resize(2 * n);
    labels2_.head(n) = labels_;
    labels2_.tail(n).setConstant(denoiser_.no_label());
    denoiser_.forward(z2_, t2_, labels2_, ws_);
    const S w = static_cast<S>(scale_);
    out_.resize(n, z_t.cols());
    out_ = ws_.out.bottomRows(n) + w * (ws_.out.topRows(n) - ws_.out.bottomRows(n));
    return out_;
  }

 private:
  const Denoiser<S>& denoiser_;
  Eigen::VectorXi labels_;
  double scale_;
  DenoiserWorkspace<S> ws_;
  Matrix<S> z2_, out_;
  Eigen::VectorXi t2_, labels2_;
};

}  // namespace ldm
