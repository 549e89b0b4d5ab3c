// Pair trends of a mixed table: does each pair of synthetic columns vary together as the real
// pair does? As SDMetrics' ColumnPairTrends property (CorrelationSimilarity for two numeric
// columns, ContingencySimilarity otherwise) and TabSyn's "trend" error (Zhang et al., ICLR 2024).
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/json.hpp>
#include <ldm/data/table.hpp>
#include <ldm/eval/column_shapes.hpp>
#include <ldm/eval/detail/table_columns.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace ldm {

namespace detail {

// The checks of every pair measure: two tables with rows, the same columns, at least one bin.
inline void require_pair_inputs(const char* where, const char* a_name, const Table& a, const char* b_name,
                                const Table& b, int bins) {
  require_table(where, a_name, a, 1);
  require_table(where, b_name, b, 1);
  require_same_columns(where, a_name, a, b_name, b);
  if (bins < 1) throw std::invalid_argument(concat(where, ": bins must be at least 1, got ", bins));
}

}  // namespace detail

struct PairTrend {
  std::string column_a, column_b;  // in schema order
  std::string metric;              // "correlation" (two numeric columns) or "contingency"
  double score = 0;                // 1 = the same trend, 0 = opposite or disjoint
  double real = 0, synth = 0;      // correlation: the two Pearson coefficients; contingency: 0
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PairTrend, column_a, column_b, metric, score, real, synth)

// Per pair of columns a < b, in schema order:
// - both numeric or integer: 1 - |rho_real - rho_synth| / 2, rho the Pearson coefficient over the
//   rows where both cells are present (no such pair of rows or no spread: rho = 0);
// - otherwise: 1 - the total variation distance between the two contingency tables (joint
//   relative frequencies). A categorical cell is its category; a numeric cell its bin among
//   `bins` quantile bins of the REAL column's present values (SDMetrics bins into equal-width
//   histogram bins instead; quantile bins are not emptied by a long tail such as a price); a
//   missing cell is a state of its own in either kind of column.
inline std::vector<PairTrend> pair_trends(const Table& real, const Table& synth, int bins = 10) {
  constexpr const char* where = "ldm::pair_trends";
  detail::require_pair_inputs(where, "real", real, "synth", synth, bins);
  std::vector<detail::ColumnStates> states;
  for (Eigen::Index c = 0; c < real.cols(); ++c) states.push_back(detail::column_states(real, c, bins));

  std::vector<PairTrend> out;
  std::vector<double> ca, cb;
  for (Eigen::Index a = 0; a < real.cols(); ++a)
    for (Eigen::Index b = a + 1; b < real.cols(); ++b) {
      const detail::ColumnStates& sa = states[static_cast<std::size_t>(a)];
      const detail::ColumnStates& sb = states[static_cast<std::size_t>(b)];
      PairTrend p{real.schema.columns[static_cast<std::size_t>(a)].name,
                  real.schema.columns[static_cast<std::size_t>(b)].name,
                  "",
                  0.0,
                  0.0,
                  0.0};
      if (!sa.categorical && !sb.categorical) {
        p.metric = "correlation";
        p.real = detail::pearson_present(real, a, b);
        p.synth = detail::pearson_present(synth, a, b);
        p.score = 1.0 - std::abs(p.real - p.synth) / 2.0;
      } else {
        p.metric = "contingency";
        ca.assign(sa.count * sb.count, 0.0);
        cb.assign(sa.count * sb.count, 0.0);
        for (Eigen::Index r = 0; r < real.rows(); ++r)
          ca[sa.state(real.cells(r, a)) * sb.count + sb.state(real.cells(r, b))] += 1;
        for (Eigen::Index r = 0; r < synth.rows(); ++r)
          cb[sa.state(synth.cells(r, a)) * sb.count + sb.state(synth.cells(r, b))] += 1;
        p.score = 1.0 - total_variation(ca, cb);
      }
      out.push_back(p);
    }
  return out;
}

// TabSyn's trend error in percent: 100 (1 - mean score). 0 for no pairs (a single column).
inline double trend_error(const std::vector<PairTrend>& pairs) {
  if (pairs.empty()) return 0.0;
  double sum = 0;
  for (const PairTrend& p : pairs) sum += p.score;
  return 100.0 * (1.0 - sum / static_cast<double>(pairs.size()));
}

// The same pairs, the lowest score first (ties in schema order): the pairs that differ most.
inline std::vector<PairTrend> worst_first(std::vector<PairTrend> pairs) {
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const PairTrend& a, const PairTrend& b) { return a.score < b.score; });
  return pairs;
}

}  // namespace ldm
