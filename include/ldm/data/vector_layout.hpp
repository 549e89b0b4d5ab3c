// Where each column of a table sits in the VAE's vector, the same for its input and its output
// (the decoder has one head per column: DESIGN.md, "Tables: column types and the mixed VAE";
// TabSyn, Zhang et al. ICLR 2024). The vector is, in this order:
//   [one value per numeric or integer column, in column order]
//   [one missing indicator per numeric column with missing cells]
//   [K one-hot entries (K + 1 when it has missing cells: missing is the last) per categorical column]
// A schema of numeric columns with no missing cells gives the seed's vector: one value per column.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/data/schema.hpp>

#include <Eigen/Core>

#include <stdexcept>
#include <vector>

namespace ldm {

// The entries of one schema column; -1 where the column has no such entry.
struct ColumnSlots {
  Eigen::Index value = -1;      // numeric, integer: its value
  Eigen::Index indicator = -1;  // numeric, integer with missing cells: 1 = missing, 0 = present
  Eigen::Index offset = -1;     // categorical: its first one-hot entry (logit in the output)
  Eigen::Index size = 0;        // categorical: K, or K + 1 with missing cells
};

struct CategoricalBlock {
  Eigen::Index offset = 0, size = 0;
};

struct VectorLayout {
  Eigen::Index width = 0;
  Eigen::Index numeric = 0;                // values at [0, numeric)
  Eigen::Index indicators = 0;             // indicators at [numeric, numeric + indicators)
  std::vector<Eigen::Index> indicator_of;  // [numeric]: value j's indicator, or -1 (never missing)
  std::vector<CategoricalBlock> categorical;
  std::vector<ColumnSlots> columns;  // [schema columns]

  // Only values, none missing: the seed's vector, whose loss is the plain MSE.
  bool plain() const { return indicators == 0 && categorical.empty(); }
};

// The layout of a schema. Throws std::invalid_argument for a categorical column with no
// category and no missing cell (it would have no entry), naming the column.
inline VectorLayout layout_for(const Schema& schema) {
  VectorLayout layout;
  layout.columns.resize(schema.size());
  for (std::size_t c = 0; c < schema.size(); ++c)
    if (!schema.columns[c].is_categorical()) layout.columns[c].value = layout.numeric++;
  Eigen::Index next = layout.numeric;
  layout.indicator_of.assign(static_cast<std::size_t>(layout.numeric), -1);
  for (std::size_t c = 0; c < schema.size(); ++c) {
    ColumnSlots& slots = layout.columns[c];
    if (slots.value < 0 || !schema.columns[c].has_missing) continue;
    slots.indicator = next++;
    layout.indicator_of[static_cast<std::size_t>(slots.value)] = slots.indicator;
    ++layout.indicators;
  }
  for (std::size_t c = 0; c < schema.size(); ++c) {
    const Column& column = schema.columns[c];
    if (!column.is_categorical()) continue;
    ColumnSlots& slots = layout.columns[c];
    slots.offset = next;
    slots.size = static_cast<Eigen::Index>(column.categories.size()) + (column.has_missing ? 1 : 0);
    if (slots.size == 0)
      throw std::invalid_argument(
          detail::concat("layout_for: categorical column '", column.name, "' has no category and no missing cell"));
    layout.categorical.push_back({slots.offset, slots.size});
    next += slots.size;
  }
  layout.width = next;
  return layout;
}

namespace detail {

// A layout built by hand (the loss takes any) must tile [0, width) as layout_for's do.
inline void require_valid_layout(const char* where, const VectorLayout& layout) {
  const auto fail = [&](const auto&... what) { return std::invalid_argument(concat(where, ": layout: ", what...)); };
  if (layout.numeric < 0 || layout.indicators < 0) throw fail("negative counts");
  if (static_cast<Eigen::Index>(layout.indicator_of.size()) != layout.numeric)
    throw fail("indicator_of has ", layout.indicator_of.size(), " entries for ", layout.numeric, " values");
  for (Eigen::Index i : layout.indicator_of)
    if (i != -1 && (i < layout.numeric || i >= layout.numeric + layout.indicators))
      throw fail("indicator ", i, " is outside [", layout.numeric, ", ", layout.numeric + layout.indicators, ")");
  Eigen::Index next = layout.numeric + layout.indicators;
  for (const CategoricalBlock& block : layout.categorical) {
    if (block.offset != next || block.size < 1)
      throw fail("categorical block at ", block.offset, " of size ", block.size, " (expected offset ", next, ")");
    next += block.size;
  }
  if (next != layout.width) throw fail("the entries end at ", next, " but width is ", layout.width);
}

}  // namespace detail
}  // namespace ldm
