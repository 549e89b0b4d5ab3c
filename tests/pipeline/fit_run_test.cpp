// ldm/pipeline/fit_run.hpp: a run stopped and resumed ends bit-identical to one run (in either
// phase, from periodic checkpoints, with labels); a resume on other data, options or seed is
// refused.
#include <catch2/catch.hpp>

#include <ldm/pipeline/fit_run.hpp>

#include "support/pipeline_data.hpp"
#include "support/same_model.hpp"
#include "support/test_files.hpp"
#include "support/thread_ranks.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace ldm;
using Catch::Matchers::Contains;
using ldm_test::cluster_rows;
using ldm_test::Labelled;
using ldm_test::three_classes;
using ldm_test::tiny_conditional_fit;

namespace {

FitOptions tiny_fit() {
  FitOptions o;
  o.model = {.latent_size = 2, .hidden_size = 8, .num_layers = 1, .num_steps = 20};
  o.vae = {.steps = 40,
           .batch_size = 16,
           .kl_weight = 1e-3,
           .kl_warmup_steps = 10,
           .lr = 3e-3,
           .warmup_steps = 5,
           .cosine_decay = true,
           .clip_grad_norm = 1.0};
  o.denoiser = {.steps = 40, .batch_size = 16, .lr = 2e-3, .warmup_steps = 5, .ema_decay = 0.9};
  return o;
}

// Every leaf of j as a JSON pointer ("/denoiser/ema_decay"), recursing into objects.
void leaf_pointers(const nlohmann::json& j, const std::string& pointer, std::vector<std::string>& out) {
  if (j.is_object())
    for (const auto& [key, value] : j.items()) leaf_pointers(value, pointer + "/" + key, out);
  else
    out.push_back(pointer);
}

// Another valid value of an option: integers + 2 (auto_warmup -> 0), booleans flipped, doubles
// x 0.5 + 0.01 (x 0.5 where that would be x itself: beta_end 0.02), enum names swapped for
// another name of the same enum.
nlohmann::json changed_value(const nlohmann::json& value) {
  if (value.is_boolean()) return !value.get<bool>();
  if (value.is_number_integer()) {
    const long long x = value.get<long long>();
    return x == auto_warmup ? 0 : x + 2;
  }
  if (value.is_number_float()) {
    const double x = value.get<double>();
    return x * 0.5 + 0.01 != x ? x * 0.5 + 0.01 : x * 0.5;
  }
  if (value.is_string()) {
    const std::map<std::string, std::string> other{
        {"epsilon", "v"},      {"v", "epsilon"},      {"linear", "cosine"},         {"cosine", "linear"},
        {"normalized", "raw"}, {"raw", "normalized"}, {"posterior_sample", "mean"}, {"mean", "posterior_sample"}};
    return other.at(value.get<std::string>());
  }
  throw std::logic_error("changed_value: no rule for " + value.dump());
}

}  // namespace

TEST_CASE("FitRun: a run stopped in either phase and resumed ends bit-identical to one run") {
  const ldm_test::TempDir dir("pipeline_resume");
  const Matrix<float> rows = cluster_rows(make_key(11), 50);
  const Key key = make_key(12);
  FitRun<float> whole(rows, tiny_fit(), key);
  REQUIRE(whole.run());
  REQUIRE(whole.phase() == FitRun<float>::Phase::done);
  const LatentDiffusion<float> reference = whole.model();

  for (const std::string stop_phase : {"vae", "denoiser"}) {
    const std::string path = dir.file("resume_" + stop_phase + ".safetensors");
    FitRun<float> first(rows, tiny_fit(), key);
    const auto stop_at_17 = [&](const Progress& p) { return !(p.phase == stop_phase && p.step == 17); };
    REQUIRE_FALSE(first.run(stop_at_17, 0, path));
    REQUIRE(std::string(FitRun<float>::phase_name(first.phase())) == stop_phase);
    REQUIRE(first.step() == 17);
    FitRun<float> second(rows, tiny_fit(), key);
    second.resume(path);
    REQUIRE(second.step() == 17);
    REQUIRE(second.run());
    INFO("stopped in the " << stop_phase << " phase");
    REQUIRE(ldm_test::same_model(second.model(), reference));
  }
}

TEST_CASE("FitRun: periodic checkpoints, resuming from the last one finishes the same run") {
  const ldm_test::TempDir dir("pipeline_periodic");
  const Matrix<float> rows = cluster_rows(make_key(13), 40);
  const std::string path = dir.file("periodic.safetensors");
  FitRun<float> whole(rows, tiny_fit(), make_key(14));
  REQUIRE(whole.run({}, 15, path));  // last save: denoiser step 30
  FitRun<float> again(rows, tiny_fit(), make_key(14));
  again.resume(path);
  REQUIRE(again.phase() == FitRun<float>::Phase::denoiser);
  REQUIRE(again.step() == 30);
  REQUIRE(again.run());
  REQUIRE(ldm_test::same_model(again.model(), whole.model()));
}

