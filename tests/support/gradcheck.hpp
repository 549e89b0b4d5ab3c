// Central finite differences in double, shared by the gradient tests.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/random.hpp>
#include <ldm/core/visit.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

namespace ldm_test {

// ||a - b|| / max(||a|| + ||b||, 1e-12): the relative error of a whole gradient tensor.
template <class A, class B>
double relative_error(const A& analytic, const B& numeric) {
  const double diff = (analytic - numeric).norm();
  return diff / std::max(analytic.norm() + numeric.norm(), 1e-12);
}

// The numerical gradient of loss() with respect to every entry of x (perturbed in place).
template <class M>
M numeric_gradient(M& x, const std::function<double()>& loss, double h = 1e-6) {
  M g(x.rows(), x.cols());
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    const double saved = x.data()[i];
    x.data()[i] = saved + h;
    const double up = loss();
    x.data()[i] = saved - h;
    const double down = loss();
    x.data()[i] = saved;
    g.data()[i] = (up - down) / (2 * h);
  }
  return g;
}

// The largest relative error over the parameters of model, comparing grad (the analytic
// gradient of loss at the current parameters) with central differences; names the worst.
template <class Model>
double max_parameter_error(Model& model, const Model& grad, const std::function<double()>& loss,
                           std::string* worst = nullptr) {
  double max_error = 0;
  ldm::visit_together(
      [&](const std::string& name, auto& p, const auto& g) {
        auto numeric = numeric_gradient(p, loss);
        const double e = relative_error(g, numeric);
        if (e > max_error) {
          max_error = e;
          if (worst) *worst = name;
        }
      },
      model, grad);
  return max_error;
}

// Every parameter replaced by N(0, scale^2) draws, so LayerNorm weights are not all 1 etc.
template <class Model>
void randomize(Model& model, ldm::Key key, double scale = 0.5) {
  ldm::visit_together(
      [&](const std::string&, auto& p) {
        key = ldm::fill_normal(key, p);
        p *= scale;
      },
      model);
}

}  // namespace ldm_test
