// The whole flow in one object: standardise the rows, train the VAE, freeze it, encode, train
// the denoiser on standardised latents; sample, decode and map back to data units; save and
// load everything in one safetensors file. Given a label per row, the denoiser is conditional
// and sampling asks for a class, with classifier-free guidance (guidance.hpp).
#pragma once

#include <ldm/diffusion/guidance.hpp>
#include <ldm/diffusion/samplers.hpp>
#include <ldm/io/checkpoint.hpp>
#include <ldm/train/train.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace ldm {

// Training settings. The defaults are a budget in optimizer steps (not epochs), so data sets of
// a few hundred and of many thousand rows both get a good model in minutes on two cores.
struct FitOptions {
  Options model{.input_size = 0, .latent_size = 16, .hidden_size = 256, .num_layers = 4, .num_steps = 1000};
  ScheduleOptions schedule{};
  VaeTrainOptions vae{.steps = 5600, .batch_size = 128, .kl_weight = 1e-3, .lr = 1e-3};
  DenoiserTrainOptions denoiser{.steps = 6000,
                                .batch_size = 256,
                                .lr = 1e-3,
                                .warmup_steps = 100,
                                .cosine_decay = true,
                                .clip_grad_norm = 1.0,
                                .ema_decay = 0.999};
  LatentSource latent_source = LatentSource::posterior_sample;
};

struct SampleOptions {
  SamplerOptions sampler{};
  // Clamp the predicted x0 to the range of the training latents (unless sampler.clip_x0 is
  // set): DDIM without it now and then throws latents far outside the data.
  bool clip_to_latent_range = true;
  // Round integer-valued columns and clip every column to its range seen at fit time.
  bool postprocess = true;
  Eigen::Index batch_rows = 4096;  // rows denoised at once; results do not depend on it
  // Largest result a call may ask for: n x max(input_size, latent_size) x sizeof(S) bytes
  // (the working memory is a few times that). A larger n is refused before anything is allocated.
  std::uint64_t max_matrix_bytes = std::uint64_t{8} << 30;  // 8 GiB
  // Classifier-free guidance scale w of labelled sampling (guidance.hpp): 0 = unconditional,
  // 1 = the plain conditional model. Measured on digits (README, DDIM-50): the share of rows a
  // classifier puts in the requested digit is 0.989 at w = 1, 0.998 at 1.5 and 2, 0.999 at 3.
  double guidance = 2.0;
};

// The classes of a list of labels, sorted: by value when every label is an integer (so "10"
// comes after "9"), else by text. Throws std::invalid_argument for an empty list or label.
inline std::vector<std::string> class_names_of(const std::vector<std::string>& labels) {
  if (labels.empty()) throw std::invalid_argument("class_names_of: no labels");
  std::vector<std::string> names;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i].empty()) throw std::invalid_argument(detail::concat("class_names_of: label ", i, " is empty"));
    names.push_back(labels[i]);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  const auto integer = [](const std::string& text, long long& value) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc() && end == text.data() + text.size();
  };
  std::vector<std::pair<long long, std::string>> numbered;
  for (const std::string& name : names) {
    long long value = 0;
    if (!integer(name, value)) return names;
    numbered.emplace_back(value, name);
  }
  std::sort(numbered.begin(), numbered.end());  // ties ("7", "07") by text
  for (std::size_t i = 0; i < names.size(); ++i) names[i] = numbered[i].second;
  return names;
}

// What fit learns about each column, used to map samples back onto the data's grid.
template <class S>
struct ColumnInfo {
  std::vector<std::string> names;
  Vector<S> min, max;  // observed range
  Vector<S> integer;   // 1 where every training value is an integer, else 0

  template <class F, class... Cs>
  static void visit_each(F&& f, Cs&... c) {
    f("min", c.min...);
    f("max", c.max...);
    f("integer", c.integer...);
  }
  template <class F>
  void visit(F&& f) {
    visit_each(f, *this);
  }
  template <class F>
  void visit(F&& f) const {
    visit_each(f, *this);
  }
};

template <class S>
class FitRun;

