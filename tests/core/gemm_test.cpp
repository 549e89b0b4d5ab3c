// ldm/core/gemm.hpp: the product every layer uses, against a plain triple loop in long double, for
// every transpose combination, awkward sizes, accumulation, and 1 to 3 threads.
#include <ldm/core/gemm.hpp>
#include <ldm/core/random.hpp>
#include <ldm/core/threads.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

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
  const Eigen::Index sizes[][3] = {{1, 1, 1},   {1, 37, 5},    {37, 1, 5},    {3, 5, 7},    {16, 17, 33},
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
    detail::gemm_blocks<false, true>(
        a, b, c,
        [&](const detail::GemmBlock& k) {
          c.block(k.row, k.col, k.rows, k.cols).setOnes();
          marks.block(k.row, k.col, k.rows, k.cols).array() += 1;  // blocks are disjoint: no race
        },
        [&](const detail::GemmBlock& k) { c.block(k.row, k.col, k.rows, k.cols) *= 2.0f; });
    REQUIRE(marks == Matrix<float>::Ones(200, 90));
    const Matrix<long double> want = (reference(a, false, b, true).array() + 1.0L) * 2.0L;
    CHECK(max_error(c, want) < 1e-3);
    // Depth 0: before and after still run, the product adds nothing.
    Matrix<float> empty(5, 4);
    detail::gemm_blocks<false, false>(
        Matrix<float>(5, 0), Matrix<float>(0, 4), empty,
        [&](const detail::GemmBlock& k) { empty.block(k.row, k.col, k.rows, k.cols).setConstant(3); },
        detail::NoBlockWork{});
    REQUIRE(empty == Matrix<float>::Constant(5, 4, 3));
  }
  set_num_threads(0);
}

// c = op(a) op(b) through gemm_blocks, packing b into packs (or not, with nullptr).
template <bool TB>
Matrix<float> product(const Matrix<float>& a, const Matrix<float>& b, detail::PackedWeights<float>* packs) {
  Matrix<float> c(a.rows(), TB ? b.rows() : b.cols());
  detail::gemm_blocks<false, TB>(
      a, b, c, [&](const detail::GemmBlock& k) { c.block(k.row, k.col, k.rows, k.cols).setZero(); },
      detail::NoBlockWork{}, packs);
  return c;
}

TEST_CASE("gemm_blocks with PackedWeights gives the same bits, packing each weight once", "[gemm]") {
  // Batches of 1, a few and many rows against layer-sized weights (out x in): the kernel's
  // matrix-vector case, slices of the weight per thread, and slices of the batch per thread.
  const Eigen::Index shapes[][3] = {{1, 1024, 256}, {3, 256, 1024}, {16, 287, 256}, {300, 1024, 256}, {40, 33, 600}};
  for (const int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (const auto& s : shapes) {
      INFO("threads " << threads << ", batch " << s[0] << ", weight " << s[1] << " x " << s[2]);
      const Matrix<float> x = normal<float>(make_key(20), s[0], s[2]).values;
      const Matrix<float> w = normal<float>(make_key(21), s[1], s[2]).values;
      const Matrix<float> wt = w.transpose();
      detail::PackedWeights<float> packs;
      const Matrix<float> plain = product<true>(x, w, nullptr);
      REQUIRE(product<true>(x, w, &packs) == plain);
      const std::size_t entries = packs.entries();
      REQUIRE(product<true>(x, w, &packs) == plain);                             // from the packs: the same bits again
      CHECK(packs.entries() == entries);                                         // nothing packed twice
      REQUIRE(product<false>(x, wt, &packs) == product<false>(x, wt, nullptr));  // a column-major weight
#ifdef EIGEN_USE_BLAS
      CHECK(packs.entries() == 0);  // the BLAS packs on its own
#else
      CHECK(entries >= 1);
      CHECK(packs.entries() > entries);  // the column-major weight is an entry of its own
#endif
    }
  }
  set_num_threads(0);
}

