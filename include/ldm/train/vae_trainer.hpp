// The first stage (Rombach et al. 2022, sec. 3): the VAE, trained on reconstruction MSE plus a
// weighted KL term; for table rows of mixed columns, the reconstruction is train/reconstruction.hpp's
// mixed loss, given a layout. Every random choice of step s comes from fold_in(key, s) and each epoch's
// order from fold_in(key, epoch), so a run is a pure function of (data, options, key) and can be
// resumed at any step from its models, optimizer state and step counter alone.
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/json.hpp>
#include <ldm/nn/decoder.hpp>
#include <ldm/nn/encoder.hpp>
#include <ldm/nn/vae.hpp>
#include <ldm/train/adam.hpp>
#include <ldm/train/batches.hpp>
#include <ldm/train/data_parallel.hpp>
#include <ldm/train/gradients.hpp>
#include <ldm/train/loop.hpp>
#include <ldm/train/lr_schedule.hpp>
#include <ldm/train/reconstruction.hpp>

#include <optional>
#include <string>

namespace ldm {

struct VaeLoss {
  double total = 0, reconstruction = 0, kl = 0;
  ReconstructionLoss parts;  // the reconstruction's numeric, categorical and missing terms
};
inline double total_loss(const VaeLoss& loss) { return loss.total; }

// Activations and gradients of one VAE batch, reused from step to step.
template <class S>
struct VaeBuffers {
  EncoderWorkspace<S> encoder;
  DecoderWorkspace<S> decoder;
  Matrix<S> eps, z, d_out, d_mu, d_log_var;
  ReconstructionBuffers<S> reconstruction;
};

// Loss = mean((x_hat - x)^2) + kl_weight * KL for one batch x, with z = mu + sigma eps and eps
// drawn from noise_key; with a layout that is not plain, the mixed reconstruction loss in place
// of the MSE. Adds the exact gradients into encoder_grad and decoder_grad.
template <class S>
VaeLoss vae_loss_and_gradient(const Encoder<S>& encoder, const Decoder<S>& decoder, const Matrix<S>& x, Key noise_key,
                              double kl_weight, Encoder<S>& encoder_grad, Decoder<S>& decoder_grad, VaeBuffers<S>& b,
                              const ReconstructionLayout* layout = nullptr) {
  encoder.forward(x, b.encoder);
  const Matrix<S>& mu = b.encoder.out.mu;
  const Matrix<S>& log_var = b.encoder.out.log_var;
  reparameterize_into(mu, log_var, noise_key, b.eps, b.z);
  decoder.forward(b.z, b.decoder);
  VaeLoss loss;
  loss.parts = reconstruction_loss_and_gradient(b.decoder.out, x, layout, b.d_out, b.reconstruction);
  loss.reconstruction = loss.parts.total;
  loss.kl = static_cast<double>(kl_divergence(mu, log_var));
  loss.total = loss.reconstruction + kl_weight * loss.kl;
  const Matrix<S>& dz = decoder.backward(b.z, b.decoder, b.d_out, decoder_grad);
  b.d_mu.setZero(mu.rows(), mu.cols());
  b.d_log_var.setZero(mu.rows(), mu.cols());
  reparameterize_backward(log_var, b.eps, dz, b.d_mu, b.d_log_var);
  kl_divergence_backward(mu, log_var, static_cast<S>(kl_weight), b.d_mu, b.d_log_var);
  encoder.backward_params(x, b.encoder, b.d_mu, b.d_log_var, encoder_grad);  // dL/dx is not needed
  return loss;
}

struct VaeTrainOptions {
  long long steps = 5600;  // optimizer steps (a budget in steps suits any data size)
  int batch_size = 128;
  double kl_weight = 1e-3;
  long long kl_warmup_steps = 0;  // the KL weight rises linearly from 0 over these steps
  double lr = 1e-3;
  long long warmup_steps = 0;
  bool cosine_decay = false;
  double weight_decay = 0.0;    // AdamW when > 0
  double clip_grad_norm = 0.0;  // 0 = no clipping
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(VaeTrainOptions, steps, batch_size, kl_weight, kl_warmup_steps, lr,
                                                warmup_steps, cosine_decay, weight_decay, clip_grad_norm)

// One Adam step at a time over shuffled mini-batches of the rows of data. A layout (copied; its
// width must be the data's) selects the mixed reconstruction loss; none means the seed's MSE.
// With parallel.chunks > 0 each batch is cut into chunks shared by the processes of
// parallel.communicator (train/data_parallel.hpp); every process holds all of data.
template <class S>
class VaeTrainer {
 public:
  VaeTrainer(Encoder<S>& encoder, Decoder<S>& decoder, const Matrix<S>& data, const VaeTrainOptions& options, Key key,
             const ReconstructionLayout* layout = nullptr, const DataParallel& parallel = {})
      : encoder_(encoder),
        decoder_(decoder),
        data_(data),
        options_(options),
        layout_(layout ? std::optional<ReconstructionLayout>(*layout) : std::nullopt),
        order_(static_cast<std::size_t>(data.rows()), checked_batch(options), split(key)[0]),
        noise_key_(split(key)[1]),
        lr_(lr_schedule_for_run("train_vae", options.lr, options.warmup_steps, options.cosine_decay, options.steps)),
        encoder_grad_(zeros_like(encoder)),
        decoder_grad_(zeros_like(decoder)),
        encoder_adam_(AdamOptions{.lr = options.lr, .weight_decay = options.weight_decay}, encoder),
        decoder_adam_(AdamOptions{.lr = options.lr, .weight_decay = options.weight_decay}, decoder),
        parallel_(parallel) {
    detail::require_cols("train_vae", "data", data, encoder.input_size());
    detail::require_finite("train_vae", "data", data);
    if (options.steps < 0 || options.kl_weight < 0 || options.kl_warmup_steps < 0)
      throw std::invalid_argument(detail::concat("train_vae: steps (", options.steps, "), kl_weight (",
                                                 options.kl_weight, ") and kl_warmup_steps (", options.kl_warmup_steps,
                                                 ") must be >= 0"));
    if (layout_) {
      detail::require_valid_layout("train_vae", *layout_);
      detail::require_cols("train_vae", "data (the layout's width)", data, layout_->width);
    }
    detail::require_valid_parallel("train_vae", parallel, static_cast<Eigen::Index>(order_.batch_size()));
    if (parallel.on()) {
      const auto [first, last] = parallel.my_chunks();
      encoder_chunks_.assign(static_cast<std::size_t>(last - first), encoder_grad_);
      decoder_chunks_.assign(static_cast<std::size_t>(last - first), decoder_grad_);
    }
  }

