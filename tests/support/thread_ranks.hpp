// Several "processes" as threads of this one, for testing data-parallel code without MPI: each
// thread is a rank with a Communicator whose collectives meet at a barrier.
#pragma once

#include <ldm/core/communicator.hpp>

#include <barrier>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

namespace ldm_test {

class ThreadRanks {
 public:
  explicit ThreadRanks(int size) : size_(size), barrier_(size) {}

  class Comm final : public ldm::Communicator {
   public:
    Comm(ThreadRanks& group, int rank) : group_(group), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return group_.size_; }
    void sum(std::span<std::int64_t> values) override {
      group_.reduce(rank_, values, group_.sums_, std::int64_t{0}, [](std::int64_t a, std::int64_t b) { return a + b; });
    }
    void max(std::span<double> values) override {
      group_.reduce(rank_, values, group_.maxes_, -std::numeric_limits<double>::infinity(),
                    [](double a, double b) { return a > b ? a : b; });
    }

   private:
    ThreadRanks& group_;
    int rank_;
  };

  // Runs f(comm) on `size` threads at once, one rank each; rethrows the first exception.
  void run(const std::function<void(ldm::Communicator&)>& f) {
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(size_));
    std::vector<std::thread> threads;
    for (int r = 0; r < size_; ++r)
      threads.emplace_back([&, r] {
        Comm comm(*this, r);
        try {
          f(comm);
        } catch (...) {
          errors[static_cast<std::size_t>(r)] = std::current_exception();
        }
      });
    for (auto& t : threads) t.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }

 private:
  template <class T, class Op>
  void reduce(int rank, std::span<T> values, std::vector<T>& shared, T identity, Op op) {
    barrier_.arrive_and_wait();  // everyone is here, the last result was read
    if (rank == 0) shared.assign(values.size(), identity);
    barrier_.arrive_and_wait();
    {
      std::lock_guard lock(mutex_);
      for (std::size_t i = 0; i < values.size(); ++i) shared[i] = op(shared[i], values[i]);
    }
    barrier_.arrive_and_wait();
    std::copy(shared.begin(), shared.end(), values.begin());
  }

  int size_;
  std::barrier<> barrier_;
  std::mutex mutex_;
  std::vector<std::int64_t> sums_;
  std::vector<double> maxes_;
};

}  // namespace ldm_test
