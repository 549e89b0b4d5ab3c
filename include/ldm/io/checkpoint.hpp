// Checkpoints: the three models (and anything else the caller adds) in one safetensors file.
//
// Tensor names are the parameter names (model.visit) with the prefixes "encoder.", "decoder.",
// "denoiser.", so a PyTorch state_dict of the same layout loads directly, and back. Floats are
// written as F32, doubles as F64; F16 and BF16 files load too. __metadata__ holds
// "ldm_format_version" and, for ldm's models, the Options that rebuild them (the keys of
// ../shared/bench/torch_ref.py: input_size, latent_size, hidden_size, num_layers, num_steps, plus
// time_embedding, and num_classes for a conditional model only). Other prefixes ("standardizer.", "golden.", ...) are
// free for the caller.
//
// Loading is all-or-nothing: the new values are built in copies and every check (missing
// parameter, extra tensor under a model prefix, shape, dtype) passes before the caller's models
// are replaced. Saving writes a temporary file and renames it (write_safetensors).
//
// Hostile files: models are built from a checkpoint's options only after the options were
// checked against the file (the parameters they describe must be the values the file holds),
// and num_steps (which no tensor shows, but sizes the schedule) has a limit, so no metadata can
// make the loader allocate much more than the file's size.
#pragma once

#include <ldm/diffusion/schedule.hpp>
#include <ldm/io/safetensors.hpp>
#include <ldm/nn/build.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace ldm {

inline constexpr int checkpoint_format_version = 1;
inline constexpr const char* format_version_key = "ldm_format_version";

// What a checkpoint may ask for at most.
struct CheckpointLimits {
  SafetensorsLimits file{};       // the safetensors file (header and file size)
  int max_num_steps = 1'000'000;  // diffusion steps: the schedule holds 8 numbers per step
};

// How assign_tensors treats a parameter whose shape differs from the file's.
enum class ShapePolicy {
  must_match,  // an error: models are built first, from the options (the default)
  from_file,   // the parameter takes the file's shape (same rank): for data-sized things such as a
               // Standardizer
};

// Adds every parameter of model (anything with visit(f), f(name, param)) to tensors as
// "<prefix><name>". Throws std::invalid_argument if a name is already there.
template <class Model>
void add_tensors(TensorMap& tensors, const std::string& prefix, const Model& model) {
  model.visit([&](const std::string& name, const auto& param) {
    if (!tensors.emplace(prefix + name, to_tensor(param)).second)
      throw std::invalid_argument("add_tensors: the tensor '" + prefix + name + "' is already in the set");
  });
}

