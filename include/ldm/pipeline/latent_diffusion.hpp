// The whole flow in one object: standardise the rows, train the VAE, freeze it, encode, train
// the denoiser on standardised latents; sample, decode and map back to data units; save and
// load everything in one safetensors file. Given a label per row, the denoiser is conditional
// and sampling asks for a class, with classifier-free guidance (diffusion/guidance.hpp).
// Training itself, resumable, is FitRun (fit_run.hpp), which this header brings in at its end.
#pragma once

#include <ldm/diffusion/guidance.hpp>
#include <ldm/diffusion/samplers.hpp>
#include <ldm/io/checkpoint.hpp>
#include <ldm/pipeline/columns.hpp>
#include <ldm/pipeline/options.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

namespace ldm {

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
  // What the denoiser predicts (fit_options.denoiser.prediction; saved when not epsilon): the
  // samplers read it from here, whatever sample_options.sampler.prediction says.
  Prediction prediction = Prediction::epsilon;

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
    sampler.prediction = prediction;
    if (sample_options.clip_to_latent_range && sampler.clip_x0 == 0)
      sampler.clip_x0 = static_cast<double>(latent_bound);
    const Key base = split(key)[0];
    Matrix<S> z(n, options.latent_size);
    // The weights stay as they are while sampling: each is packed for the GEMM kernel once and
    // reused by every step, batch and thread, and by later calls while the weights are the same
    // (recheck compares them; the same bits either way).
    weight_packs_.recheck();
    DenoiserWorkspace<S> ws;
    ws.weight_packs = &weight_packs_;
    const auto eps = [&](const Matrix<S>& z_t, const Eigen::VectorXi& t) -> const Matrix<S>& {
      denoiser.forward(z_t, t, ws);
      return ws.out;
    };
    const Eigen::Index batches = (n + sample_options.batch_rows - 1) / sample_options.batch_rows;
    const auto [my_first, my_last] =
        sample_options.communicator
            ? detail::share(batches, sample_options.communicator->rank(), sample_options.communicator->size())
            : std::pair<Eigen::Index, Eigen::Index>{0, batches};
    for (Eigen::Index b = my_first; b < my_last; ++b) {
      const Eigen::Index first = b * sample_options.batch_rows;
      const Eigen::Index rows = std::min(sample_options.batch_rows, n - first);
      const Key batch_key = fold_in(base, static_cast<std::uint32_t>(b));
      if (classes) {
        GuidedDenoiser<S> guided(denoiser, classes->segment(first, rows), sample_options.guidance, &weight_packs_);
        z.middleRows(first, rows) =
            ldm::sample<S>(guided, schedule, rows, options.latent_size, batch_key, sampler, on_step).values;
      } else {
        z.middleRows(first, rows) =
            ldm::sample<S>(eps, schedule, rows, options.latent_size, batch_key, sampler, on_step).values;
      }
    }
    if (sample_options.communicator && sample_options.communicator->size() > 1) {
      const Eigen::Index owned_first = my_first * sample_options.batch_rows * z.cols();
      const Eigen::Index owned_last = std::min(n, my_last * sample_options.batch_rows) * z.cols();
      gather_owned(*sample_options.communicator, std::span<S>(z.data(), static_cast<std::size_t>(z.size())),
                   [&](std::size_t i) {
                     return static_cast<Eigen::Index>(i) >= owned_first && static_cast<Eigen::Index>(i) < owned_last;
                   });
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
  // more_tensors and more_metadata are saved with it (what a model built on this one adds, such
  // as a table's encoding); their names must not clash with the model's.
  void save(const std::string& path, TensorMap more_tensors = {}, const MetadataMap& more_metadata = {}) const {
    TensorMap extra = std::move(more_tensors);
    add_tensors(extra, "data_scaling.", data_scaling);
    add_tensors(extra, "latent_scaling.", latent_scaling);
    add_tensors(extra, "columns.", columns);
    MetadataMap metadata = to_metadata(schedule_options);
    metadata["kind"] = "ldm.LatentDiffusion";
    metadata["column_names"] = nlohmann::json(columns.names).dump();
    metadata["latent_bound"] = detail::exact_text(static_cast<double>(latent_bound));
    if (!class_names.empty()) metadata["class_names"] = nlohmann::json(class_names).dump();
    // Only when not epsilon, so an epsilon model's file is what it was before the key existed.
    if (prediction != Prediction::epsilon) metadata["prediction"] = enum_name(prediction);
    for (const auto& [key, value] : more_metadata)
      if (!metadata.emplace(key, value).second)
        throw std::invalid_argument("LatentDiffusion::save: metadata '" + key + "' is the model's own");
    save_models(path, encoder, decoder, denoiser, std::move(metadata), extra);
  }

  // Reads a file written by save(). Throws FormatError naming the file and what is wrong,
  // including sizes beyond `limits` (checked before anything large is allocated).
  static LatentDiffusion load(const std::string& path, const CheckpointLimits& limits = {}) {
    return load(read_safetensors(path, limits.file), limits);
  }

  // The same from a file already read (data.path names it in messages).
  static LatentDiffusion load(const SafetensorsData& data, const CheckpointLimits& limits = {}) {
    const char* where = "LatentDiffusion::load";
    const std::string& path = data.path;
    const auto kind = data.metadata.find("kind");
    if (kind == data.metadata.end() || kind->second != "ldm.LatentDiffusion")
      throw FormatError(where, path, "", "not a LatentDiffusion file (its metadata has no kind 'ldm.LatentDiffusion')");
    LatentDiffusion m;
    m.options = options_from_checkpoint(data, limits);  // checked against the file before build allocates
    m.schedule_options = schedule_options_from_metadata(data.metadata, path, limits);
    m.schedule = make_schedule<S>(m.schedule_options);
    std::tie(m.encoder, m.decoder, m.denoiser) = build_shapes<S>(m.options);
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
    if (const auto it = data.metadata.find("prediction"); it != data.metadata.end()) {
      try {
        m.prediction = enum_from_name<Prediction>(it->second, "metadata 'prediction'");
      } catch (const std::invalid_argument& e) {
        throw FormatError(where, path, "", e.what());
      }
    }
    return m;
  }

 private:
  template <class>
  friend class FitRun;

  // The denoiser's weights as sampling packed them for the GEMM kernel, kept for the next call
  // (which compares them with the weights first; a copy of the model starts without them).
  mutable detail::PackedWeights<S> weight_packs_;

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

}  // namespace ldm

// LatentDiffusion::fit is defined with FitRun, which builds on the class above.
#include <ldm/pipeline/fit_run.hpp>
