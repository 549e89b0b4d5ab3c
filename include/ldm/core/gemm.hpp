// The one matrix product every layer uses: C (+)= op(A) op(B) on row-major matrices, threaded
// with OpenMP and allocation-free once warm.
//
// Why not just `c.noalias() += a * b`: Eigen's own GEMM takes its packing buffers from the heap
// on every call, and its threaded version makes the threads wait on each other by spinning,
// which collapses on a machine busier than its thread count. Here each OpenMP thread computes
// its own slice of C with a single-threaded kernel (ldm's own for floats on AVX-512 or AVX2, see below;
// else Eigen's, with Eigen's blocking and packing), packing into a per-thread buffer kept from
// call to call; the threads meet only at the end of the parallel region. With EIGEN_USE_BLAS
// (CMake LDM_USE_BLAS) the product is Eigen's BLAS call instead, which threads itself and does
// not allocate either.
//
// gemm_blocks lets a caller run elementwise work on each thread's slice of C inside the same
// region, before the product (bias, residual, zeroing) and after it (an activation), so that
// work is threaded, takes no fork of its own and finds the slice in that thread's cache.
//
// Products of floats on a CPU with AVX-512, or AVX2 and FMA, use ldm's own kernel
// (gemm_kernel.hpp), whose every entry is one fma chain in a fixed order: the same bits on any
// thread count. Elsewhere (double, or an older CPU) it is Eigen's kernel, whose sums may differ in the last bits
// between thread counts (never between runs with the same count).
//
// PackedWeights keeps the packed form of weights that do not change (a model sampling): the
// kernel's left operand is then packed once, not on every call, and the same bits come out.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/gemm_kernel.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ldm::detail {

// Products of floats take ldm's own kernel where it is built (AVX-512 or AVX2, gemm_kernel.hpp): the
// same bits on any thread count; others take Eigen's, or the BLAS with EIGEN_USE_BLAS.
#ifdef EIGEN_USE_BLAS
inline constexpr bool blas_products = true;
#else
inline constexpr bool blas_products = false;
#endif
template <class S>
inline constexpr bool own_kernel = gemm_kernel::available && !blas_products && std::is_same_v<S, float>;

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

// The left operands of products, packed once for the kernel and kept: for a model whose
// weights do not change while it is used (sampling), every layer's weight is packed on its
// first product and reused by every later step and by every thread, instead of being packed
// again on each call. Packing only moves the values, and the kernel is called on the same
// blocks as without the pack (Eigen's kernel: as Eigen's own GEMM would call it), so the
// results are the same bits. With EIGEN_USE_BLAS the BLAS packs on its own and this stays empty.
//
// An entry is keyed by the operand's address, shape and the blocking (which depends on the
// other operand's size too) and keeps a copy of the values it was packed from: after recheck()
// each entry's first use compares that copy with the memory bit for bit and packs again if the
// weights changed, so a kept PackedWeights never gives a stale result (a model that samples
// again after more training, or one freed and another built at the same address). Between
// rechecks the weights must not change. Thread-safe; a copy starts empty (packs belong to the
// weights they were made from). Nothing is allocated once every shape has been seen.
template <class S>
class PackedWeights {
 public:
  using Buffer = Eigen::Matrix<S, Eigen::Dynamic, 1>;  // Eigen aligns it as the kernel's loads need

  PackedWeights() = default;
  PackedWeights(const PackedWeights&) {}
  PackedWeights& operator=(const PackedWeights&) {
    const std::lock_guard<std::mutex> lock(mutex_);
    packed_.clear();
    return *this;
  }

  // The weights may have changed since the last use: compare each entry with its memory again
  // on its next use. Cheap (one read of the weights per entry); call it at the start of a use.
  void recheck() {
    const std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
  }

