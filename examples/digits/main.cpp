// examples/digits: latent diffusion on the bundled 8x8 handwritten digits, measured.
//
// Splits examples/data/digits.csv (1797 rows, 64 pixel columns 0..16, `label` dropped) 80/20
// with a permutation drawn from the key, trains the latent diffusion model on the training
// rows, samples with DDPM-1000, DDIM-50 and DPM-Solver++(2M)-20, and compares each with the
// held-out rows next to three baselines:
//   - full-space diffusion: the same denoiser trained directly on the 64 standardised columns
//     (no VAE), same schedule, options and step budget, sampled with DDIM-50;
//   - a Gaussian fitted to the training rows (mean and covariance);
//   - training rows themselves (what a perfect copier would score).
// Every generated set (1000 rows by default) is postprocessed the same way (integer columns
// rounded, every column clipped to its training range) and measured against the 360 held-out
// rows with ldm::evaluate, C2ST included. Writes samples.csv (the DDIM-50 rows), train.csv and
// held_out.csv (the split, for `ldm eval`), digits.png (generated digits beside held-out ones),
// report.html (the page `ldm eval --report` writes: every method's figures, the DDIM-50 rows'
// plots) and model.safetensors; progress goes to stderr, the table to stdout.
//
// With --conditional it also trains the conditional model on the same rows with their `label`
// (same VAE, same key; classifier-free guidance, Ho & Salimans 2022), draws --per-class rows of
// each digit with DDIM-50 and prints, per digit, the share of them that a softmax regression
// trained on the real training rows assigns to the requested digit, next to that classifier's
// accuracy on the real held-out rows; digits_by_class.png shows one row per digit 0-9
// (generated | held out).
//
//   digits [--out DIR] [--seed N] [--quick] [--rows N] [--threads N] [--conditional] ...   (digits --help)
#include <ldm/core/random.hpp>
#include <ldm/core/threads.hpp>
#include <ldm/data/columns.hpp>
#include <ldm/data/csv_reader.hpp>
#include <ldm/data/csv_writer.hpp>
#include <ldm/eval/evaluate.hpp>
#include <ldm/eval/report.hpp>
#include <ldm/eval/softmax_regression.hpp>
#include <ldm/pipeline/latent_diffusion.hpp>

#include <stb/stb_image_write.h>  // Debian's libstb.so holds the implementation
#include <CLI/CLI.hpp>

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

#ifndef LDM_EXAMPLES_DATA_DIR
#define LDM_EXAMPLES_DATA_DIR "examples/data"
#endif

