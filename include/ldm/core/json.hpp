// Options as JSON (nlohmann::json): the one mapping that checkpoints, resume checks and tools
// share. Each options struct declares its fields once, beside its definition, with
// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT (a missing key keeps the default, so files
// written before a field existed still load). Enums are written as their names; the table of
// names is declared once per enum with enum_names(E) and read strictly: an unknown name is an
// error that lists the known ones, never a silent default.
#pragma once

#include <ldm/core/errors.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <concepts>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace ldm {

// The name of each value of an enum E, declared next to E as
//   constexpr auto enum_names(E) { return std::array{std::pair{E::a, "a"}, ...}; }
// (found by argument-dependent lookup; the argument only selects the overload).
template <class E>
concept NamedEnum = std::is_enum_v<E> && requires(E e) {
  enum_names(e);
};

template <NamedEnum E>
const char* enum_name(E value) {
  for (const auto& [v, name] : enum_names(E{}))
    if (v == value) return name;
  throw std::invalid_argument(detail::concat("enum_name: value ", static_cast<long long>(value), " has no name"));
}

// The names of E's values as "a, b or c", for messages.
template <NamedEnum E>
std::string enum_name_list() {
  const auto names = enum_names(E{});
  std::string list;
  for (std::size_t i = 0; i < names.size(); ++i)
    list += std::string(i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i].second;
  return list;
}

// The value named `name`; throws std::invalid_argument "<what> must be a, b or c, got 'x'".
template <NamedEnum E>
E enum_from_name(std::string_view name, std::string_view what) {
  for (const auto& [value, n] : enum_names(E{}))
    if (n == name) return value;
  throw std::invalid_argument(detail::concat(what, " must be ", enum_name_list<E>(), ", got '", name, "'"));
}

template <NamedEnum E>
void to_json(nlohmann::json& j, E value) {
  j = enum_name(value);
}

// Throws std::invalid_argument "must be a, b or c, got ..." (the caller knows which option).
template <NamedEnum E>
void from_json(const nlohmann::json& j, E& value) {
  if (j.is_string())
    for (const auto& [v, name] : enum_names(E{}))
      if (j.get_ref<const std::string&>() == name) {
        value = v;
        return;
      }
  if (j.is_string())  // (concat, not "'" + text + "'", which trips GCC 12's -Wrestrict)
    throw std::invalid_argument(
        detail::concat("must be ", enum_name_list<E>(), ", got '", j.get_ref<const std::string&>(), "'"));
  throw std::invalid_argument(detail::concat("must be ", enum_name_list<E>(), ", got ", j.dump()));
}

namespace detail {

// The first place where a JSON value changed, as "denoiser.ema_decay was 0.999, now 0.99" (""
// when nothing did): what a resume check tells the user instead of two long texts.
inline std::string what_changed(const nlohmann::json& before, const nlohmann::json& now, const std::string& path = "") {
  const auto at = [&](const std::string& key) { return path.empty() ? key : path + "." + key; };
  if (before.is_object() && now.is_object()) {
    for (const auto& [key, value] : now.items()) {
      if (!before.contains(key)) return at(key) + " was not set, now " + value.dump();
      if (std::string change = what_changed(before.at(key), value, at(key)); !change.empty()) return change;
    }
    for (const auto& [key, value] : before.items())
      if (!now.contains(key)) return at(key) + " was " + value.dump() + ", now not set";
    return "";
  }
  if (before == now) return "";
  return (path.empty() ? std::string("the value") : path) + " was " + before.dump() + ", now " + now.dump();
}

// Walks the leaves of `patch` (nested objects) for options_from_json: each key must be one of
// `reference`'s, and each value must read as T when put alone over `reference`, so that an
// error names its key. `pointer` is the JSON pointer of `patch` in the whole.
template <class T>
void check_patch(const nlohmann::json& whole, const nlohmann::json& reference, const nlohmann::json& patch,
                 const std::string& pointer) {
  for (const auto& [key, value] : patch.items()) {
    const std::string at = pointer + "/" + key;
    std::string name = at.substr(1);
    std::replace(name.begin(), name.end(), '/', '.');  // "denoiser.ema_decay", as what_changed
    if (!reference.contains(key)) {
      std::string known;
      for (const auto& item : reference.items()) known += (known.empty() ? "" : ", ") + item.key();
      throw std::invalid_argument(concat("unknown key '", name, "' (known here: ", known, ")"));
    }
    const nlohmann::json& expected = reference.at(key);
    if (expected.is_object() && value.is_object()) {
      check_patch<T>(whole, expected, value, at);
      continue;
    }
    const bool same_kind = expected.is_number() ? value.is_number() : expected.type() == value.type();
    if (!same_kind)
      throw std::invalid_argument(concat(name, " must be like ", expected.dump(), ", got ", value.dump()));
    nlohmann::json one = whole;
    one[nlohmann::json::json_pointer(at)] = value;
    try {
      (void)one.get<T>();
    } catch (const std::exception& e) {
      throw std::invalid_argument(concat(name, ": ", e.what()));
    }
  }
}

}  // namespace detail

// Options read from JSON over `base`: the keys `patch` has replace base's (nested objects key by
// key, RFC 7386 merge patch), the rest keep base's values. Unlike the lenient mapping that
// checkpoints use (a missing key keeps the default of the field's own type), the nested defaults
// are base's, and a key that T does not have or a value of the wrong kind is an error naming the
// key (a typo must not silently train with the default).
template <class T>
T options_from_json(const nlohmann::json& patch, const T& base = T{}) {
  if (!patch.is_object())
    throw std::invalid_argument(detail::concat("options must be a JSON object, got ", patch.dump()));
  const nlohmann::json reference = base;
  detail::check_patch<T>(reference, reference, patch, "");
  nlohmann::json merged = reference;
  merged.merge_patch(patch);
  return merged.get<T>();
}

}  // namespace ldm
