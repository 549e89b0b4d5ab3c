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
// are replaced (the per-model machinery, add_tensors and assign_tensors, is model_tensors.hpp).
// Saving writes a temporary file and renames it (write_safetensors).
//
// Hostile files: models are built from a checkpoint's options only after the options were
// checked against the file (the parameters they describe must be the values the file holds),
// and num_steps (which no tensor shows, but sizes the schedule) has a limit, so no metadata can
// make the loader allocate much more than the file's size.
#pragma once

#include <ldm/core/errors.hpp>
#include <ldm/diffusion/schedule.hpp>
#include <ldm/io/dtype.hpp>
#include <ldm/io/metadata.hpp>
#include <ldm/io/model_tensors.hpp>
#include <ldm/io/safetensors.hpp>
#include <ldm/nn/build.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>

namespace ldm {

inline constexpr int checkpoint_format_version = 1;
inline constexpr const char* format_version_key = "ldm_format_version";

// What a checkpoint may ask for at most.
struct CheckpointLimits {
  SafetensorsLimits file{};       // the safetensors file (header and file size)
  int max_num_steps = 1'000'000;  // diffusion steps: the schedule holds 8 numbers per step
};

namespace detail {

inline void require_num_steps_limit(int num_steps, const CheckpointLimits& limits, const std::string& file,
                                    const char* where) {
  if (num_steps > limits.max_num_steps)
    throw FormatError(where, file, "",
                      concat("metadata 'num_steps' is ", num_steps, ", above the limit of ", limits.max_num_steps,
                             " (CheckpointLimits::max_num_steps)"));
}

inline void check_format_version(const SafetensorsData& data, const char* where) {
  if (!data.metadata.count(format_version_key)) return;  // a plain PyTorch export has none
  const int version = metadata_int(data.metadata, format_version_key, data.path, where);
  if (version < 1 || version > checkpoint_format_version)
    throw FormatError(
        where, data.path, "",
        concat(format_version_key, " is ", version, "; this build reads versions 1 to ", checkpoint_format_version));
}

}  // namespace detail

// The options as metadata strings: the keys of their JSON mapping (nn/options.hpp), which are
// the keys torch_ref.py's export writes, plus time_embedding; num_classes only when > 0, so an
// unconditional model's file is as it was before classes existed.
inline MetadataMap to_metadata(const Options& o) {
  MetadataMap m = detail::metadata_fields(o);
  if (o.num_classes == 0) m.erase("num_classes");
  return m;
}

// The options stored in a checkpoint's metadata; time_embedding defaults to normalized (the
// seed's) and num_classes to 0 (unconditional) when absent, as in a PyTorch export. Throws
// FormatError naming file for a missing or malformed key or options that validate() refuses.
// num_steps above limits.max_num_steps is refused too.
inline Options options_from_metadata(const MetadataMap& metadata, const std::string& file = "(metadata)",
                                     const CheckpointLimits& limits = {}) {
  const char* where = "options_from_metadata";
  const auto o = detail::from_metadata_fields<Options>(metadata, {"time_embedding", "num_classes"}, file, where);
  detail::require_num_steps_limit(o.num_steps, limits, file, where);
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
  const long double expected = detail::param_count_as<long double>(o);
  if (expected != static_cast<long double>(values))
    throw FormatError("options_from_checkpoint", data.path, "",
                      detail::concat("the options (input_size ", o.input_size, ", latent_size ", o.latent_size,
                                     ", hidden_size ", o.hidden_size, ", num_layers ", o.num_layers, ", num_classes ",
                                     o.num_classes, ") describe ", detail::exact_text(static_cast<double>(expected)),
                                     " parameters, but the file's encoder., decoder. and denoiser. tensors hold ",
                                     values, " values"));
  return o;
}

// The schedule as metadata strings (the keys of its JSON mapping, diffusers' names):
// beta_schedule (linear, scaled_linear, cosine), beta_start, beta_end, num_steps.
inline MetadataMap to_metadata(const ScheduleOptions& s) { return detail::metadata_fields(s); }

// The schedule stored by to_metadata(ScheduleOptions), every key required. Throws FormatError
// naming file. num_steps above limits.max_num_steps is refused too.
inline ScheduleOptions schedule_options_from_metadata(const MetadataMap& metadata,
                                                      const std::string& file = "(metadata)",
                                                      const CheckpointLimits& limits = {}) {
  const char* where = "schedule_options_from_metadata";
  const auto s = detail::from_metadata_fields<ScheduleOptions>(metadata, {}, file, where);
  detail::require_num_steps_limit(s.num_steps, limits, file, where);
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
      if (it->second != enum_name(denoiser.embedding))
        throw FormatError(where, data.path, "",
                          "the file's time_embedding is '" + it->second + "' but the denoiser's is '" +
                              enum_name(denoiser.embedding) + "'");
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
  std::tie(c.encoder, c.decoder, c.denoiser) = build_shapes<S>(c.options);  // filled below
  load_models(c.file, c.encoder, c.decoder, c.denoiser);
  return c;
}

// The same from a file.
template <class S = float>
Checkpoint<S> load_checkpoint(const std::string& path, const CheckpointLimits& limits = {}) {
  return load_checkpoint<S>(read_safetensors(path, limits.file), limits);
}

}  // namespace ldm
