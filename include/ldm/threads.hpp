// How many threads the library's parallel parts use (Eigen's matrix products and the random
// fills run on OpenMP). Results that depend only on (key, index), such as every random draw,
// are identical for any count.
#pragma once

#include <ldm/tensor.hpp>

#include <Eigen/Core>

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

}  // namespace ldm
