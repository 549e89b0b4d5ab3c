// Data-parallel training whose result does not depend on the number of processes (DESIGN.md,
// "Distributed training"). Each global batch is cut into a fixed number of chunks; each process
// computes the gradients of its share of the chunks, each chunk with its own random draws
// (from fold_in(step key, chunk)); the chunks' gradients are summed exactly, in int64 fixed
// point, so the sum has no order and every process gets the same bits. Adam, EMA, clipping and
// the learning rate then run identically on every process.
#pragma once

#include <ldm/core/communicator.hpp>
#include <ldm/core/errors.hpp>
#include <ldm/core/random.hpp>
#include <ldm/core/threads.hpp>
#include <ldm/train/detail/parallel_visit.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace ldm {

struct DataParallel {
  // The processes that share each batch; nullptr: this process alone.
  Communicator* communicator = nullptr;
  // 0: the batch in one piece (the one-process numerics). N > 0: N chunks summed exactly; the
  // trained model is then the same for any number of processes up to N (one process included).
  int chunks = 0;

  bool on() const { return chunks > 0; }
  Communicator& comm() const {
    static SerialCommunicator alone;
    return communicator ? *communicator : alone;
  }
  // The chunks this process computes: [first, last).
  std::pair<Eigen::Index, Eigen::Index> my_chunks() const {
    return detail::share(chunks, comm().rank(), comm().size());
  }
};

namespace detail {

inline void require_valid_parallel(const char* where, const DataParallel& p, Eigen::Index batch_size) {
  if (p.chunks < 0) throw std::invalid_argument(concat(where, ": chunks must be >= 0, got ", p.chunks));
  if (!p.on()) {
    if (p.communicator && p.communicator->size() > 1)
      throw std::invalid_argument(concat(where, ": ", p.communicator->size(),
                                         " processes share the training but chunks is 0; give chunks >= the "
                                         "number of processes"));
    return;
  }
  if (p.comm().size() > p.chunks)
    throw std::invalid_argument(
        concat(where, ": ", p.comm().size(), " processes but only ", p.chunks, " chunks; give chunks >= processes"));
  if (batch_size < p.chunks)
    throw std::invalid_argument(concat(where, ": the batch of ", batch_size, " rows cannot be cut into ", p.chunks,
                                       " chunks; give ", batch_size, " chunks or fewer"));
}

// The coefficients of models' parameters as spans, in visit order.
template <class S, class... Models>
std::vector<std::span<S>> tensors_of(Models&... models) {
  std::vector<std::span<S>> out;
  (models.visit([&](const std::string&, auto& p) { out.emplace_back(p.data(), static_cast<std::size_t>(p.size())); }),
   ...);
  return out;
}

}  // namespace detail

// The exact sum of weighted chunk gradients over all processes. Per tensor, one max-reduction
// finds the largest |weight x gradient| M over all chunks; with M < 2^e and C chunks in all,
// each term is scaled by 2^(62 - e - ceil(log2 C)) and rounded to int64, so the sum of all C
// terms stays below 2^62 in magnitude; one integer all-reduce adds them (exact, associative),
// and the sum is scaled back. Each term is truncated to a multiple of 2^-k: the sum is within
// C 2^-k < 2^-(59 - log2 C) of the tensor's largest term, far below float precision. Holds its buffers from call to
// call.
template <class S>
class ExactSum {
 public:
  // out[t] = sum over every chunk c of every process of weight_c * chunk_c[t]: `chunks` holds
  // this process's chunks (each a tensor list shaped as out), `weights` their weights, and
  // `total_chunks` is the number of chunks over all processes. Throws TrainingError on every
  // process when any term is not finite.
  void operator()(Communicator& comm, int total_chunks, const std::vector<std::vector<std::span<S>>>& chunks,
                  std::span<const double> weights, const std::vector<std::span<S>>& out) {
    const std::size_t tensors = out.size();
    scale_.assign(tensors, 0.0);  // first the largest term of each tensor, then its scale
    for (std::size_t c = 0; c < chunks.size(); ++c)
      for (std::size_t t = 0; t < tensors; ++t) {
        const double m = static_cast<double>(largest_magnitude(chunks[c][t])) * weights[c];
        scale_[t] = std::isfinite(m) ? std::max(scale_[t], m) : INFINITY;
      }
    comm.max(scale_);
    const int headroom = static_cast<int>(std::ceil(std::log2(static_cast<double>(std::max(total_chunks, 1)))));
    for (std::size_t t = 0; t < tensors; ++t) {
      if (!std::isfinite(scale_[t]))
        throw TrainingError(detail::concat("data-parallel step: a gradient of tensor ", t, " is not finite"));
      int e = 0;
      std::frexp(scale_[t], &e);  // largest term < 2^e
      scale_[t] = scale_[t] > 0 ? std::ldexp(1.0, 62 - e - headroom) : 1.0;
    }
    offset_.assign(tensors + 1, 0);
    for (std::size_t t = 0; t < tensors; ++t) offset_[t + 1] = offset_[t] + out[t].size();
    fixed_.resize(offset_[tensors]);
    for_each_slice([&](std::size_t t, std::size_t first, std::size_t count) {
      std::int64_t* sum = fixed_.data() + offset_[t] + first;
      for (std::size_t i = 0; i < count; ++i) sum[i] = 0;
      for (std::size_t c = 0; c < chunks.size(); ++c) {
        // weight x 2^k is exact, and rounding commutes with a power of two: this is
        // round(weight x g) x 2^k, the term the max-reduction bounded, truncated to an integer
        // (a plain conversion: it vectorises, where llrint is a call per element).
        const double factor = weights[c] * scale_[t];
        const S* g = chunks[c][t].data() + first;
        for (std::size_t i = 0; i < count; ++i) sum[i] += static_cast<std::int64_t>(static_cast<double>(g[i]) * factor);
      }
    });
    comm.sum(fixed_);
    for_each_slice([&](std::size_t t, std::size_t first, std::size_t count) {
      const double unscale = 1.0 / scale_[t];  // exact: a power of two
      const std::int64_t* sum = fixed_.data() + offset_[t] + first;
      S* o = out[t].data() + first;
      for (std::size_t i = 0; i < count; ++i) o[i] = static_cast<S>(static_cast<double>(sum[i]) * unscale);
    });
  }

