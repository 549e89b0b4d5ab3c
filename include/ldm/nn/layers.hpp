// The building blocks: Dense, SiLU, LayerNorm and the sinusoidal time embedding, each with a
// forward and a backward pass (llm.c style: outputs first in the shape comments, backward adds
// parameter gradients into a gradient layer of the same type).
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/gemm.hpp>
#include <ldm/core/json.hpp>
#include <ldm/core/random.hpp>
#include <ldm/core/threads.hpp>
#include <ldm/core/visit.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <tuple>

namespace ldm {

namespace detail {
template <class First, class... Rest>
First& first_of(First& first, Rest&...) {
  return first;
}
}  // namespace detail

// y = x W^T + b, PyTorch's nn.Linear: weight [out, in], bias [out].
template <class S = float>
struct Dense {
  std::string weight_name, bias_name;
  Matrix<S> weight;  // (out, in)
  Vector<S> bias;    // (out)

  Dense() = default;

  // Zero parameters named "<name>.weight" and "<name>.bias".
  Dense(const std::string& name, Eigen::Index in, Eigen::Index out)
      : weight_name(name + ".weight"),
        bias_name(name + ".bias"),
        weight(Matrix<S>::Zero(out, in)),
        bias(Vector<S>::Zero(out)) {}

  // PyTorch's nn.Linear default initialisation: kaiming_uniform(a = sqrt 5) gives weights, and
  // the bias rule gives biases, both uniform in [-1/sqrt(in), 1/sqrt(in)). The weight draws
  // from split(key)[0], the bias from split(key)[1]. Without a key, zeros (for a loader to fill).
  Dense(const std::string& name, Eigen::Index in, Eigen::Index out, std::optional<Key> key) : Dense(name, in, out) {
    if (!key) return;
    const S bound = S(1) / std::sqrt(static_cast<S>(in));
    const auto [weight_key, bias_key] = split(*key);
    fill_uniform(weight_key, weight);
    fill_uniform(bias_key, bias);
    weight = (weight.array() * (2 * bound) - bound).matrix();
    bias = (bias.array() * (2 * bound) - bound).matrix();
  }

  Eigen::Index in_features() const { return weight.cols(); }
  Eigen::Index out_features() const { return weight.rows(); }

  // The forward and input-gradient passes below take an optional detail::RowSlice: with one,
  // they compute only those rows of their output, on the calling thread, into outputs the
  // caller has sized and checked (a model running each thread through all layers on its own
  // rows, see detail::for_row_slices). The forward passes also take an optional
  // detail::PackedWeights: the weight packed once and kept there, for a model whose weights do
  // not change meanwhile (sampling); the outputs are the same bits.

  // y (B, out) = x (B, in) W^T + b. Each thread writes the bias into its block of y and adds its
  // part of the product onto it (PyTorch's addmm), so y is written once, while in that cache.
  void forward(const Matrix<S>& x, Matrix<S>& y, detail::RowSlice rows = {},
               detail::PackedWeights<S>* packs = nullptr) const {
    if (rows.all()) y.resize(x.rows(), out_features());
    detail::gemm_blocks<false, true>(
        x, weight, y, rows,
        [&](const detail::GemmBlock& k) {
          y.block(k.row, k.col, k.rows, k.cols).rowwise() = bias.segment(k.col, k.cols).transpose();
        },
        detail::NoBlockWork{}, packs);
  }

  // y (B, out) = residual (B, out) + x W^T + b: a layer on a skip connection, in one pass.
  void forward_residual(const Matrix<S>& x, const Matrix<S>& residual, Matrix<S>& y, detail::RowSlice rows = {},
                        detail::PackedWeights<S>* packs = nullptr) const {
    if (rows.all()) {
      if (residual.rows() != x.rows() || residual.cols() != out_features())
        throw std::invalid_argument(detail::concat("Dense::forward_residual: residual is ", residual.rows(), "x",
                                                   residual.cols(), " but the output is ", x.rows(), "x",
                                                   out_features()));
      y.resize(residual.rows(), residual.cols());
    }
    detail::gemm_blocks<false, true>(
        x, weight, y, rows,
        [&](const detail::GemmBlock& k) {
          y.block(k.row, k.col, k.rows, k.cols) =
              residual.block(k.row, k.col, k.rows, k.cols).rowwise() + bias.segment(k.col, k.cols).transpose();
        },
        detail::NoBlockWork{}, packs);
  }

