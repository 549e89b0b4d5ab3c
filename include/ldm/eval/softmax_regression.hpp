// A small classifier for conditional generation: are generated rows of class c recognised as c?
// Fitted on real labelled rows, it scores generated rows by the share it classifies as their
// requested label.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/json.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/core/visit.hpp>
#include <ldm/eval/detail/column_scaling.hpp>
#include <ldm/eval/detail/sample_checks.hpp>
#include <ldm/nn/layers.hpp>
#include <ldm/train/adam.hpp>

#include <Eigen/Core>

#include <cmath>
#include <stdexcept>

namespace ldm {

namespace detail {

// Each row of z replaced by its softmax, the row's maximum subtracted first against overflow.
inline void softmax_rows(Matrix<double>& z) {
  for (Eigen::Index r = 0; r < z.rows(); ++r) {
    z.row(r).array() = (z.row(r).array() - z.row(r).maxCoeff()).exp();
    z.row(r) /= z.row(r).sum();
  }
}

}  // namespace detail

struct SoftmaxRegressionOptions {
  int steps = 500;   // full-batch Adam steps from zero weights (deterministic, no key)
  double lr = 0.05;  // Adam learning rate
  double l2 = 1e-3;  // penalty l2/2 ||W||^2 on the weights (not the biases)
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SoftmaxRegressionOptions, steps, lr, l2)

// Multinomial logistic regression on standardised features (the fitted rows' column mean and
// population std, constant -> 1): p(c | x) = softmax(W x' + b)_c, trained on the mean
// cross-entropy plus the L2 penalty, full batch, by ldm::Adam. Labels are 0..num_classes-1.
struct SoftmaxRegression {
  struct Model : Visitable<Model> {
    Dense<double> softmax_linear;  // (classes, features)

    // The training passes. Their products are coefficient-based (lazyProduct): they are small,
    // and Eigen's blocked GEMM would open an OpenMP region for each, which on a busy machine
    // costs more than the work.

    // p (n, classes) = softmax(x W^T + b) for standardised x (n, features).
    void forward(const Matrix<double>& x, Matrix<double>& p) const {
      p.noalias() = x.lazyProduct(softmax_linear.weight.transpose());
      p.rowwise() += softmax_linear.bias.transpose();
      detail::softmax_rows(p);
    }

    // dW += dz^T x, db += column sums of dz, for dz = dL/dlogits (n, classes).
    void backward_params(const Matrix<double>& x, const Matrix<double>& dz, Model& grad) const {
      grad.softmax_linear.weight.noalias() += dz.transpose().lazyProduct(x);
      grad.softmax_linear.bias += dz.colwise().sum().transpose();
    }

    template <class F, class... Models>
    static void visit_each(F&& f, Models&... m) {
      Dense<double>::visit_each(f, m.softmax_linear...);
    }
  };

  SoftmaxRegressionOptions options;
  detail::ColumnScaling scaling;
  Model model;

  SoftmaxRegression() = default;
  explicit SoftmaxRegression(const SoftmaxRegressionOptions& o) : options(o) {}

  int num_classes() const { return static_cast<int>(model.softmax_linear.out_features()); }

  // Fits on x (n, d) with labels (n) in 0..max; the classes are 0..max(labels), at least 2.
  void fit(const Matrix<double>& x, const Eigen::VectorXi& labels) {
    constexpr const char* where = "ldm::SoftmaxRegression::fit";
    detail::require_sample(where, "x", x, 1);
    if (labels.size() != x.rows())
      throw std::invalid_argument(
          detail::concat(where, ": labels has ", labels.size(), " entries but x has ", x.rows(), " rows"));
    if (labels.minCoeff() < 0)
      throw std::invalid_argument(detail::concat(where, ": labels must be >= 0, got ", labels.minCoeff()));
    const int classes = labels.maxCoeff() + 1;
    if (classes < 2)
      throw std::invalid_argument(detail::concat(where, ": labels must name at least 2 classes, got ", classes));
    detail::require_positive(where, "options.steps", options.steps);
    if (!(options.lr > 0.0 && std::isfinite(options.lr)))
      throw std::invalid_argument(detail::concat(where, ": options.lr must be finite and > 0, got ", options.lr));
    if (!(options.l2 >= 0.0 && std::isfinite(options.l2)))
      throw std::invalid_argument(detail::concat(where, ": options.l2 must be finite and >= 0, got ", options.l2));

    scaling = detail::column_scaling(x);
    const Matrix<double> xs = detail::apply_scaling(scaling, x);
    model.softmax_linear = Dense<double>("softmax_linear", x.cols(), classes);
    Model grad = zeros_like(model);
    Adam<Model> adam(AdamOptions{.lr = options.lr}, model);
    Matrix<double> dz;
    const double inv_n = 1.0 / static_cast<double>(x.rows());
    for (int step = 0; step < options.steps; ++step) {
      model.forward(xs, dz);                                                // p (n, classes)
      for (Eigen::Index r = 0; r < x.rows(); ++r) dz(r, labels(r)) -= 1.0;  // p - onehot
      dz *= inv_n;                                                          // dL/dlogits
      set_zero(grad);
      model.backward_params(xs, dz, grad);
      grad.softmax_linear.weight += options.l2 * model.softmax_linear.weight;  // the penalty's gradient
      adam.step(model, grad);
    }
  }

  // Class probabilities (n, classes).
  Matrix<double> predict_proba(const Matrix<double>& x) const {
    constexpr const char* where = "ldm::SoftmaxRegression::predict";
    if (num_classes() == 0) throw std::runtime_error(detail::concat(where, ": call fit() first"));
    detail::require_sample(where, "x", x, 0);
    detail::require_cols(where, "x", x, model.softmax_linear.in_features());
    Matrix<double> p;  // by the layer's own (blocked) forward; Model::forward is the training pass
    model.softmax_linear.forward(detail::apply_scaling(scaling, x), p);
    detail::softmax_rows(p);
    return p;
  }

  // The most probable class of each row (the lowest index on a tie).
  Eigen::VectorXi predict(const Matrix<double>& x) const {
    const Matrix<double> p = predict_proba(x);
    Eigen::VectorXi out(p.rows());
    for (Eigen::Index r = 0; r < p.rows(); ++r) {
      Eigen::Index best;
      p.row(r).maxCoeff(&best);
      out(r) = static_cast<int>(best);
    }
    return out;
  }

  // Share of rows whose predicted class equals the label.
  double accuracy(const Matrix<double>& x, const Eigen::VectorXi& labels) const {
    if (labels.size() != x.rows() || x.rows() == 0)
      throw std::invalid_argument(detail::concat("ldm::SoftmaxRegression::accuracy: labels has ", labels.size(),
                                                 " entries but x has ", x.rows(), " rows (needs >= 1)"));
    return (predict(x).array() == labels.array()).cast<double>().mean();
  }
};

}  // namespace ldm
