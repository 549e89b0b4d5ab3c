// A report people look at: one self-contained HTML page (inline SVG and CSS; no script, no
// font, nothing fetched) comparing synthetic rows with real ones. `ldm eval --report` writes it.
// The page holds the metric table (the figures exactly as `ldm eval --json` gives them, one
// column per compared file), the columns and the pairs of columns that differ most, worst
// first, each column's real and synthetic distributions, and association heatmaps of both
// tables with their difference. Large tables fold behind <details> and the heatmaps are capped,
// so 300 columns stay readable; the page is also well-formed XML (XHTML-compatible HTML5).
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/json.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/data/detail/iso_date.hpp>
#include <ldm/data/table.hpp>
#include <ldm/eval/column_shapes.hpp>
#include <ldm/eval/detail/html.hpp>
#include <ldm/eval/detail/svg.hpp>
#include <ldm/eval/detail/table_columns.hpp>
#include <ldm/eval/pair_trends.hpp>
#include <ldm/io/atomic_file.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ldm {

struct ReportOptions {
  std::string title = "Synthetic rows against real rows";
  std::string real_name = "real", synth_name = "synthetic";  // shown in the legend, e.g. the file names
  int bins = 20;                     // histogram bins of a numeric column (shared by real and synthetic)
  int trend_bins = 10;               // quantile bins of a numeric column in an association, as TableEvalOptions::bins
  std::size_t max_categories = 20;   // bars per categorical column; the rest are summed as "other"
  std::size_t heatmap_columns = 30;  // heatmaps show at most this many columns (those of the worst pairs)
  std::size_t listed = 10;           // columns and pairs listed before the fold
  std::size_t plots_open = 12;       // column plots shown before the fold
  std::size_t pairs_max = 500;       // pairs listed in all (--json has every one)
};

// One column of the metric table: a heading and the figures as `ldm eval --json` prints them.
struct ReportMetrics {
  std::string name;
  nlohmann::json metrics;
};

// What a column's plot shows: per bar the share of ALL rows (so bars and missing sum to 1).
struct ColumnDistribution {
  std::vector<std::string> labels;  // per bar: a bin "[a, b)", an integer value or a category
  std::vector<double> real, synth;  // share of the rows in each bar
  double missing_real = 0, missing_synth = 0;
  double low = 0, high = 0;  // numeric: the range the bins cover (both tables' present values)
};

namespace detail {

// A column's value as a reader of the page knows it: a date column's day number as its date.
inline std::string value_text(const Column& column, double v) {
  if (!column.is_time() || std::isnan(v)) return format_number(v);
  std::string date;
  append_time(date, v, column);
  return date;
}

inline ColumnDistribution column_distribution_unchecked(const Table& real, const Table& synth, Eigen::Index c, int bins,
                                                        std::size_t max_categories);
}  // namespace detail

// Column c of real and synth as bars on shared bins:
// - numeric: `bins` equal-width bins over both tables' present values; an integer column
//   spanning at most 40 values gets one bar per value;
// - categorical: one bar per category; more than max_categories: the max_categories - 1 most
//   frequent (in both tables together) in code order, then "other (N categories)".
inline ColumnDistribution column_distribution(const Table& real, const Table& synth, Eigen::Index c, int bins = 20,
                                              std::size_t max_categories = 20) {
  constexpr const char* where = "ldm::column_distribution";
  detail::require_table(where, "real", real, 1);
  detail::require_table(where, "synth", synth, 1);
  detail::require_same_columns(where, "real", real, "synth", synth);
  if (c < 0 || c >= real.cols())
    throw std::invalid_argument(detail::concat(where, ": column ", c, " is outside [0, ", real.cols(), ")"));
  if (bins < 1) throw std::invalid_argument(detail::concat(where, ": bins must be at least 1, got ", bins));
  if (max_categories < 2)
    throw std::invalid_argument(detail::concat(where, ": max_categories must be at least 2, got ", max_categories));
  return detail::column_distribution_unchecked(real, synth, c, bins, max_categories);
}