TEST_CASE("FitRun: resuming with other data, options or seed is refused and changes nothing") {
  const ldm_test::TempDir dir("pipeline_refuse");
  const Matrix<float> rows = cluster_rows(make_key(15), 40);
  const std::string path = dir.file("refuse.safetensors");
  FitRun<float> first(rows, tiny_fit(), make_key(16));
  first.run([](const Progress& p) { return p.step < 5; }, 0, path);

  Matrix<float> other_rows = rows;
  other_rows(3, 2) += 1;
  FitRun<float> other_data(other_rows, tiny_fit(), make_key(16));
  const LatentDiffusion<float> before = other_data.model();
  REQUIRE_THROWS_WITH(other_data.resume(path), Contains("other data") && Contains(path));
  REQUIRE(ldm_test::same_model(other_data.model(), before));
  REQUIRE(other_data.step() == 0);

  FitOptions more_steps = tiny_fit();
  more_steps.vae.steps = 41;
  FitRun<float> other_options(rows, more_steps, make_key(16));
  REQUIRE_THROWS_WITH(other_options.resume(path), Contains("other options"));
  FitRun<float> other_seed(rows, tiny_fit(), make_key(17));
  REQUIRE_THROWS_WITH(other_seed.resume(path), Contains("another seed"));

  // A model file is not a training checkpoint.
  const std::string model_path = dir.file("refuse_model.safetensors");
  first.model().save(model_path);
  FitRun<float> fresh(rows, tiny_fit(), make_key(16));
  REQUIRE_THROWS_WITH(fresh.resume(model_path), Contains("not a training checkpoint"));
  // A file above the caller's size limit is refused before it is read.
  REQUIRE_THROWS_WITH(fresh.resume(path, {.max_file_bytes = 100}),
                      Contains("above the limit of 100 (SafetensorsLimits::max_file_bytes)"));
  // Still usable after the refusals.
  fresh.resume(path);
  REQUIRE(fresh.step() == 5);
  REQUIRE_THROWS_WITH(fresh.resume(path), Contains("fresh run"));
  REQUIRE_THROWS_WITH(fresh.run({}, 5, ""), Contains("checkpoint_path is empty"));
}

TEST_CASE("FitRun with labels: stopped and resumed it ends bit-identical, other labels are refused") {
  const Labelled data = three_classes(make_key(5), 48, 0.3f);
  const Key key = make_key(6);
  FitRun<float> whole(data.rows, data.labels, tiny_conditional_fit(), key);
  REQUIRE(whole.run());
  const ldm_test::TempDir dir("conditional_resume");
  const std::string path = dir.file("resume.safetensors");
  FitRun<float> first(data.rows, data.labels, tiny_conditional_fit(), key);
  REQUIRE_FALSE(
      first.run([](const Progress& p) { return !(std::string(p.phase) == "denoiser" && p.step == 17); }, 0, path));
  FitRun<float> second(data.rows, data.labels, tiny_conditional_fit(), key);
  second.resume(path);
  REQUIRE(second.step() == 17);
  REQUIRE(second.run());
  REQUIRE(ldm_test::same_model(second.model(), whole.model()));
  REQUIRE(second.model().class_names == whole.model().class_names);

  std::vector<std::string> swapped = data.labels;
  std::swap(swapped[0], swapped[1]);
  FitRun<float> other_labels(data.rows, swapped, tiny_conditional_fit(), key);
  REQUIRE_THROWS_WITH(other_labels.resume(path), Contains("other data"));
  FitRun<float> no_labels(data.rows, tiny_conditional_fit(), key);
  REQUIRE_THROWS_WITH(no_labels.resume(path), Contains("other data"));
  FitOptions more_dropout = tiny_conditional_fit();
  more_dropout.denoiser.label_dropout = 0.3;
  FitRun<float> other_dropout(data.rows, data.labels, more_dropout, key);
  REQUIRE_THROWS_WITH(other_dropout.resume(path), Contains("other options"));
}

