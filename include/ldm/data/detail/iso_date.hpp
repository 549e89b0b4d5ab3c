// Calendar dates and date-times as a CSV writes them, YYYY-MM-DD and YYYY-MM-DD HH:MM:SS (ISO
// 8601's extended calendar date; with a time of day as pandas' to_csv and R's write.csv write
// it, or with ISO's 'T', to the second or to the minute: TimeFormat), and as a date or datetime
// column holds them: days, or seconds, since 1970-01-01 00:00:00 (the proleptic Gregorian
// calendar of std::chrono, no time zone, no leap second). Only these spellings count: they read
// back to the same text, so a column is written as it was read.
#pragma once

#include <ldm/data/schema.hpp>

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

// What a TimeFormat writes after the date: a space or ISO's 'T', and the seconds or not.
inline char time_separator(TimeFormat format) {
  return format == TimeFormat::space_seconds || format == TimeFormat::space_minutes ? ' ' : 'T';
}
inline bool writes_seconds(TimeFormat format) {
  return format == TimeFormat::space_seconds || format == TimeFormat::t_seconds;
}

// The seconds of a date-time written as `format` says ("YYYY-MM-DD HH:MM:SS": 00:00:00 to
// 23:59:59), or nothing for any other text.
inline std::optional<double> iso_datetime_seconds(std::string_view text,
                                                  TimeFormat format = TimeFormat::space_seconds) {
  const bool seconds = writes_seconds(format);
  if (text.size() != (seconds ? 19u : 16u) || text[10] != time_separator(format) || text[13] != ':' ||
      (seconds && text[16] != ':'))
    return std::nullopt;
  const std::optional<double> days = iso_date_days(text.substr(0, 10));
  int parts[3] = {0, 0, 0};
  for (int p = 0; p < (seconds ? 3 : 2); ++p)
    for (int i = 11 + 3 * p; i < 13 + 3 * p; ++i) {
      const char c = text[static_cast<std::size_t>(i)];
      if (c < '0' || c > '9') return std::nullopt;
      parts[p] = 10 * parts[p] + (c - '0');
    }
  if (!days || parts[0] > 23 || parts[1] > 59 || parts[2] > 59) return std::nullopt;
  return 86400 * *days + 3600 * parts[0] + 60 * parts[1] + parts[2];
}

// The format a date-time is written in, or nothing if it is in none.
inline std::optional<TimeFormat> datetime_format_of(std::string_view text) {
  for (const auto& [format, name] : enum_names(TimeFormat{}))
    if (iso_datetime_seconds(text, format)) return format;
  return std::nullopt;
}

// A cell's value in a date (with_time false) or datetime column, or nothing if it is not one.
inline std::optional<double> time_value(std::string_view text, bool with_time,
                                        TimeFormat format = TimeFormat::space_seconds) {
  return with_time ? iso_datetime_seconds(text, format) : iso_date_days(text);
}

// The day number's date as "YYYY-MM-DD"; a fraction of a day is rounded to the nearest day, and
// days outside years 0000-9999 are clamped to them (generated values stay in a column's range).
inline void append_iso_date(std::string& out, double days) {
  constexpr double first = -719528, last = 2932896;  // 0000-01-01 and 9999-12-31
  const double day = std::isnan(days) ? 0 : std::clamp(std::round(days), first, last);
  const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{static_cast<int>(day)}}};
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()));
  out += text;
}

// The seconds' date-time as `format` writes it, rounded to the nearest second (minute, for a
// format without seconds) and clamped to years 0000-9999.
inline void append_iso_datetime(std::string& out, double seconds, TimeFormat format = TimeFormat::space_seconds) {
  constexpr double first = -719528.0 * 86400, last = 2932897.0 * 86400 - 1;
  const bool with_seconds = writes_seconds(format);
  const double unit = with_seconds ? 1 : 60;
  const double second =
      std::isnan(seconds) ? 0 : unit * std::round(std::clamp(seconds, first, last - (unit - 1)) / unit);
  const double day = std::floor(second / 86400);
  append_iso_date(out, day);
  const auto in_day = static_cast<int>(second - 86400 * day);
  const char separator = time_separator(format);
  char text[32];
  if (with_seconds)
    std::snprintf(text, sizeof text, "%c%02d:%02d:%02d", separator, in_day / 3600, in_day / 60 % 60, in_day % 60);
  else
    std::snprintf(text, sizeof text, "%c%02d:%02d", separator, in_day / 3600, in_day / 60 % 60);
  out += text;
}

inline void append_time(std::string& out, double value, bool with_time, TimeFormat format = TimeFormat::space_seconds) {
  with_time ? append_iso_datetime(out, value, format) : append_iso_date(out, value);
}

// A value of a date or datetime column as the column writes it.
inline void append_time(std::string& out, double value, const Column& column) {
  append_time(out, value, column.type == ColumnType::datetime, column.time_format);
}

}  // namespace ldm::detail
