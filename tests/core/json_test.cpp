// ldm/core/json.hpp: enums as their names, read strictly; what_changed names the first change.
#include <catch2/catch.hpp>

#include <ldm/core/json.hpp>
#include <ldm/diffusion/samplers.hpp>
#include <ldm/diffusion/schedule.hpp>
#include <ldm/nn/layers.hpp>

using Catch::Matchers::Equals;

TEST_CASE("an enum is written as its name and read back") {
  CHECK(nlohmann::json(ldm::SamplerKind::dpmpp_2m) == "dpm++2m");
  CHECK(nlohmann::json(ldm::BetaSchedule::scaled_linear) == "scaled_linear");
  CHECK(nlohmann::json(ldm::TimeEmbedding::raw) == "raw");
  CHECK(nlohmann::json("cosine").get<ldm::BetaSchedule>() == ldm::BetaSchedule::cosine);
  CHECK(nlohmann::json("linspace").get<ldm::TimestepSpacing>() == ldm::TimestepSpacing::linspace);
  for (const auto& [value, name] : enum_names(ldm::VarianceType{})) {
    CHECK(std::string(ldm::enum_name(value)) == name);
    CHECK(ldm::enum_from_name<ldm::VarianceType>(name, "variance") == value);
  }
}

TEST_CASE("an unknown enum name is refused with the known ones, never read as a default") {
  CHECK_THROWS_WITH(ldm::enum_from_name<ldm::SamplerKind>("euler", "--sampler"),
                    Equals("--sampler must be ddpm, ddim or dpm++2m, got 'euler'"));
  CHECK_THROWS_WITH(ldm::enum_from_name<ldm::Prediction>("x0", "prediction"),
                    Equals("prediction must be epsilon or v, got 'x0'"));
  CHECK_THROWS_AS(nlohmann::json("Linear").get<ldm::BetaSchedule>(), std::invalid_argument);  // case matters
  // nlohmann's own enum mapping would read 1 as the second value; here a number is an error.
  CHECK_THROWS_WITH(nlohmann::json(1).get<ldm::BetaSchedule>(),
                    Equals("must be linear, scaled_linear or cosine, got 1"));
  CHECK_THROWS_WITH(nlohmann::json("fourier").get<ldm::TimeEmbedding>(),
                    Equals("must be normalized or raw, got 'fourier'"));
  CHECK(ldm::enum_name_list<ldm::TimeEmbedding>() == "normalized or raw");
}

TEST_CASE("options structs round-trip through JSON and keep defaults for missing keys") {
  ldm::SamplerOptions o;
  o.kind = ldm::SamplerKind::ddpm;
  o.num_steps = 20;
  o.eta = 0.25;
  o.clip_x0 = 3.5;
  const nlohmann::json j = o;
  CHECK(j.at("kind") == "ddpm");
  CHECK(j.at("eta") == 0.25);
  const auto back = j.get<ldm::SamplerOptions>();
  CHECK(nlohmann::json(back) == j);
  // A file written before a field existed: the field keeps its default.
  const auto partial = nlohmann::json{{"num_steps", 7}}.get<ldm::ScheduleOptions>();
  CHECK(partial.num_steps == 7);
  CHECK(partial.beta_start == ldm::ScheduleOptions{}.beta_start);
  CHECK(partial.beta_schedule == ldm::BetaSchedule::linear);
}

TEST_CASE("what_changed names the first changed leaf with both values") {
  const nlohmann::json before = {{"model", {{"latent_size", 16}, {"hidden_size", 256}}}, {"lr", 0.001}};
  CHECK(ldm::detail::what_changed(before, before).empty());
  nlohmann::json now = before;
  now["model"]["hidden_size"] = 128;
  CHECK(ldm::detail::what_changed(before, now) == "model.hidden_size was 256, now 128");
  now = before;
  now["lr"] = 0.5;
  CHECK(ldm::detail::what_changed(before, now) == "lr was 0.001, now 0.5");
  now = before;
  now["extra"] = true;
  CHECK(ldm::detail::what_changed(before, now) == "extra was not set, now true");
  now = before;
  now["model"].erase("latent_size");
  CHECK(ldm::detail::what_changed(before, now) == "model.latent_size was 16, now not set");
  CHECK(ldm::detail::what_changed(nlohmann::json(1), nlohmann::json(2)) == "the value was 1, now 2");
}

namespace {

// Options nested as the pipeline's are: a member whose default differs from its type's default.
struct NestedOptions {
  ldm::ScheduleOptions schedule{.num_steps = 50};
  ldm::SamplerOptions sampler{};
  int rows = 3;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NestedOptions, schedule, sampler, rows)

}  // namespace

TEST_CASE("options_from_json replaces the keys it is given and keeps the base's nested defaults") {
  const auto o = ldm::options_from_json<NestedOptions>(
      {{"schedule", {{"beta_schedule", "cosine"}}}, {"sampler", {{"eta", 0.5}}}, {"rows", 7}});
  CHECK(o.schedule.beta_schedule == ldm::BetaSchedule::cosine);
  CHECK(o.schedule.num_steps == 50);  // NestedOptions' default, not ScheduleOptions' 1000
  CHECK(o.sampler.eta == 0.5);
  CHECK(o.rows == 7);
  CHECK(ldm::options_from_json<NestedOptions>(nlohmann::json::object()).schedule.num_steps == 50);
  NestedOptions base;
  base.rows = 9;
  CHECK(ldm::options_from_json<NestedOptions>({{"sampler", {{"num_steps", 20}}}}, base).rows == 9);
  CHECK(ldm::options_from_json<NestedOptions>({{"rows", 4.0}}).rows == 4);  // a number is a number
}

TEST_CASE("options_from_json refuses an unknown key, a value of the wrong kind and a bad name, naming the key") {
  CHECK_THROWS_WITH(ldm::options_from_json<NestedOptions>({{"schedule", {{"num_stepz", 5}}}}),
                    Catch::Matchers::StartsWith("unknown key 'schedule.num_stepz' (known here: ") &&
                        Catch::Matchers::Contains("num_steps"));
  CHECK_THROWS_WITH(ldm::options_from_json<NestedOptions>({{"extra", 1}}),
                    Catch::Matchers::StartsWith("unknown key 'extra'"));
  CHECK_THROWS_WITH(ldm::options_from_json<NestedOptions>({{"rows", "7"}}), Equals("rows must be like 3, got \"7\""));
  CHECK_THROWS_WITH(ldm::options_from_json<NestedOptions>({{"sampler", 1}}),
                    Catch::Matchers::StartsWith("sampler must be like {"));
  CHECK_THROWS_WITH(ldm::options_from_json<NestedOptions>({{"sampler", {{"kind", "euler"}}}}),
                    Equals("sampler.kind: must be ddpm, ddim or dpm++2m, got 'euler'"));
  CHECK_THROWS_WITH(ldm::options_from_json<NestedOptions>(nlohmann::json::array()),
                    Equals("options must be a JSON object, got []"));
}
