// What the fuzz targets do with one input, shared by the libFuzzer targets (*_fuzz.cpp) and the
// corpus replay test (tests/fuzz_corpus_test.cpp). Each function returns how far the input got;
// the library's exceptions (std::invalid_argument, std::runtime_error and its FormatError) are
// an answer, anything else escapes and is a finding: another exception, a crash, a sanitizer
// report, a leak, a timeout.
#pragma once

#include <ldm/data/columns.hpp>
#include <ldm/data/csv_reader.hpp>
#include <ldm/data/table_reader.hpp>
#include <ldm/data/table_writer.hpp>
#include <ldm/io/safetensors.hpp>
#include <ldm/pipeline/latent_diffusion.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include <unistd.h>

namespace ldm_fuzz {

// Runs f; true if it returned, false if it threw one of the library's exceptions.
template <class F>
bool library_accepts(F f) {
  try {
    f();
    return true;
  } catch (const std::invalid_argument&) {
  } catch (const std::runtime_error&) {
  }
  return false;
}

// The input as a safetensors file; every tensor is converted every way it allows. True if read.
inline bool safetensors_input(std::string_view input) {
  return library_accepts([&] {
    const ldm::SafetensorsData data = ldm::read_safetensors_from_memory(input, "fuzz");
    for (const auto& item : data.tensors) {  // (clang 14 cannot capture structured bindings)
      const std::string& name = item.first;
      const ldm::Tensor& tensor = item.second;
      (void)ldm::numel(tensor);
      library_accepts([&] { (void)data.integers(name); });
      if (tensor.shape.size() == 2) library_accepts([&] { (void)data.matrix<float>(name); });
      if (tensor.shape.size() == 1) library_accepts([&] { (void)data.vector<double>(name); });
    }
  });
}

// The first byte picks the CSV options: 1 header, 2 detect the header, 4 empty cells allowed,
// 8 and 16 the delimiter (, ; tab space), 32 a text column "label", 64 small limits (64-byte
// lines, 8 columns, 1 KiB) so the fuzzer reaches them. The rest is the text. True if parsed.
inline bool csv_input(std::string_view input) {
  if (input.empty()) return false;
  const auto flags = static_cast<unsigned char>(input[0]);
  ldm::CsvOptions options;
  options.header = flags & 1;
  options.detect_header = flags & 2;
  options.allow_empty = flags & 4;
  constexpr char delimiters[] = {',', ';', '\t', ' '};
  options.delimiter = delimiters[(flags >> 3) & 3];
  if (flags & 32) options.text_columns = {"label"};
  if (flags & 64) {
    options.max_line_bytes = 64;
    options.max_columns = 8;
    options.max_file_bytes = 1024;
  }
  return library_accepts([&] {
    const ldm::CsvTable table = ldm::parse_csv(input.substr(1), "fuzz", options);
    // What every table satisfies: rows, one column of values per name, one value per row.
    if (table.rows() <= 0 || table.values.cols() != static_cast<Eigen::Index>(table.columns.size())) std::abort();
    for (const ldm::TextColumn& t : table.text)
      if (static_cast<Eigen::Index>(t.values.size()) != table.rows()) std::abort();
    if (!table.columns.empty()) {
      (void)ldm::select_columns(table, {table.columns.front()});
      (void)ldm::drop_columns(table, {Eigen::Index{0}});
    }
  });
}

// LatentDiffusion::load reads a path: a scratch file per process, in memory where possible,
// removed after each input (libFuzzer ends with _Exit, so atexit would not run).
inline const std::string& scratch_path() {
  static const std::string path = std::string(::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
                                  "/ldm_checkpoint_fuzz_" + std::to_string(::getpid()) + ".safetensors";
  return path;
}

struct ScratchFile {
  explicit ScratchFile(std::string_view bytes) {
    std::FILE* f = std::fopen(scratch_path().c_str(), "wb");
    if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) std::abort();
  }
  ~ScratchFile() { std::remove(scratch_path().c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
};

struct CheckpointResult {
  bool read = false;        // a valid safetensors file
  bool checkpoint = false;  // load_checkpoint<float> loaded it
  bool pipeline = false;    // LatentDiffusion<float>::load loaded it, and it sampled 2 rows
};

// The input as a checkpoint: read, the metadata parsers (options, schedule, format version),
// load_checkpoint; then, written to a file, LatentDiffusion<float>::load (kind, column names,
// latent bound, scalings, class names) and, if it loads, sampling 2 rows with 2 DDIM steps (and,
// for a conditional model, 2 rows of its first class).
inline CheckpointResult checkpoint_input(std::string_view input) {
  CheckpointResult result;
  ldm::SafetensorsData data;
  result.read = library_accepts([&] { data = ldm::read_safetensors_from_memory(input, "fuzz"); });
  if (!result.read) return result;
  library_accepts([&] { (void)ldm::options_from_metadata(data.metadata, data.path); });
  library_accepts([&] { (void)ldm::schedule_options_from_metadata(data.metadata, data.path); });
  result.checkpoint = library_accepts([&] { (void)ldm::load_checkpoint<float>(data); });
  if (!data.metadata.count("kind")) return result;  // LatentDiffusion::load refuses it at once

  const ScratchFile file(input);
  result.pipeline = library_accepts([&] {
    const auto model = ldm::LatentDiffusion<float>::load(scratch_path());
    ldm::SampleOptions options;
    options.sampler.num_steps = 2;
    (void)model.sample(2, options, ldm::make_key(1));
    if (!model.class_names.empty()) (void)model.sample(2, model.class_names.front(), options, ldm::make_key(1));
  });
  return result;
}

// The first byte picks the table options: 1 and 2 the delimiter (, ; tab space), 4 na_values
// {"?"} instead of the default, 8 column "a" declared categorical, 16 column "b" dropped, 32
// small limits (4 categories, 64-byte lines, 8 columns, 1 KiB), 64 column "c" declared numeric.
// The rest is the text, read by parse_table; a table it reads must fit its schema, and written
// (write_table) and read again against its schema (read_table) must come back the same, cell for
// cell. True if read.
inline bool table_input(std::string_view input) {
  if (input.empty()) return false;
  const auto flags = static_cast<unsigned char>(input[0]);
  ldm::TableOptions options;
  constexpr char delimiters[] = {',', ';', '\t', ' '};
  options.delimiter = delimiters[flags & 3];
  if (flags & 4) options.na_values = {"?"};
  if (flags & 8) options.categorical = {"a"};
  if (flags & 16) options.drop = {"b"};
  if (flags & 32) {
    options.max_categories = 4;
    options.max_line_bytes = 64;
    options.max_columns = 8;
    options.max_file_bytes = 1024;
  }
  if (flags & 64) options.numeric = {"c"};
  ldm::TableRead read;
  if (!library_accepts([&] { read = ldm::parse_table(input.substr(1), "fuzz", options); })) return false;
  const ldm::Table& table = read.table;
  if (table.rows() <= 0 || table.cols() != static_cast<Eigen::Index>(table.schema.size())) std::abort();
  if (!library_accepts([&] { ldm::validate(table); })) std::abort();

  static const std::string path = std::string(::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
                                  "/ldm_table_fuzz_" + std::to_string(::getpid()) + ".csv";
  ldm::write_table(path, table, options.delimiter);
  ldm::TableOptions again;  // the same syntax, no limits but the defaults: numbers may be written longer
  again.delimiter = options.delimiter;
  again.na_values = options.na_values;
  ldm::Table back;
  const bool reread = library_accepts([&] { back = ldm::read_table(path, table.schema, again); });
  std::remove(path.c_str());
  if (!reread || nlohmann::json(back.schema) != nlohmann::json(table.schema) || back.rows() != table.rows())
    std::abort();
  for (Eigen::Index r = 0; r < table.rows(); ++r)
    for (Eigen::Index c = 0; c < table.cols(); ++c) {
      const double a = table.cells(r, c), b = back.cells(r, c);
      if (std::isnan(a) ? !std::isnan(b) : a != b) std::abort();
    }
  return true;
}

}  // namespace ldm_fuzz