template <class S = float>
class LatentDiffusion {
 public:
  Options options;
  ScheduleOptions schedule_options;
  Schedule<S> schedule;
  Encoder<S> encoder;
  Decoder<S> decoder;
  Denoiser<S> denoiser;
  Standardizer<S> data_scaling;    // data units <-> standardised columns
  Standardizer<S> latent_scaling;  // encoder latents <-> what the denoiser sees
  ColumnInfo<S> columns;
  S latent_bound = 0;  // max |standardised training latent|
  // A conditional model's classes (class_names_of the training labels); class id i is
  // class_names[i]. Empty for an unconditional model.
  std::vector<std::string> class_names;

  // Trains on rows (one sample per row). column_names, if given, must match the width.
  // progress may stop training early; the model then holds the weights reached so far.
  // A resumable run with checkpoints is FitRun (below).
  static LatentDiffusion fit(const Matrix<S>& rows, const FitOptions& fit_options, Key key,
                             const ProgressCallback& progress = {}, std::vector<std::string> column_names = {});

  // The conditional model: labels (one per row, any text; integers are sorted by value) become
  // the classes, fit_options.model.num_classes is set from them (0 or the same number), and the
  // denoiser learns eps(z_t, t, class) with fit_options.denoiser.label_dropout.
  static LatentDiffusion fit(const Matrix<S>& rows, const std::vector<std::string>& labels,
                             const FitOptions& fit_options, Key key, const ProgressCallback& progress = {},
                             std::vector<std::string> column_names = {});

  // The class id of a label. Throws std::invalid_argument naming the label and the known ones,
  // or saying that the model is unconditional.
  int class_index(const std::string& label) const {
    if (class_names.empty())
      throw std::invalid_argument("LatentDiffusion: label '" + label +
                                  "' was asked for, but the model is unconditional (trained without labels)");
    const auto it = std::find(class_names.begin(), class_names.end(), label);
    if (it != class_names.end()) return static_cast<int>(it - class_names.begin());
    std::string known;
    for (std::size_t i = 0; i < class_names.size() && i < 50; ++i) known += (i ? ", " : "") + class_names[i];
    if (class_names.size() > 50) known += ", ...";
    throw std::invalid_argument(detail::concat("LatentDiffusion: unknown label '", label, "'; the model's ",
                                               class_names.size(), " labels are: ", known));
  }

  // n new rows of class `label`, with classifier-free guidance (sample_options.guidance).
  // The same key gives the same starting noise as sample(n, ...).
  Draw<S> sample(Eigen::Index n, const std::string& label, const SampleOptions& sample_options, Key key,
                 const StepCallback<S>& on_step = {}) const {
    const int id = class_index(label);
    require_sample_size("LatentDiffusion::sample", n, std::max(options.input_size, options.latent_size),
                        sample_options);
    return sample_classes(Eigen::VectorXi::Constant(n, id), sample_options, key, on_step);
  }

  // One row per entry of classes (class ids in [0, class_names.size()]; the last is "no label").
  Draw<S> sample_classes(const Eigen::VectorXi& classes, const SampleOptions& sample_options, Key key,
                         const StepCallback<S>& on_step = {}) const {
    const char* where = "LatentDiffusion::sample_classes";
    require_conditional(where);
    require_sample_size(where, classes.size(), std::max(options.input_size, options.latent_size), sample_options);
    for (Eigen::Index i = 0; i < classes.size(); ++i)
      if (classes(i) < 0 || classes(i) > options.num_classes)
        throw std::invalid_argument(detail::concat(where, ": classes(", i, ") = ", classes(i), " is outside [0, ",
                                                   options.num_classes, "] (", options.num_classes, " = no label)"));
    const Matrix<S> z = sample_latents(classes.size(), &classes, sample_options, key, on_step);
    Matrix<S> rows = data_scaling.inverse(decode_in_batches(latent_scaling.inverse(z), sample_options.batch_rows));
    if (sample_options.postprocess) postprocess(rows);
    return {std::move(rows), split(key)[1]};
  }

  // n_per_class rows of every class: rows [c n_per_class, (c + 1) n_per_class) are class_names[c].
  Draw<S> sample_per_class(Eigen::Index n_per_class, const SampleOptions& sample_options, Key key,
                           const StepCallback<S>& on_step = {}) const {
    const char* where = "LatentDiffusion::sample_per_class";
    require_conditional(where);
    if (n_per_class < 0)
      throw std::invalid_argument(detail::concat(where, ": n_per_class must be >= 0, got ", n_per_class));
    const int classes = options.num_classes;
    if (n_per_class > std::numeric_limits<Eigen::Index>::max() / classes)
      throw std::invalid_argument(detail::concat(where, ": n_per_class = ", n_per_class, " is too large"));
    require_sample_size(where, n_per_class * classes, std::max(options.input_size, options.latent_size),
                        sample_options);
    Eigen::VectorXi ids(n_per_class * classes);
    for (int c = 0; c < classes; ++c) ids.segment(c * n_per_class, n_per_class).setConstant(c);
    return sample_classes(ids, sample_options, key, on_step);
  }

