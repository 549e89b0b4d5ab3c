// The noise predictor eps_hat(z_t, t), as the seed builds it:
//   h = z_proj(z_t) + SiLU(time_mlp_1(embed(t)))
//   h = h + down(SiLU(up(LayerNorm(h))))        for each of num_layers residual blocks
//   eps_hat = noise_pred(h)
// With num_classes > 0 it is conditional, eps_hat(z_t, t, y): a learnt label embedding row is
// added to the time embedding, time_mlp_1(embed(t) + label_embed[y]) (class conditioning as in
// Ho & Salimans 2022 and Dhariwal & Nichol 2021). Label y = num_classes is the "no label" token
// that classifier-free guidance needs; an unconditional model has no label_embed at all.
#pragma once

#include <ldm/core/visit.hpp>
#include <ldm/nn/layers.hpp>

#include <vector>

namespace ldm {

// One pre-norm residual MLP block: x + down(SiLU(up(norm(x)))), up widening 4x.
template <class S = float>
struct ResidualBlock {
  LayerNorm<S> norm;
  Dense<S> up, down;

  ResidualBlock() = default;
  // Named denoiser_block_<index>_{norm,up,down}; up and down draw from fold_in(key, 0 / 1).
  ResidualBlock(int index, int hidden_size, std::optional<Key> key)
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
  Matrix<S> sig, s;      // (B, 4 hidden): sigmoid of the up output, and its SiLU (Dense::forward_silu)
};

template <class S>
struct DenoiserWorkspace {
  Matrix<S> emb, a_t, temb;  // (B, hidden): embedding, time_mlp_1 output, its SiLU
  std::vector<Matrix<S>> h;  // num_layers + 1 residual states (B, hidden)
  std::vector<BlockActivations<S>> blocks;
  Matrix<S> out;             // (B, latent): eps_hat
  Matrix<S> dh, dn, du, da;  // backward scratch
  Matrix<S> dz;              // (B, latent): the input gradient that backward returns
  // The embedding of every timestep (num_steps, hidden), computed on the first batch of 32 rows
  // or more: it depends on num_steps, the width and the kind only, so each step copies rows.
  Matrix<S> emb_table;
  TimeEmbedding emb_table_kind = TimeEmbedding::normalized;
  Eigen::VectorXi all_steps;             // 0 .. num_steps - 1, to build the table
  Eigen::VectorXi few_steps;             // the steps of a batch embedded without the table
  Matrix<S> emb_step;                    // (1, hidden): the embedding of a step all rows share
  Matrix<S> emb_one, a_t_one, temb_one;  // (1 or num_classes + 1, hidden): the time path when every row shares t
  // Set by a forward whose rows share one t and no label: emb and a_t were left as their one row
  // (emb_one, a_t_one), since only backward reads them; backward replicates them first.
  bool time_rows_pending = false;
  Eigen::VectorXi labels;  // (B): the class of each row (conditional models only)
  Matrix<S> d_emb;         // (B, hidden): dL/d(embedding), for label_embed's gradient
  // Where the forward pass keeps its weights packed for the GEMM kernel across calls (the same
  // bits, less work per call; see detail::PackedWeights), or nullptr: packed on every call.
  // Set it only while the weights stay unchanged, as when sampling; never while training.
  detail::PackedWeights<S>* weight_packs = nullptr;
};

template <class S = float>
struct Denoiser : Visitable<Denoiser<S>> {
  Dense<S> time_mlp_1, z_proj;
  std::vector<ResidualBlock<S>> blocks;
  Dense<S> noise_pred;
  Matrix<S> label_embed;  // (num_classes + 1, hidden), PyTorch's nn.Embedding weight; empty when unconditional
  int num_steps = 0;
  TimeEmbedding embedding = TimeEmbedding::normalized;

  // label_embed's random stream: fold_in(key, this), above every block's 2 + i, so adding classes
  // leaves the other initial weights bit for bit as they are.
  static constexpr std::uint32_t label_embed_stream = 0xffffffffu;

