// Picking the numeric columns of a CsvTable by name or by index: select_columns keeps the given
// ones in the given order, drop_columns keeps all the others in file order. Text columns are
// always kept.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/data/csv_table.hpp>

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace ldm {

namespace detail {

// Throws std::invalid_argument "<who>: index <c> is outside [0, <columns>)".
inline void check_column_index(const char* who, const CsvTable& table, Eigen::Index c) {
  if (c < 0 || c >= static_cast<Eigen::Index>(table.columns.size()))
    throw std::invalid_argument(concat(who, ": index ", c, " is outside [0, ", table.columns.size(), ")"));
}

// The indices of the named numeric columns; throws std::invalid_argument "<who>: no numeric
// column '<name>'" for a name that is not one.
inline std::vector<Eigen::Index> column_indices(const char* who, const CsvTable& table,
                                                const std::vector<std::string>& names) {
  std::vector<Eigen::Index> indices;
  for (const std::string& name : names) {
    try {
      indices.push_back(table.column_index(name));
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument(std::string(who) + ": no numeric column '" + name + "'");
    }
  }
  return indices;
}

}  // namespace detail

// The numeric columns of the given indices, in the given order; text columns are kept.
// Throws std::invalid_argument for an index out of range.
inline CsvTable select_columns(const CsvTable& table, const std::vector<Eigen::Index>& indices) {
  CsvTable out;
  out.text = table.text;
  out.values.resize(table.values.rows(), static_cast<Eigen::Index>(indices.size()));
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const Eigen::Index c = indices[k];
    detail::check_column_index("select_columns", table, c);
    out.columns.push_back(table.columns[static_cast<std::size_t>(c)]);
    out.values.col(static_cast<Eigen::Index>(k)) = table.values.col(c);
  }
  return out;
}

// The numeric columns of the given names, in the given order.
inline CsvTable select_columns(const CsvTable& table, const std::vector<std::string>& names) {
  return select_columns(table, detail::column_indices("select_columns", table, names));
}

// Every numeric column except the given indices (e.g. a label), in file order.
inline CsvTable drop_columns(const CsvTable& table, const std::vector<Eigen::Index>& indices) {
  std::vector<bool> dropped(table.columns.size(), false);
  for (const Eigen::Index c : indices) {
    detail::check_column_index("drop_columns", table, c);
    dropped[static_cast<std::size_t>(c)] = true;
  }
  std::vector<Eigen::Index> kept;
  for (std::size_t c = 0; c < dropped.size(); ++c)
    if (!dropped[c]) kept.push_back(static_cast<Eigen::Index>(c));
  return select_columns(table, kept);
}

// Every numeric column except the given names. Throws std::invalid_argument for an unknown name.
inline CsvTable drop_columns(const CsvTable& table, const std::vector<std::string>& names) {
  return drop_columns(table, detail::column_indices("drop_columns", table, names));
}

// Brace lists, e.g. drop_columns(table, {"label"}) or drop_columns(table, {64}): these
// initializer_list overloads win over the vector ones, which a brace list alone would make
// ambiguous (vector's iterator-pair and size constructors).
inline CsvTable select_columns(const CsvTable& table, std::initializer_list<std::string> names) {
  return select_columns(table, std::vector<std::string>(names));
}
inline CsvTable select_columns(const CsvTable& table, std::initializer_list<Eigen::Index> indices) {
  return select_columns(table, std::vector<Eigen::Index>(indices));
}
inline CsvTable drop_columns(const CsvTable& table, std::initializer_list<std::string> names) {
  return drop_columns(table, std::vector<std::string>(names));
}
inline CsvTable drop_columns(const CsvTable& table, std::initializer_list<Eigen::Index> indices) {
  return drop_columns(table, std::vector<Eigen::Index>(indices));
}

}  // namespace ldm