  // n new rows in data units, and the next key.
  Draw<S> sample(Eigen::Index n, const SampleOptions& sample_options, Key key,
                 const StepCallback<S>& on_step = {}) const {
    require_sample_size("LatentDiffusion::sample", n, std::max(options.input_size, options.latent_size),
                        sample_options);
    const Matrix<S> z = sample_latents(n, sample_options, key, on_step);
    Matrix<S> rows = data_scaling.inverse(decode_in_batches(latent_scaling.inverse(z), sample_options.batch_rows));
    if (sample_options.postprocess) postprocess(rows);
    return {std::move(rows), split(key)[1]};
  }

  // Standardised latents straight from the sampler (before the latent scaling is undone).
  // Batch b of batch_rows rows draws from fold_in(split(key)[0], b).
  Matrix<S> sample_latents(Eigen::Index n, const SampleOptions& sample_options, Key key,
                           const StepCallback<S>& on_step = {}) const {
    return sample_latents(n, nullptr, sample_options, key, on_step);
  }

 private:
  // classes == nullptr: unconditional (a conditional model sees "no label"); else one class
  // per row, sampled with classifier-free guidance.
  Matrix<S> sample_latents(Eigen::Index n, const Eigen::VectorXi* classes, const SampleOptions& sample_options, Key key,
                           const StepCallback<S>& on_step) const {
    require_sample_size("LatentDiffusion::sample_latents", n, options.latent_size, sample_options);
    SamplerOptions sampler = sample_options.sampler;
    if (sample_options.clip_to_latent_range && sampler.clip_x0 == 0)
      sampler.clip_x0 = static_cast<double>(latent_bound);
    const Key base = split(key)[0];
    Matrix<S> z(n, options.latent_size);
    DenoiserWorkspace<S> ws;
    const auto eps = [&](const Matrix<S>& z_t, const Eigen::VectorXi& t) -> const Matrix<S>& {
      denoiser.forward(z_t, t, ws);
      return ws.out;
    };
    for (Eigen::Index first = 0, b = 0; first < n; first += sample_options.batch_rows, ++b) {
      const Eigen::Index rows = std::min(sample_options.batch_rows, n - first);
      const Key batch_key = fold_in(base, static_cast<std::uint32_t>(b));
      if (classes) {
        GuidedDenoiser<S> guided(denoiser, classes->segment(first, rows), sample_options.guidance);
        z.middleRows(first, rows) =
            ldm::sample<S>(guided, schedule, rows, options.latent_size, batch_key, sampler, on_step).values;
      } else {
        z.middleRows(first, rows) =
            ldm::sample<S>(eps, schedule, rows, options.latent_size, batch_key, sampler, on_step).values;
      }
    }
    return z;
  }

  void require_conditional(const char* where) const {
    if (options.num_classes == 0 || class_names.empty())
      throw std::invalid_argument(std::string(where) + ": the model is unconditional (trained without labels)");
  }

 public:
  // rows -> encoder mean -> decoder, in data units (no postprocessing).
  Matrix<S> reconstruct(const Matrix<S>& rows) const {
    detail::require_cols("LatentDiffusion::reconstruct", "rows", rows, options.input_size);
    detail::require_finite("LatentDiffusion::reconstruct", "rows", rows);
    const Matrix<S> mu = encoder(data_scaling.transform(rows)).mu;
    return data_scaling.inverse(decode_in_batches(mu, 4096));
  }

  // Rounds integer columns and clips every column to its training range, in place.
  void postprocess(Matrix<S>& rows) const {
    detail::require_cols("LatentDiffusion::postprocess", "rows", rows, options.input_size);
    for (Eigen::Index c = 0; c < rows.cols(); ++c) {
      auto col = rows.col(c);
      if (columns.integer(c) != 0) col = col.array().round().matrix();
      // + 0 turns a rounded -0 into 0, so CSV cells never read "-0".
      col = (col.cwiseMax(columns.min(c)).cwiseMin(columns.max(c)).array() + S(0)).matrix();
    }
  }

