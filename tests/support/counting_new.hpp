// Counts every call of the global operator new (std::vector, std::string, std::function, ...
// allocations): this header REPLACES the global operator new and delete of the executable, so
// include it in one .cpp file only. Eigen allocates through malloc instead: see no_malloc.hpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace ldm_test {

// Calls of any global operator new so far.
inline std::atomic<long> operator_new_calls{0};

namespace detail {
inline void* counted_alloc(std::size_t size, std::size_t align = 0) {
  ++operator_new_calls;
  if (size == 0) size = 1;
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (size + align - 1) / align * align)
                                              : std::malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
inline void* counted_alloc_nothrow(std::size_t size) noexcept {
  try {
    return counted_alloc(size);
  } catch (...) {
    return nullptr;
  }
}
}  // namespace detail

}  // namespace ldm_test

void* operator new(std::size_t size) { return ldm_test::detail::counted_alloc(size); }
void* operator new[](std::size_t size) { return ldm_test::detail::counted_alloc(size); }
void* operator new(std::size_t size, std::align_val_t a) {
  return ldm_test::detail::counted_alloc(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return ldm_test::detail::counted_alloc(size, static_cast<std::size_t>(a));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return ldm_test::detail::counted_alloc_nothrow(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return ldm_test::detail::counted_alloc_nothrow(size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
