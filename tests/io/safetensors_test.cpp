#include <ldm/io/safetensors.hpp>

#include <catch2/catch.hpp>

#include "support/safetensors_bytes.hpp"
#include "support/test_files.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

using Catch::Matchers::Contains;
using ldm_test::le64;
using ldm_test::read_bytes;
using ldm_test::safetensors_file;
using ldm_test::TempDir;
using ldm_test::write_bytes;

namespace {

std::string f32_bytes(std::initializer_list<float> values) {
  std::string s;
  for (const float v : values) {
    const auto bits = std::bit_cast<std::uint32_t>(v);
    for (int i = 0; i < 4; ++i) s += static_cast<char>((bits >> (8 * i)) & 0xff);
  }
  return s;
}

template <class M>
bool same_bits(const M& a, const M& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(typename M::Scalar) * static_cast<std::size_t>(a.size())) == 0;
}

// Every awkward value a float type has: zeros, subnormals, extremes, infinities, NaN.
template <class S>
ldm::Matrix<S> awkward_values() {
  using L = std::numeric_limits<S>;
  ldm::Matrix<S> m(3, 4);
  m << S(0), -S(0), L::denorm_min(), -L::denorm_min(),  //
      L::min(), L::max(), L::lowest(), L::epsilon(),    //
      L::infinity(), -L::infinity(), L::quiet_NaN(), S(1) / S(3);
  return m;
}

template <class S>
void check_round_trip() {
  TempDir dir(std::string("round_trip_") + ldm::dtype_name<S>());
  const ldm::Matrix<S> m = awkward_values<S>();
  ldm::Vector<S> v(5);
  v << S(-1.5), S(2.25), std::nextafter(S(1), S(2)), S(1e-30), S(123456.789);
  ldm::TensorMap tensors;
  tensors["layer.weight"] = ldm::to_tensor(m);
  tensors["layer.bias"] = ldm::to_tensor(v);
  tensors["empty"] = ldm::to_tensor(ldm::Matrix<S>(0, 3));
  const std::string path = dir.file("m.safetensors");
  ldm::write_safetensors(path, tensors, {{"note", "round trip"}, {"unicode", "\xc3\xa9t\xc3\xa9"}});

  const ldm::SafetensorsData data = ldm::read_safetensors(path);
  REQUIRE(data.path == path);
  REQUIRE(data.tensors.size() == 3);
  REQUIRE(data.metadata == ldm::MetadataMap{{"note", "round trip"}, {"unicode", "\xc3\xa9t\xc3\xa9"}});
  const ldm::Tensor& w = data.at("layer.weight");
  REQUIRE(w.dtype == ldm::dtype_name<S>());
  REQUIRE(w.shape == std::vector<std::int64_t>{3, 4});
  REQUIRE(data.at("layer.bias").shape == std::vector<std::int64_t>{5});
  REQUIRE(data.at("empty").shape == std::vector<std::int64_t>{0, 3});
  REQUIRE(same_bits(data.matrix<S>("layer.weight"), m));
  REQUIRE(same_bits(data.vector<S>("layer.bias"), v));
  REQUIRE(data.matrix<S>("empty").size() == 0);
  // The header is padded to a multiple of 8 bytes, with spaces.
  const std::string bytes = read_bytes(path);
  std::uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);
  REQUIRE(header_size % 8 == 0);
  REQUIRE(bytes.size() == 8 + header_size + (12 + 5) * sizeof(S));
}

}  // namespace

TEST_CASE("write_safetensors then read_safetensors is bit-exact for float and double", "[safetensors]") {
  check_round_trip<float>();
  check_round_trip<double>();
}

