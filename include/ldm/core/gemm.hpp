// The one matrix product every layer uses: C (+)= op(A) op(B) on row-major matrices, threaded
// with OpenMP and allocation-free once warm.
//
// Why not just `c.noalias() += a * b`: Eigen's own GEMM takes its packing buffers from the heap
// on every call, and its threaded version makes the threads wait on each other by spinning,
// which collapses on a machine busier than its thread count. Here each OpenMP thread computes
// its own slice of C with Eigen's single-threaded GEMM kernel (the same blocked kernel and
// packing Eigen uses), packing into a per-thread buffer kept from call to call; the threads meet
// only at the end of the parallel region. With EIGEN_USE_BLAS (CMake LDM_USE_BLAS) the product
// is Eigen's BLAS call instead, which threads itself and does not allocate either.
//
// gemm_blocks lets a caller run elementwise work on each thread's slice of C inside the same
// region, before the product (bias, residual, zeroing) and after it (an activation), so that
// work is threaded, takes no fork of its own and finds the slice in that thread's cache.
//
// Results do not depend on the thread count as long as the slices keep each entry's sum in the
// same order, which Eigen's kernel does not promise: GEMM sums may differ in the last bits
// between thread counts (never between runs with the same count).
#pragma once

#include <ldm/core/checks.hpp>

#include <Eigen/Core>

#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ldm::detail {

// A thread's part of a product's output C: rows [row, row + rows) x columns [col, col + cols).
struct GemmBlock {
  Eigen::Index row, rows, col, cols;
};

// Per-block work that does nothing.
struct NoBlockWork {
  void operator()(const GemmBlock&) const {}
};

// Rows [first, first + count) of a batch, or every row (the default). Rows of a batch are
// independent in a forward pass, so a model can open one parallel region and take each thread
// through all its layers on its own rows (for_row_slices) instead of one region per layer,
// whose threads wait on each other at every layer's end. A layer call given a slice computes
// only those rows of its output, on the calling thread; its outputs must already be sized.
struct RowSlice {
  Eigen::Index first = 0, count = -1;  // count < 0: every row, each product threaded
  bool all() const { return count < 0; }
};

#ifndef EIGEN_USE_BLAS

// Eigen's blocking object with buffers we own (Eigen's level3_blocking leaves them to us).
template <class S>
class OwnedBlocking : public Eigen::internal::level3_blocking<S, S> {
 public:
  OwnedBlocking(Eigen::Index kc, Eigen::Index mc, Eigen::Index nc, S* a, S* b) {
    this->m_kc = kc;
    this->m_mc = mc;
    this->m_nc = nc;
    this->m_blockA = a;
    this->m_blockB = b;
  }
};

// Per-thread packing buffers: they grow to the largest block seen and are then reused.
template <class S>
struct PackingBuffers {
  Eigen::Matrix<S, Eigen::Dynamic, 1> a, b;
};

// R (rows x cols, column-major, leading dimension ldr) += L (rows x depth) * Rt (depth x cols),
// single-threaded, with the storage orders of L and Rt given at compile time.
template <class S, int LhsOrder, int RhsOrder>
void gemm_serial(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth, const S* lhs, Eigen::Index ldl, const S* rhs,
                 Eigen::Index ldr, S* res, Eigen::Index ldres) {
  Eigen::Index kc = depth, mc = rows, nc = cols;
  Eigen::internal::computeProductBlockingSizes<S, S, 1, Eigen::Index>(kc, mc, nc, Eigen::Index{1});
  thread_local PackingBuffers<S> buffers;
  if (buffers.a.size() < kc * mc) buffers.a.resize(kc * mc);
  if (buffers.b.size() < kc * nc) buffers.b.resize(kc * nc);
  OwnedBlocking<S> blocking(kc, mc, nc, buffers.a.data(), buffers.b.data());
  Eigen::internal::general_matrix_matrix_product<Eigen::Index, S, LhsOrder, false, S, RhsOrder, false, Eigen::ColMajor,
                                                 1>::run(rows, cols, depth, lhs, ldl, rhs, ldr, res, 1, ldres, S(1),
                                                         blocking);
}

