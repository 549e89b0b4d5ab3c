// Internal: the pieces of text the report page is made of: escaping text from the data for HTML
// and SVG, numbers as the page shows them, and cutting a long name to a label.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

namespace ldm::detail {

// Text as HTML / XML character data or a quoted attribute value: the five special characters as
// entities (&#39; rather than &apos;, which HTML 4 lacks), so the page is also well-formed XML.
inline std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // Control characters other than tab and newline are not allowed in XML 1.0.
        if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t' && ch != '\n')
          out += ' ';
        else
          out += ch;
    }
  }
  return out;
}

// A number as the page shows it: whole numbers in full, others to 4 significant digits.
inline std::string format_number(double v) {
  if (std::isnan(v)) return "NaN";
  char text[32];
  if (v == std::floor(v) && std::abs(v) < 1e15)
    std::snprintf(text, sizeof text, "%.0f", v);
  else
    std::snprintf(text, sizeof text, "%.4g", v);
  return text;
}

// A share in [0, 1] as a percentage with one decimal: "12.5%".
inline std::string format_percent(double share) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%", 100.0 * share);
  return text;
}

// At most max_chars characters of UTF-8 text (never a split character), "…" marking a cut.
inline std::string shorten(std::string_view text, std::size_t max_chars) {
  std::size_t chars = 0, i = 0;
  for (; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;  // a continuation byte
    if (chars == max_chars) return std::string(text.substr(0, i)) + "\u2026";
    ++chars;
  }
  return std::string(text);
}

}  // namespace ldm::detail
