// A table read from (or to be written to) a CSV file: numeric columns as one matrix, and the
// text columns (e.g. class labels) as strings. csv_reader.hpp reads one, columns.hpp picks
// columns of one, csv_writer.hpp writes one.
#pragma once

#include <ldm/core/matrix.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace ldm {

struct TextColumn {
  std::string name;
  std::vector<std::string> values;  // one per row
};

struct CsvTable {
  std::vector<std::string> columns;  // the numeric columns' names, in file order
  Matrix<double> values;             // [rows, columns.size()]
  std::vector<TextColumn> text;      // the CsvOptions::text_columns, in file order

  Eigen::Index rows() const { return values.rows(); }

  // Index of a numeric column; throws std::invalid_argument naming the missing column.
  Eigen::Index column_index(const std::string& name) const {
    for (std::size_t i = 0; i < columns.size(); ++i)
      if (columns[i] == name) return static_cast<Eigen::Index>(i);
    throw std::invalid_argument("CsvTable: no numeric column '" + name + "' (there are " +
                                std::to_string(columns.size()) + ")");
  }

  // The strings of a text column; throws std::invalid_argument if there is none of that name.
  const std::vector<std::string>& text_column(const std::string& name) const {
    for (const TextColumn& t : text)
      if (t.name == name) return t.values;
    throw std::invalid_argument("CsvTable: no text column '" + name + "'");
  }
};

}  // namespace ldm
