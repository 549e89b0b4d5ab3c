// Tests of ldm/eval/one_hot.hpp.

#include <ldm/eval/one_hot.hpp>

#include <catch2/catch.hpp>

#include "support/mixed_tables.hpp"

using Catch::Matchers::Contains;
using ldm::Matrix;
using namespace ldm_test;  // the shared test helpers

TEST_CASE("table encoding: standardised numbers, indicators and one-hot categories", "[table_encoding]") {
  const std::vector<ldm::Column> columns{numeric_column("x", true), categorical_column("c", {"a", "b", "c"}),
                                         numeric_column("k", false, ldm::ColumnType::integer)};
  // x present {1, 3}: mean 2, population std 1. k constant: scale 1.
  const ldm::Table reference = make_table(columns, Matrix<double>{{1, 0, 5}, {3, 2, 5}, {NA, 1, 5}});
  const ldm::OneHotEncoding e = ldm::fit_one_hot_encoding(reference);
  CHECK(e.width == 6);
  CHECK(e.names == std::vector<std::string>{"x", "x=missing", "c=a", "c=b", "c=c", "k"});
  const Matrix<double> x = ldm::encode(e, reference);
  const Matrix<double> expected{{-1, 0, 1, 0, 0, 0}, {1, 0, 0, 0, 1, 0}, {0, 1, 0, 1, 0, 0}};
  CHECK(x == expected);

  // Without column c (the utility's features), and with a missing state that only another table needs.
  ldm::Table other = reference;
  other.schema.columns[1].has_missing = true;
  other.cells(0, 1) = NA;
  const ldm::OneHotEncoding without = ldm::fit_one_hot_encoding(reference, {&other}, 1);
  CHECK(without.names == std::vector<std::string>{"x", "x=missing", "k"});
  const ldm::OneHotEncoding with_gap = ldm::fit_one_hot_encoding(reference, {&other});
  CHECK(with_gap.width == 7);
  CHECK(ldm::encode(with_gap, other).row(0) == Eigen::RowVectorXd{{-1, 0, 0, 0, 0, 1, 0}});
  REQUIRE_THROWS_WITH(
      ldm::encode(e, other),
      Contains("ldm::encode: column 'c', row 0: a missing cell, but the encoding has no missing state"));
  REQUIRE_THROWS_WITH(ldm::encode(e, make_table({numeric_column("x")}, Matrix<double>{{1}})),
                      Contains("the table has 1 columns, the encoding 3"));
}