  // One safetensors file: the three models, both scalings, the column facts; the options,
  // schedule, column names and latent bound in the metadata. Atomic (see write_safetensors).
  void save(const std::string& path) const {
    TensorMap extra;
    add_tensors(extra, "data_scaling.", data_scaling);
    add_tensors(extra, "latent_scaling.", latent_scaling);
    add_tensors(extra, "columns.", columns);
    MetadataMap metadata = to_metadata(schedule_options);
    metadata["kind"] = "ldm.LatentDiffusion";
    metadata["column_names"] = nlohmann::json(columns.names).dump();
    metadata["latent_bound"] = detail::exact_text(static_cast<double>(latent_bound));
    if (!class_names.empty()) metadata["class_names"] = nlohmann::json(class_names).dump();
    save_models(path, encoder, decoder, denoiser, std::move(metadata), extra);
  }

  // Reads a file written by save(). Throws FormatError naming the file and what is wrong,
  // including sizes beyond `limits` (checked before anything large is allocated).
  static LatentDiffusion load(const std::string& path, const CheckpointLimits& limits = {}) {
    const char* where = "LatentDiffusion::load";
    const SafetensorsData data = read_safetensors(path, limits.file);
    const auto kind = data.metadata.find("kind");
    if (kind == data.metadata.end() || kind->second != "ldm.LatentDiffusion")
      throw FormatError(where, path, "", "not a LatentDiffusion file (its metadata has no kind 'ldm.LatentDiffusion')");
    LatentDiffusion m;
    m.options = options_from_checkpoint(data, limits);  // checked against the file before build allocates
    m.schedule_options = schedule_options_from_metadata(data.metadata, path, limits);
    m.schedule = make_schedule<S>(m.schedule_options);
    std::tie(m.encoder, m.decoder, m.denoiser) = build<S>(m.options, make_key(0));
    load_models(data, m.encoder, m.decoder, m.denoiser);
    m.data_scaling = detail::loaded_copy(data, "data_scaling.", m.data_scaling, ShapePolicy::from_file, where);
    m.latent_scaling = detail::loaded_copy(data, "latent_scaling.", m.latent_scaling, ShapePolicy::from_file, where);
    m.columns = detail::loaded_copy(data, "columns.", m.columns, ShapePolicy::from_file, where);
    m.latent_bound = static_cast<S>(detail::metadata_double(data.metadata, "latent_bound", path, where));
    try {
      const auto names = nlohmann::json::parse(data.metadata.at("column_names"));
      m.columns.names = names.get<std::vector<std::string>>();
    } catch (const std::exception& e) {
      throw FormatError(where, path, "",
                        std::string("metadata 'column_names' is not a JSON list of strings: ") + e.what());
    }
    const auto width = static_cast<Eigen::Index>(m.options.input_size);
    const auto check = [&](const char* what, Eigen::Index size, Eigen::Index expected) {
      if (size != expected)
        throw FormatError(where, path, what, detail::concat("has ", size, " entries, expected ", expected));
    };
    check("data_scaling.mean", m.data_scaling.mean.size(), width);
    check("data_scaling.scale", m.data_scaling.scale.size(), width);
    check("latent_scaling.mean", m.latent_scaling.mean.size(), m.options.latent_size);
    check("latent_scaling.scale", m.latent_scaling.scale.size(), m.options.latent_size);
    check("columns.min", m.columns.min.size(), width);
    check("columns.max", m.columns.max.size(), width);
    check("columns.integer", m.columns.integer.size(), width);
    check("column_names", static_cast<Eigen::Index>(m.columns.names.size()), width);
    if (const auto it = data.metadata.find("class_names"); it != data.metadata.end()) {
      try {
        m.class_names = nlohmann::json::parse(it->second).get<std::vector<std::string>>();
      } catch (const std::exception& e) {
        throw FormatError(where, path, "",
                          std::string("metadata 'class_names' is not a JSON list of strings: ") + e.what());
      }
    }
    check("class_names (metadata num_classes)", static_cast<Eigen::Index>(m.class_names.size()), m.options.num_classes);
    return m;
  }

 private:
  template <class>
  friend class FitRun;

