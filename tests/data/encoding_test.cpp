// ldm/data/encoding.hpp: a hand-made mixed table encoded and decoded exactly, the seed's vectors
// for numeric tables, the draws of decode (frequencies, keys, batch splits), schema mismatches
// and the state a checkpoint stores.
#include <catch2/catch.hpp>

#include <ldm/data/encoding.hpp>
#include <ldm/io/model_tensors.hpp>

#include "support/mixed_tables.hpp"

#include <cmath>
#include <limits>
#include <set>
#include <string>

using namespace ldm;
using Catch::Matchers::Contains;
using ldm_test::categorical_column;
using ldm_test::numeric_column;

namespace {

const double missing_cell = std::numeric_limits<double>::quiet_NaN();

// x numeric (1 decimal), n integer with a missing cell, c categorical, d categorical with a
// missing cell. Layout: x@0 n@1 | n's indicator @2 | c @3..4 | d @5..8 (u, v, w, missing).
Table mixed_table() {
  Table t;
  t.schema.columns = {numeric_column("x", 1, 6, 1), numeric_column("n", 10, 30, 0, true, ColumnType::integer),
                      categorical_column("c", {"a", "b"}), categorical_column("d", {"u", "v", "w"}, true, "NA")};
  t.cells.resize(4, 4);
  t.cells << 1.5, 10, 0, 2,              //
      2, missing_cell, 1, missing_cell,  //
      3, 20, 1, 0,                       //
      6, 30, 0, 1;
  return t;
}

// Decoder-like outputs that decode to x's rows for sure: indicators as logits of +-40.
template <class S>
Matrix<S> confident(const VectorLayout& layout, Matrix<S> x) {
  for (Eigen::Index i = layout.numeric; i < layout.numeric + layout.indicators; ++i)
    x.col(i) = (x.col(i).array() * S(80) - S(40)).matrix();
  return x;
}

bool same_cells(const Matrix<double>& a, const Matrix<double>& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  for (Eigen::Index i = 0; i < a.size(); ++i)
    if (!(a.data()[i] == b.data()[i] || (std::isnan(a.data()[i]) && std::isnan(b.data()[i])))) return false;
  return true;
}

}  // namespace

TEST_CASE("a mixed table encodes to values, indicators and one-hots, exactly") {
  const Table t = mixed_table();
  const auto enc = TableEncoding<double>::fit(t, {.numeric_transform = NumericTransform::standard});
  REQUIRE(enc.width() == 9);
  REQUIRE(enc.layout().numeric == 2);
  REQUIRE(enc.layout().indicators == 1);
  REQUIRE(enc.layout().indicator_of == std::vector<Eigen::Index>{-1, 2});
  REQUIRE(enc.layout().categorical.size() == 2);
  // x: mean 3.125 of 1.5, 2, 3, 6; n: its present values 10, 20, 30 alone, mean 20.
  const Standardizer<double>& s = enc.standardizer();
  REQUIRE(s.mean(0) == 3.125);
  REQUIRE(s.mean(1) == 20.0);
  REQUIRE(s.scale(1) == Approx(std::sqrt(200.0 / 3)).epsilon(1e-15));
  const Matrix<double> x = enc.encode(t);
  Matrix<double> expected(4, 9);
  const auto z = [&](int j, double v) { return (v - s.mean(j)) / s.scale(j); };
  expected << z(0, 1.5), z(1, 10), 0, 1, 0, 0, 0, 1, 0,  //
      z(0, 2), 0, 1, 0, 1, 0, 0, 0, 1,                   //
      z(0, 3), z(1, 20), 0, 0, 1, 1, 0, 0, 0,            //
      z(0, 6), z(1, 30), 0, 1, 0, 0, 1, 0, 0;
  REQUIRE(x == expected);

  // Back: values un-standardised and rounded as the file wrote them, categories by argmax,
  // missing cells from the (confident) indicator and the missing category.
  const DecodedTable back = enc.decode(confident(enc.layout(), x), make_key(3), 0.0);
  REQUIRE(same_cells(back.table.cells, t.cells));
  REQUIRE(back.table.schema.columns[3].missing_text == "NA");
  REQUIRE(back.key == detail::next_key(make_key(3)));
  // Without postprocessing the values come back to rounding error.
  const Table raw = enc.decode(confident(enc.layout(), x), make_key(3), 0.0, false).table;
  REQUIRE(raw.cells(3, 0) == Approx(6).epsilon(1e-15));
  REQUIRE(raw.cells(2, 1) == Approx(20).epsilon(1e-15));
}

TEST_CASE("the quantile-normal encoding (a mixed table's default) round-trips a mixed table") {
  const Table t = mixed_table();
  const auto enc = TableEncoding<float>::fit(t);
  REQUIRE(enc.options().numeric_transform == NumericTransform::quantile_normal);
  const Matrix<float> x = enc.encode(t);
  REQUIRE(x(2, 1) == 0.0f);  // 20 is the median of n's present values
  REQUIRE(x(1, 1) == 0.0f);  // missing: 0, indicator 1
  REQUIRE(x(1, 2) == 1.0f);
  REQUIRE(same_cells(enc.decode(confident(enc.layout(), x), make_key(3), 0.0).table.cells, t.cells));
}

