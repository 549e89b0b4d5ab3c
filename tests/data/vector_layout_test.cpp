// ldm/data/vector_layout.hpp: where each column's entries sit, and hand-made layouts checked.
#include <catch2/catch.hpp>

#include <ldm/data/vector_layout.hpp>

#include "support/mixed_tables.hpp"

using namespace ldm;
using Catch::Matchers::Contains;
using ldm_test::categorical_column;
using ldm_test::numeric_column;

TEST_CASE("a schema's layout: values, then indicators, then one-hot blocks") {
  Schema s;
  s.columns = {categorical_column("k", {"a", "b", "c"}, true), numeric_column("x", 0, 1, 0, true),
               numeric_column("i", 0, 1, 0, false, ColumnType::integer), categorical_column("j", {"p", "q"}),
               numeric_column("y", 0, 1, 0, true)};
  const VectorLayout l = layout_for(s);
  REQUIRE(l.numeric == 3);     // x, i, y at 0, 1, 2
  REQUIRE(l.indicators == 2);  // x, y at 3, 4
  REQUIRE(l.indicator_of == std::vector<Eigen::Index>{3, -1, 4});
  REQUIRE(l.columns[0].offset == 5);
  REQUIRE(l.columns[0].size == 4);  // a, b, c, missing
  REQUIRE(l.columns[3].offset == 9);
  REQUIRE(l.columns[3].size == 2);
  REQUIRE(l.columns[1].value == 0);
  REQUIRE(l.columns[1].indicator == 3);
  REQUIRE(l.columns[2].indicator == -1);
  REQUIRE(l.width == 11);
  REQUIRE_FALSE(l.plain());
  REQUIRE_NOTHROW(detail::require_valid_layout("test", l));

  Schema numeric;
  numeric.columns = {numeric_column("a", 0, 1, 0), numeric_column("b", 0, 1, 0, false, ColumnType::integer)};
  REQUIRE(layout_for(numeric).plain());
  REQUIRE(layout_for(numeric).width == 2);
}

TEST_CASE("layouts that do not tile the vector are refused") {
  Schema s;
  s.columns = {categorical_column("e", {})};
  REQUIRE_THROWS_WITH(layout_for(s), Contains("'e'") && Contains("no category"));
  VectorLayout l{
      .width = 4, .numeric = 1, .indicators = 1, .indicator_of = {1}, .categorical = {{2, 2}}, .columns = {}};
  REQUIRE_NOTHROW(detail::require_valid_layout("test", l));
  l.width = 5;
  REQUIRE_THROWS_WITH(detail::require_valid_layout("test", l), Contains("end at 4 but width is 5"));
  l.width = 4;
  l.indicator_of = {2};
  REQUIRE_THROWS_WITH(detail::require_valid_layout("test", l), Contains("indicator 2"));
}
