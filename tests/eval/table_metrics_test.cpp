// Tests of ldm/eval/table_metrics.hpp.

#include <ldm/eval/table_metrics.hpp>

#include <ldm/core/random.hpp>

#include <catch2/catch.hpp>

#include "support/mixed_tables.hpp"

using Catch::Matchers::Contains;
using ldm::Matrix;
using namespace ldm_test;  // the shared test helpers

namespace {

const std::vector<ldm::Column> columns{numeric_column("x", true), categorical_column("c", {"a", "b", "c"}),
                                       numeric_column("y")};

// n rows: x normal (every 7th missing), c = the sign of x plus noise, y = x + noise.
ldm::Table rows(std::uint64_t seed, Eigen::Index n) {
  const Matrix<double> z = ldm::normal<double>(ldm::make_key(seed), n, 3).values;
  Matrix<double> cells(n, 3);
  for (Eigen::Index r = 0; r < n; ++r) {
    const double s = z(r, 0) + 0.5 * z(r, 1);
    cells(r, 0) = r % 7 == 3 ? NA : z(r, 0);
    cells(r, 1) = s < -0.5 ? 0 : s < 0.5 ? 1 : 2;
    cells(r, 2) = z(r, 0) + 0.3 * z(r, 2);
  }
  return make_table(columns, cells);
}

}  // namespace

TEST_CASE("evaluate_table: a copy of the held-out rows scores perfectly on shapes and trends", "[table_metrics]") {
  const ldm::Table train = rows(1, 120), held_out = rows(2, 80);
  const ldm::TableQuality q = ldm::evaluate_table(train, held_out, held_out);
  CHECK(q.rows_train == 120);
  CHECK(q.rows_held_out == 80);
  CHECK(q.rows_synth == 80);
  CHECK(q.shape_error == 0.0);
  CHECK(q.trend_error == 0.0);
  CHECK(q.missing_rate_error == 0.0);
  CHECK(q.columns.size() == 3);
  CHECK(q.pairs.size() == 3);
  CHECK(q.dcr_share == 0.0);  // every synthetic row is at distance 0 from a held-out row
  CHECK(q.dcr_ideal_share == Approx(0.6));
  CHECK(q.dcr_rows == 80);  // under the cap: every synthetic row
  CHECK(q.exact_copies == 0);
  // The training rows as synthetic ones: every row a copy, those with a missing cell too.
  CHECK(ldm::evaluate_table(train, held_out, train).exact_copies == 120);
  CHECK_FALSE(q.c2st_auc);
  CHECK_FALSE(q.utility);
}

TEST_CASE("evaluate_table: distance to closest record and exact copies on constructed rows", "[table_metrics]") {
  const std::vector<ldm::Column> two{numeric_column("x"), categorical_column("c", {"a", "b"})};
  const ldm::Table train = make_table(two, Matrix<double>{{0, 0}, {10, 1}, {20, 0}, {30, 1}});
  // Held-out: one row repeats a training row (some tables repeat rows).
  const ldm::Table held_out = make_table(two, Matrix<double>{{5, 0}, {10, 1}, {26, 1}, {40, 0}});
  const ldm::Table synth = make_table(two, Matrix<double>{
                                               {0, 0},   // a copy of a training row: nearer train -> 1
                                               {20, 0},  // a copy                                -> 1
                                               {4, 0},   // nearer the held-out (5, a)          -> 0
                                               {10, 1},  // in both sets: a tie                   -> 1/2
                                               {29, 1},  // nearer (30, b) of train               -> 1
                                           });
  const ldm::TableQuality q = ldm::evaluate_table(train, held_out, synth);
  CHECK(q.dcr_share == Approx(3.5 / 5));
  CHECK(q.dcr_ideal_share == Approx(0.5));
  CHECK(q.exact_copies == 3);
  CHECK(q.exact_copy_share == Approx(0.6));
  CHECK(q.held_out_copies == 1);
  CHECK(q.held_out_copy_share == Approx(0.25));
}

TEST_CASE("evaluate_table: utility, C2ST, the worst first, and JSON", "[table_metrics]") {
  const ldm::Table train = rows(3, 200), held_out = rows(4, 100);
  ldm::Table synth = rows(5, 100);
  synth.cells.col(2) = -synth.cells.col(2);  // y against x reversed: the worst pairs involve y
  ldm::TableEvalOptions options;
  options.c2st = true;
  options.target = "c";
  const ldm::TableQuality q = ldm::evaluate_table(train, held_out, synth, options);
  REQUIRE(q.c2st_auc);
  CHECK(*q.c2st_auc > 0.8);  // y flipped is easy to tell
  REQUIRE(q.utility);
  CHECK(q.utility->metric == "accuracy");
  CHECK(q.utility->real > 0.6);
  CHECK(q.pairs[0].column_a == "x");
  CHECK(q.pairs[0].column_b == "y");
  CHECK(q.pairs[0].score < 0.2);
  for (std::size_t k = 1; k < q.pairs.size(); ++k) CHECK(q.pairs[k - 1].score <= q.pairs[k].score);
  for (std::size_t k = 1; k < q.columns.size(); ++k) CHECK(q.columns[k - 1].score <= q.columns[k].score);
  CHECK(q.trend_error > 20.0);

  const nlohmann::json j = q;
  CHECK(j.at("pairs").at(0).at("metric") == "correlation");
  CHECK(j.at("utility").at("target") == "c");
  CHECK(j.at("c2st_auc") == *q.c2st_auc);
  const auto back = j.get<ldm::TableQuality>();
  CHECK(back.trend_error == q.trend_error);
  CHECK(back.columns[0].column == q.columns[0].column);
  CHECK(back.utility->synthetic == q.utility->synthetic);
  CHECK(nlohmann::json(back) == j);
  CHECK_FALSE(nlohmann::json(ldm::TableQuality{}).contains("utility"));

  const nlohmann::json jo = options;
  CHECK(jo.at("target") == "c");
  CHECK(jo.at("bins") == 10);
  const auto options_back = nlohmann::json{{"bins", 4}, {"target", "y"}}.get<ldm::TableEvalOptions>();
  CHECK(options_back.bins == 4);
  CHECK(options_back.target == "y");
  CHECK_FALSE(options_back.c2st);
}

TEST_CASE("evaluate_table refuses bad input with one line naming it", "[table_metrics]") {
  const ldm::Table train = rows(6, 30), held_out = rows(7, 20);
  ldm::Table other = held_out;
  other.schema.columns[2] = numeric_column("z");
  REQUIRE_THROWS_WITH(ldm::evaluate_table(train, other, held_out),
                      Contains("ldm::evaluate_table: the schemas differ at column 2 ('y' in train): held_out names "
                               "it 'z'"));
  ldm::TableEvalOptions options;
  options.target = "w";
  REQUIRE_THROWS_WITH(ldm::evaluate_table(train, held_out, held_out, options),
                      Contains("ldm::evaluate_table: options.target: no column named 'w'"));
  options.target = "";
  options.bins = 0;
  REQUIRE_THROWS_WITH(ldm::evaluate_table(train, held_out, held_out, options),
                      Contains("options.bins must be at least 1, got 0"));
}