  Denoiser() = default;
  // time_mlp_1, z_proj and noise_pred draw from fold_in(key, 0 / 1 / 2), block i from fold_in(key, 2 + i);
  // label_embed is N(0, 1) as nn.Embedding's default, from fold_in(key, label_embed_stream).
  // Without a key every value is 0 (LayerNorm weights 1): the shapes a loader fills.
  Denoiser(int latent_size, int hidden_size, int num_layers, int num_steps_, std::optional<Key> key,
           TimeEmbedding embedding_ = TimeEmbedding::normalized, int num_classes_ = 0)
      : time_mlp_1("time_mlp_1", hidden_size, hidden_size, fold_in(key, 0)),
        z_proj("z_proj", latent_size, hidden_size, fold_in(key, 1)),
        noise_pred("noise_pred", hidden_size, latent_size, fold_in(key, 2)),
        num_steps(num_steps_),
        embedding(embedding_) {
    detail::require_positive("Denoiser", "num_steps", num_steps_);
    if (hidden_size % 2 != 0)
      throw std::invalid_argument(detail::concat(
          "Denoiser: hidden_size must be even (the time embedding is half sine, half cosine), got ", hidden_size));
    if (num_classes_ < 0)
      throw std::invalid_argument(
          detail::concat("Denoiser: num_classes must be >= 0 (0 = unconditional), got ", num_classes_));
    for (int i = 1; i <= num_layers; ++i)
      blocks.emplace_back(i, hidden_size, fold_in(key, static_cast<std::uint32_t>(2 + i)));
    if (num_classes_ > 0) {
      label_embed.setZero(num_classes_ + 1, hidden_size);
      if (key) fill_normal(fold_in(*key, label_embed_stream), label_embed);
    }
  }

  Eigen::Index latent_size() const { return z_proj.in_features(); }
  Eigen::Index hidden_size() const { return z_proj.out_features(); }
  int num_layers() const { return static_cast<int>(blocks.size()); }
  // 0 for an unconditional model; else the classes 0 .. num_classes - 1 (and the token num_classes).
  int num_classes() const { return label_embed.rows() > 0 ? static_cast<int>(label_embed.rows()) - 1 : 0; }
  // The "no label" token of a conditional model: the unconditional prediction.
  int no_label() const { return num_classes(); }

  // z_t (B, latent), t (B) in [0, num_steps) -> eps_hat (B, latent). Throws on NaN/Inf in z_t.
  // A conditional model sees every row as "no label".
  Matrix<S> operator()(const Matrix<S>& z_t, const Eigen::VectorXi& t) const {
    check_input(z_t, t);
    detail::require_finite("Denoiser", "z_t", z_t);
    DenoiserWorkspace<S> ws;
    forward(z_t, t, ws);
    return std::move(ws.out);
  }

  // The same with a class per row, labels (B) in [0, num_classes] (num_classes = "no label").
  Matrix<S> operator()(const Matrix<S>& z_t, const Eigen::VectorXi& t, const Eigen::VectorXi& labels) const {
    check_input(z_t, t);
    check_labels(labels, z_t.rows());
    detail::require_finite("Denoiser", "z_t", z_t);
    DenoiserWorkspace<S> ws;
    forward(z_t, t, labels, ws);
    return std::move(ws.out);
  }

  // The training forward: fills ws. Checks shapes and t, not values (see Encoder::forward).
  // A conditional model sees every row as "no label".
  void forward(const Matrix<S>& z_t, const Eigen::VectorXi& t, DenoiserWorkspace<S>& ws) const {
    check_input(z_t, t);
    if (num_classes() > 0) ws.labels.setConstant(t.size(), no_label());
    forward_checked(z_t, t, ws);
  }

