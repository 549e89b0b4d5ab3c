// ldm/pipeline/options.hpp: FitOptions' defaults, and FitOptions and SampleOptions through JSON.
#include <catch2/catch.hpp>

#include <ldm/pipeline/options.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>

using namespace ldm;

namespace {

// Every leaf of `changed` differs from the same leaf of `defaults`: a field the JSON left out
// would come back as its default, so a round trip of these values shows every field is written.
void require_every_leaf_changed(const nlohmann::json& changed, const nlohmann::json& defaults) {
  const nlohmann::json a = changed.flatten(), b = defaults.flatten();
  REQUIRE(a.size() == b.size());
  for (const auto& [pointer, value] : a.items()) {
    INFO(pointer << " is " << value.dump());
    REQUIRE(b.contains(pointer));
    REQUIRE(value != b.at(pointer));
  }
}

}  // namespace

TEST_CASE("FitOptions' defaults: latent 16, the seed's other sizes, an automatic denoiser warm-up") {
  const FitOptions o;
  CHECK(o.model.input_size == 0);  // set from the rows
  CHECK(o.model.latent_size == 16);
  CHECK(o.model.hidden_size == 256);
  CHECK(o.model.num_layers == 4);
  CHECK(o.model.num_steps == 1000);
  CHECK(o.model.num_classes == 0);
  CHECK(o.denoiser.warmup_steps == auto_warmup);
  CHECK(o.vae.warmup_steps == 0);
  CHECK(o.vae.steps == 5600);
  CHECK(o.denoiser.steps == 6000);
  CHECK(o.denoiser.ema_decay == 0.999);
  CHECK(o.latent_source == LatentSource::posterior_sample);
  const SampleOptions s;
  CHECK(s.guidance == 2.0);
  CHECK(s.clip_to_latent_range);
  CHECK(s.postprocess);
}

TEST_CASE(
    "table_fit_options: from 400 rows a weaker KL term and a longer VAE, a denoiser budget growing with rows from "
    "3000") {
  const FitOptions t = table_fit_options(6021, 12);
  CHECK(t.vae.kl_weight == 1e-5);
  CHECK(t.vae.steps == 20000);
  CHECK(t.vae.cosine_decay);
  CHECK(table_fit_options(400, 12).vae.kl_weight == 1e-5);
  // Under 400 rows: FitOptions' own, but for the denoiser's batch of 128 rows (every table's).
  FitOptions small = FitOptions{};
  small.denoiser.batch_size = 128;
  CHECK(nlohmann::json(table_fit_options(1, 12)) == nlohmann::json(small));
  CHECK(nlohmann::json(table_fit_options(399, 12)) == nlohmann::json(small));
  CHECK(table_fit_options(table_long_vae_rows - 1, 12).vae.kl_weight == FitOptions{}.vae.kl_weight);
  // 2 denoiser steps per row, between 6,000 and 9,000, always of 128 rows.
  CHECK(table_fit_options(3000, 12).denoiser.steps == 6000);
  CHECK(table_fit_options(3000, 12).denoiser.batch_size == 128);
  CHECK(table_fit_options(3001, 12).denoiser.steps == 6002);
  CHECK(table_fit_options(3001, 12).denoiser.batch_size == 128);
  CHECK(table_fit_options(4000, 12).denoiser.steps == 8000);
  CHECK(t.denoiser.steps == 9000);
  CHECK(t.denoiser.batch_size == 128);
  CHECK(table_fit_options(50000, 12).denoiser.steps == 9000);
  CHECK_THROWS_WITH(table_fit_options(0, 12), Catch::Contains("rows"));
  CHECK_THROWS_WITH(table_fit_options(400, 0), Catch::Contains("width"));
  // Everything else is FitOptions' own.
  FitOptions rest = t;
  rest.vae.kl_weight = FitOptions{}.vae.kl_weight;
  rest.vae.steps = FitOptions{}.vae.steps;
  rest.vae.cosine_decay = FitOptions{}.vae.cosine_decay;
  rest.denoiser.steps = FitOptions{}.denoiser.steps;
  rest.denoiser.batch_size = FitOptions{}.denoiser.batch_size;
  CHECK(nlohmann::json(rest) == nlohmann::json(FitOptions{}));
  // An options file over them keeps the keys it leaves out (the ldm command's --options).
  const FitOptions patched = options_from_json(nlohmann::json::parse(R"({"vae": {"steps": 300}})"), t);
  CHECK(patched.vae.steps == 300);
  CHECK(patched.vae.kl_weight == 1e-5);
  CHECK(patched.denoiser.steps == 9000);
}

