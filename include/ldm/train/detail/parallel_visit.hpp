// Walking the tensors of models in one parallel region, for the optimizer, EMA and gradient
// buffers: each thread takes the same share of the fixed-size slices of every tensor, so every
// coefficient is computed alone and the result does not depend on the thread count.
#pragma once

#include <ldm/core/threads.hpp>
#include <ldm/core/visit.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <string>
#include <type_traits>
#include <utility>

namespace ldm::detail {

// The scalar type of a parameter (a Matrix or Vector, const or not).
template <class Tensor>
using scalar_of = typename std::remove_cvref_t<Tensor>::Scalar;

// Coefficients [first, first + count) of a parameter as a flat array (parameters are plain,
// contiguous objects).
template <class Tensor>
auto flat_slice(Tensor& t, Eigen::Index first, Eigen::Index count) {
  using Flat = Eigen::Array<scalar_of<Tensor>, Eigen::Dynamic, 1>;
  if constexpr (std::is_const_v<Tensor>)
    return Eigen::Map<const Flat>(t.data() + first, count);
  else
    return Eigen::Map<Flat>(t.data() + first, count);
}

// Coefficients per slice: 4096 (16 KiB of floats: four tensors of a slice stay in L1).
inline constexpr Eigen::Index kSlice = 4096;

// f(first, count) over the slices of [0, n) that part `part` of `parts` takes.
template <class F>
void for_each_slice_of_part(Eigen::Index n, Eigen::Index part, Eigen::Index parts, F&& f) {
  const auto [first_slice, last_slice] = share((n + kSlice - 1) / kSlice, part, parts);
  for (Eigen::Index first = first_slice * kSlice; first < std::min(n, last_slice * kSlice); first += kSlice)
    f(first, std::min(kSlice, n - first));
}

// visitor(part, parts, name, tensors...) over every tensor of the models on each thread of one
// parallel region (one fork and one join for the whole model, not one per tensor). With
// for_each_slice_of_part each thread takes its share of the slices of every tensor; every
// coefficient is computed alone, so the result does not depend on the thread count.
template <class F, class... Models>
void parallel_visit(F&& visitor, Models&... models) {
  Eigen::Index total = 0;
  visit_together([&](const std::string&, const auto& first, const auto&...) { total += first.size(); },
                 std::as_const(models)...);
  parallel_parts(total, 16 * kSlice, [&](Eigen::Index part, Eigen::Index parts) {
    visit_together([&](const std::string& name, auto&... tensors) { visitor(part, parts, name, tensors...); },
                   models...);
  });
}

}  // namespace ldm::detail
