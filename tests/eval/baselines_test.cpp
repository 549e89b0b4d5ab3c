// Tests of ldm/eval/baselines.hpp.

#include <ldm/eval/baselines.hpp>

#include <ldm/core/random.hpp>
#include <ldm/eval/detail/table_columns.hpp>

#include <catch2/catch.hpp>

#include <cmath>

#include "support/mixed_tables.hpp"

using Catch::Matchers::Contains;
using ldm::Matrix;
using namespace ldm_test;  // the shared test helpers

namespace {

// 2000 rows: x and y normal with correlation 0.95; k an integer 0..9 from x; c three categories
// with frequencies about (0.5, 0.3, 0.2) following x; w numeric with 20% missing; m two
// categories with 10% missing.
ldm::Table training_table() {
  const Eigen::Index n = 2000;
  const Matrix<double> z = ldm::normal<double>(ldm::make_key(7), n, 4).values;
  const Matrix<double> u = ldm::uniform<double>(ldm::make_key(8), n, 3).values;
  Matrix<double> cells(n, 6);
  const double rho = 0.95;
  for (Eigen::Index r = 0; r < n; ++r) {
    const double x = z(r, 0);
    cells(r, 0) = 10 + 2 * x;
    cells(r, 1) = rho * x + std::sqrt(1 - rho * rho) * z(r, 1);
    cells(r, 2) = std::clamp(std::round(4.5 + 2 * x), 0.0, 9.0);
    const double p = ldm::detail::normal_cdf(x + 0.3 * z(r, 2));
    cells(r, 3) = p < 0.5 ? 0 : p < 0.8 ? 1 : 2;
    cells(r, 4) = u(r, 0) < 0.2 ? NA : std::exp(z(r, 3));
    cells(r, 5) = u(r, 1) < 0.1 ? NA : u(r, 2) < 0.7 ? 0 : 1;
  }
  return make_table({numeric_column("x"), numeric_column("y"), numeric_column("k", false, ldm::ColumnType::integer),
                     categorical_column("c", {"lo", "mid", "hi"}), numeric_column("w", true),
                     categorical_column("m", {"no", "yes"}, true)},
                    cells);
}

double share(const ldm::Table& t, Eigen::Index c, double code) {
  return static_cast<double>((t.cells.col(c).array() == code).count()) / static_cast<double>(t.rows());
}

// Every category's share and every missing share of `sample` within 3 standard errors of the
// training table's, and numeric values within the training range.
void check_marginals(const ldm::Table& train, const ldm::Table& sample) {
  const double n = static_cast<double>(sample.rows());
  const auto within = [&](double expected, double got, const std::string& what) {
    INFO(what << ": expected " << expected << ", got " << got);
    CHECK(std::abs(got - expected) <= 3 * std::sqrt(expected * (1 - expected) / n) + 1e-12);
  };
  for (Eigen::Index c = 0; c < train.cols(); ++c) {
    const ldm::Column& column = train.schema.columns[static_cast<std::size_t>(c)];
    within(ldm::detail::missing_share(train, c), ldm::detail::missing_share(sample, c), column.name + " missing");
    if (column.is_categorical()) {
      for (std::size_t k = 0; k < column.categories.size(); ++k)
        within(share(train, c, double(k)), share(sample, c, double(k)), column.name + "=" + column.categories[k]);
    } else {
      const std::vector<double> v = ldm::detail::present_values(sample, c);
      const std::vector<double> t = ldm::detail::present_values(train, c);
      CHECK(*std::min_element(v.begin(), v.end()) >= *std::min_element(t.begin(), t.end()));
      CHECK(*std::max_element(v.begin(), v.end()) <= *std::max_element(t.begin(), t.end()));
    }
  }
}

}  // namespace

TEST_CASE("marginals keep every column's frequencies and break the correlations", "[baselines]") {
  const ldm::Table train = training_table();
  const ldm::TableDraw draw = ldm::sample_marginals(train, 3000, ldm::make_key(1));
  CHECK(draw.table.rows() == 3000);
  CHECK(draw.table.schema.columns[4].name == "w");
  check_marginals(train, draw.table);
  CHECK(ldm::detail::pearson_present(train, 0, 1) > 0.94);
  CHECK(std::abs(ldm::detail::pearson_present(draw.table, 0, 1)) < 0.1);
  // Every cell is a training cell of its column.
  for (Eigen::Index r = 0; r < 50; ++r) CHECK((train.cells.col(2).array() == draw.table.cells(r, 2)).any());

  const ldm::TableDraw again = ldm::sample_marginals(train, 3000, ldm::make_key(1));
  CHECK(ldm_test::same_cells(draw.table, again.table));
  CHECK(draw.key == again.key);
  CHECK(draw.key != ldm::make_key(1));
  CHECK_FALSE(ldm_test::same_cells(draw.table, ldm::sample_marginals(train, 3000, draw.key).table));
  CHECK(ldm::sample_marginals(train, 0, ldm::make_key(1)).table.rows() == 0);
}