namespace detail {

// column_distribution on checked tables: the page checks them once, not once per column.
inline ColumnDistribution column_distribution_unchecked(const Table& real, const Table& synth, Eigen::Index c, int bins,
                                                        std::size_t max_categories) {
  const Column& column = real.schema.columns[static_cast<std::size_t>(c)];
  ColumnDistribution d;
  d.missing_real = detail::missing_share(real, c);
  d.missing_synth = detail::missing_share(synth, c);
  const auto n_real = static_cast<double>(real.rows()), n_synth = static_cast<double>(synth.rows());

  if (column.is_categorical()) {
    const std::size_t k = column.categories.size();
    std::vector<double> a(k, 0.0), b(k, 0.0);
    for (Eigen::Index r = 0; r < real.rows(); ++r)
      if (!Table::is_missing(real.cells(r, c))) a[static_cast<std::size_t>(real.cells(r, c))] += 1 / n_real;
    for (Eigen::Index r = 0; r < synth.rows(); ++r)
      if (!Table::is_missing(synth.cells(r, c))) b[static_cast<std::size_t>(synth.cells(r, c))] += 1 / n_synth;
    std::vector<bool> keep(k, true);
    if (k > max_categories) {
      std::vector<std::size_t> order(k);
      for (std::size_t i = 0; i < k; ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t x, std::size_t y) { return a[x] + b[x] > a[y] + b[y]; });
      for (std::size_t i = max_categories - 1; i < k; ++i) keep[order[i]] = false;
    }
    double other_a = 0, other_b = 0;
    for (std::size_t i = 0; i < k; ++i)
      if (keep[i]) {
        d.labels.push_back(column.categories[i]);
        d.real.push_back(a[i]);
        d.synth.push_back(b[i]);
      } else {
        other_a += a[i];
        other_b += b[i];
      }
    if (k > max_categories) {
      d.labels.push_back(detail::concat("other (", k - max_categories + 1, " categories)"));
      d.real.push_back(other_a);
      d.synth.push_back(other_b);
    }
    return d;
  }

  const std::vector<double> a = detail::present_values(real, c), b = detail::present_values(synth, c);
  if (a.empty() && b.empty()) return d;
  d.low = std::min(a.empty() ? b.front() : *std::min_element(a.begin(), a.end()),
                   b.empty() ? a.front() : *std::min_element(b.begin(), b.end()));
  d.high = std::max(a.empty() ? b.front() : *std::max_element(a.begin(), a.end()),
                    b.empty() ? a.front() : *std::max_element(b.begin(), b.end()));
  const bool per_value = column.type == ColumnType::integer && d.low == std::floor(d.low) &&
                         d.high == std::floor(d.high) && d.high - d.low < 40;
  const std::size_t n_bins =
      per_value ? static_cast<std::size_t>(d.high - d.low) + 1 : (d.high > d.low ? static_cast<std::size_t>(bins) : 1);
  const double width = per_value ? 1.0 : (d.high - d.low) / static_cast<double>(n_bins);
  const auto bin_of = [&](double v) {
    if (per_value) return static_cast<std::size_t>(std::lround(v - d.low));
    if (!(width > 0)) return std::size_t{0};
    return std::min(static_cast<std::size_t>((v - d.low) / width), n_bins - 1);  // the top edge is in the last bin
  };
  d.real.assign(n_bins, 0.0);
  d.synth.assign(n_bins, 0.0);
  for (double v : a) d.real[bin_of(v)] += 1 / n_real;
  for (double v : b) d.synth[bin_of(v)] += 1 / n_synth;
  for (std::size_t i = 0; i < n_bins; ++i) {
    const double lo = d.low + width * static_cast<double>(i);
    d.labels.push_back(per_value ? value_text(column, lo)
                                 : "[" + value_text(column, lo) + ", " + value_text(column, lo + width) +
                                       (i + 1 == n_bins ? "]" : ")"));
  }
  return d;
}

}  // namespace detail

