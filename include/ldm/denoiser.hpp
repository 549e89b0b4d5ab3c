// The noise predictor eps_hat(z_t, t), as the seed builds it:
//   h = z_proj(z_t) + SiLU(time_mlp_1(embed(t)))
//   h = h + down(SiLU(up(LayerNorm(h))))        for each of num_layers residual blocks
//   eps_hat = noise_pred(h)
#pragma once

#include <ldm/layers.hpp>

#include <vector>

namespace ldm {

// One pre-norm residual MLP block: x + down(SiLU(up(norm(x)))), up widening 4x.
template <class S = float>
struct ResidualBlock {
  LayerNorm<S> norm;
  Dense<S> up, down;

  ResidualBlock() = default;
  // Named denoiser_block_<index>_{norm,up,down}; up and down draw from fold_in(key, 0 / 1).
  ResidualBlock(int index, int hidden_size, Key key)
      : norm(detail::concat("denoiser_block_", index, "_norm"), hidden_size),
        up(detail::concat("denoiser_block_", index, "_up"), hidden_size, 4 * hidden_size, fold_in(key, 0)),
        down(detail::concat("denoiser_block_", index, "_down"), 4 * hidden_size, hidden_size, fold_in(key, 1)) {}

  template <class F, class... Blocks>
  static void visit_each(F&& f, Blocks&... b) {
    LayerNorm<S>::visit_each(f, b.norm...);
    Dense<S>::visit_each(f, b.up...);
    Dense<S>::visit_each(f, b.down...);
  }
};

template <class S>
struct BlockActivations {
  Matrix<S> n;           // (B, hidden): LayerNorm output
  Vector<S> mean, rstd;  // (B): LayerNorm statistics
  Matrix<S> u, s;        // (B, 4 hidden): up output and its SiLU
};

template <class S>
struct DenoiserWorkspace {
  Matrix<S> emb, a_t, temb;              // (B, hidden): embedding, time_mlp_1 output, its SiLU
  std::vector<Matrix<S>> h;              // num_layers + 1 residual states (B, hidden)
  std::vector<BlockActivations<S>> blocks;
  Matrix<S> out;                         // (B, latent): eps_hat
  Matrix<S> dh, dn, ds, du, da;          // backward scratch
  Matrix<S> dz;                          // (B, latent): the input gradient that backward returns
  // The embedding of every timestep (num_steps, hidden), computed on first use: it depends on
  // num_steps, the width and the kind only, so each step just copies rows.
  Matrix<S> emb_table;
  TimeEmbedding emb_table_kind = TimeEmbedding::normalized;
  Eigen::VectorXi all_steps;                   // 0 .. num_steps - 1, to build the table
  Matrix<S> emb_one, a_t_one, temb_one;  // (1, hidden): the time path when every row shares t
};

template <class S = float>
struct Denoiser {
  Dense<S> time_mlp_1, z_proj;
  std::vector<ResidualBlock<S>> blocks;
  Dense<S> noise_pred;
  int num_steps = 0;
  TimeEmbedding embedding = TimeEmbedding::normalized;

  Denoiser() = default;
  // time_mlp_1, z_proj and noise_pred draw from fold_in(key, 0 / 1 / 2), block i from fold_in(key, 2 + i).
  Denoiser(int latent_size, int hidden_size, int num_layers, int num_steps_, Key key,
           TimeEmbedding embedding_ = TimeEmbedding::normalized)
      : time_mlp_1("time_mlp_1", hidden_size, hidden_size, fold_in(key, 0)),
        z_proj("z_proj", latent_size, hidden_size, fold_in(key, 1)),
        noise_pred("noise_pred", hidden_size, latent_size, fold_in(key, 2)),
        num_steps(num_steps_), embedding(embedding_) {
    detail::require_positive("Denoiser", "num_steps", num_steps_);
    if (hidden_size % 2 != 0)
      throw std::invalid_argument(detail::concat(
          "Denoiser: hidden_size must be even (the time embedding is half sine, half cosine), got ",
          hidden_size));
    for (int i = 1; i <= num_layers; ++i)
      blocks.emplace_back(i, hidden_size, fold_in(key, static_cast<std::uint32_t>(2 + i)));
  }

  Eigen::Index latent_size() const { return z_proj.in_features(); }
  Eigen::Index hidden_size() const { return z_proj.out_features(); }
  int num_layers() const { return static_cast<int>(blocks.size()); }

  // z_t (B, latent), t (B) in [0, num_steps) -> eps_hat (B, latent). Throws on NaN/Inf in z_t.
  Matrix<S> operator()(const Matrix<S>& z_t, const Eigen::VectorXi& t) const {
    check_input(z_t, t);
    detail::require_finite("Denoiser", "z_t", z_t);
    DenoiserWorkspace<S> ws;
    forward(z_t, t, ws);
    return std::move(ws.out);
  }

  // The training forward: fills ws. Checks shapes and t, not values (see Encoder::forward).
  void forward(const Matrix<S>& z_t, const Eigen::VectorXi& t, DenoiserWorkspace<S>& ws) const {
    check_input(z_t, t);
    const std::size_t n_blocks = blocks.size();
    ws.h.resize(n_blocks + 1);
    ws.blocks.resize(n_blocks);
    time_path(t, ws);
    z_proj.forward_residual(z_t, ws.temb, ws.h[0]);  // h0 = z_proj(z_t) + SiLU(time_mlp_1(emb))
    for (std::size_t i = 0; i < n_blocks; ++i) {
      const ResidualBlock<S>& block = blocks[i];
      BlockActivations<S>& act = ws.blocks[i];
      block.norm.forward(ws.h[i], act.n, act.mean, act.rstd);
      block.up.forward(act.n, act.u);
      silu_forward(act.u, act.s);
      block.down.forward_residual(act.s, ws.h[i], ws.h[i + 1]);  // h + down(SiLU(up(norm(h))))
    }
    noise_pred.forward(ws.h[n_blocks], ws.out);
  }