TEST_CASE("the writer reproduces the reference implementation's test vectors byte for byte", "[safetensors]") {
  // huggingface/safetensors, safetensors/src/tensor.rs: test_serialization,
  // test_serialization_forced_alignement and test_empty.
  TempDir dir("reference_vectors");
  const std::string path = dir.file("t.safetensors");
  ldm::Tensor t{"F32", {1, 2, 3}, {}};
  const std::string values = f32_bytes({0, 1, 2, 3, 4, 5});
  t.bytes.assign(values.begin(), values.end());

  ldm::write_safetensors(path, {{"attn.0", t}});
  REQUIRE(read_bytes(path) ==
          safetensors_file(R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})", values));

  t.shape = {1, 1, 2, 3};
  ldm::write_safetensors(path, {{"attn0", t}});
  REQUIRE(read_bytes(path) ==
          safetensors_file(R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       )", values));

  ldm::write_safetensors(path, {});
  REQUIRE(read_bytes(path) == safetensors_file("{}      "));
  ldm::write_safetensors(path, {}, {{"framework", "pt"}});
  REQUIRE(read_bytes(path) == safetensors_file(R"({"__metadata__":{"framework":"pt"}}     )"));

  // And the reader takes them back.
  ldm::write_safetensors(path, {{"attn.0", t}});
  REQUIRE(ldm::read_safetensors(path).at("attn.0").bytes == t.bytes);
}

TEST_CASE("the writer puts larger elements first so every tensor is aligned", "[safetensors]") {
  TempDir dir("alignment");
  const std::string path = dir.file("t.safetensors");
  ldm::TensorMap tensors;
  tensors["a_float"] = ldm::to_tensor(ldm::Vector<float>::Constant(3, 1.0f));  // 12 bytes
  tensors["b_double"] = ldm::to_tensor(ldm::Vector<double>::Constant(2, 2.0));
  tensors["c_int"] = ldm::to_tensor(std::vector<std::int64_t>{-7, 1LL << 40});
  ldm::write_safetensors(path, tensors);
  const std::string bytes = read_bytes(path);
  REQUIRE_THAT(bytes, Contains(R"("b_double":{"dtype":"F64","shape":[2],"data_offsets":[0,16]})"));
  REQUIRE_THAT(bytes, Contains(R"("c_int":{"dtype":"I64","shape":[2],"data_offsets":[16,32]})"));
  REQUIRE_THAT(bytes, Contains(R"("a_float":{"dtype":"F32","shape":[3],"data_offsets":[32,44]})"));
  const ldm::SafetensorsData data = ldm::read_safetensors(path);
  REQUIRE(data.integers("c_int") == std::vector<std::int64_t>{-7, 1LL << 40});
  REQUIRE(data.vector<double>("b_double") == ldm::Vector<double>::Constant(2, 2.0));
  REQUIRE(data.vector<float>("a_float") == ldm::Vector<float>::Constant(3, 1.0f));
}

TEST_CASE("F16 and BF16 tensors in a file decode exactly into float and double", "[safetensors]") {
  // The bit patterns are those of dtype_test's "F16 and BF16 decode exactly".
  TempDir dir("half");
  const std::string path = dir.file("h.safetensors");
  const std::string f16 = std::string("\x00\x3c\xff\x7b\x01\x00\x00\xc0", 8);
  const std::string bf16 = std::string("\x80\x3f\x49\x40", 4);
  write_bytes(path, safetensors_file(R"({"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},)"
                                     R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}})",
                                     f16 + bf16));
  const ldm::SafetensorsData data = ldm::read_safetensors(path);
  ldm::Matrix<double> h(2, 2);
  h << 1.0, 65504.0, std::ldexp(1.0, -24), -2.0;
  REQUIRE(data.matrix<double>("h") == h);
  REQUIRE(data.matrix<float>("h") == h.cast<float>());
  REQUIRE(data.vector<double>("b") == (ldm::Vector<double>(2) << 1.0, 3.140625).finished());
}

