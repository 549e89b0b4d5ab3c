// A table's schema as a JSON file (nlohmann::json(schema).dump(2)), its checks, and the text
// `ldm train` prints to show what it learned: one line per column.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/json.hpp>
#include <ldm/data/detail/csv_syntax.hpp>
#include <ldm/data/detail/iso_date.hpp>
#include <ldm/data/schema.hpp>
#include <ldm/data/table.hpp>
#include <ldm/io/atomic_file.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ldm {

// Throws std::runtime_error "<where>: <what>" for what no table could have: no columns, an
// empty or duplicate column name, a categorical column without categories or with one twice,
// negative decimals, min above max.
inline void check(const Schema& schema, const std::string& where) {
  const auto fail = [&](const std::string& what) { throw std::runtime_error(where + ": " + what); };
  if (schema.columns.empty()) fail("the schema has no columns");
  std::set<std::string> names;
  for (const Column& c : schema.columns) {
    const std::string column = "column '" + c.name + "'";
    if (c.name.empty()) fail("a column has an empty name");
    if (!names.insert(c.name).second) fail(column + " appears twice");
    if (c.is_categorical()) {
      if (c.categories.empty()) fail(column + " is categorical but has no categories");
      if (std::set<std::string>(c.categories.begin(), c.categories.end()).size() != c.categories.size())
        fail(column + " has a category twice");
    } else if (!(c.min <= c.max)) {
      fail(detail::concat(column, ": min ", c.min, " is above max ", c.max));
    }
    if (c.decimals < 0) fail(detail::concat(column, ": decimals must be >= 0, got ", c.decimals));
  }
}

// Writes the schema as indented JSON, atomically. Throws std::runtime_error naming the path if
// the file cannot be written.
inline void write_schema(const std::string& path, const Schema& schema) {
  std::string text;
  try {
    text = nlohmann::json(schema).dump(2) + "\n";
  } catch (const nlohmann::json::exception& e) {  // text that is not UTF-8
    throw std::runtime_error("write_schema: " + path + ": " + e.what());
  }
  AtomicFile file(path);
  file.write(text);
  file.commit();
}

// Reads a schema written by write_schema. Throws std::runtime_error naming the file for a file
// that cannot be read, is not JSON, has an unknown type name, or fails check().
inline Schema read_schema(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("read_schema: cannot open " + path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Schema schema;
  try {
    schema = nlohmann::json::parse(text).get<Schema>();
  } catch (const std::exception& e) {  // nlohmann's parse and type errors, ours for an enum name
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    throw std::runtime_error("read_schema: " + path + ": " + what);
  }
  check(schema, "read_schema: " + path);
  return schema;
}

namespace detail {

inline std::string number_text(double value, int decimals) {
  char buffer[512];
  const auto r = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, std::min(decimals, 30));
  return std::string(buffer, r.ptr);
}

// A category as the schema lines show it: bare, or in quotes when it could be misread there (a
// comma or parenthesis, an edge blank, a quote, a line break, empty), cut like an error message's.
inline std::string shown_category(const std::string& name) {
  const bool bare =
      !name.empty() && name.find_first_of(",()'\"\r\n") == std::string::npos && trim_blanks(name).size() == name.size();
  return bare ? name : quoted_text(name);
}

inline std::string describe_lines(const Schema& schema, const std::vector<long>& missing) {
  std::size_t width = 0;
  for (const Column& c : schema.columns) width = std::max(width, c.name.size());
  std::ostringstream out;
  for (std::size_t i = 0; i < schema.columns.size(); ++i) {
    const Column& c = schema.columns[i];
    std::string line = "  " + c.name + std::string(width - c.name.size() + 2, ' ');
    const std::string type = enum_name(c.type);
    line += type + std::string(13 - type.size(), ' ');
    if (c.is_categorical()) {
      line += concat(c.categories.size(), c.categories.size() == 1 ? " category (" : " categories (");
      for (std::size_t k = 0; k < c.categories.size() && k < 6; ++k)
        line += (k ? ", " : "") + shown_category(c.categories[k]);
      line += c.categories.size() > 6 ? ", ...)" : ")";
    } else if (c.is_time()) {
      append_time(line, c.min, c);
      line += "..";
      append_time(line, c.max, c);
    } else {
      const int decimals = c.type == ColumnType::integer ? 0 : c.decimals;
      line += number_text(c.min, decimals) + ".." + number_text(c.max, decimals);
      if (c.type == ColumnType::numeric) line += concat(", ", c.decimals, c.decimals == 1 ? " decimal" : " decimals");
    }
    if (c.has_missing) {
      const std::string written = c.missing_text.empty() ? "empty" : "'" + c.missing_text + "'";
      line += missing.empty() ? ", has missing cells (" + written + ")"
                              : concat(", ", missing[i], " missing (", written, ")");
    }
    out << line << '\n';
  }
  return out.str();
}

}  // namespace detail

// One line per column, names aligned:
//   "  species            categorical  3 categories (Adelie, Chinstrap, Gentoo)"
//   "  bill_depth_mm      numeric      13.1..21.5, 1 decimal, has missing cells ('NA')"
//   "  year               integer      2007..2009"
inline std::string describe(const Schema& schema) { return detail::describe_lines(schema, {}); }

// The same with the number of missing cells of each column ("2 missing ('NA')").
inline std::string describe(const Table& table) {
  std::vector<long> missing;
  for (Eigen::Index c = 0; c < table.cols(); ++c)
    missing.push_back(static_cast<long>(table.cells.col(c).array().isNaN().count()));
  return detail::describe_lines(table.schema, missing);
}

}  // namespace ldm