  // n >= 0, batch_rows > 0, and n x width scalars within sample_options.max_matrix_bytes.
  static void require_sample_size(const char* where, Eigen::Index n, int width, const SampleOptions& sample_options) {
    if (n < 0) throw std::invalid_argument(detail::concat(where, ": n must be >= 0, got ", n));
    detail::require_positive(where, "batch_rows", sample_options.batch_rows);
    const std::uint64_t limit = sample_options.max_matrix_bytes,
                        row_bytes = sizeof(S) * static_cast<std::uint64_t>(width);
    if (row_bytes > 0 && static_cast<std::uint64_t>(n) > limit / row_bytes)
      throw std::invalid_argument(detail::concat(where, ": n = ", n, " rows of ", width, " values need ",
                                                 static_cast<double>(n) * static_cast<double>(row_bytes),
                                                 " bytes, above the limit of ", limit,
                                                 " (SampleOptions::max_matrix_bytes)"));
  }

  static ColumnInfo<S> describe_columns(const Matrix<S>& rows, std::vector<std::string> names) {
    ColumnInfo<S> info;
    info.names = std::move(names);
    info.min = rows.colwise().minCoeff().transpose();
    info.max = rows.colwise().maxCoeff().transpose();
    info.integer.resize(rows.cols());
    for (Eigen::Index c = 0; c < rows.cols(); ++c)
      info.integer(c) = (rows.col(c).array() == rows.col(c).array().round()).all() ? S(1) : S(0);
    return info;
  }

  Matrix<S> decode_in_batches(const Matrix<S>& z, Eigen::Index batch_rows) const {
    Matrix<S> out(z.rows(), options.input_size);
    DecoderWorkspace<S> ws;
    for (Eigen::Index first = 0; first < z.rows(); first += batch_rows) {
      const Eigen::Index n = std::min(batch_rows, z.rows() - first);
      decoder.forward(z.middleRows(first, n), ws);
      out.middleRows(first, n) = ws.out;
    }
    return out;
  }
};

// The options of a run as JSON text: what a checkpoint stores, so a resume with other options
// can be refused.
inline std::string fit_options_text(const FitOptions& o) {
  nlohmann::ordered_json j;
  j["model"] = {o.model.input_size, o.model.latent_size, o.model.hidden_size,
                o.model.num_layers, o.model.num_steps,   static_cast<int>(o.model.time_embedding)};
  j["schedule"] = {o.schedule.num_steps, o.schedule.beta_start, o.schedule.beta_end, static_cast<int>(o.schedule.kind)};
  const VaeTrainOptions& v = o.vae;
  j["vae"] = {v.steps,        v.batch_size,   v.kl_weight,    v.kl_warmup_steps, v.lr,
              v.warmup_steps, v.cosine_decay, v.weight_decay, v.clip_grad_norm};
  const DenoiserTrainOptions& d = o.denoiser;
  j["denoiser"] = {d.steps,
                   d.batch_size,
                   d.lr,
                   d.warmup_steps,
                   d.cosine_decay,
                   d.weight_decay,
                   d.clip_grad_norm,
                   static_cast<int>(d.prediction),
                   d.min_snr_gamma,
                   d.ema_decay};
  j["latent_source"] = static_cast<int>(o.latent_source);
  if (o.model.num_classes > 0)
    j["labels"] = {o.model.num_classes, o.denoiser.label_dropout};  // unconditional text as before
  return j.dump();
}

namespace detail {

// FNV-1a, 64 bits (Fowler, Noll, Vo), over the shape and the bytes of the rows, and of the
// class ids and names when there are labels: a resume on other data is refused.
template <class S>
std::string data_fingerprint(const Matrix<S>& rows, const Eigen::VectorXi& labels = {},
                             const std::vector<std::string>& class_names = {}) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  const auto mix = [&](const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  };
  const std::int64_t shape[2] = {rows.rows(), rows.cols()};
  mix(shape, sizeof shape);
  mix(rows.data(), sizeof(S) * static_cast<std::size_t>(rows.size()));
  if (labels.size() > 0) {  // unlabelled data keeps its old fingerprint
    mix(labels.data(), sizeof(int) * static_cast<std::size_t>(labels.size()));
    for (const std::string& name : class_names) mix(name.c_str(), name.size() + 1);  // with the '\0': no ambiguity
  }
  return concat(std::hex, h);
}

}  // namespace detail