// The association of every two of `columns` in t, as a square matrix (1 on the diagonal):
// Pearson's r (over rows where both are present, as pair_trends) when both columns are
// numeric, else Cramer's V of their contingency table, in [0, 1], a numeric cell counting as
// its quantile bin among `bins` bins of the REFERENCE column and a missing cell as a state of
// its own (the states pair_trends uses). Cramer's V = sqrt(chi^2 / (n (min(r, c) - 1))) over the
// states that occur; 0 when either column has a single state.
inline Matrix<double> association_matrix(const Table& t, const Table& reference,
                                         const std::vector<Eigen::Index>& columns, int bins = 10) {
  constexpr const char* where = "ldm::association_matrix";
  detail::require_pair_inputs(where, "reference", reference, "t", t, bins);
  std::vector<detail::ColumnStates> states;
  for (Eigen::Index c : columns) {
    if (c < 0 || c >= t.cols())
      throw std::invalid_argument(detail::concat(where, ": column ", c, " is outside [0, ", t.cols(), ")"));
    states.push_back(detail::column_states(reference, c, bins));
  }
  const auto k = static_cast<Eigen::Index>(columns.size());
  Matrix<double> m = Matrix<double>::Identity(k, k);
  std::vector<double> counts;
  for (Eigen::Index i = 0; i < k; ++i)
    for (Eigen::Index j = i + 1; j < k; ++j) {
      const Eigen::Index a = columns[static_cast<std::size_t>(i)], b = columns[static_cast<std::size_t>(j)];
      const detail::ColumnStates& sa = states[static_cast<std::size_t>(i)];
      const detail::ColumnStates& sb = states[static_cast<std::size_t>(j)];
      double v = 0;
      if (!sa.categorical && !sb.categorical) {
        v = detail::pearson_present(t, a, b);
      } else {
        counts.assign(sa.count * sb.count, 0.0);
        for (Eigen::Index r = 0; r < t.rows(); ++r)
          counts[sa.state(t.cells(r, a)) * sb.count + sb.state(t.cells(r, b))] += 1;
        std::vector<double> row(sa.count, 0.0), col(sb.count, 0.0);
        for (std::size_t x = 0; x < sa.count; ++x)
          for (std::size_t y = 0; y < sb.count; ++y) {
            row[x] += counts[x * sb.count + y];
            col[y] += counts[x * sb.count + y];
          }
        const auto n = static_cast<double>(t.rows());
        const auto used = [](const std::vector<double>& v) {
          return static_cast<double>(std::count_if(v.begin(), v.end(), [](double x) { return x > 0; }));
        };
        const double dof = std::min(used(row), used(col)) - 1;
        if (dof > 0) {
          double chi2 = 0;
          for (std::size_t x = 0; x < sa.count; ++x)
            for (std::size_t y = 0; y < sb.count; ++y)
              if (row[x] > 0 && col[y] > 0) {
                const double expected = row[x] * col[y] / n, diff = counts[x * sb.count + y] - expected;
                chi2 += diff * diff / expected;
              }
          v = std::min(1.0, std::sqrt(chi2 / (n * dof)));
        }
      }
      m(i, j) = m(j, i) = v;
    }
  return m;
}

