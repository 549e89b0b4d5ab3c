// A model's parameters as named tensors, and back: the mechanism under checkpoints, for anything
// with visit(f), f(name, param) (the three models, a Standardizer, the caller's own).
//
// A parameter "<name>" is the tensor "<prefix><name>". Floats are written as F32, doubles as
// F64; F16, BF16, F32 and F64 load into either. Loading is all-or-nothing: the new values are
// built in a copy and every check (missing parameter, extra tensor under the prefix, shape,
// dtype) passes before the caller's model is replaced.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/io/dtype.hpp>
#include <ldm/io/safetensors.hpp>

#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace ldm {

// How assign_tensors treats a parameter whose shape differs from the file's.
enum class ShapePolicy {
  must_match,  // an error: models are built first, from the options (the default)
  from_file,   // the parameter takes the file's shape (same rank): for data-sized things such as a
               // Standardizer
};

// Adds every parameter of model (anything with visit(f), f(name, param)) to tensors as
// "<prefix><name>". Throws std::invalid_argument if a name is already there.
template <class Model>
void add_tensors(TensorMap& tensors, const std::string& prefix, const Model& model) {
  model.visit([&](const std::string& name, const auto& param) {
    if (!tensors.emplace(prefix + name, to_tensor(param)).second)
      throw std::invalid_argument("add_tensors: the tensor '" + prefix + name + "' is already in the set");
  });
}

namespace detail {

template <class Param>
std::vector<std::int64_t> param_shape(const Param& p) {
  if constexpr (Param::ColsAtCompileTime == 1)
    return {static_cast<std::int64_t>(p.rows())};
  else
    return {static_cast<std::int64_t>(p.rows()), static_cast<std::int64_t>(p.cols())};
}

inline bool has_prefix(const std::string& name, const std::string& prefix) {
  return name.compare(0, prefix.size(), prefix) == 0;
}

// A copy of model with every parameter read from data["<prefix><name>"], after checking that
// each exists with the right shape and a float dtype, and that data has no other tensor under
// prefix. Throws FormatError naming the file and the tensor; model itself is never touched.
template <class Model>
Model loaded_copy(const SafetensorsData& data, const std::string& prefix, const Model& model, ShapePolicy policy,
                  const char* where) {
  if (prefix.empty()) throw std::invalid_argument(std::string(where) + ": the prefix must not be empty");
  Model copy = model;
  std::set<std::string> expected;
  copy.visit([&](const std::string& name, auto& param) {
    const std::string full = prefix + name;
    expected.insert(full);
    const std::vector<std::int64_t> shape = param_shape(param);
    const auto it = data.tensors.find(full);
    if (it == data.tensors.end())
      throw FormatError(
          where, data.path, full,
          "missing: the model has this parameter, shape " + shape_string(shape) + ", but the file has no such tensor");
    const Tensor& t = it->second;
    if (policy == ShapePolicy::must_match && t.shape != shape)
      throw FormatError(where, data.path, full,
                        "shape " + shape_string(t.shape) + " differs from the model's " + shape_string(shape));
    if (t.shape.size() != shape.size())
      throw FormatError(where, data.path, full,
                        concat("shape ", shape_string(t.shape), " has ", t.shape.size(),
                               " dimensions, the model's parameter has ", shape.size()));
    if (policy == ShapePolicy::from_file) {
      if constexpr (std::decay_t<decltype(param)>::ColsAtCompileTime == 1)
        param.resize(t.shape[0]);
      else
        param.resize(t.shape[0], t.shape[1]);
    }
    try {
      decode_floats(t, param.data());
    } catch (const std::invalid_argument& e) {
      throw FormatError(where, data.path, full, e.what());
    }
  });
  for (auto it = data.tensors.lower_bound(prefix); it != data.tensors.end() && has_prefix(it->first, prefix); ++it)
    if (!expected.count(it->first))
      throw FormatError(where, data.path, it->first,
                        "the model has no parameter '" + it->first.substr(prefix.size()) + "'");
  return copy;
}

}  // namespace detail

// Sets every parameter of model from "<prefix><name>" in data, all or nothing: on any error
// (missing, extra tensor under prefix, shape, dtype) model is unchanged. Throws FormatError.
template <class Model>
void assign_tensors(const SafetensorsData& data, const std::string& prefix, Model& model,
                    ShapePolicy policy = ShapePolicy::must_match) {
  Model loaded = detail::loaded_copy(data, prefix, model, policy, "assign_tensors");
  model = std::move(loaded);
}

}  // namespace ldm
