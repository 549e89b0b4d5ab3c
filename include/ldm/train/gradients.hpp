// Gradient buffers: zeroing them, their global norm, and clipping by it. A gradient is a model
// of the parameters' type (core/visit.hpp), so these work on any model.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/train/detail/parallel_visit.hpp>

#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace ldm {

// Sets every gradient of the models to zero, the slices shared among the threads in one region
// (what set_zero does on one thread). Allocates nothing.
template <class... Models>
void zero_gradients(Models&... grads) {
  (detail::parallel_visit(
       [](Eigen::Index part, Eigen::Index parts, const std::string&, auto& g_) {
         detail::for_each_slice_of_part(g_.size(), part, parts, [&](Eigen::Index first, Eigen::Index count) {
           detail::flat_slice(g_, first, count).setZero();
         });
       },
       grads),
   ...);
}

// sqrt of the sum of squares of every gradient entry of every model, accumulated in double.
template <class... Models>
double global_grad_norm(const Models&... grads) {
  double sum = 0.0;
  (grads.visit([&](const std::string&, const auto& g) { sum += g.template cast<double>().squaredNorm(); }), ...);
  return std::sqrt(sum);
}

// PyTorch's torch.nn.utils.clip_grad_norm_ over several models at once: with the global norm n,
// every gradient is scaled by c = max_norm / (n + 1e-6) when c < 1 (so, up to the 1e-6, when
// n > max_norm). Returns n, the norm before clipping. A non-finite n leaves the gradients as
// they are (the caller sees it in the return value and can skip the step). Allocates nothing.
template <class... Models>
double clip_grad_norm(double max_norm, Models&... grads) {
  if (!(max_norm > 0.0))
    throw std::invalid_argument(detail::concat("clip_grad_norm: max_norm must be > 0, got ", max_norm));
  const double norm = global_grad_norm(std::as_const(grads)...);
  const double coef = max_norm / (norm + 1e-6);
  if (std::isfinite(norm) && coef < 1.0) {
    (grads.visit([&](const std::string&, auto& g) { g *= static_cast<detail::scalar_of<decltype(g)>>(coef); }), ...);
  }
  return norm;
}

}  // namespace ldm
