// ldm/pipeline/columns.hpp: class_names_of, the sorted classes of a conditional model's labels.
#include <catch2/catch.hpp>

#include <ldm/pipeline/columns.hpp>

#include <string>
#include <vector>

using namespace ldm;
using Catch::Matchers::Contains;

TEST_CASE("class_names_of: integers sorted by value, other labels by text") {
  REQUIRE(class_names_of({"10", "9", "-1", "9", "0"}) == std::vector<std::string>{"-1", "0", "9", "10"});
  REQUIRE(class_names_of({"b", "a", "10", "9"}) == std::vector<std::string>{"10", "9", "a", "b"});
  REQUIRE(class_names_of({"7", "07", "1"}) == std::vector<std::string>{"1", "07", "7"});  // same value: by text
  REQUIRE(class_names_of({"2.5", "10"}) == std::vector<std::string>{"10", "2.5"});        // 2.5 is no integer
  REQUIRE_THROWS_WITH(class_names_of({"a", ""}), Contains("label 1 is empty"));
  REQUIRE_THROWS_WITH(class_names_of({}), Contains("no labels"));
}
