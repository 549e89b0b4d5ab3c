// Internal: a random permutation drawn from a key, for the C2ST folds and epochs.
#pragma once

#include <ldm/core/random.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <vector>

namespace ldm::detail {

// A permutation of 0..n-1 drawn from key: indices sorted by random_bits(key, n), ties by index.
inline std::vector<Eigen::Index> permutation(Key key, std::size_t n) {
  const Bits bits = random_bits(key, n);
  std::vector<Eigen::Index> order(n);
  std::iota(order.begin(), order.end(), Eigen::Index{0});
  std::sort(order.begin(), order.end(), [&](Eigen::Index x, Eigen::Index y) {
    const auto bx = bits.values[static_cast<std::size_t>(x)];
    const auto by = bits.values[static_cast<std::size_t>(y)];
    return bx != by ? bx < by : x < y;
  });
  return order;
}

}  // namespace ldm::detail
