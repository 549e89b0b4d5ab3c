// Options as JSON (nlohmann::json): the one mapping that checkpoints, resume checks and tools
// share. Each options struct declares its fields once, beside its definition, with
// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT (a missing key keeps the default, so files
// written before a field existed still load). Enums are written as their names; the table of
// names is declared once per enum with enum_names(E) and read strictly: an unknown name is an
// error that lists the known ones, never a silent default.
#pragma once

#include <ldm/core/errors.hpp>

#include <nlohmann/json.hpp>

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

}  // namespace detail
}  // namespace ldm
