#include <catch2/catch.hpp>

#include <ldm/nn/decoder.hpp>

#include "support/gradcheck.hpp"

#include <limits>
#include <vector>

using namespace ldm;
using Catch::Matchers::Contains;

TEST_CASE("Decoder: parameter names and shapes follow the seed") {
  const Decoder<float> dec(10, 3, 8, make_key(0));
  std::vector<std::string> names;
  dec.visit([&](const std::string& name, const auto&) { names.push_back(name); });
  REQUIRE(names == std::vector<std::string>{"dec_dense_0.weight", "dec_dense_0.bias", "dec_dense_1.weight",
                                            "dec_dense_1.bias", "dec_output.weight", "dec_output.bias"});
  REQUIRE(dec.dec_dense_0.weight.rows() == 8);
  REQUIRE(dec.dec_dense_0.weight.cols() == 3);
  REQUIRE(dec.dec_output.weight.rows() == 10);
  REQUIRE(count_parameters(dec) == 3 * 8 + 8 + 8 * 8 + 8 + 8 * 10 + 10);
}

TEST_CASE("Decoder: forward is the seed's MLP") {
  Decoder<double> dec(3, 2, 4, make_key(1));
  const Matrix<double> z = normal<double>(make_key(2), 5, 2).values;
  const auto silu = [](const Matrix<double>& a) { return Matrix<double>(a.array() / (1 + (-a.array()).exp())); };
  const auto dense = [](const Dense<double>& d, const Matrix<double>& in) {
    return Matrix<double>((in * d.weight.transpose()).rowwise() + d.bias.transpose());
  };
  const Matrix<double> expected = dense(dec.dec_output, silu(dense(dec.dec_dense_1, silu(dense(dec.dec_dense_0, z)))));
  REQUIRE((dec(z) - expected).norm() < 1e-14);
}

TEST_CASE("Decoder: backward matches finite differences for inputs and every parameter") {
  Decoder<double> dec(5, 3, 6, make_key(3));
  Matrix<double> z = normal<double>(make_key(4), 4, 3).values;
  const Matrix<double> r = normal<double>(make_key(5), 4, 5).values;
  const auto loss = [&] { return (dec(z).array() * r.array()).sum(); };
  DecoderWorkspace<double> ws;
  dec.forward(z, ws);
  Decoder<double> grad = zeros_like(dec);
  const Matrix<double> dz = dec.backward(z, ws, r, grad);
  REQUIRE(ldm_test::max_parameter_error(dec, grad, loss) < 1e-6);
  REQUIRE(ldm_test::relative_error(dz, ldm_test::numeric_gradient(z, loss)) < 1e-6);
}

TEST_CASE("Decoder: bad input throws a message naming the problem") {
  const Decoder<float> dec(4, 2, 6, make_key(0));
  REQUIRE_THROWS_WITH(dec(Matrix<float>::Zero(3, 4)),
                      Contains("Decoder") && Contains("z must have 2 columns") && Contains("3x4"));
  Matrix<float> z = Matrix<float>::Zero(2, 2);
  z(0, 1) = -std::numeric_limits<float>::infinity();
  REQUIRE_THROWS_WITH(dec(z), Contains("non-finite") && Contains("row 0, column 1"));
}
