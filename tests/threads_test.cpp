#include <catch2/catch.hpp>

#include <ldm/random.hpp>
#include <ldm/threads.hpp>

#include <thread>
#include <utility>
#include <vector>

using namespace ldm;
using Catch::Matchers::Contains;

TEST_CASE("set_num_threads sets the count; random draws do not depend on it") {
  set_num_threads(1);
  REQUIRE(num_threads() == 1);
  const Matrix<float> one = normal<float>(make_key(3), 200, 300).values;
  set_num_threads(3);
  REQUIRE(num_threads() == 3);
  REQUIRE(normal<float>(make_key(3), 200, 300).values == one);
  set_num_threads(0);
  REQUIRE(num_threads() == static_cast<int>(std::thread::hardware_concurrency()));
  REQUIRE_THROWS_WITH(set_num_threads(-2), Contains("n must be >= 0, got -2"));
}

TEST_CASE("parallel_parts gives each part once and share cuts a range in order") {
  set_num_threads(3);
  std::vector<int> calls(3, 0);
  Eigen::Index seen_parts = 0;
  detail::parallel_parts(3000, 1000, [&](Eigen::Index part, Eigen::Index parts) {
    calls[static_cast<std::size_t>(part)] += 1;  // each part is its own slot: no race
    if (part == 0) seen_parts = parts;
  });
  REQUIRE(seen_parts == 3);
  REQUIRE(calls == std::vector<int>{1, 1, 1});
  // Below two grains of work: one call on the calling thread.
  detail::parallel_parts(1999, 1000, [&](Eigen::Index part, Eigen::Index parts) {
    REQUIRE(part == 0);
    REQUIRE(parts == 1);
  });
  set_num_threads(0);
  REQUIRE(detail::share(10, 0, 3) == std::pair<Eigen::Index, Eigen::Index>{0, 3});
  REQUIRE(detail::share(10, 1, 3) == std::pair<Eigen::Index, Eigen::Index>{3, 6});
  REQUIRE(detail::share(10, 2, 3) == std::pair<Eigen::Index, Eigen::Index>{6, 10});
  REQUIRE(detail::share(1, 0, 2) == std::pair<Eigen::Index, Eigen::Index>{0, 0});
  REQUIRE(detail::share(1, 1, 2) == std::pair<Eigen::Index, Eigen::Index>{0, 1});
}
