// ldm/pipeline/table_diffusion.hpp: a mixed table fitted, sampled in its schema, saved and loaded;
// and FitRun::set_layout, the run it builds on.
#include <catch2/catch.hpp>

#include <ldm/pipeline/table_diffusion.hpp>

#include "support/mixed_tables.hpp"
#include "support/test_files.hpp"

#include <cmath>
#include <set>

using Catch::Matchers::Contains;
using ldm_test::categorical_column;
using ldm_test::make_table;
using ldm_test::NA;
using ldm_test::numeric_column;

namespace {

// 120 rows: a category (3 values) that decides a number's centre, an integer column with 10%
// missing cells, and a two-valued category with missing cells.
ldm::Table mixed_table() {
  ldm::Matrix<double> cells(120, 4);
  const ldm::Matrix<double> noise = ldm::normal<double>(ldm::make_key(5), 120, 2).values;
  for (Eigen::Index r = 0; r < 120; ++r) {
    const double k = static_cast<double>(r % 3);
    cells(r, 0) = k;
    cells(r, 1) = std::round((10 * k + noise(r, 0)) * 10) / 10;
    cells(r, 2) = r % 10 == 0 ? NA : std::round(5 + noise(r, 1));
    cells(r, 3) = r % 8 == 0 ? NA : static_cast<double>(r % 2);
  }
  std::vector<ldm::Column> columns{categorical_column("kind", {"a", "b", "c"}),
                                   numeric_column("value", cells.col(1).minCoeff(), cells.col(1).maxCoeff(), 1),
                                   numeric_column("count", 0, 10, 0, true, ldm::ColumnType::integer),
                                   categorical_column("flag", {"no", "yes"}, true, "NA")};
  columns[2].missing_text = "NA";
  columns[2].min = 1;
  columns[2].max = 9;
  return make_table(std::move(columns), std::move(cells));
}

ldm::FitOptions small_options() {
  ldm::FitOptions o;
  o.model = {.latent_size = 4, .hidden_size = 32, .num_layers = 1, .num_steps = 50};
  o.vae.steps = 300;
  o.vae.batch_size = 60;
  o.denoiser.steps = 300;
  o.denoiser.batch_size = 60;
  return o;
}

}  // namespace

TEST_CASE("TableDiffusion: samples come back in the table's schema, the same for the same key") {
  const ldm::Table table = mixed_table();
  const auto model = ldm::TableDiffusion<float>::fit(table, small_options(), ldm::make_key(1));
  CHECK(model.model.options.input_size == model.encoding.width());
  CHECK(model.model.options.input_size == 2 + 1 + 3 + 3);  // 2 numbers, 1 indicator, 3 + (2 + missing) one-hot
  const ldm::DecodedTable draw = model.sample(200, {}, ldm::make_key(2));
  REQUIRE(draw.table.rows() == 200);
  CHECK_NOTHROW(ldm::validate(draw.table));
  CHECK(draw.table.schema.columns[0].name == "kind");
  std::set<double> kinds;
  for (Eigen::Index r = 0; r < 200; ++r) {
    kinds.insert(draw.table.cells(r, 0));
    const double count = draw.table.cells(r, 2);
    if (!ldm::Table::is_missing(count)) CHECK((count == std::round(count) && count >= 1 && count <= 9));
    const double value = draw.table.cells(r, 1);
    CHECK(std::abs(value * 10 - std::round(value * 10)) < 1e-9);  // one decimal, as the column
  }
  CHECK(kinds.size() == 3);  // every category comes up in 200 rows
  // The category still decides the number: the mean value of kind c is far above that of kind a.
  double sum[3] = {0, 0, 0}, n[3] = {0, 0, 0};
  for (Eigen::Index r = 0; r < 200; ++r) {
    const auto k = static_cast<int>(draw.table.cells(r, 0));
    sum[k] += draw.table.cells(r, 1);
    n[k] += 1;
  }
  CHECK(sum[2] / n[2] - sum[0] / n[0] > 10);
  const ldm::DecodedTable again = model.sample(200, {}, ldm::make_key(2));
  CHECK(ldm_test::same_cells(again.table, draw.table));
}