namespace detail {

template <class Param>
std::vector<std::int64_t> param_shape(const Param& p) {
  if constexpr (Param::ColsAtCompileTime == 1)
    return {static_cast<std::int64_t>(p.rows())};
  else
    return {static_cast<std::int64_t>(p.rows()), static_cast<std::int64_t>(p.cols())};
}

inline bool has_prefix(const std::string& name, const std::string& prefix) {
  return name.compare(0, prefix.size(), prefix) == 0;
}

// A copy of model with every parameter read from data["<prefix><name>"], after checking that
// each exists with the right shape and a float dtype, and that data has no other tensor under
// prefix. Throws FormatError naming the file and the tensor; model itself is never touched.
template <class Model>
Model loaded_copy(const SafetensorsData& data, const std::string& prefix, const Model& model, ShapePolicy policy,
                  const char* where) {
  if (prefix.empty()) throw std::invalid_argument(std::string(where) + ": the prefix must not be empty");
  Model copy = model;
  std::set<std::string> expected;
  copy.visit([&](const std::string& name, auto& param) {
    const std::string full = prefix + name;
    expected.insert(full);
    const std::vector<std::int64_t> shape = param_shape(param);
    const auto it = data.tensors.find(full);
    if (it == data.tensors.end())
      throw FormatError(
          where, data.path, full,
          "missing: the model has this parameter, shape " + shape_string(shape) + ", but the file has no such tensor");
    const Tensor& t = it->second;
    if (policy == ShapePolicy::must_match && t.shape != shape)
      throw FormatError(where, data.path, full,
                        "shape " + shape_string(t.shape) + " differs from the model's " + shape_string(shape));
    if (t.shape.size() != shape.size())
      throw FormatError(where, data.path, full,
                        concat("shape ", shape_string(t.shape), " has ", t.shape.size(),
                               " dimensions, the model's parameter has ", shape.size()));
    if (policy == ShapePolicy::from_file) {
      if constexpr (std::decay_t<decltype(param)>::ColsAtCompileTime == 1)
        param.resize(t.shape[0]);
      else
        param.resize(t.shape[0], t.shape[1]);
    }
    try {
      decode_floats(t, param.data());
    } catch (const std::invalid_argument& e) {
      throw FormatError(where, data.path, full, e.what());
    }
  });
  for (auto it = data.tensors.lower_bound(prefix); it != data.tensors.end() && has_prefix(it->first, prefix); ++it)
    if (!expected.count(it->first))
      throw FormatError(where, data.path, it->first,
                        "the model has no parameter '" + it->first.substr(prefix.size()) + "'");
  return copy;
}

inline int metadata_int(const MetadataMap& metadata, const std::string& key, const std::string& file,
                        const char* where) {
  const auto it = metadata.find(key);
  if (it == metadata.end()) throw FormatError(where, file, "", "the metadata has no '" + key + "'");
  const std::string& text = it->second;
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    throw FormatError(where, file, "", "metadata '" + key + "' must be an integer, got '" + text + "'");
  return value;
}

inline void require_num_steps_limit(int num_steps, const CheckpointLimits& limits, const std::string& file,
                                    const char* where) {
  if (num_steps > limits.max_num_steps)
    throw FormatError(where, file, "",
                      concat("metadata 'num_steps' is ", num_steps, ", above the limit of ", limits.max_num_steps,
                             " (CheckpointLimits::max_num_steps)"));
}

// param_count (build.hpp) in long double, so options of any size give a number to compare
// (exact below 2^64) instead of an overflow.
inline long double parameter_count(const Options& o) {
  const long double in = o.input_size, lat = o.latent_size, hid = o.hidden_size, layers = o.num_layers;
  const auto dense = [](long double fan_in, long double fan_out) { return fan_in * fan_out + fan_out; };
  const long double encoder = dense(in, hid) + dense(hid, hid) + 2 * dense(hid, lat);
  const long double decoder = dense(lat, hid) + dense(hid, hid) + dense(hid, in);
  const long double block = 2 * hid + dense(hid, 4 * hid) + dense(4 * hid, hid);
  const long double denoiser = dense(hid, hid) + dense(lat, hid) + layers * block + dense(hid, lat);
  const long double label_embed = o.num_classes > 0 ? (static_cast<long double>(o.num_classes) + 1) * hid : 0;
  return encoder + decoder + denoiser + label_embed;
}

inline double metadata_double(const MetadataMap& metadata, const std::string& key, const std::string& file,
                              const char* where) {
  const auto it = metadata.find(key);
  if (it == metadata.end()) throw FormatError(where, file, "", "the metadata has no '" + key + "'");
  const std::string& text = it->second;
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || !std::isfinite(value))
    throw FormatError(where, file, "", "metadata '" + key + "' must be a finite number, got '" + text + "'");
  return value;
}

// Shortest text that reads back as exactly the same double (std::to_chars).
inline std::string exact_text(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

inline const char* time_embedding_text(TimeEmbedding kind) { return kind == TimeEmbedding::raw ? "raw" : "normalized"; }

inline void check_format_version(const SafetensorsData& data, const char* where) {
  if (!data.metadata.count(format_version_key)) return;  // a plain PyTorch export has none
  const int version = metadata_int(data.metadata, format_version_key, data.path, where);
  if (version < 1 || version > checkpoint_format_version)
    throw FormatError(
        where, data.path, "",
        concat(format_version_key, " is ", version, "; this build reads versions 1 to ", checkpoint_format_version));
}

}  // namespace detail

