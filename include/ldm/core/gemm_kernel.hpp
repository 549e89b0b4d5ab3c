// ldm's own single-precision GEMM kernel, for CPUs with AVX-512 or with AVX2 and FMA (built with
// -march=native on such a CPU, or -mavx512f / -mavx2 -mfma): C (rows x cols, column-major) +=
// L (rows x depth) R (depth x cols).
//
// Why not Eigen's: Eigen 3.4's AVX-512 kernel keeps a 48 x 4 tile of C in 12 of the 32 vector
// registers (nr = 4 is fixed), so each broadcast value of R feeds only 3 FMAs; here a 32 x 8
// tile takes 16 registers and each value of L loaded feeds 8 FMAs, each broadcast 2. Measured
// on one core of an AMD EPYC (Zen 5), the products of a training step at batch 256 and 1024,
// packing included: 160-174 GFLOP/s against Eigen's 118-124 (bench/ldm_bench, BM_Gemm*). With
// AVX2 (16 registers of 8 floats) a 16 x 8 tile would fill every register, so it is taken as
// 16 x 6 and 16 x 2 (below): on one core of an AMD EPYC (Zen 3, FMA peak 97 GFLOP/s) the denoiser's
// 256 x 256 x 1024 and 256 x 1024 x 256 products ran at 43-49 GFLOP/s with Eigen's kernel and
// 56-62 with this one (the denoiser's training step: 5,650 -> 7,006 samples/s on 2 threads).
//
// The same bits on any thread count and any blocking: each element of C is one chain of fused
// multiply-adds in increasing k, starting from C's value,
//   c = fma(l[i, depth-1], r[depth-1, j], ... fma(l[i, 0], r[0, j], c)),
// which is what a triple loop with std::fma computes (tests/core/gemm_kernel_test.cpp checks it
// bit for bit). Slicing C between threads, or depth into blocks, changes no element's chain, and
// neither does the vector width: AVX2 and AVX-512 builds give the same bits.
//
// Layout (Goto & van de Geijn, "Anatomy of high-performance matrix multiplication", 2008): L is
// packed into panels of mr rows, each depth x mr values with the mr values of one k contiguous
// (zero rows pad the last panel); R into panels of at most nr columns, depth x width values. The
// micro-kernel adds one panel of L times one panel of R into C over kc values of k: the R panel
// (kc x nr, 8 KB) stays in L1, the L panels of a kc block (mc x kc) stream from L2.
#pragma once

#include <Eigen/Core>

#include <algorithm>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#define LDM_GEMM_KERNEL 1
#endif