  // The training forward of a conditional model, labels (B) in [0, num_classes].
  void forward(const Matrix<S>& z_t, const Eigen::VectorXi& t, const Eigen::VectorXi& labels,
               DenoiserWorkspace<S>& ws) const {
    check_input(z_t, t);
    check_labels(labels, z_t.rows());
    ws.labels = labels;
    forward_checked(z_t, t, ws);
  }

 private:
  void forward_checked(const Matrix<S>& z_t, const Eigen::VectorXi& t, DenoiserWorkspace<S>& ws) const {
    const std::size_t n_blocks = blocks.size();
    ws.h.resize(n_blocks + 1);
    ws.blocks.resize(n_blocks);
    time_path(t, ws);
    // Big batches: one parallel region, each thread through every layer on its own rows (rows
    // are independent here); else layer by layer, each product threaded.
    const Eigen::Index n = z_t.rows(), width = hidden_size();
    for (std::size_t i = 0; i <= n_blocks; ++i) ws.h[i].resize(n, width);
    for (BlockActivations<S>& act : ws.blocks) {
      act.n.resize(n, width);
      act.mean.resize(n);
      act.rstd.resize(n);
      act.sig.resize(n, 4 * width);
      act.s.resize(n, 4 * width);
    }
    ws.out.resize(n, latent_size());
    detail::by_row_slices(n, [&](detail::RowSlice rows) { forward_layers(z_t, ws, rows); });
  }

  // Everything after the time path, on the given rows (see Dense's RowSlice); ws sized.
  void forward_layers(const Matrix<S>& z_t, DenoiserWorkspace<S>& ws, detail::RowSlice rows) const {
    if (ws.time_rows_pending) {  // rows share one t: each gets the one row time_path computed
      if (rows.all())
        ws.temb.rowwise() = ws.temb_one.row(0);
      else
        ws.temb.middleRows(rows.first, rows.count).rowwise() = ws.temb_one.row(0);
    }
    detail::PackedWeights<S>* packs = ws.weight_packs;
    z_proj.forward_residual(z_t, ws.temb, ws.h[0], rows, packs);  // h0 = z_proj(z_t) + SiLU(time_mlp_1(emb))
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      const ResidualBlock<S>& block = blocks[i];
      BlockActivations<S>& act = ws.blocks[i];
      block.norm.forward(ws.h[i], act.n, act.mean, act.rstd, rows);
      block.up.forward_silu(act.n, act.sig, act.s, rows, packs);
      block.down.forward_residual(act.s, ws.h[i], ws.h[i + 1], rows, packs);  // h + down(SiLU(up(norm(h))))
    }
    noise_pred.forward(ws.h[blocks.size()], ws.out, rows, packs);
  }

 public:
  // Given dL/deps_hat (B, latent), adds parameter gradients into grad, returns dL/dz_t (ws.dz).
  const Matrix<S>& backward(const Matrix<S>& z_t, DenoiserWorkspace<S>& ws, const Matrix<S>& d_out,
                            Denoiser& grad) const {
    backward_params(z_t, ws, d_out, grad);
    z_proj.backward_input(ws.dh, ws.dz);
    return ws.dz;
  }

