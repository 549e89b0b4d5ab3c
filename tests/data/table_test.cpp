// ldm/data/table.hpp: validate, without_column, with_column.
#include <catch2/catch.hpp>

#include <ldm/data/table.hpp>

#include "support/mixed_tables.hpp"

using Catch::Matchers::Equals;
using ldm_test::categorical_column;
using ldm_test::make_table;
using ldm_test::NA;
using ldm_test::numeric_column;

namespace {

ldm::Table small_table() {
  return make_table({numeric_column("x", true), categorical_column("c", {"a", "b"}), numeric_column("y")},
                    (ldm::Matrix<double>(3, 3) << 1.5, 0, 10, NA, 1, 20, 3.5, 1, 30).finished());
}

}  // namespace

TEST_CASE("validate accepts a table that fits its schema and names the first cell that does not") {
  ldm::Table t = small_table();
  CHECK_NOTHROW(ldm::validate(t));
  t.cells(2, 1) = 2;
  CHECK_THROWS_WITH(ldm::validate(t), Equals("Table: column 'c', row 2: code 2 is not one of its 2 categories"));
  t.cells(2, 1) = 0.5;
  CHECK_THROWS_WITH(ldm::validate(t), Equals("Table: column 'c', row 2: code 0.5 is not one of its 2 categories"));
  t = small_table();
  t.cells(0, 2) = NA;
  CHECK_THROWS_WITH(ldm::validate(t, "check"),
                    Equals("check: column 'y', row 0: a missing cell, but the schema says the column has none"));
  t.cells(0, 2) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(ldm::validate(t), Equals("Table: column 'y', row 0: an infinite value"));
  t = small_table();
  t.schema.columns.pop_back();
  CHECK_THROWS_WITH(ldm::validate(t), Equals("Table: the table has 3 columns but its schema 2"));
}

TEST_CASE("without_column and with_column take a column out and put it back where it was") {
  const ldm::Table t = small_table();
  const ldm::Table two = ldm::without_column(t, 1);
  REQUIRE(two.cols() == 2);
  CHECK(two.schema.columns[0].name == "x");
  CHECK(two.schema.columns[1].name == "y");
  CHECK(two.cells(2, 0) == 3.5);
  CHECK(two.cells(2, 1) == 30);
  const ldm::Table back = ldm::with_column(two, 1, t.schema.columns[1], t.cells.col(1));
  CHECK(ldm_test::same_cells(back, t));
  CHECK(back.schema.columns[1].categories == std::vector<std::string>{"a", "b"});
  // At either end too.
  CHECK(ldm::with_column(two, 0, t.schema.columns[1], t.cells.col(1)).schema.columns[0].name == "c");
  CHECK(ldm::with_column(two, 2, t.schema.columns[1], t.cells.col(1)).cells(1, 2) == 1);
  CHECK_THROWS_WITH(ldm::without_column(t, 3), Equals("without_column: index 3 is outside the table's 3 columns"));
  CHECK_THROWS_WITH(ldm::with_column(two, 3, t.schema.columns[1], t.cells.col(1)),
                    Equals("with_column: index 3 is outside [0, 2]"));
  CHECK_THROWS_WITH(ldm::with_column(two, 0, t.schema.columns[1], Eigen::VectorXd::Zero(2)),
                    Equals("with_column: 2 cells for a table of 3 rows"));
}