TEST_CASE("the Gaussian copula keeps correlations, categories and missing shares", "[baselines]") {
  const ldm::Table train = training_table();
  const ldm::TableDraw draw = ldm::sample_gaussian_copula(train, 3000, ldm::make_key(2));
  const ldm::Table& s = draw.table;
  CHECK(s.rows() == 3000);
  check_marginals(train, s);
  const double rho = ldm::detail::pearson_present(s, 0, 1);
  INFO("copula rho(x, y) " << rho);
  CHECK(rho > 0.8);
  CHECK(ldm::detail::pearson_present(s, 0, 2) > 0.8);  // with the integer column
  // The categorical column follows x: its mean x per category rises as in the training rows.
  const auto mean_x_of = [&](const ldm::Table& t, double code) {
    double sum = 0, n = 0;
    for (Eigen::Index r = 0; r < t.rows(); ++r)
      if (t.cells(r, 3) == code) sum += t.cells(r, 0), n += 1;
    return sum / n;
  };
  CHECK(mean_x_of(s, 0) < mean_x_of(s, 1));
  CHECK(mean_x_of(s, 1) < mean_x_of(s, 2));
  for (Eigen::Index r = 0; r < s.rows(); ++r) CHECK(s.cells(r, 2) == std::round(s.cells(r, 2)));
  REQUIRE_NOTHROW(ldm::validate(s, "copula sample"));

  const ldm::TableDraw again = ldm::sample_gaussian_copula(train, 3000, ldm::make_key(2));
  CHECK(ldm_test::same_cells(s, again.table));
  CHECK(draw.key == again.key);
  CHECK_FALSE(ldm_test::same_cells(s, ldm::sample_gaussian_copula(train, 3000, draw.key).table));
}

TEST_CASE("the Gaussian copula on small and degenerate tables", "[baselines]") {
  // A categorical-only table, a column missing everywhere, a constant column, one row.
  const ldm::Table t = make_table({categorical_column("c", {"a", "b"}), numeric_column("gone", true),
                                   numeric_column("k", false, ldm::ColumnType::integer)},
                                  Matrix<double>{{0, NA, 3}, {1, NA, 3}, {1, NA, 3}});
  const ldm::Table s = ldm::sample_gaussian_copula(t, 500, ldm::make_key(3)).table;
  CHECK(s.cells.col(1).array().isNaN().all());
  CHECK((s.cells.col(2).array() == 3).all());
  CHECK(share(s, 0, 1) == Approx(2.0 / 3).margin(0.07));
  const ldm::Table one = make_table({numeric_column("x")}, Matrix<double>{{4.5}});
  CHECK((ldm::sample_gaussian_copula(one, 10, ldm::make_key(4)).table.cells.array() == 4.5).all());
}

TEST_CASE("baselines refuse bad input with one line naming it", "[baselines]") {
  const ldm::Table t = make_table({numeric_column("x")}, Matrix<double>{{1}, {2}});
  REQUIRE_THROWS_WITH(ldm::sample_marginals(t, -1, ldm::make_key(0)),
                      Contains("ldm::sample_marginals: n must be non-negative, got -1"));
  REQUIRE_THROWS_WITH(ldm::sample_gaussian_copula(t, -5, ldm::make_key(0)),
                      Contains("ldm::sample_gaussian_copula: n must be non-negative, got -5"));
  REQUIRE_THROWS_WITH(
      ldm::sample_gaussian_copula(make_table({numeric_column("x")}, Matrix<double>(0, 1)), 3, ldm::make_key(0)),
      Contains("ldm::sample_gaussian_copula: train must have at least 1 rows, got 0"));
  ldm::Table bad = make_table({categorical_column("c", {"a"})}, Matrix<double>{{0}, {1}});
  REQUIRE_THROWS_WITH(ldm::sample_marginals(bad, 3, ldm::make_key(0)),
                      Contains("train, column 'c', row 1: code 1 is not one of its 1 categories"));
}
