// The VAE decoder: z -> x_hat, as the seed builds it:
// dec_dense_0 (latent -> hidden), SiLU, dec_dense_1 (hidden -> hidden), SiLU, dec_output (hidden -> input).
#pragma once

#include <ldm/core/visit.hpp>
#include <ldm/nn/layers.hpp>

namespace ldm {

template <class S>
struct DecoderWorkspace {
  Matrix<S> sig0, h0, sig1, h1;  // (B, hidden): sigmoids of the pre-activations, SiLU outputs
  Matrix<S> out;                 // (B, input): x_hat
  Matrix<S> dh, da;              // (B, hidden) scratch
  Matrix<S> dz;                  // (B, latent): the input gradient that backward returns
};

template <class S = float>
struct Decoder : Visitable<Decoder<S>> {
  Dense<S> dec_dense_0, dec_dense_1, dec_output;

  Decoder() = default;
  // Layer k draws its initial values from fold_in(key, k); without a key every value is 0.
  Decoder(int input_size, int latent_size, int hidden_size, std::optional<Key> key)
      : dec_dense_0("dec_dense_0", latent_size, hidden_size, fold_in(key, 0)),
        dec_dense_1("dec_dense_1", hidden_size, hidden_size, fold_in(key, 1)),
        dec_output("dec_output", hidden_size, input_size, fold_in(key, 2)) {}

  Eigen::Index input_size() const { return dec_output.out_features(); }
  Eigen::Index latent_size() const { return dec_dense_0.in_features(); }

  // z (B, latent) -> x_hat (B, input). Throws on a wrong width or NaN/Inf.
  Matrix<S> operator()(const Matrix<S>& z) const {
    detail::require_cols("Decoder", "z", z, latent_size());
    detail::require_finite("Decoder", "z", z);
    DecoderWorkspace<S> ws;
    forward(z, ws);
    return std::move(ws.out);
  }

  // The training forward: fills ws. Checks shapes, not values (see Encoder::forward).
  void forward(const Matrix<S>& z, DecoderWorkspace<S>& ws) const {
    detail::require_cols("Decoder", "z", z, latent_size());
    // Big batches: one parallel region, each thread through every layer on its own rows.
    const Eigen::Index n = z.rows(), hidden = dec_dense_0.out_features();
    for (Matrix<S>* m : {&ws.sig0, &ws.h0, &ws.sig1, &ws.h1}) m->resize(n, hidden);
    ws.out.resize(n, input_size());
    detail::by_row_slices(n, [&](detail::RowSlice rows) { forward_layers(z, ws, rows); });
  }

  // Given dL/dx_hat (B, input), adds parameter gradients into grad, returns dL/dz (ws.dz).
  const Matrix<S>& backward(const Matrix<S>& z, DecoderWorkspace<S>& ws, const Matrix<S>& d_out, Decoder& grad) const {
    detail::require_same_shape("Decoder::backward", "d_out", d_out, "x_hat", ws.out);
    // The input gradients first, row by row (on big batches one region, each thread on its own
    // rows), then the weight gradients, which sum over all rows.
    const Eigen::Index n = z.rows(), hidden = dec_dense_0.out_features();
    ws.da.resize(n, hidden);
    ws.dh.resize(n, hidden);
    ws.dz.resize(n, latent_size());
    const auto input_gradients = [&](detail::RowSlice rows) {
      dec_output.backward_input_silu(d_out, ws.sig1, ws.h1, ws.da, rows);
      dec_dense_1.backward_input_silu(ws.da, ws.sig0, ws.h0, ws.dh, rows);
      dec_dense_0.backward_input(ws.dh, ws.dz, rows);
    };
    detail::by_row_slices(n, input_gradients);
    dec_output.backward_params(ws.h1, d_out, grad.dec_output);
    dec_dense_1.backward_params(ws.h0, ws.da, grad.dec_dense_1);
    dec_dense_0.backward_params(z, ws.dh, grad.dec_dense_0);
    return ws.dz;
  }

  template <class F, class... Models>
  static void visit_each(F&& f, Models&... m) {
    Dense<S>::visit_each(f, m.dec_dense_0...);
    Dense<S>::visit_each(f, m.dec_dense_1...);
    Dense<S>::visit_each(f, m.dec_output...);
  }

 private:
  // The forward on the given rows (see Dense's RowSlice); ws sized.
  void forward_layers(const Matrix<S>& z, DecoderWorkspace<S>& ws, detail::RowSlice rows) const {
    dec_dense_0.forward_silu(z, ws.sig0, ws.h0, rows);
    dec_dense_1.forward_silu(ws.h0, ws.sig1, ws.h1, rows);
    dec_output.forward(ws.h1, ws.out, rows);
  }
};

}  // namespace ldm
