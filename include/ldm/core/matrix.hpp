// The batch and parameter types.
#pragma once

#include <Eigen/Core>

namespace ldm {

// A batch is [batch, features], one row per sample. Row-major matches CSV, safetensors and
// PyTorch, so a weight [out, in] and a batch are both read straight from a file.
template <class S = float>
using Matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A bias or a per-feature vector, [n].
template <class S = float>
using Vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;

}  // namespace ldm
