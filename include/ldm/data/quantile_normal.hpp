// Per-column quantile-normal transform: each value goes through its training column's empirical
// CDF and then the standard normal quantile, so a skewed column (prices, counts) enters the VAE
// as a bell curve. This is scikit-learn's QuantileTransformer(output_distribution='normal'), as
// TabDDPM (Kotelnikov et al. ICML 2023) and TabSyn (Zhang et al. ICLR 2024) use it:
// - knots: the column's quantiles at n evenly spaced probabilities r_j = j / (n - 1), linear
//   between order statistics (numpy.percentile), n = min(n_quantiles, rows), at least 2; with
//   n = rows the knots are the order statistics themselves;
// - forward: p = the CDF interpolated between knots; a value equal to a run of tied knots gets the
//   middle of their probabilities (what sklearn's averaged forward and backward np.interp gives),
//   p clipped to [1e-7, 1 - 1e-7] (sklearn's BOUNDS_THRESHOLD), then z = Phi^{-1}(p);
// - inverse: p = Phi(z), then the knots interpolated at p (np.interp(p, references, quantiles)),
//   except between two runs of tied knots (values the training column repeats): there the nearer
//   run's value, since the data shows nothing in between. A discrete column — at most half as
//   many distinct knots as knots, so each value repeated twice on average: ages in months,
//   heights heaped on whole inches, scores 1..10 — gives the nearest knot: only values the
//   training column has, each about as often as it had it (survey's Age, 76 values on 166 rows:
//   interpolated, 29 of 51 sampled ages were values no student had, on no 1/12 grid).
// The knots are doubles, stored as F64: a column such as a date in years (2013.41666666667) keeps
// its values to the digit (float knots wrote 2013.41662597656, off every training value). Older
// files with F32 knots load as they were.
// Missing values (NaN) are left out of the fit and stay NaN. Arithmetic in double.
//
// Like Standardizer it follows core/visit.hpp: one tensor "quantiles" [columns, n].
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/random.hpp>
#include <ldm/core/visit.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace ldm {

namespace detail {

inline constexpr double quantile_bound = 1e-7;  // sklearn.preprocessing._data.BOUNDS_THRESHOLD

// The probability of value v under the n sorted knots q at references j / (n - 1).
template <class S>
double knot_cdf(const S* q, Eigen::Index n, double v) {
  const double step = 1.0 / static_cast<double>(n - 1);
  const auto less = [](S knot, double value) { return static_cast<double>(knot) < value; };
  const auto greater = [](double value, S knot) { return value < static_cast<double>(knot); };
  const Eigen::Index lo = std::lower_bound(q, q + n, v, less) - q;  // first knot >= v
  if (lo == n) return 1.0;
  const Eigen::Index hi = std::upper_bound(q + lo, q + n, v, greater) - q;  // first knot > v
  if (hi > lo) return 0.5 * (static_cast<double>(lo) + static_cast<double>(hi - 1)) * step;
  if (lo == 0) return 0.0;
  const double a = static_cast<double>(q[lo - 1]), b = static_cast<double>(q[lo]);
  return (static_cast<double>(lo - 1) + (v - a) / (b - a)) * step;
}

// Whether sorted knots q describe a discrete column: at most half as many distinct values as
// knots (with a knot per row, each value repeated twice on average).
template <class Row>
bool discrete_knots(const Row& q) {
  Eigen::Index distinct = q.size() > 0 ? 1 : 0;
  for (Eigen::Index j = 1; j < q.size(); ++j) distinct += q(j) != q(j - 1);
  return 2 * distinct <= q.size();
}

// The value at probability p in [0, 1]: the knots interpolated, but between two runs of tied
// knots the nearer run's value; for a discrete column (discrete_knots) the nearest knot.
template <class Row>
double knot_quantile(const Row& q, double p, bool discrete = false) {
  const Eigen::Index n = q.size();
  const double h = std::clamp(p, 0.0, 1.0) * static_cast<double>(n - 1);
  if (discrete) return static_cast<double>(q(static_cast<Eigen::Index>(std::round(h))));
  const auto i = std::min(static_cast<Eigen::Index>(h), n - 2);
  const double t = h - static_cast<double>(i);
  const double a = static_cast<double>(q(i)), b = static_cast<double>(q(i + 1));
  if (t == 0.0 || a == b) return a;
  // Between two runs of tied knots (repeated values): the nearer one, never a value in between.
  const bool a_tied = i > 0 && static_cast<double>(q(i - 1)) == a;
  const bool b_tied = i + 2 < n && static_cast<double>(q(i + 2)) == b;
  if (a_tied && b_tied) return t < 0.5 ? a : b;
  return a + t * (b - a);
}

}  // namespace detail

template <class S = float>
struct QuantileNormal : Visitable<QuantileNormal<S>> {
  Matrix<double> quantiles;  // [columns, n], each row non-decreasing

  bool fitted() const { return quantiles.rows() > 0 && quantiles.cols() >= 2; }

