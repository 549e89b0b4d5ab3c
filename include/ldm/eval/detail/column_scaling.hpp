// Internal: per-column standardisation in double, as evaluate, the C2ST classifier and
// SoftmaxRegression apply it. (Standardizer in data/ accumulates in long double and is stored in
// checkpoints; this one is the plain double computation the metrics have always used.)
#pragma once

#include <ldm/core/matrix.hpp>
#include <ldm/eval/detail/sample_checks.hpp>

#include <Eigen/Core>

#include <cmath>

namespace ldm::detail {

// Column means and population standard deviations (divide by n, as scikit-learn's
// StandardScaler); a constant column gets scale 1, so it maps to 0 instead of dividing by 0.
struct ColumnScaling {
  Vector<double> mean, scale;
};

inline ColumnScaling column_scaling(const Matrix<double>& m) {
  ColumnScaling s;
  s.mean = m.colwise().mean().transpose();
  s.scale.resize(m.cols());
  for (Eigen::Index c = 0; c < m.cols(); ++c) {
    const double var = (m.col(c).array() - s.mean(c)).square().mean();
    s.scale(c) = is_constant_column(m, c) || !(var > 0.0) ? 1.0 : std::sqrt(var);
  }
  return s;
}

inline Matrix<double> apply_scaling(const ColumnScaling& s, const Matrix<double>& x) {
  return ((x.rowwise() - s.mean.transpose()).array().rowwise() / s.scale.transpose().array()).matrix();
}

}  // namespace ldm::detail