TEST_CASE("TableDiffusion: save and load give the same samples, and a plain model file is refused") {
  const ldm_test::TempDir dir("table_diffusion");
  const auto model = ldm::TableDiffusion<float>::fit(mixed_table(), small_options(), ldm::make_key(3));
  const std::string path = dir.file("table.safetensors");
  model.save(path, {{"note", "kept"}});
  const ldm::SafetensorsData file = ldm::read_safetensors(path);
  CHECK(ldm::TableDiffusion<float>::holds_table(file));
  CHECK(file.metadata.at("note") == "kept");
  const auto loaded = ldm::TableDiffusion<float>::load(path);
  CHECK(loaded.encoding.schema().columns[3].categories == std::vector<std::string>{"no", "yes"});
  CHECK(ldm_test::same_cells(loaded.sample(50, {}, ldm::make_key(4)).table,
                             model.sample(50, {}, ldm::make_key(4)).table));
  CHECK_THROWS_WITH(model.save(dir.file("x.safetensors"), {{"encoding", "mine"}}),
                    Contains("'encoding' is the table model's own"));
  const std::string plain = dir.file("plain.safetensors");
  model.model.save(plain);
  CHECK_THROWS_WITH(ldm::TableDiffusion<float>::load(plain), Contains("not a table model") && Contains(plain));
}

TEST_CASE("TableDiffusion: a conditional model samples the class asked for") {
  ldm::Table table = mixed_table();
  std::vector<std::string> labels;
  for (Eigen::Index r = 0; r < table.rows(); ++r)
    labels.push_back(table.schema.columns[0].categories[static_cast<std::size_t>(table.cells(r, 0))]);
  const ldm::Table features = ldm::without_column(table, 0);
  ldm::FitOptions o = small_options();
  o.denoiser.steps = 600;
  const auto model = ldm::TableDiffusion<float>::fit(features, o, ldm::make_key(6), {}, labels);
  CHECK(model.model.class_names == std::vector<std::string>{"a", "b", "c"});
  const ldm::Table c_rows = model.sample(60, "c", {}, ldm::make_key(7)).table;
  const ldm::Table a_rows = model.sample(60, "a", {}, ldm::make_key(7)).table;
  CHECK(c_rows.cells.col(0).mean() - a_rows.cells.col(0).mean() > 10);  // value follows the class
  const ldm::Table per_class = model.sample_per_class(5, {}, ldm::make_key(8)).table;
  CHECK(per_class.rows() == 15);
  CHECK_THROWS_WITH(model.sample(3, "z", {}, ldm::make_key(9)), Contains("unknown label 'z'"));
}

TEST_CASE("FitRun::set_layout: only on a fresh run, only of the rows' width") {
  const ldm::Table table = mixed_table();
  const auto encoding = ldm::TableEncoding<float>::fit(table);
  const ldm::Matrix<float> rows = encoding.encode(table);
  ldm::FitOptions o = small_options();
  o.vae.steps = 2;
  o.denoiser.steps = 2;
  ldm::FitRun<float> run(rows, o, ldm::make_key(1));
  ldm::VectorLayout narrow = encoding.layout();
  narrow.width -= 1;
  CHECK_THROWS_WITH(run.set_layout(narrow), Contains("the layout is 8 wide but the rows have 9 columns"));
  run.set_layout(encoding.layout());
  CHECK(run.model().data_scaling.mean == ldm::Vector<float>::Zero(9));  // the encoded rows are not scaled again
  CHECK(run.model().data_scaling.scale == ldm::Vector<float>::Ones(9));
  REQUIRE(run.run());
  CHECK_THROWS_AS(run.set_layout(encoding.layout()), std::logic_error);
}
