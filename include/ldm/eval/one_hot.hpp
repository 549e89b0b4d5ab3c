// A mixed table as numbers for the distance- and model-based metrics (C2ST, distance to closest
// record, utility): numeric columns standardised with a reference table's statistics, a missing
// numeric cell as 0 plus a missing indicator, categorical columns one-hot (missing one more
// category), as TabSyn and TabDDPM feed mixed rows to their evaluators.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/data/table.hpp>
#include <ldm/eval/detail/table_columns.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace ldm {

struct OneHotEncoding {
  // One column of the table and where its features go.
  struct Part {
    Eigen::Index column = 0;  // in the table
    Eigen::Index offset = 0;  // first feature
    bool categorical = false;
    std::size_t categories = 0;  // categorical: K one-hot features (+1 when `missing`)
    bool missing = false;        // a missing state: an indicator (numeric) or a category (categorical)
    double mean = 0, scale = 1;  // numeric: (x - mean) / scale
  };
  std::vector<Part> parts;
  std::vector<std::string> names;  // one per feature: "col", "col=text", "col=missing"
  Eigen::Index width = 0;          // number of features
  std::size_t columns = 0;         // width of the tables it encodes
};

// The encoding of reference's columns (all but `exclude`, when that is a column index): means
// and population standard deviations of the present numeric values of `reference` (no spread or
// no value: scale 1, mean 0 when none); a missing state for every column whose schema in
// `reference` says it has missing cells or that has a missing cell in reference or `others`.
inline OneHotEncoding fit_one_hot_encoding(const Table& reference, const std::vector<const Table*>& others = {},
                                           Eigen::Index exclude = -1) {
  constexpr const char* where = "ldm::fit_one_hot_encoding";
  detail::require_table(where, "reference", reference, 0);
  for (const Table* t : others) {
    detail::require_table(where, "a table to encode", *t, 0);
    detail::require_same_columns(where, "reference", reference, "a table to encode", *t);
  }
  OneHotEncoding e;
  e.columns = reference.schema.size();
  for (Eigen::Index c = 0; c < reference.cols(); ++c) {
    if (c == exclude) continue;
    const Column& column = reference.schema.columns[static_cast<std::size_t>(c)];
    OneHotEncoding::Part p;
    p.column = c;
    p.offset = e.width;
    p.categorical = column.is_categorical();
    p.categories = column.categories.size();
    p.missing = column.has_missing || detail::column_has_missing(reference, c);
    for (const Table* t : others) p.missing = p.missing || detail::column_has_missing(*t, c);
    if (p.categorical) {
      for (const std::string& text : column.categories) e.names.push_back(column.name + "=" + text);
    } else {
      const std::vector<double> v = detail::present_values(reference, c);
      if (!v.empty()) {
        const Eigen::Map<const Eigen::ArrayXd> a(v.data(), static_cast<Eigen::Index>(v.size()));
        p.mean = a.mean();
        const double sd = std::sqrt((a - p.mean).square().mean());
        p.scale = sd > 0.0 && std::isfinite(sd) ? sd : 1.0;
      }
      e.names.push_back(column.name);
    }
    if (p.missing) e.names.push_back(column.name + "=missing");
    e.width += static_cast<Eigen::Index>(e.names.size()) - p.offset;
    e.parts.push_back(p);
  }
  return e;
}

// The rows of t as features (t.rows(), e.width). t must have the columns e was fitted on; a
// missing cell in a column without a missing state is refused (fit with t among `others`).
inline Matrix<double> encode(const OneHotEncoding& e, const Table& t) {
  constexpr const char* where = "ldm::encode";
  detail::require_table(where, "the table", t, 0);
  if (t.schema.size() != e.columns)
    throw std::invalid_argument(
        detail::concat(where, ": the table has ", t.schema.size(), " columns, the encoding ", e.columns));
  Matrix<double> x = Matrix<double>::Zero(t.rows(), e.width);
  for (const OneHotEncoding::Part& p : e.parts)
    for (Eigen::Index r = 0; r < t.rows(); ++r) {
      const double v = t.cells(r, p.column);
      if (Table::is_missing(v)) {
        if (!p.missing)
          throw std::invalid_argument(detail::concat(
              where, ": column '", t.schema.columns[static_cast<std::size_t>(p.column)].name, "', row ", r,
              ": a missing cell, but the encoding has no "
              "missing state for it"));
        x(r, p.offset + (p.categorical ? static_cast<Eigen::Index>(p.categories) : 1)) = 1.0;
      } else if (p.categorical) {
        x(r, p.offset + static_cast<Eigen::Index>(v)) = 1.0;
      } else {
        x(r, p.offset) = (v - p.mean) / p.scale;
      }
    }
  return x;
}

}  // namespace ldm