  // y (B, out) = SiLU(a), a = x W^T + b, with sig (B, out) left holding sigmoid(a): all that
  // backward_input_silu of the next layer needs (SiLU'(a) = sig + y (1 - sig)), so the backward
  // pass computes no exp. The activation is applied by the thread that computed the block, while
  // it is in cache, inside the product's parallel region.
  void forward_silu(const Matrix<S>& x, Matrix<S>& sig, Matrix<S>& y, detail::RowSlice rows = {},
                    detail::PackedWeights<S>* packs = nullptr) const {
    if (rows.all()) {
      sig.resize(x.rows(), out_features());
      y.resize(x.rows(), out_features());
    }
    detail::gemm_blocks<false, true>(
        x, weight, sig, rows,
        [&](const detail::GemmBlock& k) {
          sig.block(k.row, k.col, k.rows, k.cols).rowwise() = bias.segment(k.col, k.cols).transpose();
        },
        [&](const detail::GemmBlock& k) {
          for (Eigen::Index r = k.row; r < k.row + k.rows; ++r) {  // a row segment at a time, in L1
            auto a = sig.row(r).segment(k.col, k.cols).array();
            auto out = y.row(r).segment(k.col, k.cols).array();
            out = a;
            a = (S(1) + (-a).exp()).inverse();
            out *= a;
          }
        },
        packs);
  }

  // dW += dy^T x, db += column sums of dy.   x (B, in), dy (B, out)
  // The bias sums run inside the product's region: the thread whose block of dW starts at
  // column 0 sums the entries of its rows, each one row of dy after another in a fixed order.
  void backward_params(const Matrix<S>& x, const Matrix<S>& dy, Dense& grad) const {
    detail::gemm_blocks<true, false>(dy, x, grad.weight, detail::NoBlockWork{}, [&](const detail::GemmBlock& k) {
      if (k.col != 0) return;
      auto db = grad.bias.segment(k.row, k.rows);
      for (Eigen::Index r = 0; r < dy.rows(); ++r) db += dy.row(r).segment(k.row, k.rows).transpose();
    });
  }

  // dx (B, in) = dy W
  void backward_input(const Matrix<S>& dy, Matrix<S>& dx, detail::RowSlice rows = {}) const {
    if (rows.all()) {
      detail::gemm<false, false>(dy, weight, dx, false);
      return;
    }
    detail::gemm_blocks<false, false>(
        dy, weight, dx, rows, [&](const detail::GemmBlock& k) { dx.block(k.row, k.col, k.rows, k.cols).setZero(); },
        detail::NoBlockWork{});
  }
  // dx (B, in) += dy W, for an input that feeds two layers
  void backward_input_add(const Matrix<S>& dy, Matrix<S>& dx, detail::RowSlice rows = {}) const {
    detail::gemm_blocks<false, false>(dy, weight, dx, rows, detail::NoBlockWork{}, detail::NoBlockWork{});
  }

  // da (B, in) = (dy W) * SiLU'(a) for a layer whose input was y = SiLU(a) from forward_silu (sig
  // and y from it): the gradient through this layer and the activation before it, in one region.
  void backward_input_silu(const Matrix<S>& dy, const Matrix<S>& sig, const Matrix<S>& y, Matrix<S>& da,
                           detail::RowSlice rows = {}) const {
    if (rows.all()) {
      detail::require_same_shape("Dense::backward_input_silu", "sig", sig, "y", y);
      da.resize(dy.rows(), in_features());
      detail::require_same_shape("Dense::backward_input_silu", "sig", sig, "the input gradient", da);
    }
    detail::gemm_blocks<false, false>(
        dy, weight, da, rows, [&](const detail::GemmBlock& k) { da.block(k.row, k.col, k.rows, k.cols).setZero(); },
        [&](const detail::GemmBlock& k) {
          for (Eigen::Index r = k.row; r < k.row + k.rows; ++r) {
            const auto s = sig.row(r).segment(k.col, k.cols).array();
            da.row(r).segment(k.col, k.cols).array() *= s + y.row(r).segment(k.col, k.cols).array() * (S(1) - s);
          }
        });
  }