  // The blocks of L (rows x depth, leading dimension ldl, storage order Order), kc x mc each, in
  // the order Eigen's GEMM visits them (rows blocks outer, depth blocks inner), each starting
  // at a multiple of block_stride(kc, mc): packed now if this shape has not been seen yet or
  // its values changed (see recheck). pack(to, i2, k2, kc_actual, mc_actual) packs one block.
  template <int Order, class Pack>
  const S* blocks(const S* l, Eigen::Index ldl, Eigen::Index rows, Eigen::Index depth, Eigen::Index kc, Eigen::Index mc,
                  Pack&& pack) {
    const Eigen::Index stride = block_stride(kc, mc);
    const Eigen::Index size = ((rows + mc - 1) / mc) * ((depth + kc - 1) / kc) * stride;
    return packed<Order>(l, ldl, rows, depth, kc, mc, size, [&](S* out) {
      for (Eigen::Index i2 = 0; i2 < rows; i2 += mc)
        for (Eigen::Index k2 = 0; k2 < depth; k2 += kc, out += stride)
          pack(out, i2, k2, std::min(k2 + kc, depth) - k2, std::min(i2 + mc, rows) - i2);
    });
  }

  // L (as for blocks) packed whole into `size` values by pack(to), for a kernel with its own
  // layout (gemm_kernel.hpp): packed now if not seen yet or changed, as blocks.
  template <int Order, class Pack>
  const S* whole(const S* l, Eigen::Index ldl, Eigen::Index rows, Eigen::Index depth, Eigen::Index size, Pack&& pack) {
    return packed<Order>(l, ldl, rows, depth, -1, -1, size, pack);
  }

  // Room for one kc x mc block, rounded up to 64 bytes so every block starts aligned.
  static Eigen::Index block_stride(Eigen::Index kc, Eigen::Index mc) {
    constexpr Eigen::Index align = 64 / static_cast<Eigen::Index>(sizeof(S));
    return (kc * mc + align - 1) / align * align;
  }