// A training run that can stop and go on: VAE phase, then denoiser phase. Every
// checkpoint_every steps (and on request) it saves its whole state — models, optimizer moments
// and step, EMA, phase, key — to one safetensors file, atomically. A run resumed from any such
// file ends with weights bit-identical to the uninterrupted run: every random choice and the
// learning rate follow from (key, step), and the data order from (key, epoch).
template <class S = float>
class FitRun {
 public:
  enum class Phase { vae, denoiser, done };

  FitRun(const Matrix<S>& rows, const FitOptions& options, Key key, std::vector<std::string> column_names = {})
      : FitRun(rows, std::vector<std::string>{}, options, key, std::move(column_names)) {}

  // A conditional run: one label per row (see LatentDiffusion::fit with labels).
  FitRun(const Matrix<S>& rows, const std::vector<std::string>& labels, const FitOptions& options, Key key,
         std::vector<std::string> column_names = {})
      : rows_(rows), options_(options), key_(key) {
    if (rows.rows() < 2)
      throw std::invalid_argument(detail::concat("LatentDiffusion::fit: need at least 2 rows, got ", rows.rows()));
    detail::require_finite("LatentDiffusion::fit", "rows", rows);
    Options& o = options_.model;
    if (o.input_size != 0 && o.input_size != rows.cols())
      throw std::invalid_argument(detail::concat("LatentDiffusion::fit: options say input_size ", o.input_size,
                                                 " but the rows have ", rows.cols(), " columns"));
    o.input_size = static_cast<int>(rows.cols());
    std::vector<std::string> class_names;
    if (!labels.empty()) {
      if (labels.size() != static_cast<std::size_t>(rows.rows()))
        throw std::invalid_argument(
            detail::concat("LatentDiffusion::fit: ", labels.size(), " labels for ", rows.rows(), " rows"));
      class_names = class_names_of(labels);
      const int classes = static_cast<int>(class_names.size());
      if (o.num_classes != 0 && o.num_classes != classes)
        throw std::invalid_argument(detail::concat("LatentDiffusion::fit: options say num_classes ", o.num_classes,
                                                   " but the labels have ", classes, " classes"));
      o.num_classes = classes;
      std::map<std::string, int> id;
      for (int c = 0; c < classes; ++c) id[class_names[static_cast<std::size_t>(c)]] = c;
      label_ids_.resize(rows.rows());
      for (Eigen::Index r = 0; r < rows.rows(); ++r) label_ids_(r) = id.at(labels[static_cast<std::size_t>(r)]);
    } else if (o.num_classes != 0) {
      throw std::invalid_argument(
          detail::concat("LatentDiffusion::fit: options say num_classes ", o.num_classes, " but no labels were given"));
    }
    if (!column_names.empty() && column_names.size() != static_cast<std::size_t>(rows.cols()))
      throw std::invalid_argument(
          detail::concat("LatentDiffusion::fit: ", column_names.size(), " column names for ", rows.cols(), " columns"));
    if (column_names.empty())
      for (Eigen::Index c = 0; c < rows.cols(); ++c) column_names.push_back(detail::concat("x", c));
    LatentDiffusion<S>& m = model_;
    m.options = o;
    m.schedule_options = options_.schedule;
    m.schedule_options.num_steps = o.num_steps;
    m.schedule = make_schedule<S>(m.schedule_options);
    std::tie(m.encoder, m.decoder, m.denoiser) = build<S>(o, split(key_, 3)[0]);
    m.columns = LatentDiffusion<S>::describe_columns(rows, std::move(column_names));
    m.class_names = std::move(class_names);
    m.data_scaling.fit(rows);
    x_ = m.data_scaling.transform(rows);
  }
  FitRun(const FitRun&) = delete;  // the trainers hold references into this object
  FitRun& operator=(const FitRun&) = delete;

  Phase phase() const { return phase_; }
  // Steps done in the current phase.
  long long step() const {
    if (phase_ == Phase::vae) return vae_ ? vae_->steps_done() : 0;
    if (phase_ == Phase::denoiser) return denoiser_ ? denoiser_->steps_done() : 0;
    return 0;
  }
  static const char* phase_name(Phase p) {
    return p == Phase::vae ? "vae" : p == Phase::denoiser ? "denoiser" : "done";
  }

