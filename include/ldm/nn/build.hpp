// The functions that build the three models from Options (nn/options.hpp) and a key (without
// one, std::nullopt, every value is 0 and LayerNorm weights 1: the shapes a loader fills).
#pragma once

#include <ldm/nn/decoder.hpp>
#include <ldm/nn/denoiser.hpp>
#include <ldm/nn/encoder.hpp>
#include <ldm/nn/options.hpp>

#include <cstddef>
#include <optional>
#include <tuple>

namespace ldm {

template <class S = float>
Encoder<S> build_encoder(int input_size, int latent_size, int hidden_size, std::optional<Key> key) {
  validate(Options{input_size, latent_size, hidden_size});
  return Encoder<S>(input_size, latent_size, hidden_size, key);
}

template <class S = float>
Decoder<S> build_decoder(int input_size, int latent_size, int hidden_size, std::optional<Key> key) {
  validate(Options{input_size, latent_size, hidden_size});
  return Decoder<S>(input_size, latent_size, hidden_size, key);
}

template <class S = float>
Denoiser<S> build_denoiser(int latent_size, int hidden_size, int num_layers, int num_steps, std::optional<Key> key,
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

// The same models with every value 0 (LayerNorm weights 1), no draws: the shapes and names a
// loader fills (building them with a key would cost more than reading the file).
template <class S = float>
std::tuple<Encoder<S>, Decoder<S>, Denoiser<S>> build_shapes(const Options& o) {
  validate(o);
  return {build_encoder<S>(o.input_size, o.latent_size, o.hidden_size, std::nullopt),
          build_decoder<S>(o.input_size, o.latent_size, o.hidden_size, std::nullopt),
          build_denoiser<S>(o.latent_size, o.hidden_size, o.num_layers, o.num_steps, std::nullopt, o.time_embedding,
                            o.num_classes)};
}

}  // namespace ldm
