// Internal: the input checks every eval function shares. A sample is a Matrix<double> with one
// row per sample (callers convert with .cast<double>()); empty, too short, non-finite or
// differently wide inputs are refused with std::invalid_argument naming the function.
#pragma once

#include <ldm/core/checks.hpp>

#include <Eigen/Core>

#include <stdexcept>

namespace ldm::detail {

// A sample: at least one column, at least min_rows rows, every value finite.
inline void require_sample(const char* where, const char* what, const Matrix<double>& m, Eigen::Index min_rows) {
  if (m.cols() < 1)
    throw std::invalid_argument(
        concat(where, ": ", what, " must have at least 1 column, got ", m.rows(), "x", m.cols()));
  if (m.rows() < min_rows)
    throw std::invalid_argument(
        concat(where, ": ", what, " must have at least ", min_rows, " rows, got ", m.rows(), "x", m.cols()));
  require_finite(where, what, m);
}

// b must be as wide as a.
inline void require_same_cols(const char* where, const char* a_name, const Matrix<double>& a, const char* b_name,
                              const Matrix<double>& b) {
  if (a.cols() != b.cols())
    throw std::invalid_argument(concat(where, ": ", b_name, " must have ", a.cols(), " columns (as ", a_name, "), got ",
                                       b.rows(), "x", b.cols()));
}

// Whether every value of column c equals its first: such a column has no spread and no
// correlation, and is scaled by 1 (column_scaling, correlation_matrix).
inline bool is_constant_column(const Matrix<double>& m, Eigen::Index c) { return (m.col(c).array() == m(0, c)).all(); }

}  // namespace ldm::detail
