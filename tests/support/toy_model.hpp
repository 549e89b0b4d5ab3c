// A model that follows the visiting convention of core/visit.hpp and nothing else: one weight
// [out, in] named "toy.weight" and one bias [out] named "toy.bias", in that order.
#pragma once

#include <ldm/core/matrix.hpp>
#include <ldm/core/visit.hpp>

#include <string>

namespace ldm_test {

template <class S>
struct Toy : ldm::Visitable<Toy<S>> {
  static inline const std::string weight_name = "toy.weight";
  static inline const std::string bias_name = "toy.bias";
  ldm::Matrix<S> weight;  // [out, in]
  ldm::Vector<S> bias;    // [out]

  Toy() = default;
  // The shapes; the values are left uninitialized.
  Toy(Eigen::Index out, Eigen::Index in) : weight(out, in), bias(out) {}

  template <class F, class... Ms>
  static void visit_each(F&& f, Ms&... m) {
    f(weight_name, m.weight...);
    f(bias_name, m.bias...);
  }
};

}  // namespace ldm_test
