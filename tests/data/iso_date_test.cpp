#include <catch2/catch.hpp>

#include <ldm/data/detail/iso_date.hpp>

#include <string>

namespace {

std::string date_of(double days) {
  std::string text;
  ldm::detail::append_iso_date(text, days);
  return text;
}

}  // namespace

// Day numbers are Unix time / 86400, as GNU date gives it: `date -u -d 2000-03-01 +%s` is
// 951868800 (day 11017); 9999-12-31 is 253402214400 (2932896), 0000-01-01 -62167219200 (-719528).
TEST_CASE("iso_date_days reads YYYY-MM-DD as days since 1970-01-01, and nothing else") {
  using ldm::detail::iso_date_days;
  CHECK(iso_date_days("1970-01-01") == 0.0);
  CHECK(iso_date_days("1969-12-31") == -1.0);
  CHECK(iso_date_days("2000-03-01") == 11017.0);
  CHECK(iso_date_days("2020-02-29") == 18321.0);  // a leap day
  CHECK(iso_date_days("0000-01-01") == -719528.0);
  CHECK(iso_date_days("9999-12-31") == 2932896.0);
  for (const char* not_a_date :
       {"2021-02-29", "1900-02-29", "2020-13-01", "2020-00-10", "2020-04-31", "2020-1-01", "2020/01/01", "20200101",
        "2020-01-01 ", " 2020-01-01", "2020-01-01T00:00:00", "+020-01-01", "2020-01-0a", ""})
    CHECK_FALSE(iso_date_days(not_a_date).has_value());
}

TEST_CASE("append_iso_date writes the day number back as the date it was read from") {
  for (const char* text :
       {"1970-01-01", "1969-12-31", "2000-02-29", "2024-12-31", "0000-01-01", "9999-12-31", "1582-10-04"})
    CHECK(date_of(*ldm::detail::iso_date_days(text)) == text);
  CHECK(date_of(11016.6) == "2000-03-01");  // generated values: the nearest day
  CHECK(date_of(1e12) == "9999-12-31");     // clamped to four-digit years
  CHECK(date_of(-1e12) == "0000-01-01");
}

// `date -u -d "2000-03-01 12:34:56" +%s` is 951914096.
TEST_CASE("iso_datetime_seconds reads YYYY-MM-DD HH:MM:SS as seconds since 1970-01-01 00:00:00") {
  using ldm::detail::iso_datetime_seconds;
  CHECK(iso_datetime_seconds("1970-01-01 00:00:00") == 0.0);
  CHECK(iso_datetime_seconds("1969-12-31 23:59:59") == -1.0);
  CHECK(iso_datetime_seconds("2000-03-01 12:34:56") == 951914096.0);
  for (const char* not_one :
       {"2020-01-01 24:00:00", "2020-01-01 23:60:00", "2020-01-01 23:59:60", "2021-02-29 00:00:00",
        "2020-01-01T00:00:00", "2020-01-01 0:00:00", "2020-01-01 00:00", "2020-01-01 00:00:00Z", "2020-01-01"})
    CHECK_FALSE(iso_datetime_seconds(not_one).has_value());
  CHECK(ldm::detail::time_value("2020-01-01", false) == 18262.0);
  CHECK_FALSE(ldm::detail::time_value("2020-01-01", true).has_value());
}

TEST_CASE("append_iso_datetime writes the seconds back as the date-time they were read from") {
  for (const char* text : {"1970-01-01 00:00:00", "1969-12-31 23:59:59", "2000-02-29 13:05:09", "0000-01-01 00:00:00",
                           "9999-12-31 23:59:59"}) {
    std::string back;
    ldm::detail::append_time(back, *ldm::detail::iso_datetime_seconds(text), true);
    CHECK(back == text);
  }
  std::string rounded;
  ldm::detail::append_iso_datetime(rounded, 59.6);  // the nearest second
  CHECK(rounded == "1970-01-01 00:01:00");
}

// The same instants in the other spellings: ISO 8601's 'T', and to the minute.
TEST_CASE("iso_datetime_seconds reads each TimeFormat, and only the one it is given") {
  using ldm::TimeFormat;
  using ldm::detail::iso_datetime_seconds;
  CHECK(iso_datetime_seconds("2000-03-01T12:34:56", TimeFormat::t_seconds) == 951914096.0);
  CHECK(iso_datetime_seconds("2000-03-01 12:34", TimeFormat::space_minutes) == 951914040.0);
  CHECK(iso_datetime_seconds("2000-03-01T12:34", TimeFormat::t_minutes) == 951914040.0);
  CHECK(iso_datetime_seconds("1969-12-31T23:59", TimeFormat::t_minutes) == -60.0);
  CHECK_FALSE(iso_datetime_seconds("2000-03-01 12:34:56", TimeFormat::t_seconds).has_value());
  CHECK_FALSE(iso_datetime_seconds("2000-03-01T12:34", TimeFormat::space_minutes).has_value());
  CHECK_FALSE(iso_datetime_seconds("2000-03-01T12:34:56", TimeFormat::t_minutes).has_value());
  CHECK_FALSE(iso_datetime_seconds("2000-03-01T24:00", TimeFormat::t_minutes).has_value());
  CHECK_FALSE(iso_datetime_seconds("2000-03-01t12:34", TimeFormat::t_minutes).has_value());

  using ldm::detail::datetime_format_of;
  CHECK(datetime_format_of("2000-03-01 12:34:56") == TimeFormat::space_seconds);
  CHECK(datetime_format_of("2000-03-01T12:34:56") == TimeFormat::t_seconds);
  CHECK(datetime_format_of("2000-03-01 12:34") == TimeFormat::space_minutes);
  CHECK(datetime_format_of("2000-03-01T12:34") == TimeFormat::t_minutes);
  for (const char* not_one :
       {"2000-03-01", "2000-03-01T12", "2000-03-01T12:34:56Z", "2000-03-01T12:34:56.5", "2000-03-01 12:34:5", "12:34"})
    CHECK_FALSE(datetime_format_of(not_one).has_value());
}

TEST_CASE("append_iso_datetime writes each TimeFormat back as it was read") {
  using ldm::TimeFormat;
  for (const auto& [format, name] : ldm::enum_names(TimeFormat{}))
    for (const char* time :
         {"1970-01-01T00:00:00", "1969-12-31T23:59:00", "2000-02-29T13:05:00", "9999-12-31T23:59:00"}) {
      std::string text = time;
      if (format == TimeFormat::space_seconds || format == TimeFormat::space_minutes) text[10] = ' ';
      if (format == TimeFormat::space_minutes || format == TimeFormat::t_minutes) text.resize(16);
      std::string back;
      ldm::detail::append_iso_datetime(back, *ldm::detail::iso_datetime_seconds(text, format), format);
      CHECK(back == text);
    }
  std::string minute;
  ldm::detail::append_iso_datetime(minute, 89.0, TimeFormat::t_minutes);  // the nearest minute
  CHECK(minute == "1970-01-01T00:01");
  std::string last;
  ldm::detail::append_iso_datetime(last, 1e15, TimeFormat::space_minutes);  // clamped to the last minute
  CHECK(last == "9999-12-31 23:59");
  ldm::Column column{.name = "t", .type = ldm::ColumnType::datetime, .time_format = TimeFormat::t_minutes};
  std::string of_column;
  ldm::detail::append_time(of_column, 951914040.0, column);
  CHECK(of_column == "2000-03-01T12:34");
}
