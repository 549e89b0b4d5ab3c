// Machine-learning utility of a synthetic table ("train on synthetic, test on real", as TabSyn
// and TabDDPM report it): a model predicting a target column is trained on the synthetic rows
// and on the real training rows, and both are scored on the real held-out rows.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/json.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/data/table.hpp>
#include <ldm/eval/detail/column_scaling.hpp>
#include <ldm/eval/detail/table_columns.hpp>
#include <ldm/eval/one_hot.hpp>
#include <ldm/eval/softmax_regression.hpp>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace ldm {

struct UtilityOptions {
  SoftmaxRegressionOptions classifier{};  // categorical target
  double ridge_lambda = 1e-3;             // numeric target: the ridge penalty, per row (see ridge_fit)
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(UtilityOptions, classifier, ridge_lambda)

struct TableUtility {
  std::string target;
  std::string metric;          // "accuracy" (categorical target) or "r2" (numeric, integer)
  double synthetic = 0;        // the model trained on the synthetic rows, scored on the held-out rows
  double real = 0;             // the same model trained on the real training rows
  Eigen::Index test_rows = 0;  // held-out rows with a present target
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TableUtility, target, metric, synthetic, real, test_rows)

// Ridge regression in closed form on standardised features (the fitted rows' column mean and
// population std, constant -> 1) with an unpenalised intercept:
//   w = (Xs^T Xs + lambda n I)^-1 Xs^T (y - mean y),  b = mean y,
// lambda scaled by the row count n so that it means the same for any table size. A small lambda
// (1e-3) only keeps one-hot groups, whose columns sum to 1, solvable.
struct RidgeRegression {
  detail::ColumnScaling scaling;
  Eigen::VectorXd weights;
  double intercept = 0;

  Eigen::VectorXd predict(const Matrix<double>& x) const {
    return (detail::apply_scaling(scaling, x) * weights).array() + intercept;
  }
};

inline RidgeRegression ridge_fit(const Matrix<double>& x, const Eigen::VectorXd& y, double lambda) {
  constexpr const char* where = "ldm::ridge_fit";
  if (x.rows() < 1 || y.size() != x.rows())
    throw std::invalid_argument(detail::concat(where, ": x has ", x.rows(), " rows and y ", y.size(), " (needs >= 1)"));
  if (!(lambda > 0.0 && std::isfinite(lambda)))
    throw std::invalid_argument(detail::concat(where, ": lambda must be finite and > 0, got ", lambda));
  RidgeRegression m;
  m.scaling = detail::column_scaling(x);
  const Matrix<double> xs = detail::apply_scaling(m.scaling, x);
  m.intercept = y.mean();
  Eigen::MatrixXd gram = xs.transpose() * xs;
  gram.diagonal().array() += lambda * static_cast<double>(x.rows());
  m.weights = gram.ldlt().solve(xs.transpose() * (y.array() - m.intercept).matrix());
  return m;
}

// R^2 = 1 - sum (y - prediction)^2 / sum (y - mean y)^2 on the test rows; y must vary.
inline double r_squared(const Eigen::VectorXd& y, const Eigen::VectorXd& prediction) {
  const double total = (y.array() - y.mean()).square().sum();
  if (!(total > 0.0)) throw std::invalid_argument("ldm::r_squared: the test target has no spread");
  return 1.0 - (y - prediction).squaredNorm() / total;
}

// Utility for the column named `target`: features are the other columns, encoded as
// fit_one_hot_encoding(train, {held_out, synth}, target) (the training rows' statistics for all
// three). Rows whose target is missing are left out of fitting and testing.
// - categorical target: SoftmaxRegression, accuracy on the held-out rows. Fitted on rows of a
//   single class, the model predicts that class.
// - numeric or integer target: ridge_fit (options.ridge_lambda), R^2 on the held-out rows.
inline TableUtility table_utility(const Table& train, const Table& held_out, const Table& synth,
                                  const std::string& target, const UtilityOptions& options = {}) {
  constexpr const char* where = "ldm::table_utility";
  detail::require_table(where, "train", train, 1);
  detail::require_table(where, "held_out", held_out, 1);
  detail::require_table(where, "synth", synth, 1);
  detail::require_same_columns(where, "train", train, "held_out", held_out);
  detail::require_same_columns(where, "train", train, "synth", synth);
  std::size_t t = 0;
  try {
    t = train.schema.index_of(target);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(detail::concat(where, ": target: ", e.what()));
  }
  if (train.schema.size() < 2)
    throw std::invalid_argument(detail::concat(where, ": target '", target, "' is the only column: no features"));
  const auto tc = static_cast<Eigen::Index>(t);
  const OneHotEncoding enc = fit_one_hot_encoding(train, {&held_out, &synth}, tc);

  // The rows of `table` with a present target: features and target values.
  struct Part {
    Matrix<double> x;
    Eigen::VectorXd y;
  };
  const auto part = [&](const Table& table, const char* name) {
    const Matrix<double> all = encode(enc, table);
    std::vector<Eigen::Index> rows;
    for (Eigen::Index r = 0; r < table.rows(); ++r)
      if (!Table::is_missing(table.cells(r, tc))) rows.push_back(r);
    if (rows.empty())
      throw std::invalid_argument(detail::concat(where, ": target '", target, "' is missing on every row of ", name));
    Part p{Matrix<double>(static_cast<Eigen::Index>(rows.size()), all.cols()),
           Eigen::VectorXd(static_cast<Eigen::Index>(rows.size()))};
    for (std::size_t k = 0; k < rows.size(); ++k) {
      p.x.row(static_cast<Eigen::Index>(k)) = all.row(rows[k]);
      p.y(static_cast<Eigen::Index>(k)) = table.cells(rows[k], tc);
    }
    return p;
  };
  const Part test = part(held_out, "held_out");
  TableUtility out{target, "", 0.0, 0.0, test.y.size()};

  if (train.schema.columns[t].is_categorical()) {
    out.metric = "accuracy";
    const Eigen::VectorXi labels = test.y.cast<int>();
    const auto score = [&](const Part& fit) {
      const Eigen::VectorXi classes = fit.y.cast<int>();
      if (classes.minCoeff() == classes.maxCoeff()) return (labels.array() == classes(0)).cast<double>().mean();
      // Labels 0..max: SoftmaxRegression needs max >= 1, which two distinct classes guarantee.
      SoftmaxRegression model(options.classifier);
      model.fit(fit.x, classes);
      return model.accuracy(test.x, labels);
    };
    out.synthetic = score(part(synth, "synth"));
    out.real = score(part(train, "train"));
  } else {
    out.metric = "r2";
    if (!((test.y.array() - test.y.mean()).abs().maxCoeff() > 0.0))
      throw std::invalid_argument(
          detail::concat(where, ": target '", target, "' is constant on the held-out rows: R^2 is undefined"));
    const auto score = [&](const Part& fit) {
      return r_squared(test.y, ridge_fit(fit.x, fit.y, options.ridge_lambda).predict(test.x));
    };
    out.synthetic = score(part(synth, "synth"));
    out.real = score(part(train, "train"));
  }
  return out;
}

}  // namespace ldm
