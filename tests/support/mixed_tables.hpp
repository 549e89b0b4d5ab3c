// Test helpers for mixed tables: columns and tables written out by hand, NaN for a missing cell.
#pragma once

#include <ldm/core/matrix.hpp>
#include <ldm/data/schema.hpp>
#include <ldm/data/table.hpp>

#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace ldm_test {

inline constexpr double NA = std::numeric_limits<double>::quiet_NaN();

inline ldm::Column numeric_column(std::string name, bool has_missing = false,
                                  ldm::ColumnType type = ldm::ColumnType::numeric) {
  ldm::Column c;
  c.name = std::move(name);
  c.type = type;
  c.has_missing = has_missing;
  return c;
}

// A numeric column with its range and decimals, as read_table would describe it.
inline ldm::Column numeric_column(std::string name, double min, double max, int decimals, bool has_missing = false,
                                  ldm::ColumnType type = ldm::ColumnType::numeric) {
  ldm::Column c = numeric_column(std::move(name), has_missing, type);
  c.min = min;
  c.max = max;
  c.decimals = decimals;
  return c;
}

inline ldm::Column categorical_column(std::string name, std::vector<std::string> categories, bool has_missing = false,
                                      std::string missing_text = "") {
  ldm::Column c;
  c.name = std::move(name);
  c.type = ldm::ColumnType::categorical;
  c.categories = std::move(categories);
  c.has_missing = has_missing;
  c.missing_text = std::move(missing_text);
  return c;
}

inline ldm::Table make_table(std::vector<ldm::Column> columns, ldm::Matrix<double> cells) {
  return ldm::Table{ldm::Schema{std::move(columns)}, std::move(cells)};
}

// Whether two tables hold the same cells, NaN equal to NaN.
inline bool same_cells(const ldm::Table& a, const ldm::Table& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  for (Eigen::Index r = 0; r < a.rows(); ++r)
    for (Eigen::Index c = 0; c < a.cols(); ++c) {
      const double x = a.cells(r, c), y = b.cells(r, c);
      if (!(x == y || (x != x && y != y))) return false;
    }
  return true;
}

}  // namespace ldm_test
