// Per-column standardisation, x' = (x - mean) / scale, as scikit-learn's StandardScaler:
// population standard deviation (divide by n, ddof = 0), and scale 1 for a constant column,
// so it maps to 0 without a division by zero.
//
// It follows the core/visit.hpp convention (parameters "mean" and "scale", both [columns]), so a
// checkpoint stores it: add_tensors(tensors, "standardizer.", s) and
// assign_tensors(data, "standardizer.", s, ShapePolicy::from_file) (io.hpp).
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/visit.hpp>

#include <cmath>
#include <stdexcept>
#include <string>

namespace ldm {

template <class S = float>
struct Standardizer : Visitable<Standardizer<S>> {
  Vector<S> mean;   // [columns]
  Vector<S> scale;  // [columns], > 0

  bool fitted() const { return mean.size() > 0; }

  // Column means and population standard deviations of the training rows, accumulated in long
  // double with two passes (mean first, then squared deviations) for accuracy. A column whose
  // values are all equal gets scale 1; so does one whose spread underflows to 0.
  // Throws std::invalid_argument for no rows or a NaN/Inf value (naming its row and column).
  void fit(const Matrix<S>& x) {
    if (x.rows() == 0 || x.cols() == 0)
      throw std::invalid_argument(
          detail::concat("Standardizer::fit: x must have rows and columns, got ", x.rows(), "x", x.cols()));
    Vector<S> new_mean(x.cols()), new_scale(x.cols());
    for (Eigen::Index c = 0; c < x.cols(); ++c) {
      long double sum = 0;
      bool constant = true;
      for (Eigen::Index r = 0; r < x.rows(); ++r) {
        if (!std::isfinite(x(r, c)))
          throw std::invalid_argument(
              detail::concat("Standardizer::fit: x(", r, ", ", c, ") = ", x(r, c), " is not finite"));
        sum += x(r, c);
        constant = constant && x(r, c) == x(0, c);
      }
      if (constant) {  // exactly 0 after transform, exactly x back after inverse
        new_mean(c) = x(0, c);
        new_scale(c) = S(1);
        continue;
      }
      const long double m = sum / static_cast<long double>(x.rows());
      long double squares = 0;
      for (Eigen::Index r = 0; r < x.rows(); ++r) {
        const long double d = static_cast<long double>(x(r, c)) - m;
        squares += d * d;
      }
      const S sd = static_cast<S>(std::sqrt(squares / static_cast<long double>(x.rows())));
      new_mean(c) = static_cast<S>(m);
      new_scale(c) = sd > S(0) && std::isfinite(sd) ? sd : S(1);
    }
    mean = std::move(new_mean);
    scale = std::move(new_scale);
  }

  // (x - mean) / scale, row by row, into out (resized; no allocation when already the size).
  void transform(const Matrix<S>& x, Matrix<S>& out) const {
    require_fitted_width("Standardizer::transform", x);
    out.resize(x.rows(), x.cols());
    out = (x.rowwise() - mean.transpose()).array().rowwise() / scale.transpose().array();
  }
  Matrix<S> transform(const Matrix<S>& x) const {
    Matrix<S> out;
    transform(x, out);
    return out;
  }

  // x * scale + mean: back to the original units.
  void inverse(const Matrix<S>& x, Matrix<S>& out) const {
    require_fitted_width("Standardizer::inverse", x);
    out.resize(x.rows(), x.cols());
    out = (x.array().rowwise() * scale.transpose().array()).matrix().rowwise() + mean.transpose();
  }
  Matrix<S> inverse(const Matrix<S>& x) const {
    Matrix<S> out;
    inverse(x, out);
    return out;
  }

  template <class F, class... Ss>
  static void visit_each(F&& f, Ss&... s) {
    f(std::string("mean"), s.mean...);
    f(std::string("scale"), s.scale...);
  }

 private:
  void require_fitted_width(const char* where, const Matrix<S>& x) const {
    if (!fitted())
      throw std::invalid_argument(std::string(where) + ": the standardizer is not fitted (call fit first)");
    if (scale.size() != mean.size())
      throw std::invalid_argument(
          detail::concat(where, ": mean has ", mean.size(), " entries but scale has ", scale.size()));
    detail::require_cols(where, "x", x, mean.size());
  }
};

}  // namespace ldm
