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

// Day numbers from the Unix epoch: 2000-03-01 is day 11017 and 9999-12-31 day 2932896
// (Hinnant, "chrono-Compatible Low-Level Date Algorithms", days_from_civil's examples and range).
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
