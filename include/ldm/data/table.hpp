// A table of mixed columns in memory: the schema and one double per cell. A numeric or integer
// cell holds its value, a categorical cell the code of its category (an index into
// Column::categories), and a missing cell NaN. One dense matrix serves every column type, so
// rows are gathered, split and compared the same way whatever the columns hold.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/data/schema.hpp>

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

namespace ldm {

struct Table {
  Schema schema;
  Matrix<double> cells;  // (rows, schema.size())

  Eigen::Index rows() const { return cells.rows(); }
  Eigen::Index cols() const { return cells.cols(); }
  static bool is_missing(double cell) { return std::isnan(cell); }
};

// Throws std::invalid_argument naming the first cell that does not fit the schema: a width
// other than the schema's, a category code outside [0, K) or not whole, an infinite value, or a
// missing cell in a column whose schema says it has none.
inline void validate(const Table& t, const char* where = "Table") {
  if (t.cells.cols() != static_cast<Eigen::Index>(t.schema.size()))
    throw std::invalid_argument(
        detail::concat(where, ": the table has ", t.cells.cols(), " columns but its schema ", t.schema.size()));
  for (Eigen::Index c = 0; c < t.cells.cols(); ++c) {
    const Column& column = t.schema.columns[static_cast<std::size_t>(c)];
    const auto categories = static_cast<double>(column.categories.size());
    for (Eigen::Index r = 0; r < t.cells.rows(); ++r) {
      const double v = t.cells(r, c);
      const auto bad = [&](const char* what) {
        return std::invalid_argument(detail::concat(where, ": column '", column.name, "', row ", r, ": ", what));
      };
      if (Table::is_missing(v)) {
        if (!column.has_missing) throw bad("a missing cell, but the schema says the column has none");
      } else if (std::isinf(v)) {
        throw bad("an infinite value");
      } else if (column.is_categorical() && (v < 0 || v >= categories || v != std::floor(v))) {
        throw std::invalid_argument(detail::concat(where, ": column '", column.name, "', row ", r, ": code ", v,
                                                   " is not one of its ", column.categories.size(), " categories"));
      }
    }
  }
}

// The table without column `index` (e.g. a class column that is not a feature).
inline Table without_column(const Table& t, std::size_t index) {
  if (index >= t.schema.size())
    throw std::invalid_argument(
        detail::concat("without_column: index ", index, " is outside the table's ", t.schema.size(), " columns"));
  Table out;
  out.schema = t.schema;
  out.schema.columns.erase(out.schema.columns.begin() + static_cast<std::ptrdiff_t>(index));
  const auto c = static_cast<Eigen::Index>(index);
  out.cells.resize(t.rows(), t.cols() - 1);
  out.cells.leftCols(c) = t.cells.leftCols(c);
  out.cells.rightCols(t.cols() - c - 1) = t.cells.rightCols(t.cols() - c - 1);
  return out;
}

// The table with `column` inserted at `index` (0 .. cols), its cells from `cells` (one per row).
inline Table with_column(const Table& t, std::size_t index, Column column, const Eigen::VectorXd& cells) {
  if (index > t.schema.size())
    throw std::invalid_argument(detail::concat("with_column: index ", index, " is outside [0, ", t.schema.size(), "]"));
  if (cells.size() != t.rows())
    throw std::invalid_argument(
        detail::concat("with_column: ", cells.size(), " cells for a table of ", t.rows(), " rows"));
  Table out;
  out.schema = t.schema;
  out.schema.columns.insert(out.schema.columns.begin() + static_cast<std::ptrdiff_t>(index), std::move(column));
  const auto c = static_cast<Eigen::Index>(index);
  out.cells.resize(t.rows(), t.cols() + 1);
  out.cells.leftCols(c) = t.cells.leftCols(c);
  out.cells.col(c) = cells;
  out.cells.rightCols(t.cols() - c) = t.cells.rightCols(t.cols() - c);
  return out;
}

}  // namespace ldm
