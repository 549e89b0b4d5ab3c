// The ldm command: train a latent diffusion model on a CSV, sample new rows, evaluate them.
//   ldm train  --data FILE.csv --out MODEL.safetensors [--label-column NAME] [options]
//   ldm sample --model MODEL.safetensors -n N --out FILE.csv [--label VALUE] [--guidance W] [options]
//   ldm sample --model MODEL.safetensors --per-class N --out FILE.csv [options]
//   ldm eval   --real HELD_OUT.csv --synth FILE.csv [--train TRAIN.csv] [--json]
// Errors print one line "ldm: error: ..." and exit with status 1 (usage errors: CLI11's 1xx).
#include <ldm/core/threads.hpp>
#include <ldm/data/csv.hpp>
#include <ldm/eval/metrics.hpp>
#include <ldm/io/atomic_file.hpp>
#include <ldm/pipeline/latent_diffusion.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>

namespace {

// SIGINT / SIGTERM: the first asks training to stop after the current step and save its state;
// a second one exits at once (files are only ever replaced atomically, so none is damaged).
volatile std::sig_atomic_t interrupted = 0;

extern "C" void on_signal(int signal_number) {
  if (interrupted) _exit(128 + signal_number);
  interrupted = signal_number;
}

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// Progress on stderr: a bar redrawn in place on a terminal, plain lines otherwise.
class ProgressPrinter {
 public:
  ProgressPrinter() : terminal_(isatty(STDERR_FILENO) == 1) {}

  bool operator()(const ldm::Progress& p) {
    const bool last = p.step == p.total_steps;
    const double eta = p.samples_per_second > 0 && p.step > 0
                           ? static_cast<double>(p.total_steps - p.step) * elapsed(p) / static_cast<double>(p.step)
                           : 0.0;
    if (terminal_) {
      const int width = 30;
      const int filled = static_cast<int>(width * p.step / std::max<long long>(p.total_steps, 1));
      std::fprintf(stderr, "\r%-8s [%s%s] %lld/%lld loss %.4f %.0f samples/s ETA %s   ", p.phase,
                   std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), p.step, p.total_steps,
                   p.loss, p.samples_per_second, clock_text(eta).c_str());
      if (last) std::fputc('\n', stderr);
    } else if (p.step == 1 || last || p.step % std::max<long long>(p.total_steps / 20, 1) == 0) {
      std::fprintf(stderr, "%s step %lld/%lld loss %.5f lr %.2e %.0f samples/s ETA %s\n", p.phase, p.step,
                   p.total_steps, p.loss, p.lr, p.samples_per_second, clock_text(eta).c_str());
    }
    return true;
  }

 private:
  double elapsed(const ldm::Progress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (phase_ != p.phase) {
      phase_ = p.phase;
      start_ = now;
    }
    return std::chrono::duration<double>(now - start_).count();
  }
  static std::string clock_text(double seconds) {
    const long s = static_cast<long>(seconds + 0.5);
    char text[32];
    std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
    return text;
  }

  bool terminal_;
  std::string phase_;
  std::chrono::steady_clock::time_point start_;
};

// The numeric columns but the dropped ones; the label column, if named, is read as text (any
// labels: integers or strings) and so is never a feature.
ldm::CsvTable read_table(const std::string& path, const std::vector<std::string>& drop,
                         const std::string& label_column = {}) {
  ldm::CsvOptions options;
  if (!label_column.empty()) options.text_columns = {label_column};
  ldm::CsvTable table = ldm::read_csv(path, options);
  return drop.empty() ? table : ldm::drop_columns(table, drop);
}

