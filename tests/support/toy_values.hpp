// Test helpers for the optimizer tests (Adam, EMA, gradient clipping): toy models of a given
// shape, every entry filled by its index, and reproducible parameter and gradient values.
#pragma once

#include <ldm/core/matrix.hpp>

#include "support/toy_model.hpp"

#include <cmath>
#include <map>
#include <string>
#include <type_traits>

namespace ldm_test {

// A toy model of rows x cols weights and rows biases, uninitialized.
template <class S>
Toy<S> make_toy(Eigen::Index rows, Eigen::Index cols) {
  return Toy<S>(rows, cols);
}

// Fills every entry k (weight entries first, row-major, then bias) with value(k).
template <class Model, class Fn>
void fill(Model& model, Fn value) {
  long k = 0;
  model.visit([&](const std::string&, auto& p) {
    for (Eigen::Index i = 0; i < p.size(); ++i)
      p.data()[i] = static_cast<typename std::remove_reference_t<decltype(p)>::Scalar>(value(k++));
  });
}

// Gradients of very different magnitudes and both signs, a different set each step t.
inline double toy_grad(int t, long k) {
  const double scale = k % 3 == 0 ? 10.0 : (k % 3 == 1 ? 0.01 : 1.0);
  return scale * std::sin(1.3 * static_cast<double>(k) + 0.7 * t + 0.2);
}
inline double toy_param(long k) { return 0.5 - 0.25 * static_cast<double>(k) + 0.01 * k * k; }

// A copy of named state tensors, as a checkpoint would hold them.
using Saved = std::map<std::string, Eigen::MatrixXd>;

}  // namespace ldm_test
