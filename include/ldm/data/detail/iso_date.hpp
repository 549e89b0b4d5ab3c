// Calendar dates as a CSV writes them, YYYY-MM-DD (ISO 8601's calendar date, extended form),
// and as a date column holds them: the day number, days since 1970-01-01 (the proleptic
// Gregorian calendar of std::chrono). Only that one spelling is a date: it is the one that
// reads back to the same text, so a column of dates is written exactly as it was read.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace ldm::detail {

// The day number of "YYYY-MM-DD" (years 0000-9999, a day that exists: "2021-02-29" is not
// one), or nothing for any other text.
inline std::optional<double> iso_date_days(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int parts[3] = {0, 0, 0};
  const int begin[3] = {0, 5, 8}, end[3] = {4, 7, 10};
  for (int p = 0; p < 3; ++p)
    for (int i = begin[p]; i < end[p]; ++i) {
      if (text[static_cast<std::size_t>(i)] < '0' || text[static_cast<std::size_t>(i)] > '9') return std::nullopt;
      parts[p] = 10 * parts[p] + (text[static_cast<std::size_t>(i)] - '0');
    }
  const std::chrono::year_month_day date{std::chrono::year{parts[0]},
                                         std::chrono::month{static_cast<unsigned>(parts[1])},
                                         std::chrono::day{static_cast<unsigned>(parts[2])}};
  if (!date.ok()) return std::nullopt;
  return static_cast<double>(std::chrono::sys_days{date}.time_since_epoch().count());
}

// The day number's date as "YYYY-MM-DD"; a fraction of a day is rounded to the nearest day, and
// days outside years 0000-9999 are clamped to them (generated values stay in a column's range).
inline void append_iso_date(std::string& out, double days) {
  constexpr double first = -719528, last = 2932896;  // 0000-01-01 and 9999-12-31
  const double day = std::isnan(days) ? 0 : std::clamp(std::round(days), first, last);
  const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{static_cast<int>(day)}}};
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()));
  out += text;
}

}  // namespace ldm::detail
