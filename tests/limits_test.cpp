// Hostile sizes (the reliability issue, part 4): a header that claims a huge tensor, a CSV file
// of 10 GB, a 10 GB line, 10^7 columns, a checkpoint whose options or num_steps ask for huge
// models or schedules, a sample count that would not fit in memory. Each is refused with a
// message naming the limit before anything of that size is allocated, and each limit is settable.
#include <catch2/catch.hpp>

#include <ldm/data/csv_reader.hpp>
#include <ldm/io/safetensors.hpp>
#include <ldm/pipeline/latent_diffusion.hpp>

#include "support/safetensors_bytes.hpp"
#include "support/test_files.hpp"
#include "support/tiny_pipeline.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

using Catch::Matchers::Contains;
using ldm_test::TempDir;
using ldm_test::write_bytes;

namespace {

// A file of `size` zero bytes that takes no disk space (a sparse file).
void sparse_file(const std::string& path, std::uintmax_t size) {
  write_bytes(path, "");
  std::filesystem::resize_file(path, size);
}

constexpr std::uint64_t GiB = std::uint64_t{1} << 30;

}  // namespace

TEST_CASE("limits: a safetensors header that claims a huge tensor is refused", "[limits]") {
  TempDir dir("limits_safetensors");
  // 10^6 x 10^6 floats (4 TB) claimed by a 100-byte file: refused before any tensor buffer.
  const std::string header = R"({"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}})";
  const std::string bytes = ldm_test::safetensors_file(header, "abcd");
  write_bytes(dir.file("huge.safetensors"), bytes);
  const std::string expected =
      "tensor 'w': the tensors cover 4000000000000 bytes of data but the file holds 4 "
      "after the header";
  REQUIRE_THROWS_AS(ldm::read_safetensors(dir.file("huge.safetensors")), ldm::FormatError);
  REQUIRE_THROWS_WITH(ldm::read_safetensors(dir.file("huge.safetensors")), Contains(expected));
  REQUIRE_THROWS_WITH(ldm::read_safetensors_from_memory(bytes, "mem"), Contains("mem: " + expected));
}

TEST_CASE("limits: safetensors header and file sizes are capped, and the caps are settable", "[limits]") {
  TempDir dir("limits_safetensors_caps");
  const std::string header = R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
  const std::string bytes = ldm_test::safetensors_file(header, "xy");

  // Defaults: 100,000,000 header bytes (the reference's), 8 GiB per file.
  const ldm::SafetensorsLimits defaults;
  REQUIRE(defaults.max_header_bytes == 100'000'000);
  REQUIRE(defaults.max_file_bytes == 8 * GiB);
  REQUIRE(ldm::read_safetensors_from_memory(bytes).tensors.at("a").bytes.size() == 2);

  REQUIRE_THROWS_WITH(ldm::read_safetensors_from_memory(bytes, "f", {.max_header_bytes = 16}),
                      Contains(ldm::detail::concat("the header length ", header.size(),
                                                   " is above the limit of 16 bytes "
                                                   "(SafetensorsLimits::max_header_bytes)")));
  REQUIRE_THROWS_WITH(
      ldm::read_safetensors_from_memory(bytes, "f", {.max_file_bytes = 20}),
      Contains(ldm::detail::concat("the file has ", bytes.size(),
                                   " bytes, above the limit of 20 (SafetensorsLimits::max_file_bytes)")));

  // A 9 GiB file is refused by its size alone (sparse: it costs no disk, and nothing is read).
  const std::string big = dir.file("big.safetensors");
  sparse_file(big, 9 * GiB);
  REQUIRE_THROWS_WITH(ldm::read_safetensors(big),
                      Contains(big) && Contains("the file has 9663676416 bytes, above the limit of 8589934592"));
  // Raised, the same file gets as far as its (zero) header length.
  REQUIRE_THROWS_WITH(ldm::read_safetensors(big, {.max_file_bytes = 16 * GiB}),
                      Contains("the header is empty (its length is 0)"));
}

