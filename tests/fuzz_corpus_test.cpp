// Replays the fuzz targets' seed corpora (tests/fuzz/corpus/<target>) through the targets' own
// code (tests/fuzz/fuzz_inputs.hpp) in the ordinary test build: valid_* inputs must load,
// bad_* inputs must be refused with the library's exceptions, and nothing else may escape.
// Inputs that fuzzing once found (regress_*) stay in the corpora and are replayed here too.
#include <catch2/catch.hpp>

#include "fuzz/fuzz_inputs.hpp"
#include "support/test_files.hpp"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace {

struct Seed {
  std::string name, bytes;
};

std::vector<Seed> corpus(const std::string& target) {
  const std::filesystem::path dir = std::filesystem::path(LDM_TEST_DATA_DIR) / ".." / "fuzz" / "corpus" / target;
  std::vector<Seed> seeds;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    seeds.push_back({entry.path().filename().string(), ldm_test::read_bytes(entry.path().string())});
  std::sort(seeds.begin(), seeds.end(), [](const Seed& a, const Seed& b) { return a.name < b.name; });
  return seeds;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Every seed of target through accepts(bytes): valid_* seeds must be accepted, bad_* refused.
template <class Accepts>
void require_named_outcomes(const std::string& target, Accepts accepts) {
  const std::vector<Seed> seeds = corpus(target);
  REQUIRE(seeds.size() >= 8);
  for (const Seed& seed : seeds) {
    INFO(seed.name);
    const bool accepted = accepts(seed.bytes);
    if (starts_with(seed.name, "valid_")) REQUIRE(accepted);
    if (starts_with(seed.name, "bad_")) REQUIRE_FALSE(accepted);
  }
}

}  // namespace

TEST_CASE("fuzz corpus: safetensors seeds read or are refused as their names say", "[fuzz]") {
  require_named_outcomes("safetensors", ldm_fuzz::safetensors_input);  // true if read
}

TEST_CASE("fuzz corpus: CSV seeds parse or are refused as their names say", "[fuzz]") {
  require_named_outcomes("csv", ldm_fuzz::csv_input);  // true if parsed
}

TEST_CASE("fuzz corpus: table seeds read (and round-trip) or are refused as their names say", "[fuzz]") {
  require_named_outcomes("table", ldm_fuzz::table_input);  // true if read
}

TEST_CASE("fuzz corpus: checkpoint seeds load or are refused as their names say", "[fuzz]") {
  const std::vector<Seed> seeds = corpus("checkpoint");
  REQUIRE(seeds.size() >= 8);
  for (const Seed& seed : seeds) {
    INFO(seed.name);
    const ldm_fuzz::CheckpointResult r = ldm_fuzz::checkpoint_input(seed.bytes);
    if (starts_with(seed.name, "valid_pipeline")) {  // LatentDiffusion files: load both ways, sample
      REQUIRE(r.checkpoint);
      REQUIRE(r.pipeline);
    } else if (starts_with(seed.name, "valid_")) {  // the models alone, or a training checkpoint
      REQUIRE(r.checkpoint);
      REQUIRE_FALSE(r.pipeline);
    }
    if (starts_with(seed.name, "bad_")) {  // a valid file whose metadata LatentDiffusion refuses
      REQUIRE(r.read);
      REQUIRE_FALSE(r.pipeline);
    }
  }
}