TEST_CASE("integer tensors decode with their sign", "[safetensors]") {
  TempDir dir("integers");
  const std::string path = dir.file("i.safetensors");
  const std::string i32 = std::string("\xff\xff\xff\xff\x02\x00\x00\x00", 8);  // -1, 2
  const std::string u8 = std::string("\xff\x01", 2);                           // 255, 1
  write_bytes(path, safetensors_file(R"({"i":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("u":{"dtype":"U8","shape":[1,2],"data_offsets":[8,10]}})",
                                     i32 + u8));
  const ldm::SafetensorsData data = ldm::read_safetensors(path);
  REQUIRE(data.integers("i") == std::vector<std::int64_t>{-1, 2});
  REQUIRE(data.integers("u") == std::vector<std::int64_t>{255, 1});
  REQUIRE_THROWS_WITH(data.vector<float>("i"), Contains(path) && Contains("'i'") && Contains("not a floating-point"));
  REQUIRE_THROWS_WITH(data.matrix<float>("u"), Contains("not a floating-point"));
  REQUIRE_THROWS_WITH(data.matrix<float>("i"), Contains("expected 2 dimensions, got shape [2]"));
  REQUIRE_THROWS_WITH(data.vector<float>("u"), Contains("expected 1 dimensions"));
  REQUIRE_THROWS_WITH(data.at("nope"), Contains(path) && Contains("'nope'") && Contains("no such tensor"));
  REQUIRE_THROWS_AS(data.at("nope"), ldm::FormatError);
}

TEST_CASE("the reader accepts what the format allows", "[safetensors]") {
  TempDir dir("accepts");
  const std::string path = dir.file("ok.safetensors");

  SECTION("tensors listed out of offset order, unknown fields, null metadata, trailing spaces") {
    write_bytes(path, safetensors_file(R"({"b":{"data_offsets":[4,8],"shape":[1],"dtype":"F32",)"
                                       R"("extra":{"x":[1,{"y":[2,3]}],"z":null}},)"
                                       R"("a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                                       R"("__metadata__":null}   )",
                                       f32_bytes({1.5f, -2.0f})));
    const ldm::SafetensorsData data = ldm::read_safetensors(path);
    REQUIRE(data.metadata.empty());
    REQUIRE(data.at("a").shape.empty());
    REQUIRE(ldm::numel(data.at("a")) == 1);
    REQUIRE(data.vector<float>("b")(0) == -2.0f);
  }
  SECTION("a zero-size tensor may claim a huge dimension: nothing is allocated for it") {
    write_bytes(path,
                safetensors_file(R"({"z":{"dtype":"F64","shape":[0,9223372036854775807],"data_offsets":[0,0]}})"));
    const ldm::SafetensorsData data = ldm::read_safetensors(path);
    REQUIRE(data.at("z").shape == std::vector<std::int64_t>{0, 9223372036854775807LL});
    REQUIRE(data.at("z").bytes.empty());
  }
  SECTION("no tensors at all") {
    write_bytes(path, safetensors_file("{}"));
    REQUIRE(ldm::read_safetensors(path).tensors.empty());
  }
}

