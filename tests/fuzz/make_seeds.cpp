// Writes the seed corpora of the fuzz targets: a few valid inputs and a few corrupt ones each.
//   make_seeds <folder>   writes <folder>/{safetensors,csv,table,checkpoint}/<name>
// The files in tests/fuzz/corpus were made by it; rerun it after a format change.
#include <ldm/pipeline/latent_diffusion.hpp>

#include <nlohmann/json.hpp>

#include "support/safetensors_bytes.hpp"
#include "support/test_files.hpp"
#include "support/tiny_pipeline.hpp"

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

using ldm_test::le64;
using ldm_test::read_bytes;
using ldm_test::safetensors_file;
using ldm_test::write_bytes;

// A safetensors file's header as JSON, and its data.
std::pair<json, std::string> split_file(const std::string& bytes) {
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  return {json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
}

// The same file with one metadata entry set to value, or removed when erase is true.
std::string with_metadata(const std::string& bytes, const std::string& key, const std::string& value,
                          bool erase = false) {
  auto [header, data] = split_file(bytes);
  if (erase)
    header["__metadata__"].erase(key);
  else
    header["__metadata__"][key] = value;
  return safetensors_file(header.dump(), data);
}

void safetensors_seeds(const fs::path& dir) {
  const std::string one_f32 = std::string("\x00\x00\x80\x3f", 4);  // 1.0f
  write_bytes(
      dir / "valid_two_f32",
      safetensors_file(
          R"({"__metadata__":{"note":"x"},"a":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
          one_f32 + one_f32 + one_f32));
  write_bytes(
      dir / "valid_mixed",
      safetensors_file(
          R"({"d":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"i":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},"h":{"dtype":"F16","shape":[1,2],"data_offsets":[16,20]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[20,24]},"u":{"dtype":"U8","shape":[2,0],"data_offsets":[24,24]},"t":{"dtype":"BOOL","shape":[1],"data_offsets":[24,25]}})",
          std::string(25, '\x01')));
  write_bytes(dir / "valid_empty", safetensors_file("{}"));
  write_bytes(dir / "valid_padded_unknown_field",
              safetensors_file(R"({"a":{"dtype":"U16","shape":[1],"data_offsets":[0,2],"extra":[{"x":null}]}}    )",
                               "\x01\x02"));
  write_bytes(dir / "bad_gap",
              safetensors_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", one_f32 + one_f32));
  write_bytes(dir / "bad_overflow",
              safetensors_file(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296,2],"data_offsets":[0,8]}})",
                               one_f32 + one_f32));
  write_bytes(
      dir / "bad_huge_tensor",
      safetensors_file(R"({"a":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}})", one_f32));
  write_bytes(dir / "bad_header_length", le64(1ull << 40) + "{}");
  write_bytes(dir / "bad_json", safetensors_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})", one_f32));
  write_bytes(
      dir / "bad_duplicate",
      safetensors_file(
          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
          one_f32));
  write_bytes(dir / "bad_metadata", safetensors_file(R"({"__metadata__":{"k":1}})"));
}

void csv_seeds(const fs::path& dir) {
  // The first byte is the fuzz target's option flags: 1 header, 2 detect header, 4 allow empty,
  // 8/16 the delimiter (, ; tab space), 32 a text column "label", 64 small limits.
  write_bytes(dir / "valid_header",
              "\x01"
              "a,b,c\n1,2,3\n4.5,-6e-3,+7\n");
  write_bytes(dir / "valid_quoted_crlf",
              "\x01"
              "\xEF\xBB\xBF\"x, y\",\"say \"\"hi\"\"\"\r\n 1 , \"2\"\r\n\r\n\r\n");
  write_bytes(dir / "valid_detect_no_header",
              "\x0a"
              "1;2\n3;4\n");
  write_bytes(dir / "valid_label_empty", std::string("\x25", 1) + "p,label,q\n1,cat,\n,\"dog\",2\n");
  write_bytes(dir / "valid_tab", std::string("\x11", 1) + "u\tv\n1\t2\n");
  const std::string digits = read_bytes(LDM_EXAMPLES_DATA_DIR "/digits.csv");
  write_bytes(dir / "valid_digits_rows", "\x01" + digits.substr(0, digits.rfind('\n', 700) + 1));  // whole rows
  write_bytes(dir / "bad_ragged",
              "\x01"
              "a,b\n1,2\n3\n");
  write_bytes(dir / "bad_unclosed_quote",
              "\x01"
              "a,b\n\"1,2\n");
  write_bytes(dir / "bad_nan",
              "\x01"
              "a\nnan\n");
  write_bytes(dir / "bad_too_many_columns",
              "\x41"
              "1,2,3,4,5,6,7,8,9,10\n");
  write_bytes(dir / "bad_long_line", "\x41" + std::string(100, '1') + "\n");
}

