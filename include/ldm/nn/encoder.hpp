// The VAE encoder: x -> (mu, log_var), as the seed builds it:
// enc_dense_0 (input -> hidden), SiLU, enc_dense_1 (hidden -> hidden), SiLU,
// heads enc_mu and enc_log_var (hidden -> latent).
#pragma once

#include <ldm/core/visit.hpp>
#include <ldm/nn/layers.hpp>

namespace ldm {

template <class S>
struct EncoderOutput {
  Matrix<S> mu;       // (B, latent)
  Matrix<S> log_var;  // (B, latent)
};

// Activations of one training forward pass, kept for backward, plus backward scratch.
// Reusing one workspace across steps makes the steady state allocation-free.
template <class S>
struct EncoderWorkspace {
  Matrix<S> sig0, h0, sig1, h1;  // (B, hidden): sigmoids of the pre-activations, SiLU outputs
  EncoderOutput<S> out;          // (B, latent) each
  Matrix<S> dh, da;              // (B, hidden) scratch
  Matrix<S> dx;                  // (B, input): the input gradient that backward returns
};

template <class S = float>
struct Encoder : Visitable<Encoder<S>> {
  Dense<S> enc_dense_0, enc_dense_1, enc_mu, enc_log_var;

  Encoder() = default;
  // Layer k draws its initial values from fold_in(key, k); without a key every value is 0.
  Encoder(int input_size, int latent_size, int hidden_size, std::optional<Key> key)
      : enc_dense_0("enc_dense_0", input_size, hidden_size, fold_in(key, 0)),
        enc_dense_1("enc_dense_1", hidden_size, hidden_size, fold_in(key, 1)),
        enc_mu("enc_mu", hidden_size, latent_size, fold_in(key, 2)),
        enc_log_var("enc_log_var", hidden_size, latent_size, fold_in(key, 3)) {}

  Eigen::Index input_size() const { return enc_dense_0.in_features(); }
  Eigen::Index latent_size() const { return enc_mu.out_features(); }

  // x (B, input) -> {mu, log_var}, each (B, latent). Throws on a wrong width or NaN/Inf.
  EncoderOutput<S> operator()(const Matrix<S>& x) const {
    detail::require_cols("Encoder", "x", x, input_size());
    detail::require_finite("Encoder", "x", x);
    EncoderWorkspace<S> ws;
    forward(x, ws);
    return std::move(ws.out);
  }

  // The training forward: fills ws (activations for backward and ws.out). It checks shapes,
  // not values: a NaN flows through to the loss, which the trainers check once per step.
  void forward(const Matrix<S>& x, EncoderWorkspace<S>& ws) const {
    detail::require_cols("Encoder", "x", x, input_size());
    // Big batches: one parallel region, each thread through every layer on its own rows.
    const Eigen::Index n = x.rows(), hidden = enc_dense_0.out_features();
    for (Matrix<S>* m : {&ws.sig0, &ws.h0, &ws.sig1, &ws.h1}) m->resize(n, hidden);
    ws.out.mu.resize(n, latent_size());
    ws.out.log_var.resize(n, latent_size());
    detail::by_row_slices(n, [&](detail::RowSlice rows) { forward_layers(x, ws, rows); });
  }

  // Given dL/dmu and dL/dlog_var (B, latent), adds the parameter gradients into grad and
  // returns dL/dx (B, input), stored in ws.dx. Needs the ws of the matching forward.
  const Matrix<S>& backward(const Matrix<S>& x, EncoderWorkspace<S>& ws, const Matrix<S>& d_mu,
                            const Matrix<S>& d_log_var, Encoder& grad) const {
    backward_params(x, ws, d_mu, d_log_var, grad);
    enc_dense_0.backward_input(ws.dh, ws.dx);
    return ws.dx;
  }

  // backward without dL/dx, all training needs: saves the largest product of the backward
  // pass (input x hidden per row). ws.dx is left as it was.
  void backward_params(const Matrix<S>& x, EncoderWorkspace<S>& ws, const Matrix<S>& d_mu, const Matrix<S>& d_log_var,
                       Encoder& grad) const {
    detail::require_same_shape("Encoder::backward", "d_mu", d_mu, "mu", ws.out.mu);
    detail::require_same_shape("Encoder::backward", "d_log_var", d_log_var, "log_var", ws.out.log_var);
    // The input gradients first, row by row (on big batches one region, each thread on its own
    // rows): da = dL/d(pre-activation of enc_dense_1), then dh = dL/d(that of enc_dense_0);
    // then the weight gradients, which sum over all rows.
    const Eigen::Index n = x.rows(), hidden = enc_dense_0.out_features();
    ws.dh.resize(n, hidden);
    ws.da.resize(n, hidden);
    const auto input_gradients = [&](detail::RowSlice rows) {
      enc_mu.backward_input(d_mu, ws.dh, rows);  // dL/dh1
      enc_log_var.backward_input_add(d_log_var, ws.dh, rows);
      silu_backward_saved(ws.sig1, ws.h1, ws.dh, ws.da, rows);
      enc_dense_1.backward_input_silu(ws.da, ws.sig0, ws.h0, ws.dh, rows);
    };
    detail::by_row_slices(n, input_gradients);
    enc_mu.backward_params(ws.h1, d_mu, grad.enc_mu);
    enc_log_var.backward_params(ws.h1, d_log_var, grad.enc_log_var);
    enc_dense_1.backward_params(ws.h0, ws.da, grad.enc_dense_1);
    enc_dense_0.backward_params(x, ws.dh, grad.enc_dense_0);
  }

  template <class F, class... Models>
  static void visit_each(F&& f, Models&... m) {
    Dense<S>::visit_each(f, m.enc_dense_0...);
    Dense<S>::visit_each(f, m.enc_dense_1...);
    Dense<S>::visit_each(f, m.enc_mu...);
    Dense<S>::visit_each(f, m.enc_log_var...);
  }

 private:
  // The forward on the given rows (see Dense's RowSlice); ws sized.
  void forward_layers(const Matrix<S>& x, EncoderWorkspace<S>& ws, detail::RowSlice rows) const {
    enc_dense_0.forward_silu(x, ws.sig0, ws.h0, rows);
    enc_dense_1.forward_silu(ws.h0, ws.sig1, ws.h1, rows);
    enc_mu.forward(ws.h1, ws.out.mu, rows);
    enc_log_var.forward(ws.h1, ws.out.log_var, rows);
  }
};

}  // namespace ldm
