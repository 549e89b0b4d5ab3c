// The safetensors format (huggingface/safetensors): named tensors and string metadata.
//
//   [8 bytes: header length n, little-endian u64][n bytes: JSON header][data]
//   header = {"<name>": {"dtype": "F32", "shape": [r, c], "data_offsets": [begin, end]}, ...,
//             "__metadata__": {"<key>": "<value>", ...}}
// Offsets are relative to the start of the data; tensors are row-major and little-endian.
//
// The reader makes the checks of the reference implementation (Rust crate safetensors,
// SafeTensors::read_metadata and Metadata::validate; error names in brackets):
// file shorter than 8 bytes [HeaderTooSmall], header length above 100,000,000 [HeaderTooLarge]
// or past the end of the file [InvalidHeaderLength], header not starting with '{'
// [InvalidHeaderStart], not JSON or not the expected object [InvalidHeaderDeserialization],
// unknown dtype, offsets not starting at 0 / with gaps / overlapping / ending before they begin
// [InvalidOffset], shape * dtype size overflowing [ValidationOverflow] or differing from the
// offsets [TensorInvalidInfo], data not covering the rest of the file exactly
// [MetadataIncompleteBuffer]. It is stricter in four places: a name (or metadata key or field)
// given twice is an error (serde keeps one silently), a tensor may have at most 64 dimensions,
// each below 2^63, and __metadata__ values must be strings. Unknown fields inside a tensor's
// entry are ignored, as the reference does.
//
// Memory: the header is read only after its length was checked against the file size, it is
// parsed by a streaming (SAX) parser straight into a compact list, and no tensor buffer is
// allocated before every offset and size was validated against the file size. So the reader
// never allocates much more than the file's size, and SafetensorsLimits bounds that size.
//
// Tensor and the dtype conversions are in dtype.hpp, the header parser in
// detail/safetensors_header.hpp.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/io/atomic_file.hpp>
#include <ldm/io/detail/safetensors_header.hpp>
#include <ldm/io/dtype.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/stat.h>

namespace ldm {

using TensorMap = std::map<std::string, Tensor>;
using MetadataMap = std::map<std::string, std::string>;

// What the reader accepts at most; a file beyond either is refused before it is read.
struct SafetensorsLimits {
  std::uint64_t max_header_bytes = 100'000'000;           // the reference's MAX_HEADER_SIZE
  std::uint64_t max_file_bytes = std::uint64_t{8} << 30;  // 8 GiB: the whole file is read into memory
};

// What read_safetensors returns: every tensor by name, the __metadata__ strings, the path.
struct SafetensorsData {
  std::string path;
  TensorMap tensors;
  MetadataMap metadata;

  bool contains(const std::string& name) const { return tensors.count(name) != 0; }

  // Throws FormatError naming the file and the tensor when there is no such tensor.
  const Tensor& at(const std::string& name) const {
    const auto it = tensors.find(name);
    if (it == tensors.end()) throw FormatError("SafetensorsData::at", path, name, "no such tensor in the file");
    return it->second;
  }

  // Converted copies; errors are FormatErrors naming the file and the tensor.
  template <class S>
  Matrix<S> matrix(const std::string& name) const {
    return convert(name, "SafetensorsData::matrix", [](const Tensor& t) { return to_matrix<S>(t); });
  }
  template <class S>
  Vector<S> vector(const std::string& name) const {
    return convert(name, "SafetensorsData::vector", [](const Tensor& t) { return to_vector<S>(t); });
  }
  std::vector<std::int64_t> integers(const std::string& name) const {
    return convert(name, "SafetensorsData::integers", [](const Tensor& t) { return to_integers(t); });
  }