  // backward without dL/dz_t: all training needs (ws.dz is left as it was).
  void backward_params(const Matrix<S>& z_t, DenoiserWorkspace<S>& ws, const Matrix<S>& d_out, Denoiser& grad) const {
    detail::require_same_shape("Denoiser::backward", "d_out", d_out, "eps_hat", ws.out);
    const std::size_t n_blocks = blocks.size();
    noise_pred.backward_params(ws.h[n_blocks], d_out, grad.noise_pred);
    noise_pred.backward_input(d_out, ws.dh);  // dh: gradient of the residual stream
    const Eigen::Index n = d_out.rows(), width = hidden_size();
    ws.du.resize(n, 4 * width);
    ws.dn.resize(n, width);
    for (std::size_t i = n_blocks; i-- > 0;) {
      const ResidualBlock<S>& block = blocks[i];
      BlockActivations<S>& act = ws.blocks[i];
      // The input gradients first, row by row (through down and the SiLU, then up): on big
      // batches one region, each thread on its own rows; then the weight gradients, which sum
      // over all rows (dh is still this block's output gradient until backward_add below).
      const auto input_gradients = [&](detail::RowSlice rows) {
        block.down.backward_input_silu(ws.dh, act.sig, act.s, ws.du, rows);
        block.up.backward_input(ws.du, ws.dn, rows);
      };
      detail::by_row_slices(n, input_gradients);
      block.down.backward_params(act.s, ws.dh, grad.blocks[i].down);
      block.up.backward_params(act.n, ws.du, grad.blocks[i].up);
      // the skip connection passes dh through unchanged; the norm's input gradient adds onto it
      block.norm.backward_add(ws.h[i], act.mean, act.rstd, ws.dn, grad.blocks[i].norm, ws.dh);
    }
    z_proj.backward_params(z_t, ws.dh, grad.z_proj);
    if (ws.time_rows_pending) {  // the forward kept one row of each (see time_path)
      ws.emb = ws.emb_one.replicate(ws.dh.rows(), 1);
      ws.a_t = ws.a_t_one.replicate(ws.dh.rows(), 1);
      ws.time_rows_pending = false;
    }
    silu_backward(ws.a_t, ws.dh, ws.da);
    time_mlp_1.backward_params(ws.emb, ws.da, grad.time_mlp_1);
    if (num_classes() > 0) {  // emb = table[t] + label_embed[label]: each row's gradient goes to its label's row
      time_mlp_1.backward_input(ws.da, ws.d_emb);
      for (Eigen::Index b = 0; b < ws.d_emb.rows(); ++b) grad.label_embed.row(ws.labels(b)) += ws.d_emb.row(b);
    }
  }

  template <class F, class... Models>
  static void visit_each(F&& f, Models&... m) {
    Dense<S>::visit_each(f, m.time_mlp_1...);
    if (detail::first_of(m...).label_embed.size() > 0) f(label_embed_name(), m.label_embed...);
    Dense<S>::visit_each(f, m.z_proj...);
    const std::size_t n_blocks = detail::first_of(m...).blocks.size();
    for (std::size_t i = 0; i < n_blocks; ++i) ResidualBlock<S>::visit_each(f, m.blocks[i]...);
    Dense<S>::visit_each(f, m.noise_pred...);
  }

 private:
  static const std::string& label_embed_name() {
    static const std::string name = "label_embed.weight";
    return name;
  }

  // ws.emb, ws.a_t = time_mlp_1(emb) and ws.temb = SiLU(a_t), each (B, hidden). The embedding
  // rows come from embed_steps (plus the label's row when conditional); when every row has the
  // same t (a sampling step) time_mlp_1 runs on one row (or one per label) and the rows are
  // copies.
  void time_path(const Eigen::VectorXi& t, DenoiserWorkspace<S>& ws) const {
    const Eigen::Index n = t.size(), width = hidden_size();
    const bool shared = n > 1 && (t.array() == t(0)).all();
    ws.time_rows_pending = false;
    const bool labelled = num_classes() > 0;
    if (shared && labelled && label_embed.rows() < n) {  // e.g. a guided sampling step: 2 labels per row pair
      embed_steps(t.head(1), ws, ws.emb_step);
      ws.emb_one = label_embed.rowwise() + ws.emb_step.row(0);
      time_mlp_1.forward(ws.emb_one, ws.a_t_one, {}, ws.weight_packs);
      silu_forward(ws.a_t_one, ws.temb_one);
      ws.emb.resize(n, width);
      ws.a_t.resize(n, width);
      ws.temb.resize(n, width);
      for (Eigen::Index b = 0; b < n; ++b) {
        ws.emb.row(b) = ws.emb_one.row(ws.labels(b));
        ws.a_t.row(b) = ws.a_t_one.row(ws.labels(b));
        ws.temb.row(b) = ws.temb_one.row(ws.labels(b));
      }
      return;
    }
    if (shared && !labelled) {
      embed_steps(t.head(1), ws, ws.emb_one);
      time_mlp_1.forward(ws.emb_one, ws.a_t_one, {}, ws.weight_packs);
      silu_forward(ws.a_t_one, ws.temb_one);
      ws.temb.resize(n, width);     // its rows are filled by forward_layers, each thread its own
      ws.time_rows_pending = true;  // a sampling step: emb and a_t only if backward asks
      return;
    }
    embed_steps(t, ws, ws.emb);
    if (labelled)
      for (Eigen::Index b = 0; b < n; ++b) ws.emb.row(b) += label_embed.row(ws.labels(b));
    time_mlp_1.forward(ws.emb, ws.a_t, {}, ws.weight_packs);
    silu_forward(ws.a_t, ws.temb);
  }