TEST_CASE("the reader rejects every malformed file, naming the file and the tensor", "[safetensors]") {
  TempDir dir("rejects");
  const std::string path = dir.file("bad.safetensors");
  const std::string four = f32_bytes({1.0f});
  const auto rejects = [&](const std::string& bytes, const std::string& tensor, const std::string& reason) {
    write_bytes(path, bytes);
    INFO("expecting: " << reason);
    REQUIRE_THROWS_AS(ldm::read_safetensors(path), ldm::FormatError);
    try {
      ldm::read_safetensors(path);
    } catch (const ldm::FormatError& e) {
      REQUIRE_THAT(e.what(), Contains(path) && Contains(reason));
      REQUIRE(e.file() == path);
      REQUIRE(e.tensor() == tensor);
      if (!tensor.empty()) REQUIRE_THAT(e.what(), Contains("tensor '" + tensor + "'"));
    }
  };
  const auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape,
                        const std::string& offsets) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
  };

  // The file and header frame (the reference's HeaderTooSmall, HeaderTooLarge,
  // InvalidHeaderLength, InvalidHeaderStart, InvalidHeaderDeserialization).
  rejects("", "", "0 bytes, fewer than the 8");
  rejects("abcdefg", "", "7 bytes, fewer than the 8");
  rejects(le64(0), "", "the header is empty");
  rejects(le64(100) + "{}", "", "header length 100 runs past the end of the file (10 bytes)");
  rejects(le64(100'000'001) + "{}", "", "header length 100000001 is above the limit of 100000000");
  rejects(le64(~0ULL) + "{}", "", "above the limit");
  rejects(safetensors_file("[1, 2]"), "", "does not start with '{'");
  rejects(safetensors_file(" {}"), "", "does not start with '{'");
  rejects(safetensors_file("{not json}"), "", "not valid JSON");
  rejects(safetensors_file("{}x"), "", "not valid JSON");
  rejects(safetensors_file("{\"\xff\":1}"), "", "not valid JSON");  // not UTF-8
  rejects(safetensors_file(std::string("{}\0\0", 4)), "", "contains a NUL byte");

  // Entries that are not of the expected structure.
  rejects(safetensors_file(R"({"w":"x"})"), "w", "expected an object with dtype, shape and data_offsets");
  rejects(safetensors_file(R"({"w":{"dtype":"F32","shape":[1]}})"), "w", "missing field 'data_offsets'");
  rejects(safetensors_file(R"({"w":{"dtype":"F32","shape":[1],"shape":[1],"data_offsets":[0,4]}})", four), "w",
          "field 'shape' appears twice");
  rejects(safetensors_file(R"({"w":{"dtype":5,"shape":[1],"data_offsets":[0,4]}})", four), "w",
          "dtype must be a string");
  rejects(safetensors_file("{" + entry("w", "F17", "[1]", "[0,4]") + "}", four), "w", "unknown dtype 'F17'");
  rejects(safetensors_file("{" + entry("w", "F32", "[-1]", "[0,4]") + "}", four), "w",
          "shape must be an array of non-negative");
  rejects(safetensors_file("{" + entry("w", "F32", "[1.0]", "[0,4]") + "}", four), "w",
          "shape must be an array of non-negative");
  rejects(safetensors_file("{" + entry("w", "F32", "3", "[0,4]") + "}", four), "w", "shape must be an array");
  rejects(safetensors_file("{" + entry("w", "F32", "[9223372036854775808]", "[0,4]") + "}", four), "w", "too large");
  std::string rank65 = "[1";
  for (int i = 0; i < 64; ++i) rank65 += ",1";
  rejects(safetensors_file("{" + entry("w", "F32", rank65 + "]", "[0,4]") + "}", four), "w", "more than 64 dimensions");
  rejects(safetensors_file("{" + entry("w", "F32", "[1]", "[0]") + "}", four), "w", "exactly 2 integers, got 1");
  rejects(safetensors_file("{" + entry("w", "F32", "[1]", "[0,4,8]") + "}", four), "w", "exactly 2 integers, got more");
  rejects(safetensors_file(R"({"__metadata__":{"k":1}})"), "__metadata__", "the value of 'k' must be a string");
  rejects(safetensors_file(R"({"__metadata__":[]})"), "__metadata__", "expected an object of strings");
  rejects(safetensors_file(R"({"__metadata__":{"k":"a","k":"b"}})"), "__metadata__", "key 'k' appears twice");

  // Duplicate names (JSON parsers usually keep the last one silently).
  rejects(
      safetensors_file("{" + entry("w", "F32", "[1]", "[0,4]") + "," + entry("w", "F32", "[1]", "[0,4]") + "}", four),
      "w", "appears twice");

  // Sizes and offsets (the reference's TensorInvalidInfo, ValidationOverflow, InvalidOffset,
  // MetadataIncompleteBuffer).
  rejects(safetensors_file("{" + entry("w", "F32", "[2]", "[0,4]") + "}", four), "w",
          "shape [2] and dtype F32 need 8 bytes, but data_offsets [0, 4] span 4");
  rejects(safetensors_file("{" + entry("w", "F32", "[4294967296,4294967296]", "[0,4]") + "}", four), "w", "overflows");
  rejects(safetensors_file("{" + entry("w", "F32", "[1]", "[4,8]") + "}", four + four), "w", "must start at offset 0");
  rejects(safetensors_file("{" + entry("w", "F32", "[1]", "[8,4]") + "}", four + four), "w", "end before they begin");
  rejects(safetensors_file("{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[1]", "[8,12]") + "}",
                           four + four + four),
          "b", "the previous tensor ends at 4, leaving a gap");
  rejects(safetensors_file("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[1]", "[4,8]") + "}",
                           four + four),
          "b", "the previous tensor ends at 8, so they overlap");
  rejects(safetensors_file("{" + entry("w", "F32", "[1]", "[0,4]") + "}", four + "x"), "w",
          "the tensors cover 4 bytes of data but the file holds 5");
  rejects(safetensors_file("{" + entry("w", "F32", "[2]", "[0,8]") + "}", four), "w",
          "the tensors cover 8 bytes of data but the file holds 4");
  rejects(safetensors_file("{}", four), "", "the tensors cover 0 bytes of data but the file holds 4");
  // A huge claim is refused from the header alone: no 4 GB buffer is ever allocated.
  rejects(safetensors_file("{" + entry("w", "F32", "[1000000000]", "[0,4000000000]") + "}", four), "w",
          "cover 4000000000 bytes");
}