// Writes a CSV whose first column, `label`, holds each row's class name, then the values.
void write_labelled_csv(const std::string& path, const std::vector<std::string>& labels,
                        const std::vector<std::string>& columns, const ldm::Matrix<float>& values) {
  if (static_cast<Eigen::Index>(labels.size()) != values.rows() ||
      static_cast<Eigen::Index>(columns.size()) != values.cols())
    throw std::logic_error("write_labelled_csv: labels, columns and values do not fit together");
  std::string text = "label";
  for (const std::string& c : columns) {
    text += ',';
    text += ldm::detail::csv_quoted(c, ',');
  }
  text += '\n';
  for (Eigen::Index r = 0; r < values.rows(); ++r) {
    text += ldm::detail::csv_quoted(labels[static_cast<std::size_t>(r)], ',');
    for (Eigen::Index c = 0; c < values.cols(); ++c) {
      if (!std::isfinite(values(r, c)))
        throw std::invalid_argument(path + ": a sampled value is not finite (row " + std::to_string(r) + ")");
      text += ',';
      text += ldm::detail::exact_number_text(values(r, c));
    }
    text += '\n';
  }
  ldm::AtomicFile file(path);
  file.write(text);
  file.commit();
}

// The names on the first line of a CSV text, as read_csv sees them.
std::vector<std::string> csv_header(std::string_view text, const std::string& path) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 byte-order mark
  std::vector<std::string> names;
  bool first = true;
  ldm::detail::split_csv(text, ',', ldm::CsvOptions{}.max_columns, path,
                         [&](std::size_t, const std::vector<ldm::detail::CsvCell>& cells) {
                           if (first)
                             for (const ldm::detail::CsvCell& cell : cells) names.emplace_back(cell.text);
                           first = false;
                         });
  return names;
}

// For eval. Each file drops only the --drop-column names it has (a generated file may have no
// label column, or one of text labels: `sample --per-class` writes one), and a dropped column is
// read as text, so it need not hold numbers. A name that no file has is an error; so is any
// other column that is not numeric, with a hint to drop it.
std::vector<ldm::CsvTable> read_tables(const std::vector<std::string>& paths, const std::vector<std::string>& drop) {
  std::vector<ldm::CsvTable> tables;
  std::vector<bool> found(drop.size(), false);
  for (const std::string& path : paths) {
    ldm::CsvOptions options;
    const std::string text = ldm::detail::read_whole_file(path, options);
    const std::vector<std::string> names = csv_header(text, path);
    for (std::size_t d = 0; d < drop.size(); ++d)
      if (std::find(names.begin(), names.end(), drop[d]) != names.end()) {
        options.text_columns.push_back(drop[d]);
        found[d] = true;
      }
    try {
      tables.push_back(ldm::parse_csv(text, path, options));
    } catch (const std::runtime_error& e) {
      // read_csv names the file, line and column; say how to leave a text column out.
      if (std::string(e.what()).find("is not a number") == std::string::npos) throw;
      throw std::runtime_error(std::string(e.what()) +
                               " (eval compares numeric columns: leave a text column out with --drop-column NAME)");
    }
  }
  for (std::size_t d = 0; d < drop.size(); ++d)
    if (!found[d]) throw std::invalid_argument("--drop-column " + drop[d] + ": no input file has that column");
  return tables;
}

ldm::SamplerKind sampler_kind(const std::string& name) {
  static const std::map<std::string, ldm::SamplerKind> kinds{
      {"ddpm", ldm::SamplerKind::ddpm}, {"ddim", ldm::SamplerKind::ddim}, {"dpm++2m", ldm::SamplerKind::dpmpp_2m}};
  return kinds.at(name);
}

struct CheckpointOptions {
  std::string path;     // where the training state goes (default: MODEL.checkpoint.safetensors)
  long long every = 0;  // save every that many steps (0: only when interrupted)
  std::string resume;   // continue from this state file
};

