#include <catch2/catch.hpp>

#include <ldm/nn/encoder.hpp>

#include "support/gradcheck.hpp"

#include <limits>
#include <vector>

using namespace ldm;
using Catch::Matchers::Contains;

TEST_CASE("Encoder: parameter names, order and shapes follow the seed") {
  const Encoder<float> enc(10, 3, 8, make_key(0));
  std::vector<std::string> names;
  std::vector<std::pair<Eigen::Index, Eigen::Index>> shapes;
  enc.visit([&](const std::string& name, const auto& p) {
    names.push_back(name);
    shapes.emplace_back(p.rows(), p.cols());
  });
  REQUIRE(names == std::vector<std::string>{"enc_dense_0.weight", "enc_dense_0.bias", "enc_dense_1.weight",
                                            "enc_dense_1.bias", "enc_mu.weight", "enc_mu.bias", "enc_log_var.weight",
                                            "enc_log_var.bias"});
  REQUIRE(shapes[0] == std::pair<Eigen::Index, Eigen::Index>{8, 10});  // [out, in]
  REQUIRE(shapes[1] == std::pair<Eigen::Index, Eigen::Index>{8, 1});
  REQUIRE(shapes[6] == std::pair<Eigen::Index, Eigen::Index>{3, 8});
  REQUIRE(count_parameters(enc) == 10 * 8 + 8 + 8 * 8 + 8 + 2 * (8 * 3 + 3));
}

TEST_CASE("Encoder: forward is the seed's MLP") {
  Encoder<double> enc(3, 2, 4, make_key(1));
  Matrix<double> x = normal<double>(make_key(2), 5, 3).values;
  const auto [mu, log_var] = enc(x);
  const auto silu = [](const Matrix<double>& a) { return Matrix<double>(a.array() / (1 + (-a.array()).exp())); };
  const auto dense = [](const Dense<double>& d, const Matrix<double>& in) {
    return Matrix<double>((in * d.weight.transpose()).rowwise() + d.bias.transpose());
  };
  const Matrix<double> h = silu(dense(enc.enc_dense_1, silu(dense(enc.enc_dense_0, x))));
  REQUIRE((mu - dense(enc.enc_mu, h)).norm() < 1e-14);
  REQUIRE((log_var - dense(enc.enc_log_var, h)).norm() < 1e-14);
}

TEST_CASE("Encoder: backward matches finite differences for inputs and every parameter") {
  Encoder<double> enc(5, 3, 6, make_key(3));
  Matrix<double> x = normal<double>(make_key(4), 4, 5).values;
  const Matrix<double> r_mu = normal<double>(make_key(5), 4, 3).values;
  const Matrix<double> r_lv = normal<double>(make_key(6), 4, 3).values;
  const auto loss = [&] {
    const auto out = enc(x);
    return (out.mu.array() * r_mu.array()).sum() + (out.log_var.array() * r_lv.array()).sum();
  };
  EncoderWorkspace<double> ws;
  enc.forward(x, ws);
  Encoder<double> grad = zeros_like(enc);
  const Matrix<double> dx = enc.backward(x, ws, r_mu, r_lv, grad);
  std::string worst;
  REQUIRE(ldm_test::max_parameter_error(enc, grad, loss, &worst) < 1e-6);
  REQUIRE(ldm_test::relative_error(dx, ldm_test::numeric_gradient(x, loss)) < 1e-6);
}

TEST_CASE("Encoder: bad input throws a message naming the problem") {
  const Encoder<float> enc(4, 2, 6, make_key(0));
  REQUIRE_THROWS_WITH(enc(Matrix<float>::Zero(3, 5)),
                      Contains("Encoder") && Contains("x must have 4 columns") && Contains("3x5"));
  Matrix<float> x = Matrix<float>::Zero(2, 4);
  x(1, 2) = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(enc(x), Contains("non-finite") && Contains("row 1, column 2"));
  x(1, 2) = std::numeric_limits<float>::infinity();
  REQUIRE_THROWS_WITH(enc(x), Contains("non-finite"));
}
