// The VAE's two pieces of maths between encoder and decoder: the KL term and the
// reparameterisation trick (Kingma & Welling 2014, "Auto-Encoding Variational Bayes").
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/random.hpp>

namespace ldm {

// KL(N(mu, exp(log_var)) || N(0, I)) = -0.5 sum_j (1 + log_var - mu^2 - exp(log_var))
// (Kingma & Welling 2014, appendix B), summed over latent dimensions, averaged over the batch.
template <class S>
S kl_divergence(const Matrix<S>& mu, const Matrix<S>& log_var) {
  detail::require_same_shape("kl_divergence", "mu", mu, "log_var", log_var);
  if (mu.rows() == 0) throw std::invalid_argument("kl_divergence: the batch is empty");
  const S total = (S(1) + log_var.array() - mu.array().square() - log_var.array().exp()).sum();
  return S(-0.5) * total / static_cast<S>(mu.rows());
}

// Adds scale * dKL/dmu = scale mu / B and scale * dKL/dlog_var = scale (exp(log_var) - 1) / (2B).
template <class S>
void kl_divergence_backward(const Matrix<S>& mu, const Matrix<S>& log_var, S scale, Matrix<S>& d_mu,
                            Matrix<S>& d_log_var) {
  detail::require_same_shape("kl_divergence_backward", "mu", mu, "log_var", log_var);
  detail::require_same_shape("kl_divergence_backward", "d_mu", d_mu, "mu", mu);
  detail::require_same_shape("kl_divergence_backward", "d_log_var", d_log_var, "log_var", log_var);
  const S s = scale / static_cast<S>(mu.rows());
  d_mu.array() += s * mu.array();
  d_log_var.array() += S(0.5) * s * (log_var.array().exp() - S(1));
}

// z = mu + exp(log_var / 2) * eps with eps ~ N(0, I) drawn from key; writes eps (needed by
// the backward pass) and z into the caller's buffers, returns the next key.
template <class S>
Key reparameterize_into(const Matrix<S>& mu, const Matrix<S>& log_var, Key key, Matrix<S>& eps, Matrix<S>& z) {
  detail::require_same_shape("reparameterize", "mu", mu, "log_var", log_var);
  eps.resize(mu.rows(), mu.cols());
  const Key next = fill_normal(key, eps);
  z = mu.array() + (S(0.5) * log_var.array()).exp() * eps.array();
  return next;
}

// auto [z, new_key] = reparameterize(mu, log_var, key)
template <class S>
Draw<S> reparameterize(const Matrix<S>& mu, const Matrix<S>& log_var, Key key) {
  Matrix<S> eps, z;
  const Key next = reparameterize_into(mu, log_var, key, eps, z);
  return {std::move(z), next};
}

// Backward of z = mu + exp(log_var / 2) eps: d_mu += dz, d_log_var += dz eps exp(log_var / 2) / 2.
template <class S>
void reparameterize_backward(const Matrix<S>& log_var, const Matrix<S>& eps, const Matrix<S>& dz, Matrix<S>& d_mu,
                             Matrix<S>& d_log_var) {
  detail::require_same_shape("reparameterize_backward", "dz", dz, "log_var", log_var);
  detail::require_same_shape("reparameterize_backward", "eps", eps, "log_var", log_var);
  detail::require_same_shape("reparameterize_backward", "d_mu", d_mu, "log_var", log_var);
  detail::require_same_shape("reparameterize_backward", "d_log_var", d_log_var, "log_var", log_var);
  d_mu += dz;
  d_log_var.array() += S(0.5) * dz.array() * eps.array() * (S(0.5) * log_var.array()).exp();
}

}  // namespace ldm
