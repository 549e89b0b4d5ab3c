// Test helpers that write safetensors files byte by byte, to build valid and corrupt inputs.
#pragma once

#include <cstdint>
#include <string>

namespace ldm_test {

// v as 8 little-endian bytes: the length that opens a safetensors file.
inline std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// A safetensors file: the 8-byte length of header, header as given (not padded), then data.
inline std::string safetensors_file(const std::string& header, const std::string& data = "") {
  return le64(header.size()) + header + data;
}

}  // namespace ldm_test