// Sets every parameter of model from "<prefix><name>" in data, all or nothing: on any error
// (missing, extra tensor under prefix, shape, dtype) model is unchanged. Throws FormatError.
template <class Model>
void assign_tensors(const SafetensorsData& data, const std::string& prefix, Model& model,
                    ShapePolicy policy = ShapePolicy::must_match) {
  Model loaded = detail::loaded_copy(data, prefix, model, policy, "assign_tensors");
  model = std::move(loaded);
}

// The options as metadata strings (keys as torch_ref.py export writes them, plus time_embedding;
// num_classes only when > 0, so an unconditional model's file is as before).
inline MetadataMap to_metadata(const Options& o) {
  MetadataMap m{{"input_size", std::to_string(o.input_size)},
                {"latent_size", std::to_string(o.latent_size)},
                {"hidden_size", std::to_string(o.hidden_size)},
                {"num_layers", std::to_string(o.num_layers)},
                {"num_steps", std::to_string(o.num_steps)},
                {"time_embedding", detail::time_embedding_text(o.time_embedding)}};
  if (o.num_classes > 0) m["num_classes"] = std::to_string(o.num_classes);
  return m;
}

// The options stored in a checkpoint's metadata; time_embedding defaults to normalized (the
// seed's) and num_classes to 0 (unconditional) when absent. Throws FormatError naming file for a missing or malformed
// key or options that validate() refuses. num_steps above limits.max_num_steps is refused too.
inline Options options_from_metadata(const MetadataMap& metadata, const std::string& file = "(metadata)",
                                     const CheckpointLimits& limits = {}) {
  const char* where = "options_from_metadata";
  Options o;
  o.input_size = detail::metadata_int(metadata, "input_size", file, where);
  o.latent_size = detail::metadata_int(metadata, "latent_size", file, where);
  o.hidden_size = detail::metadata_int(metadata, "hidden_size", file, where);
  o.num_layers = detail::metadata_int(metadata, "num_layers", file, where);
  o.num_steps = detail::metadata_int(metadata, "num_steps", file, where);
  detail::require_num_steps_limit(o.num_steps, limits, file, where);
  if (const auto it = metadata.find("time_embedding"); it != metadata.end()) {
    if (it->second == "normalized")
      o.time_embedding = TimeEmbedding::normalized;
    else if (it->second == "raw")
      o.time_embedding = TimeEmbedding::raw;
    else
      throw FormatError(where, file, "",
                        "metadata 'time_embedding' must be normalized or raw, got '" + it->second + "'");
  }
  if (metadata.count("num_classes")) o.num_classes = detail::metadata_int(metadata, "num_classes", file, where);
  try {
    validate(o);
  } catch (const std::invalid_argument& e) {
    throw FormatError(where, file, "", e.what());
  }
  return o;
}

// options_from_metadata, and the check that makes building models from them safe: the
// parameters the options describe must be exactly the values the file holds under encoder.,
// decoder. and denoiser. (as load_models will require), so hostile options cannot ask for
// more memory than the file's size. Throws FormatError.
inline Options options_from_checkpoint(const SafetensorsData& data, const CheckpointLimits& limits = {}) {
  const Options o = options_from_metadata(data.metadata, data.path, limits);
  std::uint64_t values = 0;
  for (const auto& [name, tensor] : data.tensors)
    if (detail::has_prefix(name, "encoder.") || detail::has_prefix(name, "decoder.") ||
        detail::has_prefix(name, "denoiser."))
      values += static_cast<std::uint64_t>(numel(tensor));  // at most the file's size
  const long double expected = detail::parameter_count(o);
  if (expected != static_cast<long double>(values))
    throw FormatError("options_from_checkpoint", data.path, "",
                      detail::concat("the options (input_size ", o.input_size, ", latent_size ", o.latent_size,
                                     ", hidden_size ", o.hidden_size, ", num_layers ", o.num_layers, ", num_classes ",
                                     o.num_classes, ") describe ", detail::exact_text(static_cast<double>(expected)),
                                     " parameters, but the file's encoder., decoder. and denoiser. tensors hold ",
                                     values, " values"));
  return o;
}