 private:
  // max |x| over t, or infinity when an entry is not finite; one pass.
  static S largest_magnitude(std::span<const S> t) {
    S largest = 0;
    bool finite = true;
    for (const S x : t) {
      const S a = std::abs(x);
      largest = a > largest ? a : largest;
      finite &= a <= std::numeric_limits<S>::max();  // false for NaN and infinity
    }
    return finite ? largest : std::numeric_limits<S>::infinity();
  }

  // f(tensor, first, count) over fixed-size slices of every tensor, shared among the threads
  // (each coefficient is computed alone: the thread count does not change the result).
  template <class F>
  void for_each_slice(F&& f) {
    const std::size_t tensors = offset_.size() - 1;
    detail::parallel_parts(
        static_cast<Eigen::Index>(offset_.back()), 16 * detail::kSlice, [&](Eigen::Index part, Eigen::Index parts) {
          for (std::size_t t = 0; t < tensors; ++t)
            detail::for_each_slice_of_part(static_cast<Eigen::Index>(offset_[t + 1] - offset_[t]), part, parts,
                                           [&](Eigen::Index first, Eigen::Index count) {
                                             f(t, static_cast<std::size_t>(first), static_cast<std::size_t>(count));
                                           });
        });
  }

  std::vector<double> scale_;
  std::vector<std::size_t> offset_;
  std::vector<std::int64_t> fixed_;
};

// One data-parallel step of a trainer: the loss and the summed gradients of a batch cut into
// chunks. For each chunk c this process owns, chunk_loss(c, rows of c, fold_in(key, c)) computes
// the chunk's loss fields into its own gradient buffers (zeroed by chunk_loss) and returns them;
// the fields of all chunks are gathered, weighted by rows_c / B and added in chunk order (the
// same sum on every process); when the total (field 0) is finite, the chunks' gradients
// (chunk_grads[c - first chunk]) are summed exactly into out. Holds its buffers from call to call.
template <class S, std::size_t Fields>
class ChunkedGradient {
 public:
  using Loss = std::array<double, Fields>;

  template <class ChunkLoss>
  Loss operator()(const DataParallel& parallel, std::span<const std::uint32_t> batch, Key key, ChunkLoss&& chunk_loss,
                  const std::vector<std::vector<std::span<S>>>& chunk_grads, const std::vector<std::span<S>>& out) {
    const auto chunks = static_cast<Eigen::Index>(parallel.chunks);
    // Plain variables, not a structured binding: clang 14 cannot capture those in a lambda.
    const std::pair<Eigen::Index, Eigen::Index> mine = parallel.my_chunks();
    const Eigen::Index first = mine.first, last = mine.second;
    const auto n = static_cast<Eigen::Index>(batch.size());
    losses_.assign(static_cast<std::size_t>(chunks) * Fields, 0.0);
    weights_.clear();
    for (Eigen::Index c = first; c < last; ++c) {
      const auto [a, b] = detail::share(n, c, chunks);
      const Loss l = chunk_loss(c, batch.subspan(static_cast<std::size_t>(a), static_cast<std::size_t>(b - a)),
                                fold_in(key, static_cast<std::uint32_t>(c)));
      std::copy(l.begin(), l.end(), losses_.begin() + static_cast<std::ptrdiff_t>(c * Fields));
      weights_.push_back(static_cast<double>(b - a) / static_cast<double>(n));
    }
    gather_owned(parallel.comm(), std::span<double>(losses_), [&](std::size_t i) {
      const auto c = static_cast<Eigen::Index>(i / Fields);
      return c >= first && c < last;
    });
    Loss sum{};
    for (Eigen::Index c = 0; c < chunks; ++c) {
      const auto [a, b] = detail::share(n, c, chunks);
      for (std::size_t f = 0; f < Fields; ++f)
        sum[f] +=
            losses_[static_cast<std::size_t>(c) * Fields + f] * static_cast<double>(b - a) / static_cast<double>(n);
    }
    // Every process has the same loss: all go on to the sum, or all stop at the trainer's check.
    if (std::isfinite(sum[0])) exact_(parallel.comm(), parallel.chunks, chunk_grads, weights_, out);
    return sum;
  }

 private:
  ExactSum<S> exact_;
  std::vector<double> losses_, weights_;
};

}  // namespace ldm
