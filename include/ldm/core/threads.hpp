// How many threads the library's parallel parts use. All threads come from OpenMP: the matrix
// products (ldm/gemm.hpp: each thread one slice of the output with Eigen's kernel, or the BLAS's
// own OpenMP threads with LDM_USE_BLAS), the elementwise passes (SiLU, LayerNorm, Adam, EMA) and
// the random fills. Eigen::setNbThreads and omp_set_num_threads are both set, so Eigen code of
// the caller's follows the same count.
//
// What the thread count changes:
// - never: every random draw (each value depends on (key, index) only), every elementwise result
//   (SiLU, LayerNorm outputs and input gradients, Adam and EMA updates), and the bias and
//   LayerNorm parameter gradients (summed row by row in a fixed order);
// - possibly, in the last bits: matrix products, whose slices can take different kernel paths,
//   and so whatever follows from them (losses, trained weights, samples). A given thread count
//   gives the same bits on every run.
#pragma once

#include <ldm/core/checks.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <utility>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ldm {

// Sets the thread count; 0 means one per core. Throws for a negative count.
inline void set_num_threads(int n) {
  if (n < 0) throw std::invalid_argument(detail::concat("set_num_threads: n must be >= 0, got ", n));
#ifdef _OPENMP
  const int count = n == 0 ? omp_get_num_procs() : n;
  omp_set_num_threads(count);
  Eigen::setNbThreads(count);
#else
  (void)n;
#endif
}

// The count in force (1 without OpenMP).
inline int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

namespace detail {

// f(part, parts) on each of `parts` threads at once, part = 0 .. parts - 1: one thread per
// `grain` of `work`, at most the thread count, and one call f(0, 1) on the calling thread when
// that is 1 or when already inside a parallel region. For work that several loops share, so
// that they take one fork and one join between them; the calls must not throw.
template <class F>
void parallel_parts(Eigen::Index work, Eigen::Index grain, F&& f) {
#ifdef _OPENMP
  const Eigen::Index threads = std::min<Eigen::Index>(Eigen::nbThreads(), work / std::max<Eigen::Index>(grain, 1));
  if (threads > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(static_cast <int>(threads))
    f(static_cast<Eigen::Index>(omp_get_thread_num()), static_cast<Eigen::Index>(omp_get_num_threads()));
    return;
  }
#endif
  (void)work;
  (void)grain;  // without OpenMP there is nothing to split
  f(Eigen::Index{0}, Eigen::Index{1});
}

// The share [first, last) of [0, n) that part `part` of `parts` takes: contiguous, in order.
inline std::pair<Eigen::Index, Eigen::Index> share(Eigen::Index n, Eigen::Index part, Eigen::Index parts) {
  return {n * part / parts, n * (part + 1) / parts};
}

// f(first, count) over the items [0, n), split into one contiguous slice per thread when every
// slice gets at least `grain` items (else one call on the calling thread). For elementwise work
// whose result does not depend on how it is sliced; the calls must not throw.
template <class F>
void parallel_for(Eigen::Index n, Eigen::Index grain, F&& f) {
  if (n <= 0) return;
  parallel_parts(n, grain, [&](Eigen::Index part, Eigen::Index parts) {
    const auto [first, last] = share(n, part, parts);
    if (last > first) f(first, last - first);
  });
}

// Rows per slice so that a slice holds about 16k values: below that a fork costs more than it saves.
inline Eigen::Index row_grain(Eigen::Index cols) {
  return std::max<Eigen::Index>(1, (Eigen::Index{1} << 14) / std::max<Eigen::Index>(cols, 1));
}

}  // namespace detail
}  // namespace ldm
