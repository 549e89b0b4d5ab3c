// The checks every public function makes of its arguments: shapes, signs, finite values.
// Each throws std::invalid_argument naming the function, the argument, what was expected and
// what it got.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/matrix.hpp>

#include <Eigen/Core>

#include <cmath>
#include <stdexcept>
#include <string>

namespace ldm {

namespace detail {

// Throws std::invalid_argument "<where>: <what> must have <n> columns, got <m>".
template <class M>
void require_cols(const char* where, const char* what, const M& m, Eigen::Index cols) {
  if (m.cols() != cols)
    throw std::invalid_argument(
        concat(where, ": ", what, " must have ", cols, " columns, got ", m.rows(), "x", m.cols()));
}

template <class A, class B>
void require_same_shape(const char* where, const char* a_name, const A& a, const char* b_name, const B& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols())
    throw std::invalid_argument(
        concat(where, ": ", a_name, " is ", a.rows(), "x", a.cols(), " but ", b_name, " is ", b.rows(), "x", b.cols()));
}

inline void require_positive(const char* where, const char* what, long long value) {
  if (value <= 0) throw std::invalid_argument(concat(where, ": ", what, " must be positive, got ", value));
}

// NaN or Inf in a model's input is refused rather than propagated: it names the first bad entry.
template <class M>
void require_finite(const char* where, const char* what, const M& m) {
  for (Eigen::Index r = 0; r < m.rows(); ++r)
    for (Eigen::Index c = 0; c < m.cols(); ++c)
      if (!std::isfinite(static_cast<double>(m(r, c))))
        throw std::invalid_argument(
            concat(where, ": ", what, " has a non-finite value (", m(r, c), ") at row ", r, ", column ", c));
}

// Throws "<where>: <what> <name> is RxC but <ref_what> is RxC". The message is built only on a
// mismatch, so the check costs no allocation on the hot path.
template <class A, class B>
void require_same_param_shape(const char* where, const char* what, const std::string& name, const A& a,
                              const char* ref_what, const B& ref) {
  if (a.rows() != ref.rows() || a.cols() != ref.cols())
    throw std::invalid_argument(concat(where, ": ", what, " ", name, " is ", a.rows(), "x", a.cols(), " but ", ref_what,
                                       " is ", ref.rows(), "x", ref.cols()));
}

// The comparisons are written so that NaN fails them too.
inline void require_at_least(const char* where, const char* what, double value, double low) {
  if (!(value >= low)) throw std::invalid_argument(concat(where, ": ", what, " must be >= ", low, ", got ", value));
}

inline void require_in_unit_interval(const char* where, const char* what, double value, bool include_one) {
  if (!(value >= 0.0 && (include_one ? value <= 1.0 : value < 1.0)))
    throw std::invalid_argument(
        concat(where, ": ", what, " must be in [0, 1", include_one ? "]" : ")", ", got ", value));
}

}  // namespace detail
}  // namespace ldm