// C (m x n, row-major) += op(A) (m x k) op(B) (k x n), with before / after run by each thread on
// its own block of C (see gemm_blocks). In column-major terms C^T = op(B)^T op(A)^T, and the
// transpose of a row-major matrix is the same memory read column-major, so every operand keeps
// its own leading dimension (its column count).
template <class S, bool TransA, bool TransB, class Before, class After>
void gemm_accumulate(const Matrix<S>& a, const Matrix<S>& b, Matrix<S>& c, int threads, Before& before, After& after) {
  const Eigen::Index m = c.rows(), n = c.cols(), k = TransA ? a.rows() : a.cols();
  if (m == 0 || n == 0) return;
  constexpr int LhsOrder = TransB ? Eigen::RowMajor : Eigen::ColMajor;  // op(B)^T, n x k
  constexpr int RhsOrder = TransA ? Eigen::RowMajor : Eigen::ColMajor;  // op(A)^T, k x m
  const Eigen::Index ldb = b.cols(), lda = a.cols(), ldc = c.cols();
  // Enough work per thread to pay for a fork (about 1 MFLOP), and no more threads than slices.
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  threads = static_cast<int>(std::min<double>(threads, std::max(1.0, flops / 1e6)));
  // Slice C along its longer side: rows of C (columns of C^T) or columns of C (rows of C^T).
  const bool slice_rows = m >= n;
  const Eigen::Index extent = slice_rows ? m : n;
  constexpr Eigen::Index align = 16;  // slice edges on whole kernel blocks
  threads = static_cast<int>(std::min<Eigen::Index>(threads, (extent + align - 1) / align));
  const auto run = [&](int part, int parts) {
    const Eigen::Index per = ((extent + parts - 1) / parts + align - 1) / align * align;
    const Eigen::Index first = std::min<Eigen::Index>(extent, part * per);
    const Eigen::Index count = std::min<Eigen::Index>(extent - first, per);
    if (count <= 0) return;
    const GemmBlock block = slice_rows ? GemmBlock{first, count, 0, n} : GemmBlock{0, m, first, count};
    before(block);
    if (k > 0) {
      if (slice_rows) {
        const S* rhs = RhsOrder == Eigen::ColMajor ? a.data() + first * lda : a.data() + first;
        gemm_serial<S, LhsOrder, RhsOrder>(n, count, k, b.data(), ldb, rhs, lda, c.data() + first * ldc, ldc);
      } else {
        const S* lhs = LhsOrder == Eigen::ColMajor ? b.data() + first : b.data() + first * ldb;
        gemm_serial<S, LhsOrder, RhsOrder>(count, m, k, lhs, ldb, a.data(), lda, c.data() + first, ldc);
      }
    }
    after(block);
  };
  if (threads <= 1) {
    run(0, 1);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  run(omp_get_thread_num(), omp_get_num_threads());
#else
  run(0, 1);
#endif
}

#endif  // EIGEN_USE_BLAS

// c = before; c += op(a) op(b); after, where c must already be m x n and every thread that takes
// part calls before(block) on its own block of c just before adding the product into it and
// after(block) once that block is final. The blocks are disjoint and cover c. This is where the
// passes around a product go (bias, residual, zeroing, an activation): done by the thread that
// computes the block, while it is in that thread's cache, and inside the product's one parallel
// region instead of a region of their own. before and after must be elementwise (the result
// must not depend on how c is cut) and must not throw.
template <bool TransA, bool TransB, class S, class Before, class After>
void gemm_blocks(const Matrix<S>& a, const Matrix<S>& b, Matrix<S>& c, Before&& before, After&& after) {
#ifdef EIGEN_USE_BLAS
  const GemmBlock all{0, c.rows(), 0, c.cols()};
  before(all);
  if constexpr (TransA && TransB)
    c.noalias() += a.transpose() * b.transpose();
  else if constexpr (TransA)
    c.noalias() += a.transpose() * b;
  else if constexpr (TransB)
    c.noalias() += a * b.transpose();
  else
    c.noalias() += a * b;
  after(all);
#else
  gemm_accumulate<S, TransA, TransB>(a, b, c, Eigen::nbThreads(), before, after);
#endif
}

// gemm_blocks on the rows of c that `rows` names, from the same rows of a, on the calling thread
// alone (one block: those rows, every column); every row, threaded, when rows.all().
template <bool TransA, bool TransB, class S, class Before, class After>
void gemm_blocks(const Matrix<S>& a, const Matrix<S>& b, Matrix<S>& c, RowSlice rows, Before&& before, After&& after) {
  static_assert(!TransA, "a row slice of op(a) op(b) needs the same rows of a, so a must not be transposed");
  if (rows.all()) {
    gemm_blocks<TransA, TransB>(a, b, c, before, after);
    return;
  }
  if (rows.count == 0 || c.cols() == 0) return;
  const GemmBlock block{rows.first, rows.count, 0, c.cols()};
  before(block);
#ifdef EIGEN_USE_BLAS
  if constexpr (TransB)
    c.middleRows(rows.first, rows.count).noalias() += a.middleRows(rows.first, rows.count) * b.transpose();
  else
    c.middleRows(rows.first, rows.count).noalias() += a.middleRows(rows.first, rows.count) * b;
#else
  // As gemm_accumulate's row slices: C^T (n x count) = op(B)^T (n x k) A^T (k x count).
  if (a.cols() > 0)
    gemm_serial<S, TransB ? Eigen::RowMajor : Eigen::ColMajor, Eigen::ColMajor>(
        c.cols(), rows.count, a.cols(), b.data(), b.cols(), a.data() + rows.first * a.cols(), a.cols(),
        c.data() + rows.first * c.cols(), c.cols());
#endif
  after(block);
}

// Row slices only when every thread gets this many rows: each thread then packs every weight
// matrix whole, which a small slice does not pay back (at 128 rows of the denoiser's up layer,
// ~67 MFLOP per thread against 1 MB of weights to pack; batch 256 on 2 threads was no slower).
inline constexpr Eigen::Index row_slice_min_rows = 128;

// f(RowSlice) on each thread of one parallel region, each a contiguous share of the n rows (edges
// on multiples of 16, whole kernel blocks), when at least two threads get row_slice_min_rows
// rows each and no region is open yet; otherwise nothing is called and it returns false (the
// caller then runs its layers on every row, each product threaded). f must not throw.
template <class F>
bool for_row_slices(Eigen::Index n, F&& f) {
#ifdef _OPENMP
  const auto threads = static_cast<int>(std::min<Eigen::Index>(Eigen::nbThreads(), n / row_slice_min_rows));
  if (threads < 2 || omp_in_parallel()) return false;
#pragma omp parallel num_threads(threads)
  {
    constexpr Eigen::Index align = 16;
    const Eigen::Index parts = omp_get_num_threads(), part = omp_get_thread_num();
    const Eigen::Index per = ((n + parts - 1) / parts + align - 1) / align * align;
    const Eigen::Index first = std::min<Eigen::Index>(n, part * per);
    f(RowSlice{first, std::min<Eigen::Index>(n - first, per)});
  }
  return true;
#else
  (void)n;
  (void)f;
  return false;
#endif
}

// f on row slices as for_row_slices does, or else once on every row, f(RowSlice{}): how a
// model runs its layers on a batch of any size.
template <class F>
void by_row_slices(Eigen::Index n, F&& f) {
  if (!for_row_slices(n, f)) f(RowSlice{});
}

// c = op(a) op(b) (accumulate false, c resized; each thread zeroes its own block) or
// c += op(a) op(b) (accumulate true, c must already be m x n). op is the transpose when
// TransA / TransB.
template <bool TransA, bool TransB, class S>
void gemm(const Matrix<S>& a, const Matrix<S>& b, Matrix<S>& c, bool accumulate) {
  if (accumulate) {
    gemm_blocks<TransA, TransB>(a, b, c, NoBlockWork{}, NoBlockWork{});
    return;
  }
  c.resize(TransA ? a.cols() : a.rows(), TransB ? b.rows() : b.cols());
  gemm_blocks<TransA, TransB>(
      a, b, c, [&](const GemmBlock& blk) { c.block(blk.row, blk.col, blk.rows, blk.cols).setZero(); }, NoBlockWork{});
}

}  // namespace ldm::detail