  std::size_t entries() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return packed_.size();
  }

 private:
  // The entry for this operand and key, filled by fill(to) with `size` values if new or changed.
  template <int Order, class Fill>
  const S* packed(const S* l, Eigen::Index ldl, Eigen::Index rows, Eigen::Index depth, Eigen::Index kc, Eigen::Index mc,
                  Eigen::Index size, Fill&& fill) {
    const std::lock_guard<std::mutex> lock(mutex_);
    auto [it, inserted] = packed_.try_emplace(Key{l, Order, ldl, rows, depth, kc, mc});
    Entry& e = it->second;
    if (!inserted && e.checked == generation_) return e.packed.data();
    // The operand as lines of `along` values each (rows of a row-major L, columns of a column-major one).
    const Eigen::Index lines = Order == Eigen::RowMajor ? rows : depth, along = Order == Eigen::RowMajor ? depth : rows;
    const auto bytes = static_cast<std::size_t>(along) * sizeof(S);
    bool same = !inserted;
    for (Eigen::Index i = 0; same && i < lines; ++i)
      same = std::memcmp(e.source.data() + i * along, l + i * ldl, bytes) == 0;
    e.checked = generation_;
    if (same) return e.packed.data();
    e.source.resize(lines * along);
    for (Eigen::Index i = 0; i < lines; ++i) std::memcpy(e.source.data() + i * along, l + i * ldl, bytes);
    e.packed.resize(size);
    fill(e.packed.data());
    return e.packed.data();
  }

  using Key = std::tuple<const S*, int, Eigen::Index, Eigen::Index, Eigen::Index, Eigen::Index, Eigen::Index>;
  struct Entry {
    Buffer packed, source;
    std::uint64_t checked = 0;
  };
  mutable std::mutex mutex_;
  std::map<Key, Entry> packed_;
  std::uint64_t generation_ = 0;
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
// single-threaded, with the storage orders of L and Rt given at compile time. With packs, L is
// taken packed from there (see PackedWeights) and only Rt is packed here; the loop is Eigen's
// own (general_matrix_matrix_product::run, sequential branch), so the kernel sees the same
// blocks in the same order and the sums are the same bits.
template <class S, int LhsOrder, int RhsOrder>
void gemm_serial(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth, const S* lhs, Eigen::Index ldl, const S* rhs,
                 Eigen::Index ldr, S* res, Eigen::Index ldres, PackedWeights<S>* packs = nullptr) {
  thread_local PackingBuffers<S> buffers;
#ifdef LDM_GEMM_KERNEL
  if constexpr (own_kernel<S>) {
    namespace gk = gemm_kernel;
    const Eigen::Index lhs_size = gk::packed_lhs_size(rows, depth), rhs_size = gk::packed_rhs_size(depth, cols);
    const auto pack = [&](float* to) { gk::pack_lhs<LhsOrder>(to, lhs, ldl, rows, depth); };
    const float* packed_lhs = nullptr;
    if (packs != nullptr) {
      packed_lhs = packs->template whole<LhsOrder>(lhs, ldl, rows, depth, lhs_size, pack);
    } else {
      if (buffers.a.size() < lhs_size) buffers.a.resize(lhs_size);
      pack(buffers.a.data());
      packed_lhs = buffers.a.data();
    }
    if (buffers.b.size() < rhs_size) buffers.b.resize(rhs_size);
    gk::pack_rhs<RhsOrder>(buffers.b.data(), rhs, ldr, depth, cols);
    gk::multiply_packed(rows, cols, depth, packed_lhs, buffers.b.data(), res, ldres);
    return;
  }
#endif
  Eigen::Index kc = depth, mc = rows, nc = cols;
  Eigen::internal::computeProductBlockingSizes<S, S, 1, Eigen::Index>(kc, mc, nc, Eigen::Index{1});
  if (buffers.b.size() < kc * nc) buffers.b.resize(kc * nc);
  if (packs == nullptr) {
    if (buffers.a.size() < kc * mc) buffers.a.resize(kc * mc);
    OwnedBlocking<S> blocking(kc, mc, nc, buffers.a.data(), buffers.b.data());
    Eigen::internal::general_matrix_matrix_product<Eigen::Index, S, LhsOrder, false, S, RhsOrder, false,
                                                   Eigen::ColMajor, 1>::run(rows, cols, depth, lhs, ldl, rhs, ldr, res,
                                                                            1, ldres, S(1), blocking);
    return;
  }
  namespace ei = Eigen::internal;
  using Traits = ei::gebp_traits<S, S>;
  using LhsMapper = ei::const_blas_data_mapper<S, Eigen::Index, LhsOrder>;
  using RhsMapper = ei::const_blas_data_mapper<S, Eigen::Index, RhsOrder>;
  using ResMapper = ei::blas_data_mapper<S, Eigen::Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  ei::gemm_pack_lhs<S, Eigen::Index, LhsMapper, Traits::mr, Traits::LhsProgress, typename Traits::LhsPacket4Packing,
                    LhsOrder>
      pack_lhs;
  ei::gemm_pack_rhs<S, Eigen::Index, RhsMapper, Traits::nr, RhsOrder> pack_rhs;
  ei::gebp_kernel<S, S, Eigen::Index, ResMapper, Traits::mr, Traits::nr, false, false> gebp;
  mc = std::min(rows, mc);  // as run() clamps them
  nc = std::min(cols, nc);
  const LhsMapper l(lhs, ldl);
  const RhsMapper r(rhs, ldr);
  const ResMapper out(res, ldres);
  const S* block_a = packs->template blocks<LhsOrder>(
      lhs, ldl, rows, depth, kc, mc, [&](S* to, Eigen::Index i2, Eigen::Index k2, Eigen::Index kcs, Eigen::Index mcs) {
        pack_lhs(to, l.getSubMapper(i2, k2), kcs, mcs);
      });
  const Eigen::Index stride = PackedWeights<S>::block_stride(kc, mc);
  const bool pack_rhs_once = mc != rows && kc == depth && nc == cols;
  for (Eigen::Index i2 = 0; i2 < rows; i2 += mc) {
    const Eigen::Index mcs = std::min(i2 + mc, rows) - i2;
    for (Eigen::Index k2 = 0; k2 < depth; k2 += kc, block_a += stride) {
      const Eigen::Index kcs = std::min(k2 + kc, depth) - k2;
      for (Eigen::Index j2 = 0; j2 < cols; j2 += nc) {
        const Eigen::Index ncs = std::min(j2 + nc, cols) - j2;
        if (!pack_rhs_once || i2 == 0) pack_rhs(buffers.b.data(), r.getSubMapper(k2, j2), kcs, ncs);
        gebp(out.getSubMapper(i2, j2), block_a, buffers.b.data(), mcs, kcs, ncs, S(1));
      }
    }
  }
}