  // The KL weight at a step: linear warm-up from 0, then kl_weight.
  double kl_weight_at(long long step) const {
    if (step >= options_.kl_warmup_steps) return options_.kl_weight;
    return options_.kl_weight * static_cast<double>(step) / static_cast<double>(options_.kl_warmup_steps);
  }

  // Takes step number steps_done() and returns its loss; throws TrainingError on NaN/Inf.
  VaeLoss step() {
    const long long s = step_;
    const Key key = fold_in(noise_key_, static_cast<std::uint32_t>(s));
    VaeLoss loss;
    if (parallel_.on()) {
      loss = chunked_loss_and_gradient(order_.batch(s), key, kl_weight_at(s));
    } else {
      if (!grads_zero_) zero_gradients(encoder_grad_, decoder_grad_);  // only after a step that threw
      grads_zero_ = false;
      loss = loss_and_gradient(order_.batch(s), key, kl_weight_at(s), encoder_grad_, decoder_grad_);
    }
    detail::require_finite_loss("vae", s, loss.total);
    if (options_.clip_grad_norm > 0) clip_grad_norm(options_.clip_grad_norm, encoder_grad_, decoder_grad_);
    last_lr_ = lr_.at(s);
    encoder_adam_.step_and_zero_grad(encoder_, encoder_grad_, last_lr_);  // ready for the next step
    decoder_adam_.step_and_zero_grad(decoder_, decoder_grad_, last_lr_);
    grads_zero_ = true;
    ++step_;
    return loss;
  }

  long long steps_done() const { return step_; }
  long long epoch() const { return order_.epoch_of(step_ == 0 ? 0 : step_ - 1); }
  double last_lr() const { return last_lr_; }
  std::size_t batch_size() const { return order_.batch_size(); }

  // The running state besides the models, f(name, tensor): the Adam moments, named
  // "encoder_adam.m.<param>", ..., "decoder_adam.v.<param>". With restore_step, enough to resume.
  template <class F>
  void visit_state(F&& f) {
    encoder_adam_.visit_state([&](const std::string& name, auto& t) { f("encoder_adam." + name, t); });
    decoder_adam_.visit_state([&](const std::string& name, auto& t) { f("decoder_adam." + name, t); });
  }

