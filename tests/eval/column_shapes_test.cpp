// Tests of ldm/eval/column_shapes.hpp.

#include <ldm/eval/column_shapes.hpp>

#include <catch2/catch.hpp>

#include "support/mixed_tables.hpp"

using Catch::Matchers::Contains;
using ldm::Matrix;
using namespace ldm_test;  // the shared test helpers

TEST_CASE("column shapes: identical tables score 1 everywhere", "[column_shapes]") {
  const ldm::Table t = make_table({numeric_column("x", true), categorical_column("c", {"a", "b"}, true)},
                                  Matrix<double>{{1.5, 0}, {NA, 1}, {2.5, NA}, {-1, 0}});
  const auto shapes = ldm::column_shapes(t, t);
  REQUIRE(shapes.size() == 2);
  CHECK(shapes[0].column == "x");
  CHECK(shapes[0].metric == "ks");
  CHECK(shapes[1].metric == "tvd");
  CHECK(shapes[0].score == 1.0);
  CHECK(shapes[1].score == 1.0);
  CHECK(shapes[0].missing_real == 0.25);
  CHECK(ldm::shape_error(shapes) == 0.0);
  CHECK(ldm::missing_rate_error(shapes) == 0.0);
}

TEST_CASE("column shapes: KS and TVD by hand", "[column_shapes]") {
  const std::vector<ldm::Column> columns{numeric_column("x"), categorical_column("c", {"a", "b"})};
  // c: (0.5, 0.5) against (1, 0): TVD 0.5. x: {1,2,3,4} against {3,4,5,6}: KS 0.5.
  const ldm::Table real = make_table(columns, Matrix<double>{{1, 0}, {2, 1}, {3, 0}, {4, 1}});
  const ldm::Table synth = make_table(columns, Matrix<double>{{3, 0}, {4, 0}, {5, 0}, {6, 0}});
  const auto shapes = ldm::column_shapes(real, synth);
  CHECK(shapes[0].score == Approx(0.5));
  CHECK(shapes[1].score == Approx(0.5));
  CHECK(ldm::shape_error(shapes) == Approx(50.0));
  CHECK(ldm::total_variation({1, 1}, {2, 0}) == Approx(0.5));
  CHECK(ldm::total_variation({3, 1, 0}, {0, 0, 7}) == Approx(1.0));
}

TEST_CASE("column shapes: missing cells are a category, and the missing-rate error counts them", "[column_shapes]") {
  const std::vector<ldm::Column> columns{numeric_column("x", true), categorical_column("c", {"a"}, true)};
  // c: (a 0.5, missing 0.5) against (a 1): TVD 0.5. x: present {1, 3, 4} against {1, 2, 3, 4}:
  // the CDFs differ most at 2 (1/3 against 1/2): KS 1/6. Missing shares: x 0.25 vs 0, c 0.5 vs 0.
  const ldm::Table real = make_table(columns, Matrix<double>{{1, 0}, {NA, NA}, {3, 0}, {4, NA}});
  const ldm::Table synth = make_table(columns, Matrix<double>{{1, 0}, {2, 0}, {3, 0}, {4, 0}});
  const auto shapes = ldm::column_shapes(real, synth);
  CHECK(shapes[0].score == Approx(1.0 - 1.0 / 6));
  CHECK(shapes[1].score == Approx(0.5));
  CHECK(shapes[0].missing_real == 0.25);
  CHECK(shapes[0].missing_synth == 0.0);
  CHECK(ldm::missing_rate_error(shapes) == Approx(0.375));
  const auto worst = ldm::worst_first(shapes);
  CHECK(worst[0].column == "c");
  CHECK(worst[1].column == "x");

  // A numeric column missing everywhere: 1 when both are, 0 when only one is.
  const std::vector<ldm::Column> one{numeric_column("x", true)};
  const ldm::Table empty = make_table(one, Matrix<double>{{NA}, {NA}});
  const ldm::Table full = make_table(one, Matrix<double>{{1}, {2}});
  CHECK(ldm::column_shapes(empty, empty)[0].score == 1.0);
  CHECK(ldm::column_shapes(empty, full)[0].score == 0.0);
}

TEST_CASE("column shapes refuse tables that do not match", "[column_shapes]") {
  const ldm::Table real =
      make_table({numeric_column("x"), categorical_column("c", {"a", "b"})}, Matrix<double>{{1, 0}, {2, 1}});
  ldm::Table renamed = real;
  renamed.schema.columns[1] = categorical_column("d", {"a", "b"});
  REQUIRE_THROWS_WITH(ldm::column_shapes(real, renamed),
                      Contains("ldm::column_shapes: the schemas differ at column 1 ('c' in real): synth names it 'd'"));
  ldm::Table recoded = real;
  recoded.schema.columns[1].categories = {"b", "a"};
  REQUIRE_THROWS_WITH(ldm::column_shapes(real, recoded), Contains("its categories differ in synth"));
  ldm::Table retyped = real;
  retyped.schema.columns[0] = categorical_column("x", {"1", "2"});
  retyped.cells.col(0) << 0, 1;
  REQUIRE_THROWS_WITH(ldm::column_shapes(real, retyped), Contains("numeric in real, categorical in synth"));
  ldm::Table narrow = real;
  narrow.schema.columns.pop_back();
  narrow.cells.conservativeResize(2, 1);
  REQUIRE_THROWS_WITH(ldm::column_shapes(real, narrow), Contains("real has 2 columns, synth 1"));
  ldm::Table bad_code = real;
  bad_code.cells(1, 1) = 2;
  REQUIRE_THROWS_WITH(ldm::column_shapes(real, bad_code),
                      Contains("synth, column 'c', row 1: code 2 is not one of its 2 categories"));
  REQUIRE_THROWS_WITH(ldm::column_shapes(real, make_table(real.schema.columns, Matrix<double>(0, 2))),
                      Contains("synth must have at least 1 rows, got 0"));
}