  // Given dL/deps_hat (B, latent), adds parameter gradients into grad, returns dL/dz_t (ws.dz).
  const Matrix<S>& backward(const Matrix<S>& z_t, DenoiserWorkspace<S>& ws, const Matrix<S>& d_out,
                            Denoiser& grad) const {
    backward_params(z_t, ws, d_out, grad);
    z_proj.backward_input(ws.dh, ws.dz);
    return ws.dz;
  }

  // backward without dL/dz_t: all training needs (ws.dz is left as it was).
  void backward_params(const Matrix<S>& z_t, DenoiserWorkspace<S>& ws, const Matrix<S>& d_out,
                       Denoiser& grad) const {
    detail::require_same_shape("Denoiser::backward", "d_out", d_out, "eps_hat", ws.out);
    const std::size_t n_blocks = blocks.size();
    noise_pred.backward(ws.h[n_blocks], d_out, grad.noise_pred);
    noise_pred.backward_input(d_out, ws.dh);  // dh: gradient of the residual stream
    for (std::size_t i = n_blocks; i-- > 0;) {
      const ResidualBlock<S>& block = blocks[i];
      BlockActivations<S>& act = ws.blocks[i];
      block.down.backward(act.s, ws.dh, grad.blocks[i].down);
      block.down.backward_input(ws.dh, ws.ds);
      silu_backward(act.u, ws.ds, ws.du);
      block.up.backward(act.n, ws.du, grad.blocks[i].up);
      block.up.backward_input(ws.du, ws.dn);
      block.norm.backward(ws.h[i], act.mean, act.rstd, ws.dn, grad.blocks[i].norm, ws.da);
      ws.dh += ws.da;  // the skip connection passes dh through unchanged
    }
    z_proj.backward(z_t, ws.dh, grad.z_proj);
    silu_backward(ws.a_t, ws.dh, ws.da);
    time_mlp_1.backward(ws.emb, ws.da, grad.time_mlp_1);
  }

  template <class F, class... Models>
  static void visit_each(F&& f, Models&... m) {
    Dense<S>::visit_each(f, m.time_mlp_1...);
    Dense<S>::visit_each(f, m.z_proj...);
    const std::size_t n_blocks = detail::first_of(m...).blocks.size();
    for (std::size_t i = 0; i < n_blocks; ++i) ResidualBlock<S>::visit_each(f, m.blocks[i]...);
    Dense<S>::visit_each(f, m.noise_pred...);
  }
  template <class F>
  void visit(F&& f) { visit_each(f, *this); }
  template <class F>
  void visit(F&& f) const { visit_each(f, *this); }

 private:
  // ws.emb, ws.a_t = time_mlp_1(emb) and ws.temb = SiLU(a_t), each (B, hidden). The embedding
  // rows come from the table; when every row has the same t (a sampling step) time_mlp_1 runs
  // on one row and the rows are copies of it.
  void time_path(const Eigen::VectorXi& t, DenoiserWorkspace<S>& ws) const {
    const Eigen::Index n = t.size(), width = hidden_size();
    if (ws.emb_table.rows() != num_steps || ws.emb_table.cols() != width || ws.emb_table_kind != embedding) {
      ws.all_steps = Eigen::VectorXi::LinSpaced(num_steps, 0, num_steps - 1);
      time_embedding(ws.all_steps, num_steps, width, embedding, ws.emb_table);
      ws.emb_table_kind = embedding;
    }
    const bool shared = n > 1 && (t.array() == t(0)).all();
    if (shared) {
      ws.emb_one = ws.emb_table.row(t(0));
      time_mlp_1.forward(ws.emb_one, ws.a_t_one);
      silu_forward(ws.a_t_one, ws.temb_one);
      ws.emb = ws.emb_one.replicate(n, 1);
      ws.a_t = ws.a_t_one.replicate(n, 1);
      ws.temb = ws.temb_one.replicate(n, 1);
      return;
    }
    ws.emb.resize(n, width);
    for (Eigen::Index b = 0; b < n; ++b) ws.emb.row(b) = ws.emb_table.row(t(b));
    time_mlp_1.forward(ws.emb, ws.a_t);
    silu_forward(ws.a_t, ws.temb);
  }

  void check_input(const Matrix<S>& z_t, const Eigen::VectorXi& t) const {
    detail::require_cols("Denoiser", "z_t", z_t, latent_size());
    if (t.size() != z_t.rows())
      throw std::invalid_argument(detail::concat("Denoiser: t has ", t.size(),
                                                 " timesteps but z_t has ", z_t.rows(), " rows"));
    for (Eigen::Index b = 0; b < t.size(); ++b)
      if (t(b) < 0 || t(b) >= num_steps)
        throw std::invalid_argument(detail::concat("Denoiser: t(", b, ") = ", t(b),
                                                   " is outside [0, ", num_steps, ")"));
  }
};

}  // namespace ldm