TEST_CASE("table_fit_options: rows wider than 128 entries get fewer VAE steps, as many weights trained in all") {
  // VAE weights at width w with the default model (latent 16, hidden 256): 144,416 + 513 w.
  const auto weights = [](long long w) { return 144416LL + 513 * w; };
  Options at = FitOptions{}.model;
  at.input_size = 956;
  REQUIRE(vae_param_count(at) == static_cast<std::size_t>(weights(956)));
  CHECK(table_fit_options(400, 128).vae.steps == 20000);
  CHECK(table_fit_options(400, 129).vae.steps == 19951);  // floor(20,000 * 210,080 / 210,593)
  CHECK(table_fit_options(1500, 956).vae.steps == 6618);
  CHECK(table_fit_options(50000, 956).vae.steps == 6618);  // the denoiser's budget is not the width's
  CHECK(table_fit_options(50000, 956).denoiser.steps == 9000);
  // Under 400 rows the 5,600 steps stay until the long VAE's weight budget binds (width 1,182).
  CHECK(table_fit_options(399, 1181).vae.steps == 5600);
  CHECK(table_fit_options(399, 3000).vae.steps == 2495);
  for (const long long w : {1LL, 300LL, 777LL, 5000LL, 100000LL}) {
    const long long steps = table_fit_options(1000, w).vae.steps;
    CHECK(steps * weights(w) <= 20000 * weights(128));
    CHECK((steps == 20000 || (steps + 1) * weights(w) > 20000 * weights(128)));
  }
  // A width beyond int (no model has such an input) clamps instead of overflowing.
  CHECK(table_fit_options(1000, Eigen::Index{1} << 40).vae.steps == 0);
}

