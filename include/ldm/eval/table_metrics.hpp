// How good is a synthetic mixed table? evaluate_table() runs every metric of DESIGN.md ("Tables:
// column types and the mixed VAE", on quality) on a training table, a real held-out table and a
// synthetic table of the same schema: column shapes, pair trends, missing-rate error, C2ST,
// distance to closest record, exact copies and utility. `ldm eval --json` prints its result.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/json.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/core/random.hpp>
#include <ldm/data/table.hpp>
#include <ldm/eval/c2st.hpp>
#include <ldm/eval/column_shapes.hpp>
#include <ldm/eval/detail/table_columns.hpp>
#include <ldm/eval/memorization.hpp>
#include <ldm/eval/one_hot.hpp>
#include <ldm/eval/pair_trends.hpp>
#include <ldm/eval/table_utility.hpp>

#include <Eigen/Core>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ldm {

struct TableEvalOptions {
  bool c2st = false;  // run the (slow) classifier two-sample test
  C2stOptions c2st_options{};
  Key key = make_key(0);  // C2ST folds and initialisation
  std::string target;     // utility for this column; "" = none
  int bins = 10;          // quantile bins of a numeric column in a contingency table
  UtilityOptions utility{};
  MemorizationOptions memorization{};  // how many synthetic rows the closest-record share samples
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TableEvalOptions, c2st, c2st_options, key, target, bins, utility,
                                                memorization)

struct TableQuality {
  Eigen::Index rows_train = 0, rows_held_out = 0, rows_synth = 0;
  double shape_error = 0;               // 100 (1 - mean column shape score), percent
  double trend_error = 0;               // 100 (1 - mean pair trend score), percent
  double missing_rate_error = 0;        // mean over columns of |missing share held-out - synth|
  std::vector<ColumnShape> columns;     // per column, the worst (lowest score) first
  std::vector<PairTrend> pairs;         // per pair of columns, the worst first
  double dcr_share = 0;                 // share of synthetic rows nearer a training row than a held-out one
  double dcr_ideal_share = 0;           // n_train / (n_train + n_held_out): no copying
  std::size_t dcr_rows = 0;             // synthetic rows dcr_share was computed on (a sample of at most
                                        // options.memorization.max_rows)
  std::size_t exact_copies = 0;         // synthetic rows equal to a training row
  double exact_copy_share = 0;          // exact_copies / rows_synth
  std::size_t held_out_copies = 0;      // real held-out rows equal to a training row: the table's own rate
  double held_out_copy_share = 0;       // held_out_copies / rows_held_out
  std::optional<double> c2st_auc;       // when options.c2st
  std::optional<TableUtility> utility;  // when options.target names a column
};

inline void to_json(nlohmann::json& j, const TableQuality& q) {
  j = nlohmann::json{{"rows_train", q.rows_train},
                     {"rows_held_out", q.rows_held_out},
                     {"rows_synth", q.rows_synth},
                     {"shape_error", q.shape_error},
                     {"trend_error", q.trend_error},
                     {"missing_rate_error", q.missing_rate_error},
                     {"columns", q.columns},
                     {"pairs", q.pairs},
                     {"dcr_share", q.dcr_share},
                     {"dcr_ideal_share", q.dcr_ideal_share},
                     {"dcr_rows", q.dcr_rows},
                     {"exact_copies", q.exact_copies},
                     {"exact_copy_share", q.exact_copy_share},
                     {"held_out_copies", q.held_out_copies},
                     {"held_out_copy_share", q.held_out_copy_share}};
  if (q.c2st_auc) j["c2st_auc"] = *q.c2st_auc;
  if (q.utility) j["utility"] = *q.utility;
}

