// Two classical synthesisers to measure the diffusion model against, on the user's own table
// (`ldm baseline --method marginals|gaussian-copula`): independent columns, which keep every
// column's distribution and lose every relation between columns, and a Gaussian copula, which
// also keeps the (rank) correlations.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/core/random.hpp>
#include <ldm/data/table.hpp>
#include <ldm/eval/detail/gaussian_copula.hpp>
#include <ldm/eval/detail/table_columns.hpp>

#include <Eigen/Core>

#include <cstddef>
#include <cstdint>
#include <stdexcept>

namespace ldm {

// Generated rows in the training table's schema, and the key to use next.
struct TableDraw {
  Table table;
  Key key;
};

namespace detail {

inline void require_baseline_input(const char* where, const Table& train, Eigen::Index n) {
  require_table(where, "train", train, 1);
  if (n < 0) throw std::invalid_argument(concat(where, ": n must be non-negative, got ", n));
}

}  // namespace detail

// Every column drawn independently from its empirical distribution: cell (r, c) is the cell of
// column c in a training row chosen uniformly, one choice per cell, so each column's frequencies
// (missing cells included) are the training column's, and the columns are independent.
// The choice for element i = r * cols + c is floor(bits_i * n_train / 2^32) with bits from
// random_bits(key, n * cols) (bias below n_train / 2^32); returns its next key.
inline TableDraw sample_marginals(const Table& train, Eigen::Index n, Key key) {
  constexpr const char* where = "ldm::sample_marginals";
  detail::require_baseline_input(where, train, n);
  const Eigen::Index cols = train.cols();
  const Bits bits = random_bits(key, static_cast<std::size_t>(n * cols));
  const auto rows = static_cast<std::uint64_t>(train.rows());
  TableDraw out{Table{train.schema, Matrix<double>(n, cols)}, bits.key};
  for (Eigen::Index r = 0; r < n; ++r)
    for (Eigen::Index c = 0; c < cols; ++c) {
      const std::uint64_t b = bits.values[static_cast<std::size_t>(r * cols + c)];
      out.table.cells(r, c) = train.cells(static_cast<Eigen::Index>((b * rows) >> 32), c);
    }
  return out;
}

// A Gaussian copula on normal scores (Patki et al. 2016, the SDV's GaussianCopula):
// - a numeric or integer column goes through its empirical CDF to a normal score,
//   Phi^-1((average rank + 1/2) / m) of its m present values;
// - a categorical column is thresholds on a standard normal: category k occupies the normal
//   quantile interval [Phi^-1(c_k), Phi^-1(c_k+1)) of its cumulative frequency, missing being one
//   more category after the last; a row's score is Phi^-1 of its interval's probability midpoint;
// - a numeric column with missing training cells adds a present/missing indicator variable laid
//   out the same way; its value score is undefined on missing rows;
// - the correlation matrix of the scores, each pair over the rows where both are defined,
//   regularised to stay positive definite (eigenvalues clipped at 1e-4, unit diagonal restored);
// - n rows Z L^T (Z standard normal from `key`, L L^T the correlation) mapped back: numeric
//   values by the inverse empirical CDF with linear interpolation between order statistics
//   (within the training range; integer columns rounded), categories and missing cells by the
//   interval that holds Phi(z).
// Returns the next key of the normal draw. Cost O(n_train d^2 + d^3 + n d^2), d the variables.
inline TableDraw sample_gaussian_copula(const Table& train, Eigen::Index n, Key key) {
  constexpr const char* where = "ldm::sample_gaussian_copula";
  detail::require_baseline_input(where, train, n);
  const detail::GaussianCopula copula = detail::fit_gaussian_copula(train);
  TableDraw out{Table{train.schema, {}}, key};
  out.table.cells = detail::sample_copula_cells(copula, train, n, key, out.key);
  return out;
}

}  // namespace ldm