TEST_CASE("FitOptions and SampleOptions round-trip through JSON with other values in every nested struct") {
  FitOptions f;
  f.model = {.input_size = 9,
             .latent_size = 3,
             .hidden_size = 14,
             .num_layers = 2,
             .num_steps = 30,
             .time_embedding = TimeEmbedding::raw,
             .num_classes = 4};
  f.schedule = {.num_steps = 31, .beta_start = 2e-4, .beta_end = 0.03, .beta_schedule = BetaSchedule::scaled_linear};
  f.vae = {.steps = 77,
           .batch_size = 33,
           .kl_weight = 0.25,
           .kl_warmup_steps = 12,
           .lr = 5e-4,
           .warmup_steps = 7,
           .cosine_decay = true,
           .weight_decay = 0.01,
           .clip_grad_norm = 2.5};
  f.denoiser = {.steps = 88,
                .batch_size = 44,
                .lr = 7e-4,
                .warmup_steps = 9,
                .cosine_decay = false,
                .weight_decay = 0.02,
                .clip_grad_norm = 0.5,
                .prediction = Prediction::v,
                .min_snr_gamma = 5.0,
                .ema_decay = 0.99,
                .label_dropout = 0.3};
  f.latent_source = LatentSource::mean;
  const nlohmann::json fj = f;
  require_every_leaf_changed(fj, nlohmann::json(FitOptions{}));
  CHECK(fj.at("model").at("time_embedding") == "raw");
  CHECK(fj.at("schedule").at("beta_schedule") == "scaled_linear");
  CHECK(fj.at("denoiser").at("prediction") == "v");
  CHECK(fj.at("latent_source") == "mean");
  const FitOptions fb = fj.get<FitOptions>();
  CHECK(fb.model.input_size == 9);
  CHECK(fb.model.latent_size == 3);
  CHECK(fb.model.hidden_size == 14);
  CHECK(fb.model.num_layers == 2);
  CHECK(fb.model.num_steps == 30);
  CHECK(fb.model.time_embedding == TimeEmbedding::raw);
  CHECK(fb.model.num_classes == 4);
  CHECK(fb.schedule.num_steps == 31);
  CHECK(fb.schedule.beta_start == 2e-4);
  CHECK(fb.schedule.beta_end == 0.03);
  CHECK(fb.schedule.beta_schedule == BetaSchedule::scaled_linear);
  CHECK(fb.vae.steps == 77);
  CHECK(fb.vae.batch_size == 33);
  CHECK(fb.vae.kl_weight == 0.25);
  CHECK(fb.vae.kl_warmup_steps == 12);
  CHECK(fb.vae.lr == 5e-4);
  CHECK(fb.vae.warmup_steps == 7);
  CHECK(fb.vae.cosine_decay);
  CHECK(fb.vae.weight_decay == 0.01);
  CHECK(fb.vae.clip_grad_norm == 2.5);
  CHECK(fb.denoiser.steps == 88);
  CHECK(fb.denoiser.batch_size == 44);
  CHECK(fb.denoiser.lr == 7e-4);
  CHECK(fb.denoiser.warmup_steps == 9);
  CHECK_FALSE(fb.denoiser.cosine_decay);
  CHECK(fb.denoiser.weight_decay == 0.02);
  CHECK(fb.denoiser.clip_grad_norm == 0.5);
  CHECK(fb.denoiser.prediction == Prediction::v);
  CHECK(fb.denoiser.min_snr_gamma == 5.0);
  CHECK(fb.denoiser.ema_decay == 0.99);
  CHECK(fb.denoiser.label_dropout == 0.3);
  CHECK(fb.latent_source == LatentSource::mean);
  CHECK(nlohmann::json(fb) == fj);

  SampleOptions s;
  s.sampler = {.kind = SamplerKind::dpmpp_2m,
               .num_steps = 25,
               .eta = 0.5,
               .spacing = TimestepSpacing::trailing,
               .variance = VarianceType::fixed_large,
               .prediction = Prediction::v,
               .clip_x0 = 3.0};
  s.clip_to_latent_range = false;
  s.postprocess = false;
  s.batch_rows = 123;
  s.max_matrix_bytes = std::uint64_t{5} << 33;  // above 32 bits
  s.guidance = 1.5;
  const nlohmann::json sj = s;
  require_every_leaf_changed(sj, nlohmann::json(SampleOptions{}));
  CHECK(sj.at("sampler").at("kind") == "dpm++2m");
  CHECK(sj.at("sampler").at("spacing") == "trailing");
  CHECK(sj.at("sampler").at("variance") == "fixed_large");
  const SampleOptions sb = sj.get<SampleOptions>();
  CHECK(sb.sampler.kind == SamplerKind::dpmpp_2m);
  CHECK(sb.sampler.num_steps == 25);
  CHECK(sb.sampler.eta == 0.5);
  CHECK(sb.sampler.spacing == TimestepSpacing::trailing);
  CHECK(sb.sampler.variance == VarianceType::fixed_large);
  CHECK(sb.sampler.prediction == Prediction::v);
  CHECK(sb.sampler.clip_x0 == 3.0);
  CHECK_FALSE(sb.clip_to_latent_range);
  CHECK_FALSE(sb.postprocess);
  CHECK(sb.batch_rows == 123);
  CHECK(sb.max_matrix_bytes == std::uint64_t{5} << 33);
  CHECK(sb.guidance == 1.5);
  CHECK(nlohmann::json(sb) == sj);
}
