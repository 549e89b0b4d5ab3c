// Tests of <ldm/data/columns.hpp>: select_columns and drop_columns.
#include <ldm/data/columns.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using Catch::Matchers::Contains;

namespace {

// Numeric columns a, b, label, c (a label stored as a number, as in the digits file) and a
// text column `kind`, which every selection keeps.
ldm::CsvTable table() {
  ldm::CsvTable t;
  t.columns = {"a", "b", "label", "c"};
  t.values.resize(2, 4);
  t.values << 1, 2, 0, 3, 4, 5, 1, 6;
  t.text = {{"kind", {"x", "y"}}};
  return t;
}

}  // namespace

TEST_CASE("select_columns and drop_columns by name and by index", "[columns]") {
  const ldm::CsvTable t = table();

  const ldm::CsvTable features = ldm::drop_columns(t, {"label"});
  REQUIRE(features.columns == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(features.values == (ldm::Matrix<double>(2, 3) << 1, 2, 3, 4, 5, 6).finished());
  REQUIRE(ldm::drop_columns(t, {2}).values == features.values);
  REQUIRE(ldm::drop_columns(t, std::vector<Eigen::Index>{2}).values == features.values);
  REQUIRE(ldm::drop_columns(t, std::vector<std::string>{"label"}).values == features.values);
  REQUIRE(ldm::drop_columns(t, {0}).columns == std::vector<std::string>{"b", "label", "c"});
  REQUIRE(ldm::drop_columns(t, std::vector<Eigen::Index>{0, 3, 0}).columns == std::vector<std::string>{"b", "label"});

  const ldm::CsvTable picked = ldm::select_columns(t, {"c", "a"});
  REQUIRE(picked.columns == std::vector<std::string>{"c", "a"});
  REQUIRE(picked.values == (ldm::Matrix<double>(2, 2) << 3, 1, 6, 4).finished());
  REQUIRE(ldm::select_columns(t, {3, 0}).values == picked.values);
  REQUIRE(ldm::select_columns(t, std::vector<Eigen::Index>{3, 0}).values == picked.values);
  REQUIRE(ldm::select_columns(t, std::vector<Eigen::Index>{}).values.cols() == 0);
  REQUIRE(ldm::select_columns(t, std::vector<Eigen::Index>{}).values.rows() == 2);

  REQUIRE_THROWS_WITH(ldm::select_columns(t, {"d"}), Contains("select_columns: no numeric column 'd'"));
  REQUIRE_THROWS_WITH(ldm::drop_columns(t, {"lable"}), Contains("drop_columns: no numeric column 'lable'"));
  REQUIRE_THROWS_WITH(ldm::select_columns(t, std::vector<Eigen::Index>{4}), Contains("index 4 is outside [0, 4)"));
  REQUIRE_THROWS_WITH(ldm::drop_columns(t, std::vector<Eigen::Index>{-1}), Contains("index -1 is outside [0, 4)"));
}

TEST_CASE("select_columns and drop_columns keep the text columns and the row count", "[columns]") {
  const ldm::CsvTable t = table();
  for (const ldm::CsvTable& picked : {ldm::select_columns(t, {"b"}), ldm::drop_columns(t, {"a", "b", "label", "c"})}) {
    REQUIRE(picked.rows() == 2);
    REQUIRE(picked.text_column("kind") == std::vector<std::string>{"x", "y"});
  }
  // A text column is not a numeric one: it can be neither selected nor dropped by name.
  REQUIRE_THROWS_WITH(ldm::select_columns(t, {"kind"}), Contains("select_columns: no numeric column 'kind'"));
  REQUIRE_THROWS_WITH(ldm::drop_columns(t, {"kind"}), Contains("drop_columns: no numeric column 'kind'"));
}
