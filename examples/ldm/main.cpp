// The ldm command: train a latent diffusion model on a CSV, sample new rows, evaluate them.
//   ldm train  --data FILE.csv --out MODEL.safetensors [--label-column NAME] [options]
//   ldm sample --model MODEL.safetensors -n N --out FILE.csv [--label VALUE] [--guidance W] [options]
//   ldm sample --model MODEL.safetensors --per-class N --out FILE.csv [options]
//   ldm eval   --real HELD_OUT.csv --synth FILE.csv [--train TRAIN.csv] [--json]
// Errors print one line "ldm: error: ..." and exit with status 1 (usage errors: CLI11's 1xx).
#include <ldm/core/threads.hpp>
#include <ldm/data/columns.hpp>
#include <ldm/data/csv_reader.hpp>
#include <ldm/data/csv_writer.hpp>
#include <ldm/eval/evaluate.hpp>
#include <ldm/pipeline/latent_diffusion.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
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
  // Checked here for the command's own message (write_csv's names the cell, not the sample).
  for (Eigen::Index r = 0; r < values.rows(); ++r)
    if (!values.row(r).allFinite())
      throw std::invalid_argument(path + ": a sampled value is not finite (row " + std::to_string(r) + ")");
  ldm::write_csv(path, columns, values, {ldm::TextColumn{"label", labels}});
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
    const std::vector<std::string> names = ldm::read_csv_header(path, options);
    for (std::size_t d = 0; d < drop.size(); ++d)
      if (std::find(names.begin(), names.end(), drop[d]) != names.end()) {
        options.text_columns.push_back(drop[d]);
        found[d] = true;
      }
    try {
      tables.push_back(ldm::read_csv(path, options));
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

// The names of an enum's values (the library's one table, ldm::enum_names), for CLI11's IsMember.
template <ldm::NamedEnum E>
std::vector<std::string> names_of() {
  std::vector<std::string> names;
  for (const auto& [value, name] : enum_names(E{})) names.emplace_back(name);
  return names;
}

struct CheckpointOptions {
  std::string path;     // where the training state goes (default: MODEL.checkpoint.safetensors)
  long long every = 0;  // save every that many steps (0: only when interrupted)
  std::string resume;   // continue from this state file
};

// ldm train: the options, then the run.
struct TrainArgs {
  std::string data, out, label_column;
  std::vector<std::string> drop;
  std::uint64_t seed = 0;
  ldm::FitOptions fit;
  int batch_size = 0;  // 0: each phase's default
  double lr = 0;       // 0: each phase's default
  CheckpointOptions checkpoint;
};

CLI::App* add_train(CLI::App& app, TrainArgs& a) {
  auto* train = app.add_subcommand("train", "train a model on a CSV file (a header line of column names)");
  train->add_option("--data", a.data, "the training rows")->required()->check(CLI::ExistingFile);
  train->add_option("--drop-column", a.drop, "a column to leave out (repeatable), e.g. a label");
  train->add_option("--label-column", a.label_column,
                    "train a conditional model on this column's classes (integers or strings; not a feature)");
  train->add_option("--out", a.out, "the model file to write (.safetensors)")->required();
  train->add_option("--seed", a.seed, "seed of every random choice")->capture_default_str();
  train->add_option("--latent-size", a.fit.model.latent_size)->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--hidden-size", a.fit.model.hidden_size, "even")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  train->add_option("--num-layers", a.fit.model.num_layers)->capture_default_str()->check(CLI::NonNegativeNumber);
  train->add_option("--num-steps", a.fit.model.num_steps, "diffusion timesteps")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  train->add_option("--vae-steps", a.fit.vae.steps, "VAE optimizer steps")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  train->add_option("--denoiser-steps", a.fit.denoiser.steps, "denoiser optimizer steps")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  train->add_option("--batch-size", a.batch_size, "batch size of both phases (default 128 VAE, 256 denoiser)")
      ->check(CLI::PositiveNumber);
  train->add_option("--lr", a.lr, "learning rate of both phases (default 1e-3)")->check(CLI::PositiveNumber);
  train->add_option("--checkpoint", a.checkpoint.path, "training state file (default: OUT.checkpoint.safetensors)");
  train
      ->add_option("--checkpoint-every", a.checkpoint.every,
                   "save the training state every N steps (0: only on SIGINT/SIGTERM)")
      ->check(CLI::NonNegativeNumber);
  train->add_option("--resume", a.checkpoint.resume, "continue a run from its training state file")
      ->check(CLI::ExistingFile);
  return train;
}

// Returns the exit status: 0 when trained, 128 + signal when interrupted (state saved).
int run_train(TrainArgs a) {
  if (a.batch_size > 0) a.fit.vae.batch_size = a.fit.denoiser.batch_size = a.batch_size;
  if (a.lr > 0) a.fit.vae.lr = a.fit.denoiser.lr = a.lr;
  if (a.checkpoint.path.empty()) a.checkpoint.path = a.out + ".checkpoint.safetensors";
  const ldm::CsvTable table = read_table(a.data, a.drop, a.label_column);
  const ldm::Matrix<float> rows = table.values.cast<float>();
  std::fprintf(stderr, "ldm: training on %lld rows x %zu columns of %s\n", static_cast<long long>(table.rows()),
               table.columns.size(), a.data.c_str());
  const std::vector<std::string> labels =
      a.label_column.empty() ? std::vector<std::string>{} : table.text_column(a.label_column);
  const auto start = std::chrono::steady_clock::now();
  ldm::FitRun<float> run(rows, labels, a.fit, ldm::make_key(a.seed), table.columns);
  if (!labels.empty()) {
    const std::vector<std::string>& classes = run.model().class_names;
    std::string list;
    for (std::size_t c = 0; c < classes.size() && c < 20; ++c) list += (c ? ", " : "") + classes[c];
    std::fprintf(stderr, "ldm: conditional on column '%s': %zu classes (%s%s)\n", a.label_column.c_str(),
                 classes.size(), list.c_str(), classes.size() > 20 ? ", ..." : "");
  }
  if (!a.checkpoint.resume.empty()) {
    run.resume(a.checkpoint.resume);
    std::fprintf(stderr, "ldm: resumed from %s at %s step %lld\n", a.checkpoint.resume.c_str(),
                 ldm::FitRun<float>::phase_name(run.phase()), run.step());
  }
  install_signal_handlers();
  ProgressPrinter printer;
  const auto progress = [&](const ldm::Progress& p) { return printer(p) && !interrupted; };
  if (!run.run(progress, a.checkpoint.every, a.checkpoint.path)) {
    std::fprintf(stderr,
                 "\nldm: interrupted in the %s phase after step %lld; the training state is in %s\n"
                 "ldm: to go on, run the same command with --resume %s\n",
                 ldm::FitRun<float>::phase_name(run.phase()), run.step(), a.checkpoint.path.c_str(),
                 a.checkpoint.path.c_str());
    return 128 + (interrupted ? interrupted : SIGINT);
  }
  const ldm::LatentDiffusion<float> model = run.model();
  model.save(a.out);
  std::fprintf(stderr, "ldm: wrote %s (%zu parameters) in %.1f s\n", a.out.c_str(), ldm::param_count(model.options),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}

// ldm sample.
struct SampleArgs {
  std::string model, out, sampler = "ddim", label;
  long long n = 0, per_class = 0;
  ldm::SampleOptions options;
  bool no_postprocess = false, no_clip = false;
  std::uint64_t seed = 0;
};

CLI::App* add_sample(CLI::App& app, SampleArgs& a) {
  auto* sample = app.add_subcommand("sample", "draw new rows from a trained model");
  sample->add_option("--model", a.model, "a model written by ldm train")->required()->check(CLI::ExistingFile);
  auto* n_option = sample->add_option("-n", a.n, "how many rows");
  auto* per_class_option =
      sample->add_option("--per-class", a.per_class, "this many rows of every class (conditional models)")
          ->check(CLI::PositiveNumber)
          ->excludes(n_option);
  sample->add_option("--label", a.label, "the class of the rows (conditional models)")->excludes(per_class_option);
  sample
      ->add_option(
          "--guidance", a.options.guidance,
          "classifier-free guidance scale w with --label or --per-class (0 = unconditional, 1 = plain conditional)")
      ->capture_default_str();
  sample->add_option("--sampler", a.sampler, ldm::enum_name_list<ldm::SamplerKind>())
      ->capture_default_str()
      ->check(CLI::IsMember(names_of<ldm::SamplerKind>()));
  sample->add_option("--steps", a.options.sampler.num_steps, "steps of ddim and dpm++2m")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sample->add_option("--eta", a.options.sampler.eta, "ddim noise (0 = deterministic)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sample->add_option("--seed", a.seed)->capture_default_str();
  sample->add_option("--out", a.out, "the CSV file to write")->required();
  sample->add_flag("--no-postprocess", a.no_postprocess,
                   "keep raw values (no rounding or clipping to the data's range)");
  sample->add_flag("--no-clip", a.no_clip, "do not clip the predicted x0 to the training latents' range");
  return sample;
}

// n rows (of class `label` when given), or per_class rows of every class; with a label or per
// class the output starts with a `label` column.
void run_sample(SampleArgs a) {
  a.options.sampler.kind = ldm::enum_from_name<ldm::SamplerKind>(a.sampler, "--sampler");
  a.options.postprocess = !a.no_postprocess;
  a.options.clip_to_latent_range = !a.no_clip;
  if (a.per_class == 0 && a.n < 1)
    throw std::invalid_argument("-n must be at least 1, got " + std::to_string(a.n) + " (or give --per-class N)");
  const auto model = ldm::LatentDiffusion<float>::load(a.model);
  const ldm::Key key = ldm::make_key(a.seed);
  if (a.per_class > 0) {
    const ldm::Matrix<float> rows = model.sample_per_class(a.per_class, a.options, key).values;
    std::vector<std::string> labels;
    for (const std::string& name : model.class_names)
      labels.insert(labels.end(), static_cast<std::size_t>(a.per_class), name);
    write_labelled_csv(a.out, labels, model.columns.names, rows);
    std::fprintf(stderr, "ldm: wrote %lld rows (%zu classes x %lld) to %s\n", static_cast<long long>(rows.rows()),
                 model.class_names.size(), a.per_class, a.out.c_str());
  } else if (!a.label.empty()) {
    const ldm::Matrix<float> rows = model.sample(a.n, a.label, a.options, key).values;
    write_labelled_csv(a.out, std::vector<std::string>(static_cast<std::size_t>(a.n), a.label), model.columns.names,
                       rows);
    std::fprintf(stderr, "ldm: wrote %lld rows of class '%s' to %s\n", a.n, a.label.c_str(), a.out.c_str());
  } else {
    const ldm::Matrix<float> rows = model.sample(a.n, a.options, key).values;
    ldm::write_csv(a.out, model.columns.names, rows);
    std::fprintf(stderr, "ldm: wrote %lld rows to %s\n", a.n, a.out.c_str());
  }
}

// ldm eval.
struct EvalArgs {
  std::string real, synth, train;
  std::vector<std::string> drop;
  bool json = false, no_c2st = false;
  std::uint64_t seed = 0;  // of the C2ST classifier; no option sets it
};

CLI::App* add_eval(CLI::App& app, EvalArgs& a) {
  auto* eval = app.add_subcommand("eval", "compare synthetic rows with real held-out rows");
  eval->add_option("--real", a.real, "real held-out rows (CSV)")->required()->check(CLI::ExistingFile);
  eval->add_option("--synth", a.synth, "synthetic rows (CSV, same columns)")->required()->check(CLI::ExistingFile);
  eval->add_option("--train", a.train, "the training rows: standardise with them and check memorisation")
      ->check(CLI::ExistingFile);
  eval->add_option("--drop-column", a.drop, "a column to leave out (repeatable)");
  eval->add_flag("--json", a.json, "print JSON instead of a table");
  eval->add_flag("--no-c2st", a.no_c2st, "skip the classifier two-sample test (the slow one)");
  return eval;
}

void run_eval(const EvalArgs& a) {
  std::vector<std::string> paths{a.real, a.synth};
  if (!a.train.empty()) paths.push_back(a.train);
  const std::vector<ldm::CsvTable> tables = read_tables(paths, a.drop);
  const ldm::CsvTable& real = tables[0];
  const ldm::CsvTable& synth = tables[1];
  if (synth.columns != real.columns)
    throw std::invalid_argument("the columns of " + a.synth + " (" + std::to_string(synth.columns.size()) +
                                ") differ from those of " + a.real + " (" + std::to_string(real.columns.size()) +
                                "): the same names in the same order are needed");
  ldm::EvaluateOptions options{
      .reference_is_train = !a.train.empty(), .c2st = !a.no_c2st, .key = ldm::make_key(a.seed)};
  if (!a.train.empty() && tables[2].columns != real.columns)
    throw std::invalid_argument("the columns of " + a.train + " differ from those of " + a.real);
  const ldm::QualityReport r =
      ldm::evaluate(a.train.empty() ? real.values : tables[2].values, real.values, synth.values, options);
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
  if (a.json) {
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
  TrainArgs train_args;
  SampleArgs sample_args;
  EvalArgs eval_args;
  const CLI::App* train = add_train(app, train_args);
  const CLI::App* sample = add_sample(app, sample_args);
  add_eval(app, eval_args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    ldm::set_num_threads(threads);
    if (*train) return run_train(train_args);
    if (*sample)
      run_sample(sample_args);
    else
      run_eval(eval_args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ldm: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
