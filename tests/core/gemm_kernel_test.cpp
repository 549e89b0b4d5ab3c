// ldm/core/gemm_kernel.hpp: ldm's own float kernel (built on CPUs with AVX-512 or AVX2) gives each entry
// of C exactly the chain of fused multiply-adds a triple loop with std::fma gives, bit for bit,
// whatever the shape, transposes, depth blocks, row blocks and thread count.
#include <ldm/core/gemm.hpp>
#include <ldm/core/gemm_kernel.hpp>
#include <ldm/core/random.hpp>
#include <ldm/core/threads.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using namespace ldm;

#ifdef LDM_GEMM_KERNEL

namespace {

// c0 + op(a) op(b), each entry one std::fma chain in increasing depth, starting from c0's entry.
Matrix<float> fma_chain(const Matrix<float>& a, bool ta, const Matrix<float>& b, bool tb, const Matrix<float>& c0) {
  Matrix<float> c = c0;
  const Eigen::Index k = ta ? a.rows() : a.cols();
  for (Eigen::Index i = 0; i < c.rows(); ++i)
    for (Eigen::Index j = 0; j < c.cols(); ++j)
      for (Eigen::Index p = 0; p < k; ++p) c(i, j) = std::fma(ta ? a(p, i) : a(i, p), tb ? b(j, p) : b(p, j), c(i, j));
  return c;
}

template <bool TA, bool TB>
void check_bits(Eigen::Index m, Eigen::Index n, Eigen::Index k) {
  INFO("m " << m << " n " << n << " k " << k << " transposes " << TA << TB);
  const Matrix<float> a = TA ? normal<float>(make_key(1), k, m).values : normal<float>(make_key(1), m, k).values;
  const Matrix<float> b = TB ? normal<float>(make_key(2), n, k).values : normal<float>(make_key(2), k, n).values;
  const Matrix<float> c0 = normal<float>(make_key(3), m, n).values;
  Matrix<float> c;
  detail::gemm<TA, TB>(a, b, c, false);
  CHECK(c == fma_chain(a, TA, b, TB, Matrix<float>::Zero(m, n)));
  c = c0;
  detail::gemm<TA, TB>(a, b, c, true);
  CHECK(c == fma_chain(a, TA, b, TB, c0));
}

}  // namespace

TEST_CASE("gemm on floats is a std::fma chain per entry, bit for bit, on 1-3 threads", "[gemm]") {
  if constexpr (!detail::own_kernel<float>) {
    SUCCEED("products of floats go to the BLAS (EIGEN_USE_BLAS)");
    return;
  }
  const int threads = GENERATE(1, 2, 3);
  INFO("threads " << threads);
  set_num_threads(threads);
  // Partial tiles of mr rows and 8 columns, depths across the 256-deep blocks, one row or column,
  // the seed model's shapes at a small batch, enough work to be split between threads, and one to
  // four rows of A against many of B (tiles of several panels at once).
  const Eigen::Index sizes[][3] = {{1, 1, 1},    {1, 37, 5},    {37, 1, 5},    {3, 5, 7},      {17, 33, 256},
                                   {31, 9, 257}, {40, 70, 600}, {33, 287, 64}, {64, 256, 287}, {130, 96, 513},
                                   {8, 1000, 3}, {1, 300, 40},  {2, 200, 9},   {3, 100, 17},   {4, 64, 300}};
  for (const auto& s : sizes) {
    check_bits<false, false>(s[0], s[1], s[2]);
    check_bits<false, true>(s[0], s[1], s[2]);
    check_bits<true, false>(s[0], s[1], s[2]);
    check_bits<true, true>(s[0], s[1], s[2]);
  }
  set_num_threads(0);
}

TEST_CASE("the kernel's packed layouts and its blocks over rows and depth", "[gemm]") {
  namespace gk = detail::gemm_kernel;
  using Buffer = Eigen::Matrix<float, Eigen::Dynamic, 1>;  // aligned as the kernel's loads need
  // L 3 x 2 column-major: one panel of mr rows (32 with AVX-512, 16 with AVX2), k-major, zeros
  // past the third row.
  const float l[] = {1, 2, 3, 4, 5, 6};
  constexpr Eigen::Index mr = gk::mr;
  Buffer packed_l(gk::packed_lhs_size(3, 2));
  REQUIRE(packed_l.size() == 2 * mr);
  gk::pack_lhs<Eigen::ColMajor>(packed_l.data(), l, 3, 3, 2);
  CHECK(packed_l(0) == 1);
  CHECK(packed_l(2) == 3);
  CHECK(packed_l(3) == 0);
  CHECK(packed_l(mr) == 4);
  CHECK(packed_l(mr + 2) == 6);
  CHECK(packed_l(2 * mr - 1) == 0);
  Buffer row_major_l(2 * mr);  // the same L stored row-major packs the same
  const float lt[] = {1, 4, 2, 5, 3, 6};
  gk::pack_lhs<Eigen::RowMajor>(row_major_l.data(), lt, 2, 3, 2);
  CHECK(row_major_l == packed_l);
  // R 2 x 10 row-major: a panel of 8 columns, then one of 2, each k-major.
  std::vector<float> r(20);
  for (int i = 0; i < 20; ++i) r[static_cast<std::size_t>(i)] = static_cast<float>(i);
  Buffer packed_r(gk::packed_rhs_size(2, 10));
  gk::pack_rhs<Eigen::RowMajor>(packed_r.data(), r.data(), 10, 2, 10);
  CHECK(packed_r(0) == 0);
  CHECK(packed_r(7) == 7);
  CHECK(packed_r(8) == 10);
  CHECK(packed_r(15) == 17);
  CHECK(packed_r(16) == 8);
  CHECK(packed_r(17) == 9);
  CHECK(packed_r(18) == 18);
  CHECK(packed_r(19) == 19);

  // More rows than one row block (mc) and more depth than one depth block (kc), column-major.
  const Eigen::Index rows = gk::mc + 45, depth = gk::kc + 19, cols = 11;
  const Matrix<float> lm = normal<float>(make_key(7), depth, rows).values;  // row-major depth x rows: L column-major
  const Matrix<float> rm = normal<float>(make_key(8), depth, cols).values;  // R row-major
  Buffer pl(gk::packed_lhs_size(rows, depth)), pr(gk::packed_rhs_size(depth, cols));
  gk::pack_lhs<Eigen::ColMajor>(pl.data(), lm.data(), rows, rows, depth);
  gk::pack_rhs<Eigen::RowMajor>(pr.data(), rm.data(), cols, depth, cols);
  Eigen::MatrixXf c = Eigen::MatrixXf::Constant(rows, cols, 0.5f);  // column-major
  gk::multiply_packed(rows, cols, depth, pl.data(), pr.data(), c.data(), rows);
  long mismatches = 0;
  for (Eigen::Index i = 0; i < rows; ++i)
    for (Eigen::Index j = 0; j < cols; ++j) {
      float want = 0.5f;
      for (Eigen::Index p = 0; p < depth; ++p) want = std::fma(lm(p, i), rm(p, j), want);
      mismatches += c(i, j) != want;
    }
  CHECK(mismatches == 0);
}

#else

TEST_CASE("without AVX-512 or AVX2 and FMA products of floats take Eigen's kernel", "[gemm]") {
  STATIC_REQUIRE(!detail::own_kernel<float>);
  STATIC_REQUIRE(!detail::own_kernel<double>);
}

#endif