namespace {

using ldm::Matrix;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

struct Settings {
  std::string data = LDM_EXAMPLES_DATA_DIR "/digits.csv";
  std::string out = "build/digits";
  std::uint64_t seed = 0;
  bool quick = false;
  Eigen::Index rows = 0;  // rows generated per method; 0 = 1000 (quick: 200)
  int threads = 0;
  std::string time_embedding = "normalized";
  std::string latent_source = "posterior";
  long long vae_steps = 0, denoiser_steps = 0;  // 0 = the FitOptions defaults (quick: small)
  bool conditional = false;
  Eigen::Index per_class = 100;  // conditional rows drawn per digit
  double guidance = ldm::SampleOptions{}.guidance;
};

// The recipe of FitOptions' defaults, or a much smaller model and budget for a smoke run.
ldm::FitOptions fit_options(const Settings& s) {
  ldm::FitOptions o;
  if (s.quick) {
    o.model.hidden_size = 64;
    o.model.num_layers = 2;
    o.vae.steps = 300;
    o.denoiser.steps = 300;
  }
  if (s.vae_steps > 0) o.vae.steps = s.vae_steps;
  if (s.denoiser_steps > 0) o.denoiser.steps = s.denoiser_steps;
  o.model.time_embedding = s.time_embedding == "raw" ? ldm::TimeEmbedding::raw : ldm::TimeEmbedding::normalized;
  o.latent_source = s.latent_source == "mean" ? ldm::LatentSource::mean : ldm::LatentSource::posterior_sample;
  return o;
}

// Progress lines on stderr every 500 steps (and at the end of each phase).
ldm::ProgressCallback progress_printer(const std::string& label, Clock::time_point* denoiser_start = nullptr) {
  return [label, denoiser_start](const ldm::Progress& p) {
    if (denoiser_start && p.step == 1 && std::string(p.phase) == "denoiser") *denoiser_start = Clock::now();
    const long long every = std::min<long long>(500, std::max<long long>(p.total_steps / 4, 1));
    if (p.step % every == 0 || p.step == p.total_steps)
      std::fprintf(stderr, "%-10s %-8s step %5lld/%lld  loss %.5f  lr %.2e  %6.0f samples/s\n", label.c_str(), p.phase,
                   p.step, p.total_steps, p.loss, p.lr, p.samples_per_second);
    return true;
  };
}

// 80/20 split: a permutation of the rows drawn from key; the first ceil(n / 5) rows held out.
struct Split {
  Matrix<float> train, holdout;
  Eigen::VectorXi train_labels, holdout_labels;
};

Split split_rows(const Matrix<float>& rows, const Eigen::VectorXi& labels, ldm::Key key) {
  std::vector<Eigen::Index> order(static_cast<std::size_t>(rows.rows()));
  std::iota(order.begin(), order.end(), Eigen::Index{0});
  ldm::shuffle(key, std::span<Eigen::Index>(order));
  const Eigen::Index held = (rows.rows() + 4) / 5;
  Split s{Matrix<float>(rows.rows() - held, rows.cols()), Matrix<float>(held, rows.cols()),
          Eigen::VectorXi(rows.rows() - held), Eigen::VectorXi(held)};
  for (Eigen::Index i = 0; i < rows.rows(); ++i) {
    const auto r = order[static_cast<std::size_t>(i)];
    if (i < held) {
      s.holdout.row(i) = rows.row(r);
      s.holdout_labels(i) = labels(r);
    } else {
      s.train.row(i - held) = rows.row(r);
      s.train_labels(i - held) = labels(r);
    }
  }
  return s;
}

// min(n, rows) distinct rows picked at random: the "generator" that copies its training data.
Matrix<float> random_rows(const Matrix<float>& rows, Eigen::Index n, ldm::Key key) {
  std::vector<Eigen::Index> order(static_cast<std::size_t>(rows.rows()));
  std::iota(order.begin(), order.end(), Eigen::Index{0});
  ldm::shuffle(key, std::span<Eigen::Index>(order));
  Matrix<float> out(std::min(n, rows.rows()), rows.cols());
  for (Eigen::Index i = 0; i < out.rows(); ++i) out.row(i) = rows.row(order[static_cast<std::size_t>(i)]);
  return out;
}

// A Gaussian with the training rows' mean and covariance (n - 1), sampled through the
// eigendecomposition (the covariance is singular: some border pixels are always 0).
Matrix<float> gaussian_sample(const Matrix<float>& train, Eigen::Index n, ldm::Key key) {
  const Matrix<double> x = train.cast<double>();
  const Eigen::RowVectorXd mean = x.colwise().mean();
  const Eigen::MatrixXd centered = x.rowwise() - mean;
  const Eigen::MatrixXd cov = centered.transpose() * centered / static_cast<double>(x.rows() - 1);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);
  const Eigen::MatrixXd root = eig.eigenvectors() * eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal();
  const Matrix<double> z = ldm::normal<double>(key, n, x.cols()).values;
  return ((z * root.transpose()).rowwise() + mean).cast<float>();
}

// Full-space diffusion: the latent model's denoiser architecture on the standardised columns.
struct FullSpace {
  ldm::Denoiser<float> denoiser;
  float bound = 0;  // max |standardised training value|: clip x0 there, as the LDM clips latents
};

FullSpace train_full_space(const ldm::LatentDiffusion<float>& ldm_model, const Matrix<float>& train,
                           const ldm::FitOptions& o, ldm::Key key) {
  const std::vector<ldm::Key> keys = ldm::split(key, 2);  // init, training
  const ldm::Options& m = o.model;
  FullSpace f{ldm::build_denoiser<float>(static_cast<int>(train.cols()), m.hidden_size, m.num_layers, m.num_steps,
                                         keys[0], m.time_embedding),
              0.0f};
  ldm::LatentSet<float> data;  // "latents" = the standardised rows, fixed, identity scaling
  data.mu = ldm_model.data_scaling.transform(train);
  data.log_var = Matrix<float>::Zero(train.rows(), train.cols());
  data.source = ldm::LatentSource::mean;
  data.scaling.mean = ldm::Vector<float>::Zero(train.cols());
  data.scaling.scale = ldm::Vector<float>::Ones(train.cols());
  f.bound = data.mu.cwiseAbs().maxCoeff();
  ldm::train_denoiser(f.denoiser, data, ldm_model.schedule, o.denoiser, keys[1], progress_printer("full-space"));
  return f;
}

