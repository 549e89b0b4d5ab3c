// ldm/gemm.hpp: the product every layer uses, against a plain triple loop in long double, for
// every transpose combination, awkward sizes, accumulation, and 1 to 3 threads.
#include <ldm/gemm.hpp>
#include <ldm/random.hpp>
#include <ldm/threads.hpp>

#include <catch2/catch.hpp>

#include <cmath>

using namespace ldm;

namespace {

// op(a) op(b), each entry summed in long double.
template <class S>
Matrix<long double> reference(const Matrix<S>& a, bool ta, const Matrix<S>& b, bool tb) {
  const Eigen::Index m = ta ? a.cols() : a.rows(), k = ta ? a.rows() : a.cols();
  const Eigen::Index n = tb ? b.rows() : b.cols();
  Matrix<long double> c = Matrix<long double>::Zero(m, n);
  for (Eigen::Index i = 0; i < m; ++i)
    for (Eigen::Index j = 0; j < n; ++j)
      for (Eigen::Index p = 0; p < k; ++p)
        c(i, j) += static_cast<long double>(ta ? a(p, i) : a(i, p)) * static_cast<long double>(tb ? b(j, p) : b(p, j));
  return c;
}

template <class S>
double max_error(const Matrix<S>& got, const Matrix<long double>& want) {
  REQUIRE(got.rows() == want.rows());
  REQUIRE(got.cols() == want.cols());
  return static_cast<double>((got.template cast<long double>() - want).cwiseAbs().maxCoeff());
}

template <bool TA, bool TB, class S>
void check_product(Eigen::Index m, Eigen::Index n, Eigen::Index k, double tolerance) {
  const Matrix<S> a = TA ? normal<S>(make_key(1), k, m).values : normal<S>(make_key(1), m, k).values;
  const Matrix<S> b = TB ? normal<S>(make_key(2), n, k).values : normal<S>(make_key(2), k, n).values;
  const Matrix<S> c0 = normal<S>(make_key(3), m, n).values;
  const Matrix<long double> want = reference(a, TA, b, TB);
  Matrix<S> c;
  detail::gemm<TA, TB>(a, b, c, false);
  CHECK(max_error(c, want) < tolerance);
  c = c0;
  detail::gemm<TA, TB>(a, b, c, true);
  CHECK(max_error(c, want + c0.template cast<long double>()) < tolerance);
}

template <class S>
void check_all(double tolerance) {
  // Sizes around the kernel's blocks (16-wide slices, 48-row panels, depth blocks of ~230),
  // one-row and one-column products, and an empty depth.
  const Eigen::Index sizes[][3] = {{1, 1, 1}, {1, 37, 5}, {37, 1, 5}, {3, 5, 7},       {16, 17, 33},
                                   {49, 47, 3}, {100, 33, 64}, {33, 100, 64}, {70, 50, 300}};
  for (const auto& s : sizes) {
    INFO("m " << s[0] << " n " << s[1] << " k " << s[2]);
    check_product<false, false, S>(s[0], s[1], s[2], tolerance);
    check_product<false, true, S>(s[0], s[1], s[2], tolerance);
    check_product<true, false, S>(s[0], s[1], s[2], tolerance);
    check_product<true, true, S>(s[0], s[1], s[2], tolerance);
  }
  Matrix<S> c = Matrix<S>::Constant(2, 3, S(5));
  detail::gemm<false, false>(Matrix<S>(2, 0), Matrix<S>(0, 3), c, true);  // k = 0 adds nothing
  CHECK(c == Matrix<S>::Constant(2, 3, S(5)));
  detail::gemm<false, false>(Matrix<S>(2, 0), Matrix<S>(0, 3), c, false);
  CHECK(c == Matrix<S>::Zero(2, 3));
}

}  // namespace

TEST_CASE("gemm matches a long-double triple loop for every transpose and 1-3 threads", "[gemm]") {
  const int threads = GENERATE(1, 2, 3);
  INFO("threads " << threads);
  set_num_threads(threads);
  SECTION("double") { check_all<double>(1e-12); }
  SECTION("float") { check_all<float>(2e-4); }
  set_num_threads(0);
}

TEST_CASE("gemm gives the same result on every run with a given thread count", "[gemm]") {
  const Matrix<float> a = normal<float>(make_key(4), 300, 257).values;
  const Matrix<float> b = normal<float>(make_key(5), 257, 190).values;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Matrix<float> first, again;
    detail::gemm<false, false>(a, b, first, false);
    detail::gemm<false, false>(a, b, again, false);
    REQUIRE(first == again);
  }
  set_num_threads(0);
}

TEST_CASE("gemm_blocks runs before and after once on disjoint blocks that cover C", "[gemm]") {
  const Matrix<float> a = normal<float>(make_key(6), 200, 64).values;
  const Matrix<float> b = normal<float>(make_key(7), 90, 64).values;
  for (int threads : {1, 2, 3}) {
    INFO("threads " << threads);
    set_num_threads(threads);
    // c = 1 + a b^T, then doubled: before sets each block to 1, after doubles it.
    Matrix<float> c(200, 90), marks = Matrix<float>::Zero(200, 90);
    detail::gemm_blocks<false, true>(a, b, c, [&](const detail::GemmBlock& k) {
      c.block(k.row, k.col, k.rows, k.cols).setOnes();
      marks.block(k.row, k.col, k.rows, k.cols).array() += 1;  // blocks are disjoint: no race
    }, [&](const detail::GemmBlock& k) { c.block(k.row, k.col, k.rows, k.cols) *= 2.0f; });
    REQUIRE(marks == Matrix<float>::Ones(200, 90));
    const Matrix<long double> want = (reference(a, false, b, true).array() + 1.0L) * 2.0L;
    CHECK(max_error(c, want) < 1e-3);
    // Depth 0: before and after still run, the product adds nothing.
    Matrix<float> empty(5, 4);
    detail::gemm_blocks<false, false>(Matrix<float>(5, 0), Matrix<float>(0, 4), empty,
                                      [&](const detail::GemmBlock& k) { empty.block(k.row, k.col, k.rows, k.cols).setConstant(3); },
                                      detail::NoBlockWork{});
    REQUIRE(empty == Matrix<float>::Constant(5, 4, 3));
  }
  set_num_threads(0);
}
