// The ldm command: train a latent diffusion model on a CSV, sample new rows, evaluate them.
//   ldm train  --data FILE.csv --out MODEL.safetensors [--label-column NAME] [options]
//   ldm sample --model MODEL.safetensors -n N --out FILE.csv [--label VALUE] [--guidance W] [options]
//   ldm sample --model MODEL.safetensors --per-class N --out FILE.csv [options]
//   ldm eval   --real HELD_OUT.csv --synth FILE.csv [--train TRAIN.csv] [--target COL] [--json]
//   ldm baseline --data FILE.csv --method marginals|gaussian-copula -n N --out FILE.csv
//   mpirun -np P ldm train|sample ...   (built with -DLDM_USE_MPI=ON: data parallel, the same files for any P)
// Errors print one line "ldm: error: ..." and exit with status 1 (usage errors: CLI11's 1xx).
#include <ldm/core/communicator.hpp>
#include <ldm/core/threads.hpp>
#include <ldm/data/columns.hpp>
#include <ldm/data/csv_reader.hpp>
#include <ldm/data/csv_writer.hpp>
#include <ldm/data/schema_file.hpp>
#include <ldm/data/table_reader.hpp>
#include <ldm/data/table_writer.hpp>
#include <ldm/eval/baselines.hpp>
#include <ldm/eval/evaluate.hpp>
#include <ldm/eval/report.hpp>
#include <ldm/eval/table_metrics.hpp>
#include <ldm/pipeline/latent_diffusion.hpp>
#include <ldm/pipeline/table_diffusion.hpp>

#ifdef LDM_USE_MPI
#include <ldm/core/mpi.hpp>
#endif

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

namespace {

// The processes of this run: this one alone or, in a build with MPI, those mpirun started.
// Rank 0 reads the options out loud, prints progress and writes every file; the others are
// silent (stdout and stderr to /dev/null; the real stderr kept to report an error only they
// met).
struct Processes {
  ldm::Communicator* comm = nullptr;  // nullptr: one process
  int rank = 0, size = 1;
  int stderr_fd = STDERR_FILENO;

  bool writer() const { return rank == 0; }
  void silence_followers() {
    if (rank == 0) return;
    stderr_fd = dup(STDERR_FILENO);
    const int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, STDOUT_FILENO);
    dup2(null_fd, STDERR_FILENO);
    close(null_fd);
  }
};
Processes processes;

#ifdef LDM_USE_MPI
// An MPI build: the same model for any process count up to 4. More chunks allow more processes
// but cost time per chunk (README, "Beyond one machine").
constexpr int default_chunks = 4;
#else
constexpr int default_chunks = 0;  // one process: the batch in one piece
#endif

// SIGINT / SIGTERM: the first asks training to stop after the current step and save its state;
// a second one exits at once (files are only ever replaced atomically, so none is damaged).
// Under mpirun a process may get the signal twice (Open MPI signals each process and its
// group), so there repeats are ignored: mpirun itself sends SIGKILL when it has waited enough.
volatile std::sig_atomic_t interrupted = 0;
volatile std::sig_atomic_t repeat_exits = 1;