  // out (t.size(), hidden) = the time embedding of the steps t. A batch of many timesteps
  // (training) copies rows of a table of every step, built once per workspace; a few
  // (sampling: one t a step) are computed alone, which is cheaper than building the table for a
  // workspace that lives for one call. time_embedding computes each value the same way, so both
  // give the same bits.
  template <class Steps>
  void embed_steps(const Steps& t, DenoiserWorkspace<S>& ws, Matrix<S>& out) const {
    const Eigen::Index n = t.size(), width = hidden_size();
    constexpr Eigen::Index table_from_rows = 32;
    const bool have_table =
        ws.emb_table.rows() == num_steps && ws.emb_table.cols() == width && ws.emb_table_kind == embedding;
    if (!have_table && n < table_from_rows) {
      ws.few_steps = t;  // sized once per batch size: nothing allocated per step
      time_embedding(ws.few_steps, num_steps, width, embedding, out);
      return;
    }
    if (!have_table) {
      ws.all_steps = Eigen::VectorXi::LinSpaced(num_steps, 0, num_steps - 1);
      time_embedding(ws.all_steps, num_steps, width, embedding, ws.emb_table);
      ws.emb_table_kind = embedding;
    }
    out.resize(n, width);
    detail::parallel_for(n, detail::row_grain(width), [&](Eigen::Index first, Eigen::Index count) {
      for (Eigen::Index b = first; b < first + count; ++b) out.row(b) = ws.emb_table.row(t(b));
    });
  }

  void check_input(const Matrix<S>& z_t, const Eigen::VectorXi& t) const {
    detail::require_cols("Denoiser", "z_t", z_t, latent_size());
    if (t.size() != z_t.rows())
      throw std::invalid_argument(
          detail::concat("Denoiser: t has ", t.size(), " timesteps but z_t has ", z_t.rows(), " rows"));
    for (Eigen::Index b = 0; b < t.size(); ++b)
      if (t(b) < 0 || t(b) >= num_steps)
        throw std::invalid_argument(
            detail::concat("Denoiser: t(", b, ") = ", t(b), " is outside [0, ", num_steps, ")"));
  }

  void check_labels(const Eigen::VectorXi& labels, Eigen::Index rows) const {
    if (num_classes() == 0)
      throw std::invalid_argument(
          "Denoiser: labels were given but the model is unconditional (built with num_classes = 0)");
    if (labels.size() != rows)
      throw std::invalid_argument(
          detail::concat("Denoiser: labels has ", labels.size(), " entries but z_t has ", rows, " rows"));
    for (Eigen::Index b = 0; b < labels.size(); ++b)
      if (labels(b) < 0 || labels(b) > num_classes())
        throw std::invalid_argument(detail::concat("Denoiser: labels(", b, ") = ", labels(b), " is outside [0, ",
                                                   num_classes(), "] (", num_classes(), " = no label)"));
  }
};

}  // namespace ldm
