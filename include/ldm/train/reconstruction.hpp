// The VAE's reconstruction loss on a mixed vector (data/vector_layout.hpp) and its exact
// gradient (DESIGN.md, "Tables: column types and the mixed VAE"; TabSyn, Zhang et al. ICLR 2024,
// trains its VAE on the same three terms). Per row, averaged over the batch:
//   sum over present numeric values of (x_hat - x)^2 / n_numeric
//   + sum over categorical columns of cross-entropy(logits, one-hot) / n_categorical
//   + sum over missing indicators of binary cross-entropy(logit, indicator) / n_indicators.
// A numeric value is missing when x holds 1 at its indicator: it adds no squared error.
// Gradients: d CE / d logits = softmax - onehot; d BCE / d logit = sigmoid - y.
// Without a layout, or with a plain one (only values, none missing), the loss is the seed's
// mean((x_hat - x)^2) over all entries, computed by the very code the VAE trainer always used.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/threads.hpp>
#include <ldm/data/vector_layout.hpp>

#include <algorithm>
#include <cmath>

namespace ldm {

using ReconstructionLayout = VectorLayout;

struct ReconstructionLoss {
  double total = 0, numeric = 0, categorical = 0, missing = 0;
};

// Per-row sums, reused from batch to batch.
template <class S>
struct ReconstructionBuffers {
  Vector<S> row_squares;     // (B): the plain MSE's per-row squared errors
  Matrix<double> row_parts;  // (B, 3): a mixed row's numeric, categorical and missing sums
};

namespace detail {

// The seed's MSE: d mean((x_hat - x)^2) / d x_hat = 2 (x_hat - x) / size, one pass per row
// while it is in cache, rows in parallel; the rows' sums of squares are added in row order (any
// thread count). Returns mean((x_hat - x)^2).
template <class S>
double mse_and_gradient(const Matrix<S>& x_hat, const Matrix<S>& x, Matrix<S>& d_out, Vector<S>& row_squares) {
  const S grad_scale = S(2) / static_cast<S>(x.size());
  d_out.resize(x.rows(), x.cols());
  row_squares.resize(x.rows());
  parallel_for(x.rows(), row_grain(x.cols()), [&](Eigen::Index first, Eigen::Index count) {
    for (Eigen::Index r = first; r < first + count; ++r) {
      d_out.row(r) = x_hat.row(r) - x.row(r);
      row_squares(r) = d_out.row(r).squaredNorm();
      d_out.row(r) *= grad_scale;
    }
  });
  return static_cast<double>(row_squares.sum()) / static_cast<double>(x.size());
}

// log(1 + e^a) without overflow.
inline double softplus(double a) { return std::max(a, 0.0) + std::log1p(std::exp(-std::abs(a))); }

// One row of the mixed loss: writes the row's gradient (already divided by the counts and the
// batch size) and returns its three unweighted sums in parts.
template <class S>
void mixed_row(const VectorLayout& layout, const S* x_hat, const S* x, S* d_out, double batch, double* parts) {
  const double w_num = 2.0 / (static_cast<double>(layout.numeric) * batch);
  double squares = 0;
  for (Eigen::Index j = 0; j < layout.numeric; ++j) {
    const Eigen::Index ind = layout.indicator_of[static_cast<std::size_t>(j)];
    if (ind >= 0 && x[ind] != S(0)) {  // missing: no target, no gradient
      d_out[j] = S(0);
      continue;
    }
    const double d = static_cast<double>(x_hat[j]) - static_cast<double>(x[j]);
    squares += d * d;
    d_out[j] = static_cast<S>(w_num * d);
  }
  // BCE(a, y) = softplus(a) - y a: the stable form of -y log sigmoid(a) - (1 - y) log sigmoid(-a).
  const double w_ind = 1.0 / (static_cast<double>(layout.indicators) * batch);
  double bce = 0;
  for (Eigen::Index i = layout.numeric; i < layout.numeric + layout.indicators; ++i) {
    const double a = static_cast<double>(x_hat[i]), y = static_cast<double>(x[i]);
    bce += softplus(a) - y * a;
    const double sigmoid = a >= 0 ? 1.0 / (1.0 + std::exp(-a)) : std::exp(a) / (1.0 + std::exp(a));
    d_out[i] = static_cast<S>(w_ind * (sigmoid - y));
  }
  // CE(l, y) = logsumexp(l) - y.l for a one-hot y, with the largest logit taken out first.
  const double w_cat = 1.0 / (static_cast<double>(layout.categorical.size()) * batch);
  double ce = 0;
  for (const CategoricalBlock& block : layout.categorical) {
    const S* l = x_hat + block.offset;
    const S* y = x + block.offset;
    double top = static_cast<double>(l[0]);
    for (Eigen::Index k = 1; k < block.size; ++k) top = std::max(top, static_cast<double>(l[k]));
    double sum = 0, dot = 0;
    for (Eigen::Index k = 0; k < block.size; ++k) {
      sum += std::exp(static_cast<double>(l[k]) - top);
      dot += static_cast<double>(y[k]) * static_cast<double>(l[k]);
    }
    ce += top + std::log(sum) - dot;
    for (Eigen::Index k = 0; k < block.size; ++k)
      d_out[block.offset + k] =
          static_cast<S>(w_cat * (std::exp(static_cast<double>(l[k]) - top) / sum - static_cast<double>(y[k])));
  }
  parts[0] = squares;
  parts[1] = ce;
  parts[2] = bce;
}

}  // namespace detail

// The loss of decoder outputs x_hat against encoded rows x (both [B, width]); d_out (resized) is
// assigned d loss / d x_hat. layout == nullptr means the plain MSE. Throws std::invalid_argument
// for shapes that differ or do not match the layout, or an inconsistent layout.
template <class S>
ReconstructionLoss reconstruction_loss_and_gradient(const Matrix<S>& x_hat, const Matrix<S>& x,
                                                    const ReconstructionLayout* layout, Matrix<S>& d_out,
                                                    ReconstructionBuffers<S>& b) {
  const char* where = "reconstruction_loss_and_gradient";
  detail::require_same_shape(where, "x_hat", x_hat, "x", x);
  ReconstructionLoss loss;
  if (layout == nullptr || layout->plain()) {
    if (layout) detail::require_cols(where, "x", x, layout->width);
    loss.total = loss.numeric = detail::mse_and_gradient(x_hat, x, d_out, b.row_squares);
    return loss;
  }
  detail::require_valid_layout(where, *layout);
  detail::require_cols(where, "x", x, layout->width);
  d_out.resize(x.rows(), x.cols());
  b.row_parts.resize(x.rows(), 3);
  const auto batch = static_cast<double>(x.rows());
  detail::parallel_for(x.rows(), detail::row_grain(x.cols()), [&](Eigen::Index first, Eigen::Index count) {
    for (Eigen::Index r = first; r < first + count; ++r)
      detail::mixed_row(*layout, x_hat.row(r).data(), x.row(r).data(), d_out.row(r).data(), batch,
                        b.row_parts.row(r).data());
  });
  double sums[3] = {0, 0, 0};  // in row order: the same value for any thread count
  for (Eigen::Index r = 0; r < x.rows(); ++r)
    for (int p = 0; p < 3; ++p) sums[p] += b.row_parts(r, p);
  const auto per = [&](double sum, std::size_t n) { return n == 0 ? 0.0 : sum / (static_cast<double>(n) * batch); };
  loss.numeric = per(sums[0], static_cast<std::size_t>(layout->numeric));
  loss.categorical = per(sums[1], layout->categorical.size());
  loss.missing = per(sums[2], static_cast<std::size_t>(layout->indicators));
  loss.total = loss.numeric + loss.categorical + loss.missing;
  return loss;
}

}  // namespace ldm
