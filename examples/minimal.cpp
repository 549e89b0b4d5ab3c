// The smallest complete use of ldm: read a CSV, train, sample, save.
//   minimal [data.csv] [samples.csv]      (default: the bundled digits, samples.csv here)
// Takes a few minutes on two cores with the default training budget.
#include <ldm/data/columns.hpp>
#include <ldm/data/csv_reader.hpp>
#include <ldm/data/csv_writer.hpp>
#include <ldm/pipeline/latent_diffusion.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>

#ifndef LDM_EXAMPLES_DATA_DIR
#define LDM_EXAMPLES_DATA_DIR "examples/data"
#endif

int main(int argc, char** argv) try {
  const std::string data = argc > 1 ? argv[1] : LDM_EXAMPLES_DATA_DIR "/digits.csv";
  const std::string out = argc > 2 ? argv[2] : "samples.csv";

  // One row per sample; every column numeric. The digits file has a class label to drop.
  ldm::CsvTable table = ldm::read_csv(data);
  if (std::ranges::count(table.columns, "label") > 0) table = ldm::drop_columns(table, {"label"});
  const ldm::Matrix<float> rows = table.values.cast<float>();

  // Train: the VAE, then the denoiser on its latents. The defaults are a tested recipe;
  // every setting (model size, steps, learning rates) is a field of FitOptions.
  ldm::FitOptions options;
  const auto print = [](const ldm::Progress& p) {
    if (p.step % 1000 == 0)
      std::fprintf(stderr, "%s step %lld/%lld loss %.4f\n", p.phase, p.step, p.total_steps, p.loss);
    return true;  // false would stop training
  };
  const auto model = ldm::LatentDiffusion<float>::fit(rows, options, ldm::make_key(42), print, table.columns);

  // Sample 100 rows with DDIM-50 (the default sampler), in the data's units and on its grid.
  const auto [samples, next_key] = model.sample(100, ldm::SampleOptions{}, ldm::make_key(7));
  ldm::write_csv(out, table.columns, samples);
  model.save("model.safetensors");  // LatentDiffusion<float>::load("model.safetensors") reads it back
  std::printf("wrote %lld rows to %s and the model to model.safetensors\n", static_cast<long long>(samples.rows()),
              out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "minimal: %s\n", e.what());
  return 1;
}
