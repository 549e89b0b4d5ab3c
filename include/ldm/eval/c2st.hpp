// The classifier two-sample test (C2ST): how well can a small neural network tell generated rows
// from real ones? Also roc_auc, the score it reports per fold.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/json.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/core/random.hpp>
#include <ldm/core/visit.hpp>
#include <ldm/eval/detail/column_scaling.hpp>
#include <ldm/eval/detail/permutation.hpp>
#include <ldm/eval/detail/sample_checks.hpp>
#include <ldm/nn/layers.hpp>
#include <ldm/train/adam.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace ldm {

// Area under the ROC curve of scores for label 1 against label 0, by the Mann-Whitney statistic
// with average ranks for tied scores: AUC = (R_1 - n_1 (n_1 + 1) / 2) / (n_1 n_0), R_1 the rank
// sum of the positives. Equals P(s_pos > s_neg) + P(s_pos == s_neg) / 2.
inline double roc_auc(const Eigen::VectorXd& scores, const Eigen::VectorXi& labels) {
  constexpr const char* where = "ldm::roc_auc";
  if (scores.size() != labels.size())
    throw std::invalid_argument(
        detail::concat(where, ": scores has ", scores.size(), " entries but labels has ", labels.size()));
  detail::require_finite(where, "scores", scores);
  std::size_t positives = 0;
  for (Eigen::Index i = 0; i < labels.size(); ++i) {
    if (labels(i) != 0 && labels(i) != 1)
      throw std::invalid_argument(detail::concat(where, ": labels must be 0 or 1, got ", labels(i), " at index ", i));
    positives += labels(i) == 1 ? 1 : 0;
  }
  const std::size_t n = static_cast<std::size_t>(labels.size());
  if (positives == 0 || positives == n)
    throw std::invalid_argument(
        detail::concat(where, ": labels must contain both 0 and 1, got ", positives, " ones among ", n));
  std::vector<Eigen::Index> order(n);
  std::iota(order.begin(), order.end(), Eigen::Index{0});
  std::sort(order.begin(), order.end(), [&](Eigen::Index x, Eigen::Index y) { return scores(x) < scores(y); });
  double rank_sum = 0.0;  // of the positives, ranks 1-based
  for (std::size_t start = 0; start < n;) {
    std::size_t end = start + 1;
    while (end < n && scores(order[end]) == scores(order[start])) ++end;
    const double average_rank = 0.5 * static_cast<double>(start + 1 + end);  // of ranks start+1..end
    for (std::size_t k = start; k < end; ++k)
      if (labels(order[k]) == 1) rank_sum += average_rank;
    start = end;
  }
  const double n1 = static_cast<double>(positives), n0 = static_cast<double>(n - positives);
  return (rank_sum - n1 * (n1 + 1.0) / 2.0) / (n1 * n0);
}

struct C2stOptions {
  int folds = 5;         // stratified folds; each class needs at least this many rows
  int hidden = 128;      // units of the one hidden layer (SiLU)
  int epochs = 100;      // full passes over the training folds, shuffled every epoch
  int batch_size = 128;  // the last batch of an epoch may be smaller
  double lr = 1e-3;      // Adam, betas (0.9, 0.999), no weight decay
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(C2stOptions, folds, hidden, epochs, batch_size, lr)

namespace detail {

// Activations of one C2stMlp forward pass, kept for backward, plus backward scratch.
struct C2stWorkspace {
  Matrix<double> a, h;    // (B, hidden): the pre-activation and h = SiLU(a)
  Matrix<double> logits;  // (B, 1)
  Matrix<double> dh, da;  // (B, hidden) scratch
};

// The C2ST classifier: in -> hidden (SiLU) -> 1 logit.
struct C2stMlp : Visitable<C2stMlp> {
  Dense<double> c2st_hidden, c2st_output;

  C2stMlp() = default;
  C2stMlp(Eigen::Index in, Eigen::Index hidden, Key key)
      : c2st_hidden("c2st_hidden", in, hidden, fold_in(key, 0)),
        c2st_output("c2st_output", hidden, 1, fold_in(key, 1)) {}

  // x (B, in) -> ws.logits (B, 1), keeping ws.a and ws.h for backward.
  void forward(const Matrix<double>& x, C2stWorkspace& ws) const {
    c2st_hidden.forward(x, ws.a);
    silu_forward(ws.a, ws.h);
    c2st_output.forward(ws.h, ws.logits);
  }

