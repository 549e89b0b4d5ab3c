// A table row as the VAE's vector and back (DESIGN.md, "Tables: column types and the mixed VAE";
// the ideas from TabSyn, Zhang et al. ICLR 2024, and TabDDPM, Kotelnikov et al. ICML 2023).
// The layout is data/vector_layout.hpp's. A numeric or integer value is standardised (or mapped
// to a normal score, data/quantile_normal.hpp); a missing one enters as 0 with its indicator 1; a
// categorical cell is one-hot, missing being the last category of a column that has missing cells.
//
// A schema of numeric columns with no missing cells gives exactly the seed's vectors:
// encode(t) == standardizer().transform(t.cells.cast<S>()), bit for bit, width == columns.
//
// Decoding draws. Scheme: column c of the schema draws from k_c = fold_in(key, c); row r's draw
// is u = detail::uniform_at<double>(k_c, first_row + r) (52-bit uniform in [0, 1)). A numeric
// column with missing cells is missing when u < sigmoid(its logit); a categorical column takes
// the first category whose cumulative softmax(logits / temperature) exceeds u (temperature 0:
// the first largest logit, no draw). So a cell depends only on (key, row, column): never on the
// thread count, nor on how rows are split into batches (pass each batch's first_row). The next
// key is detail::next_key(key), as for every draw in core/random.hpp.
//
// Checkpoints: visit_each walks the tensors ("mean", "scale" for the standard transform,
// "quantiles" for quantile_normal; none without numeric columns; load with
// ShapePolicy::from_file), and the JSON mapping holds the rest (schema and options).
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/json.hpp>
#include <ldm/core/random.hpp>
#include <ldm/core/visit.hpp>
#include <ldm/data/quantile_normal.hpp>
#include <ldm/data/schema.hpp>
#include <ldm/data/standardizer.hpp>
#include <ldm/data/table.hpp>
#include <ldm/data/vector_layout.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

