// Internal: the per-column pieces the mixed-table metrics share: input checks on Tables, the
// present values and missing share of a column, Pearson on rows where both cells are present,
// and a column turned into discrete states (a category code, a quantile bin, or "missing").
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/data/schema.hpp>
#include <ldm/data/table.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace ldm::detail {

// A table the metrics can read: as wide as its schema, categorical codes whole and in [0, K),
// no infinite value. Missing cells are allowed in any column: a held-out or synthetic table may
// have gaps where the training file had none, and the metrics count them.
inline void require_table(const char* where, const char* what, const Table& t, Eigen::Index min_rows) {
  if (t.cells.cols() != static_cast<Eigen::Index>(t.schema.size()))
    throw std::invalid_argument(
        concat(where, ": ", what, " has ", t.cells.cols(), " columns but its schema ", t.schema.size()));
  if (t.cells.cols() < 1) throw std::invalid_argument(concat(where, ": ", what, " has no columns"));
  if (t.rows() < min_rows)
    throw std::invalid_argument(concat(where, ": ", what, " must have at least ", min_rows, " rows, got ", t.rows()));
  for (Eigen::Index c = 0; c < t.cols(); ++c) {
    const Column& column = t.schema.columns[static_cast<std::size_t>(c)];
    const auto k = static_cast<double>(column.categories.size());
    for (Eigen::Index r = 0; r < t.rows(); ++r) {
      const double v = t.cells(r, c);
      if (Table::is_missing(v)) continue;
      if (std::isinf(v))
        throw std::invalid_argument(concat(where, ": ", what, ", column '", column.name, "', row ", r, ": infinite"));
      if (column.is_categorical() && (v < 0 || v >= k || v != std::floor(v)))
        throw std::invalid_argument(concat(where, ": ", what, ", column '", column.name, "', row ", r, ": code ", v,
                                           " is not one of its ", column.categories.size(), " categories"));
    }
  }
}

// b's columns must mean what a's mean: the same names, types (integer counts as numeric) and
// categories in the same order. Ranges, decimals and missing flags may differ.
inline void require_same_columns(const char* where, const char* a_name, const Table& a, const char* b_name,
                                 const Table& b) {
  const auto& ca = a.schema.columns;
  const auto& cb = b.schema.columns;
  if (ca.size() != cb.size())
    throw std::invalid_argument(
        concat(where, ": the schemas differ: ", a_name, " has ", ca.size(), " columns, ", b_name, " ", cb.size()));
  for (std::size_t c = 0; c < ca.size(); ++c) {
    const auto differ = [&](const std::string& what) {
      return std::invalid_argument(
          concat(where, ": the schemas differ at column ", c, " ('", ca[c].name, "' in ", a_name, "): ", what));
    };
    if (ca[c].name != cb[c].name) throw differ(concat(b_name, " names it '", cb[c].name, "'"));
    if (ca[c].is_categorical() != cb[c].is_categorical())
      throw differ(concat(ca[c].is_categorical() ? "categorical" : "numeric", " in ", a_name, ", ",
                          cb[c].is_categorical() ? "categorical" : "numeric", " in ", b_name));
    if (ca[c].categories != cb[c].categories) throw differ(concat("its categories differ in ", b_name));
  }
}

// The present (non-missing) cells of column c.
inline std::vector<double> present_values(const Table& t, Eigen::Index c) {
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(t.rows()));
  for (Eigen::Index r = 0; r < t.rows(); ++r)
    if (!Table::is_missing(t.cells(r, c))) out.push_back(t.cells(r, c));
  return out;
}

// Share of the rows whose cell in column c is missing; 0 for an empty table.
inline double missing_share(const Table& t, Eigen::Index c) {
  if (t.rows() == 0) return 0.0;
  return static_cast<double>(t.cells.col(c).array().isNaN().count()) / static_cast<double>(t.rows());
}

inline bool column_has_missing(const Table& t, Eigen::Index c) { return t.cells.col(c).array().isNaN().any(); }

// Pearson correlation of columns a and b over the rows where both are present. Fewer than two
// such rows, or no spread in either column there, has no correlation: 0 (as correlation_matrix
// treats constant columns).
inline double pearson_present(const Table& t, Eigen::Index a, Eigen::Index b) {
  double n = 0, ma = 0, mb = 0;
  for (Eigen::Index r = 0; r < t.rows(); ++r)
    if (!Table::is_missing(t.cells(r, a)) && !Table::is_missing(t.cells(r, b))) {
      n += 1;
      ma += t.cells(r, a);
      mb += t.cells(r, b);
    }
  if (n < 2) return 0.0;
  ma /= n;
  mb /= n;
  double saa = 0, sbb = 0, sab = 0;  // centred in a second pass, for accuracy
  for (Eigen::Index r = 0; r < t.rows(); ++r)
    if (!Table::is_missing(t.cells(r, a)) && !Table::is_missing(t.cells(r, b))) {
      const double da = t.cells(r, a) - ma, db = t.cells(r, b) - mb;
      saa += da * da;
      sbb += db * db;
      sab += da * db;
    }
  if (!(saa > 0.0) || !(sbb > 0.0)) return 0.0;
  return std::clamp(sab / std::sqrt(saa * sbb), -1.0, 1.0);
}

// The inner edges of `bins` quantile bins of the sorted values: the quantiles at k / bins,
// k = 1..bins-1, by linear interpolation between order statistics (numpy's default), with
// repeated edges dropped (a column with few distinct values gets fewer bins).
inline std::vector<double> quantile_edges(std::vector<double> values, int bins) {
  std::vector<double> edges;
  if (values.empty()) return edges;
  std::sort(values.begin(), values.end());
  const double last = static_cast<double>(values.size() - 1);
  for (int k = 1; k < bins; ++k) {
    const double pos = last * k / bins;
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, values.size() - 1);
    const double edge = values[lo] + (pos - static_cast<double>(lo)) * (values[hi] - values[lo]);
    if (edges.empty() || edge > edges.back()) edges.push_back(edge);
  }
  return edges;
}

// A column as discrete states: a categorical cell is its code (0..K-1); a numeric cell the
// number of edges at or below it (0..edges.size()); a missing cell the state after those.
struct ColumnStates {
  bool categorical = false;
  std::vector<double> edges;  // numeric only
  std::size_t count = 0;      // number of states, the missing one included

  std::size_t state(double cell) const {
    if (Table::is_missing(cell)) return count - 1;
    if (categorical) return static_cast<std::size_t>(cell);
    return static_cast<std::size_t>(std::upper_bound(edges.begin(), edges.end(), cell) - edges.begin());
  }
};

// The states of column c, numeric bins from the reference table's present values.
inline ColumnStates column_states(const Table& reference, Eigen::Index c, int bins) {
  const Column& column = reference.schema.columns[static_cast<std::size_t>(c)];
  ColumnStates s;
  s.categorical = column.is_categorical();
  if (s.categorical) {
    s.count = column.categories.size() + 1;
  } else {
    s.edges = quantile_edges(present_values(reference, c), bins);
    s.count = s.edges.size() + 2;
  }
  return s;
}

}  // namespace ldm::detail
