// Tests of ldm/eval/pair_trends.hpp.

#include <ldm/eval/pair_trends.hpp>

#include <catch2/catch.hpp>

#include "support/mixed_tables.hpp"

using Catch::Matchers::Contains;
using ldm::Matrix;
using namespace ldm_test;  // the shared test helpers

TEST_CASE("pair trends: identical tables score 1, opposite correlations 0", "[pair_trends]") {
  const std::vector<ldm::Column> columns{numeric_column("x"), numeric_column("y", true),
                                         categorical_column("c", {"a", "b"})};
  const ldm::Table real = make_table(columns, Matrix<double>{{1, 1, 0}, {2, 2, 1}, {3, 3, 0}, {4, NA, 1}, {5, 5, 0}});
  const auto same = ldm::pair_trends(real, real);
  REQUIRE(same.size() == 3);
  CHECK(same[0].column_a == "x");
  CHECK(same[0].column_b == "y");
  CHECK(same[0].metric == "correlation");
  CHECK(same[1].metric == "contingency");
  CHECK(same[2].metric == "contingency");
  for (const auto& p : same) CHECK(p.score == 1.0);
  CHECK(ldm::trend_error(same) == 0.0);

  // y = x (rho 1, over the rows where y is present) against y = -x (rho -1): score 0.
  ldm::Table flipped = real;
  flipped.cells.col(1) = -real.cells.col(1);
  const auto pairs = ldm::pair_trends(real, flipped);
  CHECK(pairs[0].real == Approx(1.0));
  CHECK(pairs[0].synth == Approx(-1.0));
  CHECK(pairs[0].score == Approx(0.0).margin(1e-12));
  CHECK(ldm::worst_first(pairs)[0].column_b == "y");
  // A column with no spread has no correlation: rho 0, score 1/2 against rho 1.
  ldm::Table flat = real;
  flat.cells.col(1).setConstant(7);
  CHECK(ldm::pair_trends(real, flat)[0].score == Approx(0.5));
}

TEST_CASE("pair trends: contingency tables by hand", "[pair_trends]") {
  const std::vector<ldm::Column> columns{categorical_column("c", {"a", "b"}), categorical_column("d", {"a", "b"})};
  // Real joint: aa 1/2, bb 1/2. Synth: aa 1/4, ab 1/4, bb 1/2. TVD = (1/4 + 1/4) / 2.
  const ldm::Table real = make_table(columns, Matrix<double>{{0, 0}, {0, 0}, {1, 1}, {1, 1}});
  const ldm::Table synth = make_table(columns, Matrix<double>{{0, 0}, {0, 1}, {1, 1}, {1, 1}});
  const auto pairs = ldm::pair_trends(real, synth);
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0].score == Approx(0.75));
  CHECK(ldm::trend_error(pairs) == Approx(25.0));
}

TEST_CASE("pair trends: a numeric column in a mixed pair goes into the real column's quantile bins", "[pair_trends]") {
  const std::vector<ldm::Column> columns{numeric_column("x"), categorical_column("c", {"a", "b"})};
  // Two bins: the real median 2.5 splits x. Real: low x is a, high x is b; synth the reverse.
  const ldm::Table real = make_table(columns, Matrix<double>{{1, 0}, {2, 0}, {3, 1}, {4, 1}});
  const ldm::Table synth = make_table(columns, Matrix<double>{{1, 1}, {2, 1}, {3, 0}, {4, 0}});
  CHECK(ldm::pair_trends(real, synth, 2)[0].score == Approx(0.0));
  // One bin sees only c's frequencies, which agree.
  CHECK(ldm::pair_trends(real, synth, 1)[0].score == Approx(1.0));
  // Synthetic values beyond the real range fall into the end bins.
  const ldm::Table wide = make_table(columns, Matrix<double>{{-10, 0}, {0, 0}, {30, 1}, {40, 1}});
  CHECK(ldm::pair_trends(real, wide, 2)[0].score == Approx(1.0));

  // A missing numeric cell is a state of its own: (missing, a) and (1, b) against the reverse.
  const std::vector<ldm::Column> gappy{numeric_column("x", true), categorical_column("c", {"a", "b"})};
  const ldm::Table real_gaps = make_table(gappy, Matrix<double>{{NA, 0}, {1, 1}});
  const ldm::Table synth_gaps = make_table(gappy, Matrix<double>{{NA, 1}, {1, 0}});
  CHECK(ldm::pair_trends(real_gaps, synth_gaps, 1)[0].score == Approx(0.0));
}

TEST_CASE("quantile edges interpolate and drop repeats", "[pair_trends]") {
  using ldm::detail::quantile_edges;
  const std::vector<double> edges = quantile_edges({10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 4);
  REQUIRE(edges.size() == 3);
  CHECK(edges[0] == Approx(3.25));
  CHECK(edges[1] == Approx(5.5));
  CHECK(edges[2] == Approx(7.75));
  CHECK(quantile_edges({1, 1, 1, 1, 2}, 4) == std::vector<double>{1.0});
  CHECK(quantile_edges({}, 10).empty());
}

TEST_CASE("pair trends check their input", "[pair_trends]") {
  const ldm::Table t = make_table({numeric_column("x"), numeric_column("y")}, Matrix<double>{{1, 2}, {3, 4}});
  REQUIRE_THROWS_WITH(ldm::pair_trends(t, t, 0), Contains("ldm::pair_trends: bins must be at least 1, got 0"));
  ldm::Table other = t;
  other.schema.columns[0] = numeric_column("z");
  REQUIRE_THROWS_WITH(ldm::pair_trends(t, other), Contains("the schemas differ at column 0 ('x' in real)"));
  ldm::Table infinite = t;
  infinite.cells(0, 1) = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(ldm::pair_trends(infinite, t), Contains("real, column 'y', row 0: infinite"));
  CHECK(ldm::pair_trends(make_table({numeric_column("x")}, Matrix<double>{{1}}),
                         make_table({numeric_column("x")}, Matrix<double>{{2}}))
            .empty());
  CHECK(ldm::trend_error({}) == 0.0);
}
