// A table's schema: per column its name, type, categories, whether it has missing cells, its
// range and how the file wrote its numbers. Learned from the training file, saved in the
// checkpoint, and used to write generated rows the way the data was written (DESIGN.md,
// "Tables: column types and the mixed VAE").
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/json.hpp>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ldm {

enum class ColumnType {
  numeric,      // real numbers
  integer,      // numbers that are all whole in the training file: samples are rounded
  categorical,  // any column with a cell that is not a number, or one declared so: one of K texts
  date,         // every present cell a calendar date written YYYY-MM-DD (ISO 8601): the day number,
                // days since 1970-01-01, learned as a whole number and written as a date
  datetime,     // every present cell a date and a time of day (TimeFormat): seconds since 1970-01-01 00:00:00
};
constexpr auto enum_names(ColumnType) {
  return std::array{std::pair{ColumnType::numeric, "numeric"}, std::pair{ColumnType::integer, "integer"},
                    std::pair{ColumnType::categorical, "categorical"}, std::pair{ColumnType::date, "date"},
                    std::pair{ColumnType::datetime, "datetime"}};
}

// How a datetime column writes its cells: ISO 8601's extended format, with a space for its 'T'
// as pandas' to_csv and R's write.csv write it, or with the 'T'; to the second or to the minute.
enum class TimeFormat { space_seconds, t_seconds, space_minutes, t_minutes };
constexpr auto enum_names(TimeFormat) {
  return std::array{std::pair{TimeFormat::space_seconds, "YYYY-MM-DD HH:MM:SS"},
                    std::pair{TimeFormat::t_seconds, "YYYY-MM-DDTHH:MM:SS"},
                    std::pair{TimeFormat::space_minutes, "YYYY-MM-DD HH:MM"},
                    std::pair{TimeFormat::t_minutes, "YYYY-MM-DDTHH:MM"}};
}

struct Column {
  // (Members with initializers, so designated initializers may leave any out under -Wextra.)
  std::string name = {};
  ColumnType type = ColumnType::numeric;
  // categorical: the texts of the categories, in code order (code k is categories[k]); sorted,
  // by value when all are integers ("9" before "10"), else by text.
  std::vector<std::string> categories = {};
  bool has_missing = false;       // the training file has at least one missing cell here
  std::string missing_text = {};  // how the file wrote its missing cells (the most frequent spelling): "", "NA", ...
  double min = 0, max = 0;        // all but categorical: the range of the present values
  int decimals = 0;               // numeric: the most digits after the decimal point in the file
  TimeFormat time_format = TimeFormat::space_seconds;  // datetime: how the file wrote its cells

  bool is_categorical() const { return type == ColumnType::categorical; }
  // Values that are whole numbers: generated ones are rounded, and a file's 2.5 is refused.
  bool is_whole() const { return type == ColumnType::integer || is_time(); }
  // Dates and date-times (data/detail/iso_date.hpp): written as their text, generated only as
  // values the training column has.
  bool is_time() const { return type == ColumnType::date || type == ColumnType::datetime; }
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Column, name, type, categories, has_missing, missing_text, min, max,
                                                decimals, time_format)

struct Schema {
  std::vector<Column> columns = {};

  std::size_t size() const { return columns.size(); }
  // The index of the column named `name`; throws std::invalid_argument listing the names.
  std::size_t index_of(const std::string& name) const {
    for (std::size_t c = 0; c < columns.size(); ++c)
      if (columns[c].name == name) return c;
    std::string names;
    for (std::size_t c = 0; c < columns.size(); ++c) names += (c ? ", " : "") + columns[c].name;
    throw std::invalid_argument(detail::concat("no column named '", name, "'; the columns are: ", names));
  }
  // True when every column is numeric or integer with no missing cells: the seed's model.
  bool all_numeric_complete() const {
    for (const Column& c : columns)
      if (c.is_categorical() || c.is_time() || c.has_missing) return false;
    return true;
  }
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Schema, columns)

}  // namespace ldm