Matrix<float> sample_full_space(const FullSpace& f, const ldm::LatentDiffusion<float>& ldm_model, Eigen::Index n,
                                ldm::SamplerOptions sampler, ldm::Key key) {
  sampler.clip_x0 = static_cast<double>(f.bound);
  ldm::DenoiserWorkspace<float> ws;
  const auto eps = [&](const Matrix<float>& z_t, const Eigen::VectorXi& t) -> const Matrix<float>& {
    f.denoiser.forward(z_t, t, ws);
    return ws.out;
  };
  Matrix<float> rows = ldm_model.data_scaling.inverse(
      ldm::sample(eps, ldm_model.schedule, n, f.denoiser.latent_size(), key, sampler).values);
  ldm_model.postprocess(rows);
  return rows;
}

// Side by side: a grid of generated digits, a gap, a grid of held-out digits. Each 8x8 row is
// upscaled `zoom` times, pixel values 0..16 mapped to gray 0..255, cells parted by dark lines.
void write_digit_png(const std::string& path, const Matrix<float>& generated, const Matrix<float>& real, int grid = 10,
                     int zoom = 4) {
  constexpr int side = 8, line = 2, gap = 16;
  constexpr unsigned char line_gray = 60, gap_gray = 128;
  const int cell = side * zoom;
  const int panel = grid * cell + (grid + 1) * line;
  const int width = 2 * panel + gap, height = panel;
  std::vector<unsigned char> image(static_cast<std::size_t>(width) * height, line_gray);
  for (int y = 0; y < height; ++y)
    for (int x = panel; x < panel + gap; ++x) image[static_cast<std::size_t>(y) * width + x] = gap_gray;
  const auto draw = [&](const Matrix<float>& rows, int left) {
    for (int k = 0; k < grid * grid && k < rows.rows(); ++k) {
      const int top = line + (k / grid) * (cell + line), x0 = left + line + (k % grid) * (cell + line);
      for (int py = 0; py < cell; ++py)
        for (int px = 0; px < cell; ++px) {
          const float v = rows(k, (py / zoom) * side + px / zoom);
          const float gray = std::clamp(v, 0.0f, 16.0f) * (255.0f / 16.0f);
          image[static_cast<std::size_t>(top + py) * width + x0 + px] = static_cast<unsigned char>(std::lround(gray));
        }
    }
  };
  draw(generated, 0);
  draw(real, panel + gap);
  if (stbi_write_png(path.c_str(), width, height, 1, image.data(), width) == 0)
    throw std::runtime_error("digits: cannot write " + path);
}

struct Result {
  std::string method;
  ldm::QualityReport quality;
  std::optional<double> train_s, sample_s;
};

std::string cell(const std::optional<double>& v, const char* format) {
  if (!v) return "-";
  char text[32];
  std::snprintf(text, sizeof text, format, *v);
  return text;
}

void print_table(const std::vector<Result>& results) {
  std::printf("%-20s %8s %7s %8s %8s %8s %8s %6s %8s %8s\n", "method", "C2ST AUC", "KS", "FD", "MMD^2", "corr err",
              "NN share", "copies", "train s", "sample s");
  for (const Result& r : results) {
    const ldm::QualityReport& q = r.quality;
    std::printf("%-20s %8s %7.4f %8.3f %8.5f %8.4f %8s %6s %8s %8s\n", r.method.c_str(),
                cell(q.c2st_auc, "%.4f").c_str(), q.ks, q.frechet, q.mmd2, q.corr_error,
                cell(q.nn_share, "%.4f").c_str(), q.exact_copies ? std::to_string(*q.exact_copies).c_str() : "-",
                cell(r.train_s, "%.1f").c_str(), cell(r.sample_s, "%.2f").c_str());
  }
}

