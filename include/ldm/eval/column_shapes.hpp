// Column shapes of a mixed table: does each column of the synthetic table have the real
// column's distribution? As SDMetrics' ColumnShapes property (KSComplement for numeric columns,
// TVComplement for categorical ones) and TabSyn's "shape" error (Zhang et al., ICLR 2024). Also
// the missing-rate error, which the shapes of numeric columns do not see.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/json.hpp>
#include <ldm/data/table.hpp>
#include <ldm/eval/detail/table_columns.hpp>
#include <ldm/eval/distances.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace ldm {

struct ColumnShape {
  std::string column;
  std::string metric;                          // "ks" (numeric, integer) or "tvd" (categorical)
  double score = 0;                            // 1 - statistic: 1 = the same distribution, 0 = disjoint
  double missing_real = 0, missing_synth = 0;  // shares of missing cells
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ColumnShape, column, metric, score, missing_real, missing_synth)

// Total variation distance 1/2 sum_k |p_k - q_k| between the relative frequencies of two
// count vectors of the same length (SDMetrics TVComplement is 1 minus this). Two empty
// vectors are at distance 0.
inline double total_variation(const std::vector<double>& counts_a, const std::vector<double>& counts_b) {
  double na = 0, nb = 0;
  for (double v : counts_a) na += v;
  for (double v : counts_b) nb += v;
  if (na == 0 && nb == 0) return 0.0;
  if (na == 0 || nb == 0) return 1.0;
  double sum = 0;
  for (std::size_t k = 0; k < counts_a.size(); ++k) sum += std::abs(counts_a[k] / na - counts_b[k] / nb);
  return 0.5 * sum;
}

// Per column, in schema order:
// - numeric and integer: 1 - the two-sample Kolmogorov-Smirnov statistic of the present values
//   (SDMetrics KSComplement drops missing values too; the missing-rate error counts them). A
//   column missing everywhere in both tables scores 1, in only one of them 0;
// - categorical: 1 - total variation distance of the category frequencies, missing cells being
//   one more category (SDMetrics TVComplement counts NaN as a value).
inline std::vector<ColumnShape> column_shapes(const Table& real, const Table& synth) {
  constexpr const char* where = "ldm::column_shapes";
  detail::require_table(where, "real", real, 1);
  detail::require_table(where, "synth", synth, 1);
  detail::require_same_columns(where, "real", real, "synth", synth);
  std::vector<ColumnShape> out;
  for (Eigen::Index c = 0; c < real.cols(); ++c) {
    const Column& column = real.schema.columns[static_cast<std::size_t>(c)];
    ColumnShape s{column.name, column.is_categorical() ? "tvd" : "ks", 0.0, detail::missing_share(real, c),
                  detail::missing_share(synth, c)};
    if (column.is_categorical()) {
      const detail::ColumnStates states = detail::column_states(real, c, 1);
      std::vector<double> a(states.count, 0.0), b(states.count, 0.0);
      for (Eigen::Index r = 0; r < real.rows(); ++r) a[states.state(real.cells(r, c))] += 1;
      for (Eigen::Index r = 0; r < synth.rows(); ++r) b[states.state(synth.cells(r, c))] += 1;
      s.score = 1.0 - total_variation(a, b);
    } else {
      const std::vector<double> a = detail::present_values(real, c), b = detail::present_values(synth, c);
      if (a.empty() || b.empty())
        s.score = a.empty() && b.empty() ? 1.0 : 0.0;
      else
        s.score = 1.0 - ks_statistic(Eigen::Map<const Vector<double>>(a.data(), static_cast<Eigen::Index>(a.size())),
                                     Eigen::Map<const Vector<double>>(b.data(), static_cast<Eigen::Index>(b.size())));
    }
    out.push_back(s);
  }
  return out;
}

// TabSyn's shape error in percent: 100 (1 - mean score). 0 for no columns.
inline double shape_error(const std::vector<ColumnShape>& shapes) {
  if (shapes.empty()) return 0.0;
  double sum = 0;
  for (const ColumnShape& s : shapes) sum += s.score;
  return 100.0 * (1.0 - sum / static_cast<double>(shapes.size()));
}

// Mean over columns of |missing share in real - missing share in synth|, in [0, 1].
inline double missing_rate_error(const std::vector<ColumnShape>& shapes) {
  if (shapes.empty()) return 0.0;
  double sum = 0;
  for (const ColumnShape& s : shapes) sum += std::abs(s.missing_real - s.missing_synth);
  return sum / static_cast<double>(shapes.size());
}

// The same shapes, the lowest score first (ties in schema order): the columns that differ most.
inline std::vector<ColumnShape> worst_first(std::vector<ColumnShape> shapes) {
  std::stable_sort(shapes.begin(), shapes.end(),
                   [](const ColumnShape& a, const ColumnShape& b) { return a.score < b.score; });
  return shapes;
}

}  // namespace ldm
