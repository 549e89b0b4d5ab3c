// Walking a model's parameters: the one mechanism behind the optimizer, EMA, checkpoints,
// parameter counting and gradient buffers.
//
// Every model type M (and every layer) provides
//     template <class F, class... Ms> static void visit_each(F&& f, Ms&... models);
// which calls f(name, p0, p1, ...) once per parameter, in a fixed order, where p_k is that
// parameter of models[k] (a Matrix<S> weight [out, in] or a Vector<S> bias [out], const when
// the model is). Gradients and optimizer moments are models of the same type, so one call
// walks parameters, gradients and state together without knowing the model. Deriving from
// Visitable gives the model the contract's member model.visit(f) from its visit_each.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>

namespace ldm {

// The member visit(f) of the contract, f(name, param) for every parameter (const or not, as
// the model is), for a type that defines visit_each: struct Model : Visitable<Model> { ... }.
template <class Self>
struct Visitable {
  template <class F>
  void visit(F&& f) {
    Self::visit_each(f, static_cast<Self&>(*this));
  }
  template <class F>
  void visit(F&& f) const {
    Self::visit_each(f, static_cast<const Self&>(*this));
  }
};

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