  // Knots of each column of x from its non-NaN values (a column with none maps everything to 0).
  // Throws std::invalid_argument for no rows, n_quantiles < 2 or an infinite value.
  void fit(const Matrix<double>& x, int n_quantiles = 1000) {
    if (x.rows() == 0 || x.cols() == 0)
      throw std::invalid_argument(
          detail::concat("QuantileNormal::fit: x must have rows and columns, got ", x.rows(), "x", x.cols()));
    if (n_quantiles < 2)
      throw std::invalid_argument(detail::concat("QuantileNormal::fit: n_quantiles must be >= 2, got ", n_quantiles));
    const Eigen::Index n = std::max<Eigen::Index>(2, std::min<Eigen::Index>(n_quantiles, x.rows()));
    Matrix<double> knots(x.cols(), n);
    std::vector<double> values;
    for (Eigen::Index c = 0; c < x.cols(); ++c) {
      values.clear();
      for (Eigen::Index r = 0; r < x.rows(); ++r) {
        if (std::isinf(x(r, c)))
          throw std::invalid_argument(
              detail::concat("QuantileNormal::fit: x(", r, ", ", c, ") = ", x(r, c), " is not finite"));
        if (!std::isnan(x(r, c))) values.push_back(x(r, c));
      }
      if (values.empty()) values.push_back(0.0);
      std::sort(values.begin(), values.end());
      const double last = static_cast<double>(values.size() - 1);
      for (Eigen::Index j = 0; j < n; ++j) {
        // numpy.percentile's "linear" method: position p (m - 1), between its two order statistics.
        const double h = static_cast<double>(j) / static_cast<double>(n - 1) * last;
        const auto i = static_cast<std::size_t>(h);
        const double t = h - static_cast<double>(i);
        const double v = i + 1 < values.size() && t > 0 ? values[i] + t * (values[i + 1] - values[i]) : values[i];
        knots(c, j) = std::max(v, j > 0 ? knots(c, j - 1) : v);  // rounding must not break the order
      }
    }
    quantiles = std::move(knots);
  }

  // z = Phi^{-1}(clip(CDF(x))) per column; NaN stays NaN. out is resized.
  void transform(const Matrix<double>& x, Matrix<S>& out) const {
    require_fitted_width("QuantileNormal::transform", x);
    out.resize(x.rows(), x.cols());
    for (Eigen::Index r = 0; r < x.rows(); ++r)
      for (Eigen::Index c = 0; c < x.cols(); ++c) {
        const double v = x(r, c);
        if (std::isnan(v)) {
          out(r, c) = static_cast<S>(v);
          continue;
        }
        const double p = std::clamp(detail::knot_cdf(quantiles.row(c).data(), quantiles.cols(), v),
                                    detail::quantile_bound, 1.0 - detail::quantile_bound);
        out(r, c) = static_cast<S>(detail::normal_quantile(p));
      }
  }

  // Back to the data's units: the knots at Phi(z). out is resized. Columns flagged in
  // nearest_knot (empty: none) give the nearest knot, as a discrete column does: only values the
  // training column has, up to n_quantiles rows (TableEncoding flags dates: a monthly column stays
  // monthly).
  void inverse(const Matrix<S>& z, Matrix<double>& out, const std::vector<bool>& nearest_knot = {}) const {
    require_fitted_width("QuantileNormal::inverse", z);
    if (!nearest_knot.empty() && nearest_knot.size() != static_cast<std::size_t>(z.cols()))
      throw std::invalid_argument(detail::concat("QuantileNormal::inverse: nearest_knot has ", nearest_knot.size(),
                                                 " flags for ", z.cols(), " columns"));
    out.resize(z.rows(), z.cols());
    std::vector<bool> discrete(static_cast<std::size_t>(z.cols()));
    for (Eigen::Index c = 0; c < z.cols(); ++c)
      discrete[static_cast<std::size_t>(c)] = (!nearest_knot.empty() && nearest_knot[static_cast<std::size_t>(c)]) ||
                                              detail::discrete_knots(quantiles.row(c));
    for (Eigen::Index r = 0; r < z.rows(); ++r)
      for (Eigen::Index c = 0; c < z.cols(); ++c) {
        const double v = static_cast<double>(z(r, c));
        out(r, c) = std::isnan(v) ? v
                                  : detail::knot_quantile(quantiles.row(c), 0.5 * std::erfc(-v / std::sqrt(2.0)),
                                                          discrete[static_cast<std::size_t>(c)]);
      }
  }

  template <class F, class... Ss>
  static void visit_each(F&& f, Ss&... s) {
    f(std::string("quantiles"), s.quantiles...);
  }

 private:
  template <class M>
  void require_fitted_width(const char* where, const M& x) const {
    if (!fitted()) throw std::invalid_argument(std::string(where) + ": the transform is not fitted (call fit first)");
    detail::require_cols(where, "x", x, quantiles.rows());
  }
};

}  // namespace ldm