TEST_CASE("a numeric table with no missing cells gives exactly the seed's standardised vectors") {
  Table t;
  for (int c = 0; c < 4; ++c) t.schema.columns.push_back(numeric_column("f" + std::to_string(c), -1e9, 1e9, 20));
  t.cells = (normal<double>(make_key(5), 50, 4).values * 3.7).array() + 1.3;
  const auto enc = TableEncoding<float>::fit(t);  // automatic: the seed's standardisation here
  REQUIRE(enc.options().numeric_transform == NumericTransform::standard);
  REQUIRE(enc.layout().plain());
  REQUIRE(enc.width() == 4);
  Standardizer<float> seed;
  seed.fit(t.cells.cast<float>());
  REQUIRE(enc.standardizer().mean == seed.mean);
  REQUIRE(enc.standardizer().scale == seed.scale);
  REQUIRE(enc.encode(t) == seed.transform(t.cells.cast<float>()));
  const Matrix<float> x_hat = normal<float>(make_key(6), 7, 4).values;
  REQUIRE(enc.decode(x_hat, make_key(7), 1.0, false).table.cells == seed.inverse(x_hat).cast<double>());
}

TEST_CASE("decode draws categories from softmax(logits / temperature) and missing cells from sigmoid") {
  Table t;
  t.schema.columns = {numeric_column("v", -100, 100, 3, true), categorical_column("k", {"p", "q", "r"})};
  t.cells.resize(2, 2);
  t.cells << 1, 0, missing_cell, 2;
  const auto enc = TableEncoding<double>::fit(t, {.numeric_transform = NumericTransform::standard});
  REQUIRE(enc.width() == 5);  // v | v missing | k p, q, r
  const Eigen::Index n = 20000;
  Matrix<double> x_hat(n, 5);
  x_hat.rowwise() = Eigen::RowVectorXd{{0.25, 0.5, 0.0, 1.0, 2.0}};
  for (double temperature : {1.0, 2.0}) {
    const DecodedTable d = enc.decode(x_hat, make_key(11), temperature);
    double counts[3] = {0, 0, 0}, missing = 0;
    for (Eigen::Index r = 0; r < n; ++r) {
      counts[static_cast<int>(d.table.cells(r, 1))] += 1;
      missing += std::isnan(d.table.cells(r, 0)) ? 1 : 0;
    }
    const auto within_3_sigma = [&](double count, double p) {
      INFO("temperature " << temperature << ": count " << count << ", expected " << n * p);
      REQUIRE(std::abs(count - n * p) < 3 * std::sqrt(n * p * (1 - p)));
    };
    const double e[3] = {1, std::exp(1 / temperature), std::exp(2 / temperature)};
    for (int k = 0; k < 3; ++k) within_3_sigma(counts[k], e[k] / (e[0] + e[1] + e[2]));
    within_3_sigma(missing, 1 / (1 + std::exp(-0.5)));
  }
  // Temperature 0 takes the largest logit; present values are un-standardised.
  const Table argmax = enc.decode(x_hat.topRows(50), make_key(12), 0.0).table;
  REQUIRE((argmax.cells.col(1).array() == 2.0).all());
  for (Eigen::Index r = 0; r < 50; ++r)
    if (!std::isnan(argmax.cells(r, 0))) REQUIRE(argmax.cells(r, 0) == 1.25);  // 0.25 * 1 + 1 (one value: scale 1)
}

TEST_CASE("decoded cells depend on (key, row, column) only: the same key, any batch split") {
  const Table t = mixed_table();
  const auto enc = TableEncoding<double>::fit(t);
  const Matrix<double> x_hat = normal<double>(make_key(21), 300, enc.width()).values;
  const DecodedTable all = enc.decode(x_hat, make_key(22));
  REQUIRE(same_cells(all.table.cells, enc.decode(x_hat, make_key(22)).table.cells));
  const Table head = enc.decode(x_hat.topRows(120), make_key(22)).table;
  const Table tail = enc.decode(x_hat.bottomRows(180), make_key(22), 1.0, true, 120).table;
  REQUIRE(same_cells(head.cells, all.table.cells.topRows(120)));
  REQUIRE(same_cells(tail.cells, all.table.cells.bottomRows(180)));
  REQUIRE_FALSE(same_cells(all.table.cells, enc.decode(x_hat, make_key(23)).table.cells));
  // Postprocessing: integers whole, values in the training range with the file's decimals.
  for (Eigen::Index r = 0; r < 300; ++r) {
    const double x = all.table.cells(r, 0), n = all.table.cells(r, 1);
    REQUIRE((x >= 1 && x <= 6 && std::round(x * 10) == x * 10));
    REQUIRE((std::isnan(n) || (n >= 10 && n <= 30 && n == std::round(n))));
  }
}

