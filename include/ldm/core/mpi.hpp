// The Communicator of an MPI job (Open MPI, MPICH: anything started by mpirun, mpiexec or
// srun). Include it only in a program built against MPI (CMake: link ldm::mpi, built with
// -DLDM_USE_MPI=ON); nothing else in the library needs it.
#pragma once

#include <ldm/core/communicator.hpp>
#include <ldm/core/errors.hpp>

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace ldm {

// Starts MPI for the life of the object (MPI_Init_thread, FUNNELED: only the main thread calls
// MPI; OpenMP threads never do) and finalises it at the end, if this object started it.
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv) {
    int started = 0;
    MPI_Initialized(&started);
    if (started) return;
    int provided = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw std::runtime_error("MPI_Init_thread failed");
    owner_ = true;
  }
  ~MpiSession() {
    int finished = 0;
    MPI_Finalized(&finished);
    if (owner_ && !finished) MPI_Finalize();
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

 private:
  bool owner_ = false;
};

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(std::span<std::int64_t> values) override { reduce(values.data(), values.size(), MPI_INT64_T, MPI_SUM); }
  void max(std::span<double> values) override { reduce(values.data(), values.size(), MPI_DOUBLE, MPI_MAX); }

  // Ends every process of the job with `status` (MPI_Abort): for an error that this process
  // alone may have met, so that no other one waits for it forever.
  [[noreturn]] void abort(int status) const {
    MPI_Abort(comm_, status);
    std::abort();  // MPI_Abort does not return; this tells the compiler so
  }

 private:
  template <class T>
  void reduce(T* data, std::size_t n, MPI_Datatype type, MPI_Op op) {
    for (std::size_t first = 0; first < n;) {  // MPI counts are int
      const int count = static_cast<int>(std::min<std::size_t>(n - first, INT_MAX));
      const int status = MPI_Allreduce(MPI_IN_PLACE, data + first, count, type, op, comm_);
      if (status != MPI_SUCCESS) throw std::runtime_error(detail::concat("MPI_Allreduce failed (error ", status, ")"));
      first += static_cast<std::size_t>(count);
    }
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace ldm
