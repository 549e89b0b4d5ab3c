// Internal: the Gaussian copula baseline fitted to a mixed table (Patki, Wedge, Veeramachaneni,
// "The Synthetic Data Vault", IEEE DSAA 2016, which fits it on normal scores and treats
// categories as intervals of the unit line by frequency). Each column gives one or two copula
// variables; every row becomes standard-normal scores, their correlation matrix is estimated,
// and samples from that multivariate normal are mapped back column by column.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/core/random.hpp>
#include <ldm/data/table.hpp>
#include <ldm/eval/detail/table_columns.hpp>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <vector>

namespace ldm::detail {

inline double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// One variable of the copula: either the present values of a numeric column (through their
// empirical CDF) or a set of states laid on the normal line by cumulative frequency (the
// categories of a column plus "missing", or the present/missing indicator of a numeric column).
struct CopulaVariable {
  Eigen::Index column = 0;
  bool states = false;
  std::vector<double> sorted;      // values: the column's present values, sorted
  std::vector<double> cumulative;  // states: 0 = c_0 <= c_1 <= ... <= c_S = 1, state s owns [c_s, c_s+1)

  // The normal score of a cell. Values: Phi^-1((average 0-based rank + 1/2) / m), ties sharing
  // their average rank. States: the score of the midpoint of the state's probability interval,
  // Phi^-1((c_s + c_s+1) / 2), which stays finite for the end intervals.
  double score(double value_or_state) const {
    if (states) {
      const auto s = static_cast<std::size_t>(value_or_state);
      return normal_quantile(0.5 * (cumulative[s] + cumulative[s + 1]));
    }
    const auto lo = std::lower_bound(sorted.begin(), sorted.end(), value_or_state) - sorted.begin();
    const auto hi = std::upper_bound(sorted.begin(), sorted.end(), value_or_state) - sorted.begin();
    const double rank = 0.5 * static_cast<double>(lo + hi - 1);
    return normal_quantile((rank + 0.5) / static_cast<double>(sorted.size()));
  }

