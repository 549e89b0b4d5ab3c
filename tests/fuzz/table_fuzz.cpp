// libFuzzer target: one input through ldm_fuzz::table_input (fuzz_inputs.hpp): read_table's
// parser and type inference, then a write_table / read_table round trip. Only the library's
// exceptions are caught; anything else is a finding.
#include "fuzz_inputs.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  (void)ldm_fuzz::table_input(std::string_view(reinterpret_cast<const char*>(bytes), size));
  return 0;
}