// The inverse of to_json: absent optional figures stay empty.
inline void from_json(const nlohmann::json& j, TableQuality& q) {
  const auto get = [&](const char* key, auto& value) {
    if (j.contains(key)) j.at(key).get_to(value);
  };
  get("rows_train", q.rows_train);
  get("rows_held_out", q.rows_held_out);
  get("rows_synth", q.rows_synth);
  get("shape_error", q.shape_error);
  get("trend_error", q.trend_error);
  get("missing_rate_error", q.missing_rate_error);
  get("columns", q.columns);
  get("pairs", q.pairs);
  get("dcr_share", q.dcr_share);
  get("dcr_ideal_share", q.dcr_ideal_share);
  get("dcr_rows", q.dcr_rows);
  get("exact_copies", q.exact_copies);
  get("exact_copy_share", q.exact_copy_share);
  get("held_out_copies", q.held_out_copies);
  get("held_out_copy_share", q.held_out_copy_share);
  q.c2st_auc = j.contains("c2st_auc") ? std::optional<double>(j.at("c2st_auc").get<double>()) : std::nullopt;
  q.utility = j.contains("utility") ? std::optional<TableUtility>(j.at("utility").get<TableUtility>()) : std::nullopt;
}

// Every figure, with the real held-out rows as "real" for shapes, trends, missing rates and the
// C2ST (as evaluate() does for numeric rows: the training rows are what the model saw):
// - column_shapes / pair_trends (options.bins) of held_out against synth, listed worst first;
// - distance to closest record: memorization() on the rows encoded by
//   fit_one_hot_encoding(train, {held_out, synth}) (Euclidean; ties count 1/2), on a sample of at
//   most options.memorization.max_rows synthetic rows against every training and held-out row;
// - exact copies (count_copies on the cells: equal values, missing equals missing) of training
//   rows among all synthetic rows and, for reference, among held-out rows (some tables repeat rows);
// - c2st_auc(encoded held_out, encoded synth, options.key) when options.c2st;
// - table_utility(train, held_out, synth, options.target) when a target is named.
// Cost: the distances are O(min(n_synth, max_rows) (n_train + n_held_out) width), the copies
// O(n log n); the C2ST as c2st_auc.
inline TableQuality evaluate_table(const Table& train, const Table& held_out, const Table& synth,
                                   const TableEvalOptions& options = {}) {
  constexpr const char* where = "ldm::evaluate_table";
  detail::require_table(where, "train", train, 1);
  detail::require_table(where, "held_out", held_out, 1);
  detail::require_table(where, "synth", synth, 1);
  detail::require_same_columns(where, "train", train, "held_out", held_out);
  detail::require_same_columns(where, "train", train, "synth", synth);
  if (options.bins < 1)
    throw std::invalid_argument(detail::concat(where, ": options.bins must be at least 1, got ", options.bins));
  if (!options.target.empty()) {
    try {
      (void)train.schema.index_of(options.target);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(detail::concat(where, ": options.target: ", e.what()));
    }
  }

  TableQuality q;
  q.rows_train = train.rows();
  q.rows_held_out = held_out.rows();
  q.rows_synth = synth.rows();
  const std::vector<ColumnShape> shapes = column_shapes(held_out, synth);
  q.shape_error = shape_error(shapes);
  q.missing_rate_error = missing_rate_error(shapes);
  q.columns = worst_first(shapes);
  const std::vector<PairTrend> pairs = pair_trends(held_out, synth, options.bins);
  q.trend_error = trend_error(pairs);
  q.pairs = worst_first(pairs);

  const OneHotEncoding enc = fit_one_hot_encoding(train, {&held_out, &synth});
  const Matrix<double> x_train = encode(enc, train), x_held_out = encode(enc, held_out), x_synth = encode(enc, synth);
  const Memorization m = memorization(x_synth, x_train, x_held_out, options.memorization);
  q.dcr_share = m.nn_share;
  q.dcr_ideal_share = m.ideal_share;
  q.dcr_rows = m.nn_rows;
  // Copies compare the cells themselves (a missing cell equals a missing cell), every row.
  q.exact_copies = count_copies(synth.cells, train.cells);
  q.exact_copy_share = static_cast<double>(q.exact_copies) / static_cast<double>(synth.rows());
  q.held_out_copies = count_copies(held_out.cells, train.cells);
  q.held_out_copy_share = static_cast<double>(q.held_out_copies) / static_cast<double>(held_out.rows());

  if (options.c2st) q.c2st_auc = c2st_auc(x_held_out, x_synth, options.key, options.c2st_options);
  if (!options.target.empty()) q.utility = table_utility(train, held_out, synth, options.target, options.utility);
  return q;
}

}  // namespace ldm
