#include <ldm/data/standardizer.hpp>
#include <ldm/io/checkpoint.hpp>  // save_checkpoint
#include <ldm/io/model_tensors.hpp>

#include <catch2/catch.hpp>

#include "support/test_files.hpp"

#include <cstdint>
#include <string>
#include <vector>

using Catch::Matchers::Contains;
using ldm_test::TempDir;

TEST_CASE("add_tensors, save_checkpoint and assign_tensors store a Standardizer", "[model_tensors]") {
  TempDir dir("io_standardizer");
  const std::string path = dir.file("s.safetensors");
  ldm::Standardizer<double> s;
  s.fit((ldm::Matrix<double>(3, 2) << 1, 5, 2, 5, 4, 5).finished());
  ldm::TensorMap tensors;
  ldm::add_tensors(tensors, "standardizer.", s);
  REQUIRE_THROWS_WITH(ldm::add_tensors(tensors, "standardizer.", s),
                      Contains("'standardizer.mean' is already in the set"));
  ldm::save_checkpoint(path, tensors, {{"columns", "a,b"}});
  const ldm::SafetensorsData data = ldm::read_safetensors(path);
  REQUIRE(data.metadata.at("ldm_format_version") == "1");

  ldm::Standardizer<double> loaded;
  REQUIRE_THROWS_WITH(ldm::assign_tensors(data, "standardizer.", loaded),
                      Contains("'standardizer.mean'") && Contains("shape [2] differs from the model's [0]"));
  REQUIRE_FALSE(loaded.fitted());
  ldm::assign_tensors(data, "standardizer.", loaded, ldm::ShapePolicy::from_file);
  REQUIRE(loaded.mean == s.mean);
  REQUIRE(loaded.scale == s.scale);
  ldm::Standardizer<float> as_float;
  ldm::assign_tensors(data, "standardizer.", as_float, ldm::ShapePolicy::from_file);
  REQUIRE(as_float.mean == s.mean.cast<float>());
  REQUIRE_THROWS_WITH(ldm::assign_tensors(data, "", loaded), Contains("prefix must not be empty"));
}

TEST_CASE("assign_tensors names the tensor whose rank or dtype does not fit, and changes nothing", "[model_tensors]") {
  ldm::Standardizer<float> s;
  s.fit((ldm::Matrix<float>(2, 2) << 1, 2, 3, 4).finished());
  const ldm::Standardizer<float> before = s;
  ldm::SafetensorsData data;
  data.path = "s.safetensors";
  ldm::add_tensors(data.tensors, "standardizer.", s);

  data.tensors["standardizer.mean"] = ldm::to_tensor(ldm::Matrix<float>::Zero(1, 2));
  REQUIRE_THROWS_WITH(ldm::assign_tensors(data, "standardizer.", s, ldm::ShapePolicy::from_file),
                      Contains("s.safetensors") && Contains("tensor 'standardizer.mean'") &&
                          Contains("shape [1, 2] has 2 dimensions, the model's parameter has 1"));
  data.tensors["standardizer.mean"] = ldm::to_tensor(std::vector<std::int64_t>{0, 0});
  REQUIRE_THROWS_WITH(ldm::assign_tensors(data, "standardizer.", s),
                      Contains("tensor 'standardizer.mean'") && Contains("dtype I64 is not a floating-point type"));
  REQUIRE(s.mean == before.mean);
  REQUIRE(s.scale == before.scale);
}