// The schedule as metadata strings: beta_schedule (linear, scaled_linear, cosine), beta_start,
// beta_end (shortest exact decimal), num_steps.
inline MetadataMap to_metadata(const ScheduleOptions& s) {
  const char* kind = s.kind == BetaSchedule::cosine          ? "cosine"
                     : s.kind == BetaSchedule::scaled_linear ? "scaled_linear"
                                                             : "linear";
  return {{"beta_schedule", kind},
          {"beta_start", detail::exact_text(s.beta_start)},
          {"beta_end", detail::exact_text(s.beta_end)},
          {"num_steps", std::to_string(s.num_steps)}};
}

// The schedule stored by to_metadata(ScheduleOptions). Throws FormatError naming file.
// num_steps above limits.max_num_steps is refused too.
inline ScheduleOptions schedule_options_from_metadata(const MetadataMap& metadata,
                                                      const std::string& file = "(metadata)",
                                                      const CheckpointLimits& limits = {}) {
  const char* where = "schedule_options_from_metadata";
  ScheduleOptions s;
  s.num_steps = detail::metadata_int(metadata, "num_steps", file, where);
  detail::require_num_steps_limit(s.num_steps, limits, file, where);
  s.beta_start = detail::metadata_double(metadata, "beta_start", file, where);
  s.beta_end = detail::metadata_double(metadata, "beta_end", file, where);
  const auto it = metadata.find("beta_schedule");
  if (it == metadata.end()) throw FormatError(where, file, "", "the metadata has no 'beta_schedule'");
  if (it->second == "linear")
    s.kind = BetaSchedule::linear;
  else if (it->second == "scaled_linear")
    s.kind = BetaSchedule::scaled_linear;
  else if (it->second == "cosine")
    s.kind = BetaSchedule::cosine;
  else
    throw FormatError(where, file, "",
                      "metadata 'beta_schedule' must be linear, scaled_linear or cosine, got '" + it->second + "'");
  return s;
}

// The Options the three models were built with, read off their shapes. Throws
// std::invalid_argument if the models do not fit together.
template <class S>
Options options_of(const Encoder<S>& encoder, const Decoder<S>& decoder, const Denoiser<S>& denoiser) {
  Options o;
  o.input_size = static_cast<int>(encoder.input_size());
  o.latent_size = static_cast<int>(encoder.latent_size());
  o.hidden_size = static_cast<int>(denoiser.hidden_size());
  o.num_layers = denoiser.num_layers();
  o.num_steps = denoiser.num_steps;
  o.time_embedding = denoiser.embedding;
  o.num_classes = denoiser.num_classes();
  const auto require = [](const char* what, Eigen::Index value, Eigen::Index expected) {
    if (value != expected)
      throw std::invalid_argument(detail::concat("options_of: the ", what, " is ", value, ", expected ", expected));
  };
  require("decoder input_size", decoder.input_size(), encoder.input_size());
  require("decoder latent_size", decoder.latent_size(), encoder.latent_size());
  require("denoiser latent_size", denoiser.latent_size(), encoder.latent_size());
  require("encoder hidden_size", encoder.enc_dense_0.out_features(), denoiser.hidden_size());
  require("decoder hidden_size", decoder.dec_dense_0.out_features(), denoiser.hidden_size());
  return o;
}

namespace detail {

template <class Enc, class Dec, class Den>
concept LdmModels = requires(const Enc& e, const Dec& d, const Den& n) {
  options_of(e, d, n);
};

}  // namespace detail

// Writes tensors with "ldm_format_version" added to metadata, atomically (write_safetensors).
// The lower level of save_models, for callers that add their own tensors.
inline void save_checkpoint(const std::string& path, const TensorMap& tensors, MetadataMap metadata = {}) {
  metadata[format_version_key] = std::to_string(checkpoint_format_version);
  write_safetensors(path, tensors, metadata);
}

