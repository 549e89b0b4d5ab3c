// The batch and parameter types, and the shape checks every public function uses.
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

namespace ldm {

// A batch is [batch, features], one row per sample. Row-major matches CSV, safetensors and
// PyTorch, so a weight [out, in] and a batch are both read straight from a file.
template <class S = float>
using Matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A bias or a per-feature vector, [n].
template <class S = float>
using Vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;

namespace detail {

template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// Throws std::invalid_argument "<where>: <what> must have <n> columns, got <m>".
template <class M>
void require_cols(const char* where, const char* what, const M& m, Eigen::Index cols) {
  if (m.cols() != cols)
    throw std::invalid_argument(concat(where, ": ", what, " must have ", cols, " columns, got ",
                                       m.rows(), "x", m.cols()));
}

template <class A, class B>
void require_same_shape(const char* where, const char* a_name, const A& a, const char* b_name,
                        const B& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols())
    throw std::invalid_argument(concat(where, ": ", a_name, " is ", a.rows(), "x", a.cols(),
                                       " but ", b_name, " is ", b.rows(), "x", b.cols()));
}

inline void require_positive(const char* where, const char* what, long long value) {
  if (value <= 0)
    throw std::invalid_argument(concat(where, ": ", what, " must be positive, got ", value));
}

// NaN or Inf in a model's input is refused rather than propagated: it names the first bad entry.
template <class M>
void require_finite(const char* where, const char* what, const M& m) {
  for (Eigen::Index r = 0; r < m.rows(); ++r)
    for (Eigen::Index c = 0; c < m.cols(); ++c)
      if (!std::isfinite(static_cast<double>(m(r, c))))
        throw std::invalid_argument(concat(where, ": ", what, " has a non-finite value (",
                                           m(r, c), ") at row ", r, ", column ", c));
}

}  // namespace detail
}  // namespace ldm