  template <class F, class... Layers>
  static void visit_each(F&& f, Layers&... layers) {
    const Dense& first = detail::first_of(layers...);
    f(first.weight_name, layers.weight...);
    f(first.bias_name, layers.bias...);
  }
};

// SiLU(x) = x sigmoid(x) (Elfwing et al. 2018; "swish"), with Eigen's vectorised exp.
template <class S>
void silu_forward(const Matrix<S>& x, Matrix<S>& y) {
  y.resize(x.rows(), x.cols());
  detail::parallel_for(x.rows(), detail::row_grain(x.cols()), [&](Eigen::Index first, Eigen::Index count) {
    const auto v = x.middleRows(first, count).array();
    y.middleRows(first, count).array() = v / (S(1) + (-v).exp());
  });
}

// dx = dy * SiLU'(x), SiLU'(x) = s (1 + x (1 - s)) with s = sigmoid(x).
template <class S>
void silu_backward(const Matrix<S>& x, const Matrix<S>& dy, Matrix<S>& dx) {
  if (&dx == &dy || &dx == &x) {  // in place: one scalar pass, since dx cannot hold s meanwhile
    dx = x.binaryExpr(dy, [](S v, S g) {
      const S s = S(1) / (S(1) + std::exp(-v));
      return g * s * (S(1) + v * (S(1) - s));
    });
    return;
  }
  dx.resize(x.rows(), x.cols());
  detail::parallel_for(x.rows(), detail::row_grain(x.cols()), [&](Eigen::Index first, Eigen::Index count) {
    const auto v = x.middleRows(first, count).array();
    auto s = dx.middleRows(first, count).array();
    s = (S(1) + (-v).exp()).inverse();  // two vectorised passes: s first, then the product
    s = dy.middleRows(first, count).array() * s * (S(1) + v * (S(1) - s));
  });
}

// dx = dy * SiLU'(a) from what Dense::forward_silu saved: sig = sigmoid(a) and y = SiLU(a) =
// a sig, since SiLU'(a) = sig + a sig (1 - sig) = sig + y (1 - sig). No exp, unlike silu_backward.
// With a detail::RowSlice, those rows only, on the calling thread, into a dx sized by the caller.
template <class S>
void silu_backward_saved(const Matrix<S>& sig, const Matrix<S>& y, const Matrix<S>& dy, Matrix<S>& dx,
                         detail::RowSlice rows = {}) {
  const auto rows_of = [&](Eigen::Index first, Eigen::Index count) {
    const auto s = sig.middleRows(first, count).array();
    dx.middleRows(first, count).array() =
        dy.middleRows(first, count).array() * (s + y.middleRows(first, count).array() * (S(1) - s));
  };
  if (!rows.all()) {
    rows_of(rows.first, rows.count);
    return;
  }
  detail::require_same_shape("silu_backward_saved", "sig", sig, "y", y);
  detail::require_same_shape("silu_backward_saved", "dy", dy, "y", y);
  dx.resize(y.rows(), y.cols());
  detail::parallel_for(y.rows(), detail::row_grain(y.cols()), rows_of);
}

// Layer normalisation over the features of each row (Ba et al. 2016), PyTorch's nn.LayerNorm:
// biased variance, eps 1e-5 inside the square root, weight 1 and bias 0 at start.
template <class S = float>
struct LayerNorm {
  static constexpr double eps = 1e-5;
  std::string weight_name, bias_name;
  Vector<S> weight;  // (dim)
  Vector<S> bias;    // (dim)

  LayerNorm() = default;
  LayerNorm(const std::string& name, Eigen::Index dim)
      : weight_name(name + ".weight"),
        bias_name(name + ".bias"),
        weight(Vector<S>::Ones(dim)),
        bias(Vector<S>::Zero(dim)) {}

  // y (B, D) = (x - mean) * rstd * w + b; saves mean (B) and rstd (B) for backward. With a
  // RowSlice, those rows only, on the calling thread, into y, mean and rstd sized by the caller.
  void forward(const Matrix<S>& x, Matrix<S>& y, Vector<S>& mean, Vector<S>& rstd, detail::RowSlice rows = {}) const {
    if (!rows.all()) {
      forward_rows(x, y, mean, rstd, rows.first, rows.count);
      return;
    }
    const Eigen::Index n = x.rows();
    y.resize(n, x.cols());
    mean.resize(n);
    rstd.resize(n);
    detail::parallel_for(n, detail::row_grain(x.cols()),
                         [&](Eigen::Index first, Eigen::Index count) { forward_rows(x, y, mean, rstd, first, count); });
  }

  // dw += sum_rows dy * xhat, db += sum_rows dy,
  // dx = rstd (g - mean(g) - xhat mean(g xhat)) with g = dy * w (the LayerNorm backward of
  // llm.c's layernorm_backward, derived from xhat = (x - mean) rstd).
  void backward(const Matrix<S>& x, const Vector<S>& mean, const Vector<S>& rstd, const Matrix<S>& dy, LayerNorm& grad,
                Matrix<S>& dx) const {
    dx.resize(x.rows(), x.cols());
    backward_into<false>(x, mean, rstd, dy, grad, dx);
  }

  // The same with dx += instead of dx =: the norm on a residual branch, whose input gradient
  // adds onto the gradient the skip connection passes through (dx must be B x D already).
  void backward_add(const Matrix<S>& x, const Vector<S>& mean, const Vector<S>& rstd, const Matrix<S>& dy,
                    LayerNorm& grad, Matrix<S>& dx) const {
    detail::require_same_shape("LayerNorm::backward_add", "dx", dx, "x", x);
    backward_into<true>(x, mean, rstd, dy, grad, dx);
  }

