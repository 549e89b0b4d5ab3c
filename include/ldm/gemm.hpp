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
// Results do not depend on the thread count as long as the slices keep each entry's sum in the
// same order, which Eigen's kernel does not promise: GEMM sums may differ in the last bits
// between thread counts (never between runs with the same count).
#pragma once

#include <ldm/tensor.hpp>

#include <Eigen/Core>

#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ldm::detail {

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
void gemm_serial(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth, const S* lhs, Eigen::Index ldl,
                 const S* rhs, Eigen::Index ldr, S* res, Eigen::Index ldres) {
  Eigen::Index kc = depth, mc = rows, nc = cols;
  Eigen::internal::computeProductBlockingSizes<S, S, 1, Eigen::Index>(kc, mc, nc, Eigen::Index{1});
  thread_local PackingBuffers<S> buffers;
  if (buffers.a.size() < kc * mc) buffers.a.resize(kc * mc);
  if (buffers.b.size() < kc * nc) buffers.b.resize(kc * nc);
  OwnedBlocking<S> blocking(kc, mc, nc, buffers.a.data(), buffers.b.data());
  Eigen::internal::general_matrix_matrix_product<Eigen::Index, S, LhsOrder, false, S, RhsOrder, false,
                                                 Eigen::ColMajor, 1>::run(rows, cols, depth, lhs, ldl, rhs, ldr,
                                                                          res, 1, ldres, S(1), blocking);
}

// C (m x n, row-major) += op(A) (m x k) op(B) (k x n). In column-major terms C^T = op(B)^T op(A)^T,
// and the transpose of a row-major matrix is the same memory read column-major, so every
// operand keeps its own leading dimension (its column count).
template <class S, bool TransA, bool TransB>
void gemm_accumulate(const Matrix<S>& a, const Matrix<S>& b, Matrix<S>& c, int threads) {
  const Eigen::Index m = c.rows(), n = c.cols(), k = TransA ? a.rows() : a.cols();
  if (m == 0 || n == 0 || k == 0) return;
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
    if (slice_rows) {
      const S* rhs = RhsOrder == Eigen::ColMajor ? a.data() + first * lda : a.data() + first;
      gemm_serial<S, LhsOrder, RhsOrder>(n, count, k, b.data(), ldb, rhs, lda, c.data() + first * ldc, ldc);
    } else {
      const S* lhs = LhsOrder == Eigen::ColMajor ? b.data() + first : b.data() + first * ldb;
      gemm_serial<S, LhsOrder, RhsOrder>(count, m, k, lhs, ldb, a.data(), lda, c.data() + first, ldc);
    }
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

// c = op(a) op(b) (accumulate false, c resized) or c += op(a) op(b) (accumulate true, c must
// already be m x n). op is the transpose when TransA / TransB.
template <bool TransA, bool TransB, class S>
void gemm(const Matrix<S>& a, const Matrix<S>& b, Matrix<S>& c, bool accumulate) {
  const Eigen::Index m = TransA ? a.cols() : a.rows();
  const Eigen::Index n = TransB ? b.rows() : b.cols();
  if (!accumulate) c.setZero(m, n);
#ifdef EIGEN_USE_BLAS
  if constexpr (TransA && TransB)
    c.noalias() += a.transpose() * b.transpose();
  else if constexpr (TransA)
    c.noalias() += a.transpose() * b;
  else if constexpr (TransB)
    c.noalias() += a * b.transpose();
  else
    c.noalias() += a * b;
#else
  gemm_accumulate<S, TransA, TransB>(a, b, c, Eigen::nbThreads());
#endif
}

}  // namespace ldm::detail
