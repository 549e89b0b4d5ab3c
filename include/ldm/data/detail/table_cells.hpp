// What table_reader.hpp learns from each cell: whether it is missing (na_values), whether it is
// a number and how it was written, and the code of a category. Kept apart from the reader so
// each piece can be read (and tested) on its own.
#pragma once

#include <ldm/core/errors.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ldm::detail {

inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// The texts that mean "missing", compared without regard to ASCII case. A mask of their
// lengths turns most cells away with one test (a number rarely has the length of "null").
class NaMatcher {
 public:
  explicit NaMatcher(const std::vector<std::string>& values) {
    for (const std::string& v : values) {
      std::string lower(v.size(), '\0');
      std::transform(v.begin(), v.end(), lower.begin(), ascii_lower);
      if (v.size() < 64)
        lengths_ |= std::uint64_t{1} << v.size();
      else
        long_ = true;
      values_.push_back(std::move(lower));
    }
  }
  bool operator()(std::string_view s) const {
    if (s.size() < 64 ? !(lengths_ >> s.size() & 1) : !long_) return false;
    for (const std::string& v : values_)
      if (v.size() == s.size() &&
          std::equal(s.begin(), s.end(), v.begin(), [](char a, char b) { return ascii_lower(a) == b; }))
        return true;
    return false;
  }

 private:
  std::vector<std::string> values_;
  std::uint64_t lengths_ = 0;
  bool long_ = false;
};

// A number as a cell wrote it. `form` says how to write the same text again from the value:
// 0..254 digits after the point in fixed notation, or kTextForm when only the text itself will
// do ("+1", "007", "1e5", ".5", or more than 15 significant digits, which a double may not keep).
inline constexpr std::uint8_t kTextForm = 255;

struct NumberText {
  double value = 0;
  int decimals = 0;  // digits after the point, counting the exponent's shift ("1.5e-3": 4)
  std::uint8_t form = kTextForm;
};

// True when s is a whole finite number as std::from_chars reads it (an optional leading '+';
// "inf", "nan", hex and out-of-range values are not numbers).
inline bool scan_number(std::string_view s, NumberText& out) {
  const char* p = s.data();
  const char* const e = p + s.size();
  bool plain = true;
  if (p < e && *p == '+') {
    plain = false;
    ++p;
    if (p < e && (*p == '+' || *p == '-')) return false;
  }
  const auto [end, ec] = std::from_chars(p, e, out.value);
  if (ec != std::errc() || end != e || !std::isfinite(out.value)) return false;
  if (*p == '-') ++p;
  const char* const int_begin = p;
  while (p < e && *p >= '0' && *p <= '9') ++p;
  const auto int_digits = p - int_begin;
  std::ptrdiff_t frac = 0;
  bool point = false;
  if (p < e && *p == '.') {
    point = true;
    const char* const frac_begin = ++p;
    while (p < e && *p >= '0' && *p <= '9') ++p;
    frac = p - frac_begin;
  }
  long exponent = 0;
  if (p < e) {  // 'e' or 'E': from_chars accepted the rest
    plain = false;
    ++p;
    if (p < e && *p == '+') ++p;
    const auto [exp_end, exp_ec] = std::from_chars(p, e, exponent);
    if (exp_ec != std::errc()) exponent = exponent < 0 ? -100000 : 100000;  // too long: the value says which
  }
  const long decimals = static_cast<long>(frac) - exponent;
  out.decimals = static_cast<int>(std::clamp(decimals, 0L, 1000L));
  // Significant digits: the digits less the leading zeros.
  std::ptrdiff_t leading = 0;
  for (const char* q = int_begin; q < e && (*q == '0' || *q == '.'); ++q) leading += *q == '0';
  const bool leading_zero = int_digits > 1 && *int_begin == '0';
  if (out.value == 0 && *s.data() == '-') plain = false;  // "-0": the reader keeps +0, the text is kept as is
  plain = plain && int_digits > 0 && !(point && frac == 0) && !leading_zero && frac < kTextForm &&
          int_digits + frac - leading <= 15;
  out.form = plain ? static_cast<std::uint8_t>(frac) : kTextForm;
  return true;
}