void table_seeds(const fs::path& dir) {
  // The first byte is the fuzz target's option flags: 1/2 the delimiter (, ; tab space), 4
  // na_values {"?"}, 8 "a" categorical, 16 "b" dropped, 32 small limits, 64 "c" numeric.
  const auto seed = [&](const char* name, char flags, const std::string& text) {
    write_bytes(dir / name, std::string(1, flags) + text);
  };
  seed("valid_mixed", 0, "a,b,c\nx,1.5,3\ny,NA,4\n\"z, w\",-2.25,\n");
  seed("valid_quoted_crlf", 0, "\xEF\xBB\xBF\"a\",b\r\n\"x,\r\ny\",1\r\n z ,\"2\"\r\n\r\n");
  seed("valid_declared", 8 | 64, "a,b,c\n1,2,3\n2,x,4.5\n");
  seed("valid_drop_garbage", 16, "a,b\n1,\"\x01zz\"\"\"\n2,3e999\n");
  seed("valid_late_text", 0, "a\n007\n1.50\n+3\n1e5\n-0\nNA\nseven\n");
  seed("valid_na_changed", 4, "a,b\n?,NA\n2,\n");
  seed("valid_dates", 0,
       "a,b,c\n2020-02-29,1999-12-31,2020-02-29 23:59:59\nNA,2021-02-29,\n1970-01-01,2000-01-01,1970-01-01 00:00:00\n");
  seed("valid_iso_datetimes", 0,
       "a,b,c\n2020-02-29T23:59:59,2020-02-29 23:59,2020-02-29T23:59\nNA,1970-01-01 00:00,2020-02-29 23:59\n");
  seed("valid_space_quoted_datetime", 3, "a b\n\"2020-02-29 23:59:59\" 1\nNA 2\n");
  seed("valid_tab", 2, "a\tb\n\" p \"\t1\n");
  seed("valid_space_one_column", 3, "a\n1\n\n2\n");
  const std::string penguins = read_bytes(LDM_EXAMPLES_DATA_DIR "/penguins.csv");
  seed("valid_penguins_rows", 0, penguins.substr(0, penguins.find('\n', 900) + 1));  // whole rows
  seed("bad_ragged", 0, "a,b\n1,2\n3\n");
  seed("bad_unclosed_quote", 0, "a,b\n\"1,2\n");
  seed("bad_all_missing", 0, "a,b\nNA,1\n,2\n");
  seed("bad_no_rows", 0, "a,b\n");
  seed("bad_duplicate_names", 0, "a,a\n1,2\n");
  seed("bad_many_categories", 32, "a\nv\nw\nx\ny\nz\n");
  seed("bad_declared_numeric", 64, "a,b,c\n1,2,x\n");
  seed("bad_declared_numeric_date", 64, "a,b,c\n1,2,2020-01-01\n");
  seed("bad_long_line", 32, "a\n" + std::string(100, '1') + "\n");
}

void checkpoint_seeds(const fs::path& dir, const fs::path& scratch) {
  // The tiny trained pipeline of the tests: input 3, latent 2, hidden 4, 1 layer, 10 steps, one
  // optimizer step each.
  const ldm::Matrix<float> rows = ldm_test::tiny_rows();
  const ldm::FitOptions fit = ldm_test::tiny_fit_options();
  const auto model = ldm_test::tiny_pipeline(ldm::make_key(7), {"a", "b", "c"});
  const std::string path = (scratch / "model.safetensors").string();
  model.save(path);
  const std::string pipeline = read_bytes(path);
  write_bytes(dir / "valid_pipeline", pipeline);

  ldm::FitRun<float> run(rows, fit, ldm::make_key(7));
  run.run([](const ldm::Progress& p) { return !(std::string(p.phase) == "denoiser"); }, 0, path);
  write_bytes(dir / "valid_fit_checkpoint", read_bytes(path));

  // The same rows trained with labels: a conditional pipeline, whose metadata holds the class
  // names and whose denoiser has label_embed.weight [3 classes + 1, hidden 4].
  const std::vector<std::string> labels{"cat", "dog", "cat", "bird"};
  const auto conditional = ldm::LatentDiffusion<float>::fit(rows, labels, fit, ldm::make_key(7), {}, {"a", "b", "c"});
  conditional.save(path);
  write_bytes(dir / "valid_pipeline_conditional", read_bytes(path));

  // The models alone, as save_models writes them (no kind): load_checkpoint reads it.
  ldm::save_models(path, model.encoder, model.decoder, model.denoiser);
  write_bytes(dir / "valid_models_only", read_bytes(path));

  write_bytes(dir / "bad_num_steps_huge", with_metadata(pipeline, "num_steps", "2000000000"));
  write_bytes(dir / "bad_hidden_size_huge", with_metadata(pipeline, "hidden_size", "2000000000"));
  write_bytes(dir / "bad_input_size", with_metadata(pipeline, "input_size", "4"));
  write_bytes(dir / "bad_column_names", with_metadata(pipeline, "column_names", "[\"a\", 1, {}]"));
  write_bytes(dir / "bad_latent_bound", with_metadata(pipeline, "latent_bound", "nan"));
  write_bytes(dir / "bad_beta_schedule", with_metadata(pipeline, "beta_schedule", "quadratic"));
  write_bytes(dir / "bad_format_version", with_metadata(pipeline, "ldm_format_version", "99"));
  write_bytes(dir / "bad_no_kind", with_metadata(pipeline, "kind", "", true));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds <folder>\n";
    return 2;
  }
  const fs::path root = argv[1];
  for (const char* target : {"safetensors", "csv", "table", "checkpoint"}) fs::create_directories(root / target);
  safetensors_seeds(root / "safetensors");
  csv_seeds(root / "csv");
  table_seeds(root / "table");
  checkpoint_seeds(root / "checkpoint", root);
  fs::remove(root / "model.safetensors");
  return 0;
}