  // The inverse: u = Phi(z); values by the inverse of the same empirical CDF, interpolating
  // linearly between order statistics (u = (i + 1/2) / m gives the i-th) and clamped to the
  // observed range; states by the interval that holds u (empty intervals are never chosen).
  double inverse(double z) const {
    const double u = normal_cdf(z);
    if (states) {
      const std::size_t count = cumulative.size() - 1;
      for (std::size_t s = 0; s + 1 < count; ++s)
        if (u < cumulative[s + 1]) return static_cast<double>(s);
      return static_cast<double>(count - 1);
    }
    const double last = static_cast<double>(sorted.size() - 1);
    const double pos = std::clamp(u * static_cast<double>(sorted.size()) - 0.5, 0.0, last);
    const auto i = static_cast<std::size_t>(std::floor(pos));
    const std::size_t j = std::min(i + 1, sorted.size() - 1);
    return sorted[i] + (pos - static_cast<double>(i)) * (sorted[j] - sorted[i]);
  }
};

// Which copula variables a column uses: its values (numeric) or states (categorical), and for a
// numeric column with missing cells in the training rows, its missing indicator. -1 = none.
struct CopulaColumn {
  Eigen::Index value = -1, missing = -1;
};

struct GaussianCopula {
  std::vector<CopulaVariable> variables;
  std::vector<CopulaColumn> columns;
  Eigen::MatrixXd correlation;  // of the scores, regularised: symmetric positive definite
  Eigen::MatrixXd lower;        // its Cholesky factor
};

// Cumulative frequencies 0, c_1, ..., 1 of the states counted in `counts`.
inline std::vector<double> cumulative_frequencies(const std::vector<double>& counts) {
  double total = 0;
  for (double c : counts) total += c;
  std::vector<double> out{0.0};
  double running = 0;
  for (double c : counts) out.push_back((running += c) / total);
  out.back() = 1.0;
  return out;
}

// The smallest eigenvalue a fitted correlation keeps: pairwise estimates (rows where both
// variables are defined) need not form a positive semi-definite matrix, and exact collinearity
// (a one-hot category and its indicator) makes it singular; clipping the spectrum and restoring
// the unit diagonal gives the nearest usable matrix in the eigenbasis.
constexpr double copula_min_eigenvalue = 1e-4;

inline GaussianCopula fit_gaussian_copula(const Table& train) {
  GaussianCopula g;
  g.columns.resize(train.schema.size());
  for (Eigen::Index c = 0; c < train.cols(); ++c) {
    const Column& column = train.schema.columns[static_cast<std::size_t>(c)];
    CopulaColumn& cc = g.columns[static_cast<std::size_t>(c)];
    const std::size_t missing = static_cast<std::size_t>(train.cells.col(c).array().isNaN().count());
    if (column.is_categorical()) {
      std::vector<double> counts(column.categories.size() + 1, 0.0);  // the last state: missing
      for (Eigen::Index r = 0; r < train.rows(); ++r) {
        const double cell = train.cells(r, c);
        counts[Table::is_missing(cell) ? counts.size() - 1 : static_cast<std::size_t>(cell)] += 1;
      }
      cc.value = static_cast<Eigen::Index>(g.variables.size());
      g.variables.push_back({c, true, {}, cumulative_frequencies(counts)});
      continue;
    }
    std::vector<double> present = present_values(train, c);
    std::sort(present.begin(), present.end());
    if (!present.empty()) {
      cc.value = static_cast<Eigen::Index>(g.variables.size());
      g.variables.push_back({c, false, std::move(present), {}});
    }
    if (missing > 0) {
      cc.missing = static_cast<Eigen::Index>(g.variables.size());
      const double n = static_cast<double>(train.rows());
      g.variables.push_back({c, true, {}, cumulative_frequencies({n - static_cast<double>(missing), double(missing)})});
    }
  }

  // Scores (rows, variables); NaN where a numeric column's value is missing.
  const auto d = static_cast<Eigen::Index>(g.variables.size());
  Matrix<double> z(train.rows(), d);
  for (Eigen::Index v = 0; v < d; ++v) {
    const CopulaVariable& var = g.variables[static_cast<std::size_t>(v)];
    const CopulaColumn& cc = g.columns[static_cast<std::size_t>(var.column)];
    const std::size_t count = var.cumulative.size() - 1;
    for (Eigen::Index r = 0; r < train.rows(); ++r) {
      const double cell = train.cells(r, var.column);
      if (!var.states)
        z(r, v) = Table::is_missing(cell) ? std::numeric_limits<double>::quiet_NaN() : var.score(cell);
      else if (v == cc.missing)
        z(r, v) = var.score(Table::is_missing(cell) ? 1.0 : 0.0);
      else
        z(r, v) = var.score(Table::is_missing(cell) ? static_cast<double>(count - 1) : cell);
    }
  }
  const Table scores{Schema{std::vector<Column>(static_cast<std::size_t>(d))}, z};
  Eigen::MatrixXd corr = Eigen::MatrixXd::Identity(d, d);
  for (Eigen::Index a = 0; a < d; ++a)
    for (Eigen::Index b = a + 1; b < d; ++b) corr(a, b) = corr(b, a) = pearson_present(scores, a, b);

  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(corr);
  if (eig.info() != Eigen::Success)
    throw std::runtime_error("ldm::sample_gaussian_copula: the eigendecomposition of the correlation failed");
  corr = eig.eigenvectors() * eig.eigenvalues().cwiseMax(copula_min_eigenvalue).asDiagonal() *
         eig.eigenvectors().transpose();
  const Eigen::VectorXd inv_sd = corr.diagonal().cwiseSqrt().cwiseInverse();
  g.correlation = inv_sd.asDiagonal() * corr * inv_sd.asDiagonal();
  g.correlation = 0.5 * (g.correlation + g.correlation.transpose());
  Eigen::LLT<Eigen::MatrixXd> llt(g.correlation);
  if (llt.info() != Eigen::Success)
    throw std::runtime_error("ldm::sample_gaussian_copula: the correlation is not positive definite");
  g.lower = llt.matrixL();
  return g;
}

// n rows drawn from the copula: scores Z L^T with Z standard normal from `key`, mapped back.
// Returns the cells; the caller supplies the schema.
inline Matrix<double> sample_copula_cells(const GaussianCopula& g, const Table& train, Eigen::Index n, Key key,
                                          Key& next) {
  const auto d = static_cast<Eigen::Index>(g.variables.size());
  Draw<double> draw = normal<double>(key, n, d);
  next = draw.key;
  const Matrix<double> z = draw.values * g.lower.transpose();
  Matrix<double> cells(n, train.cols());
  for (Eigen::Index c = 0; c < train.cols(); ++c) {
    const Column& column = train.schema.columns[static_cast<std::size_t>(c)];
    const CopulaColumn& cc = g.columns[static_cast<std::size_t>(c)];
    for (Eigen::Index r = 0; r < n; ++r) {
      const bool missing =
          cc.missing >= 0 && g.variables[static_cast<std::size_t>(cc.missing)].inverse(z(r, cc.missing)) == 1.0;
      if (missing || cc.value < 0) {
        cells(r, c) = std::numeric_limits<double>::quiet_NaN();
        continue;
      }
      const CopulaVariable& var = g.variables[static_cast<std::size_t>(cc.value)];
      double v = var.inverse(z(r, cc.value));
      if (column.is_categorical() && v == static_cast<double>(column.categories.size()))
        v = std::numeric_limits<double>::quiet_NaN();  // the missing state
      else if (column.is_whole())
        v = std::round(v);
      cells(r, c) = v;
    }
  }
  return cells;
}

}  // namespace ldm::detail