namespace ldm {

enum class NumericTransform {
  automatic,        // standard for a numeric table with no missing cell (the seed's), else quantile_normal
  standard,         // (x - mean) / std, as the seed and scikit-learn's StandardScaler
  quantile_normal,  // Phi^{-1}(empirical CDF), as QuantileTransformer(output_distribution='normal')
};
constexpr auto enum_names(NumericTransform) {
  return std::array{std::pair{NumericTransform::automatic, "automatic"},
                    std::pair{NumericTransform::standard, "standard"},
                    std::pair{NumericTransform::quantile_normal, "quantile_normal"}};
}

// automatic resolved for a schema. Why quantile_normal for mixed tables, measured on a synthetic
// table (3,000 rows: a lognormal price, an integer age, a lognormal income with 12% missing, a
// category; VAE latent 4, hidden 128, 2,000 steps, 3 seeds), KS of held-out rows passed through
// encoder, z = mu + sigma eps, decoder: price 0.047-0.081 standard vs 0.011-0.019 quantile_normal,
// income 0.021-0.025 vs 0.010-0.014, age 0.016-0.018 vs 0.007-0.010. Numeric tables with no
// missing cell keep the seed's standardisation: its model and files are the contract.
inline NumericTransform resolved(NumericTransform t, const Schema& schema) {
  if (t != NumericTransform::automatic) return t;
  return schema.all_numeric_complete() ? NumericTransform::standard : NumericTransform::quantile_normal;
}

struct EncodingOptions {
  NumericTransform numeric_transform = NumericTransform::automatic;  // a fitted encoding holds the resolved one
  // Knots of the quantile transform, capped at the number of rows: every order statistic up to
  // 100,000 rows (8 bytes per row and numeric column in the file). Not sklearn's 1,000: then the
  // last interval holds 0.1% of the rows, and one outlier stretches it (diamonds' z, 37,758
  // rows: 5.53..31.8). Sampled rows with z > 10 of 16,182: 37 with 1,000 knots, 11 with 10,000,
  // 8 with a knot per row (boosting C2ST 0.811, 0.806, 0.787; one training run each).
  int n_quantiles = 100000;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EncodingOptions, numeric_transform, n_quantiles)

// Rows decoded from the VAE, and the key to use next.
struct DecodedTable {
  Table table;
  Key key;
};

namespace detail {

// v rounded to `decimals` places (as the file wrote them); beyond 15 a double has no more.
inline double round_to_decimals(double v, int decimals) {
  if (decimals <= 0) return std::round(v);
  if (decimals > 15) return v;
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

inline double stable_sigmoid(double a) {
  return a >= 0 ? 1.0 / (1.0 + std::exp(-a)) : std::exp(a) / (1.0 + std::exp(a));
}

// The category drawn from logits / temperature with uniform u (temperature 0: first argmax).
template <class Row>
Eigen::Index draw_category(const Row& logits, double temperature, double u) {
  Eigen::Index best = 0;
  for (Eigen::Index k = 1; k < logits.size(); ++k)
    if (logits(k) > logits(best)) best = k;
  if (temperature == 0) return best;
  const double top = static_cast<double>(logits(best));
  double sum = 0;
  for (Eigen::Index k = 0; k < logits.size(); ++k)
    sum += std::exp((static_cast<double>(logits(k)) - top) / temperature);
  const double target = u * sum;
  double cumulative = 0;
  for (Eigen::Index k = 0; k < logits.size(); ++k) {
    cumulative += std::exp((static_cast<double>(logits(k)) - top) / temperature);
    if (target < cumulative) return k;
  }
  return best;  // u * sum rounded up to the total: the last category with mass would do as well
}

}  // namespace detail

template <class S = float>
class TableEncoding : public Visitable<TableEncoding<S>> {
 public:
  TableEncoding() = default;
  // An unfitted encoding of a schema: what from_json builds before the tensors are assigned.
  TableEncoding(Schema schema, EncodingOptions options)
      : schema_(std::move(schema)), options_(options), layout_(layout_for(schema_)) {
    if (schema_.size() == 0) throw std::invalid_argument("TableEncoding: the schema has no column");
    options_.numeric_transform = resolved(options_.numeric_transform, schema_);
    detail::require_at_least("TableEncoding", "n_quantiles", options_.n_quantiles, 2);
  }

  // Fitted on the training rows: the scalings of the numeric columns from their present values.
  // Throws std::invalid_argument for a table that does not fit its own schema (see validate).
  static TableEncoding fit(const Table& train, const EncodingOptions& options = {}) {
    validate(train, "TableEncoding::fit");
    if (train.rows() == 0) throw std::invalid_argument("TableEncoding::fit: the table has no rows");
    TableEncoding e(train.schema, options);
    if (e.layout_.numeric == 0) return e;
    const Matrix<double> values = e.numeric_cells(train);
    if (e.options_.numeric_transform == NumericTransform::quantile_normal) {
      e.quantile_.fit(values, options.n_quantiles);
    } else if (!values.array().isNaN().any()) {
      e.standardizer_.fit(values.template cast<S>());  // the seed's path, bit for bit
    } else {
      e.standardizer_.mean.resize(values.cols());
      e.standardizer_.scale.resize(values.cols());
      for (Eigen::Index j = 0; j < values.cols(); ++j) {  // each column on its present values alone
        Matrix<S> present(values.rows() - values.col(j).array().isNaN().count(), 1);
        for (Eigen::Index r = 0, i = 0; r < values.rows(); ++r)
          if (!std::isnan(values(r, j))) present(i++, 0) = static_cast<S>(values(r, j));
        Standardizer<S> one;
        if (present.rows() > 0) one.fit(present);
        e.standardizer_.mean(j) = present.rows() > 0 ? one.mean(0) : S(0);
        e.standardizer_.scale(j) = present.rows() > 0 ? one.scale(0) : S(1);
      }
    }
    return e;
  }