namespace detail {

// What each figure of `ldm eval --json` means, in the order the page lists them.
struct MetricMeaning {
  const char* key;
  const char* label;
  const char* meaning;
};

inline const std::vector<MetricMeaning>& metric_meanings() {
  static const std::vector<MetricMeaning> table{
      {"rows_train", "training rows", "rows the model was trained on (for the copy checks)"},
      {"rows_held_out", "real rows", "real held-out rows compared with"},
      {"rows_real", "real rows", "real held-out rows compared with"},
      {"rows_synth", "synthetic rows", "generated rows compared"},
      {"c2st_auc", "C2ST AUC",
       "a classifier's AUC telling synthetic from real rows: 0.5 = it cannot (best), 1 = always"},
      {"shape_error", "column shape error (%)",
       "100 (1 - mean column score), the score 1 - KS for numbers, 1 - total variation for categories: 0 = same"},
      {"trend_error", "pair trend error (%)",
       "100 (1 - mean pair score): correlations of two numeric columns, contingency tables otherwise: 0 = same"},
      {"missing_rate_error", "missing-rate error", "mean over columns of |missing share real - synthetic|: 0 = same"},
      {"ks", "mean KS statistic", "mean over columns of the Kolmogorov-Smirnov statistic: 0 = same distributions"},
      {"frechet", "Fréchet distance", "between Gaussians fitted to real and synthetic rows (standardised): 0 = same"},
      {"mmd2", "MMD²", "maximum mean discrepancy, RBF kernel, unbiased: about 0 = same"},
      {"corr_error", "correlation error", "mean |correlation real - synthetic| over pairs of columns: 0 = same"},
      {"dcr_share", "closest-record share",
       "share of synthetic rows nearer a training row than a held-out one: near the ideal = no copying"},
      {"dcr_ideal_share", "closest-record share, ideal", "training rows / (training + held-out rows)"},
      {"nn_share", "nearest-neighbour share",
       "share of synthetic rows whose nearest real row is a training row: near the ideal = no copying"},
      {"nn_share_ideal", "nearest-neighbour share, ideal", "training rows / (training + held-out rows)"},
      {"exact_copies", "exact copies", "synthetic rows equal to a training row"},
      {"exact_copy_share", "exact-copy share", "exact copies / synthetic rows"},
      {"held_out_copies", "held-out copies", "real held-out rows equal to a training row: the table's own rate"},
      {"held_out_copy_share", "held-out copy share", "held-out copies / real rows"},
  };
  return table;
}

// A row of the metric table: the path of the figure in the JSON ("utility/synthetic").
struct MetricRow {
  nlohmann::json::json_pointer path;
  std::string label, meaning;
};

inline std::vector<MetricRow> metric_rows(const nlohmann::json& j) {
  std::vector<MetricRow> rows;
  if (!j.is_object()) return rows;
  for (const MetricMeaning& m : metric_meanings())
    if (j.contains(m.key) && j.at(m.key).is_number())
      rows.push_back({nlohmann::json::json_pointer("/" + std::string(m.key)), m.label, m.meaning});
  if (j.contains("utility") && j.at("utility").is_object()) {
    const nlohmann::json& u = j.at("utility");
    const std::string what =
        concat(u.value("metric", std::string("score")), " of a model of '", u.value("target", std::string()), "'");
    rows.push_back({nlohmann::json::json_pointer("/utility/synthetic"), "utility, trained on synthetic rows",
                    what + " trained on synthetic rows, tested on real held-out rows"});
    rows.push_back({nlohmann::json::json_pointer("/utility/real"), "utility, trained on real rows",
                    "the same model trained on the real training rows: the bar to reach"});
  }
  for (const auto& item : j.items()) {  // figures this page has no words for, by name
    const std::string& key = item.key();
    const auto& value = item.value();
    const bool known = key == "utility" || std::any_of(metric_meanings().begin(), metric_meanings().end(),
                                                       [&](const MetricMeaning& m) { return key == m.key; });
    if (!known && value.is_number()) rows.push_back({nlohmann::json::json_pointer("/" + key), key, ""});
  }
  return rows;
}

// A figure's cell: shown to 4 digits, its exact JSON text in the tooltip.
inline std::string metric_cell(const nlohmann::json& j, const nlohmann::json::json_pointer& path) {
  if (!j.contains(path) || !j.at(path).is_number()) return "<td class=\"n\">\u2013</td>";
  const nlohmann::json& v = j.at(path);
  return "<td class=\"n\" title=\"" + v.dump() + "\">" + format_number(v.get<double>()) + "</td>";
}

inline const char* type_name(const Column& c) { return enum_name(c.type); }

inline std::string shape_row(std::size_t rank, const ColumnShape& s, const Column& c) {
  return concat("<tr><td class=\"n\">", rank, "</td><td>", html_escape(s.column), "</td><td>", type_name(c),
                "</td><td>", s.metric == "ks" ? "1 - KS" : "1 - TVD", "</td><td class=\"n\">", format_number(s.score),
                "</td><td class=\"n\">", format_percent(s.missing_real), "</td><td class=\"n\">",
                format_percent(s.missing_synth), "</td></tr>");
}

inline std::string pair_row(std::size_t rank, const PairTrend& p) {
  const bool corr = p.metric == "correlation";
  return concat("<tr><td class=\"n\">", rank, "</td><td>", html_escape(p.column_a), "</td><td>",
                html_escape(p.column_b), "</td><td>", corr ? "correlation" : "contingency", "</td><td class=\"n\">",
                format_number(p.score), "</td><td class=\"n\">", corr ? format_number(p.real) : "",
                "</td><td class=\"n\">", corr ? format_number(p.synth) : "", "</td></tr>");
}

// Rows [0, listed) as a table, the rest (up to `max`) folded in a <details> below it.
template <class Item, class Row>
std::string folded_table(const std::vector<Item>& items, std::size_t listed, std::size_t max, const std::string& head,
                         const std::string& what, Row row) {
  const std::size_t shown = std::min(items.size(), max);
  std::string s = "<table><thead>" + head + "</thead><tbody>";
  for (std::size_t i = 0; i < std::min(listed, shown); ++i) s += row(i + 1, items[i]);
  s += "</tbody></table>";
  if (shown > listed) {
    s += concat("<details><summary>", shown - listed, " more ", what,
                shown < items.size() ? concat(" (of ", items.size(), "; --json lists all)") : "",
                "</summary><table><thead>", head, "</thead><tbody>");
    for (std::size_t i = listed; i < shown; ++i) s += row(i + 1, items[i]);
    s += "</tbody></table></details>";
  }
  return s;
}

inline std::string column_card(const Table& real, const Table& synth, Eigen::Index c, const ColumnShape& shape,
                               const ReportOptions& options) {
  const Column& column = real.schema.columns[static_cast<std::size_t>(c)];
  const ColumnDistribution d = column_distribution_unchecked(real, synth, c, options.bins, options.max_categories);
  const bool missing = d.missing_real > 0 || d.missing_synth > 0;
  std::string s = "<div class=\"card\"><h3>" + html_escape(column.name) + "</h3><p class=\"meta\">" +
                  type_name(column) + " \u00b7 " + (shape.metric == "ks" ? "1 - KS " : "1 - TVD ") +
                  format_number(shape.score) + " \u00b7 missing " + format_percent(d.missing_real) + " real, " +
                  format_percent(d.missing_synth) + " synthetic</p>";
  if (column.is_categorical()) {
    std::vector<std::string> labels = d.labels;
    std::vector<double> a = d.real, b = d.synth;
    if (missing) {
      labels.push_back("(missing)");
      a.push_back(d.missing_real);
      b.push_back(d.missing_synth);
    }
    s += svg_bars(labels, a, b);
  } else if (d.labels.empty()) {
    s += "<p class=\"note\">no present values</p>";
  } else {
    s += svg_histogram(d.labels, d.real, d.synth, value_text(column, d.low), value_text(column, d.high),
                       missing ? std::optional(std::pair{d.missing_real, d.missing_synth}) : std::nullopt);
  }
  return s + "</div>";
}

// pair_trends of two tables whose columns are all numeric with no missing cell (every pair a
// correlation), from one product per table: O(rows cols^2) at GEMM speed, where pair_trends
// walks the rows once per pair (50,000 rows x 300 columns: 0.5 s against 100 s). Equal to
// pair_trends up to rounding. Empty when a column is categorical or a cell missing.
inline std::vector<PairTrend> complete_numeric_pair_trends(const Table& real, const Table& synth) {
  for (const Column& c : real.schema.columns)
    if (c.is_categorical()) return {};
  if (real.cells.hasNaN() || synth.cells.hasNaN()) return {};
  const auto correlations = [](const Matrix<double>& x) {
    const Eigen::MatrixXd centred = x.rowwise() - x.colwise().mean();
    const Eigen::VectorXd norm = centred.colwise().norm();
    Eigen::MatrixXd r = centred.transpose() * centred;
    for (Eigen::Index i = 0; i < r.rows(); ++i)
      for (Eigen::Index j = 0; j < r.cols(); ++j)
        r(i, j) =
            norm(i) > 0 && norm(j) > 0 && x.rows() > 1 ? std::clamp(r(i, j) / (norm(i) * norm(j)), -1.0, 1.0) : 0.0;
    return r;
  };
  const Eigen::MatrixXd a = correlations(real.cells), b = correlations(synth.cells);
  std::vector<PairTrend> out;
  for (Eigen::Index i = 0; i < a.rows(); ++i)
    for (Eigen::Index j = i + 1; j < a.cols(); ++j)
      out.push_back({real.schema.columns[static_cast<std::size_t>(i)].name,
                     real.schema.columns[static_cast<std::size_t>(j)].name, "correlation",
                     1.0 - std::abs(a(i, j) - b(i, j)) / 2.0, a(i, j), b(i, j)});
  return out;
}

inline const char* report_css() {
  return "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1150px}"
         "h1{font-size:22px;margin:0 0 4px}"
         "h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #ccc;padding-bottom:3px}"
         "h3{font-size:13px;margin:0 0 2px;overflow-wrap:anywhere}"
         "table{border-collapse:collapse;font-size:13px;margin:4px 0}"
         "th,td{padding:3px 8px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}"
         "th{background:#f3f3f3}.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
         ".grid{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0}"
         ".card{border:1px solid #ddd;border-radius:4px;padding:8px;width:300px}"
         ".meta,.note{font-size:12px;color:#555;margin:2px 0 6px}.ax{font-size:10px;fill:#444}"
         "details{margin:8px 0}summary{cursor:pointer;color:#1a4f8a}"
         ".key i{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:-2px}";
}

}  // namespace detail