  // Trains until done (returns true) or until progress returns false (returns false, after
  // saving a checkpoint when checkpoint_path is set). With checkpoint_every > 0 the state is
  // saved to checkpoint_path after every that many steps of either phase.
  bool run(const ProgressCallback& progress = {}, long long checkpoint_every = 0,
           const std::string& checkpoint_path = {}) {
    if (checkpoint_every < 0)
      throw std::invalid_argument(detail::concat("FitRun::run: checkpoint_every must be >= 0, got ", checkpoint_every));
    if (checkpoint_every > 0 && checkpoint_path.empty())
      throw std::invalid_argument("FitRun::run: checkpoint_every is set but checkpoint_path is empty");
    const auto after_step = [&](const Progress& p) {
      const bool go = !progress || progress(p);
      const bool periodic = checkpoint_every > 0 && p.step % checkpoint_every == 0;
      if (!checkpoint_path.empty() && (periodic || !go)) save_state(checkpoint_path);
      return go;
    };
    if (phase_ == Phase::vae) {
      start_vae();
      detail::ProgressReporter reporter("vae", options_.vae.steps, after_step);
      while (vae_->steps_done() < options_.vae.steps) {
        const double loss = vae_->step().total;
        const long long done = vae_->steps_done();
        if (!reporter.report(done, vae_->epoch(), loss, vae_->last_lr(),
                             (done - vae_start_) * static_cast<long long>(vae_->batch_size())))
          return false;
      }
      finish_vae();
    }
    if (phase_ == Phase::denoiser) {
      start_denoiser();
      detail::ProgressReporter reporter("denoiser", options_.denoiser.steps, after_step);
      while (denoiser_->steps_done() < options_.denoiser.steps) {
        const double loss = denoiser_->step();
        const long long done = denoiser_->steps_done();
        if (!reporter.report(done, denoiser_->epoch(), loss, denoiser_->last_lr(),
                             (done - denoiser_start_) * static_cast<long long>(denoiser_->batch_size())))
          return false;
      }
      phase_ = Phase::done;
    }
    return true;
  }

  // The model as trained so far; in and after the denoiser phase it samples with the EMA
  // weights when EMA is on.
  LatentDiffusion<S> model() const {
    LatentDiffusion<S> m = model_;
    if (denoiser_)
      if (const Denoiser<S>* average = denoiser_->ema_average()) m.denoiser = *average;
    return m;
  }

  // Writes the whole state (atomically: an existing file is replaced only by a complete one).
  void save_state(const std::string& path) const {
    FitRun& self = const_cast<FitRun&>(*this);  // visit_state walks mutable tensors; nothing changes
    TensorMap extra;
    const auto add = [&](const std::string& name, const auto& t) { extra.emplace("state." + name, to_tensor(t)); };
    if (self.vae_) self.vae_->visit_state(add);
    if (self.denoiser_) self.denoiser_->visit_state(add);
    MetadataMap metadata;
    metadata["kind"] = "ldm.FitRun";
    metadata["phase"] = phase_name(phase_);
    metadata["step"] = std::to_string(step());
    metadata["key"] = detail::concat(key_[0], ",", key_[1]);
    metadata["fit_options"] = fit_options_text(options_);
    metadata["data"] = detail::data_fingerprint(rows_, label_ids_, model_.class_names);
    save_models(path, model_.encoder, model_.decoder, model_.denoiser, std::move(metadata), extra);
  }