// Saves the three models under encoder./decoder./denoiser., with metadata (for ldm's models
// also the Options from options_of; keys written by the library win over the caller's) and
// extra tensors under other prefixes. Throws std::invalid_argument if an extra tensor uses a
// model prefix, std::runtime_error naming the path if the file cannot be written; an existing
// file is replaced only by a complete one.
template <class Enc, class Dec, class Den>
void save_models(const std::string& path, const Enc& encoder, const Dec& decoder, const Den& denoiser,
                 MetadataMap metadata = {}, const TensorMap& extra_tensors = {}) {
  TensorMap tensors;
  add_tensors(tensors, "encoder.", encoder);
  add_tensors(tensors, "decoder.", decoder);
  add_tensors(tensors, "denoiser.", denoiser);
  for (const auto& [name, tensor] : extra_tensors) {
    for (const char* prefix : {"encoder.", "decoder.", "denoiser."})
      if (detail::has_prefix(name, prefix))
        throw std::invalid_argument("save_models: " + path + ": extra tensor '" + name + "' uses the model prefix '" +
                                    prefix + "'");
    tensors.emplace(name, tensor);
  }
  if constexpr (detail::LdmModels<Enc, Dec, Den>)
    for (auto& [key, value] : to_metadata(options_of(encoder, decoder, denoiser))) metadata[key] = value;
  save_checkpoint(path, tensors, std::move(metadata));
}

// Loads the three models from an already read file, all or nothing (see the top of the file).
// For ldm's models, the file's num_steps and time_embedding (when present) must match the
// denoiser's, since no shape shows them. Throws FormatError naming the file and the tensor.
template <class Enc, class Dec, class Den>
void load_models(const SafetensorsData& data, Enc& encoder, Dec& decoder, Den& denoiser) {
  const char* where = "load_models";
  detail::check_format_version(data, where);
  if constexpr (detail::LdmModels<Enc, Dec, Den>) {
    if (data.metadata.count("num_steps")) {
      const int steps = detail::metadata_int(data.metadata, "num_steps", data.path, where);
      if (steps != denoiser.num_steps)
        throw FormatError(where, data.path, "",
                          detail::concat("the file's num_steps is ", steps, " but the denoiser's is ",
                                         denoiser.num_steps, " (build the models from options_from_metadata)"));
    }
    if (const auto it = data.metadata.find("time_embedding"); it != data.metadata.end())
      if (it->second != detail::time_embedding_text(denoiser.embedding))
        throw FormatError(where, data.path, "",
                          "the file's time_embedding is '" + it->second + "' but the denoiser's is '" +
                              detail::time_embedding_text(denoiser.embedding) + "'");
  }
  Enc new_encoder = detail::loaded_copy(data, "encoder.", encoder, ShapePolicy::must_match, where);
  Dec new_decoder = detail::loaded_copy(data, "decoder.", decoder, ShapePolicy::must_match, where);
  Den new_denoiser = detail::loaded_copy(data, "denoiser.", denoiser, ShapePolicy::must_match, where);
  encoder = std::move(new_encoder);  // every check passed: commit
  decoder = std::move(new_decoder);
  denoiser = std::move(new_denoiser);
}

// Reads path and loads the three models, all or nothing. Returns the whole file, so the caller
// gets the metadata and the tensors under other prefixes.
template <class Enc, class Dec, class Den>
SafetensorsData load_models(const std::string& path, Enc& encoder, Dec& decoder, Den& denoiser) {
  SafetensorsData data = read_safetensors(path);
  load_models(data, encoder, decoder, denoiser);
  return data;
}

template <class S>
struct Checkpoint {
  Options options;
  Encoder<S> encoder;
  Decoder<S> decoder;
  Denoiser<S> denoiser;
  SafetensorsData file;  // metadata and every tensor, for the caller's extras
};

// Rebuilds the models from an already read checkpoint's metadata (options_from_checkpoint)
// and loads them. Throws FormatError.
template <class S = float>
Checkpoint<S> load_checkpoint(SafetensorsData file, const CheckpointLimits& limits = {}) {
  Checkpoint<S> c;
  c.file = std::move(file);
  c.options = options_from_checkpoint(c.file, limits);
  std::tie(c.encoder, c.decoder, c.denoiser) = build<S>(c.options, make_key(0));  // overwritten below
  load_models(c.file, c.encoder, c.decoder, c.denoiser);
  return c;
}

// The same from a file.
template <class S = float>
Checkpoint<S> load_checkpoint(const std::string& path, const CheckpointLimits& limits = {}) {
  return load_checkpoint<S>(read_safetensors(path, limits.file), limits);
}

}  // namespace ldm
