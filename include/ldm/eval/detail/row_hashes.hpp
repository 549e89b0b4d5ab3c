// Internal: rows compared and hashed cell by cell, for counting exact copies in O(n log n)
// instead of comparing every pair. Two cells are the same when they are equal (so -0.0 is 0.0)
// or both NaN (a missing cell equals a missing cell).
#pragma once

#include <ldm/core/matrix.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace ldm::detail {

inline bool same_cell(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

inline bool same_row(const Matrix<double>& a, Eigen::Index i, const Matrix<double>& b, Eigen::Index j) {
  for (Eigen::Index c = 0; c < a.cols(); ++c)
    if (!same_cell(a(i, c), b(j, c))) return false;
  return true;
}

// A hash that agrees with same_row: every NaN and both zeros hash alike. Each cell's bits go
// through the splitmix64 finaliser (Steele, Lea & Flood 2014), chained.
inline std::uint64_t hash_row(const Matrix<double>& m, Eigen::Index r) {
  std::uint64_t h = 0x9e3779b97f4a7c15u;
  for (Eigen::Index c = 0; c < m.cols(); ++c) {
    const double v = m(r, c);
    std::uint64_t x = h ^ (std::isnan(v) ? 0x7ff8000000000000u : v == 0.0 ? 0u : std::bit_cast<std::uint64_t>(v));
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    h = x ^ (x >> 31);
  }
  return h;
}

// The rows of m as (hash, row) sorted, so equal_range finds the candidates for a row.
inline std::vector<std::pair<std::uint64_t, Eigen::Index>> sorted_row_hashes(const Matrix<double>& m) {
  std::vector<std::pair<std::uint64_t, Eigen::Index>> out(static_cast<std::size_t>(m.rows()));
  for (Eigen::Index r = 0; r < m.rows(); ++r) out[static_cast<std::size_t>(r)] = {hash_row(m, r), r};
  std::sort(out.begin(), out.end());
  return out;
}

// Whether row i of a equals some row of b, given b's sorted_row_hashes.
inline bool has_equal_row(const Matrix<double>& a, Eigen::Index i, const Matrix<double>& b,
                          const std::vector<std::pair<std::uint64_t, Eigen::Index>>& b_hashes) {
  const std::uint64_t h = hash_row(a, i);
  auto it = std::lower_bound(b_hashes.begin(), b_hashes.end(), std::pair<std::uint64_t, Eigen::Index>{h, 0});
  for (; it != b_hashes.end() && it->first == h; ++it)
    if (same_row(a, i, b, it->second)) return true;
  return false;
}

}  // namespace ldm::detail