 private:
  void forward_rows(const Matrix<S>& x, Matrix<S>& y, Vector<S>& mean, Vector<S>& rstd, Eigen::Index first,
                    Eigen::Index count) const {
    const S inv_dim = S(1) / static_cast<S>(x.cols());
    for (Eigen::Index r = first; r < first + count; ++r) {
      const auto row = x.row(r).array();
      const S m = row.sum() * inv_dim;
      const S var = (row - m).square().sum() * inv_dim;
      const S rs = S(1) / std::sqrt(var + static_cast<S>(eps));
      mean(r) = m;
      rstd(r) = rs;
      y.row(r).array() = (row - m) * rs * weight.transpose().array() + bias.transpose().array();
    }
  }

  // One parallel region: each thread takes a share of the rows of dx (independent rows) and a
  // share of the columns of dw and db, summed over the rows one after another in a fixed order,
  // so every value is the same for any thread count.
  template <bool Add>
  void backward_into(const Matrix<S>& x, const Vector<S>& mean, const Vector<S>& rstd, const Matrix<S>& dy,
                     LayerNorm& grad, Matrix<S>& dx) const {
    const Eigen::Index n = x.rows(), dim = x.cols();
    const S inv_dim = S(1) / static_cast<S>(dim);
    detail::parallel_parts(n, detail::row_grain(dim), [&](Eigen::Index part, Eigen::Index parts) {
      const auto [first, last] = detail::share(n, part, parts);
      for (Eigen::Index r = first; r < last; ++r) {
        const auto xhat = (x.row(r).array() - mean(r)) * rstd(r);
        const auto g = dy.row(r).array() * weight.transpose().array();
        const S g_mean = g.sum() * inv_dim;
        const S gx_mean = (g * xhat).sum() * inv_dim;
        if constexpr (Add)
          dx.row(r).array() += rstd(r) * (g - g_mean - xhat * gx_mean);
        else
          dx.row(r).array() = rstd(r) * (g - g_mean - xhat * gx_mean);
      }
      const auto [col, col_end] = detail::share(dim, part, parts);
      auto dw = grad.weight.segment(col, col_end - col).array();
      auto db = grad.bias.segment(col, col_end - col).array();
      for (Eigen::Index r = 0; r < n; ++r) {
        const auto dy_r = dy.row(r).segment(col, col_end - col).array().transpose();
        dw += dy_r * ((x.row(r).segment(col, col_end - col).array().transpose() - mean(r)) * rstd(r));
        db += dy_r;
      }
    });
  }

 public:
  template <class F, class... Layers>
  static void visit_each(F&& f, Layers&... layers) {
    const LayerNorm& first = detail::first_of(layers...);
    f(first.weight_name, layers.weight...);
    f(first.bias_name, layers.bias...);
  }
};

// Which time value the sinusoidal embedding sees.
enum class TimeEmbedding {
  normalized,  // t / num_steps, the seed's choice: every angle is at most 1 radian
  raw,         // t itself, as Ho et al. 2020 and the Transformer positional encoding
};
constexpr auto enum_names(TimeEmbedding) {
  return std::array{std::pair{TimeEmbedding::normalized, "normalized"}, std::pair{TimeEmbedding::raw, "raw"}};
}

// out (B, dim): [sin(tau f_0..f_{h-1}), cos(tau f_0..f_{h-1})], h = dim / 2,
// f_i = exp(-ln(10000) i / max(h - 1, 1)) (Vaswani et al. 2017, sec. 3.5; the seed's layout),
// tau = t / num_steps or t. Computed in double, then rounded to S.
template <class S>
void time_embedding(const Eigen::VectorXi& t, int num_steps, Eigen::Index dim, TimeEmbedding kind, Matrix<S>& out) {
  if (dim <= 0 || dim % 2 != 0)
    throw std::invalid_argument(detail::concat("time_embedding: dim must be even and positive, got ", dim));
  const Eigen::Index half = dim / 2;
  const double denom = static_cast<double>(std::max<Eigen::Index>(half - 1, 1));
  out.resize(t.size(), dim);
  for (Eigen::Index i = 0; i < half; ++i) {
    const double freq = std::exp(-std::log(10000.0) * static_cast<double>(i) / denom);
    for (Eigen::Index b = 0; b < t.size(); ++b) {
      const double tau = kind == TimeEmbedding::normalized ? static_cast<double>(t(b)) / static_cast<double>(num_steps)
                                                           : static_cast<double>(t(b));
      const double angle = tau * freq;
      out(b, i) = static_cast<S>(std::sin(angle));
      out(b, half + i) = static_cast<S>(std::cos(angle));
    }
  }
}

}  // namespace ldm