// The text of value in fixed notation with `decimals` digits after the point (to_chars rounds
// correctly), without allocating: a view into buffer.
inline std::string_view fixed_text(double value, int decimals, char (&buffer)[512]) {
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, decimals);
  return std::string_view(buffer, static_cast<std::size_t>(result.ptr - buffer));
}

// The distinct texts of a categorical column, numbered in the order met. The keys view the
// texts, kept in a deque that never moves them; the deque is held by pointer so that moving the
// object (a vector of columns growing) moves nothing, and copying, which would leave the keys
// viewing the old texts, is not possible.
class CategoryCodes {
 public:
  // The code of text, or -1 when it is new and `add` is false or there are already `limit`.
  long code(std::string_view text, bool add, std::size_t limit) {
    if (const auto it = codes_.find(text); it != codes_.end()) return it->second;
    if (!add || size() >= limit) return -1;
    if (!texts_) texts_ = std::make_unique<std::deque<std::string>>();  // not before: a table may have 10^5 columns
    const std::string& kept = texts_->emplace_back(text);
    codes_.emplace(kept, static_cast<long>(texts_->size() - 1));
    return static_cast<long>(texts_->size() - 1);
  }
  std::size_t size() const { return texts_ ? texts_->size() : 0; }
  const std::deque<std::string>& texts() const {
    static const std::deque<std::string> none;
    return texts_ ? *texts_ : none;
  }

 private:
  std::unique_ptr<std::deque<std::string>> texts_;
  std::unordered_map<std::string_view, long> codes_;
};

// The order of categories (Column::categories): by value when every text is an integer ("9"
// before "10"; ties such as "7" and "07" by text), else by text. The same rule as
// class_names_of in pipeline/columns.hpp, which data/ may not include. Returns the sorted texts
// and, for each text's index in `texts`, its index in the sorted list.
inline std::pair<std::vector<std::string>, std::vector<std::size_t>> sorted_categories(
    const std::deque<std::string>& texts) {
  std::vector<std::pair<long long, std::size_t>> keys(texts.size());
  bool integers = true;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::string& t = texts[i];
    long long v = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    integers = integers && ec == std::errc() && end == t.data() + t.size() && !t.empty();
    keys[i] = {v, i};
  }
  std::sort(keys.begin(), keys.end(), [&](const auto& a, const auto& b) {
    if (integers && a.first != b.first) return a.first < b.first;
    return texts[a.second] < texts[b.second];
  });
  std::vector<std::string> sorted;
  std::vector<std::size_t> rank(texts.size());
  for (std::size_t k = 0; k < keys.size(); ++k) {
    sorted.push_back(texts[keys[k].second]);
    rank[keys[k].second] = k;
  }
  return {std::move(sorted), std::move(rank)};
}

// Whether s is valid UTF-8 (RFC 3629: no overlong forms, surrogates or code points above
// U+10FFFF). Names and categories go into JSON (the schema, checkpoints), which must be UTF-8.
inline bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
    if (c < 0x80)
      n = 0;
    else if (c >= 0xC2 && c <= 0xDF)
      n = 1;
    else if (c >= 0xE0 && c <= 0xEF)
      n = 2, low = c == 0xE0 ? 0xA0 : 0x80, high = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
      n = 3, low = c == 0xF0 ? 0x90 : 0x80, high = c == 0xF4 ? 0x8F : 0xBF;
    else
      return false;
    if (s.size() - i - 1 < n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xBF)) return false;
    }
    i += n + 1;
  }
  return true;
}

// "a, b, c" of at most `shown` texts, then "... (n in all)": for messages.
template <class Texts>
std::string text_list(const Texts& texts, std::size_t shown = 20) {
  std::string list;
  std::size_t i = 0;
  for (const auto& t : texts) {
    if (i == shown) return list + concat(", ... (", texts.size(), " in all)");
    list += (i++ ? ", " : "") + std::string(t);
  }
  return list;
}

}  // namespace ldm::detail