TEST_CASE("read_safetensors names a file it cannot open", "[safetensors]") {
  TempDir dir("missing");
  const std::string path = dir.file("absent.safetensors");
  REQUIRE_THROWS_WITH(ldm::read_safetensors(path), Contains(path) && Contains("No such file"));
}

TEST_CASE("write_safetensors refuses inconsistent tensors and writes nothing", "[safetensors]") {
  TempDir dir("write_checks");
  const std::string path = dir.file("w.safetensors");
  ldm::Tensor bad{"F32", {3}, std::vector<unsigned char>(8)};
  REQUIRE_THROWS_WITH(ldm::write_safetensors(path, {{"bad", bad}}),
                      Contains(path) && Contains("'bad'") && Contains("need 12 bytes, but it holds 8"));
  bad = {"Q4", {1}, std::vector<unsigned char>(1)};
  REQUIRE_THROWS_WITH(ldm::write_safetensors(path, {{"q", bad}}), Contains("'q'") && Contains("unknown dtype 'Q4'"));
  bad = {"F32", {-1}, {}};
  REQUIRE_THROWS_WITH(ldm::write_safetensors(path, {{"n", bad}}), Contains("negative dimension"));
  REQUIRE_THROWS_WITH(ldm::write_safetensors(path, {{"__metadata__", ldm::to_tensor(ldm::Vector<float>(1))}}),
                      Contains("reserved"));
  REQUIRE_THROWS_WITH(ldm::write_safetensors(path, {}, {{"k", "\xff"}}), Contains("not valid UTF-8"));
  REQUIRE(dir.entries().empty());
}

