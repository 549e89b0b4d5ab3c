// Internal: the report's plots as inline SVG text: grouped histogram bars (real against
// synthetic), horizontal category bars, and a heatmap. Plain shapes with a <title> tooltip each,
// fixed sizes in pixels, no script and no font file: the page draws the same from disk anywhere.
#pragma once

#include <ldm/core/matrix.hpp>
#include <ldm/eval/detail/html.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ldm::detail {

inline constexpr const char* real_colour = "#4c78a8";   // blue
inline constexpr const char* synth_colour = "#f58518";  // orange

// A coordinate with one decimal: enough for a screen, and a small file.
inline std::string px(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", v);
  return text;
}

inline std::string svg_rect(double x, double y, double w, double h, const std::string& fill,
                            const std::string& tooltip = "") {
  std::string s = "<rect x=\"" + px(x) + "\" y=\"" + px(y) + "\" width=\"" + px(w) + "\" height=\"" + px(h) +
                  "\" fill=\"" + fill + "\"";
  if (tooltip.empty()) return s + "/>";
  return s + "><title>" + html_escape(tooltip) + "</title></rect>";
}

inline std::string svg_text(double x, double y, const std::string& text, const char* anchor = "start",
                            const std::string& extra = "") {
  return "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\" text-anchor=\"" + anchor + "\"" + extra + ">" +
         html_escape(text) + "</text>";
}

inline std::string svg_open(double width, double height, const std::string& label) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + px(width) + "\" height=\"" + px(height) +
         "\" viewBox=\"0 0 " + px(width) + " " + px(height) + "\" role=\"img\" aria-label=\"" + html_escape(label) +
         "\">";
}

// Vertical bars, real and synthetic side by side in each bin; shares of all rows. `missing`
// (real, synthetic shares) adds a separate group at the right. Axis labels under the ends.
inline std::string svg_histogram(const std::vector<std::string>& bins, const std::vector<double>& real,
                                 const std::vector<double>& synth, const std::string& low_label,
                                 const std::string& high_label, std::optional<std::pair<double, double>> missing) {
  const double width = 300, height = 150, top = 8, bottom = 22, left = 4, gap_missing = 14;
  const double plot_h = height - top - bottom;
  double peak = 1e-12;
  for (std::size_t i = 0; i < bins.size(); ++i) peak = std::max({peak, real[i], synth[i]});
  if (missing) peak = std::max({peak, missing->first, missing->second});
  const double groups = static_cast<double>(bins.size()) + (missing ? 1.0 : 0.0);
  const double slot = (width - 2 * left - (missing ? gap_missing : 0.0)) / groups;
  const double bar = std::max(slot * 0.45, 0.5);
  std::string s = svg_open(width, height, "histogram, real and synthetic");
  s += "<line x1=\"0\" y1=\"" + px(top + plot_h) + "\" x2=\"" + px(width) + "\" y2=\"" + px(top + plot_h) +
       "\" stroke=\"#999\"/>";
  const auto group = [&](double x, double a, double b, const std::string& label) {
    const double ha = plot_h * a / peak, hb = plot_h * b / peak;
    s += svg_rect(x, top + plot_h - ha, bar, ha, real_colour, label + ": real " + format_percent(a));
    s += svg_rect(x + bar, top + plot_h - hb, bar, hb, synth_colour, label + ": synthetic " + format_percent(b));
  };
  for (std::size_t i = 0; i < bins.size(); ++i)
    group(left + slot * static_cast<double>(i) + (slot - 2 * bar) / 2, real[i], synth[i], bins[i]);
  const double end = left + slot * static_cast<double>(bins.size());
  s += svg_text(left, height - 6, low_label, "start", " class=\"ax\"");
  if (missing) {
    const double x = end + gap_missing;
    group(x + (slot - 2 * bar) / 2, missing->first, missing->second, "missing");
    s += svg_text(end, height - 6, high_label, "end", " class=\"ax\"");
    s += svg_text(x + slot / 2, height - 6, "NA", "middle", " class=\"ax\"");
  } else {
    s += svg_text(end, height - 6, high_label, "end", " class=\"ax\"");
  }
  return s + "</svg>";
}

// Horizontal bars, one row per category (real above synthetic), its text at the left.
inline std::string svg_bars(const std::vector<std::string>& labels, const std::vector<double>& real,
                            const std::vector<double>& synth) {
  const double width = 300, row = 16, label_w = 96, right = 40;
  const double height = row * static_cast<double>(labels.size()) + 4;
  double peak = 1e-12;
  for (std::size_t i = 0; i < labels.size(); ++i) peak = std::max({peak, real[i], synth[i]});
  const double plot_w = width - label_w - right;
  std::string s = svg_open(width, height, "category shares, real and synthetic");
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const double y = 2 + row * static_cast<double>(i);
    s += "<g><title>" + html_escape(labels[i]) + ": real " + format_percent(real[i]) + ", synthetic " +
         format_percent(synth[i]) + "</title>";
    s += svg_text(label_w - 4, y + 11, shorten(labels[i], 14), "end", " class=\"ax\"");
    s += svg_rect(label_w, y + 1, plot_w * real[i] / peak, 6.5, real_colour);
    s += svg_rect(label_w, y + 7.5, plot_w * synth[i] / peak, 6.5, synth_colour);
    s += svg_text(label_w + plot_w * std::max(real[i], synth[i]) / peak + 3, y + 11, format_percent(synth[i]), "start",
                  " class=\"ax\"");
    s += "</g>";
  }
  return s + "</svg>";
}

// A colour for v: diverging blue - white - red when lo < 0 (correlations in [-1, 1]),
// white to dark red otherwise (differences in [0, hi]).
inline std::string heat_colour(double v, double lo, double hi) {
  const auto mix = [](double t, int r, int g, int b) {  // white at t = 0, (r, g, b) at t = 1
    t = std::clamp(t, 0.0, 1.0);
    char text[8];
    std::snprintf(text, sizeof text, "#%02x%02x%02x", static_cast<int>(std::lround(255 + t * (r - 255))),
                  static_cast<int>(std::lround(255 + t * (g - 255))),
                  static_cast<int>(std::lround(255 + t * (b - 255))));
    return std::string(text);
  };
  if (std::isnan(v)) return "#dddddd";
  if (lo < 0) return v < 0 ? mix(v / lo, 33, 102, 172) : mix(v / hi, 178, 24, 43);
  return mix((v - lo) / (hi - lo), 160, 20, 20);
}

// A square heatmap of m (k x k) with the names along the left and the top; `label(i, j)` is the
// cell's tooltip.
template <class Label>
std::string svg_heatmap(const Matrix<double>& m, const std::vector<std::string>& names, double lo, double hi,
                        const std::string& caption, Label label) {
  const auto k = static_cast<double>(names.size());
  const double cell = std::clamp(260.0 / std::max(k, 1.0), 7.0, 32.0), margin = 92;
  const double size = margin + cell * k + 4;
  std::string s = svg_open(size, size, caption);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const double at = margin + cell * static_cast<double>(i) + cell / 2 + 3;
    const std::string name = shorten(names[i], 14);
    s += svg_text(margin - 4, at, name, "end", " class=\"ax\"");
    s += svg_text(at - 6, margin - 4, name, "start",
                  " class=\"ax\" transform=\"rotate(-60 " + px(at - 6) + " " + px(margin - 4) + ")\"");
  }
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j)
      s += svg_rect(margin + cell * static_cast<double>(j), margin + cell * static_cast<double>(i), cell, cell,
                    heat_colour(m(i, j), lo, hi), label(i, j));
  return s + "</svg>";
}

}  // namespace ldm::detail