// The page. `metrics` are the table's columns: the synthetic rows' figures first (as `ldm eval
// --json` prints them), then any baselines' (each evaluated the same way); it may be empty.
// The lists of columns and pairs come from metrics[0]'s "columns" and "pairs" when it has them
// (the mixed-table figures), else from column_shapes and pair_trends(trend_bins) of real and synth.
// Cost: O(rows x columns) for the plots, pair_trends' when it runs, and O(rows x k^2) for the
// heatmaps of k <= heatmap_columns columns.
inline std::string report_html(const Table& real, const Table& synth, const std::vector<ReportMetrics>& metrics,
                               const ReportOptions& options = {}) {
  constexpr const char* where = "ldm::report_html";
  detail::require_table(where, "real", real, 1);
  detail::require_table(where, "synth", synth, 1);
  detail::require_same_columns(where, "real", real, "synth", synth);
  if (options.bins < 1 || options.trend_bins < 1 || options.heatmap_columns < 2 || options.max_categories < 2)
    throw std::invalid_argument(detail::concat(where,
                                               ": bins and trend_bins must be at least 1, heatmap_columns and "
                                               "max_categories at least 2"));
  using detail::concat;
  using detail::html_escape;
  const nlohmann::json none = nlohmann::json::object();
  const nlohmann::json& first = metrics.empty() ? none : metrics.front().metrics;

  std::vector<ColumnShape> shapes;
  if (first.contains("columns"))
    first.at("columns").get_to(shapes);
  else
    shapes = worst_first(column_shapes(real, synth));
  std::vector<PairTrend> pairs;
  if (first.contains("pairs"))
    first.at("pairs").get_to(pairs);
  else if (pairs = detail::complete_numeric_pair_trends(real, synth); !pairs.empty())
    pairs = worst_first(std::move(pairs));
  else
    pairs = worst_first(pair_trends(real, synth, options.trend_bins));
  const auto index_of = [&](const std::string& name) {
    try {
      return static_cast<Eigen::Index>(real.schema.index_of(name));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(concat(where, ": the metrics name a column the table lacks: ", e.what()));
    }
  };

  std::size_t n_categorical = 0, n_integer = 0;
  for (const Column& c : real.schema.columns) {
    n_categorical += c.is_categorical() ? 1 : 0;
    n_integer += c.type == ColumnType::integer ? 1 : 0;
  }
  std::string s;
  s.reserve(1 << 20);
  s += "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\"><head><meta charset=\"utf-8\"/>";
  s += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>";
  // Nothing may be fetched: a browser refuses (and logs) any load that slips in.
  s += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"/>";
  s += "<title>" + html_escape(options.title) + "</title><style>" + detail::report_css() + "</style></head><body>\n";
  s += "<h1>" + html_escape(options.title) + "</h1>";
  s += concat("<p class=\"meta\">real: ", html_escape(options.real_name), ", ", real.rows(),
              " rows \u00b7 synthetic: ", html_escape(options.synth_name), ", ", synth.rows(), " rows \u00b7 ",
              real.cols(), " columns (", real.cols() - static_cast<Eigen::Index>(n_categorical + n_integer),
              " numeric, ", n_integer, " integer, ", n_categorical, " categorical)</p>\n");
  const std::string key = "<p class=\"key meta\">legend:<i style=\"background:" + std::string(detail::real_colour) +
                          "\"></i>real (" + html_escape(options.real_name) +
                          ")<i style=\"background:" + detail::synth_colour + "\"></i>synthetic (" +
                          html_escape(options.synth_name) + ")</p>";

  // Metrics.
  s += "<section id=\"metrics\"><h2>Metrics</h2>";
  const std::vector<detail::MetricRow> rows = detail::metric_rows(first);
  if (rows.empty()) {
    s += "<p class=\"note\">no figures given</p>";
  } else {
    s += "<table><thead><tr><th>figure</th>";
    for (const ReportMetrics& m : metrics) s += "<th class=\"n\">" + html_escape(m.name) + "</th>";
    s += "<th>what it means</th></tr></thead><tbody>";
    for (const detail::MetricRow& row : rows) {
      s += "<tr><td>" + html_escape(row.label) + "</td>";
      for (const ReportMetrics& m : metrics) s += detail::metric_cell(m.metrics, row.path);
      s += "<td class=\"meta\">" + html_escape(row.meaning) + "</td></tr>";
    }
    s += "</tbody></table><p class=\"note\">Hover a figure for its exact value (as <code>ldm eval --json</code> "
         "prints it).</p>";
  }
  s += "</section>\n";

  // Columns: the list, then the plots, worst first.
  s += "<section id=\"columns\"><h2>Columns, the most different first</h2>";
  s += "<p class=\"note\">Score: 1 - Kolmogorov-Smirnov statistic (numbers, missing cells left out) or 1 - total "
       "variation distance (categories, missing as a category); 1 = the same distribution.</p>";
  s += detail::folded_table(
      shapes, options.listed, shapes.size(),
      "<tr><th class=\"n\">#</th><th>column</th><th>type</th><th>measure</th><th class=\"n\">score</th>"
      "<th class=\"n\">missing, real</th><th class=\"n\">missing, synthetic</th></tr>",
      "columns", [&](std::size_t rank, const ColumnShape& shape) {
        return detail::shape_row(rank, shape, real.schema.columns[static_cast<std::size_t>(index_of(shape.column))]);
      });
  s += "<h3>Distributions</h3>" + key +
       "<p class=\"note\">Bars: share of all rows; numeric columns on bins shared by real and synthetic rows, "
       "missing cells as a separate group (NA).</p><div class=\"grid\">";
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    if (i == options.plots_open && shapes.size() > options.plots_open)
      s += concat("</div><details><summary>plots of ", shapes.size() - options.plots_open,
                  " more columns</summary><div class=\"grid\">");
    s += detail::column_card(real, synth, index_of(shapes[i].column), shapes[i], options);
  }
  s += shapes.size() > options.plots_open ? "</div></details>" : "</div>";
  s += "</section>\n";

  // Pairs: the list, then the heatmaps.
  s += "<section id=\"pairs\"><h2>Pairs of columns, the most different first</h2>";
  if (pairs.empty()) {
    s += "<p class=\"note\">one column: no pairs</p>";
  } else {
    s += "<p class=\"note\">Score: 1 - |r real - r synthetic| / 2 for two numeric columns (Pearson r), else 1 - total "
         "variation distance of their contingency tables (numbers in quantile bins); 1 = the same.</p>";
    s += detail::folded_table(
        pairs, options.listed, options.pairs_max,
        "<tr><th class=\"n\">#</th><th>column</th><th>column</th><th>measure</th>"
        "<th class=\"n\">score</th><th class=\"n\">r, real</th><th class=\"n\">r, synthetic</th></tr>",
        "pairs", [](std::size_t rank, const PairTrend& p) { return detail::pair_row(rank, p); });
    // Heatmap columns: all, or those of the worst pairs, in schema order.
    std::vector<Eigen::Index> chosen;
    if (static_cast<std::size_t>(real.cols()) <= options.heatmap_columns) {
      for (Eigen::Index c = 0; c < real.cols(); ++c) chosen.push_back(c);
    } else {
      for (const PairTrend& p : pairs) {
        for (const std::string* name : {&p.column_a, &p.column_b}) {
          const Eigen::Index c = index_of(*name);
          if (chosen.size() < options.heatmap_columns && std::find(chosen.begin(), chosen.end(), c) == chosen.end())
            chosen.push_back(c);
        }
        if (chosen.size() >= options.heatmap_columns) break;
      }
      std::sort(chosen.begin(), chosen.end());
    }
    std::vector<std::string> names;
    for (Eigen::Index c : chosen) names.push_back(real.schema.columns[static_cast<std::size_t>(c)].name);
    const Matrix<double> a = association_matrix(real, real, chosen, options.trend_bins);
    const Matrix<double> b = association_matrix(synth, real, chosen, options.trend_bins);
    const Matrix<double> diff = (a - b).cwiseAbs();
    s += "<h3>Associations</h3><p class=\"note\">Pearson r for two numeric columns (blue -1, white 0, red +1), "
         "Cramer's V otherwise (0 to 1); the difference is |real - synthetic| (white 0, dark red 1 or more).";
    if (chosen.size() < static_cast<std::size_t>(real.cols()))
      s += concat(" Shown: the ", chosen.size(), " columns of the pairs that differ most, of ", real.cols(), ".");
    s += "</p><div class=\"grid\">";
    const auto map = [&](const Matrix<double>& m, double lo, const char* caption) {
      return "<div><h3>" + std::string(caption) + "</h3>" +
             detail::svg_heatmap(m, names, lo, 1.0, caption,
                                 [&](Eigen::Index i, Eigen::Index j) {
                                   return concat(names[static_cast<std::size_t>(i)], " \u00d7 ",
                                                 names[static_cast<std::size_t>(j)], ": ",
                                                 detail::format_number(m(i, j)));
                                 }) +
             "</div>";
    };
    s += map(a, -1.0, "real") + map(b, -1.0, "synthetic") + map(diff, 0.0, "difference") + "</div>";
  }
  s += "</section>\n<p class=\"meta\" id=\"end\">Written by ldm eval --report.</p></body></html>\n";
  return s;
}

// report_html written to path atomically (a temporary file renamed over it: io/atomic_file.hpp).
// Throws std::runtime_error naming the path when it cannot be written.
inline void write_report(const std::string& path, const Table& real, const Table& synth,
                         const std::vector<ReportMetrics>& metrics, const ReportOptions& options = {}) {
  const std::string html = report_html(real, synth, metrics, options);
  AtomicFile file(path);
  file.write(html);
  file.commit();
}

}  // namespace ldm
