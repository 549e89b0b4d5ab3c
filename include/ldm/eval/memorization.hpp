// The memorisation check: are generated rows nearer the training rows than fresh real rows are?
// A generator that copies its training data scores above the share expected by chance.
#pragma once

#include <ldm/core/matrix.hpp>
#include <ldm/eval/detail/row_distances.hpp>
#include <ldm/eval/detail/sample_checks.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <vector>

namespace ldm {

struct Memorization {
  double nn_share = 0;           // share of generated rows whose nearest real row is a training row
  double ideal_share = 0;        // n_train / (n_train + n_holdout): the share if nothing is copied
  std::size_t exact_copies = 0;  // generated rows at distance <= 1e-9 from a training row
};

// For each generated row g: d_train = min ||g - t|| over training rows, d_holdout the same over
// held-out rows. It counts 1 when d_train < d_holdout, 1/2 on an exact tie (d_train == d_holdout,
// e.g. a row present in both sets), 0 otherwise; nn_share is the mean. A generator that samples
// the data distribution without copying scores about ideal_share; a memorising one more.
// Euclidean distances summed term by term, so a copied row is at distance exactly 0.
// O(n_gen (n_train + n_holdout) d); rows are spread over OpenMP threads, results don't depend on it.
inline Memorization memorization(const Matrix<double>& generated, const Matrix<double>& train,
                                 const Matrix<double>& holdout) {
  constexpr const char* where = "ldm::memorization";
  detail::require_sample(where, "generated", generated, 1);
  detail::require_sample(where, "train", train, 1);
  detail::require_sample(where, "holdout", holdout, 1);
  detail::require_same_cols(where, "train", train, "generated", generated);
  detail::require_same_cols(where, "train", train, "holdout", holdout);
  const Eigen::Index n = generated.rows();
  std::vector<double> score(static_cast<std::size_t>(n));
  std::vector<char> copy(static_cast<std::size_t>(n));
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n * (train.rows() + holdout.rows()) > 100000)
#endif
  for (Eigen::Index i = 0; i < n; ++i) {
    const double d_train = detail::nearest_squared_distance(generated, i, train);
    const double d_holdout = detail::nearest_squared_distance(generated, i, holdout);
    const auto k = static_cast<std::size_t>(i);
    score[k] = d_train < d_holdout ? 1.0 : d_train == d_holdout ? 0.5 : 0.0;
    copy[k] = std::sqrt(d_train) <= 1e-9;
  }
  Memorization out;
  for (std::size_t k = 0; k < score.size(); ++k) {
    out.nn_share += score[k];
    out.exact_copies += copy[k] ? 1 : 0;
  }
  out.nn_share /= static_cast<double>(n);
  out.ideal_share = static_cast<double>(train.rows()) / static_cast<double>(train.rows() + holdout.rows());
  return out;
}

}  // namespace ldm