TEST_CASE("limits: a 10 GB CSV file, a 10 GB line and 10^7 columns are refused", "[limits]") {
  TempDir dir("limits_csv");
  const ldm::CsvOptions defaults;
  REQUIRE(defaults.max_file_bytes == 4 * GiB);
  REQUIRE(defaults.max_line_bytes == 16u << 20);
  REQUIRE(defaults.max_columns == 100'000);

  // 10 GB of zero bytes (sparse) and no line break: refused by its size before it is read...
  const std::string big = dir.file("big.csv");
  sparse_file(big, 10'000'000'000);
  REQUIRE_THROWS_WITH(ldm::read_csv(big), Contains("read_csv: " + big) &&
                                              Contains("the file has 10000000000 bytes or more, above the limit of "
                                                       "4294967296 (CsvOptions::max_file_bytes)"));
  // ...and with the size limit raised, by its first line once 16 MiB of it were read.
  REQUIRE_THROWS_WITH(ldm::read_csv(big, {.max_file_bytes = 1024 * GiB}),
                      Contains("read_csv: " + big +
                               ":1: the line is longer than 16777216 bytes, the limit "
                               "(CsvOptions::max_line_bytes)"));

  // 10^7 empty cells on one line of 10 MB (within the line limit): refused while splitting.
  const std::string wide = dir.file("wide.csv");
  write_bytes(wide, "a\n" + std::string(9'999'999, ',') + "\n");
  REQUIRE_THROWS_WITH(ldm::read_csv(wide, {.allow_empty = true}),
                      Contains(wide + ":2: the record has more than 100000 cells, the limit "
                                      "(CsvOptions::max_columns)"));
  // 10^7 cells "1," make a 20 MB line: the line limit comes first.
  std::string ones;
  ones.reserve(20'000'000);
  for (int i = 0; i < 10'000'000; ++i) ones += "1,";
  write_bytes(wide, ones + "\n");
  REQUIRE_THROWS_WITH(ldm::read_csv(wide), Contains(wide + ":1: the line is longer than 16777216 bytes"));
}

TEST_CASE("limits: the CSV limits are settable and apply to text in memory too", "[limits]") {
  const std::string text = "a,b,c\n1,2,3\n4,5,6\n";
  REQUIRE(ldm::parse_csv(text, "t").rows() == 2);
  REQUIRE(ldm::parse_csv(text, "t", {.max_file_bytes = 18, .max_line_bytes = 5, .max_columns = 3}).rows() == 2);
  REQUIRE_THROWS_WITH(ldm::parse_csv(text, "t", {.max_file_bytes = 17}),
                      Contains("t: the file has 18 bytes or more, above the limit of 17"));
  REQUIRE_THROWS_WITH(ldm::parse_csv("a\n1\n12345\n", "t", {.max_line_bytes = 4}),
                      Contains("t:3: the line is longer than 4 bytes"));
  REQUIRE_THROWS_WITH(ldm::parse_csv(text, "t", {.max_columns = 2}), Contains("t:1: the record has more than 2 cells"));

  TempDir dir("limits_csv_settable");
  write_bytes(dir.file("t.csv"), text);
  REQUIRE(ldm::read_csv(dir.file("t.csv"), {.max_file_bytes = 18}).rows() == 2);
  REQUIRE_THROWS_WITH(ldm::read_csv(dir.file("t.csv"), {.max_file_bytes = 17}),
                      Contains("the file has 18 bytes or more, above the limit of 17"));
  REQUIRE_THROWS_WITH(ldm::read_csv(dir.file("t.csv"), {.max_line_bytes = 4}),
                      Contains(dir.file("t.csv") + ":1: the line is longer than 4 bytes"));
}

TEST_CASE("limits: checkpoint options must match the file, and num_steps is capped", "[limits]") {
  TempDir dir("limits_checkpoint");
  const ldm::LatentDiffusion<float> model = ldm_test::tiny_pipeline();
  const std::string path = dir.file("model.safetensors");
  model.save(path);
  const ldm::SafetensorsData data = ldm::read_safetensors(path);
  const auto with = [&](const std::string& key, const std::string& value) {
    ldm::MetadataMap metadata = data.metadata;
    metadata[key] = value;
    const std::string changed = dir.file(key + ".safetensors");
    ldm::write_safetensors(changed, data.tensors, metadata);
    return changed;
  };

  // hidden_size 2e9 would be 10^19 parameters: refused by the count, before build allocates.
  const std::string huge = with("hidden_size", "2000000000");
  const auto mismatch = Contains(
      "describe 4.4000000058e+19 parameters, but the file's encoder., decoder. and "
      "denoiser. tensors hold 301 values");
  REQUIRE_THROWS_WITH(ldm::load_checkpoint<float>(huge), Contains(huge) && mismatch);
  REQUIRE_THROWS_AS(ldm::LatentDiffusion<float>::load(huge), ldm::FormatError);
  REQUIRE_THROWS_WITH(ldm::LatentDiffusion<float>::load(huge), mismatch);
  // A small mismatch is caught the same way.
  REQUIRE_THROWS_WITH(ldm::LatentDiffusion<float>::load(with("input_size", "4")),
                      Contains("describe 310 parameters, but the file's encoder., decoder. and denoiser. tensors "
                               "hold 301 values"));

  // num_steps sizes the schedule, which no tensor shows: capped at 10^6, settable.
  const ldm::CheckpointLimits defaults;
  REQUIRE(defaults.max_num_steps == 1'000'000);
  const std::string steps = with("num_steps", "2000000000");
  const auto capped = Contains(
      "metadata 'num_steps' is 2000000000, above the limit of 1000000 "
      "(CheckpointLimits::max_num_steps)");
  REQUIRE_THROWS_WITH(ldm::load_checkpoint<float>(steps), capped);
  REQUIRE_THROWS_WITH(ldm::LatentDiffusion<float>::load(steps), capped);
  REQUIRE_THROWS_WITH(ldm::schedule_options_from_metadata(ldm::read_safetensors(steps).metadata), capped);
  REQUIRE(ldm::load_checkpoint<float>(path).options.num_steps == 10);
  REQUIRE_THROWS_WITH(ldm::load_checkpoint<float>(path, {.max_num_steps = 9}),
                      Contains("metadata 'num_steps' is 10, above the limit of 9"));
  REQUIRE_THROWS_WITH(ldm::load_checkpoint<float>(path, {.file = {.max_file_bytes = 100}}),
                      Contains("above the limit of 100 (SafetensorsLimits::max_file_bytes)"));
  REQUIRE_THROWS_WITH(ldm::LatentDiffusion<float>::load(path, {.max_num_steps = 9}),
                      Contains("metadata 'num_steps' is 10, above the limit of 9"));
  REQUIRE_THROWS_WITH(ldm::LatentDiffusion<float>::load(path, {.file = {.max_file_bytes = 100}}),
                      Contains("above the limit of 100 (SafetensorsLimits::max_file_bytes)"));
  REQUIRE(ldm::LatentDiffusion<float>::load(path, {.max_num_steps = 10}).schedule_options.num_steps == 10);

  // A metadata number must be finite (latent_bound, beta_start, beta_end).
  REQUIRE_THROWS_WITH(ldm::LatentDiffusion<float>::load(with("latent_bound", "inf")),
                      Contains("metadata 'latent_bound' must be a finite number, got 'inf'"));
}

TEST_CASE("limits: options_from_checkpoint counts parameters as param_count does, without overflow", "[limits]") {
  for (const ldm::Options& o : {ldm::Options{3, 2, 4, 1, 10}, ldm::Options{287, 32, 256, 4, 1000},
                                ldm::Options{64, 16, 2, 0, 1}, ldm::Options{1, 1, 1024, 12, 1}})
    REQUIRE(ldm::detail::param_count_as<long double>(o) == static_cast<long double>(ldm::param_count(o)));
  // The largest options an int allows: far beyond 2^64, still a number to compare.
  const int big = 2'147'483'646;
  const long double b = big;  // num_layers x the 8 hidden^2 weights of a block alone: about 7.9e28
  REQUIRE(ldm::detail::param_count_as<long double>(ldm::Options{big, big, big, big, 1}) > 8 * b * b * b);
}

TEST_CASE("limits: a sample count that would not fit in memory is refused before allocating", "[limits]") {
  const ldm::LatentDiffusion<float> model = ldm_test::tiny_pipeline();
  const ldm::SampleOptions defaults;
  REQUIRE(defaults.max_matrix_bytes == 8 * GiB);
  ldm::SampleOptions options;
  options.sampler.num_steps = 2;
  REQUIRE_THROWS_WITH(model.sample(1'000'000'000'000, options, ldm::make_key(1)),
                      Contains("LatentDiffusion::sample: n = 1000000000000 rows of 3 values need 1.2e+13 bytes, "
                               "above the limit of 8589934592 (SampleOptions::max_matrix_bytes)"));
  REQUIRE_THROWS_WITH(model.sample_latents(1'000'000'000'000, options, ldm::make_key(1)),
                      Contains("LatentDiffusion::sample_latents: n = 1000000000000 rows of 2 values need 8e+12 "
                               "bytes, above the limit of 8589934592"));

  // Settable: 10 rows of 3 floats fit in 120 bytes, 11 do not; latents are 2 wide.
  options.max_matrix_bytes = 120;
  REQUIRE(model.sample(10, options, ldm::make_key(1)).values.rows() == 10);
  REQUIRE_THROWS_WITH(model.sample(11, options, ldm::make_key(1)),
                      Contains("n = 11 rows of 3 values need 132 bytes, above the limit of 120"));
  REQUIRE(model.sample_latents(15, options, ldm::make_key(1)).rows() == 15);
  REQUIRE_THROWS_WITH(model.sample_latents(16, options, ldm::make_key(1)),
                      Contains("n = 16 rows of 2 values need 128 bytes, above the limit of 120"));
  // sample_latents called directly checks n and batch_rows as sample does.
  REQUIRE_THROWS_WITH(model.sample_latents(-1, options, ldm::make_key(1)), Contains("n must be >= 0, got -1"));
  options.batch_rows = 0;
  REQUIRE_THROWS_WITH(model.sample_latents(4, options, ldm::make_key(1)), Contains("batch_rows must be positive"));
}

TEST_CASE("limits: a CSV file above 64 MiB is checked line by line before it is held in memory", "[limits]") {
  TempDir dir("limits_csv_big");
  const std::string path = dir.file("big.csv");
  // 70,000 rows of one value padded with blanks to 1,000 bytes: 70 MB, every line within limits.
  std::string row = "1" + std::string(998, ' ') + "\n";
  {
    std::string text = "a\n";
    text.reserve(70'000'002);
    for (int r = 0; r < 70'000; ++r) {
      row[0] = static_cast<char>('0' + r % 10);
      text += row;
    }
    write_bytes(path, text);
  }
  const ldm::CsvTable t = ldm::read_csv(path);
  REQUIRE(t.rows() == 70'000);
  REQUIRE(t.values(12'345, 0) == 5);
  // The same file with a 17 MiB last line: refused by the first pass, which holds nothing.
  {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out << std::string(17 << 20, '7');
  }
  REQUIRE_THROWS_WITH(ldm::read_csv(path), Contains(path + ":70002: the line is longer than 16777216 bytes"));
}