TEST_CASE("FitRun: a resume with any one option changed is refused, naming that option") {
  const ldm_test::TempDir dir("pipeline_refuse_each");
  const Matrix<float> rows = cluster_rows(make_key(15), 40);
  const Key key = make_key(16);
  const std::string path = dir.file("refuse_each.safetensors");
  FitRun<float> first(rows, tiny_fit(), key);
  REQUIRE_FALSE(first.run([](const Progress& p) { return p.step < 5; }, 0, path));

  const nlohmann::json base = tiny_fit();
  // The same options through JSON and back resume: a refusal below is the changed option's.
  FitRun<float> same(rows, base.get<FitOptions>(), key);
  REQUIRE_NOTHROW(same.resume(path));
  REQUIRE(same.step() == 5);

  std::vector<std::string> pointers;
  leaf_pointers(base, "", pointers);
  int checked = 0;
  for (const std::string& pointer : pointers) {
    std::string leaf = pointer.substr(1);  // "/denoiser/ema_decay" -> "denoiser.ema_decay"
    std::replace(leaf.begin(), leaf.end(), '/', '.');
    // FitRun sets input_size from the rows; num_classes needs labels.
    if (leaf == "model.input_size" || leaf == "model.num_classes") continue;
    const nlohmann::json::json_pointer at(pointer);
    nlohmann::json changed = base;
    changed[at] = changed_value(base.at(at));
    const std::string change = leaf + " was " + base.at(at).dump() + ", now " + changed.at(at).dump();
    INFO(change);
    REQUIRE(changed != base);
    FitRun<float> run(rows, changed.get<FitOptions>(), key);
    REQUIRE_THROWS_WITH(run.resume(path), Contains("other options") && Contains(leaf) && Contains(change));
    REQUIRE(run.step() == 0);
    // The changed options are valid: after the refusal the run trains to the end with them.
    REQUIRE(run.run());
    ++checked;
  }
  // model 5 of 7 (without input_size and num_classes), schedule 4, vae 9, denoiser 11, latent_source.
  REQUIRE(checked == 5 + 4 + 9 + 11 + 1);
}

TEST_CASE("FitRun data parallel: 1 and 3 ranks, stopped on 2 and resumed on 3, give the same model") {
  const ldm_test::TempDir dir("pipeline_parallel");
  const Matrix<float> rows = cluster_rows(make_key(31), 60);
  const Key key = make_key(32);
  FitRun<float> alone(rows, tiny_fit(), key);
  alone.set_data_parallel({.chunks = 4});
  REQUIRE(alone.run());
  const LatentDiffusion<float> reference = alone.model();

  std::vector<LatentDiffusion<float>> on_three(3);
  ldm_test::ThreadRanks(3).run([&](Communicator& comm) {
    FitRun<float> run(rows, tiny_fit(), key);
    run.set_data_parallel({.communicator = &comm, .chunks = 4});
    REQUIRE(run.run());
    on_three[static_cast<std::size_t>(comm.rank())] = run.model();
  });
  for (const auto& m : on_three) CHECK(ldm_test::same_model(m, reference));

  // Rank 1 alone asks to stop at denoiser step 9: both stop there; only rank 0 writes the state.
  const std::string path = dir.file("state.safetensors");
  ldm_test::ThreadRanks(2).run([&](Communicator& comm) {
    FitRun<float> run(rows, tiny_fit(), key);
    run.set_data_parallel({.communicator = &comm, .chunks = 4});
    const auto stop = [&](const Progress& p) {
      return !(comm.rank() == 1 && std::string(p.phase) == "denoiser" && p.step == 9);
    };
    REQUIRE_FALSE(run.run(stop, 0, path));
    REQUIRE(run.step() == 9);
  });
  std::vector<LatentDiffusion<float>> resumed(3);
  ldm_test::ThreadRanks(3).run([&](Communicator& comm) {
    FitRun<float> run(rows, tiny_fit(), key);
    run.set_data_parallel({.communicator = &comm, .chunks = 4});
    run.resume(path);
    REQUIRE(run.run());
    resumed[static_cast<std::size_t>(comm.rank())] = run.model();
  });
  for (const auto& m : resumed) CHECK(ldm_test::same_model(m, reference));

  FitRun<float> other_chunks(rows, tiny_fit(), key);
  other_chunks.set_data_parallel({.chunks = 2});
  REQUIRE_THROWS_WITH(other_chunks.resume(path), Contains("made with chunks 4, now 2"));
  FitRun<float> whole_batches(rows, tiny_fit(), key);
  REQUIRE_THROWS_WITH(whole_batches.resume(path), Contains("made with chunks 4, now 0"));
}

TEST_CASE("LatentDiffusion::sample shared by 3 ranks: every rank gets the rows of one process") {
  const Matrix<float> rows = cluster_rows(make_key(33), 40);
  const LatentDiffusion<float> model = LatentDiffusion<float>::fit(rows, tiny_fit(), make_key(34));
  SampleOptions options;
  options.sampler.num_steps = 10;
  options.batch_rows = 7;  // 50 rows: 8 batches, 2 or 3 per rank
  const Matrix<float> one = model.sample(50, options, make_key(35)).values;
  std::vector<Matrix<float>> got(3);
  ldm_test::ThreadRanks(3).run([&](Communicator& comm) {
    SampleOptions shared = options;
    shared.communicator = &comm;
    got[static_cast<std::size_t>(comm.rank())] = model.sample(50, shared, make_key(35)).values;
  });
  for (const auto& g : got) CHECK(g == one);
}