TEST_CASE("encode refuses a table of another schema, naming the column") {
  const Table t = mixed_table();
  const auto enc = TableEncoding<float>::fit(t);
  Table renamed = t;
  renamed.schema.columns[2].name = "colour";
  REQUIRE_THROWS_WITH(enc.encode(renamed), Contains("'colour'") && Contains("another name"));
  Table recategorised = t;
  recategorised.schema.columns[3].categories = {"u", "v", "x"};
  REQUIRE_THROWS_WITH(enc.encode(recategorised), Contains("'d'") && Contains("other categories"));
  Table gap = t;
  gap.schema.columns[0].has_missing = true;
  gap.cells(2, 0) = missing_cell;
  REQUIRE_THROWS_WITH(enc.encode(gap), Contains("'x'") && Contains("row 2") && Contains("none in training"));
  Table narrow = t;
  narrow.schema.columns.pop_back();
  narrow.cells.conservativeResize(4, 3);
  REQUIRE_THROWS_WITH(enc.encode(narrow), Contains("3 columns") && Contains("fitted on 4"));
  REQUIRE_THROWS_WITH(enc.decode(Matrix<float>::Zero(2, 8), make_key(1)), Contains("9 columns"));
  REQUIRE_THROWS_WITH(enc.decode(Matrix<float>::Zero(2, 9), make_key(1), -1.0), Contains("temperature"));
  Table bad_code = t;
  bad_code.cells(0, 2) = 5;
  REQUIRE_THROWS_WITH(TableEncoding<float>::fit(bad_code), Contains("'c'") && Contains("code 5"));
}

TEST_CASE("the encoding's state goes through tensors and JSON and encodes the same after") {
  const Table t = mixed_table();
  for (NumericTransform transform : {NumericTransform::standard, NumericTransform::quantile_normal}) {
    const auto enc = TableEncoding<float>::fit(t, {.numeric_transform = transform});
    std::set<std::string> names;
    enc.visit([&](const std::string& name, const auto&) { names.insert(name); });
    REQUIRE(names == (transform == NumericTransform::standard ? std::set<std::string>{"mean", "scale"}
                                                              : std::set<std::string>{"quantiles"}));
    SafetensorsData file{"(memory)", {}, {}};
    add_tensors(file.tensors, "encoding.", enc);
    const nlohmann::json j = enc;
    REQUIRE(j.at("options").at("numeric_transform") == enum_name(transform));
    auto loaded = j.get<TableEncoding<float>>();
    assign_tensors(file, "encoding.", loaded, ShapePolicy::from_file);
    REQUIRE(loaded.encode(t) == enc.encode(t));
  }
}

TEST_CASE("the quantile transform has a knot per training row, up to 100,000, stored as doubles") {
  REQUIRE(EncodingOptions{}.n_quantiles == 100000);
  // 20,001 rows: a numeric column with one outlier and a category.
  Table t;
  t.schema.columns = {numeric_column("x", 0, 100, 4), categorical_column("c", {"a", "b"})};
  t.cells.resize(20001, 2);
  for (Eigen::Index r = 0; r < t.cells.rows(); ++r) t.cells.row(r) << static_cast<double>(r % 1000) / 1000, r % 2;
  t.cells(20000, 0) = 100;
  const auto enc = TableEncoding<float>::fit(t);
  REQUIRE(enc.options().numeric_transform == NumericTransform::quantile_normal);
  REQUIRE(enc.quantile().quantiles.cols() == 20001);
  REQUIRE(enc.quantile().quantiles(0, 20000) == 100.0);
  REQUIRE(enc.quantile().quantiles(0, 19999) == 0.999);  // a double: 0.999f would not equal it
  // With sklearn's 1,000 knots the last one would stretch from ~0.999 to 100 over 0.1% of rows.
  const auto sk = TableEncoding<float>::fit(t, {.n_quantiles = 1000});
  REQUIRE(sk.quantile().quantiles.cols() == 1000);
}

TEST_CASE("a date column is encoded as its day numbers and decoded to days the column has") {
  // Days 0 (1970-01-01), 365, 10957 (2000-01-01) and 11017 (2000-03-01): a value between two
  // knots comes back as the nearer training day (a monthly column keeps its grid), one far
  // outside as the last.
  Table t;
  t.schema.columns = {numeric_column("d", 0, 11017, 0, false, ColumnType::date), categorical_column("c", {"a", "b"})};
  t.cells.resize(4, 2);
  t.cells << 0, 0, 365, 1, 10957, 0, 11017, 1;
  const auto enc = TableEncoding<float>::fit(t);
  Matrix<float> x = enc.encode(t);
  REQUIRE(same_cells(enc.decode(confident(enc.layout(), x), make_key(3), 0.0).table.cells, t.cells));
  x(1, 0) = 0.6f * x(1, 0) + 0.4f * x(2, 0);  // nearer 365 than 10957 in normal scores
  x(2, 0) = 0.3f * x(1, 0) + 0.7f * x(2, 0);
  x(3, 0) = 40.0f;
  const Matrix<double> cells = enc.decode(confident(enc.layout(), x), make_key(3), 0.0).table.cells;
  CHECK(cells(1, 0) == 365);
  CHECK(cells(2, 0) == 10957);
  CHECK(cells(3, 0) == 11017);
}