// C (m x n, row-major) += op(A) (m x k) op(B) (k x n), with before / after run by each thread on
// its own block of C (see gemm_blocks). In column-major terms C^T = op(B)^T op(A)^T, and the
// transpose of a row-major matrix is the same memory read column-major, so every operand keeps
// its own leading dimension (its column count).
template <class S, bool TransA, bool TransB, class Before, class After>
void gemm_accumulate(const Matrix<S>& a, const Matrix<S>& b, Matrix<S>& c, int threads, Before& before, After& after,
                     PackedWeights<S>* packs) {
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
  constexpr Eigen::Index align = own_kernel<S> ? gemm_kernel::mr : 16;  // slice edges on whole kernel tiles
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
        gemm_serial<S, LhsOrder, RhsOrder>(n, count, k, b.data(), ldb, rhs, lda, c.data() + first * ldc, ldc, packs);
      } else {
        const S* lhs = LhsOrder == Eigen::ColMajor ? b.data() + first : b.data() + first * ldb;
        gemm_serial<S, LhsOrder, RhsOrder>(count, m, k, lhs, ldb, a.data(), lda, c.data() + first, ldc, packs);
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
// With packs, b (the right operand, a layer's weight) is taken packed from there (see
// PackedWeights): the same bits, without packing b again on every call.
template <bool TransA, bool TransB, class S, class Before, class After>
void gemm_blocks(const Matrix<S>& a, const Matrix<S>& b, Matrix<S>& c, Before&& before, After&& after,
                 PackedWeights<S>* packs = nullptr) {
#ifdef EIGEN_USE_BLAS
  (void)packs;
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
  gemm_accumulate<S, TransA, TransB>(a, b, c, Eigen::nbThreads(), before, after, packs);
#endif
}

// gemm_blocks on the rows of c that `rows` names, from the same rows of a, on the calling thread
// alone (one block: those rows, every column); every row, threaded, when rows.all().
template <bool TransA, bool TransB, class S, class Before, class After>
void gemm_blocks(const Matrix<S>& a, const Matrix<S>& b, Matrix<S>& c, RowSlice rows, Before&& before, After&& after,
                 PackedWeights<S>* packs = nullptr) {
  static_assert(!TransA, "a row slice of op(a) op(b) needs the same rows of a, so a must not be transposed");
  if (rows.all()) {
    gemm_blocks<TransA, TransB>(a, b, c, before, after, packs);
    return;
  }
  if (rows.count == 0 || c.cols() == 0) return;
  const GemmBlock block{rows.first, rows.count, 0, c.cols()};
  before(block);
#ifdef EIGEN_USE_BLAS
  (void)packs;
  if constexpr (TransB)
    c.middleRows(rows.first, rows.count).noalias() += a.middleRows(rows.first, rows.count) * b.transpose();
  else
    c.middleRows(rows.first, rows.count).noalias() += a.middleRows(rows.first, rows.count) * b;
#else
  // As gemm_accumulate's row slices: C^T (n x count) = op(B)^T (n x k) A^T (k x count).
  if (a.cols() > 0)
    gemm_serial<S, TransB ? Eigen::RowMajor : Eigen::ColMajor, Eigen::ColMajor>(
        c.cols(), rows.count, a.cols(), b.data(), b.cols(), a.data() + rows.first * a.cols(), a.cols(),
        c.data() + rows.first * c.cols(), c.cols(), packs);
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
