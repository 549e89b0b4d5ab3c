// The processes that train or sample one model together (data parallel; DESIGN.md,
// "Distributed training"). The library needs three collectives of them, all element-wise, in
// place and with the result on every process: an exact integer sum, a maximum, and the
// agreement of all on a yes/no. This process alone is SerialCommunicator; core/mpi.hpp has the
// MPI one. Every process must make the same calls in the same order.
#pragma once

#include <bit>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

namespace ldm {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;  // this process, 0 .. size() - 1
  virtual int size() const = 0;
  // values[i] = the sum of values[i] over all processes (integer addition: exact, any order).
  virtual void sum(std::span<std::int64_t> values) = 0;
  // values[i] = the largest values[i] over all processes.
  virtual void max(std::span<double> values) = 0;

  // true on every process when `mine` is true on every process.
  bool all(bool mine) {
    double no = mine ? 0.0 : 1.0;
    max(std::span<double>(&no, 1));
    return no == 0.0;
  }
};

// One process: the collectives return their input.
class SerialCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void sum(std::span<std::int64_t>) override {}
  void max(std::span<double>) override {}
};

// Gathers `values` of which each process has filled only its own entries (the others hold
// anything, overwritten by their owners): owned(i) says whether entry i is this process's.
// Moved as bit patterns through the integer sum, so every value arrives exactly (-0, NaN too).
template <class T, class Owned>
void gather_owned(Communicator& comm, std::span<T> values, Owned&& owned) {
  static_assert(sizeof(T) <= sizeof(std::int64_t) && std::is_trivially_copyable_v<T>,
                "gather_owned moves values of at most 64 bits");
  using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
  static_assert(sizeof(T) == sizeof(Bits), "gather_owned moves 32- or 64-bit values");
  std::vector<std::int64_t> bits(values.size(), 0);
  for (std::size_t i = 0; i < values.size(); ++i)
    if (owned(i)) bits[i] = static_cast<std::int64_t>(std::bit_cast<Bits>(values[i]));
  comm.sum(bits);
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = std::bit_cast<T>(static_cast<Bits>(static_cast<std::uint64_t>(bits[i])));
}

}  // namespace ldm
