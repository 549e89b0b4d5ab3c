// ldm/core/mpi.hpp under mpiexec (tests/mpi/CMakeLists.txt runs it on 3 processes): the
// collectives of MpiCommunicator, gathering owned entries bit for bit, and an exact sum that
// equals the one of a single process. Every rank runs the same cases in the same order.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <ldm/core/mpi.hpp>
#include <ldm/core/random.hpp>
#include <ldm/train/data_parallel.hpp>

#include <bit>
#include <vector>

using namespace ldm;

TEST_CASE("MpiCommunicator: sum, max and all over the processes") {
  MpiCommunicator world;
  const int r = world.rank(), p = world.size();
  REQUIRE(p >= 2);
  std::vector<std::int64_t> s{r + 1, std::int64_t{1} << 60};
  world.sum(s);
  CHECK(s[0] == p * (p + 1) / 2);
  CHECK(s[1] == p * (std::int64_t{1} << 60));
  std::vector<double> m{static_cast<double>(r), -static_cast<double>(r)};
  world.max(m);
  CHECK(m == std::vector<double>{static_cast<double>(p - 1), 0.0});
  CHECK(world.all(true));
  CHECK_FALSE(world.all(r != p - 1));
  // Above INT_MAX entries would be split into several calls; here a large one in one call.
  std::vector<std::int64_t> big(1 << 20, 1);
  world.sum(big);
  CHECK(big.front() == p);
  CHECK(big.back() == p);
}

TEST_CASE("gather_owned over MPI: the owner's bits on every process") {
  MpiCommunicator world;
  const auto r = static_cast<std::size_t>(world.rank()), p = static_cast<std::size_t>(world.size());
  std::vector<double> v(10, 0.0);
  for (std::size_t i = r; i < v.size(); i += p) v[i] = i % 2 ? -0.0 : 1.0 / static_cast<double>(i + 3);
  gather_owned(world, std::span<double>(v), [&](std::size_t i) { return i % p == r; });
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double expected = i % 2 ? -0.0 : 1.0 / static_cast<double>(i + 3);
    CHECK(std::bit_cast<std::uint64_t>(v[i]) == std::bit_cast<std::uint64_t>(expected));
  }
}

TEST_CASE("ExactSum over MPI equals the sum on one process, bit for bit") {
  MpiCommunicator world;
  constexpr int chunks = 7;
  const auto chunk = [](int c) {
    return normal<float>(fold_in(make_key(11), static_cast<std::uint32_t>(c)), 1, 300).values;
  };
  const auto sum = [&](Communicator& comm) {
    const auto [first, last] = detail::share(chunks, comm.rank(), comm.size());
    std::vector<Matrix<float>> values;
    std::vector<std::vector<std::span<float>>> spans;
    std::vector<double> weights;
    for (Eigen::Index c = first; c < last; ++c) values.push_back(chunk(static_cast<int>(c)));
    for (auto& v : values) {
      spans.push_back({std::span<float>(v.data(), 300)});
      weights.push_back(1.0 / chunks);
    }
    std::vector<float> out(300);
    ExactSum<float>{}(comm, chunks, spans, weights, {std::span<float>(out)});
    return out;
  };
  SerialCommunicator alone;
  CHECK(sum(world) == sum(alone));
}

int main(int argc, char** argv) {
  MpiSession mpi(argc, argv);
  return Catch::Session().run(argc, argv);
}
