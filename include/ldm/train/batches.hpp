// Mini-batches: the shuffled order of the rows, epoch by epoch, and the gather of a batch.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/random.hpp>
#include <ldm/core/threads.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

namespace ldm {

// Epoch-wise shuffled mini-batches over `rows` rows: batch k of epoch e is a slice of the
// permutation drawn from fold_in(key, e). A last partial batch is dropped (its rows come up in
// other epochs); with fewer rows than batch_size a batch is the whole data set.
class BatchOrder {
 public:
  BatchOrder(std::size_t rows, std::size_t batch_size, Key key)
      : key_(key), batch_(std::min(rows, batch_size)), order_(rows) {
    if (rows == 0) throw std::invalid_argument("BatchOrder: the data set has no rows");
    if (batch_size == 0) throw std::invalid_argument("BatchOrder: batch_size must be positive, got 0");
    per_epoch_ = rows / batch_;
  }

  std::size_t batch_size() const { return batch_; }
  long long epoch_of(long long step) const { return step / static_cast<long long>(per_epoch_); }

  // The row indices of the 0-based `step`-th batch; valid until the next call.
  std::span<const std::uint32_t> batch(long long step) {
    const long long epoch = epoch_of(step);
    if (epoch != epoch_) {
      for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<std::uint32_t>(i);
      shuffle(fold_in(key_, static_cast<std::uint32_t>(epoch)), std::span<std::uint32_t>(order_));
      epoch_ = epoch;
    }
    const std::size_t first = static_cast<std::size_t>(step % static_cast<long long>(per_epoch_)) * batch_;
    return std::span<const std::uint32_t>(order_).subspan(first, batch_);
  }

 private:
  Key key_;
  std::size_t batch_, per_epoch_ = 0;
  long long epoch_ = -1;
  std::vector<std::uint32_t> order_;
};

namespace detail {

template <class S>
void gather_rows(const Matrix<S>& from, std::span<const std::uint32_t> rows, Matrix<S>& to) {
  to.resize(static_cast<Eigen::Index>(rows.size()), from.cols());
  parallel_for(to.rows(), row_grain(to.cols()), [&](Eigen::Index first, Eigen::Index count) {
    for (Eigen::Index i = first; i < first + count; ++i) to.row(i) = from.row(rows[static_cast<std::size_t>(i)]);
  });
}

}  // namespace detail

}  // namespace ldm
