// ldm/core/communicator.hpp: one process alone, the agreement of all, and gathering owned
// entries bit for bit (run on ranks that are threads, tests/support/thread_ranks.hpp).
#include <catch2/catch.hpp>

#include <ldm/core/communicator.hpp>

#include "support/thread_ranks.hpp"

#include <bit>
#include <cmath>
#include <limits>
#include <vector>

using namespace ldm;

TEST_CASE("SerialCommunicator: rank 0 of 1, the collectives return their input") {
  SerialCommunicator alone;
  CHECK(alone.rank() == 0);
  CHECK(alone.size() == 1);
  std::vector<std::int64_t> sums{-3, 7};
  alone.sum(sums);
  CHECK(sums == std::vector<std::int64_t>{-3, 7});
  std::vector<double> maxes{-1.5, 2.0};
  alone.max(maxes);
  CHECK(maxes == std::vector<double>{-1.5, 2.0});
  CHECK(alone.all(true));
  CHECK_FALSE(alone.all(false));
}

TEST_CASE("Communicator on 3 ranks: sums, maxima and all() agree on every rank") {
  ldm_test::ThreadRanks ranks(3);
  std::vector<std::vector<std::int64_t>> sums(3);
  std::vector<std::vector<double>> maxes(3);
  std::vector<int> all_true(3), one_false(3);
  ranks.run([&](Communicator& comm) {
    const int r = comm.rank();
    std::vector<std::int64_t> s{r + 1, -10 * r, std::int64_t{1} << 61};
    comm.sum(s);
    sums[static_cast<std::size_t>(r)] = s;
    std::vector<double> m{static_cast<double>(r), -static_cast<double>(r)};
    comm.max(m);
    maxes[static_cast<std::size_t>(r)] = m;
    all_true[static_cast<std::size_t>(r)] = comm.all(true);
    one_false[static_cast<std::size_t>(r)] = comm.all(r != 1);
  });
  for (int r = 0; r < 3; ++r) {
    CHECK(sums[static_cast<std::size_t>(r)] == std::vector<std::int64_t>{6, -30, 3 * (std::int64_t{1} << 61)});
    CHECK(maxes[static_cast<std::size_t>(r)] == std::vector<double>{2.0, 0.0});
    CHECK(all_true[static_cast<std::size_t>(r)] == 1);
    CHECK(one_false[static_cast<std::size_t>(r)] == 0);
  }
}

TEST_CASE("gather_owned: every rank gets each entry from its owner, bit for bit (-0, NaN, float and double)") {
  ldm_test::ThreadRanks ranks(2);
  const double nan_with_payload = std::bit_cast<double>(std::uint64_t{0x7ff8000000000123});
  const std::vector<double> truth{-0.0, 1.0 / 3.0, nan_with_payload, -1e300, 5e-324};
  const std::vector<float> float_truth{-0.0f, 0.1f, -std::numeric_limits<float>::infinity()};
  std::vector<std::vector<double>> got(2);
  std::vector<std::vector<float>> got_floats(2);
  ranks.run([&](Communicator& comm) {
    const auto r = static_cast<std::size_t>(comm.rank());
    std::vector<double> v(truth.size(), 99.0);  // rank 0 owns the even entries, rank 1 the odd
    for (std::size_t i = r; i < v.size(); i += 2) v[i] = truth[i];
    gather_owned(comm, std::span<double>(v), [&](std::size_t i) { return i % 2 == r; });
    got[r] = v;
    std::vector<float> f(float_truth.size(), 7.0f);  // rank 1 owns them all
    if (r == 1) f = float_truth;
    gather_owned(comm, std::span<float>(f), [&](std::size_t) { return r == 1; });
    got_floats[r] = f;
  });
  for (std::size_t r = 0; r < 2; ++r) {
    for (std::size_t i = 0; i < truth.size(); ++i)
      CHECK(std::bit_cast<std::uint64_t>(got[r][i]) == std::bit_cast<std::uint64_t>(truth[i]));
    for (std::size_t i = 0; i < float_truth.size(); ++i)
      CHECK(std::bit_cast<std::uint32_t>(got_floats[r][i]) == std::bit_cast<std::uint32_t>(float_truth[i]));
  }
}
