// Reading a table of mixed columns from a CSV file: numbers, whole numbers, categories and
// missing cells, with the schema learned from the file (DESIGN.md, "Tables: column types and the
// mixed VAE"), or read against a schema learned before (held-out or generated rows).
//
// Syntax as csv_reader.hpp (RFC 4180 quoting, LF or CRLF, a byte-order mark and trailing blank
// lines ignored, unquoted cells trimmed of spaces and tabs); a header line is required.
// Missing cells: a cell whose text, trimmed of blanks, is one of TableOptions::na_values,
// whatever its ASCII case, quoted or not (as pandas' read_csv, whose default list this one is
// a part of: "", "NA", "N/A", "NaN", "null"). A quoted "NA" is therefore missing too; a column
// can hold the category "NA" only with na_values changed.
// Types, per column: categorical if declared so; else date if every present cell is a date
// written YYYY-MM-DD (read as its day number, detail/iso_date.hpp), datetime if every one is
// written YYYY-MM-DD HH:MM:SS, or another TimeFormat (seconds), as the first one is; else
// categorical if a present cell is not a number (as std::from_chars reads it; "inf" is text),
// else integer if every present value is whole, else numeric. TableOptions::numeric declares
// a column numeric (never rounded) and refuses text.
// A header cell left empty names its column "Unnamed: <index>" (0-based, as pandas). Names and
// categories must be UTF-8 (they go into JSON); "-0" reads as 0.
// The file is read in chunks of 1 MiB and each cell parsed straight into the table's matrix,
// so reading takes about the table's memory, not the file's (bench/read_table.py measures it).
// Errors: std::runtime_error "read_table: <file>:<line>: <what>" for bad input,
// std::invalid_argument for options that name no column or contradict each other.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/json.hpp>
#include <ldm/data/detail/table_parser.hpp>
#include <ldm/data/schema_file.hpp>
#include <ldm/data/table.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <sys/stat.h>

