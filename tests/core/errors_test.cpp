// Tests of core/errors.hpp: FormatError's message and fields, TrainingError's type, and the
// message builder detail::concat.
#include <ldm/core/errors.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <type_traits>

TEST_CASE("FormatError: '<where>: <file>: tensor '<name>': <what>', the file and the tensor kept") {
  const ldm::FormatError e("read_safetensors", "model.safetensors", "encoder.w", "shape [2] needs 8 bytes, has 4");
  REQUIRE(std::string(e.what()) ==
          "read_safetensors: model.safetensors: tensor 'encoder.w': shape [2] needs 8 bytes, has 4");
  REQUIRE(e.file() == "model.safetensors");
  REQUIRE(e.tensor() == "encoder.w");
}

TEST_CASE("FormatError: without a tensor the message is about the file as a whole") {
  const ldm::FormatError e("load_checkpoint", "/tmp/a b.safetensors", "", "metadata 'kind' is missing");
  REQUIRE(std::string(e.what()) == "load_checkpoint: /tmp/a b.safetensors: metadata 'kind' is missing");
  REQUIRE(e.file() == "/tmp/a b.safetensors");
  REQUIRE(e.tensor().empty());
}

TEST_CASE("FormatError and TrainingError are std::runtime_errors, caught as such") {
  STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, ldm::FormatError>);
  STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, ldm::TrainingError>);
  STATIC_REQUIRE_FALSE(std::is_base_of_v<std::invalid_argument, ldm::FormatError>);
  STATIC_REQUIRE_FALSE(std::is_base_of_v<ldm::FormatError, ldm::TrainingError>);
  REQUIRE_THROWS_AS(throw ldm::FormatError("w", "f", "t", "x"), std::runtime_error);
  REQUIRE_THROWS_WITH(throw ldm::FormatError("w", "f", "t", "x"), "w: f: tensor 't': x");
  REQUIRE_THROWS_AS(throw ldm::TrainingError("the loss is nan at step 3"), std::runtime_error);
  REQUIRE_THROWS_WITH(throw ldm::TrainingError("the loss is nan at step 3"), "the loss is nan at step 3");
  try {
    throw ldm::TrainingError("stopped");
  } catch (const std::runtime_error& e) {
    REQUIRE(dynamic_cast<const ldm::TrainingError*>(&e) != nullptr);
    REQUIRE(dynamic_cast<const ldm::FormatError*>(&e) == nullptr);
  }
}

TEST_CASE("detail::concat streams its parts into one string") {
  REQUIRE(ldm::detail::concat("got ", 3, " rows") == "got 3 rows");
  REQUIRE(ldm::detail::concat() == "");
  REQUIRE(ldm::detail::concat(std::string("a"), 'b', "c") == "abc");
  REQUIRE(ldm::detail::concat(-7L, "x", 2u) == "-7x2");
  REQUIRE(ldm::detail::concat(0.5, " ", 1e-3, " ", 2.0) == "0.5 0.001 2");  // as an ostream writes them
  REQUIRE(ldm::detail::concat(1.0 / 3.0) == "0.333333");                    // default precision, 6 digits
}
