// Internal: Euclidean distances between rows, for the median heuristic and the memorisation
// check.
#pragma once

#include <ldm/core/matrix.hpp>

#include <Eigen/Core>

#include <algorithm>

namespace ldm::detail {

// Squared Euclidean distance of two rows, summed term by term: exact for small integers, and
// exactly 0 for equal rows (the |a|^2 + |b|^2 - 2ab expansion is neither).
inline double squared_distance(const Matrix<double>& a, Eigen::Index i, const Matrix<double>& b, Eigen::Index j) {
  return (a.row(i) - b.row(j)).squaredNorm();
}

// min over the rows j of b of squared_distance(a, i, b, j); b has at least one row.
inline double nearest_squared_distance(const Matrix<double>& a, Eigen::Index i, const Matrix<double>& b) {
  double best = squared_distance(a, i, b, 0);
  for (Eigen::Index j = 1; j < b.rows(); ++j) best = std::min(best, squared_distance(a, i, b, j));
  return best;
}

}  // namespace ldm::detail