  // Continues at step `step` (models and visit_state tensors restored by the caller): every
  // other random choice and the learning rate follow from the key and the step.
  void restore_step(long long step) {
    if (step < 0 || step > options_.steps)
      throw std::invalid_argument(
          detail::concat("VaeTrainer::restore_step: step must be in [0, ", options_.steps, "], got ", step));
    step_ = step;
    encoder_adam_.state().step = step;
    decoder_adam_.state().step = step;
  }

 private:
  static std::size_t checked_batch(const VaeTrainOptions& o) {
    detail::require_positive("train_vae", "batch_size", o.batch_size);
    return static_cast<std::size_t>(o.batch_size);
  }

  VaeLoss loss_and_gradient(std::span<const std::uint32_t> rows, Key key, double kl_weight, Encoder<S>& encoder_grad,
                            Decoder<S>& decoder_grad) {
    detail::gather_rows(data_, rows, batch_);
    return vae_loss_and_gradient(encoder_, decoder_, batch_, key, kl_weight, encoder_grad, decoder_grad, buffers_,
                                 layout_ ? &*layout_ : nullptr);
  }

  // This process's chunks, chunk c with key fold_in(key, c); the gradients summed exactly over
  // all processes into encoder_grad_ and decoder_grad_, the losses gathered and summed in chunk
  // order, each chunk weighted by its share of the batch's rows.
  VaeLoss chunked_loss_and_gradient(std::span<const std::uint32_t> batch, Key key, double kl_weight) {
    const auto first = parallel_.my_chunks().first;
    std::vector<std::vector<std::span<S>>> chunk_grads;
    for (std::size_t i = 0; i < encoder_chunks_.size(); ++i)
      chunk_grads.push_back(detail::tensors_of<S>(encoder_chunks_[i], decoder_chunks_[i]));
    const auto sum = chunked_(
        parallel_, batch, key,
        [&](Eigen::Index c, std::span<const std::uint32_t> rows, Key chunk_key) {
          Encoder<S>& eg = encoder_chunks_[static_cast<std::size_t>(c - first)];
          Decoder<S>& dg = decoder_chunks_[static_cast<std::size_t>(c - first)];
          zero_gradients(eg, dg);
          const VaeLoss l = loss_and_gradient(rows, chunk_key, kl_weight, eg, dg);
          return std::array<double, 6>{l.total,         l.reconstruction,    l.kl,
                                       l.parts.numeric, l.parts.categorical, l.parts.missing};
        },
        chunk_grads, detail::tensors_of<S>(encoder_grad_, decoder_grad_));
    VaeLoss loss;
    loss.total = sum[0];
    loss.reconstruction = loss.parts.total = sum[1];
    loss.kl = sum[2];
    loss.parts.numeric = sum[3];
    loss.parts.categorical = sum[4];
    loss.parts.missing = sum[5];
    return loss;
  }

  Encoder<S>& encoder_;
  Decoder<S>& decoder_;
  const Matrix<S>& data_;
  VaeTrainOptions options_;
  std::optional<ReconstructionLayout> layout_;
  BatchOrder order_;
  Key noise_key_;
  LrSchedule lr_;
  Encoder<S> encoder_grad_;
  Decoder<S> decoder_grad_;
  Adam<Encoder<S>> encoder_adam_;
  Adam<Decoder<S>> decoder_adam_;
  VaeBuffers<S> buffers_;
  Matrix<S> batch_;
  DataParallel parallel_;
  std::vector<Encoder<S>> encoder_chunks_;  // the gradients of this process's chunks
  std::vector<Decoder<S>> decoder_chunks_;
  ChunkedGradient<S, 6> chunked_;
  long long step_ = 0;
  bool grads_zero_ = true;  // the gradient buffers hold zeros (Adam zeroes them as it uses them)
  double last_lr_ = 0;
};

// Trains encoder and decoder in place for options.steps steps (or until progress says stop);
// layout as for VaeTrainer.
template <class S>
TrainResult train_vae(Encoder<S>& encoder, Decoder<S>& decoder, const Matrix<S>& data, const VaeTrainOptions& options,
                      Key key, const ProgressCallback& progress = {}, const ReconstructionLayout* layout = nullptr,
                      const DataParallel& parallel = {}) {
  VaeTrainer<S> trainer(encoder, decoder, data, options, key, layout, parallel);
  TrainResult result;
  result.key = split(key, 3)[2];
  result.loss.reserve(static_cast<std::size_t>(options.steps));
  result.stopped = !run_steps(trainer, "vae", options.steps, progress, {}, &result.loss);
  return result;
}

}  // namespace ldm