  // Given dL/dlogits (B, 1), adds the parameter gradients into grad. Needs the ws of the
  // matching forward. Training needs no dL/dx, so there is no backward_input.
  void backward_params(const Matrix<double>& x, C2stWorkspace& ws, const Matrix<double>& d_logits,
                       C2stMlp& grad) const {
    c2st_output.backward_params(ws.h, d_logits, grad.c2st_output);
    c2st_output.backward_input(d_logits, ws.dh);
    silu_backward(ws.a, ws.dh, ws.da);
    c2st_hidden.backward_params(x, ws.da, grad.c2st_hidden);
  }

  template <class F, class... Models>
  static void visit_each(F&& f, Models&... m) {
    Dense<double>::visit_each(f, m.c2st_hidden...);
    Dense<double>::visit_each(f, m.c2st_output...);
  }
};

inline void validate(const C2stOptions& o) {
  constexpr const char* where = "ldm::c2st_auc";
  if (o.folds < 2) throw std::invalid_argument(concat(where, ": options.folds must be at least 2, got ", o.folds));
  require_positive(where, "options.hidden", o.hidden);
  require_positive(where, "options.epochs", o.epochs);
  require_positive(where, "options.batch_size", o.batch_size);
  if (!(o.lr > 0.0 && std::isfinite(o.lr)))
    throw std::invalid_argument(concat(where, ": options.lr must be finite and > 0, got ", o.lr));
}

// Trains a C2stMlp on (x, y in {0, 1}) with binary cross-entropy on logits, mean over the batch:
// l = max(z, 0) - z y + log(1 + exp(-|z|)), dl/dz = sigmoid(z) - y. Initialised from
// fold_in(key, 0); epoch e shuffles with fold_in(key, 1 + e).
inline C2stMlp train_c2st_mlp(const Matrix<double>& x, const Eigen::VectorXd& y, Key key, const C2stOptions& o) {
  C2stMlp model(x.cols(), o.hidden, fold_in(key, 0));
  C2stMlp grad = zeros_like(model);
  Adam<C2stMlp> adam(AdamOptions{.lr = o.lr}, model);
  Matrix<double> xb, dz;
  C2stWorkspace ws;
  const auto n = static_cast<std::size_t>(x.rows());
  const auto batch = static_cast<std::size_t>(o.batch_size);
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    const std::vector<Eigen::Index> order = permutation(fold_in(key, static_cast<std::uint32_t>(1 + epoch)), n);
    for (std::size_t start = 0; start < n; start += batch) {
      const auto b = static_cast<Eigen::Index>(std::min(batch, n - start));
      xb.resize(b, x.cols());
      dz.resize(b, 1);
      for (Eigen::Index r = 0; r < b; ++r) xb.row(r) = x.row(order[start + static_cast<std::size_t>(r)]);
      model.forward(xb, ws);
      for (Eigen::Index r = 0; r < b; ++r) {
        const double target = y(order[start + static_cast<std::size_t>(r)]);
        dz(r, 0) = (1.0 / (1.0 + std::exp(-ws.logits(r, 0))) - target) / static_cast<double>(b);
      }
      set_zero(grad);
      model.backward_params(xb, ws, dz, grad);
      adam.step(model, grad);
    }
  }
  return model;
}

}  // namespace detail

