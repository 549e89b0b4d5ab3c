// Schema columns for tests, by position (designated initializers that leave members out trip
// -Wmissing-field-initializers).
#pragma once

#include <ldm/data/schema.hpp>

#include <string>
#include <utility>
#include <vector>

namespace ldm_test {

inline ldm::Column numeric_column(std::string name, double min, double max, int decimals, bool has_missing = false,
                                  ldm::ColumnType type = ldm::ColumnType::numeric) {
  ldm::Column c;
  c.name = std::move(name);
  c.type = type;
  c.has_missing = has_missing;
  c.min = min;
  c.max = max;
  c.decimals = decimals;
  return c;
}

inline ldm::Column categorical_column(std::string name, std::vector<std::string> categories, bool has_missing = false,
                                      std::string missing_text = "") {
  ldm::Column c;
  c.name = std::move(name);
  c.type = ldm::ColumnType::categorical;
  c.categories = std::move(categories);
  c.has_missing = has_missing;
  c.missing_text = std::move(missing_text);
  return c;
}

}  // namespace ldm_test
