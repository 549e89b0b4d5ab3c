// What fit learns about the table besides the models: each column's name, range and whether it
// holds integers, and the classes of a conditional model's labels.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/visit.hpp>
#include <ldm/data/detail/table_cells.hpp>

#include <algorithm>
#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace ldm {

// The classes of a list of labels, sorted as a categorical column's categories: by value when
// every label is an integer (so "10" comes after "9"), else by text. Throws std::invalid_argument for an empty list or
// label.
inline std::vector<std::string> class_names_of(const std::vector<std::string>& labels) {
  if (labels.empty()) throw std::invalid_argument("class_names_of: no labels");
  std::vector<std::string> names;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i].empty()) throw std::invalid_argument(detail::concat("class_names_of: label ", i, " is empty"));
    names.push_back(labels[i]);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  // The order of a categorical column's categories (data/detail/table_cells.hpp): one rule.
  return detail::sorted_categories(std::deque<std::string>(names.begin(), names.end())).first;
}

// What fit learns about each column, used to map samples back onto the data's grid.
template <class S>
struct ColumnInfo : Visitable<ColumnInfo<S>> {
  std::vector<std::string> names;
  Vector<S> min, max;  // observed range
  Vector<S> integer;   // 1 where every training value is an integer, else 0

  template <class F, class... Cs>
  static void visit_each(F&& f, Cs&... c) {
    f("min", c.min...);
    f("max", c.max...);
    f("integer", c.integer...);
  }
};

}  // namespace ldm
