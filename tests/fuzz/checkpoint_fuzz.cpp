// libFuzzer target: one input through ldm_fuzz::checkpoint_input (fuzz_inputs.hpp). Only the
// library's exceptions are caught; anything else is a finding.
#include "fuzz_inputs.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  (void)ldm_fuzz::checkpoint_input(std::string_view(reinterpret_cast<const char*>(bytes), size));
  return 0;
}

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

// Half of the mutations change the JSON header alone and rewrite the 8-byte length before it,
// so insertions and deletions keep a well-formed file and reach the metadata parsers (options,
// schedule, column names, latent bound) instead of stopping at the length check. The other half
// are libFuzzer's own, on the whole file.
extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size,
                                               unsigned int seed) {
  std::minstd_rand random(seed);
  if (size < 8 || random() % 2 == 0) return LLVMFuzzerMutate(data, size, max_size);
  std::uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= static_cast<std::uint64_t>(data[i]) << (8 * i);
  if (length > size - 8) return LLVMFuzzerMutate(data, size, max_size);
  const std::string rest(reinterpret_cast<const char*>(data) + 8 + length, size - 8 - length);
  std::string header(reinterpret_cast<const char*>(data) + 8, length);
  header.resize(max_size - 8 - rest.size());  // room to grow
  const std::size_t new_length =
      LLVMFuzzerMutate(reinterpret_cast<std::uint8_t*>(header.data()), length, header.size());
  for (int i = 0; i < 8; ++i) data[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(new_length) >> (8 * i));
  std::memcpy(data + 8, header.data(), new_length);
  std::memcpy(data + 8 + new_length, rest.data(), rest.size());
  return 8 + new_length + rest.size();
}