// The figures of one method with the keys `ldm eval --json` uses for numeric rows.
nlohmann::json figures(const ldm::QualityReport& q, Eigen::Index rows_real, Eigen::Index rows_synth) {
  nlohmann::json j{{"rows_real", rows_real}, {"rows_synth", rows_synth}, {"ks", q.ks},
                   {"frechet", q.frechet},   {"mmd2", q.mmd2},           {"corr_error", q.corr_error}};
  if (q.c2st_auc) j["c2st_auc"] = *q.c2st_auc;
  if (q.nn_share) j["nn_share"] = *q.nn_share;
  if (q.ideal_share) j["nn_share_ideal"] = *q.ideal_share;
  if (q.exact_copies) j["exact_copies"] = *q.exact_copies;
  return j;
}

// Pixel rows as a table of integer columns, for the report.
ldm::Table pixel_table(const std::vector<std::string>& names, const Matrix<float>& values) {
  ldm::Table t;
  for (const std::string& name : names)
    t.schema.columns.push_back(ldm::Column{.name = name, .type = ldm::ColumnType::integer});
  t.cells = values.cast<double>();
  return t;
}

// The conditional model: trained on the training rows and their digits, sampled per digit,
// judged by a classifier trained on the real training rows. Returns the smallest per-digit share.
double run_conditional(const Settings& s, const Split& data, const std::vector<std::string>& columns,
                       const ldm::FitOptions& options, ldm::Key fit_key, ldm::Key sample_key) {
  ldm::SoftmaxRegression classifier;
  classifier.fit(data.train.cast<double>(), data.train_labels);
  const Eigen::VectorXi held_out_pred = classifier.predict(data.holdout.cast<double>());
  const double held_out_acc = (held_out_pred.array() == data.holdout_labels.array()).cast<double>().mean();

  std::vector<std::string> labels;
  for (Eigen::Index i = 0; i < data.train_labels.size(); ++i) labels.push_back(std::to_string(data.train_labels(i)));
  auto start = Clock::now();
  const auto model =
      ldm::LatentDiffusion<float>::fit(data.train, labels, options, fit_key, progress_printer("ldm-cond"), columns);
  const double train_s = seconds_since(start);
  model.save(s.out + "/model_conditional.safetensors");
  const int classes = static_cast<int>(model.class_names.size());

  ldm::SampleOptions so;
  so.sampler.kind = ldm::SamplerKind::ddim;
  so.sampler.num_steps = 50;
  so.guidance = s.guidance;
  start = Clock::now();
  const Matrix<float> rows = model.sample_per_class(s.per_class, so, sample_key).values;
  const double sample_s = seconds_since(start);
  const Eigen::VectorXi predicted = classifier.predict(rows.cast<double>());

  std::printf(
      "\nConditional LDM (DDIM-50, guidance w = %g): %lld rows per digit, each classified by a softmax "
      "regression trained on the %lld real training rows; its accuracy on the %lld real held-out rows: %.4f\n",
      s.guidance, static_cast<long long>(s.per_class), static_cast<long long>(data.train.rows()),
      static_cast<long long>(data.holdout.rows()), held_out_acc);
  std::printf("%-6s %12s %16s\n", "digit", "recognised", "held-out recall");
  double worst = 1.0, total = 0.0;
  for (int c = 0; c < classes; ++c) {
    const int digit = std::stoi(model.class_names[static_cast<std::size_t>(c)]);
    const double share = (predicted.segment(c * s.per_class, s.per_class).array() == digit).cast<double>().mean();
    const auto is_digit = (data.holdout_labels.array() == digit).cast<double>();
    const double recall = (is_digit * (held_out_pred.array() == digit).cast<double>()).sum() / is_digit.sum();
    std::printf("%-6d %12.3f %16.3f\n", digit, share, recall);
    worst = std::min(worst, share);
    total += share;
  }
  std::printf("%-6s %12.3f %16.3f\n", "all", total / classes, held_out_acc);

  // The same noise at other guidance scales: how guidance trades variety for class fidelity.
  std::printf("mean share recognised by guidance scale:");
  for (const double w : {0.0, 1.0, 2.0, 3.0}) {
    ldm::SampleOptions other = so;
    other.guidance = w;
    const Eigen::VectorXi p =
        classifier.predict(model.sample_per_class(s.per_class, other, sample_key).values.cast<double>());
    double hits = 0;
    for (int c = 0; c < classes; ++c)
      hits +=
          (p.segment(c * s.per_class, s.per_class).array() == std::stoi(model.class_names[static_cast<std::size_t>(c)]))
              .cast<double>()
              .sum();
    std::printf("  w = %g: %.3f", w, hits / static_cast<double>(p.size()));
  }
  std::printf("\nconditional train %.1f s, sampling %lld rows %.2f s; bar: every digit >= 0.90 recognised: %.3f %s\n",
              train_s, static_cast<long long>(rows.rows()), sample_s, worst, worst >= 0.9 ? "ok" : "MISSED");

  // One row per digit: the first 10 generated | the first 10 held-out rows of that digit.
  const int grid = 10;
  Matrix<float> generated = Matrix<float>::Zero(grid * grid, rows.cols()), real = generated;
  for (int c = 0; c < std::min(classes, grid); ++c) {
    const int digit = std::stoi(model.class_names[static_cast<std::size_t>(c)]);
    for (int j = 0; j < grid && j < s.per_class; ++j) generated.row(c * grid + j) = rows.row(c * s.per_class + j);
    for (Eigen::Index i = 0, j = 0; i < data.holdout.rows() && j < grid; ++i)
      if (data.holdout_labels(i) == digit) real.row(c * grid + j++) = data.holdout.row(i);
  }
  write_digit_png(s.out + "/digits_by_class.png", generated, real, grid);
  std::printf(
      "wrote %s/digits_by_class.png (one row per digit 0-9: generated | held out), "
      "%s/model_conditional.safetensors\n",
      s.out.c_str(), s.out.c_str());
  return worst;
}