TEST_CASE("gemm_blocks on a row slice computes those rows of C alone, on the calling thread", "[gemm]") {
  const Matrix<double> a = normal<double>(make_key(8), 300, 64).values;
  const Matrix<double> bt = normal<double>(make_key(9), 90, 64).values;  // used as b^T
  const Matrix<double> b = bt.transpose();
  for (int threads : {1, 2}) {
    INFO("threads " << threads);
    set_num_threads(threads);
    for (const bool trans_b : {true, false}) {
      INFO("trans_b " << trans_b);
      // c = 2 (1 + a op(b)) on rows 37 .. 136; every other row keeps its 7.
      Matrix<double> c = Matrix<double>::Constant(300, 90, 7.0);
      int before_calls = 0, after_calls = 0;
      detail::GemmBlock seen{};
      const auto before = [&](const detail::GemmBlock& k) {
        ++before_calls;
        seen = k;
        c.block(k.row, k.col, k.rows, k.cols).setOnes();
      };
      const auto after = [&](const detail::GemmBlock& k) {
        ++after_calls;
        c.block(k.row, k.col, k.rows, k.cols) *= 2.0;
      };
      if (trans_b)
        detail::gemm_blocks<false, true>(a, bt, c, detail::RowSlice{37, 100}, before, after);
      else
        detail::gemm_blocks<false, false>(a, b, c, detail::RowSlice{37, 100}, before, after);
      REQUIRE(before_calls == 1);
      REQUIRE(after_calls == 1);
      REQUIRE(seen.row == 37);
      REQUIRE(seen.rows == 100);
      REQUIRE(seen.col == 0);
      REQUIRE(seen.cols == 90);
      const Matrix<long double> want = (reference(a, false, bt, true).array() + 1.0L) * 2.0L;
      CHECK(max_error<double>(c.middleRows(37, 100), want.middleRows(37, 100)) < 1e-12);
      CHECK(c.topRows(37) == Matrix<double>::Constant(37, 90, 7.0));
      CHECK(c.bottomRows(163) == Matrix<double>::Constant(163, 90, 7.0));
      // An empty slice calls nothing and changes nothing.
      const Matrix<double> kept = c;
      detail::gemm_blocks<false, true>(a, bt, c, detail::RowSlice{5, 0}, before, after);
      REQUIRE(before_calls == 1);
      REQUIRE(c == kept);
    }
  }
  set_num_threads(0);
}

TEST_CASE("for_row_slices gives each thread one aligned share of the rows, only for big batches", "[gemm]") {
  const auto covered = [](Eigen::Index n) {
    std::vector<int> hits(static_cast<std::size_t>(n), 0);
    std::vector<detail::RowSlice> slices(8, detail::RowSlice{-1, -1});
    const bool ran = detail::for_row_slices(n, [&](detail::RowSlice rows) {
#ifdef _OPENMP
      slices[static_cast<std::size_t>(omp_get_thread_num())] = rows;  // one slot per thread: no race
#else
      slices[0] = rows;
#endif
    });
    for (const detail::RowSlice& s : slices)
      if (s.count > 0) {
        CHECK(s.first % 16 == 0);
        for (Eigen::Index r = s.first; r < s.first + s.count; ++r) hits[static_cast<std::size_t>(r)] += 1;
      }
    return std::pair{ran, ran ? std::count(hits.begin(), hits.end(), 1) : Eigen::Index{0}};
  };
  set_num_threads(2);
#ifdef _OPENMP
  REQUIRE(covered(300) == std::pair<bool, Eigen::Index>{true, 300});  // 2 x 150 >= 2 x 128 rows
  REQUIRE(covered(1024) == std::pair<bool, Eigen::Index>{true, 1024});
  set_num_threads(3);
  REQUIRE(covered(401) == std::pair<bool, Eigen::Index>{true, 401});  // 144 + 144 + 113
#endif
  set_num_threads(2);
  REQUIRE(covered(255).first == false);  // under 128 rows per thread: the caller goes layer by layer
  set_num_threads(1);
  REQUIRE(covered(4096).first == false);
  set_num_threads(0);
  REQUIRE(detail::RowSlice{}.all());
  REQUIRE_FALSE((detail::RowSlice{0, 0}.all()));
}