// Returns the exit status: 0 when trained, 128 + signal when interrupted (state saved).
int run_train(const std::string& data, const std::vector<std::string>& drop, const std::string& label_column,
              const std::string& out, std::uint64_t seed, const ldm::FitOptions& options,
              const CheckpointOptions& checkpoint) {
  const ldm::CsvTable table = read_table(data, drop, label_column);
  const ldm::Matrix<float> rows = table.values.cast<float>();
  std::fprintf(stderr, "ldm: training on %lld rows x %zu columns of %s\n", static_cast<long long>(table.rows()),
               table.columns.size(), data.c_str());
  const std::vector<std::string> labels =
      label_column.empty() ? std::vector<std::string>{} : table.text_column(label_column);
  const auto start = std::chrono::steady_clock::now();
  ldm::FitRun<float> run(rows, labels, options, ldm::make_key(seed), table.columns);
  if (!labels.empty()) {
    const std::vector<std::string>& classes = run.model().class_names;
    std::string list;
    for (std::size_t c = 0; c < classes.size() && c < 20; ++c) list += (c ? ", " : "") + classes[c];
    std::fprintf(stderr, "ldm: conditional on column '%s': %zu classes (%s%s)\n", label_column.c_str(), classes.size(),
                 list.c_str(), classes.size() > 20 ? ", ..." : "");
  }
  if (!checkpoint.resume.empty()) {
    run.resume(checkpoint.resume);
    std::fprintf(stderr, "ldm: resumed from %s at %s step %lld\n", checkpoint.resume.c_str(),
                 ldm::FitRun<float>::phase_name(run.phase()), run.step());
  }
  install_signal_handlers();
  ProgressPrinter printer;
  const auto progress = [&](const ldm::Progress& p) { return printer(p) && !interrupted; };
  if (!run.run(progress, checkpoint.every, checkpoint.path)) {
    std::fprintf(stderr,
                 "\nldm: interrupted in the %s phase after step %lld; the training state is in %s\n"
                 "ldm: to go on, run the same command with --resume %s\n",
                 ldm::FitRun<float>::phase_name(run.phase()), run.step(), checkpoint.path.c_str(),
                 checkpoint.path.c_str());
    return 128 + (interrupted ? interrupted : SIGINT);
  }
  const ldm::LatentDiffusion<float> model = run.model();
  model.save(out);
  std::fprintf(stderr, "ldm: wrote %s (%zu parameters) in %.1f s\n", out.c_str(), ldm::param_count(model.options),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}

// n rows (of class `label` when given), or per_class rows of every class; with a label or per
// class the output starts with a `label` column.
void run_sample(const std::string& model_path, long long n, long long per_class, const std::string& label,
                const std::string& out, std::uint64_t seed, ldm::SampleOptions options) {
  if (per_class == 0 && n < 1)
    throw std::invalid_argument("-n must be at least 1, got " + std::to_string(n) + " (or give --per-class N)");
  const auto model = ldm::LatentDiffusion<float>::load(model_path);
  const ldm::Key key = ldm::make_key(seed);
  if (per_class > 0) {
    const ldm::Matrix<float> rows = model.sample_per_class(per_class, options, key).values;
    std::vector<std::string> labels;
    for (const std::string& name : model.class_names)
      labels.insert(labels.end(), static_cast<std::size_t>(per_class), name);
    write_labelled_csv(out, labels, model.columns.names, rows);
    std::fprintf(stderr, "ldm: wrote %lld rows (%zu classes x %lld) to %s\n", static_cast<long long>(rows.rows()),
                 model.class_names.size(), per_class, out.c_str());
  } else if (!label.empty()) {
    const ldm::Matrix<float> rows = model.sample(n, label, options, key).values;
    write_labelled_csv(out, std::vector<std::string>(static_cast<std::size_t>(n), label), model.columns.names, rows);
    std::fprintf(stderr, "ldm: wrote %lld rows of class '%s' to %s\n", n, label.c_str(), out.c_str());
  } else {
    const ldm::Matrix<float> rows = model.sample(n, options, key).values;
    ldm::write_csv(out, model.columns.names, rows);
    std::fprintf(stderr, "ldm: wrote %lld rows to %s\n", n, out.c_str());
  }
}

void run_eval(const std::string& real_path, const std::string& synth_path, const std::string& train_path,
              const std::vector<std::string>& drop, bool json, bool c2st, std::uint64_t seed) {
  std::vector<std::string> paths{real_path, synth_path};
  if (!train_path.empty()) paths.push_back(train_path);
  const std::vector<ldm::CsvTable> tables = read_tables(paths, drop);
  const ldm::CsvTable& real = tables[0];
  const ldm::CsvTable& synth = tables[1];
  if (synth.columns != real.columns)
    throw std::invalid_argument("the columns of " + synth_path + " (" + std::to_string(synth.columns.size()) +
                                ") differ from those of " + real_path + " (" + std::to_string(real.columns.size()) +
                                "): the same names in the same order are needed");
  ldm::EvaluateOptions options{.reference_is_train = !train_path.empty(), .c2st = c2st, .key = ldm::make_key(seed)};
  if (!train_path.empty() && tables[2].columns != real.columns)
    throw std::invalid_argument("the columns of " + train_path + " differ from those of " + real_path);
  const ldm::QualityReport r =
      ldm::evaluate(train_path.empty() ? real.values : tables[2].values, real.values, synth.values, options);
  nlohmann::ordered_json j;
  j["rows_real"] = real.rows();
  j["rows_synth"] = synth.rows();
  if (r.c2st_auc) j["c2st_auc"] = *r.c2st_auc;
  j["ks"] = r.ks;
  j["frechet"] = r.frechet;
  j["mmd2"] = r.mmd2;
  j["corr_error"] = r.corr_error;
  if (r.nn_share) {
    j["nn_share"] = *r.nn_share;
    j["nn_share_ideal"] = *r.ideal_share;
    j["exact_copies"] = *r.exact_copies;
  }
  if (json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  const std::map<std::string, std::string> labels{{"rows_real", "real rows"},
                                                  {"rows_synth", "synthetic rows"},
                                                  {"c2st_auc", "classifier two-sample AUC (0.5 = indistinguishable)"},
                                                  {"ks", "mean per-column KS statistic"},
                                                  {"frechet", "Frechet distance"},
                                                  {"mmd2", "MMD^2 (RBF, unbiased)"},
                                                  {"corr_error", "mean |correlation error|"},
                                                  {"nn_share", "nearest-neighbour share (train closer)"},
                                                  {"nn_share_ideal", "nearest-neighbour share, ideal"},
                                                  {"exact_copies", "exact copies of training rows"}};
  for (const auto& [key, value] : j.items()) std::printf("%-55s %s\n", labels.at(key).c_str(), value.dump().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ldm: latent diffusion on the rows of a CSV file"};
  app.require_subcommand(1);
  app.fallthrough();  // --threads may come before or after the subcommand
  int threads = 0;
  app.add_option("--threads", threads, "threads to use (0 = one per core)")->check(CLI::NonNegativeNumber);

  ldm::FitOptions fit;
  std::string data, model_out;
  std::vector<std::string> drop;
  std::uint64_t seed = 0;
  int batch_size = 0;
  double lr = 0;
  auto* train = app.add_subcommand("train", "train a model on a CSV file (a header line of column names)");
  train->add_option("--data", data, "the training rows")->required()->check(CLI::ExistingFile);
  train->add_option("--drop-column", drop, "a column to leave out (repeatable), e.g. a label");
  std::string label_column;
  train->add_option("--label-column", label_column,
                    "train a conditional model on this column's classes (integers or strings; not a feature)");
  train->add_option("--out", model_out, "the model file to write (.safetensors)")->required();
  train->add_option("--seed", seed, "seed of every random choice")->capture_default_str();
  train->add_option("--latent-size", fit.model.latent_size)->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--hidden-size", fit.model.hidden_size, "even")->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--num-layers", fit.model.num_layers)->capture_default_str()->check(CLI::NonNegativeNumber);
  train->add_option("--num-steps", fit.model.num_steps, "diffusion timesteps")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  train->add_option("--vae-steps", fit.vae.steps, "VAE optimizer steps")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  train->add_option("--denoiser-steps", fit.denoiser.steps, "denoiser optimizer steps")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  train->add_option("--batch-size", batch_size, "batch size of both phases (default 128 VAE, 256 denoiser)")
      ->check(CLI::PositiveNumber);
  train->add_option("--lr", lr, "learning rate of both phases (default 1e-3)")->check(CLI::PositiveNumber);
  CheckpointOptions checkpoint;
  train->add_option("--checkpoint", checkpoint.path, "training state file (default: OUT.checkpoint.safetensors)");
  train
      ->add_option("--checkpoint-every", checkpoint.every,
                   "save the training state every N steps (0: only on SIGINT/SIGTERM)")
      ->check(CLI::NonNegativeNumber);
  train->add_option("--resume", checkpoint.resume, "continue a run from its training state file")
      ->check(CLI::ExistingFile);

  std::string model_in, sample_out, sampler = "ddim", label;
  long long n = 0, per_class = 0;
  ldm::SampleOptions sample;
  bool no_postprocess = false, no_clip = false;
  std::uint64_t sample_seed = 0;
  auto* sample_cmd = app.add_subcommand("sample", "draw new rows from a trained model");
  sample_cmd->add_option("--model", model_in, "a model written by ldm train")->required()->check(CLI::ExistingFile);
  auto* n_option = sample_cmd->add_option("-n", n, "how many rows");
  auto* per_class_option =
      sample_cmd->add_option("--per-class", per_class, "this many rows of every class (conditional models)")
          ->check(CLI::PositiveNumber)
          ->excludes(n_option);
  sample_cmd->add_option("--label", label, "the class of the rows (conditional models)")->excludes(per_class_option);
  sample_cmd
      ->add_option(
          "--guidance", sample.guidance,
          "classifier-free guidance scale w with --label or --per-class (0 = unconditional, 1 = plain conditional)")
      ->capture_default_str();
  sample_cmd->add_option("--sampler", sampler, "ddpm, ddim or dpm++2m")
      ->capture_default_str()
      ->check(CLI::IsMember({"ddpm", "ddim", "dpm++2m"}));
  sample_cmd->add_option("--steps", sample.sampler.num_steps, "steps of ddim and dpm++2m")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sample_cmd->add_option("--eta", sample.sampler.eta, "ddim noise (0 = deterministic)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sample_cmd->add_option("--seed", sample_seed)->capture_default_str();
  sample_cmd->add_option("--out", sample_out, "the CSV file to write")->required();
  sample_cmd->add_flag("--no-postprocess", no_postprocess,
                       "keep raw values (no rounding or clipping to the data's range)");
  sample_cmd->add_flag("--no-clip", no_clip, "do not clip the predicted x0 to the training latents' range");

  std::string real, synth, train_rows;
  std::vector<std::string> eval_drop;
  bool json = false, no_c2st = false;
  auto* eval = app.add_subcommand("eval", "compare synthetic rows with real held-out rows");
  eval->add_option("--real", real, "real held-out rows (CSV)")->required()->check(CLI::ExistingFile);
  eval->add_option("--synth", synth, "synthetic rows (CSV, same columns)")->required()->check(CLI::ExistingFile);
  eval->add_option("--train", train_rows, "the training rows: standardise with them and check memorisation")
      ->check(CLI::ExistingFile);
  eval->add_option("--drop-column", eval_drop, "a column to leave out (repeatable)");
  eval->add_flag("--json", json, "print JSON instead of a table");
  eval->add_flag("--no-c2st", no_c2st, "skip the classifier two-sample test (the slow one)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    ldm::set_num_threads(threads);
    if (*train) {
      if (batch_size > 0) fit.vae.batch_size = fit.denoiser.batch_size = batch_size;
      if (lr > 0) fit.vae.lr = fit.denoiser.lr = lr;
      if (checkpoint.path.empty()) checkpoint.path = model_out + ".checkpoint.safetensors";
      return run_train(data, drop, label_column, model_out, seed, fit, checkpoint);
    } else if (*sample_cmd) {
      sample.sampler.kind = sampler_kind(sampler);
      sample.postprocess = !no_postprocess;
      sample.clip_to_latent_range = !no_clip;
      run_sample(model_in, n, per_class, label, sample_out, sample_seed, sample);
    } else {
      run_eval(real, synth, train_rows, eval_drop, json, !no_c2st, seed);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ldm: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
