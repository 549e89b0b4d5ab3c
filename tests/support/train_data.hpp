// Test helpers for the trainer tests: data a small VAE learns easily, and the mean of a stretch
// of a loss curve.
#pragma once

#include <ldm/core/matrix.hpp>
#include <ldm/core/random.hpp>

#include <cstddef>
#include <numeric>
#include <vector>

namespace ldm_test {

// 400 rows in 8 columns that lie near a 2-D plane: easy for a VAE with a 2-D latent.
inline ldm::Matrix<double> plane_data(ldm::Key key, Eigen::Index rows = 400) {
  const auto [coords, k1] = ldm::normal<double>(key, rows, 2);
  const auto [basis, k2] = ldm::normal<double>(k1, 2, 8);
  const auto [noise, k3] = ldm::normal<double>(k2, rows, 8);
  return coords * basis + 0.05 * noise;
}

// The mean of v[first, first + count).
inline double mean_of(const std::vector<double>& v, std::size_t first, std::size_t count) {
  return std::accumulate(v.begin() + static_cast<long>(first), v.begin() + static_cast<long>(first + count), 0.0) /
         static_cast<double>(count);
}

}  // namespace ldm_test
