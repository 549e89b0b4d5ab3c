// Training as a run that can stop and go on, and LatentDiffusion::fit on top of it.
#pragma once

#include <ldm/data/vector_layout.hpp>
#include <ldm/io/checkpoint.hpp>
#include <ldm/pipeline/latent_diffusion.hpp>
#include <ldm/train/denoiser_trainer.hpp>
#include <ldm/train/latents.hpp>
#include <ldm/train/loop.hpp>
#include <ldm/train/vae_trainer.hpp>

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ldm {

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
    m.prediction = options_.denoiser.prediction;
    m.data_scaling.fit(rows);
    x_ = m.data_scaling.transform(rows);
  }
  FitRun(const FitRun&) = delete;  // the trainers hold references into this object
  FitRun& operator=(const FitRun&) = delete;

  // The rows are a mixed table's encoding (data/encoding.hpp) laid out as `layout`: the VAE
  // learns them with the mixed reconstruction loss (train/reconstruction.hpp) and they are not
  // standardised again (data_scaling is the identity). Call it on a fresh run, before run() or
  // resume(); a numeric table without missing cells needs none (its plain layout is the seed's).
  void set_layout(const VectorLayout& layout) {
    if (vae_ || denoiser_ || phase_ != Phase::vae) throw std::logic_error("FitRun::set_layout: call it on a fresh run");
    if (layout.width != rows_.cols())
      throw std::invalid_argument(detail::concat("FitRun::set_layout: the layout is ", layout.width,
                                                 " wide but the rows have ", rows_.cols(), " columns"));
    layout_ = layout;
    model_.data_scaling.mean = Vector<S>::Zero(rows_.cols());
    model_.data_scaling.scale = Vector<S>::Ones(rows_.cols());
    x_ = rows_;
  }

  // Trains data parallel (train/data_parallel.hpp): each batch in parallel.chunks chunks shared
  // by the processes of parallel.communicator, summed exactly, so that any number of processes
  // (up to chunks) writes the same model. Every process makes this FitRun on all the rows and
  // calls run() (or resume()) with the same arguments; only rank 0 writes checkpoints, and a
  // stop asked on any process stops all after the same step. Call it on a fresh run.
  void set_data_parallel(const DataParallel& parallel) {
    if (vae_ || denoiser_ || phase_ != Phase::vae)
      throw std::logic_error("FitRun::set_data_parallel: call it on a fresh run");
    detail::require_valid_parallel("FitRun (vae)", parallel, options_.vae.batch_size);
    detail::require_valid_parallel("FitRun (denoiser)", parallel, options_.denoiser.batch_size);
    parallel_ = parallel;
  }

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
    Checkpointing checkpointing{.every = checkpoint_every};
    Communicator& comm = parallel_.comm();
    if (!checkpoint_path.empty())
      checkpointing.save = [&] {
        if (comm.rank() == 0) save_state(checkpoint_path);
      };
    ProgressCallback agreed = progress;  // with several processes, each stop is every process's
    if (progress && comm.size() > 1) agreed = [&](const Progress& p) { return comm.all(progress(p)); };
    if (phase_ == Phase::vae) {
      start_vae();
      if (!run_steps(*vae_, "vae", options_.vae.steps, agreed, checkpointing)) return false;
      finish_vae();
    }
    if (phase_ == Phase::denoiser) {
      start_denoiser();
      if (!run_steps(*denoiser_, "denoiser", options_.denoiser.steps, agreed, checkpointing)) return false;
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
    metadata["fit_options"] = nlohmann::json(options_).dump();
    metadata["data"] = detail::data_fingerprint(rows_, label_ids_, model_.class_names);
    if (parallel_.on())
      metadata["chunks"] = std::to_string(parallel_.chunks);  // only then: older files stay as they were
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
    nlohmann::json saved_options;
    try {
      saved_options = nlohmann::json::parse(meta("fit_options"));
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(where, path, "", std::string("metadata 'fit_options' is not JSON: ") + e.what());
    }
    if (const std::string change = detail::what_changed(saved_options, nlohmann::json(options_)); !change.empty())
      throw FormatError(where, path, "", "the checkpoint was made with other options: " + change);
    if (meta("key") != detail::concat(key_[0], ",", key_[1]))
      throw FormatError(where, path, "", "the checkpoint was made with another seed");
    const auto chunks = data.metadata.find("chunks");
    const std::string saved_chunks = chunks == data.metadata.end() ? "0" : chunks->second;
    if (saved_chunks != std::to_string(parallel_.chunks))
      throw FormatError(where, path, "",
                        "the checkpoint was made with chunks " + saved_chunks + ", now " +
                            std::to_string(parallel_.chunks) +
                            " (the batches' chunks must stay; the process count may change)");
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
      } else if (phase == "denoiser") {
        phase_ = Phase::denoiser;
        start_denoiser();
        restore_state(*denoiser_);
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
    if (!vae_)
      vae_.emplace(model_.encoder, model_.decoder, x_, options_.vae, split(key_, 3)[1], layout_ ? &*layout_ : nullptr,
                   parallel_);
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
      denoiser_.emplace(model_.denoiser, *latents_, model_.schedule, options_.denoiser, split(key_, 3)[2], parallel_);
  }

  const Matrix<S>& rows_;
  FitOptions options_;
  Key key_;
  LatentDiffusion<S> model_;
  Matrix<S> x_;                         // standardised rows (or, with a layout, the rows as they are)
  std::optional<VectorLayout> layout_;  // a mixed table's layout (set_layout); none: the seed's MSE
  Eigen::VectorXi label_ids_;           // (N) each row's class id; empty when unconditional
  Phase phase_ = Phase::vae;
  DataParallel parallel_;
  std::optional<VaeTrainer<S>> vae_;
  std::optional<LatentSet<S>> latents_;
  std::optional<DenoiserTrainer<S>> denoiser_;
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