// Classifier two-sample test (Lopez-Paz & Oquab 2017, "Revisiting classifier two-sample tests"):
// the mean ROC AUC, over stratified cross-validation folds, of an MLP trained to tell synthetic
// rows (label 1) from real ones (label 0). 0.5 = indistinguishable, 1 = always told apart (below
// 0.5 is chance on a held-out fold). Deterministic from key:
// - folds: each class is shuffled with its own key (fold_in(key, 0) real, fold_in(key, 1)
//   synthetic) and its k-th shuffled row goes to fold k % folds;
// - for fold f the other folds train a fresh model with key fold_in(key, 2 + f): inputs
//   standardised with the training part's column mean / population std (constant -> 1), the MLP
//   in -> hidden (SiLU) -> 1 from ldm::Dense<double> (PyTorch init), binary cross-entropy on the
//   logit, Adam (lr, betas 0.9/0.999), `epochs` shuffled passes in batches of `batch_size`;
// - the fold's AUC is roc_auc of its logits.
// Cost ~ 4 * folds * epochs * n_train_rows * d * hidden flops. Measured (Release, 2 busy cores):
// 400 + 400 rows x 8 columns about 1.5 s; digits, 597 held-out vs 597 synthetic rows x 64, ~6 s.
inline double c2st_auc(const Matrix<double>& real, const Matrix<double>& synth, Key key,
                       const C2stOptions& options = {}) {
  constexpr const char* where = "ldm::c2st_auc";
  detail::validate(options);
  detail::require_sample(where, "real", real, options.folds);
  detail::require_sample(where, "synth", synth, options.folds);
  detail::require_same_cols(where, "real", real, "synth", synth);
  const auto folds = static_cast<std::size_t>(options.folds);

  // fold_of[row of the stacked [real; synth]]
  std::vector<std::size_t> fold_of(static_cast<std::size_t>(real.rows() + synth.rows()));
  const auto assign = [&](Key k, Eigen::Index rows, Eigen::Index offset) {
    const std::vector<Eigen::Index> order = detail::permutation(k, static_cast<std::size_t>(rows));
    for (std::size_t pos = 0; pos < order.size(); ++pos)
      fold_of[static_cast<std::size_t>(offset + order[pos])] = pos % folds;
  };
  assign(fold_in(key, 0), real.rows(), 0);
  assign(fold_in(key, 1), synth.rows(), real.rows());
  const auto row_of = [&](std::size_t i) {
    const auto r = static_cast<Eigen::Index>(i);
    return r < real.rows() ? real.row(r) : synth.row(r - real.rows());
  };
  const auto label_of = [&](std::size_t i) { return static_cast<Eigen::Index>(i) < real.rows() ? 0 : 1; };

  // One fold's AUC. Folds run on OpenMP threads: each is independent and its result goes to its
  // own slot, so the thread count changes nothing; it also keeps Eigen from opening a parallel
  // region for each of the many small products (it does not nest), which on a busy machine
  // costs far more than the products themselves.
  const auto fold_auc = [&](std::size_t f) {
    std::vector<std::size_t> train_rows, test_rows;
    for (std::size_t i = 0; i < fold_of.size(); ++i) (fold_of[i] == f ? test_rows : train_rows).push_back(i);
    Matrix<double> x_train(static_cast<Eigen::Index>(train_rows.size()), real.cols());
    Matrix<double> x_test(static_cast<Eigen::Index>(test_rows.size()), real.cols());
    Eigen::VectorXd y_train(x_train.rows());
    Eigen::VectorXi y_test(x_test.rows());
    for (std::size_t k = 0; k < train_rows.size(); ++k) {
      x_train.row(static_cast<Eigen::Index>(k)) = row_of(train_rows[k]);
      y_train(static_cast<Eigen::Index>(k)) = label_of(train_rows[k]);
    }
    for (std::size_t k = 0; k < test_rows.size(); ++k) {
      x_test.row(static_cast<Eigen::Index>(k)) = row_of(test_rows[k]);
      y_test(static_cast<Eigen::Index>(k)) = label_of(test_rows[k]);
    }
    const detail::ColumnScaling scaling = detail::column_scaling(x_train);
    const detail::C2stMlp model = detail::train_c2st_mlp(detail::apply_scaling(scaling, x_train), y_train,
                                                         fold_in(key, static_cast<std::uint32_t>(2 + f)), options);
    detail::C2stWorkspace ws;
    model.forward(detail::apply_scaling(scaling, x_test), ws);
    return roc_auc(ws.logits.col(0), y_test);
  };

  std::vector<double> aucs(folds);
  std::vector<std::exception_ptr> errors(folds);  // an exception must not leave an OpenMP region
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
  for (std::size_t f = 0; f < folds; ++f) {
    try {
      aucs[f] = fold_auc(f);
    } catch (...) {
      errors[f] = std::current_exception();
    }
  }
  for (const auto& error : errors)
    if (error) std::rethrow_exception(error);
  double auc_sum = 0.0;
  for (double auc : aucs) auc_sum += auc;
  return auc_sum / static_cast<double>(folds);
}

}  // namespace ldm
