// How good is a synthetic sample? Distances between the generated rows and real rows (Frechet
// distance, MMD, Kolmogorov-Smirnov, correlation error), a memorisation check against the training
// rows, a classifier two-sample test, and a small softmax classifier for conditional generation.
//
// Everything takes Matrix<double> with one sample per row (callers convert with .cast<double>()),
// and refuses empty, too short, non-finite or differently wide inputs with std::invalid_argument.
// evaluate() runs the whole set on data standardised with the reference (training) statistics.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/random.hpp>
#include <ldm/core/visit.hpp>
#include <ldm/nn/layers.hpp>
#include <ldm/train/optim.hpp>

#include <Eigen/Core>
#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ldm {

namespace detail {

// A sample: at least one column, at least min_rows rows, every value finite.
inline void require_sample(const char* where, const char* what, const Matrix<double>& m, Eigen::Index min_rows) {
  if (m.cols() < 1)
    throw std::invalid_argument(
        concat(where, ": ", what, " must have at least 1 column, got ", m.rows(), "x", m.cols()));
  if (m.rows() < min_rows)
    throw std::invalid_argument(
        concat(where, ": ", what, " must have at least ", min_rows, " rows, got ", m.rows(), "x", m.cols()));
  require_finite(where, what, m);
}

// b must be as wide as a.
inline void require_same_cols(const char* where, const char* a_name, const Matrix<double>& a, const char* b_name,
                              const Matrix<double>& b) {
  if (a.cols() != b.cols())
    throw std::invalid_argument(concat(where, ": ", b_name, " must have ", a.cols(), " columns (as ", a_name, "), got ",
                                       b.rows(), "x", b.cols()));
}

inline bool is_constant_column(const Matrix<double>& m, Eigen::Index c) { return (m.col(c).array() == m(0, c)).all(); }

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

// Squared Euclidean distance of two rows, summed term by term: exact for small integers, and
// exactly 0 for equal rows (the |a|^2 + |b|^2 - 2ab expansion is neither).
inline double squared_distance(const Matrix<double>& a, Eigen::Index i, const Matrix<double>& b, Eigen::Index j) {
  return (a.row(i) - b.row(j)).squaredNorm();
}

inline double nearest_squared_distance(const Matrix<double>& a, Eigen::Index i, const Matrix<double>& b) {
  double best = squared_distance(a, i, b, 0);
  for (Eigen::Index j = 1; j < b.rows(); ++j) best = std::min(best, squared_distance(a, i, b, j));
  return best;
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

// A permutation of 0..n-1 drawn from key: indices sorted by random_bits(key, n), ties by index.
inline std::vector<Eigen::Index> permutation(Key key, std::size_t n) {
  const Bits bits = random_bits(key, n);
  std::vector<Eigen::Index> order(n);
  std::iota(order.begin(), order.end(), Eigen::Index{0});
  std::sort(order.begin(), order.end(), [&](Eigen::Index x, Eigen::Index y) {
    const auto bx = bits.values[static_cast<std::size_t>(x)];
    const auto by = bits.values[static_cast<std::size_t>(y)];
    return bx != by ? bx < by : x < y;
  });
  return order;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Standardisation with reference statistics.

// (x - mean_ref) / std_ref per column, with the reference's column mean and population standard
// deviation (divide by n); a column that is constant in the reference gets std 1.
inline Matrix<double> standardize_with(const Matrix<double>& reference, const Matrix<double>& x) {
  constexpr const char* where = "ldm::standardize_with";
  detail::require_sample(where, "reference", reference, 1);
  detail::require_sample(where, "x", x, 0);
  detail::require_same_cols(where, "reference", reference, "x", x);
  return detail::apply_scaling(detail::column_scaling(reference), x);
}

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
// Memorisation: are generated rows nearer the training rows than fresh real rows are?

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

// ---------------------------------------------------------------------------------------------
// ROC AUC and the classifier two-sample test.

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

namespace detail {

// The C2ST classifier: in -> hidden (SiLU) -> 1 logit.
struct C2stMlp {
  Dense<double> c2st_hidden, c2st_output;

  C2stMlp() = default;
  C2stMlp(Eigen::Index in, Eigen::Index hidden, Key key)
      : c2st_hidden("c2st_hidden", in, hidden, fold_in(key, 0)),
        c2st_output("c2st_output", hidden, 1, fold_in(key, 1)) {}

  // logits (B, 1); a (B, hidden) pre-activation and h = SiLU(a) kept for backward.
  void forward(const Matrix<double>& x, Matrix<double>& a, Matrix<double>& h, Matrix<double>& logits) const {
    c2st_hidden.forward(x, a);
    silu_forward(a, h);
    c2st_output.forward(h, logits);
  }

  template <class F, class... Models>
  static void visit_each(F&& f, Models&... m) {
    Dense<double>::visit_each(f, m.c2st_hidden...);
    Dense<double>::visit_each(f, m.c2st_output...);
  }
  template <class F>
  void visit(F&& f) {
    visit_each(f, *this);
  }
  template <class F>
  void visit(F&& f) const {
    visit_each(f, *this);
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
  Matrix<double> xb, a, h, logits, dz, dh, da;
  const auto n = static_cast<std::size_t>(x.rows());
  const auto batch = static_cast<std::size_t>(o.batch_size);
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    const std::vector<Eigen::Index> order = permutation(fold_in(key, static_cast<std::uint32_t>(1 + epoch)), n);
    for (std::size_t start = 0; start < n; start += batch) {
      const auto b = static_cast<Eigen::Index>(std::min(batch, n - start));
      xb.resize(b, x.cols());
      dz.resize(b, 1);
      for (Eigen::Index r = 0; r < b; ++r) xb.row(r) = x.row(order[start + static_cast<std::size_t>(r)]);
      model.forward(xb, a, h, logits);
      for (Eigen::Index r = 0; r < b; ++r) {
        const double target = y(order[start + static_cast<std::size_t>(r)]);
        dz(r, 0) = (1.0 / (1.0 + std::exp(-logits(r, 0))) - target) / static_cast<double>(b);
      }
      set_zero(grad);
      model.c2st_output.backward_params(h, dz, grad.c2st_output);
      model.c2st_output.backward_input(dz, dh);
      silu_backward(a, dh, da);
      model.c2st_hidden.backward_params(xb, da, grad.c2st_hidden);
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
    Matrix<double> a, h, logits;
    model.forward(detail::apply_scaling(scaling, x_test), a, h, logits);
    return roc_auc(logits.col(0), y_test);
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

// ---------------------------------------------------------------------------------------------
// A small classifier for conditional generation: are generated rows of class c recognised as c?

struct SoftmaxRegressionOptions {
  int steps = 500;   // full-batch Adam steps from zero weights (deterministic, no key)
  double lr = 0.05;  // Adam learning rate
  double l2 = 1e-3;  // penalty l2/2 ||W||^2 on the weights (not the biases)
};

// Multinomial logistic regression on standardised features (the fitted rows' column mean and
// population std, constant -> 1): p(c | x) = softmax(W x' + b)_c, trained on the mean
// cross-entropy plus the L2 penalty, full batch, by ldm::Adam. Labels are 0..num_classes-1.
struct SoftmaxRegression {
  struct Model {
    Dense<double> softmax_linear;  // (classes, features)
    template <class F, class... Models>
    static void visit_each(F&& f, Models&... m) {
      Dense<double>::visit_each(f, m.softmax_linear...);
    }
    template <class F>
    void visit(F&& f) {
      visit_each(f, *this);
    }
    template <class F>
    void visit(F&& f) const {
      visit_each(f, *this);
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
    Matrix<double> logits;
    const double inv_n = 1.0 / static_cast<double>(x.rows());
    // The products are coefficient-based (lazyProduct): they are small, and Eigen's blocked GEMM
    // would open an OpenMP region for each, which on a busy machine costs more than the work.
    Dense<double>& layer = model.softmax_linear;
    for (int step = 0; step < options.steps; ++step) {
      logits.noalias() = xs.lazyProduct(layer.weight.transpose());  // (n, classes)
      logits.rowwise() += layer.bias.transpose();
      softmax_rows(logits);
      for (Eigen::Index r = 0; r < x.rows(); ++r) logits(r, labels(r)) -= 1.0;  // p - onehot
      logits *= inv_n;                                                          // dL/dlogits
      grad.softmax_linear.weight.noalias() = logits.transpose().lazyProduct(xs);
      grad.softmax_linear.weight += options.l2 * layer.weight;
      grad.softmax_linear.bias = logits.colwise().sum().transpose();
      adam.step(model, grad);
    }
  }

  // Class probabilities (n, classes).
  Matrix<double> predict_proba(const Matrix<double>& x) const {
    constexpr const char* where = "ldm::SoftmaxRegression::predict";
    if (num_classes() == 0) throw std::runtime_error(detail::concat(where, ": call fit() first"));
    detail::require_sample(where, "x", x, 0);
    detail::require_cols(where, "x", x, model.softmax_linear.in_features());
    Matrix<double> p;
    model.softmax_linear.forward(detail::apply_scaling(scaling, x), p);
    softmax_rows(p);
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

 private:
  static void softmax_rows(Matrix<double>& z) {
    for (Eigen::Index r = 0; r < z.rows(); ++r) {
      z.row(r).array() = (z.row(r).array() - z.row(r).maxCoeff()).exp();
      z.row(r) /= z.row(r).sum();
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Everything at once.

struct EvaluateOptions {
  bool reference_is_train = true;  // reference = the training rows: run the memorisation check
  bool c2st = false;               // run the (slow) classifier two-sample test
  C2stOptions c2st_options{};
  Key key = make_key(0);     // for the C2ST folds and initialisation
  double mmd_bandwidth = 0;  // 0 = median heuristic on the standardised rows
};

struct QualityReport {
  double frechet = 0;                           // frechet_distance(holdout, synthetic)
  double mmd2 = 0;                              // mmd2_rbf(holdout, synthetic, mmd_bandwidth)
  double ks = 0;                                // mean_ks(holdout, synthetic)
  double corr_error = 0;                        // correlation_error(holdout, synthetic)
  std::optional<double> nn_share, ideal_share;  // memorization(synthetic, reference, holdout)
  std::optional<std::size_t> exact_copies;
  std::optional<double> c2st_auc;  // c2st_auc(holdout, synthetic)
};

// Compares synthetic rows with real held-out rows, all three standardised with the reference's
// column mean and population std (constant columns: std 1), so every column counts alike and the
// figures do not depend on the data's units. The memorisation fields are filled when
// reference_is_train, the C2ST when options.c2st.
inline QualityReport evaluate(const Matrix<double>& reference, const Matrix<double>& holdout,
                              const Matrix<double>& synthetic, const EvaluateOptions& options = {}) {
  constexpr const char* where = "ldm::evaluate";
  detail::require_sample(where, "reference", reference, 1);
  detail::require_sample(where, "holdout", holdout, 2);
  detail::require_sample(where, "synthetic", synthetic, 2);
  detail::require_same_cols(where, "reference", reference, "holdout", holdout);
  detail::require_same_cols(where, "reference", reference, "synthetic", synthetic);
  const detail::ColumnScaling scaling = detail::column_scaling(reference);
  const Matrix<double> real = detail::apply_scaling(scaling, holdout);
  const Matrix<double> synth = detail::apply_scaling(scaling, synthetic);

  QualityReport report;
  report.frechet = frechet_distance(real, synth);
  report.mmd2 = mmd2_rbf(real, synth, options.mmd_bandwidth);
  report.ks = mean_ks(real, synth);
  report.corr_error = correlation_error(real, synth);
  if (options.reference_is_train) {
    const Memorization m = memorization(synth, detail::apply_scaling(scaling, reference), real);
    report.nn_share = m.nn_share;
    report.ideal_share = m.ideal_share;
    report.exact_copies = m.exact_copies;
  }
  if (options.c2st) report.c2st_auc = c2st_auc(real, synth, options.key, options.c2st_options);
  return report;
}

}  // namespace ldm
