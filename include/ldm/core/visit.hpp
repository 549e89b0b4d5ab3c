// Walking a model's parameters: the one mechanism behind the optimizer, EMA, checkpoints,
// parameter counting and gradient buffers.
//
// Every model type M (and every layer) provides
//     template <class F, class... Ms> static void visit_each(F&& f, Ms&... models);
// which calls f(name, p0, p1, ...) once per parameter, in a fixed order, where p_k is that
// parameter of models[k] (a Matrix<S> weight [out, in] or a Vector<S> bias [out], const when
// the model is). Gradients and optimizer moments are models of the same type, so one call
// walks parameters, gradients and state together without knowing the model.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>

namespace ldm {

// f(name, param_of_first, param_of_second, ...) for every parameter of same-typed models.
template <class F, class Model, class... Models>
void visit_together(F&& f, Model& first, Models&... rest) {
  std::remove_const_t<Model>::visit_each(f, first, rest...);
}

template <class Model>
void set_zero(Model& model) {
  visit_together([](const std::string&, auto& p) { p.setZero(); }, model);
}

// A model of the same structure with every parameter zero: a gradient buffer or a moment.
template <class Model>
Model zeros_like(const Model& model) {
  Model zeros = model;
  set_zero(zeros);
  return zeros;
}

// Number of scalars the model holds, counted from the parameters themselves.
template <class Model>
std::size_t count_parameters(const Model& model) {
  std::size_t n = 0;
  visit_together([&](const std::string&, const auto& p) { n += static_cast<std::size_t>(p.size()); }, model);
  return n;
}

}  // namespace ldm