extern "C" void on_signal(int signal_number) {
  if (interrupted && repeat_exits) _exit(128 + signal_number);
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

// How the command reads a table: types inferred from the file, or declared with --categorical
// and --numeric; --drop-column leaves a column out before it is parsed.
struct TableArgs {
  std::vector<std::string> drop, categorical, numeric, na_values;
  std::size_t max_categories = ldm::TableOptions{}.max_categories;

  ldm::TableOptions options() const {
    ldm::TableOptions o;
    o.drop = drop;
    o.categorical = categorical;
    o.numeric = numeric;
    if (!na_values.empty()) o.na_values = na_values;
    o.max_categories = max_categories;
    return o;
  }
  void add_to(CLI::App* app) {
    app->add_option("--drop-column", drop, "a column to leave out (repeatable); it may hold anything");
    app->add_option("--categorical", categorical,
                    "read this column as categories, even if it holds numbers or dates (repeatable)");
    app->add_option("--numeric", numeric, "read this column as numbers (repeatable)");
    app->add_option("--na-values", na_values,
                    "the texts of missing cells, any case (repeatable; default: empty, NA, N/A, NaN, null)");
    app->add_option("--max-categories", max_categories, "refuse a categorical column with more categories")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
  }
};

// The metadata that says which column was the class of a conditional model, so that generated
// rows have it where the training file had it, under its name.
struct ClassColumn {
  std::string name;
  std::size_t index = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ClassColumn, name, index)

// Rows of a conditional model with their class column put back: column `c` of `classes`.
ldm::Table with_classes(const ldm::Table& rows, const ClassColumn& c, const std::vector<std::string>& class_names,
                        const std::vector<int>& class_of_row) {
  ldm::Column column;
  column.name = c.name;
  column.type = ldm::ColumnType::categorical;
  column.categories = class_names;
  Eigen::VectorXd cells(rows.rows());
  for (Eigen::Index r = 0; r < rows.rows(); ++r) cells(r) = class_of_row[static_cast<std::size_t>(r)];
  return ldm::with_column(rows, std::min(c.index, rows.schema.size()), std::move(column), cells);
}

// --out of sample and baseline: a file, replaced atomically, or "-", standard output (to pipe
// the rows on). write(sink) is called with the path or with std::cout.
template <class Write>
void write_rows(const std::string& out, Write&& write) {
  if (out == "-")
    write(std::cout);
  else
    write(out);
}

const char* destination(const std::string& out) { return out == "-" ? "standard output" : out.c_str(); }

// Inputs that can be read once only: "-" (standard input) and pipes (`--synth <(ldm sample ...
// --out -)`). The commands read a file more than once (its header to choose columns, then its
// rows; eval again in the comparison's schema), so such an input is first copied whole to a
// temporary file, removed at exit. Messages name the input as it was given.
class InputCopies {
 public:
  InputCopies() = default;
  InputCopies(const InputCopies&) = delete;
  InputCopies& operator=(const InputCopies&) = delete;
  ~InputCopies() {
    for (const Copy& c : copies_) std::remove(c.path.c_str());
  }

  // A path that can be read as often as needed: `given` itself for a regular file.
  std::string readable(const std::string& given) {
    struct stat info {};
    if (given != "-" && (::stat(given.c_str(), &info) != 0 || S_ISREG(info.st_mode))) return given;
    for (const Copy& c : copies_)
      if (c.given == given) return c.path;
    std::string path = (std::filesystem::temp_directory_path() / "ldm-input-XXXXXX").string();
    const int out = ::mkstemp(path.data());
    if (out < 0)
      throw std::runtime_error("cannot make a temporary copy of " + name(given) + ": " + std::strerror(errno));
    copies_.push_back({given, path});
    const int in = given == "-" ? STDIN_FILENO : ::open(given.c_str(), O_RDONLY);
    const bool copied = in >= 0 && copy_all(in, out);
    const int error = errno;
    if (in > STDIN_FILENO) ::close(in);
    if (::close(out) != 0 || !copied)
      throw std::runtime_error("cannot copy " + name(given) + " to " + path + ": " +
                               std::strerror(copied ? errno : error));
    return path;
  }

  // The name an input was given as, for a path readable() returned.
  std::string given(const std::string& path) const {
    for (const Copy& c : copies_)
      if (c.path == path) return name(c.given);
    return path;
  }

  // A message with each copy's path replaced by the name its input was given as.
  std::string named(std::string message) const {
    for (const Copy& c : copies_)
      for (std::size_t at; (at = message.find(c.path)) != std::string::npos;)
        message.replace(at, c.path.size(), name(c.given));
    return message;
  }

 private:
  struct Copy {
    std::string given, path;
  };
  static std::string name(const std::string& given) { return given == "-" ? "standard input" : given; }

  // Everything from in to out; false (errno says why) when a read or a write failed.
  static bool copy_all(int in, int out) {
    char buffer[1 << 16];
    while (true) {
      const ssize_t got = ::read(in, buffer, sizeof buffer);
      if (got == 0) return true;
      if (got < 0 && errno != EINTR) return false;
      for (ssize_t done = 0; done < got;) {
        const ssize_t put = ::write(out, buffer + done, static_cast<std::size_t>(got - done));
        if (put < 0 && errno != EINTR) return false;
        done += std::max<ssize_t>(put, 0);
      }
    }
  }
  std::vector<Copy> copies_;
};
InputCopies input_copies;

// CLI11's ExistingFile, and "-" for standard input.
const CLI::Validator file_or_stdin(
    [](std::string& value) { return value == "-" ? std::string() : CLI::ExistingFile(value); }, "FILE or -");

// Writes a numeric model's rows with each row's class name in column `class_column` (where the
// training file had it, under its name; a file from before models recorded it: `label`, first).
// The numbers are written as write_csv writes them (shortest exact text).
void write_labelled_csv(const std::string& out, const ClassColumn& class_column, const std::vector<std::string>& labels,
                        const std::vector<std::string>& columns, const ldm::Matrix<float>& values) {
  // Checked here for the command's own message (write_csv's names the cell, not the sample).
  for (Eigen::Index r = 0; r < values.rows(); ++r)
    if (!values.row(r).allFinite())
      throw std::invalid_argument(std::string(destination(out)) + ": a sampled value is not finite (row " +
                                  std::to_string(r) + ")");
  std::vector<ldm::TextColumn> cells;
  for (std::size_t c = 0; c < columns.size(); ++c) {
    ldm::TextColumn column{columns[c], {}};
    for (Eigen::Index r = 0; r < values.rows(); ++r)
      column.values.push_back(ldm::detail::exact_number_text(values(r, static_cast<Eigen::Index>(c))));
    cells.push_back(std::move(column));
  }
  const auto at = static_cast<std::ptrdiff_t>(std::min(class_column.index, cells.size()));
  cells.insert(cells.begin() + at, ldm::TextColumn{class_column.name, labels});
  write_rows(out, [&](auto& sink) { ldm::write_csv(sink, {}, ldm::Matrix<float>(values.rows(), 0), cells); });
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
  std::string data, out, label_column, schema_out;
  TableArgs table;
  std::uint64_t seed = 0;
  ldm::FitOptions fit;
  std::string options_file;           // --options: FitOptions as JSON; the flags given win over it
  const CLI::App* command = nullptr;  // to tell the flags given from the defaults
  int batch_size = 0;                 // 0: each phase's default
  double lr = 0;                      // 0: each phase's default
  int chunks = default_chunks;
  CheckpointOptions checkpoint;
};

CLI::App* add_train(CLI::App& app, TrainArgs& a) {
  auto* train = app.add_subcommand("train", "train a model on a CSV file (a header line of column names)");
  train->add_option("--data", a.data, "the training rows (- for standard input)")->required()->check(file_or_stdin);
  a.table.add_to(train);
  train->add_option("--label-column", a.label_column,
                    "train a conditional model on this column's classes (integers or strings; not a feature)");
  train->add_option("--schema-out", a.schema_out, "also write the schema it inferred (JSON)");
  train->add_option("--out", a.out, "the model file to write (.safetensors)")->required();
  train->add_option("--seed", a.seed, "seed of every random choice")->capture_default_str();
  train
      ->add_option("--options", a.options_file,
                   "training options as JSON, the keys of FitOptions (e.g. {\"denoiser\": {\"min_snr_gamma\": 5}}); "
                   "keys left out keep their defaults, the flags given here win")
      ->check(CLI::ExistingFile);
  train->add_option("--latent-size", a.fit.model.latent_size)->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--hidden-size", a.fit.model.hidden_size, "even")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  train->add_option("--num-layers", a.fit.model.num_layers)->capture_default_str()->check(CLI::NonNegativeNumber);
  train->add_option("--num-steps", a.fit.model.num_steps, "diffusion timesteps")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  const ldm::FitOptions large_table = ldm::table_fit_options(1 << 30, 1);
  train
      ->add_option("--vae-steps", a.fit.vae.steps,
                   "VAE optimizer steps (default " + std::to_string(a.fit.vae.steps) + "; " +
                       std::to_string(large_table.vae.steps) + " for a table of " +
                       std::to_string(ldm::table_long_vae_rows) +
                       " rows or more with categorical columns or missing cells; for any such table the steps "
                       "times the VAE's weights are capped at those of " +
                       std::to_string(ldm::table_long_vae_steps) + " steps on rows " +
                       std::to_string(ldm::table_vae_full_width) + " wide, one entry per category)")
      ->check(CLI::NonNegativeNumber);
  train
      ->add_option("--denoiser-steps", a.fit.denoiser.steps,
                   "denoiser optimizer steps (default " + std::to_string(a.fit.denoiser.steps) + "; " +
                       std::to_string(ldm::table_denoiser_steps_per_row) + " per training row, at least " +
                       std::to_string(a.fit.denoiser.steps) + " and at most " +
                       std::to_string(ldm::table_denoiser_max_steps) +
                       ", for a table with categorical columns or missing cells)")
      ->check(CLI::NonNegativeNumber);
  train
      ->add_option("--batch-size", a.batch_size,
                   "batch size of both phases (default " + std::to_string(a.fit.vae.batch_size) + " VAE, " +
                       std::to_string(a.fit.denoiser.batch_size) + " denoiser; " +
                       std::to_string(large_table.denoiser.batch_size) +
                       " denoiser for a table with categorical columns or missing cells)")
      ->check(CLI::PositiveNumber);
  train->add_option("--lr", a.lr, "learning rate of both phases (default 1e-3)")->check(CLI::PositiveNumber);
  train
      ->add_option("--chunks", a.chunks,
                   "cut each batch into N chunks summed exactly: the same model for any number of processes up "
                   "to N (mpirun), one included; 0: the batch in one piece (one process only)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  train->add_option("--checkpoint", a.checkpoint.path, "training state file (default: OUT.checkpoint.safetensors)");
  train
      ->add_option("--checkpoint-every", a.checkpoint.every,
                   "save the training state every N steps (0: only on SIGINT/SIGTERM)")
      ->check(CLI::NonNegativeNumber);
  train->add_option("--resume", a.checkpoint.resume, "continue a run from its training state file")
      ->check(CLI::ExistingFile);
  a.command = train;
  return train;
}

// The options of a run: the defaults (FitOptions', or ldm::table_fit_options for a mixed table
// of `rows` rows encoded `width` wide), the --options file over them, the flags given over that.
ldm::FitOptions fit_options(const TrainArgs& a, bool mixed, Eigen::Index rows, Eigen::Index width) {
  ldm::FitOptions fit = mixed ? ldm::table_fit_options(rows, width) : ldm::FitOptions{};
  if (!a.options_file.empty()) {
    std::ifstream in(a.options_file);
    if (!in) throw std::runtime_error("--options " + a.options_file + ": cannot read the file");
    try {
      fit = ldm::options_from_json<ldm::FitOptions>(nlohmann::json::parse(in), fit);
    } catch (const std::exception& e) {
      throw std::invalid_argument("--options " + a.options_file + ": " + e.what());
    }
  }
  const auto given = [&](const char* flag) { return a.command->count(flag) > 0; };
  if (given("--latent-size")) fit.model.latent_size = a.fit.model.latent_size;
  if (given("--hidden-size")) fit.model.hidden_size = a.fit.model.hidden_size;
  if (given("--num-layers")) fit.model.num_layers = a.fit.model.num_layers;
  if (given("--num-steps")) fit.model.num_steps = a.fit.model.num_steps;
  if (given("--vae-steps")) fit.vae.steps = a.fit.vae.steps;
  if (given("--denoiser-steps")) fit.denoiser.steps = a.fit.denoiser.steps;
  if (a.batch_size > 0) fit.vae.batch_size = fit.denoiser.batch_size = a.batch_size;
  if (a.lr > 0) fit.vae.lr = fit.denoiser.lr = a.lr;
  return fit;
}

// The training table, its schema printed; the class column, if named, taken out: it is the
// class of each row (its text), not a feature.
struct TrainingTable {
  ldm::Table features;
  std::vector<std::string> labels;
  std::optional<ClassColumn> class_column;
};

// The names of `names` that the CSV file at `path` has, in the file's header.
std::vector<std::string> columns_in(const std::string& path, const std::vector<std::string>& names) {
  const std::vector<std::string> header = ldm::read_csv_header(path);
  std::vector<std::string> found;
  for (const std::string& name : names)
    if (std::find(header.begin(), header.end(), name) != header.end()) found.push_back(name);
  return found;
}

TrainingTable read_training_table(const TrainArgs& a) {
  ldm::TableOptions options = a.table.options();
  if (!a.label_column.empty()) {
    if (columns_in(a.data, {a.label_column}).empty())
      throw std::invalid_argument("--label-column " + a.label_column + ": " + a.data + " has no such column");
    options.categorical.push_back(a.label_column);  // its texts are the classes
  }
  const ldm::TableRead read = ldm::read_table(a.data, options);
  const ldm::Table& table = read.table;
  std::fprintf(stderr, "ldm: training on %lld rows x %zu columns of %s\n%s", static_cast<long long>(table.rows()),
               table.schema.size(), input_copies.given(a.data).c_str(), ldm::describe(table).c_str());
  for (const std::string& warning : read.warnings)
    std::fprintf(stderr, "ldm: warning: %s\n", input_copies.named(warning).c_str());
  if (!a.schema_out.empty() && processes.writer()) ldm::write_schema(a.schema_out, table.schema);
  if (a.label_column.empty()) return {table, {}, std::nullopt};
  const std::size_t c = table.schema.index_of(a.label_column);
  const ldm::Column& column = table.schema.columns[c];
  std::vector<std::string> labels;
  for (Eigen::Index r = 0; r < table.rows(); ++r) {
    const double cell = table.cells(r, static_cast<Eigen::Index>(c));
    if (ldm::Table::is_missing(cell))
      throw std::invalid_argument("--label-column " + a.label_column + ": row " + std::to_string(r + 1) +
                                  " has no class (a missing cell)");
    labels.push_back(column.categories[static_cast<std::size_t>(cell)]);
  }
  return {ldm::without_column(table, c), std::move(labels), ClassColumn{a.label_column, c}};
}

// Returns the exit status: 0 when trained, 128 + signal when interrupted (state saved). A table
// of numeric columns without missing cells trains the seed's model on its cells (the files are
// as they always were); any other table the mixed VAE (ldm::TableDiffusion).
int run_train(TrainArgs a) {
  if (a.checkpoint.path.empty()) a.checkpoint.path = a.out + ".checkpoint.safetensors";
  if (a.data == "-" && processes.size > 1)
    throw std::invalid_argument("--data -: under mpirun standard input reaches one process only; give a file");
  a.data = input_copies.readable(a.data);
  const TrainingTable data = read_training_table(a);
  const ldm::Table& features = data.features;
  if (features.schema.size() == 0) throw std::invalid_argument(a.data + ": no column is left to learn");
  const bool mixed = !features.schema.all_numeric_complete();
  const Eigen::Index width = ldm::layout_for(features.schema).width;
  a.fit = fit_options(a, mixed, features.rows(), width);
  std::fprintf(stderr, "ldm: %s rows %lld wide; VAE %lld steps (KL weight %g%s), denoiser %lld steps of %d rows\n",
               mixed ? "a mixed table (the mixed VAE, its own defaults), encoded" : "a numeric table,",
               static_cast<long long>(width), a.fit.vae.steps, a.fit.vae.kl_weight,
               a.fit.vae.cosine_decay ? ", cosine rate" : "", a.fit.denoiser.steps,
               static_cast<int>(std::min<Eigen::Index>(a.fit.denoiser.batch_size, features.rows())));
  const auto start = std::chrono::steady_clock::now();
  const ldm::Key key = ldm::make_key(a.seed);
  std::unique_ptr<ldm::TableDiffusion<float>::Run> table_run;
  ldm::Matrix<float> rows;
  std::optional<ldm::FitRun<float>> plain_run;
  if (mixed) {
    table_run = ldm::TableDiffusion<float>::start(features, data.labels, a.fit, key);
  } else {
    std::vector<std::string> names;
    for (const ldm::Column& column : features.schema.columns) names.push_back(column.name);
    rows = features.cells.cast<float>();
    plain_run.emplace(rows, data.labels, a.fit, key, names);
  }
  ldm::FitRun<float>& run = mixed ? *table_run->fit : *plain_run;
  // The default chunks of an MPI build, on a table smaller than a batch: as many chunks as the
  // batch has rows (a --chunks the batch cannot take is refused by name instead).
  const auto smallest_batch =
      std::min<Eigen::Index>({features.rows(), a.fit.vae.batch_size, a.fit.denoiser.batch_size});
  if (a.command->count("--chunks") == 0 && a.chunks > smallest_batch) a.chunks = static_cast<int>(smallest_batch);
  if (a.chunks > 0 || processes.size > 1) {
    run.set_data_parallel({.communicator = processes.comm, .chunks = a.chunks});
    std::fprintf(stderr, "ldm: data parallel on %d process%s, each batch in %d chunks summed exactly\n", processes.size,
                 processes.size > 1 ? "es" : "", a.chunks);
  }
  if (data.class_column) {
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
  if (!processes.writer()) return 0;
  ldm::MetadataMap class_metadata;
  if (data.class_column) class_metadata["class_column"] = nlohmann::json(*data.class_column).dump();
  if (mixed)
    ldm::TableDiffusion<float>{table_run->encoding, model}.save(a.out, class_metadata);
  else
    model.save(a.out, {}, class_metadata);
  std::fprintf(stderr, "ldm: wrote %s (%zu parameters) in %.1f s\n", a.out.c_str(), ldm::param_count(model.options),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}

// ldm sample.
struct SampleArgs {
  std::string model, out, sampler = "ddim", label;
  long long n = 0, per_class = 0;
  ldm::SampleOptions options;
  double temperature = 1.0;
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
  sample
      ->add_option("--temperature", a.temperature,
                   "categories drawn from softmax(logits / T) (tables with text columns; 0 = the most likely)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sample->add_option("--seed", a.seed)->capture_default_str();
  sample
      ->add_option("--batch-rows", a.options.batch_rows,
                   "rows denoised at once; processes (mpirun) share the batches; the rows depend on this, not "
                   "on the process count")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sample->add_option("--out", a.out, "the CSV file to write (- for standard output)")->required();
  sample->add_flag("--no-postprocess", a.no_postprocess,
                   "keep raw values (no rounding or clipping to the data's range)");
  sample->add_flag("--no-clip", a.no_clip, "do not clip the predicted x0 to the training latents' range");
  return sample;
}

// A table model's rows, in the training file's schema: the same columns in the same order (the
// class column of a conditional model where it was), categories as their text, missing cells as
// the file wrote them.
void sample_table(const SampleArgs& a, const ldm::SafetensorsData& file) {
  const auto t = ldm::TableDiffusion<float>::load(file);
  const ldm::Key key = ldm::make_key(a.seed);
  const std::vector<std::string>& classes = t.model.class_names;
  std::vector<int> class_of_row;
  ldm::DecodedTable rows;
  if (a.per_class > 0) {
    rows = t.sample_per_class(a.per_class, a.options, key, a.temperature);
    for (std::size_t c = 0; c < classes.size(); ++c) class_of_row.insert(class_of_row.end(), a.per_class, int(c));
  } else if (!a.label.empty()) {
    rows = t.sample(a.n, a.label, a.options, key, a.temperature);
    class_of_row.assign(static_cast<std::size_t>(a.n), t.model.class_index(a.label));
  } else {
    rows = t.sample(a.n, a.options, key, a.temperature);
  }
  if (!processes.writer()) return;
  ldm::Table out = std::move(rows.table);
  if (const auto it = file.metadata.find("class_column"); it != file.metadata.end() && !class_of_row.empty())
    out = with_classes(out, nlohmann::json::parse(it->second).get<ClassColumn>(), classes, class_of_row);
  write_rows(a.out, [&](auto& sink) { ldm::write_table(sink, out); });
  std::fprintf(stderr, "ldm: wrote %lld rows to %s\n", static_cast<long long>(out.rows()), destination(a.out));
}

// n rows (of class `label` when given), or per_class rows of every class; a conditional model's
// rows have the class column where the training file had it.
void run_sample(SampleArgs a) {
  a.options.sampler.kind = ldm::enum_from_name<ldm::SamplerKind>(a.sampler, "--sampler");
  a.options.postprocess = !a.no_postprocess;
  a.options.clip_to_latent_range = !a.no_clip;
  a.options.communicator = processes.comm;
  if (a.per_class == 0 && a.n < 1)
    throw std::invalid_argument("-n must be at least 1, got " + std::to_string(a.n) + " (or give --per-class N)");
  const ldm::SafetensorsData file = ldm::read_safetensors(a.model);
  if (ldm::TableDiffusion<float>::holds_table(file)) return sample_table(a, file);
  const auto model = ldm::LatentDiffusion<float>::load(file);
  const ldm::Key key = ldm::make_key(a.seed);
  ClassColumn class_column{"label", 0};
  if (const auto it = file.metadata.find("class_column"); it != file.metadata.end())
    class_column = nlohmann::json::parse(it->second).get<ClassColumn>();
  if (a.per_class > 0) {
    const ldm::Matrix<float> rows = model.sample_per_class(a.per_class, a.options, key).values;
    if (!processes.writer()) return;
    std::vector<std::string> labels;
    for (const std::string& name : model.class_names)
      labels.insert(labels.end(), static_cast<std::size_t>(a.per_class), name);
    write_labelled_csv(a.out, class_column, labels, model.columns.names, rows);
    std::fprintf(stderr, "ldm: wrote %lld rows (%zu classes x %lld) to %s\n", static_cast<long long>(rows.rows()),
                 model.class_names.size(), a.per_class, destination(a.out));
  } else if (!a.label.empty()) {
    const ldm::Matrix<float> rows = model.sample(a.n, a.label, a.options, key).values;
    if (!processes.writer()) return;
    write_labelled_csv(a.out, class_column, std::vector<std::string>(static_cast<std::size_t>(a.n), a.label),
                       model.columns.names, rows);
    std::fprintf(stderr, "ldm: wrote %lld rows of class '%s' to %s\n", a.n, a.label.c_str(), destination(a.out));
  } else {
    const ldm::Matrix<float> rows = model.sample(a.n, a.options, key).values;
    if (!processes.writer()) return;
    write_rows(a.out, [&](auto& sink) { ldm::write_csv(sink, model.columns.names, rows); });
    std::fprintf(stderr, "ldm: wrote %lld rows to %s\n", a.n, destination(a.out));
  }
}

// ldm eval.
struct EvalArgs {
  std::string real, synth, train, target, report;
  std::vector<std::string> drop, compare;
  bool json = false, no_c2st = false;
  std::uint64_t seed = 0;  // of the C2ST classifier; no option sets it
};

CLI::App* add_eval(CLI::App& app, EvalArgs& a) {
  auto* eval = app.add_subcommand("eval", "compare synthetic rows with real held-out rows");
  eval->add_option("--real", a.real, "real held-out rows (CSV)")->required()->check(file_or_stdin);
  eval->add_option("--synth", a.synth, "synthetic rows (CSV, same columns; - for standard input)")
      ->required()
      ->check(file_or_stdin);
  eval->add_option("--train", a.train, "the training rows: standardise with them and check memorisation")
      ->check(file_or_stdin);
  eval->add_option("--drop-column", a.drop, "a column to leave out (repeatable)");
  eval->add_option("--target", a.target,
                   "utility: a model of this column trained on the synthetic rows, tested on the real ones "
                   "(tables with text or missing cells)");
  eval->add_flag("--json", a.json, "print JSON instead of a table");
  eval->add_flag("--no-c2st", a.no_c2st, "skip the classifier two-sample test (the slow one)");
  eval->add_option("--report", a.report, "also write an HTML page: the figures, column plots, pair heatmaps");
  eval->add_option("--compare", a.compare,
                   "rows of a baseline (CSV, same columns), evaluated the same way: a column of the report "
                   "(repeatable; needs --report)")
      ->check(file_or_stdin);
  return eval;
}

std::string file_name(const std::string& read_path) {
  const std::string path = input_copies.given(read_path);
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The report page: the synthetic rows' figures and each --compare file's, as --json has them.
void write_eval_report(const EvalArgs& a, const ldm::Table& real, const ldm::Table& synth,
                       std::vector<ldm::ReportMetrics> metrics) {
  ldm::ReportOptions options;
  options.title = "ldm eval: " + file_name(a.synth) + " against " + file_name(a.real);
  options.real_name = file_name(a.real);
  options.synth_name = file_name(a.synth);
  ldm::write_report(a.report, real, synth, metrics, options);
  std::fprintf(stderr, "ldm: wrote the report to %s\n", a.report.c_str());
}

// A file of the reference's columns, read in its schema (--compare names the file on a mismatch).
ldm::Table read_in_schema(const EvalArgs& a, const ldm::Table& reference, const std::string& path) {
  ldm::TableOptions options;
  options.drop = columns_in(path, a.drop);
  try {
    return ldm::read_table(path, reference.schema, options);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    if (what.find(path) != std::string::npos) throw;
    throw std::invalid_argument(path + ": " + what);
  }
}

// The reference's schema widened by the other files compared with it: a category that only the
// held-out or synthetic rows have (a rare one that the split left out of the training rows) is a
// category of the comparison, not an error, and so is a missing cell. New categories are added
// after the reference's own (sorted), so its cells keep their codes.
ldm::Schema comparison_schema(const EvalArgs& a, const std::string& reference_path, ldm::Schema schema) {
  std::vector<std::string> paths{a.real, a.synth};
  paths.insert(paths.end(), a.compare.begin(), a.compare.end());
  for (const std::string& path : paths) {
    if (path == reference_path) continue;
    ldm::TableOptions options;
    options.drop = columns_in(path, a.drop);
    const std::vector<std::string> header = ldm::read_csv_header(path);
    for (const ldm::Column& c : schema.columns)
      if (c.is_categorical() && std::find(header.begin(), header.end(), c.name) != header.end())
        options.categorical.push_back(c.name);
    ldm::Schema other;
    try {
      other = ldm::read_table(path, options).table.schema;
    } catch (const std::exception&) {
      continue;  // read_in_schema reports what is wrong with this file
    }
    for (ldm::Column& c : schema.columns) {
      const auto o = std::find_if(other.columns.begin(), other.columns.end(),
                                  [&](const ldm::Column& x) { return x.name == c.name; });
      if (o == other.columns.end()) continue;
      if (o->has_missing && !c.has_missing) {
        c.has_missing = true;
        c.missing_text = o->missing_text;
      }
      if (!c.is_categorical()) continue;
      std::vector<std::string> added;
      for (const std::string& category : o->categories)
        if (std::find(c.categories.begin(), c.categories.end(), category) == c.categories.end())
          added.push_back(category);
      std::sort(added.begin(), added.end());
      c.categories.insert(c.categories.end(), added.begin(), added.end());
    }
  }
  return schema;
}

// Tables with text columns or missing cells: column shapes, pair trends, missing rates, C2ST on
// one-hot rows, distance to closest record and copies (with --train), utility (with --target).
// The schema comes from the training rows (else the real ones); the other files are read in it.
nlohmann::json table_figures(const EvalArgs& a, const ldm::Table& reference, const ldm::Table& real,
                             const ldm::Table& synth) {
  ldm::TableEvalOptions eval_options;
  eval_options.c2st = !a.no_c2st;
  eval_options.key = ldm::make_key(a.seed);
  eval_options.target = a.target;
  nlohmann::json j = ldm::evaluate_table(reference, real, synth, eval_options);
  if (a.train.empty())  // without training rows there is no memorisation to measure
    for (const char* key : {"rows_train", "dcr_share", "dcr_ideal_share", "dcr_rows", "exact_copies",
                            "exact_copy_share", "held_out_copies", "held_out_copy_share"})
      j.erase(key);
  return j;
}

void eval_tables(const EvalArgs& a, const ldm::Table& reference) {
  const ldm::Table real = a.train.empty() ? reference : read_in_schema(a, reference, a.real);
  const ldm::Table synth = read_in_schema(a, reference, a.synth);
  const nlohmann::json j = table_figures(a, reference, real, synth);
  if (!a.report.empty()) {
    std::vector<ldm::ReportMetrics> metrics{{file_name(a.synth), j}};
    for (const std::string& path : a.compare)
      metrics.push_back({file_name(path), table_figures(a, reference, real, read_in_schema(a, reference, path))});
    write_eval_report(a, real, synth, std::move(metrics));
  }
  if (a.json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  const ldm::TableQuality q = j.get<ldm::TableQuality>();
  std::printf("%-55s %lld\n%-55s %lld\n", "real rows", static_cast<long long>(q.rows_held_out), "synthetic rows",
              static_cast<long long>(q.rows_synth));
  if (q.c2st_auc) std::printf("%-55s %.4f\n", "classifier two-sample AUC (0.5 = indistinguishable)", *q.c2st_auc);
  std::printf("%-55s %.2f\n%-55s %.2f\n%-55s %.4f\n", "column shape error (%, 0 = same distributions)", q.shape_error,
              "pair trend error (%, 0 = same correlations)", q.trend_error, "missing-rate error (mean |difference|)",
              q.missing_rate_error);
  if (!a.train.empty())
    std::printf("%-55s %.4f (ideal %.4f; %lld synthetic rows)\n%-55s %zu (real held-out rows: %zu)\n",
                "closest-record share (train closer than held-out)", q.dcr_share, q.dcr_ideal_share,
                static_cast<long long>(q.dcr_rows), "exact copies of training rows", q.exact_copies, q.held_out_copies);
  if (q.utility)
    std::printf("%-55s %.4f (trained on real rows: %.4f)\n",
                (q.utility->metric + " of a model of '" + q.utility->target + "' trained on synthetic rows").c_str(),
                q.utility->synthetic, q.utility->real);
  for (std::size_t i = 0; i < q.columns.size() && i < 3; ++i)
    std::printf("%-55s %.4f (%s)\n", (i ? "" : "columns that differ most (score, 1 = same)"), q.columns[i].score,
                q.columns[i].column.c_str());
  for (std::size_t i = 0; i < q.pairs.size() && i < 3; ++i)
    std::printf("%-55s %.4f (%s, %s)\n", (i ? "" : "pairs that differ most (score, 1 = same)"), q.pairs[i].score,
                q.pairs[i].column_a.c_str(), q.pairs[i].column_b.c_str());
}

// Numeric tables without missing cells: the figures of ldm::evaluate for one synthetic file.
nlohmann::ordered_json numeric_figures(const EvalArgs& a, const std::string& synth_path) {
  std::vector<std::string> paths{a.real, synth_path};
  if (!a.train.empty()) paths.push_back(a.train);
  const std::vector<ldm::CsvTable> tables = read_tables(paths, a.drop);
  const ldm::CsvTable& real = tables[0];
  const ldm::CsvTable& synth = tables[1];
  if (synth.columns != real.columns)
    throw std::invalid_argument("the columns of " + synth_path + " (" + std::to_string(synth.columns.size()) +
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
  return j;
}

void run_eval(EvalArgs a) {
  if (!a.compare.empty() && a.report.empty()) throw std::invalid_argument("--compare needs --report FILE");
  for (std::string* path : {&a.real, &a.synth, &a.train})
    if (!path->empty()) *path = input_copies.readable(*path);
  for (std::string& path : a.compare) path = input_copies.readable(path);
  if (!a.report.empty()) {  // an unwritable path fails now, not after the work
    ldm::AtomicFile probe(a.report);
  }
  ldm::Table reference;
  {  // a table with text columns or missing cells takes the table metrics
    const std::string& path = a.train.empty() ? a.real : a.train;
    ldm::TableOptions options;
    options.drop = columns_in(path, a.drop);
    reference = ldm::read_table(path, options).table;
    if (!reference.schema.all_numeric_complete() || !a.target.empty()) {
      reference.schema = comparison_schema(a, path, std::move(reference.schema));
      return eval_tables(a, reference);
    }
  }
  const nlohmann::ordered_json j = numeric_figures(a, a.synth);
  if (!a.report.empty()) {
    std::vector<ldm::ReportMetrics> metrics{{file_name(a.synth), nlohmann::json(j)}};
    for (const std::string& path : a.compare)
      metrics.push_back({file_name(path), nlohmann::json(numeric_figures(a, path))});
    write_eval_report(a, read_in_schema(a, reference, a.real), read_in_schema(a, reference, a.synth),
                      std::move(metrics));
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

// ldm baseline: what a classical synthesiser makes of the same table, in the same schema.
struct BaselineArgs {
  std::string data, out, method;
  TableArgs table;
  long long n = 0;
  std::uint64_t seed = 0;
};

CLI::App* add_baseline(CLI::App& app, BaselineArgs& a) {
  auto* baseline = app.add_subcommand(
      "baseline", "rows from a classical synthesiser, to compare with: independent columns or a Gaussian copula");
  baseline->add_option("--data", a.data, "the training rows (- for standard input)")->required()->check(file_or_stdin);
  a.table.add_to(baseline);
  baseline->add_option("--method", a.method, "marginals or gaussian-copula")
      ->required()
      ->check(CLI::IsMember({"marginals", "gaussian-copula"}));
  baseline->add_option("-n", a.n, "how many rows")->required()->check(CLI::PositiveNumber);
  baseline->add_option("--seed", a.seed)->capture_default_str();
  baseline->add_option("--out", a.out, "the CSV file to write (- for standard output)")->required();
  return baseline;
}

void run_baseline(const BaselineArgs& a) {
  const ldm::Table train = ldm::read_table(input_copies.readable(a.data), a.table.options()).table;
  const ldm::Key key = ldm::make_key(a.seed);
  const ldm::TableDraw draw =
      a.method == "marginals" ? ldm::sample_marginals(train, a.n, key) : ldm::sample_gaussian_copula(train, a.n, key);
  write_rows(a.out, [&](auto& sink) { ldm::write_table(sink, draw.table); });
  std::fprintf(stderr, "ldm: wrote %lld rows (%s) to %s\n", a.n, a.method.c_str(), destination(a.out));
}

}  // namespace

// An error: one line from rank 0, which then ends every process. Another rank waits 5 s
// first (mpirun kills it sooner when rank 0 aborts), so that an error all of them met (a bad file) is reported once, by
// rank 0; if it is still alive after that, the error was its own and it reports it.
int fail(const std::exception& e) {
  if (processes.size == 1) {
    std::fprintf(stderr, "ldm: error: %s\n", input_copies.named(e.what()).c_str());
    return 1;
  }
  if (processes.rank != 0) std::this_thread::sleep_for(std::chrono::seconds(5));
  const std::string line = processes.rank == 0
                               ? "ldm: error: " + input_copies.named(e.what()) + "\n"
                               : ldm::detail::concat("ldm: error on rank ", processes.rank, ": ", e.what(), "\n");
  if (write(processes.stderr_fd, line.data(), line.size()) < 0) {
  }  // nothing more to do if stderr is gone
#ifdef LDM_USE_MPI
  static_cast<ldm::MpiCommunicator*>(processes.comm)->abort(1);
#endif
  return 1;
}

#ifdef LDM_USE_MPI
// Whether a launcher started this process as part of a job (Open MPI's mpirun, MPICH's Hydra,
// Slurm's srun with PMI or PMIx). Alone, ldm does not start MPI: its singleton start-up takes
// ~0.3 s, more than sampling a few rows.
bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}
#endif

int main(int argc, char** argv) {
#ifdef LDM_USE_MPI
  std::optional<ldm::MpiSession> mpi;
  std::optional<ldm::MpiCommunicator> world;
  if (launched_by_mpi()) {
    mpi.emplace(argc, argv);
    world.emplace();
    processes = {.comm = &*world, .rank = world->rank(), .size = world->size()};
    processes.silence_followers();
    if (processes.size > 1) repeat_exits = 0;
  }
#endif
  CLI::App app{"ldm: latent diffusion on the rows of a CSV file"};
  app.require_subcommand(1);
  app.fallthrough();  // --threads may come before or after the subcommand
  app.footer(
      "A first run (each subcommand has its own --help):\n"
      "  ldm train    --data rows.csv --out model.safetensors     # prints the column types it found\n"
      "  ldm sample   --model model.safetensors -n 1000 --out synthetic.csv   # --out -: standard output\n"
      "  ldm eval     --real held_out.csv --synth synthetic.csv --train rows.csv\n"
      "  ldm baseline --data rows.csv --method gaussian-copula -n 1000 --out copula.csv");
  int threads = 0;
  app.add_option("--threads", threads, "threads to use (0 = one per core)")->check(CLI::NonNegativeNumber);
  TrainArgs train_args;
  SampleArgs sample_args;
  EvalArgs eval_args;
  BaselineArgs baseline_args;
  const CLI::App* train = add_train(app, train_args);
  const CLI::App* sample = add_sample(app, sample_args);
  const CLI::App* eval = add_eval(app, eval_args);
  add_baseline(app, baseline_args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (argc == 1) {  // a bare `ldm`: what it can do, not only what is missing
      std::fputs(app.help().c_str(), stdout);
      return e.get_exit_code();
    }
    return app.exit(e);
  }
  try {
    ldm::set_num_threads(threads);
    if (*train) return run_train(train_args);
    if (*sample)
      run_sample(sample_args);
    else if (!processes.writer())
      return 0;  // eval and baseline are one process's work
    else if (*eval)
      run_eval(eval_args);
    else
      run_baseline(baseline_args);
  } catch (const std::exception& e) {
    return fail(e);
  }
  return 0;
}