int run(const Settings& s) {
  ldm::set_num_threads(s.threads);
  const Eigen::Index n_gen = s.rows > 0 ? s.rows : (s.quick ? 200 : 1000);
  std::filesystem::create_directories(s.out);
  const auto total_start = Clock::now();

  // Data: the 64 pixel columns; the label aside (for the conditional model and its classifier).
  const ldm::CsvTable all = ldm::read_csv(s.data);
  const Eigen::VectorXi labels = all.values.col(all.column_index("label")).cast<int>();
  const ldm::CsvTable table = ldm::drop_columns(all, {"label"});
  const Matrix<float> rows = table.values.cast<float>();
  const std::vector<ldm::Key> keys = ldm::split(ldm::make_key(s.seed), 7);
  // keys: 0 split, 1 LDM fit, 2 sampling (every sampler starts from the same noise),
  //       3 full-space training, 4 Gaussian, 5 evaluation (C2ST folds), 6 row subset
  const Split data = split_rows(rows, labels, keys[0]);
  const ldm::FitOptions options = fit_options(s);
  std::printf(
      "digits: %lld rows x %lld columns -> %lld training, %lld held out; %lld rows generated per method; "
      "threads %d%s\n",
      static_cast<long long>(rows.rows()), static_cast<long long>(rows.cols()),
      static_cast<long long>(data.train.rows()), static_cast<long long>(data.holdout.rows()),
      static_cast<long long>(n_gen), ldm::num_threads(), s.quick ? " (quick smoke run)" : "");
  std::printf(
      "model: latent %d, hidden %d, %d blocks, %d diffusion steps, %s time embedding, %s latents; "
      "VAE %lld steps, denoiser %lld steps\n",
      options.model.latent_size, options.model.hidden_size, options.model.num_layers, options.model.num_steps,
      s.time_embedding.c_str(), s.latent_source == "mean" ? "mean" : "posterior-sample", options.vae.steps,
      options.denoiser.steps);
  std::fflush(stdout);

  // The latent diffusion model.
  auto start = Clock::now();
  Clock::time_point denoiser_start = start;
  const auto model = ldm::LatentDiffusion<float>::fit(data.train, options, keys[1],
                                                      progress_printer("ldm", &denoiser_start), table.columns);
  const double ldm_train_s = seconds_since(start);
  const double ldm_denoiser_s = std::chrono::duration<double>(Clock::now() - denoiser_start).count();
  model.save(s.out + "/model.safetensors");

  struct Method {
    const char* name;
    ldm::SamplerKind kind;
    int steps;
  };
  const Method samplers[] = {{"LDM DDPM-1000", ldm::SamplerKind::ddpm, 1000},
                             {"LDM DDIM-50", ldm::SamplerKind::ddim, 50},
                             {"LDM DPM++2M-20", ldm::SamplerKind::dpmpp_2m, 20}};
  std::vector<std::pair<Result, Matrix<float>>> synthetic;
  for (const Method& m : samplers) {
    ldm::SampleOptions so;
    so.sampler.kind = m.kind;
    so.sampler.num_steps = m.steps;
    start = Clock::now();
    Matrix<float> values = model.sample(n_gen, so, keys[2]).values;
    synthetic.push_back({Result{m.name, {}, ldm_train_s, seconds_since(start)}, std::move(values)});
    std::fprintf(stderr, "sampled %s: %.2f s\n", m.name, *synthetic.back().first.sample_s);
  }
  const double ddim_sample_s = *synthetic[1].first.sample_s;

  // Full-space diffusion, same denoiser options and budget.
  start = Clock::now();
  const FullSpace full = train_full_space(model, data.train, options, keys[3]);
  const double full_train_s = seconds_since(start);
  ldm::SamplerOptions ddim;
  ddim.kind = ldm::SamplerKind::ddim;
  ddim.num_steps = 50;
  start = Clock::now();
  Matrix<float> full_rows = sample_full_space(full, model, n_gen, ddim, keys[2]);
  const double full_sample_s = seconds_since(start);
  synthetic.push_back({Result{"full-space DDIM-50", {}, full_train_s, full_sample_s}, std::move(full_rows)});

  // Baselines.
  start = Clock::now();
  Matrix<float> gauss = gaussian_sample(data.train, n_gen, keys[4]);
  model.postprocess(gauss);
  synthetic.push_back({Result{"Gaussian fit", {}, std::nullopt, seconds_since(start)}, std::move(gauss)});
  synthetic.push_back(
      {Result{"training rows", {}, std::nullopt, std::nullopt}, random_rows(data.train, n_gen, keys[6])});

  // Outputs, then the (slower) evaluation.
  const Matrix<float>& ddim_rows = synthetic[1].second;  // (synthetic is complete: no reallocation)
  ldm::write_csv(s.out + "/samples.csv", table.columns, ddim_rows);
  // The split too, so `ldm eval --real held_out.csv --synth samples.csv --train train.csv` checks it.
  ldm::write_csv(s.out + "/train.csv", table.columns, data.train);
  ldm::write_csv(s.out + "/held_out.csv", table.columns, data.holdout);
  write_digit_png(s.out + "/digits.png", ddim_rows, data.holdout);

  ldm::EvaluateOptions eval;
  eval.c2st = true;
  eval.key = keys[5];
  if (s.quick) eval.c2st_options.epochs = 10;
  const Matrix<double> train_d = data.train.cast<double>(), holdout_d = data.holdout.cast<double>();
  std::vector<Result> results;
  for (auto& [result, values] : synthetic) {
    start = Clock::now();
    result.quality = ldm::evaluate(train_d, holdout_d, values.cast<double>(), eval);
    std::fprintf(stderr, "evaluated %s: %.1f s\n", result.method.c_str(), seconds_since(start));
    results.push_back(result);
  }

  // The report beside the PNG: the DDIM-50 rows (samples.csv) plotted, every method a column of figures.
  std::vector<ldm::ReportMetrics> metrics{{results[1].method, figures(results[1].quality, data.holdout.rows(), n_gen)}};
  for (std::size_t i = 0; i < results.size(); ++i)
    if (i != 1) metrics.push_back({results[i].method, figures(results[i].quality, data.holdout.rows(), n_gen)});
  ldm::ReportOptions report;
  report.title = "digits: LDM DDIM-50 rows against the held-out rows";
  report.real_name = "held_out.csv";
  report.synth_name = "samples.csv";
  ldm::write_report(s.out + "/report.html", pixel_table(table.columns, data.holdout),
                    pixel_table(table.columns, ddim_rows), metrics, report);

  std::printf("\nEach method: %lld generated rows vs the %lld held-out rows (C2ST: 5-fold MLP; NN share ideal %.4f)\n",
              static_cast<long long>(n_gen), static_cast<long long>(data.holdout.rows()),
              results.front().quality.ideal_share.value_or(0.0));
  print_table(results);
  std::printf(
      "\nLDM train %.1f s = VAE + encode %.1f s + denoiser %.1f s (%.2f ms/step); "
      "full-space denoiser %.1f s (%.2f ms/step)\n",
      ldm_train_s, ldm_train_s - ldm_denoiser_s, ldm_denoiser_s,
      1e3 * ldm_denoiser_s / static_cast<double>(std::max<long long>(options.denoiser.steps, 1)), full_train_s,
      1e3 * full_train_s / static_cast<double>(std::max<long long>(options.denoiser.steps, 1)));
  std::printf("DDIM-50 sampling of %lld rows: LDM %.2f s, full-space %.2f s\n", static_cast<long long>(n_gen),
              ddim_sample_s, full_sample_s);
  const ldm::QualityReport& q = results[1].quality;
  const double budget_s = ldm_train_s + ddim_sample_s;
  const auto verdict = [](bool ok) { return ok ? "ok" : "MISSED"; };
  std::printf(
      "quality bar (LDM DDIM-50): C2ST AUC %.4f <= 0.65 %s; KS %.4f <= 0.08 %s; exact copies %zu == 0 %s; "
      "NN share %.4f <= 0.93 %s; train + sample %.1f s < 240 s (on 2 cores) %s\n",
      q.c2st_auc.value_or(1.0), verdict(q.c2st_auc.value_or(1.0) <= 0.65), q.ks, verdict(q.ks <= 0.08),
      q.exact_copies.value_or(0), verdict(q.exact_copies.value_or(0) == 0), q.nn_share.value_or(1.0),
      verdict(q.nn_share.value_or(1.0) <= 0.93), budget_s, verdict(budget_s < 240));
  std::printf(
      "wrote %s/samples.csv (LDM DDIM-50), %s/digits.png (generated | held out), %s/report.html, "
      "%s/model.safetensors, train.csv and held_out.csv\n",
      s.out.c_str(), s.out.c_str(), s.out.c_str(), s.out.c_str());
  std::fflush(stdout);
  // The conditional model: the same fit key (so the same VAE), the same sampling noise.
  if (s.conditional) run_conditional(s, data, table.columns, options, keys[1], keys[2]);
  std::printf("total %.1f s wall, %.1f s CPU\n", seconds_since(total_start),
              static_cast<double>(std::clock()) / CLOCKS_PER_SEC);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  CLI::App app{"Latent diffusion on the 8x8 digits: train, sample, compare with baselines"};
  app.add_option("--data", s.data, "digits CSV (64 pixel columns and a label)")->capture_default_str();
  app.add_option("--out", s.out, "output folder")->capture_default_str();
  app.add_option("--seed", s.seed, "seed of every random choice")->capture_default_str();
  app.add_flag("--quick", s.quick, "a small model and budget: a smoke run of ~20 s");
  app.add_option("--rows", s.rows, "rows generated per method (0: 1000, quick 200)")->check(CLI::NonNegativeNumber);
  app.add_option("--threads", s.threads, "threads (0: one per core)")->check(CLI::NonNegativeNumber);
  app.add_option("--time-embedding", s.time_embedding, "normalized (t/T, the seed's) or raw (t)")
      ->check(CLI::IsMember({"normalized", "raw"}))
      ->capture_default_str();
  app.add_option("--latent-source", s.latent_source, "denoiser trains on posterior samples or the encoder mean")
      ->check(CLI::IsMember({"posterior", "mean"}))
      ->capture_default_str();
  app.add_option("--vae-steps", s.vae_steps, "VAE optimizer steps (0: default)")->check(CLI::NonNegativeNumber);
  app.add_option("--denoiser-steps", s.denoiser_steps, "denoiser optimizer steps (0: default)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--conditional", s.conditional,
               "also train the conditional model on the labels and report per-digit class fidelity");
  app.add_option("--per-class", s.per_class, "conditional rows drawn per digit")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--guidance", s.guidance, "classifier-free guidance scale of the conditional rows")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    return run(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "digits: error: %s\n", e.what());
    return 1;
  }
}
