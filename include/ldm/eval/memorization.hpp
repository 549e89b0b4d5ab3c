// The memorisation check: are generated rows nearer the training rows than fresh real rows are?
// A generator that copies its training data scores above the share expected by chance.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/json.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/core/random.hpp>
#include <ldm/eval/detail/permutation.hpp>
#include <ldm/eval/detail/row_distances.hpp>
#include <ldm/eval/detail/row_hashes.hpp>
#include <ldm/eval/detail/sample_checks.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace ldm {

struct MemorizationOptions {
  // Generated rows the nearest-record share is computed on (0 = all). 2,000 rows give the share
  // to a standard error of at most 0.5 / sqrt(2000) = 0.011, well under the gaps that matter
  // (a copying model sits 0.1 or more above the ideal), and keep the distances at 2,000 x
  // (n_train + n_holdout) rows: seconds at 50,000 + 50,000.
  std::size_t max_rows = 2000;
  Key key = make_key(0);  // which rows, when there are more than max_rows
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(MemorizationOptions, max_rows, key)

struct Memorization {
  double nn_share = 0;           // share of the sampled generated rows whose nearest real row is a training row
  double ideal_share = 0;        // n_train / (n_train + n_holdout): the share if nothing is copied
  std::size_t exact_copies = 0;  // generated rows (all of them) equal to a training row
  std::size_t nn_rows = 0;       // how many generated rows nn_share is computed on
};

// How many rows of `rows` equal some row of `reference`, cell by cell: NaN (a missing cell)
// equals NaN, -0.0 equals 0.0. Exact and O((n_rows + n_reference) log n_reference) by hashing
// rows. The widths must agree; any values are allowed.
inline std::size_t count_copies(const Matrix<double>& rows, const Matrix<double>& reference) {
  if (rows.cols() != reference.cols())
    throw std::invalid_argument(detail::concat("ldm::count_copies: rows must have ", reference.cols(),
                                               " columns (as reference), got ", rows.cols()));
  if (rows.rows() == 0 || reference.rows() == 0) return 0;
  const auto hashes = detail::sorted_row_hashes(reference);
  long long copies = 0;  // an integer sum: the same for any thread count
  const Eigen::Index n = rows.rows();
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(+ : copies) if (n > 20000)
#endif
  for (Eigen::Index i = 0; i < n; ++i) copies += detail::has_equal_row(rows, i, reference, hashes) ? 1 : 0;
  return static_cast<std::size_t>(copies);
}

namespace detail {

// The generated rows the nearest-record share is taken on: all n when max_rows is 0 or n <=
// max_rows, else the first max_rows of permutation(key, n), in increasing order.
inline std::vector<Eigen::Index> nearest_record_rows(Eigen::Index n, const MemorizationOptions& options) {
  std::vector<Eigen::Index> rows;
  if (options.max_rows == 0 || static_cast<std::size_t>(n) <= options.max_rows) {
    rows.resize(static_cast<std::size_t>(n));
    std::iota(rows.begin(), rows.end(), Eigen::Index{0});
    return rows;
  }
  rows = permutation(options.key, static_cast<std::size_t>(n));
  rows.resize(options.max_rows);
  std::sort(rows.begin(), rows.end());
  return rows;
}

}  // namespace detail

// For each sampled generated row g (options.max_rows of them, drawn with options.key; all when
// there are no more): d_train = min ||g - t|| over all training rows, d_holdout the same over all
// held-out rows. It counts 1 when d_train < d_holdout, 1/2 on an exact tie (d_train ==
// d_holdout, e.g. a row present in both sets), 0 otherwise; nn_share is the mean. A generator
// that samples the data distribution without copying scores about ideal_share; a memorising one
// more. Euclidean distances summed term by term, so a copied row is at distance exactly 0.
// exact_copies counts every generated row (count_copies). Cost O(nn_rows (n_train + n_holdout) d);
// rows are spread over OpenMP threads, results don't depend on it.
inline Memorization memorization(const Matrix<double>& generated, const Matrix<double>& train,
                                 const Matrix<double>& holdout, const MemorizationOptions& options = {}) {
  constexpr const char* where = "ldm::memorization";
  detail::require_sample(where, "generated", generated, 1);
  detail::require_sample(where, "train", train, 1);
  detail::require_sample(where, "holdout", holdout, 1);
  detail::require_same_cols(where, "train", train, "generated", generated);
  detail::require_same_cols(where, "train", train, "holdout", holdout);
  const std::vector<Eigen::Index> rows = detail::nearest_record_rows(generated.rows(), options);
  const auto n = static_cast<Eigen::Index>(rows.size());
  std::vector<double> score(rows.size());
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 16) if (n * (train.rows() + holdout.rows()) > 100000)
#endif
  for (Eigen::Index k = 0; k < n; ++k) {
    const Eigen::Index i = rows[static_cast<std::size_t>(k)];
    const double d_train = detail::nearest_squared_distance(generated, i, train);
    const double d_holdout = detail::nearest_squared_distance(generated, i, holdout);
    score[static_cast<std::size_t>(k)] = d_train < d_holdout ? 1.0 : d_train == d_holdout ? 0.5 : 0.0;
  }
  Memorization out;
  for (const double s : score) out.nn_share += s;  // in row order: the same for any thread count
  out.nn_rows = rows.size();
  out.nn_share /= static_cast<double>(n);
  out.ideal_share = static_cast<double>(train.rows()) / static_cast<double>(train.rows() + holdout.rows());
  out.exact_copies = count_copies(generated, train);
  return out;
}

}  // namespace ldm