namespace ldm {

struct TableOptions {
  char delimiter = ',';  // any byte but a quote or a line break
  // Texts of missing cells, compared case-insensitively after trimming blanks.
  std::vector<std::string> na_values = {"", "NA", "N/A", "NaN", "null"};
  // (Each with an initializer, so designated initializers may leave it out under -Wextra.)
  std::vector<std::string> drop = {};         // columns left out before any cell is parsed: they may hold anything
  std::vector<std::string> categorical = {};  // declared types (read_table without a schema)
  std::vector<std::string> numeric = {};
  std::size_t max_categories = 1000;                       // more distinct texts in a categorical column is an error
  std::uint64_t max_file_bytes = std::uint64_t{64} << 30;  // the file is streamed: only the table is held
  std::uint64_t max_line_bytes = std::uint64_t{16} << 20;  // per line, or per record whose quotes span lines
  std::size_t max_columns = 100'000;                       // cells per record
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TableOptions, delimiter, na_values, drop, categorical, numeric,
                                                max_categories, max_file_bytes, max_line_bytes, max_columns)

struct TableRead {
  Table table;
  std::vector<std::string> warnings;  // one line each, e.g. a column that looks like an identifier
};

namespace detail {

inline ParserSettings parser_settings(const std::string& file, const TableOptions& o, std::uint64_t size) {
  if (o.delimiter == '"' || o.delimiter == '\n' || o.delimiter == '\r')
    throw std::invalid_argument(concat("read_table: ", file, ": the delimiter must not be a quote or a line break"));
  if (o.max_categories == 0 || o.max_columns == 0 || o.max_line_bytes == 0)
    throw std::invalid_argument("read_table: " + file +
                                ": max_categories, max_columns and max_line_bytes must be positive");
  return {o.delimiter, o.na_values, o.max_categories, {o.max_file_bytes, o.max_line_bytes, o.max_columns}, size};
}

// The names of an option, for lookups that stay fast with 10^5 columns.
using NameSet = std::unordered_set<std::string>;
inline NameSet name_set(const std::vector<std::string>& names) { return NameSet(names.begin(), names.end()); }
inline bool contains(const NameSet& set, const std::string& name) { return set.count(name) > 0; }

// Each name of an option must be a column: a typo is an error, not a silent no-op.
inline void require_columns(const std::string& file, const std::vector<std::string>& names, const NameSet& columns,
                            const std::vector<std::string>& wanted, const char* option) {
  for (const std::string& name : wanted)
    if (!contains(columns, name))
      throw std::invalid_argument(concat("read_table: ", file, ": ", option, " names ", quoted_text(name),
                                         ", which is not a column; the columns are: ", text_list(names)));
}

// Runs the parser on a file (streamed) or on text in memory.
template <class Plan>
ParsedTable parse_source(const std::string& path, const std::string_view* text, const TableOptions& options,
                         Plan plan) {
  if (text) {
    if (text->size() > options.max_file_bytes)
      throw std::runtime_error(concat("read_table: ", path, ": the file has ", text->size(),
                                      " bytes, above the limit of ", options.max_file_bytes, " (max_file_bytes)"));
    const ParserSettings settings = parser_settings(path, options, text->size());
    std::size_t at = 0;
    return TableParser(path, settings)
        .parse(
            [&](char* out, std::size_t n) {
              const std::size_t got = std::min(n, text->size() - at);
              std::memcpy(out, text->data() + at, got);
              at += got;
              return got;
            },
            plan);
  }
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw std::runtime_error("read_table: cannot open " + path + ": " + std::strerror(errno));
  struct stat info {};
  const bool sized = ::fstat(::fileno(f.get()), &info) == 0 && S_ISREG(info.st_mode);
  const std::uint64_t size = sized ? static_cast<std::uint64_t>(info.st_size) : 0;
  if (size > options.max_file_bytes)
    throw std::runtime_error(concat("read_table: ", path, ": the file has ", size, " bytes, above the limit of ",
                                    options.max_file_bytes, " (max_file_bytes)"));
  const ParserSettings settings = parser_settings(path, options, size);
  return TableParser(path, settings)
      .parse(
          [&](char* out, std::size_t n) {
            const std::size_t got = std::fread(out, 1, n, f.get());
            if (got == 0 && std::ferror(f.get()))
              throw std::runtime_error("read_table: cannot read " + path + ": " + std::strerror(errno));
            return got;
          },
          plan);
}

// True when every row holds a different value (and there are enough rows for that to mean
// something): the mark of an identifier, which a model cannot learn.
inline bool unique_on_every_row(const Matrix<double>& cells, Eigen::Index c, const ColumnReading& column) {
  const Eigen::Index rows = cells.rows();
  // A date on every row is a time series' clock, not an identifier: as a number it can be learned.
  if (rows < 10 || column.has_missing() || column.kind == ColumnReading::Kind::date ||
      column.kind == ColumnReading::Kind::datetime)
    return false;
  if (column.kind == ColumnReading::Kind::categorical) return column.codes.size() == static_cast<std::size_t>(rows);
  if (!column.whole) return false;  // measurements with decimals are often all different
  if (column.max - column.min + 1 < static_cast<double>(rows)) return false;  // too few whole numbers between
  std::vector<double> values(static_cast<std::size_t>(rows));
  for (Eigen::Index r = 0; r < rows; ++r) values[static_cast<std::size_t>(r)] = cells(r, c);
  std::sort(values.begin(), values.end());
  return std::adjacent_find(values.begin(), values.end()) == values.end();
}

inline TableRead read_table_from(const std::string& path, const std::string_view* text, const TableOptions& options) {
  const auto plan = [&](const std::vector<std::string>& names, std::vector<ColumnReading>& columns) {
    const NameSet columns_set = name_set(names), drop = name_set(options.drop),
                  categorical = name_set(options.categorical), numeric = name_set(options.numeric);
    require_columns(path, names, columns_set, options.drop, "--drop-column");
    require_columns(path, names, columns_set, options.categorical, "--categorical");
    require_columns(path, names, columns_set, options.numeric, "--numeric");
    for (const std::string& name : options.categorical)
      if (contains(numeric, name) || contains(drop, name))
        throw std::invalid_argument(concat("read_table: ", path, ": column ", quoted_text(name),
                                           " is declared categorical and also ",
                                           contains(drop, name) ? "dropped" : "numeric"));
    for (const std::string& name : options.numeric)
      if (contains(drop, name))
        throw std::invalid_argument(
            concat("read_table: ", path, ": column ", quoted_text(name), " is declared numeric and also dropped"));
    std::vector<long> slots;
    for (const std::string& name : names) {
      if (contains(drop, name)) {
        slots.push_back(-1);
        continue;
      }
      slots.push_back(static_cast<long>(columns.size()));
      ColumnReading& c = columns.emplace_back();
      c.name = name;
      if (contains(categorical, name)) c.kind = ColumnReading::Kind::categorical;
      if (contains(numeric, name)) {
        c.kind = ColumnReading::Kind::numeric;
        c.declared = "the column is declared numeric";
      }
    }
    return slots;
  };
  ParsedTable parsed = parse_source(path, text, options, plan);
  TableRead result;
  Schema& schema = result.table.schema;
  for (std::size_t s = 0; s < parsed.columns.size(); ++s) {
    ColumnReading& reading = parsed.columns[s];
    const auto c = static_cast<Eigen::Index>(s);
    if (reading.present == 0)
      throw std::runtime_error(concat("read_table: ", path, ": column ", quoted_text(reading.name),
                                      " is missing on every row, so it cannot be learned; leave it out: --drop-column ",
                                      reading.name));
    // Names and categories go into JSON (schema files, checkpoints): UTF-8 only.
    const auto not_utf8 = [&](const std::string& what) {
      return std::runtime_error(concat("read_table: ", path, ": ", what,
                                       " is not UTF-8 text; convert the file (e.g. iconv -f latin1 -t utf-8)"));
    };
    if (!valid_utf8(reading.name)) throw not_utf8("the column name " + quoted_text(reading.name));
    for (const std::string& text : reading.codes.texts())
      if (!valid_utf8(text)) throw not_utf8(concat("column ", quoted_text(reading.name), ": ", quoted_text(text)));
    Column& column = schema.columns.emplace_back();
    column.name = reading.name;
    column.has_missing = reading.has_missing();
    column.missing_text = reading.missing_text();
    if (reading.kind == ColumnReading::Kind::categorical) {
      column.type = ColumnType::categorical;
      auto [sorted, rank] = sorted_categories(reading.codes.texts());
      column.categories = std::move(sorted);
      for (Eigen::Index r = 0; r < parsed.cells.rows(); ++r)
        if (const double code = parsed.cells(r, c); !std::isnan(code))
          parsed.cells(r, c) = static_cast<double>(rank[static_cast<std::size_t>(code)]);
    } else if (reading.kind == ColumnReading::Kind::date || reading.kind == ColumnReading::Kind::datetime) {
      column.type = reading.kind == ColumnReading::Kind::date ? ColumnType::date : ColumnType::datetime;
      column.time_format = reading.time_format;
      column.min = reading.min;
      column.max = reading.max;
    } else {
      const bool integer = reading.kind == ColumnReading::Kind::inferred && reading.whole;
      column.type = integer ? ColumnType::integer : ColumnType::numeric;
      column.min = reading.min;
      column.max = reading.max;
      column.decimals = integer ? 0 : reading.decimals;
    }
    if (unique_on_every_row(parsed.cells, c, reading))
      result.warnings.push_back(concat("column ", quoted_text(reading.name),
                                       " has a different value on every row; is it an identifier? --drop-column ",
                                       reading.name));
  }
  result.table.cells = std::move(parsed.cells);
  return result;
}

inline Table read_table_from(const std::string& path, const std::string_view* text, const Schema& schema,
                             const TableOptions& options) {
  check(schema, "read_table: " + path);
  const auto plan = [&](const std::vector<std::string>& names, std::vector<ColumnReading>& columns) {
    const NameSet in_file = name_set(names), drop = name_set(options.drop);
    std::unordered_map<std::string, long> slot_of;
    for (std::size_t s = 0; s < schema.columns.size(); ++s)
      slot_of.emplace(schema.columns[s].name, static_cast<long>(s));
    std::vector<long> slots;
    for (const Column& column : schema.columns) {
      ColumnReading& c = columns.emplace_back();
      c.name = column.name;
      c.declared = concat("the schema says ", enum_name(column.type));
      if (column.is_categorical()) {
        c.kind = ColumnReading::Kind::categorical;
        c.known_categories = true;
        for (const std::string& category : column.categories) c.codes.code(category, true, column.categories.size());
      } else {
        c.kind = column.type == ColumnType::date       ? ColumnReading::Kind::date
                 : column.type == ColumnType::datetime ? ColumnReading::Kind::datetime
                                                       : ColumnReading::Kind::numeric;
        c.time_format = column.time_format;
        c.whole_only = column.is_whole();
      }
      if (!contains(in_file, column.name))
        throw std::runtime_error(concat("read_table: ", path, ": the schema's column ", quoted_text(column.name),
                                        " is not in the file; its columns are: ", text_list(names)));
    }
    for (const std::string& name : names) {
      if (const auto it = slot_of.find(name); it != slot_of.end()) {
        slots.push_back(it->second);
      } else if (contains(drop, name)) {
        slots.push_back(-1);
      } else {
        throw std::runtime_error(concat("read_table: ", path, ": column ", quoted_text(name),
                                        " is not in the schema; leave it out: --drop-column ", name));
      }
    }
    return slots;
  };
  ParsedTable parsed = parse_source(path, text, options, plan);
  Table table{schema, std::move(parsed.cells)};
  for (std::size_t s = 0; s < parsed.columns.size(); ++s) {
    const ColumnReading& reading = parsed.columns[s];
    Column& column = table.schema.columns[s];
    if (reading.has_missing() && !column.has_missing) column.missing_text = reading.missing_text();
    column.has_missing = reading.has_missing();
    if (!column.is_categorical() && reading.present > 0) {
      column.min = reading.min;
      column.max = reading.max;
    }
  }
  return table;
}

}  // namespace detail

// Reads a table and learns its schema (see the top of this file). Warns (TableRead::warnings)
// about a column that holds a different value on every row of 10 or more (an identifier).
// Throws std::runtime_error naming the file, the line and the column for a file that cannot be
// read, is empty or has a header but no rows, a duplicate column name, a ragged row, an unclosed
// quote, a size above the limits, a column missing on every row, a categorical column with more
// than max_categories distinct texts, or text in a column declared numeric; std::invalid_argument
// for an option that names no column or a column both declared and dropped.
inline TableRead read_table(const std::string& path, const TableOptions& options = {}) {
  return detail::read_table_from(path, nullptr, options);
}

// The same, from text in memory; name stands for the file in messages.
inline TableRead parse_table(std::string_view text, const std::string& name, const TableOptions& options = {}) {
  return detail::read_table_from(name, &text, options);
}

// Reads another file of a table whose schema is known (held-out rows, generated rows): the
// same columns in any order, put in the schema's order (other columns are an error unless
// options.drop names them); categories must be known, numbers are read as the schema's types
// say (an integer column refuses 2.5); categorical/numeric in options are ignored. The result's
// schema is the given one with has_missing, min and max (and missing_text, if the schema had no
// missing cells) of this file. Throws as read_table, and for a column the file lacks, an unknown
// category (listing the known ones) or text in a numeric column.
inline Table read_table(const std::string& path, const Schema& schema, const TableOptions& options = {}) {
  return detail::read_table_from(path, nullptr, schema, options);
}

inline Table parse_table(std::string_view text, const std::string& name, const Schema& schema,
                         const TableOptions& options = {}) {
  return detail::read_table_from(name, &text, schema, options);
}

}  // namespace ldm
