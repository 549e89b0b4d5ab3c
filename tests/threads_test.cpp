#include <catch2/catch.hpp>

#include <ldm/random.hpp>
#include <ldm/threads.hpp>

#include <thread>

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
