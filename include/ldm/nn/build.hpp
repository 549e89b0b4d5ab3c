// Options with the seed's names and defaults, and the functions that build the three models.
#pragma once

#include <ldm/nn/decoder.hpp>
#include <ldm/nn/denoiser.hpp>
#include <ldm/nn/encoder.hpp>

#include <cstddef>
#include <tuple>

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

// The exact number of scalars of the three models, every weight, bias and norm included.
inline std::size_t param_count(const Options& o) {
  validate(o);
  const std::size_t in = o.input_size, lat = o.latent_size, hid = o.hidden_size;
  const auto dense = [](std::size_t fan_in, std::size_t fan_out) { return fan_in * fan_out + fan_out; };
  const std::size_t encoder = dense(in, hid) + dense(hid, hid) + 2 * dense(hid, lat);
  const std::size_t decoder = dense(lat, hid) + dense(hid, hid) + dense(hid, in);
  const std::size_t block = 2 * hid + dense(hid, 4 * hid) + dense(4 * hid, hid);
  const std::size_t denoiser =
      dense(hid, hid) + dense(lat, hid) + static_cast<std::size_t>(o.num_layers) * block + dense(hid, lat);
  const std::size_t label_embed = o.num_classes > 0 ? (static_cast<std::size_t>(o.num_classes) + 1) * hid : 0;
  return encoder + decoder + denoiser + label_embed;
}

template <class S = float>
Encoder<S> build_encoder(int input_size, int latent_size, int hidden_size, Key key) {
  validate(Options{input_size, latent_size, hidden_size});
  return Encoder<S>(input_size, latent_size, hidden_size, key);
}

template <class S = float>
Decoder<S> build_decoder(int input_size, int latent_size, int hidden_size, Key key) {
  validate(Options{input_size, latent_size, hidden_size});
  return Decoder<S>(input_size, latent_size, hidden_size, key);
}

template <class S = float>
Denoiser<S> build_denoiser(int latent_size, int hidden_size, int num_layers, int num_steps, Key key,
                           TimeEmbedding embedding = TimeEmbedding::normalized, int num_classes = 0) {
  // The denoiser has no input_size; 1 stands in so the other options are checked.
  validate(Options{1, latent_size, hidden_size, num_layers, num_steps, embedding, num_classes});
  return Denoiser<S>(latent_size, hidden_size, num_layers, num_steps, key, embedding, num_classes);
}

// auto [encoder, decoder, denoiser] = build<float>(options, key). The three models draw their
// initial values from split(key, 3)[0], [1] and [2].
template <class S = float>
std::tuple<Encoder<S>, Decoder<S>, Denoiser<S>> build(const Options& o, Key key) {
  validate(o);
  const std::vector<Key> keys = split(key, 3);
  return {build_encoder<S>(o.input_size, o.latent_size, o.hidden_size, keys[0]),
          build_decoder<S>(o.input_size, o.latent_size, o.hidden_size, keys[1]),
          build_denoiser<S>(o.latent_size, o.hidden_size, o.num_layers, o.num_steps, keys[2], o.time_embedding,
                            o.num_classes)};
}

}  // namespace ldm