  // Continues from a file written by save_state. Must be called before run(), on a FitRun
  // made with the same rows, options and key; anything else is refused with a FormatError
  // that says what differs, and leaves this run as it was.
  void resume(const std::string& path, const SafetensorsLimits& limits = {}) {
    const char* where = "FitRun::resume";
    if (vae_ || denoiser_ || phase_ != Phase::vae)
      throw std::logic_error("FitRun::resume: call it on a fresh run, before run()");
    const SafetensorsData data = read_safetensors(path, limits);
    const auto meta = [&](const char* name) -> const std::string& {
      const auto it = data.metadata.find(name);
      if (it == data.metadata.end())
        throw FormatError(where, path, "", std::string("the metadata has no '") + name + "'");
      return it->second;
    };
    if (meta("kind") != "ldm.FitRun")
      throw FormatError(where, path, "", "not a training checkpoint (kind '" + meta("kind") + "')");
    if (meta("data") != detail::data_fingerprint(rows_, label_ids_, model_.class_names))
      throw FormatError(where, path, "", "the checkpoint was made on other data (rows, columns or values differ)");
    if (meta("fit_options") != fit_options_text(options_))
      throw FormatError(
          where, path, "",
          "the checkpoint was made with other options: " + meta("fit_options") + " now " + fit_options_text(options_));
    if (meta("key") != detail::concat(key_[0], ",", key_[1]))
      throw FormatError(where, path, "", "the checkpoint was made with another seed");
    const std::string& phase = meta("phase");
    const long long step = detail::metadata_int(data.metadata, "step", path, where);
    LatentDiffusion<S> restored = model_;
    load_models(data, restored.encoder, restored.decoder, restored.denoiser);
    const auto restore_state = [&](auto& trainer) {
      if (step == 0) return;  // saved before the first step: the fresh trainer is that state
      trainer.visit_state([&](const std::string& name, auto& t) {
        const auto it = data.tensors.find("state." + name);
        if (it == data.tensors.end()) throw FormatError(where, path, "state." + name, "missing");
        const std::vector<std::int64_t> shape = detail::param_shape(t);
        if (it->second.shape != shape)
          throw FormatError(
              where, path, "state." + name,
              "shape " + detail::shape_string(it->second.shape) + " differs from " + detail::shape_string(shape));
        detail::decode_floats(it->second, t.data());
      });
      trainer.restore_step(step);
    };
    // Build the trainers on the restored models, then commit; on any error nothing changed.
    std::swap(model_, restored);
    try {
      if (phase == "vae") {
        start_vae();
        restore_state(*vae_);
        vae_start_ = step;
      } else if (phase == "denoiser") {
        phase_ = Phase::denoiser;
        start_denoiser();
        restore_state(*denoiser_);
        denoiser_start_ = step;
      } else {
        throw FormatError(where, path, "", "unknown phase '" + phase + "'");
      }
    } catch (...) {
      std::swap(model_, restored);
      vae_.reset();
      denoiser_.reset();
      latents_.reset();
      phase_ = Phase::vae;
      throw;
    }
  }

 private:
  void start_vae() {
    if (!vae_) vae_.emplace(model_.encoder, model_.decoder, x_, options_.vae, split(key_, 3)[1]);
  }
  void finish_vae() {
    latents_.emplace(encode_latents(model_.encoder, x_, options_.latent_source));
    latents_->labels = label_ids_;
    model_.latent_scaling = latents_->scaling;
    model_.latent_bound = model_.latent_scaling.transform(latents_->mu).cwiseAbs().maxCoeff();
    vae_.reset();
    phase_ = Phase::denoiser;
  }
  void start_denoiser() {
    if (!latents_) {  // resumed in the denoiser phase: the frozen encoder gives the same latents
      latents_.emplace(encode_latents(model_.encoder, x_, options_.latent_source));
      latents_->labels = label_ids_;
      model_.latent_scaling = latents_->scaling;
      model_.latent_bound = model_.latent_scaling.transform(latents_->mu).cwiseAbs().maxCoeff();
    }
    if (!denoiser_)
      denoiser_.emplace(model_.denoiser, *latents_, model_.schedule, options_.denoiser, split(key_, 3)[2]);
  }

  const Matrix<S>& rows_;
  FitOptions options_;
  Key key_;
  LatentDiffusion<S> model_;
  Matrix<S> x_;                // standardised rows
  Eigen::VectorXi label_ids_;  // (N) each row's class id; empty when unconditional
  Phase phase_ = Phase::vae;
  std::optional<VaeTrainer<S>> vae_;
  std::optional<LatentSet<S>> latents_;
  std::optional<DenoiserTrainer<S>> denoiser_;
  long long vae_start_ = 0, denoiser_start_ = 0;  // where this process began, for samples/s
};

template <class S>
LatentDiffusion<S> LatentDiffusion<S>::fit(const Matrix<S>& rows, const FitOptions& fit_options, Key key,
                                           const ProgressCallback& progress, std::vector<std::string> column_names) {
  FitRun<S> run(rows, fit_options, key, std::move(column_names));
  run.run(progress);
  return run.model();
}

template <class S>
LatentDiffusion<S> LatentDiffusion<S>::fit(const Matrix<S>& rows, const std::vector<std::string>& labels,
                                           const FitOptions& fit_options, Key key, const ProgressCallback& progress,
                                           std::vector<std::string> column_names) {
  FitRun<S> run(rows, labels, fit_options, key, std::move(column_names));
  run.run(progress);
  return run.model();
}

}  // namespace ldm