TEST_CASE("saving is atomic: a failed save leaves the old file and no temporary file", "[safetensors]") {
  TempDir dir("atomic");
  const std::string path = dir.file("model.safetensors");
  ldm::write_safetensors(path, {{"w", ldm::to_tensor(ldm::Vector<float>::Constant(4, 1.0f))}});
  const std::string old_bytes = read_bytes(path);
  REQUIRE(dir.entries() == std::vector<std::string>{"model.safetensors"});

  SECTION("a write interrupted by an exception") {
    try {
      ldm::AtomicFile file(path);
      file.write("half a file");
      REQUIRE(std::filesystem::exists(file.temp_path()));
      REQUIRE(file.temp_path().rfind(path + ".tmp-", 0) == 0);  // same folder
      throw std::runtime_error("simulated crash");
    } catch (const std::runtime_error& e) {
      REQUIRE(std::string(e.what()) == "simulated crash");
    }
    REQUIRE(read_bytes(path) == old_bytes);
    REQUIRE(dir.entries() == std::vector<std::string>{"model.safetensors"});
  }
  SECTION("the rename fails (the target is a folder)") {
    const std::string folder = dir.file("folder.safetensors");
    std::filesystem::create_directory(folder);
    std::filesystem::create_directory(folder + "/inside");
    REQUIRE_THROWS_WITH(ldm::write_safetensors(folder, {{"w", ldm::to_tensor(ldm::Vector<float>(2))}}),
                        Contains("cannot rename") && Contains(folder));
    REQUIRE(std::filesystem::is_directory(folder + "/inside"));
    REQUIRE(read_bytes(path) == old_bytes);
    REQUIRE(dir.entries().size() == 2);  // model.safetensors and the folder: no temporary file
  }
  SECTION("the folder does not exist") {
    const std::string nowhere = dir.file("no/such/folder/model.safetensors");
    REQUIRE_THROWS_WITH(ldm::write_safetensors(nowhere, {}),
                        Contains(nowhere) && Contains("No such file or directory"));
    REQUIRE(dir.entries() == std::vector<std::string>{"model.safetensors"});
  }
  SECTION("a successful save replaces the file and leaves nothing else") {
    ldm::write_safetensors(path, {{"w", ldm::to_tensor(ldm::Vector<float>::Constant(4, 2.0f))}});
    REQUIRE(ldm::read_safetensors(path).vector<float>("w") == ldm::Vector<float>::Constant(4, 2.0f));
    REQUIRE(dir.entries() == std::vector<std::string>{"model.safetensors"});
  }
  SECTION("commit twice is a usage error") {
    ldm::AtomicFile file(path);
    file.write(old_bytes);
    file.commit();
    REQUIRE_THROWS_AS(file.commit(), std::logic_error);
    REQUIRE(read_bytes(path) == old_bytes);
  }
}

TEST_CASE("read_safetensors_from_memory reads what read_safetensors reads, and refuses the same", "[safetensors]") {
  TempDir dir("from_memory");
  const std::string path = dir.file("m.safetensors");
  ldm::write_safetensors(
      path, {{"w", ldm::to_tensor(awkward_values<float>())}, {"b", ldm::to_tensor(ldm::Vector<double>::Ones(3))}},
      {{"k", "v"}});
  const std::string bytes = read_bytes(path);
  const ldm::SafetensorsData from_file = ldm::read_safetensors(path);
  const ldm::SafetensorsData from_memory = ldm::read_safetensors_from_memory(bytes, "buffer");
  REQUIRE(from_memory.path == "buffer");
  REQUIRE(from_memory.metadata == from_file.metadata);
  REQUIRE(from_memory.tensors.size() == 2);
  for (const auto& [name, t] : from_file.tensors) {
    REQUIRE(from_memory.at(name).dtype == t.dtype);
    REQUIRE(from_memory.at(name).shape == t.shape);
    REQUIRE(from_memory.at(name).bytes == t.bytes);
  }
  REQUIRE(ldm::read_safetensors_from_memory(bytes).path == "(memory)");
  // Every prefix of a valid file is refused with FormatError, never read past its end.
  for (std::size_t n = 0; n < bytes.size(); ++n)
    REQUIRE_THROWS_AS(ldm::read_safetensors_from_memory(std::string_view(bytes).substr(0, n), "buffer"),
                      ldm::FormatError);
  REQUIRE_THROWS_WITH(ldm::read_safetensors_from_memory(bytes.substr(0, 7), "buffer"),
                      Contains("read_safetensors: buffer: the file has 7 bytes, fewer than the 8"));
  // A folder opens but is not a file.
  REQUIRE_THROWS_WITH(ldm::read_safetensors(dir.path.string()), Contains(dir.path.string() + " is not a regular file"));
}