 private:
  template <class Convert>
  auto convert(const std::string& name, const char* where, Convert convert_tensor) const
      -> decltype(convert_tensor(std::declval<const Tensor&>())) {
    const Tensor& t = at(name);
    try {
      return convert_tensor(t);
    } catch (const std::invalid_argument& e) {
      throw FormatError(where, path, name, e.what());
    }
  }
};

namespace detail {

// Parses a safetensors file of file_size bytes that read(out, n) delivers in order. Every size
// is checked against file_size and the limits before anything of that size is allocated.
template <class Read>
SafetensorsData parse_safetensors(std::uint64_t file_size, Read&& read, const std::string& path,
                                  const SafetensorsLimits& limits) {
  const std::string where = "read_safetensors";
  if (file_size > limits.max_file_bytes)
    throw FormatError(where, path, "",
                      concat("the file has ", file_size, " bytes, above the limit of ", limits.max_file_bytes,
                             " (SafetensorsLimits::max_file_bytes)"));
  if (file_size < 8)
    throw FormatError(where, path, "",
                      concat("the file has ", file_size, " bytes, fewer than the 8 of the header length"));
  unsigned char length_bytes[8];
  read(length_bytes, 8);
  const std::uint64_t header_size = load_le(length_bytes, 8);
  if (header_size > limits.max_header_bytes)
    throw FormatError(where, path, "",
                      concat("the header length ", header_size, " is above the limit of ", limits.max_header_bytes,
                             " bytes (SafetensorsLimits::max_header_bytes)"));
  if (header_size > file_size - 8)
    throw FormatError(
        where, path, "",
        concat("the header length ", header_size, " runs past the end of the file (", file_size, " bytes)"));
  if (header_size == 0) throw FormatError(where, path, "", "the header is empty (its length is 0)");

  std::string header(static_cast<std::size_t>(header_size), '\0');
  read(header.data(), header.size());
  if (header[0] != '{') throw FormatError(where, path, "", "the header does not start with '{'");
  // nlohmann's lexer would stop at a NUL byte as at the end of input; JSON never holds one.
  if (header.find('\0') != std::string::npos)
    throw FormatError(where, path, "", "the header is not valid JSON: it contains a NUL byte");

  HeaderParser parser(where, path);
  try {
    nlohmann::json::sax_parse(header, &parser);
  } catch (const nlohmann::json::exception& e) {  // parse_error reports most; this is the net
    throw FormatError(where, path, "", std::string("the header is not valid JSON: ") + e.what());
  }
  const std::uint64_t data_size = validate_entries(parser.entries, where, path);
  if (data_size != file_size - 8 - header_size) {
    const std::string last = parser.entries.empty() ? "" : parser.entries.back().name;
    throw FormatError(where, path, last,
                      concat("the tensors cover ", data_size, " bytes of data but the file holds ",
                             file_size - 8 - header_size, " after the header"));
  }

  // Every offset is now known to lie inside the file: allocate and read in offset order.
  SafetensorsData data;
  data.path = path;
  data.metadata = std::move(parser.metadata);
  for (HeaderEntry& e : parser.entries) {
    Tensor t{std::move(e.dtype), std::move(e.shape), {}};
    t.bytes.resize(static_cast<std::size_t>(e.bytes));
    read(t.bytes.data(), t.bytes.size());
    data.tensors.emplace(std::move(e.name), std::move(t));
  }
  return data;
}

}  // namespace detail

// Reads and validates a whole safetensors file (see the top of this file). Throws FormatError
// (a std::runtime_error) naming the file and, where it applies, the tensor, also for a file or
// header above the limits; std::runtime_error if it cannot be read.
inline SafetensorsData read_safetensors(const std::string& path, const SafetensorsLimits& limits = {}) {
  const std::string where = "read_safetensors";
  detail::UniqueFile file(std::fopen(path.c_str(), "rb"));
  if (!file) throw std::runtime_error(where + ": cannot open " + path + ": " + std::strerror(errno));
  std::FILE* f = file.get();
  struct stat info {};
  if (::fstat(::fileno(f), &info) != 0)
    throw std::runtime_error(where + ": cannot tell the size of " + path + ": " + std::strerror(errno));
  if (!S_ISREG(info.st_mode)) throw std::runtime_error(where + ": " + path + " is not a regular file");
  return detail::parse_safetensors(
      static_cast<std::uint64_t>(info.st_size),
      [&](void* out, std::size_t n) { detail::read_exactly(f, out, n, where, path); }, path, limits);
}

// The same from bytes already in memory; name stands for the file in messages.
inline SafetensorsData read_safetensors_from_memory(std::string_view bytes, const std::string& name = "(memory)",
                                                    const SafetensorsLimits& limits = {}) {
  std::size_t position = 0;
  return detail::parse_safetensors(
      bytes.size(),
      [&](void* out, std::size_t n) {  // parse_safetensors never reads past the size it was given
        if (n > 0) std::memcpy(out, bytes.data() + position, n);
        position += n;
      },
      name, limits);
}

// Writes tensors and metadata atomically (AtomicFile: temporary file, fsync, rename): the
// target is replaced only by a complete file. Data are laid out by element size, largest first,
// then by name (as the reference's writer, so every tensor is aligned to its element size);
// the header is padded with spaces to a multiple of 8 bytes. Throws std::invalid_argument for a
// tensor whose dtype is unknown or whose bytes do not match its shape, std::runtime_error
// naming the path and the system's reason when the file cannot be written.
inline void write_safetensors(const std::string& path, const TensorMap& tensors, const MetadataMap& metadata = {}) {
  std::vector<const TensorMap::value_type*> order;
  for (const auto& item : tensors) {
    if (item.first == "__metadata__")
      throw std::invalid_argument("write_safetensors: " + path + ": '__metadata__' is reserved, not a tensor name");
    try {
      detail::check_tensor(item.second);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("write_safetensors: " + path + ": tensor '" + item.first + "': " + e.what());
    }
    order.push_back(&item);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return dtype_size(a->second.dtype) > dtype_size(b->second.dtype);  // names stay sorted within a size
  });

  // Key order as the reference writes it: __metadata__ first, then the tensors in data order.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto* item : order) {
    const std::uint64_t end = offset + item->second.bytes.size();
    header[item->first] = {{"dtype", item->second.dtype},
                           {"shape", item->second.shape},
                           {"data_offsets", nlohmann::ordered_json::array({offset, end})}};
    offset = end;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::ordered_json::exception& e) {
    throw std::invalid_argument("write_safetensors: " + path +
                                ": a tensor name or metadata string is not valid UTF-8: " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  unsigned char length_bytes[8];
  detail::store_le(length_bytes, text.size(), 8);
  AtomicFile file(path);
  file.write(length_bytes, 8);
  file.write(text);
  for (const auto* item : order) file.write(item->second.bytes.data(), item->second.bytes.size());
  file.commit();
}

}  // namespace ldm
