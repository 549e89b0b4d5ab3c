// Distances between two samples, generated rows against real rows: the Frechet distance between
// Gaussian fits, the maximum mean discrepancy (MMD) with an RBF kernel, the Kolmogorov-Smirnov
// statistic of each column, and the error in the correlation matrix.
//
// Every function takes Matrix<double> with one sample per row (callers convert with
// .cast<double>()), and refuses empty, too short, non-finite or differently wide inputs with
// std::invalid_argument. evaluate() (evaluate.hpp) runs them on standardised data.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/eval/detail/row_distances.hpp>
#include <ldm/eval/detail/sample_checks.hpp>

#include <Eigen/Core>
#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <vector>

namespace ldm {

namespace detail {

// Sample covariance, dividing by n - 1 (as numpy.cov and the FID reference code).  (d, d)
inline Eigen::MatrixXd sample_covariance(const Matrix<double>& m, const Vector<double>& mean) {
  const Eigen::MatrixXd centered = m.rowwise() - mean.transpose();
  return centered.transpose() * centered / static_cast<double>(m.rows() - 1);
}

// Eigenvalues of a symmetric matrix (symmetrised first against rounding), negatives clamped to 0.
inline Eigen::VectorXd psd_eigenvalues(const Eigen::MatrixXd& m, Eigen::MatrixXd* vectors) {
  const Eigen::MatrixXd sym = 0.5 * (m + m.transpose());
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(sym,
                                                        vectors ? Eigen::ComputeEigenvectors : Eigen::EigenvaluesOnly);
  if (solver.info() != Eigen::Success)
    throw std::runtime_error("ldm::frechet_distance: the symmetric eigendecomposition failed");
  if (vectors) *vectors = solver.eigenvectors();
  return solver.eigenvalues().cwiseMax(0.0);
}

// sum over pairs (i, j) of exp(-gamma ||a_i - b_j||^2), skipping i == j when `same` (a is b).
// Distances by the GEMM expansion in blocks of 256 rows, so memory stays at 256 x b.rows().
inline double rbf_kernel_sum(const Matrix<double>& a, const Matrix<double>& b, double gamma, bool same) {
  const Eigen::VectorXd a_sq = a.rowwise().squaredNorm();
  const Eigen::VectorXd b_sq = b.rowwise().squaredNorm();
  constexpr Eigen::Index block = 256;
  Matrix<double> dot;
  double total = 0.0;
  for (Eigen::Index start = 0; start < a.rows(); start += block) {
    const Eigen::Index rows = std::min(block, a.rows() - start);
    dot.noalias() = a.middleRows(start, rows) * b.transpose();  // (rows, nb)
    for (Eigen::Index i = 0; i < rows; ++i)
      for (Eigen::Index j = 0; j < b.rows(); ++j) {
        if (same && start + i == j) continue;
        const double d2 = std::max(a_sq(start + i) + b_sq(j) - 2.0 * dot(i, j), 0.0);
        total += std::exp(-gamma * d2);
      }
  }
  return total;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Frechet distance between Gaussian fits.

// d^2 = ||mu_a - mu_b||^2 + Tr(Ca + Cb - 2 (Ca^1/2 Cb Ca^1/2)^1/2)
// (Dowson & Landau 1982, "The Frechet distance between multivariate normal distributions";
// Heusel et al. 2017, FID). Means and sample covariances (n - 1) of the rows. The square roots go
// through symmetric eigendecompositions (Eigen::SelfAdjointEigenSolver) with tiny negative
// eigenvalues clamped to 0, so the trace term is Tr of a PSD root and the result real; a final
// value below 0 from rounding is returned as 0. Precision: rounding in Ca^1/2 Cb Ca^1/2 costs up
// to ~1e-8 relative to Tr(C) when a covariance is near-singular (same as scipy's sqrtm route).
// Both need >= 2 rows.
inline double frechet_distance(const Matrix<double>& a, const Matrix<double>& b) {
  constexpr const char* where = "ldm::frechet_distance";
  detail::require_sample(where, "a", a, 2);
  detail::require_sample(where, "b", b, 2);
  detail::require_same_cols(where, "a", a, "b", b);
  const Vector<double> mu_a = a.colwise().mean().transpose();
  const Vector<double> mu_b = b.colwise().mean().transpose();
  const Eigen::MatrixXd cov_a = detail::sample_covariance(a, mu_a);
  const Eigen::MatrixXd cov_b = detail::sample_covariance(b, mu_b);

  Eigen::MatrixXd vectors;
  const Eigen::VectorXd values = detail::psd_eigenvalues(cov_a, &vectors);
  const Eigen::MatrixXd sqrt_a = vectors * values.cwiseSqrt().asDiagonal() * vectors.transpose();
  const Eigen::MatrixXd middle = sqrt_a * cov_b * sqrt_a;  // eigenvalues = those of Ca Cb
  const double trace_sqrt = detail::psd_eigenvalues(middle, nullptr).cwiseSqrt().sum();

  const double d2 = (mu_a - mu_b).squaredNorm() + cov_a.trace() + cov_b.trace() - 2.0 * trace_sqrt;
  return std::max(d2, 0.0);
}

// ---------------------------------------------------------------------------------------------
// Maximum mean discrepancy with an RBF kernel.

// The median heuristic (as in the experiments of Gretton et al. 2012): the median of the Euclidean distances
// ||z_i - z_j|| over all pairs i < j of the pooled sample z = [x; y] (x's rows, then y's). When
// the pool has more than max_points rows, the pairs are taken among max_points rows spread evenly
// over it, row floor(k * n / max_points) for k = 0..max_points-1 (deterministic, proportional to
// x and y). An even number of pairs takes the mean of the two middle distances. If that median
// is 0 (more than half the pairs are duplicates), the median of the non-zero distances is used;
// if every distance is 0, 1.
inline double median_heuristic_bandwidth(const Matrix<double>& x, const Matrix<double>& y,
                                         Eigen::Index max_points = 1000) {
  constexpr const char* where = "ldm::median_heuristic_bandwidth";
  detail::require_sample(where, "x", x, 1);
  detail::require_sample(where, "y", y, 1);
  detail::require_same_cols(where, "x", x, "y", y);
  if (max_points < 2)
    throw std::invalid_argument(detail::concat(where, ": max_points must be at least 2, got ", max_points));
  const Eigen::Index total = x.rows() + y.rows();
  const Eigen::Index n = std::min(total, max_points);
  Matrix<double> pool(n, x.cols());
  for (Eigen::Index k = 0; k < n; ++k) {
    const Eigen::Index r = static_cast<Eigen::Index>((static_cast<long double>(k) * total) / n);
    pool.row(k) = r < x.rows() ? x.row(r) : y.row(r - x.rows());
  }
  std::vector<double> distances;
  distances.reserve(static_cast<std::size_t>(n * (n - 1) / 2));
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index j = i + 1; j < n; ++j) distances.push_back(std::sqrt(detail::squared_distance(pool, i, pool, j)));

  const auto median_of = [](std::vector<double>& v) {
    const std::size_t mid = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
    const double upper = v[mid];
    if (v.size() % 2 == 1) return upper;
    const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
    return 0.5 * (lower + upper);
  };
  const double median = median_of(distances);
  if (median > 0.0) return median;
  std::erase(distances, 0.0);
  return distances.empty() ? 1.0 : median_of(distances);
}

// The unbiased estimate MMD_u^2 (Gretton et al. 2012, "A Kernel Two-Sample Test", JMLR, eq. 3):
//   1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j) - 2/(mn) sum k(x_i, y_j)
// with k(a, b) = exp(-||a - b||^2 / (2 sigma^2)). sigma = bandwidth, or when bandwidth == 0 the
// median heuristic above (median_heuristic_bandwidth(x, y), pool capped at 1000 rows). Unbiased,
// so it can be slightly negative when x and y come from the same distribution. O((m + n)^2 d).
// Both need >= 2 rows.
inline double mmd2_rbf(const Matrix<double>& x, const Matrix<double>& y, double bandwidth = 0) {
  constexpr const char* where = "ldm::mmd2_rbf";
  detail::require_sample(where, "x", x, 2);
  detail::require_sample(where, "y", y, 2);
  detail::require_same_cols(where, "x", x, "y", y);
  if (!(bandwidth >= 0.0 && std::isfinite(bandwidth)))
    throw std::invalid_argument(
        detail::concat(where, ": bandwidth must be finite and >= 0 (0 = median heuristic), got ", bandwidth));
  const double sigma = bandwidth > 0.0 ? bandwidth : median_heuristic_bandwidth(x, y);
  const double gamma = 1.0 / (2.0 * sigma * sigma);
  const double m = static_cast<double>(x.rows()), n = static_cast<double>(y.rows());
  return detail::rbf_kernel_sum(x, x, gamma, true) / (m * (m - 1)) +
         detail::rbf_kernel_sum(y, y, gamma, true) / (n * (n - 1)) -
         2.0 * detail::rbf_kernel_sum(x, y, gamma, false) / (m * n);
}

// ---------------------------------------------------------------------------------------------
// Marginals and correlations.

// The two-sample Kolmogorov-Smirnov statistic sup_v |F_a(v) - F_b(v)| of the empirical CDFs,
// evaluated exactly: both sorted, and at every distinct value all copies of it are counted on
// both sides before comparing, so ties (integer data) are handled as scipy.stats.ks_2samp does.
inline double ks_statistic(const Vector<double>& a, const Vector<double>& b) {
  constexpr const char* where = "ldm::ks_statistic";
  if (a.size() < 1 || b.size() < 1)
    throw std::invalid_argument(
        detail::concat(where, ": a and b must be non-empty, got sizes ", a.size(), " and ", b.size()));
  detail::require_finite(where, "a", a);
  detail::require_finite(where, "b", b);
  std::vector<double> sa(a.data(), a.data() + a.size()), sb(b.data(), b.data() + b.size());
  std::sort(sa.begin(), sa.end());
  std::sort(sb.begin(), sb.end());
  const double na = static_cast<double>(sa.size()), nb = static_cast<double>(sb.size());
  std::size_t i = 0, j = 0;
  double sup = 0.0;
  while (i < sa.size() && j < sb.size()) {
    const double v = std::min(sa[i], sb[j]);
    while (i < sa.size() && sa[i] == v) ++i;
    while (j < sb.size() && sb[j] == v) ++j;
    sup = std::max(sup, std::abs(static_cast<double>(i) / na - static_cast<double>(j) / nb));
  }
  return sup;  // past the end of one sample the gap only shrinks towards 0
}

// Mean over columns of ks_statistic(a.col(c), b.col(c)). Both need >= 1 row.
inline double mean_ks(const Matrix<double>& a, const Matrix<double>& b) {
  constexpr const char* where = "ldm::mean_ks";
  detail::require_sample(where, "a", a, 1);
  detail::require_sample(where, "b", b, 1);
  detail::require_same_cols(where, "a", a, "b", b);
  double sum = 0.0;
  for (Eigen::Index c = 0; c < a.cols(); ++c) sum += ks_statistic(a.col(c), b.col(c));
  return sum / static_cast<double>(a.cols());
}

// Pearson correlation matrix of the columns, (d, d), diagonal 1. A constant column (all values
// equal) has no correlation: its off-diagonal entries are 0. Needs >= 2 rows.
inline Matrix<double> correlation_matrix(const Matrix<double>& m) {
  constexpr const char* where = "ldm::correlation_matrix";
  detail::require_sample(where, "m", m, 2);
  const Eigen::MatrixXd centered = m.rowwise() - m.colwise().mean();
  const Eigen::MatrixXd cross = centered.transpose() * centered;
  const Eigen::Index d = m.cols();
  Eigen::VectorXd inv_norm(d);
  for (Eigen::Index c = 0; c < d; ++c)
    inv_norm(c) = detail::is_constant_column(m, c) || !(cross(c, c) > 0.0) ? 0.0 : 1.0 / std::sqrt(cross(c, c));
  Matrix<double> corr = inv_norm.asDiagonal() * cross * inv_norm.asDiagonal();
  corr = corr.cwiseMax(-1.0).cwiseMin(1.0);
  corr.diagonal().setOnes();
  return corr;
}

// Mean of |corr_a(i, j) - corr_b(i, j)| over the d(d-1)/2 pairs i < j (correlation_matrix above:
// constant columns correlate 0 with everything). 0 for a single column (no pairs).
inline double correlation_error(const Matrix<double>& a, const Matrix<double>& b) {
  constexpr const char* where = "ldm::correlation_error";
  detail::require_sample(where, "a", a, 2);
  detail::require_sample(where, "b", b, 2);
  detail::require_same_cols(where, "a", a, "b", b);
  const Eigen::Index d = a.cols();
  if (d < 2) return 0.0;
  const Matrix<double> diff = (correlation_matrix(a) - correlation_matrix(b)).cwiseAbs();
  double sum = 0.0;
  for (Eigen::Index i = 0; i < d; ++i)
    for (Eigen::Index j = i + 1; j < d; ++j) sum += diff(i, j);
  return sum / static_cast<double>(d * (d - 1) / 2);
}

}  // namespace ldm
