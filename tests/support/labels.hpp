// Test helpers for integer vectors: timesteps and class labels written out, and labels that
// cycle through the classes.
#pragma once

#include <Eigen/Core>

#include <initializer_list>

namespace ldm_test {

// The values as an Eigen::VectorXi: ints({0, 3, 1}).
inline Eigen::VectorXi ints(std::initializer_list<int> values) {
  Eigen::VectorXi v(static_cast<Eigen::Index>(values.size()));
  Eigen::Index i = 0;
  for (int x : values) v(i++) = x;
  return v;
}

// n labels 0, 1, ..., classes - 1, 0, 1, ...: row i has label i % classes.
inline Eigen::VectorXi cyclic_labels(Eigen::Index n, int classes) {
  Eigen::VectorXi v(n);
  for (Eigen::Index i = 0; i < n; ++i) v(i) = static_cast<int>(i % classes);
  return v;
}

}  // namespace ldm_test
