// Eigen's heap-allocation guard, for the tests that prove a hot path allocates nothing.
//
// Include this header first, in a block of its own, before any Eigen or ldm header: it defines
// EIGEN_RUNTIME_NO_MALLOC and an eigen_assert that stays on in Release. Then, while a NoMalloc is
// forbidding, every Eigen heap allocation (matrix storage, GEMM packing buffers) is reported:
// thrown as std::logic_error (the default), or only counted when count_eigen_allocations is
// set (the allocation then still happens). Any other failed eigen_assert throws std::logic_error.
//
// Allocations outside Eigen (std::vector, std::string, ...) go through operator new: see
// counting_new.hpp.
#pragma once

#ifdef EIGEN_CORE_H
#error "support/no_malloc.hpp must be included before any Eigen or ldm header"
#endif

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ldm_test {

// Forbidden Eigen heap allocations so far (counted whether they throw or not).
inline std::atomic<long> eigen_allocations{0};

// false: a forbidden Eigen allocation throws std::logic_error; true: it is counted and let through.
inline std::atomic<bool> count_eigen_allocations{false};

// What eigen_assert calls; `what` is the failed condition's text.
inline void eigen_check(bool ok, const char* what) {
  if (ok) return;
  if (std::strstr(what, "heap allocation is forbidden") != nullptr) {
    ++eigen_allocations;
    if (count_eigen_allocations) return;
  }
  throw std::logic_error(std::string("eigen_assert failed: ") + what);
}

}  // namespace ldm_test

#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x) ::ldm_test::eigen_check(static_cast<bool>(x), #x)

#include <Eigen/Core>

namespace ldm_test {

// Forbids Eigen heap allocations from construction (or from forbid()) until allow() or the end
// of its scope, so a failed REQUIRE in between does not leave them forbidden.
class NoMalloc {
 public:
  // forbid_now = false: allocations stay allowed until forbid() (e.g. from a step callback).
  explicit NoMalloc(bool forbid_now = true) {
    if (forbid_now) forbid();
  }
  ~NoMalloc() { allow(); }
  NoMalloc(const NoMalloc&) = delete;
  NoMalloc& operator=(const NoMalloc&) = delete;

  void forbid() { Eigen::internal::set_is_malloc_allowed(false); }
  void allow() { Eigen::internal::set_is_malloc_allowed(true); }
};

}  // namespace ldm_test
