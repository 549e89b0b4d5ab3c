#include <ldm/io/dtype.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using Catch::Matchers::Contains;

TEST_CASE("a matrix is written row-major whatever its storage order", "[dtype]") {
  Eigen::Matrix<float, 2, 3, Eigen::ColMajor> col_major;
  col_major << 1, 2, 3, 4, 5, 6;
  const ldm::Tensor t = ldm::to_tensor(col_major);
  REQUIRE(t.shape == std::vector<std::int64_t>{2, 3});
  // 1, 2, 3, 4, 5, 6 as little-endian float32: 0x3f800000, 0x40000000, 0x40400000, ...
  const std::string row_major(
      "\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40"
      "\x00\x00\x80\x40\x00\x00\xa0\x40\x00\x00\xc0\x40",
      24);
  REQUIRE(std::string(t.bytes.begin(), t.bytes.end()) == row_major);
  REQUIRE(ldm::to_matrix<double>(t) == col_major.cast<double>());
}

TEST_CASE("F16 and BF16 decode exactly", "[dtype]") {
  // IEEE 754-2008 binary16: 0x3c00 = 1, 0x7bff = 65504 (largest), 0x0001 = 2^-24 (smallest
  // subnormal), 0x03ff = 1023 2^-24 (largest subnormal), 0x0400 = 2^-14 (smallest normal).
  REQUIRE(ldm::half_to_float(0x3c00) == 1.0f);
  REQUIRE(ldm::half_to_float(0x7bff) == 65504.0f);
  REQUIRE(ldm::half_to_float(0x0001) == std::ldexp(1.0f, -24));
  REQUIRE(ldm::half_to_float(0x03ff) == 1023.0f * std::ldexp(1.0f, -24));
  REQUIRE(ldm::half_to_float(0x0400) == std::ldexp(1.0f, -14));
  REQUIRE(ldm::half_to_float(0x3555) == 0.333251953125f);
  REQUIRE(ldm::half_to_float(0xc000) == -2.0f);
  REQUIRE(std::signbit(ldm::half_to_float(0x8000)));
  REQUIRE(ldm::half_to_float(0x8000) == 0.0f);
  REQUIRE(ldm::half_to_float(0x7c00) == std::numeric_limits<float>::infinity());
  REQUIRE(ldm::half_to_float(0xfc00) == -std::numeric_limits<float>::infinity());
  REQUIRE(std::isnan(ldm::half_to_float(0x7e00)));
  // bfloat16 is the top half of a float32: 0x3f80 = 1, 0x4049 = 3.140625, 0x0001 = 2^-133.
  REQUIRE(ldm::bfloat16_to_float(0x3f80) == 1.0f);
  REQUIRE(ldm::bfloat16_to_float(0xc000) == -2.0f);
  REQUIRE(ldm::bfloat16_to_float(0x4049) == 3.140625f);
  REQUIRE(ldm::bfloat16_to_float(0x0001) == std::ldexp(1.0f, -133));
  REQUIRE(ldm::bfloat16_to_float(0x7f80) == std::numeric_limits<float>::infinity());
}

TEST_CASE("to_integers sign-extends signed dtypes and refuses what does not fit in int64", "[dtype]") {
  const ldm::Tensor i32{"I32", {2}, {0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00}};  // -1, 2
  REQUIRE(ldm::to_integers(i32) == std::vector<std::int64_t>{-1, 2});
  const ldm::Tensor u8{"U8", {1, 2}, {0xff, 0x01}};  // 255, 1: rank 2 reads row-major
  REQUIRE(ldm::to_integers(u8) == std::vector<std::int64_t>{255, 1});
  const std::vector<std::int64_t> values{-7, std::int64_t{1} << 40, std::numeric_limits<std::int64_t>::min()};
  const ldm::Tensor i64 = ldm::to_tensor(values);
  REQUIRE(i64.dtype == "I64");
  REQUIRE(i64.shape == std::vector<std::int64_t>{3});
  REQUIRE(ldm::to_integers(i64) == values);
  const ldm::Tensor u64{"U64", {1}, std::vector<unsigned char>(8, 0xff)};
  REQUIRE_THROWS_WITH(ldm::to_integers(u64), Contains("to_integers: element 0 = 18446744073709551615 does not fit"));
  REQUIRE_THROWS_WITH(ldm::to_integers(ldm::to_tensor(ldm::Vector<float>::Ones(2))),
                      Contains("dtype F32 is not an integer type"));
}

TEST_CASE("dtype_size knows the reference's dtypes, dtype_name the two that are written", "[dtype]") {
  REQUIRE(ldm::dtype_size("BOOL") == 1);
  REQUIRE(ldm::dtype_size("BF16") == 2);
  REQUIRE(ldm::dtype_size("F32") == 4);
  REQUIRE(ldm::dtype_size("U64") == 8);
  REQUIRE(ldm::dtype_size("F17") == 0);
  REQUIRE(std::string(ldm::dtype_name<float>()) == "F32");
  REQUIRE(std::string(ldm::dtype_name<double>()) == "F64");
}

TEST_CASE("numel of a valid empty tensor with huge dimensions is 0 (no signed overflow)", "[dtype]") {
  const ldm::Tensor t{"U8", {std::int64_t{1} << 62, 2, 0}, {}};  // 2^63 on the way: above INT64_MAX
  REQUIRE(ldm::numel(t) == 0);
  REQUIRE(ldm::to_integers(t).empty());
  // to_matrix checks the bytes against the shape before it allocates.
  const ldm::Tensor claims{"F32", {1 << 20, 1 << 20}, {}};  // 4 TiB of floats claimed, none held
  REQUIRE_THROWS_WITH(ldm::to_matrix<float>(claims),
                      Contains("to_matrix: shape [1048576, 1048576] and dtype F32 need 4398046511104 bytes, but it "
                               "holds 0"));
  REQUIRE_THROWS_WITH(ldm::to_vector<float>(ldm::Tensor{"F32", {1 << 30}, {}}), Contains("need 4294967296 bytes"));
}