namespace ldm::detail::gemm_kernel {

using Index = Eigen::Index;

#ifdef LDM_GEMM_KERNEL
inline constexpr bool available = true;
#else
inline constexpr bool available = false;
#endif

// The vector of the instruction set built for, and how many accumulators a tile of C keeps in
// registers. AVX-512: 16 of its 32 (a 32 x 8 tile). AVX2: 12 of its 16, the others holding two
// registers of L and a broadcast of R (a 16 x 6 tile; on Zen 3 it ran 256 x 256 x 1024 products
// at 57-62 GFLOP/s against 45-53 for 16 x 4 and 48-55 for 24 x 4).
#if defined(__AVX512F__)
using Vec = __m512;
inline constexpr Index lanes = 16;
inline constexpr int max_accumulators = 16;
#elif defined(LDM_GEMM_KERNEL)
using Vec = __m256;
inline constexpr Index lanes = 8;
inline constexpr int max_accumulators = 12;
#else
inline constexpr Index lanes = 8;  // unused: Eigen's kernel runs
#endif

inline constexpr int regs = 2;             // registers of one column of an L panel
inline constexpr Index mr = regs * lanes;  // rows of a tile of C
inline constexpr Index nr = 8;             // columns of a tile of C
static_assert(mr % 8 == 0 && nr == 8, "the packs transpose 8 x 8 blocks");
inline constexpr Index kc = 256;            // depth of a block: an R panel of 8 KB in L1
inline constexpr Index mc = 512 / mr * mr;  // rows of L per block (whole panels): ~512 KB of L panels in L2

// Floats in L packed (rows rounded up to whole panels).
inline Index packed_lhs_size(Index rows, Index depth) { return (rows + mr - 1) / mr * mr * depth; }
// Floats in R packed (the last panel only as wide as it needs).
inline Index packed_rhs_size(Index depth, Index cols) { return cols * depth; }

#ifdef LDM_GEMM_KERNEL

// The vector operations the kernel needs. The partial ones move the first n lanes (n < 0: none,
// n >= lanes: all) and leave the rest zero or untouched; a masked lane is never read or written.
#if defined(__AVX512F__)
inline __mmask16 first_lanes(Index n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1); }
inline Vec load(const float* p) { return _mm512_loadu_ps(p); }
inline Vec load_aligned(const float* p) { return _mm512_load_ps(p); }
inline Vec load_first(const float* p, Index n) { return _mm512_maskz_loadu_ps(first_lanes(n), p); }
inline void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline void store_aligned(float* p, Vec v) { _mm512_store_ps(p, v); }
inline void store_first(float* p, Vec v, Index n) { _mm512_mask_storeu_ps(p, first_lanes(n), v); }
inline Vec broadcast(float x) { return _mm512_set1_ps(x); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec zero() { return _mm512_setzero_ps(); }
#else
inline __m256i first_lanes(Index n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::clamp<Index>(n, 0, 8))),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline Vec load(const float* p) { return _mm256_loadu_ps(p); }
inline Vec load_aligned(const float* p) { return _mm256_load_ps(p); }
inline Vec load_first(const float* p, Index n) { return _mm256_maskload_ps(p, first_lanes(n)); }
inline void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline void store_aligned(float* p, Vec v) { _mm256_store_ps(p, v); }
inline void store_first(float* p, Vec v, Index n) { _mm256_maskstore_ps(p, first_lanes(n), v); }
inline Vec broadcast(float x) { return _mm256_set1_ps(x); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec zero() { return _mm256_setzero_ps(); }
#endif

// dst[i * ldd + j] = src[j * lds + i] for i, j < 8: an 8 x 8 block transposed in registers
// (unpack pairs, shuffle quads, swap 128-bit halves).
inline void transpose8x8(const float* src, Index lds, float* dst, Index ldd) {
  __m256 r[8], t[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
#pragma GCC unroll 4
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 2
  for (int h = 0; h < 8; h += 4) {
    r[h] = _mm256_shuffle_ps(t[h], t[h + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}

// L (rows x depth, storage Order, leading dimension ldl) into panels of mr rows: panel p holds,
// for k = 0 .. depth-1, the mr values L(p mr .. p mr + mr-1, k), zeros past the last row.
template <int Order>
void pack_lhs(float* to, const float* l, Index ldl, Index rows, Index depth) {
  for (Index p = 0; p < rows; p += mr, to += mr * depth) {
    const Index n = std::min(mr, rows - p);
    if constexpr (Order == Eigen::ColMajor) {
      // A column of L is contiguous: copy mr values per k, a register at a time.
      for (Index k = 0; k < depth; ++k)
        for (Index v = 0; v < mr; v += lanes) {
          const float* from = l + p + k * ldl + v;
          store_aligned(to + k * mr + v, n >= v + lanes ? load(from) : n > v ? load_first(from, n - v) : zero());
        }
    } else {
      // A row of L is contiguous along k: transpose 8 x 8 blocks of a full panel, the rest one by one.
      const Index blocked = n == mr ? depth / 8 * 8 : 0;
      for (Index k = 0; k < blocked; k += 8)
        for (Index r = 0; r < mr; r += 8) transpose8x8(l + (p + r) * ldl + k, ldl, to + k * mr + r, mr);
      for (Index r = 0; r < mr; ++r) {
        const float* from = l + (p + r) * ldl;
        for (Index k = blocked; k < depth; ++k) to[k * mr + r] = r < n ? from[k] : 0.0f;
      }
    }
  }
}

// R (depth x cols, storage Order, leading dimension ldr) into panels of nr columns (the last one
// narrower): the panel of columns q .. q + w-1 holds, for each k, the w values R(k, q .. q + w-1).
template <int Order>
void pack_rhs(float* to, const float* r, Index ldr, Index depth, Index cols) {
  for (Index q = 0; q < cols; q += nr) {
    const Index w = std::min(nr, cols - q);
    if constexpr (Order == Eigen::RowMajor) {
      if (w == nr)  // a full panel: the nr = 8 values of each k in one move
        for (Index k = 0; k < depth; ++k) _mm256_storeu_ps(to + k * nr, _mm256_loadu_ps(r + k * ldr + q));
      else
        for (Index k = 0; k < depth; ++k)
          for (Index j = 0; j < w; ++j) to[k * w + j] = r[k * ldr + q + j];
    } else {
      // A column of R is contiguous along k: transpose 8 x 8 blocks of a full panel, the rest one by one.
      const Index blocked = w == nr ? depth / 8 * 8 : 0;
      for (Index k = 0; k < blocked; k += 8) transpose8x8(r + q * ldr + k, ldr, to + k * nr, nr);
      for (Index j = 0; j < w; ++j) {
        const float* from = r + (q + j) * ldr;
        for (Index k = blocked; k < depth; ++k) to[k * w + j] = from[k];
      }
    }
    to += w * depth;
  }
}

// C's tile (rows x W, leading dimension ldc) += P panels of L (each kc x mr, the next one
// panel_stride values on) times W columns of an R panel (kc x Stride, W <= Stride): one fma chain
// per element of C in increasing k. rows <= P mr; only a single panel (P = 1) may be partial. A
// narrow R panel (one or two rows being sampled) takes several L panels at once so that enough
// chains run side by side to hide the fma's latency (8 chains in flight on two FMA units of 4
// cycles).
template <int W, int P, int Stride>
inline void tile(const float* a, Index panel_stride, const float* b, Index depth, float* c, Index ldc, Index rows) {
  constexpr int H = regs * P;  // registers of L
  static_assert(H * W <= max_accumulators && W <= Stride, "the accumulators must stay in registers");
  const bool partial = P == 1 && rows < mr;
  Vec acc[H][W];
#pragma GCC unroll 8
  for (int j = 0; j < W; ++j)
#pragma GCC unroll 8
    for (int h = 0; h < H; ++h) {
      // A partial tile's last registers may hold no row: no pointer is formed past the first.
      const float* at = c + j * ldc;
      acc[h][j] = !partial           ? load(at + h * lanes)
                  : rows > h * lanes ? load_first(at + h * lanes, rows - h * lanes)
                                     : zero();
    }
  for (Index k = 0; k < depth; ++k, b += Stride) {
    Vec lhs[H];
#pragma GCC unroll 8
    for (int h = 0; h < H; ++h) lhs[h] = load_aligned(a + (h / regs) * panel_stride + k * mr + (h % regs) * lanes);
#pragma GCC unroll 8
    for (int j = 0; j < W; ++j) {
      const Vec bj = broadcast(b[j]);
#pragma GCC unroll 8
      for (int h = 0; h < H; ++h) acc[h][j] = fma(lhs[h], bj, acc[h][j]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < W; ++j)
#pragma GCC unroll 8
    for (int h = 0; h < H; ++h) {
      float* at = c + j * ldc;
      if (!partial)
        store(at + h * lanes, acc[h][j]);
      else if (rows > h * lanes)
        store_first(at + h * lanes, acc[h][j], rows - h * lanes);
    }
}

// Rows [first, last) of W columns of C from an R panel Stride wide: as many L panels at a time
// (at most four) as the accumulators allow, then one.
template <int W, int Stride>
void tiles_of(Index first, Index last, const float* lhs, Index depth, Index k0, const float* b, Index kb, float* c,
              Index ldc) {
  constexpr int P = std::clamp(max_accumulators / (regs * W), 1, 4);
  Index p = first;
  if constexpr (P > 1)
    for (; p + P * mr <= last; p += P * mr)
      tile<W, P, Stride>(lhs + p * depth + k0 * mr, mr * depth, b, kb, c + p, ldc, P * mr);
  for (; p < last; p += mr)
    tile<W, 1, Stride>(lhs + p * depth + k0 * mr, mr * depth, b, kb, c + p, ldc, std::min(mr, last - p));
}

// Rows [first, last) of C's columns from one R panel W wide (1 .. nr), in groups of columns as
// wide as the accumulators allow (AVX-512: all 8; AVX2: 6, then 2).
template <int W>
void tiles(Index first, Index last, const float* lhs, Index depth, Index k0, const float* b, Index kb, float* c,
           Index ldc) {
  constexpr int G = std::min(W, max_accumulators / regs);
  constexpr int full = W / G * G;
  for (int j = 0; j < full; j += G) tiles_of<G, W>(first, last, lhs, depth, k0, b + j, kb, c + j * ldc, ldc);
  if constexpr (full < W) tiles_of<W - full, W>(first, last, lhs, depth, k0, b + full, kb, c + full * ldc, ldc);
}

// C (rows x cols, column-major, leading dimension ldc) += L R from their packed forms
// (pack_lhs, pack_rhs). Blocks of depth go in increasing k, so every element's chain does too.
inline void multiply_packed(Index rows, Index cols, Index depth, const float* lhs, const float* rhs, float* c,
                            Index ldc) {
  using Tiles = void (*)(Index, Index, const float*, Index, Index, const float*, Index, float*, Index);
  static constexpr Tiles by_width[nr] = {tiles<1>, tiles<2>, tiles<3>, tiles<4>,
                                         tiles<5>, tiles<6>, tiles<7>, tiles<8>};
  for (Index k0 = 0; k0 < depth; k0 += kc) {
    const Index kb = std::min(kc, depth - k0);
    for (Index i0 = 0; i0 < rows; i0 += mc) {
      const Index i1 = std::min(rows, i0 + mc);
      for (Index q = 0; q < cols; q += nr) {
        const Index w = std::min(nr, cols - q);
        by_width[w - 1](i0, i1, lhs, depth, k0, rhs + q * depth + k0 * w, kb, c + q * ldc, ldc);
      }
    }
  }
}

#endif  // LDM_GEMM_KERNEL

}  // namespace ldm::detail::gemm_kernel
