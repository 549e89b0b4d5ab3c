// Tests of core/checks.hpp: each check passes what it should and throws std::invalid_argument
// with the message it promises, naming the function, the argument, the expected and the actual.
#include <ldm/core/checks.hpp>

#include <catch2/catch.hpp>

#include <limits>
#include <stdexcept>

using ldm::Matrix;
using ldm::Vector;

TEST_CASE("require_cols: the column count, or a message with the shape it got") {
  const Matrix<float> m = Matrix<float>::Zero(3, 4);
  REQUIRE_NOTHROW(ldm::detail::require_cols("f", "x", m, 4));
  REQUIRE_THROWS_AS(ldm::detail::require_cols("f", "x", m, 5), std::invalid_argument);
  REQUIRE_THROWS_WITH(ldm::detail::require_cols("f", "x", m, 5), "f: x must have 5 columns, got 3x4");
  REQUIRE_THROWS_WITH(ldm::detail::require_cols("Encoder::forward", "the batch", Matrix<double>(0, 2), 3),
                      "Encoder::forward: the batch must have 3 columns, got 0x2");
  const Vector<double> v = Vector<double>::Zero(6);
  REQUIRE_NOTHROW(ldm::detail::require_cols("g", "v", v, 1));
  REQUIRE_THROWS_WITH(ldm::detail::require_cols("g", "v", v, 2), "g: v must have 2 columns, got 6x1");
}

TEST_CASE("require_same_shape: rows and columns both, or a message with both shapes") {
  const Matrix<float> a(2, 3), b(2, 3), wide(2, 4), tall(3, 3);
  REQUIRE_NOTHROW(ldm::detail::require_same_shape("f", "a", a, "b", b));
  REQUIRE_THROWS_AS(ldm::detail::require_same_shape("f", "a", a, "b", wide), std::invalid_argument);
  REQUIRE_THROWS_WITH(ldm::detail::require_same_shape("f", "a", a, "b", wide), "f: a is 2x3 but b is 2x4");
  REQUIRE_THROWS_WITH(ldm::detail::require_same_shape("loss", "target", tall, "prediction", a),
                      "loss: target is 3x3 but prediction is 2x3");
  // Different types with the same shape pass: a Matrix and a Vector of one column.
  REQUIRE_NOTHROW(ldm::detail::require_same_shape("f", "m", Matrix<double>(4, 1), "v", Vector<float>(4)));
  REQUIRE_THROWS_WITH(ldm::detail::require_same_shape("f", "m", Matrix<double>(1, 4), "v", Vector<float>(4)),
                      "f: m is 1x4 but v is 4x1");
}

TEST_CASE("require_positive: 1 and above pass, 0 and negatives are refused with the value") {
  REQUIRE_NOTHROW(ldm::detail::require_positive("f", "n", 1));
  REQUIRE_NOTHROW(ldm::detail::require_positive("f", "n", std::numeric_limits<long long>::max()));
  REQUIRE_THROWS_AS(ldm::detail::require_positive("f", "n", 0), std::invalid_argument);
  REQUIRE_THROWS_WITH(ldm::detail::require_positive("f", "n", 0), "f: n must be positive, got 0");
  REQUIRE_THROWS_WITH(ldm::detail::require_positive("sample", "batch_rows", -5),
                      "sample: batch_rows must be positive, got -5");
  REQUIRE_THROWS_WITH(ldm::detail::require_positive("f", "n", std::numeric_limits<long long>::min()),
                      "f: n must be positive, got -9223372036854775808");
}

TEST_CASE("require_finite: the first NaN or Inf in row-major order, with its value and place") {
  Matrix<float> m = Matrix<float>::Zero(3, 4);
  REQUIRE_NOTHROW(ldm::detail::require_finite("f", "x", m));
  m(1, 2) = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_AS(ldm::detail::require_finite("f", "x", m), std::invalid_argument);
  REQUIRE_THROWS_WITH(ldm::detail::require_finite("f", "x", m), "f: x has a non-finite value (nan) at row 1, column 2");
  m(2, 0) = std::numeric_limits<float>::infinity();  // after (1, 2): the NaN is still the first
  REQUIRE_THROWS_WITH(ldm::detail::require_finite("f", "x", m), "f: x has a non-finite value (nan) at row 1, column 2");
  m(1, 1) = -std::numeric_limits<float>::infinity();  // before it now
  REQUIRE_THROWS_WITH(ldm::detail::require_finite("Decoder", "z", m),
                      "Decoder: z has a non-finite value (-inf) at row 1, column 1");
  Matrix<double> d = Matrix<double>::Constant(2, 2, 1e308);  // large is finite
  REQUIRE_NOTHROW(ldm::detail::require_finite("f", "d", d));
  d(0, 1) = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(ldm::detail::require_finite("f", "d", d), "f: d has a non-finite value (inf) at row 0, column 1");
  Vector<double> v = Vector<double>::Zero(3);
  v(2) = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_WITH(ldm::detail::require_finite("f", "v", v), "f: v has a non-finite value (nan) at row 2, column 0");
}

TEST_CASE("require_same_param_shape: a parameter's shape against its reference, named") {
  const Matrix<float> param(2, 2), grad(2, 3);
  REQUIRE_NOTHROW(ldm::detail::require_same_param_shape("f", "gradient", "toy.weight", param, "the parameter", param));
  REQUIRE_THROWS_AS(ldm::detail::require_same_param_shape("f", "gradient", "toy.weight", grad, "the parameter", param),
                    std::invalid_argument);
  REQUIRE_THROWS_WITH(
      ldm::detail::require_same_param_shape("Adam::step", "gradient", "toy.weight", grad, "the parameter", param),
      "Adam::step: gradient toy.weight is 2x3 but the parameter is 2x2");
}

TEST_CASE("require_at_least and require_in_unit_interval: the bounds, NaN refused") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_NOTHROW(ldm::detail::require_at_least("f", "lr", 0.0, 0.0));
  REQUIRE_NOTHROW(ldm::detail::require_at_least("f", "lr", 1e300, 0.0));
  REQUIRE_THROWS_AS(ldm::detail::require_at_least("f", "lr", -1.0, 0.0), std::invalid_argument);
  REQUIRE_THROWS_WITH(ldm::detail::require_at_least("f", "lr", -1.0, 0.0), "f: lr must be >= 0, got -1");
  REQUIRE_THROWS_WITH(ldm::detail::require_at_least("f", "eps", nan, 0.5), "f: eps must be >= 0.5, got nan");

  REQUIRE_NOTHROW(ldm::detail::require_in_unit_interval("f", "p", 0.0, false));
  REQUIRE_NOTHROW(ldm::detail::require_in_unit_interval("f", "p", 1.0, true));
  REQUIRE_THROWS_AS(ldm::detail::require_in_unit_interval("f", "p", 1.0, false), std::invalid_argument);
  REQUIRE_THROWS_WITH(ldm::detail::require_in_unit_interval("f", "p", 1.0, false), "f: p must be in [0, 1), got 1");
  REQUIRE_THROWS_WITH(ldm::detail::require_in_unit_interval("f", "p", 1.5, true), "f: p must be in [0, 1], got 1.5");
  REQUIRE_THROWS_WITH(ldm::detail::require_in_unit_interval("f", "p", -0.25, true),
                      "f: p must be in [0, 1], got -0.25");
  REQUIRE_THROWS_WITH(ldm::detail::require_in_unit_interval("f", "decay", nan, false),
                      "f: decay must be in [0, 1), got nan");
}
