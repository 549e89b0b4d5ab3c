// Tests of core/visit.hpp: visit_together walks same-typed models parameter by parameter, in
// the model's order; set_zero, zeros_like and count_parameters are built on it.
#include <ldm/core/visit.hpp>

#include <catch2/catch.hpp>

#include "support/toy_model.hpp"

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using ldm_test::Toy;

namespace {

// A toy 2x3 weight and 2 biases holding 1..6 (row-major) and 7, 8, plus `shift`.
Toy<double> counting_toy(double shift = 0) {
  Toy<double> t(2, 3);
  t.weight << 1, 2, 3, 4, 5, 6;
  t.bias << 7, 8;
  t.weight.array() += shift;
  t.bias.array() += shift;
  return t;
}

// A model made of two toys, visited one after the other as the library's models visit layers.
struct Pair {
  Toy<float> first, second;
  template <class F, class... Ms>
  static void visit_each(F&& f, Ms&... m) {
    Toy<float>::visit_each(f, m.first...);
    Toy<float>::visit_each(f, m.second...);
  }
};

}  // namespace

TEST_CASE("visit_together: one call per parameter, in the model's order, with its name") {
  Toy<double> toy = counting_toy();
  std::vector<std::string> names;
  std::vector<double> firsts;
  std::vector<Eigen::Index> sizes;
  ldm::visit_together(
      [&](const std::string& name, auto& p) {
        names.push_back(name);
        firsts.push_back(p.data()[0]);
        sizes.push_back(p.size());
      },
      toy);
  REQUIRE(names == std::vector<std::string>{"toy.weight", "toy.bias"});
  REQUIRE(firsts == std::vector<double>{1, 7});
  REQUIRE(sizes == std::vector<Eigen::Index>{6, 2});

  Pair pair{Toy<float>(1, 2), Toy<float>(3, 1)};
  std::vector<std::pair<Eigen::Index, Eigen::Index>> shapes;
  names.clear();
  ldm::visit_together(
      [&](const std::string& name, const auto& p) {
        names.push_back(name);
        shapes.emplace_back(p.rows(), p.cols());
      },
      pair);
  REQUIRE(names == std::vector<std::string>{"toy.weight", "toy.bias", "toy.weight", "toy.bias"});
  REQUIRE(shapes == std::vector<std::pair<Eigen::Index, Eigen::Index>>{{1, 2}, {1, 1}, {3, 1}, {3, 1}});
}

TEST_CASE("visit_together: the k-th argument is the same parameter of the k-th model") {
  Toy<double> a = counting_toy(), b = counting_toy(10), c = counting_toy(100);
  // a += b + c, parameter by parameter: every entry of a becomes 3 x its own + 110.
  ldm::visit_together([](const std::string&, auto& pa, const auto& pb, const auto& pc) { pa += pb + pc; }, a,
                      std::as_const(b), std::as_const(c));
  Eigen::Matrix<double, 2, 3, Eigen::RowMajor> weight;
  weight << 113, 116, 119, 122, 125, 128;
  REQUIRE(a.weight == weight);
  REQUIRE(a.bias == Eigen::Vector2d(131, 134));
  REQUIRE(b.weight == counting_toy(10).weight);  // the others are read only
  REQUIRE(c.bias == counting_toy(100).bias);
}

TEST_CASE("visit_together: a const model gives const parameters, a mutable one mutable parameters") {
  Toy<float> toy(1, 1);
  const Toy<float>& view = toy;
  int const_params = 0, mutable_params = 0;
  const auto count = [&](const std::string&, auto& p) {
    if constexpr (std::is_const_v<std::remove_reference_t<decltype(p)>>)
      ++const_params;
    else
      ++mutable_params;
  };
  ldm::visit_together(count, view);
  REQUIRE(const_params == 2);
  REQUIRE(mutable_params == 0);
  ldm::visit_together(count, toy);
  REQUIRE(const_params == 2);
  REQUIRE(mutable_params == 2);
}

TEST_CASE("set_zero and zeros_like: every parameter zero, the shapes kept, the original untouched") {
  Toy<double> toy = counting_toy();
  const Toy<double> zeros = ldm::zeros_like(toy);
  REQUIRE(zeros.weight.rows() == 2);
  REQUIRE(zeros.weight.cols() == 3);
  REQUIRE(zeros.bias.size() == 2);
  REQUIRE(zeros.weight == Eigen::MatrixXd::Zero(2, 3));
  REQUIRE(zeros.bias == Eigen::Vector2d::Zero());
  REQUIRE(toy.weight == counting_toy().weight);
  REQUIRE(toy.bias == counting_toy().bias);

  ldm::set_zero(toy);
  REQUIRE(toy.weight.rows() == 2);
  REQUIRE(toy.weight.cols() == 3);
  REQUIRE(toy.weight.cwiseAbs().maxCoeff() == 0.0);
  REQUIRE(toy.bias.cwiseAbs().maxCoeff() == 0.0);

  Pair pair{Toy<float>(2, 2), Toy<float>(1, 3)};
  ldm::visit_together([](const std::string&, auto& p) { p.setConstant(-2.5f); }, pair);
  ldm::set_zero(pair);
  ldm::visit_together(
      [](const std::string& name, const auto& p) {
        INFO(name);
        REQUIRE(p.size() > 0);
        REQUIRE(p.cwiseAbs().maxCoeff() == 0.0f);
      },
      std::as_const(pair));
}

TEST_CASE("count_parameters: the sum of the parameters' sizes") {
  REQUIRE(ldm::count_parameters(counting_toy()) == 8);  // 2x3 + 2
  REQUIRE(ldm::count_parameters(Toy<float>(5, 7)) == 40);
  REQUIRE(ldm::count_parameters(Toy<float>(0, 4)) == 0);
  REQUIRE(ldm::count_parameters(Pair{Toy<float>(2, 3), Toy<float>(4, 1)}) == 8 + 8);
  REQUIRE(ldm::count_parameters(Toy<float>()) == 0);
}