  const Schema& schema() const { return schema_; }
  const EncodingOptions& options() const { return options_; }
  const VectorLayout& layout() const { return layout_; }
  Eigen::Index width() const { return layout_.width; }
  const Standardizer<S>& standardizer() const { return standardizer_; }
  const QuantileNormal<S>& quantile() const { return quantile_; }

  // The rows as VAE vectors [rows, width]. Throws std::invalid_argument naming the column for a
  // table of another schema (names, types, categories) or a missing cell in a column that had
  // none in training (it has no indicator).
  void encode(const Table& t, Matrix<S>& out) const {
    require_same_columns("TableEncoding::encode", t);
    out.setZero(t.rows(), layout_.width);
    if (layout_.numeric > 0) {
      Matrix<S> z;
      if (options_.numeric_transform == NumericTransform::quantile_normal)
        quantile_.transform(numeric_cells(t), z);
      else
        standardizer_.transform(numeric_cells(t).template cast<S>(), z);
      if (layout_.plain()) {
        out = std::move(z);
        return;
      }
      out.leftCols(layout_.numeric) = z;
    }
    for (std::size_t c = 0; c < schema_.size(); ++c) {
      const ColumnSlots& slots = layout_.columns[c];
      for (Eigen::Index r = 0; r < t.rows(); ++r) {
        const double cell = t.cells(r, static_cast<Eigen::Index>(c));
        if (slots.value >= 0 && Table::is_missing(cell)) {
          out(r, slots.value) = S(0);
          out(r, slots.indicator) = S(1);
        } else if (slots.offset >= 0) {
          out(r, slots.offset + (Table::is_missing(cell) ? slots.size - 1 : static_cast<Eigen::Index>(cell))) = S(1);
        }
      }
    }
  }
  Matrix<S> encode(const Table& t) const {
    Matrix<S> out;
    encode(t, out);
    return out;
  }

  // Decoder outputs [rows, width] as rows of the schema: values un-transformed, missing cells
  // and categories drawn (see the scheme above). With postprocess, integer columns are rounded,
  // numeric ones rounded to their decimals, and every value clipped to its training range.
  DecodedTable decode(const Matrix<S>& x_hat, Key key, double temperature = 1.0, bool postprocess = true,
                      Eigen::Index first_row = 0) const {
    const char* where = "TableEncoding::decode";
    detail::require_cols(where, "x_hat", x_hat, layout_.width);
    detail::require_finite(where, "x_hat", x_hat);
    if (!(temperature >= 0 && std::isfinite(temperature)))
      throw std::invalid_argument(detail::concat(where, ": temperature must be finite and >= 0, got ", temperature));
    if (first_row < 0) throw std::invalid_argument(detail::concat(where, ": first_row must be >= 0, got ", first_row));
    DecodedTable out{Table{schema_, Matrix<double>(x_hat.rows(), static_cast<Eigen::Index>(schema_.size()))},
                     detail::next_key(key)};
    Matrix<double> values;
    if (layout_.numeric > 0) {
      const Matrix<S> z = x_hat.leftCols(layout_.numeric);
      if (options_.numeric_transform == NumericTransform::quantile_normal) {
        std::vector<bool> dates(static_cast<std::size_t>(layout_.numeric));  // dates the column has, no others
        for (std::size_t c = 0; c < schema_.size(); ++c)
          if (schema_.columns[c].is_time()) dates[static_cast<std::size_t>(layout_.columns[c].value)] = true;
        quantile_.inverse(z, values, dates);
      } else
        values = standardizer_.inverse(z).template cast<double>();
    }
    for (std::size_t c = 0; c < schema_.size(); ++c) {
      const Column& column = schema_.columns[c];
      const ColumnSlots& slots = layout_.columns[c];
      const Key column_key = fold_in(key, static_cast<std::uint32_t>(c));
      for (Eigen::Index r = 0; r < x_hat.rows(); ++r) {
        const auto u = [&] {
          return detail::uniform_at<double>(column_key, static_cast<std::uint64_t>(first_row + r));
        };
        double& cell = out.table.cells(r, static_cast<Eigen::Index>(c));
        if (slots.offset >= 0) {
          const Eigen::Index k = detail::draw_category(x_hat.row(r).segment(slots.offset, slots.size), temperature,
                                                       temperature == 0 ? 0 : u());
          cell = column.has_missing && k == slots.size - 1 ? std::numeric_limits<double>::quiet_NaN() : double(k);
        } else if (slots.indicator >= 0 &&
                   u() < detail::stable_sigmoid(static_cast<double>(x_hat(r, slots.indicator)))) {
          cell = std::numeric_limits<double>::quiet_NaN();
        } else {
          cell = values(r, slots.value);
          if (postprocess) {
            cell = detail::round_to_decimals(cell, column.is_whole() ? 0 : column.decimals);
            cell = std::min(std::max(cell, column.min), column.max) + 0.0;  // + 0: no "-0" in a CSV
          }
        }
      }
    }
    return out;
  }

