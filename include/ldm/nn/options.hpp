// The model's options, with the seed's names and defaults, their checks, their JSON mapping
// and what follows from them alone: the output size and the exact parameter count.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/json.hpp>
#include <ldm/nn/layers.hpp>

#include <cstddef>

namespace ldm {

struct Options {
  int input_size = 0;  // required: 0 means "not set" and is refused
  int latent_size = 32;
  int hidden_size = 256;  // even: the time embedding is half sine, half cosine
  int num_layers = 4;
  int num_steps = 1000;
  TimeEmbedding time_embedding = TimeEmbedding::normalized;  // the seed's t / num_steps
  // 0: unconditional (the seed's model). Else the denoiser is conditioned on a class label and
  // has a label embedding label_embed.weight [num_classes + 1, hidden] (the last row: no label).
  int num_classes = 0;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Options, input_size, latent_size, hidden_size, num_layers, num_steps,
                                                time_embedding, num_classes)

// The seed's defaults: {287, 32, 256, 4, 1000}.
inline Options recommended_defaults() { return Options{287, 32, 256, 4, 1000}; }

// Throws std::invalid_argument naming the first option that is out of range.
inline void validate(const Options& o) {
  if (o.input_size == 0) throw std::invalid_argument("Options: input_size is required (it is 0, i.e. not set)");
  detail::require_positive("Options", "input_size", o.input_size);
  detail::require_positive("Options", "latent_size", o.latent_size);
  detail::require_positive("Options", "hidden_size", o.hidden_size);
  if (o.num_layers < 0)
    throw std::invalid_argument(detail::concat("Options: num_layers must be at least 0, got ", o.num_layers));
  detail::require_positive("Options", "num_steps", o.num_steps);
  if (o.num_classes < 0)
    throw std::invalid_argument(
        detail::concat("Options: num_classes must be at least 0 (0 = unconditional), got ", o.num_classes));
  if (o.hidden_size % 2 != 0)
    throw std::invalid_argument(detail::concat(
        "Options: hidden_size must be even (the time embedding is half sine, half cosine), got ", o.hidden_size));
}

// The denoiser's output width, the latent size.
inline std::size_t output_size(const Options& o) {
  validate(o);
  return static_cast<std::size_t>(o.latent_size);
}

namespace detail {

// A dense layer's weight and bias.
template <class N>
N dense_param_count(N fan_in, N fan_out) {
  return fan_in * fan_out + fan_out;
}

// The encoder's and decoder's scalars: what the VAE stage trains.
template <class N>
N vae_param_count_as(const Options& o) {
  const N in = static_cast<N>(o.input_size), lat = static_cast<N>(o.latent_size), hid = static_cast<N>(o.hidden_size);
  const auto dense = dense_param_count<N>;
  const N encoder = dense(in, hid) + dense(hid, hid) + 2 * dense(hid, lat);
  const N decoder = dense(lat, hid) + dense(hid, hid) + dense(hid, in);
  return encoder + decoder;
}

// The parameter count of the three models in the number type N: std::size_t for param_count,
// long double where a checkpoint's options must be compared with its size before they are
// trusted (exact below 2^64, no overflow for hostile options). The one place that knows it.
template <class N>
N param_count_as(const Options& o) {
  const N lat = static_cast<N>(o.latent_size), hid = static_cast<N>(o.hidden_size);
  const auto dense = dense_param_count<N>;
  const N block = 2 * hid + dense(hid, 4 * hid) + dense(4 * hid, hid);  // norm, up, down
  const N denoiser = dense(hid, hid) + dense(lat, hid) + static_cast<N>(o.num_layers) * block + dense(hid, lat);
  const N label_embed = o.num_classes > 0 ? (static_cast<N>(o.num_classes) + 1) * hid : N(0);
  return vae_param_count_as<N>(o) + denoiser + label_embed;
}

}  // namespace detail

// The exact number of scalars of the three models, every weight, bias and norm included.
inline std::size_t param_count(const Options& o) {
  validate(o);
  return detail::param_count_as<std::size_t>(o);
}

// The encoder's and decoder's scalars alone (the denoiser's do not grow with the input width).
inline std::size_t vae_param_count(const Options& o) {
  validate(o);
  return detail::vae_param_count_as<std::size_t>(o);
}
}  // namespace ldm
