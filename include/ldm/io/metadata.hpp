// A safetensors file's __metadata__ is a flat map of strings. These read numbers from it
// strictly, and write an options struct into it and back through the struct's one JSON mapping
// (core/json.hpp), so a field added to the struct reaches the file without a second list.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/json.hpp>
#include <ldm/io/safetensors.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace ldm::detail {

// The value of metadata[key] as a T (int, long long or double; a double must be finite).
// Throws FormatError "<where>: <file>: metadata '<key>' must be an integer, got '<text>'" (or
// "a finite number"), or "the metadata has no '<key>'".
template <class T>
T metadata_number(const MetadataMap& metadata, const std::string& key, const std::string& file, const char* where) {
  const auto it = metadata.find(key);
  if (it == metadata.end()) throw FormatError(where, file, "", "the metadata has no '" + key + "'");
  const std::string& text = it->second;
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  bool ok = ec == std::errc() && end == text.data() + text.size() && !text.empty();
  if constexpr (std::is_floating_point_v<T>) ok = ok && std::isfinite(value);
  if (!ok)
    throw FormatError(where, file, "",
                      "metadata '" + key + "' must be " +
                          (std::is_floating_point_v<T> ? "a finite number" : "an integer") + ", got '" + text + "'");
  return value;
}

inline int metadata_int(const MetadataMap& metadata, const std::string& key, const std::string& file,
                        const char* where) {
  return metadata_number<int>(metadata, key, file, where);
}

inline double metadata_double(const MetadataMap& metadata, const std::string& key, const std::string& file,
                              const char* where) {
  return metadata_number<double>(metadata, key, file, where);
}

// Shortest text that reads back as exactly the same double (std::to_chars).
inline std::string exact_text(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

// Each field of a flat options struct as text: integers in decimal, doubles as exact_text,
// enums by name, booleans as true / false.
template <class Options>
MetadataMap metadata_fields(const Options& options) {
  MetadataMap fields;
  const nlohmann::json json = options;  // items() of a temporary would dangle
  for (const auto& [key, value] : json.items())
    fields[key] = value.is_string()           ? value.template get<std::string>()
                  : value.is_number_float()   ? exact_text(value.template get<double>())
                  : value.is_number_integer() ? std::to_string(value.template get<long long>())
                                              : value.dump();
  return fields;
}

// The struct metadata_fields wrote: each field read as the type of its default (integers as
// int), keys in `optional` may be absent (they keep their defaults), any other missing key or
// bad value throws FormatError naming it.
template <class Options>
Options from_metadata_fields(const MetadataMap& metadata, std::initializer_list<std::string_view> optional,
                             const std::string& file, const char* where) {
  nlohmann::json fields = Options{};
  for (auto& [key, value] : fields.items()) {
    const auto it = metadata.find(key);
    if (it == metadata.end()) {
      if (std::find(optional.begin(), optional.end(), key) != optional.end()) continue;
      throw FormatError(where, file, "", "the metadata has no '" + key + "'");
    }
    if (value.is_number_float())
      value = metadata_double(metadata, key, file, where);
    else if (value.is_number_integer())
      value = metadata_int(metadata, key, file, where);
    else if (value.is_boolean() && (it->second == "true" || it->second == "false"))
      value = it->second == "true";
    else if (value.is_boolean())
      throw FormatError(where, file, "", "metadata '" + key + "' must be true or false, got '" + it->second + "'");
    else
      value = it->second;
    try {  // one field at a time, so an error names its key
      (void)fields.template get<Options>();
    } catch (const std::invalid_argument& e) {
      throw FormatError(where, file, "", "metadata '" + key + "' " + e.what());
    }
  }
  return fields.template get<Options>();
}

}  // namespace ldm::detail