  template <class F, class... Es>
  static void visit_each(F&& f, Es&... e) {
    const auto& first = std::get<0>(std::tie(e...));
    if (first.layout_.numeric == 0) return;
    if (first.options_.numeric_transform == NumericTransform::quantile_normal) {
      f(std::string("quantiles"), e.quantile_.quantiles...);
    } else {
      f(std::string("mean"), e.standardizer_.mean...);
      f(std::string("scale"), e.standardizer_.scale...);
    }
  }

 private:
  // The numeric and integer columns of t, in layout order, NaN where missing.
  Matrix<double> numeric_cells(const Table& t) const {
    Matrix<double> values(t.rows(), layout_.numeric);
    for (std::size_t c = 0; c < schema_.size(); ++c)
      if (layout_.columns[c].value >= 0)
        values.col(layout_.columns[c].value) = t.cells.col(static_cast<Eigen::Index>(c));
    return values;
  }

  void require_same_columns(const char* where, const Table& t) const {
    validate(t, where);
    if (t.schema.size() != schema_.size())
      throw std::invalid_argument(detail::concat(where, ": the table has ", t.schema.size(),
                                                 " columns but the encoding was fitted on ", schema_.size()));
    for (std::size_t c = 0; c < schema_.size(); ++c) {
      const Column &mine = schema_.columns[c], &theirs = t.schema.columns[c];
      const auto differs = [&](const auto&... what) {
        return std::invalid_argument(detail::concat(where, ": column ", c, " ('", theirs.name, "') ", what...,
                                                    "; the encoding was fitted on column '", mine.name, "'"));
      };
      if (theirs.name != mine.name) throw differs("has another name");
      if (theirs.is_categorical() != mine.is_categorical())
        throw differs("is ", enum_name(theirs.type), " but was ", enum_name(mine.type));
      if (theirs.categories != mine.categories) throw differs("has other categories");
      if (theirs.has_missing && !mine.has_missing)
        for (Eigen::Index r = 0; r < t.rows(); ++r)
          if (Table::is_missing(t.cells(r, static_cast<Eigen::Index>(c))))
            throw differs("has a missing cell in row ", r, " but had none in training");
    }
  }

  Schema schema_;
  EncodingOptions options_;
  VectorLayout layout_;
  Standardizer<S> standardizer_;
  QuantileNormal<S> quantile_;
};

// JSON: {"schema": ..., "options": ...}; from_json gives an unfitted encoding whose tensors
// assign_tensors(..., ShapePolicy::from_file) then fills.
template <class S>
void to_json(nlohmann::json& j, const TableEncoding<S>& e) {
  j = nlohmann::json{{"schema", e.schema()}, {"options", e.options()}};
}
template <class S>
void from_json(const nlohmann::json& j, TableEncoding<S>& e) {
  e = TableEncoding<S>(j.at("schema").get<Schema>(), j.value("options", EncodingOptions{}));
}

}  // namespace ldm
