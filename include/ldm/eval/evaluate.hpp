// How good is a synthetic sample? evaluate() runs the whole set of metrics (distances.hpp,
// memorization.hpp, c2st.hpp) on data standardised with the reference (training) statistics,
// which standardize_with exposes.
#pragma once

#include <ldm/core/json.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/core/random.hpp>
#include <ldm/eval/c2st.hpp>
#include <ldm/eval/detail/column_scaling.hpp>
#include <ldm/eval/detail/sample_checks.hpp>
#include <ldm/eval/distances.hpp>
#include <ldm/eval/memorization.hpp>

#include <cstddef>
#include <optional>

namespace ldm {

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
// Everything at once.

struct EvaluateOptions {
  bool reference_is_train = true;  // reference = the training rows: run the memorisation check
  bool c2st = false;               // run the (slow) classifier two-sample test
  C2stOptions c2st_options{};
  Key key = make_key(0);     // for the C2ST folds and initialisation
  double mmd_bandwidth = 0;  // 0 = median heuristic on the standardised rows
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EvaluateOptions, reference_is_train, c2st, c2st_options, key,
                                                mmd_bandwidth)

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
