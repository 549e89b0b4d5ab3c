// Training: the VAE first (reconstruction MSE + weighted KL), then, with the encoder frozen,
// the denoiser on the latents (Rombach et al. 2022, sec. 3 and 4: two stages).
//
// Every random choice of a step is drawn from fold_in(key, step), and each epoch's order from
// fold_in(key, epoch), so a run is a pure function of (data, options, key): the same inputs give
// bit-identical weights, and a run can be resumed at any step from its models, optimizer and
// step counter alone. The library prints nothing; progress goes to a callback.
#pragma once

#include <ldm/core/threads.hpp>
#include <ldm/data/standardizer.hpp>
#include <ldm/diffusion/samplers.hpp>
#include <ldm/diffusion/schedule.hpp>
#include <ldm/nn/build.hpp>
#include <ldm/nn/vae.hpp>
#include <ldm/train/optim.hpp>

#include <chrono>
#include <cmath>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

namespace ldm {

// What a progress callback sees after every optimizer step.
struct Progress {
  const char* phase = "";  // "vae" or "denoiser"
  long long step = 0;      // steps done so far (1 after the first)
  long long total_steps = 0;
  long long epoch = 0;  // 0-based pass over the data
  double loss = 0;      // this step's loss
  double lr = 0;        // the learning rate this step used
  double samples_per_second = 0;
};

// Return false to stop training after the current step.
using ProgressCallback = std::function<bool(const Progress&)>;

struct TrainResult {
  std::vector<double> loss;  // one entry per step taken
  Key key{};                 // the key for whatever comes next
  bool stopped = false;      // true when the callback asked to stop
};

// ---------------------------------------------------------------------------------------------
// Mini-batches.

// Epoch-wise shuffled mini-batches over `rows` rows: batch k of epoch e is a slice of the
// permutation drawn from fold_in(key, e). A last partial batch is dropped (its rows come up in
// other epochs); with fewer rows than batch_size a batch is the whole data set.
class BatchOrder {
 public:
  BatchOrder(std::size_t rows, std::size_t batch_size, Key key)
      : key_(key), batch_(std::min(rows, batch_size)), order_(rows) {
    if (rows == 0) throw std::invalid_argument("BatchOrder: the data set has no rows");
    if (batch_size == 0) throw std::invalid_argument("BatchOrder: batch_size must be positive, got 0");
    per_epoch_ = rows / batch_;
  }

  std::size_t batch_size() const { return batch_; }
  long long epoch_of(long long step) const { return step / static_cast<long long>(per_epoch_); }

  // The row indices of the 0-based `step`-th batch; valid until the next call.
  std::span<const std::uint32_t> batch(long long step) {
    const long long epoch = epoch_of(step);
    if (epoch != epoch_) {
      for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<std::uint32_t>(i);
      shuffle(fold_in(key_, static_cast<std::uint32_t>(epoch)), std::span<std::uint32_t>(order_));
      epoch_ = epoch;
    }
    const std::size_t first = static_cast<std::size_t>(step % static_cast<long long>(per_epoch_)) * batch_;
    return std::span<const std::uint32_t>(order_).subspan(first, batch_);
  }

 private:
  Key key_;
  std::size_t batch_, per_epoch_ = 0;
  long long epoch_ = -1;
  std::vector<std::uint32_t> order_;
};

namespace detail {

template <class S>
void gather_rows(const Matrix<S>& from, std::span<const std::uint32_t> rows, Matrix<S>& to) {
  to.resize(static_cast<Eigen::Index>(rows.size()), from.cols());
  parallel_for(to.rows(), row_grain(to.cols()), [&](Eigen::Index first, Eigen::Index count) {
    for (Eigen::Index i = first; i < first + count; ++i) to.row(i) = from.row(rows[static_cast<std::size_t>(i)]);
  });
}

inline void require_finite_loss(const char* phase, long long step, double loss) {
  if (!std::isfinite(loss))
    throw TrainingError(concat("train_", phase, ": the loss is ", loss, " at step ", step,
                               "; training stopped before that step changed any weight"));
}

inline LrSchedule make_lr_schedule(double lr, long long warmup, bool cosine, long long steps) {
  LrSchedule s{.kind = cosine ? LrSchedule::Kind::warmup_cosine : LrSchedule::Kind::constant,
               .base_lr = lr,
               .warmup_steps = warmup,
               .total_steps = steps};
  s.validate();
  return s;
}

// Times a run and hands each step to the callback.
class ProgressReporter {
 public:
  ProgressReporter(const char* phase, long long total, const ProgressCallback& callback)
      : phase_(phase), total_(total), callback_(callback), start_(std::chrono::steady_clock::now()) {}

  // Returns false when the callback asks to stop.
  bool report(long long step, long long epoch, double loss, double lr, long long samples) {
    if (!callback_) return true;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    return callback_(
        Progress{phase_, step, total_, epoch, loss, lr, seconds > 0 ? static_cast<double>(samples) / seconds : 0.0});
  }

 private:
  const char* phase_;
  long long total_;
  ProgressCallback callback_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// The VAE.

struct VaeLoss {
  double total = 0, reconstruction = 0, kl = 0;
};

// Activations and gradients of one VAE batch, reused from step to step.
template <class S>
struct VaeBuffers {
  EncoderWorkspace<S> encoder;
  DecoderWorkspace<S> decoder;
  Matrix<S> eps, z, d_out, d_mu, d_log_var;
  Vector<S> row_squares;  // (B): each row's sum of squared reconstruction errors
};

// Loss = mean((x_hat - x)^2) + kl_weight * KL for one batch x, with z = mu + sigma eps and eps
// drawn from noise_key. Adds the exact gradients into encoder_grad and decoder_grad.
template <class S>
VaeLoss vae_loss_and_gradient(const Encoder<S>& encoder, const Decoder<S>& decoder, const Matrix<S>& x, Key noise_key,
                              double kl_weight, Encoder<S>& encoder_grad, Decoder<S>& decoder_grad, VaeBuffers<S>& b) {
  encoder.forward(x, b.encoder);
  const Matrix<S>& mu = b.encoder.out.mu;
  const Matrix<S>& log_var = b.encoder.out.log_var;
  reparameterize_into(mu, log_var, noise_key, b.eps, b.z);
  decoder.forward(b.z, b.decoder);
  // d mean((x_hat - x)^2) / d x_hat = 2 (x_hat - x) / size, one pass per row while it is in
  // cache, rows in parallel; the rows' sums of squares are added in row order (any thread count).
  const S grad_scale = S(2) / static_cast<S>(x.size());
  b.d_out.resize(x.rows(), x.cols());
  b.row_squares.resize(x.rows());
  detail::parallel_for(x.rows(), detail::row_grain(x.cols()), [&](Eigen::Index first, Eigen::Index count) {
    for (Eigen::Index r = first; r < first + count; ++r) {
      b.d_out.row(r) = b.decoder.out.row(r) - x.row(r);
      b.row_squares(r) = b.d_out.row(r).squaredNorm();
      b.d_out.row(r) *= grad_scale;
    }
  });
  VaeLoss loss;
  loss.reconstruction = static_cast<double>(b.row_squares.sum()) / static_cast<double>(x.size());
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

// One Adam step at a time over shuffled mini-batches of the rows of data.
template <class S>
class VaeTrainer {
 public:
  VaeTrainer(Encoder<S>& encoder, Decoder<S>& decoder, const Matrix<S>& data, const VaeTrainOptions& options, Key key)
      : encoder_(encoder),
        decoder_(decoder),
        data_(data),
        options_(options),
        order_(static_cast<std::size_t>(data.rows()), checked_batch(options), split(key)[0]),
        noise_key_(split(key)[1]),
        lr_(detail::make_lr_schedule(options.lr, options.warmup_steps, options.cosine_decay, options.steps)),
        encoder_grad_(zeros_like(encoder)),
        decoder_grad_(zeros_like(decoder)),
        encoder_adam_(AdamOptions{.lr = options.lr, .weight_decay = options.weight_decay}, encoder),
        decoder_adam_(AdamOptions{.lr = options.lr, .weight_decay = options.weight_decay}, decoder) {
    detail::require_cols("train_vae", "data", data, encoder.input_size());
    detail::require_finite("train_vae", "data", data);
    if (options.steps < 0 || options.kl_weight < 0 || options.kl_warmup_steps < 0)
      throw std::invalid_argument(detail::concat("train_vae: steps (", options.steps, "), kl_weight (",
                                                 options.kl_weight, ") and kl_warmup_steps (", options.kl_warmup_steps,
                                                 ") must be >= 0"));
  }

  // The KL weight at a step: linear warm-up from 0, then kl_weight.
  double kl_weight_at(long long step) const {
    if (step >= options_.kl_warmup_steps) return options_.kl_weight;
    return options_.kl_weight * static_cast<double>(step) / static_cast<double>(options_.kl_warmup_steps);
  }

  // Takes step number steps_done() and returns its loss; throws TrainingError on NaN/Inf.
  VaeLoss step() {
    const long long s = step_;
    detail::gather_rows(data_, order_.batch(s), batch_);
    if (!grads_zero_) zero_gradients(encoder_grad_, decoder_grad_);  // only after a step that threw
    grads_zero_ = false;
    const VaeLoss loss =
        vae_loss_and_gradient(encoder_, decoder_, batch_, fold_in(noise_key_, static_cast<std::uint32_t>(s)),
                              kl_weight_at(s), encoder_grad_, decoder_grad_, buffers_);
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

  Encoder<S>& encoder_;
  Decoder<S>& decoder_;
  const Matrix<S>& data_;
  VaeTrainOptions options_;
  BatchOrder order_;
  Key noise_key_;
  LrSchedule lr_;
  Encoder<S> encoder_grad_;
  Decoder<S> decoder_grad_;
  Adam<Encoder<S>> encoder_adam_;
  Adam<Decoder<S>> decoder_adam_;
  VaeBuffers<S> buffers_;
  Matrix<S> batch_;
  long long step_ = 0;
  bool grads_zero_ = true;  // the gradient buffers hold zeros (Adam zeroes them as it uses them)
  double last_lr_ = 0;
};

// Trains encoder and decoder in place for options.steps steps (or until progress says stop).
template <class S>
TrainResult train_vae(Encoder<S>& encoder, Decoder<S>& decoder, const Matrix<S>& data, const VaeTrainOptions& options,
                      Key key, const ProgressCallback& progress = {}) {
  VaeTrainer<S> trainer(encoder, decoder, data, options, key);
  TrainResult result;
  result.key = split(key, 3)[2];
  result.loss.reserve(static_cast<std::size_t>(options.steps));
  detail::ProgressReporter reporter("vae", options.steps, progress);
  while (trainer.steps_done() < options.steps) {
    const double loss = trainer.step().total;
    result.loss.push_back(loss);
    const long long done = trainer.steps_done();
    if (!reporter.report(done, trainer.epoch(), loss, trainer.last_lr(),
                         done * static_cast<long long>(trainer.batch_size()))) {
      result.stopped = true;
      break;
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Latents for the denoiser.

enum class LatentSource {
  mean,              // the encoder's mu, fixed
  posterior_sample,  // a fresh z ~ q(z|x) for every batch (better on small data sets)
};

// The frozen encoder's view of the data, and the per-dimension standardisation the denoiser
// works in (the latent scaling; undone after sampling).
template <class S>
struct LatentSet {
  Matrix<S> mu, log_var;  // (N, latent)
  LatentSource source = LatentSource::mean;
  Standardizer<S> scaling;
  // (N): each row's class in [0, num_classes] (num_classes = no label) for a conditional
  // denoiser; empty for an unconditional one.
  Eigen::VectorXi labels;
};

// Encodes data in batches of batch_rows. The scaling's mean is mean(mu); its variance is
// var(mu) for fixed latents, and var(mu) + mean(exp(log_var)) (the law of total variance) when
// latents are drawn from q(z|x).
template <class S>
LatentSet<S> encode_latents(const Encoder<S>& encoder, const Matrix<S>& data, LatentSource source,
                            Eigen::Index batch_rows = 1024) {
  detail::require_positive("encode_latents", "batch_rows", batch_rows);
  if (data.rows() == 0) throw std::invalid_argument("encode_latents: the data set has no rows");
  LatentSet<S> set;
  set.source = source;
  set.mu.resize(data.rows(), encoder.latent_size());
  set.log_var.resize(data.rows(), encoder.latent_size());
  EncoderWorkspace<S> ws;
  for (Eigen::Index first = 0; first < data.rows(); first += batch_rows) {
    const Eigen::Index n = std::min(batch_rows, data.rows() - first);
    encoder.forward(data.middleRows(first, n), ws);
    set.mu.middleRows(first, n) = ws.out.mu;
    set.log_var.middleRows(first, n) = ws.out.log_var;
  }
  const Eigen::Array<double, 1, Eigen::Dynamic> mean = set.mu.template cast<double>().colwise().mean().array();
  Eigen::Array<double, 1, Eigen::Dynamic> var =
      (set.mu.template cast<double>().array().rowwise() - mean).square().colwise().mean();
  if (source == LatentSource::posterior_sample)
    var += set.log_var.template cast<double>().array().exp().colwise().mean();
  set.scaling.mean = mean.transpose().template cast<S>();
  set.scaling.scale = var.sqrt().unaryExpr([](double v) { return v > 0 ? v : 1.0; }).transpose().template cast<S>();
  return set;
}

// ---------------------------------------------------------------------------------------------
// The denoiser.

template <class S>
struct DenoiserBuffers {
  DenoiserWorkspace<S> network;
  Matrix<S> z_t, target, d_out;
  Vector<S> weight;  // per-row loss weight (min-SNR)
};

// Loss weights of min-SNR-gamma (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR
// Weighting Strategy", sec. 3.4; as diffusers' train_text_to_image): with SNR = abar / (1 - abar),
// min(SNR, gamma) / SNR for epsilon prediction and min(SNR, gamma) / (SNR + 1) for v.
// gamma = 0 turns weighting off (every weight 1).
template <class S>
S min_snr_weight(const Schedule<S>& schedule, int t, Prediction prediction, double gamma) {
  if (gamma <= 0) return S(1);
  const double abar = schedule.alphas_cumprod_f64(t);
  const double snr = abar / (1 - abar);
  const double clipped = std::min(snr, gamma);
  return static_cast<S>(prediction == Prediction::epsilon ? clipped / snr : clipped / (snr + 1));
}

namespace detail {

// denoiser_loss_and_gradient below; labels == nullptr: no labels (the conditional model's "no label").
template <class S>
double denoiser_loss_and_gradient(const Denoiser<S>& denoiser, const Schedule<S>& schedule, const Matrix<S>& z0,
                                  const Eigen::VectorXi& t, const Eigen::VectorXi* labels, const Matrix<S>& eps,
                                  Prediction prediction, double min_snr_gamma, Denoiser<S>& grad,
                                  DenoiserBuffers<S>& b) {
  add_noise(schedule, z0, t, eps, b.z_t);
  if (prediction == Prediction::epsilon)
    b.target = eps;
  else
    velocity(schedule, z0, t, eps, b.target);
  if (labels)
    denoiser.forward(b.z_t, t, *labels, b.network);
  else
    denoiser.forward(b.z_t, t, b.network);
  b.weight.resize(t.size());
  for (Eigen::Index i = 0; i < t.size(); ++i) b.weight(i) = min_snr_weight(schedule, t(i), prediction, min_snr_gamma);
  b.d_out = b.network.out - b.target;
  const double loss = static_cast<double>((b.d_out.rowwise().squaredNorm().array() * b.weight.array()).sum()) /
                      static_cast<double>(b.d_out.size());
  const S mean_scale = S(2) / static_cast<S>(b.d_out.size());
  for (Eigen::Index i = 0; i < b.d_out.rows(); ++i) b.d_out.row(i) *= b.weight(i) * mean_scale;  // no temporary
  denoiser.backward_params(b.z_t, b.network, b.d_out, grad);  // dL/dz_t is not needed
  return loss;
}

}  // namespace detail

// Loss = mean_b w_b mean_j (net(z_t, t)_bj - target_bj)^2 with z_t = sqrt(abar) z0 + sqrt(1 - abar) eps
// and target eps (epsilon prediction) or v = sqrt(abar) eps - sqrt(1 - abar) z0 (Salimans & Ho
// 2022). Adds the exact parameter gradients into grad.
template <class S>
double denoiser_loss_and_gradient(const Denoiser<S>& denoiser, const Schedule<S>& schedule, const Matrix<S>& z0,
                                  const Eigen::VectorXi& t, const Matrix<S>& eps, Prediction prediction,
                                  double min_snr_gamma, Denoiser<S>& grad, DenoiserBuffers<S>& b) {
  return detail::denoiser_loss_and_gradient(denoiser, schedule, z0, t, nullptr, eps, prediction, min_snr_gamma, grad,
                                            b);
}

// The same for a conditional denoiser, net(z_t, t, labels), labels (B) in [0, num_classes].
template <class S>
double denoiser_loss_and_gradient(const Denoiser<S>& denoiser, const Schedule<S>& schedule, const Matrix<S>& z0,
                                  const Eigen::VectorXi& t, const Eigen::VectorXi& labels, const Matrix<S>& eps,
                                  Prediction prediction, double min_snr_gamma, Denoiser<S>& grad,
                                  DenoiserBuffers<S>& b) {
  return detail::denoiser_loss_and_gradient(denoiser, schedule, z0, t, &labels, eps, prediction, min_snr_gamma, grad,
                                            b);
}

// Label dropout of classifier-free guidance (Ho & Salimans 2022, Algorithm 1, p_uncond): out(i)
// = no_label where the i-th double uniform of key (fill_uniform's element i) is below p, else
// labels(i). One network then learns the conditional and the unconditional model. out may be
// labels itself; allocates nothing when out already has the size.
inline void drop_labels(const Eigen::VectorXi& labels, double p, int no_label, Key key, Eigen::VectorXi& out) {
  if (!(p >= 0.0 && p <= 1.0)) throw std::invalid_argument(detail::concat("drop_labels: p must be in [0, 1], got ", p));
  out.resize(labels.size());
  for (Eigen::Index i = 0; i < labels.size(); ++i)
    out(i) = detail::uniform_at<double>(key, static_cast<std::uint64_t>(i)) < p ? no_label : labels(i);
}

struct DenoiserTrainOptions {
  long long steps = 6000;
  int batch_size = 256;
  double lr = 1e-3;
  long long warmup_steps = 100;
  bool cosine_decay = true;
  double weight_decay = 0.0;
  double clip_grad_norm = 1.0;  // 0 = no clipping
  Prediction prediction = Prediction::epsilon;
  double min_snr_gamma = 0.0;  // 0 = plain MSE; 5 is the paper's choice
  double ema_decay = 0.999;    // 0 = no EMA
  double label_dropout = 0.1;  // conditional only: share of rows trained as "no label" (Ho & Salimans 2022)
};

template <class S>
class DenoiserTrainer {
 public:
  DenoiserTrainer(Denoiser<S>& denoiser, const LatentSet<S>& latents, const Schedule<S>& schedule,
                  const DenoiserTrainOptions& options, Key key)
      : denoiser_(denoiser),
        latents_(latents),
        schedule_(schedule),
        options_(options),
        order_(static_cast<std::size_t>(latents.mu.rows()), checked_batch(options), split(key)[0]),
        noise_key_(split(key)[1]),
        lr_(detail::make_lr_schedule(options.lr, options.warmup_steps, options.cosine_decay, options.steps)),
        grad_(zeros_like(denoiser)),
        adam_(AdamOptions{.lr = options.lr, .weight_decay = options.weight_decay}, denoiser) {
    detail::require_cols("train_denoiser", "latents", latents.mu, denoiser.latent_size());
    if (schedule.num_steps != denoiser.num_steps)
      throw std::invalid_argument(detail::concat("train_denoiser: the schedule has ", schedule.num_steps,
                                                 " steps but the denoiser ", denoiser.num_steps));
    if (options.steps < 0)
      throw std::invalid_argument(detail::concat("train_denoiser: steps must be >= 0, got ", options.steps));
    check_labels(denoiser, latents, options);
    if (options.ema_decay > 0) ema_.emplace(EmaOptions{.max_decay = options.ema_decay}, denoiser);
  }

  double step() {
    const long long s = step_;
    const Key k = fold_in(noise_key_, static_cast<std::uint32_t>(s));
    const auto rows = order_.batch(s);
    const auto n = static_cast<Eigen::Index>(rows.size());
    detail::gather_rows(latents_.mu, rows, z0_);
    if (latents_.source == LatentSource::posterior_sample) {
      detail::gather_rows(latents_.log_var, rows, log_var_);
      eps_.resize(n, z0_.cols());
      fill_normal(fold_in(k, 0), eps_);
      z0_.array() += (S(0.5) * log_var_.array()).exp() * eps_.array();
    }
    z0_ = ((z0_.rowwise() - latents_.scaling.mean.transpose()).array().rowwise() /
           latents_.scaling.scale.transpose().array())
              .matrix();
    uniform_t_.resize(n, 1);
    fill_uniform(fold_in(k, 1), uniform_t_);
    t_.resize(n);
    for (Eigen::Index i = 0; i < n; ++i)
      t_(i) = std::min(schedule_.num_steps - 1, static_cast<int>(uniform_t_(i, 0) * schedule_.num_steps));
    eps_.resize(n, z0_.cols());
    fill_normal(fold_in(k, 2), eps_);
    if (!grads_zero_) zero_gradients(grad_);  // only after a step that threw
    grads_zero_ = false;
    const Eigen::VectorXi* labels = nullptr;
    if (latents_.labels.size() > 0) {  // conditional: each row's label, dropped to "no label" at random
      labels_.resize(n);
      for (Eigen::Index i = 0; i < n; ++i) labels_(i) = latents_.labels(rows[static_cast<std::size_t>(i)]);
      drop_labels(labels_, options_.label_dropout, denoiser_.no_label(), fold_in(k, 3), labels_);
      labels = &labels_;
    }
    const double loss = detail::denoiser_loss_and_gradient(
        denoiser_, schedule_, z0_, t_, labels, eps_, options_.prediction, options_.min_snr_gamma, grad_, buffers_);
    detail::require_finite_loss("denoiser", s, loss);
    if (options_.clip_grad_norm > 0) clip_grad_norm(options_.clip_grad_norm, grad_);
    last_lr_ = lr_.at(s);
    adam_.step_and_zero_grad(denoiser_, grad_, last_lr_);  // ready for the next step
    grads_zero_ = true;
    if (ema_) ema_->update(denoiser_);
    ++step_;
    return loss;
  }

  long long steps_done() const { return step_; }
  long long epoch() const { return order_.epoch_of(step_ == 0 ? 0 : step_ - 1); }
  double last_lr() const { return last_lr_; }
  std::size_t batch_size() const { return order_.batch_size(); }
  // The averaged weights when EMA is on, else nothing.
  const Denoiser<S>* ema_average() const { return ema_ ? &ema_->average() : nullptr; }

  // The running state besides the model, f(name, tensor): "denoiser_adam.m.<param>",
  // "denoiser_adam.v.<param>" and, with EMA, "denoiser_ema.ema.<param>".
  template <class F>
  void visit_state(F&& f) {
    adam_.visit_state([&](const std::string& name, auto& t) { f("denoiser_adam." + name, t); });
    if (ema_) ema_->visit_state([&](const std::string& name, auto& t) { f("denoiser_ema." + name, t); });
  }

  // Continues at step `step`; see VaeTrainer::restore_step.
  void restore_step(long long step) {
    if (step < 0 || step > options_.steps)
      throw std::invalid_argument(
          detail::concat("DenoiserTrainer::restore_step: step must be in [0, ", options_.steps, "], got ", step));
    step_ = step;
    adam_.state().step = step;
    if (ema_) ema_->set_step(step);
  }

 private:
  static std::size_t checked_batch(const DenoiserTrainOptions& o) {
    detail::require_positive("train_denoiser", "batch_size", o.batch_size);
    return static_cast<std::size_t>(o.batch_size);
  }

  // Labels go with a conditional denoiser and only with one; each in [0, num_classes].
  static void check_labels(const Denoiser<S>& denoiser, const LatentSet<S>& latents, const DenoiserTrainOptions& o) {
    const int classes = denoiser.num_classes();
    if (classes == 0 && latents.labels.size() > 0)
      throw std::invalid_argument(
          "train_denoiser: latents.labels is set but the denoiser is unconditional "
          "(num_classes = 0)");
    if (classes > 0 && latents.labels.size() != latents.mu.rows())
      throw std::invalid_argument(detail::concat("train_denoiser: the denoiser has num_classes = ", classes,
                                                 " but latents.labels has ", latents.labels.size(), " entries for ",
                                                 latents.mu.rows(), " rows"));
    for (Eigen::Index i = 0; i < latents.labels.size(); ++i)
      if (latents.labels(i) < 0 || latents.labels(i) > classes)
        throw std::invalid_argument(detail::concat("train_denoiser: latents.labels(", i, ") = ", latents.labels(i),
                                                   " is outside [0, ", classes, "]"));
    if (!(o.label_dropout >= 0.0 && o.label_dropout <= 1.0))
      throw std::invalid_argument(
          detail::concat("train_denoiser: label_dropout must be in [0, 1], got ", o.label_dropout));
  }

  Denoiser<S>& denoiser_;
  const LatentSet<S>& latents_;
  const Schedule<S>& schedule_;
  DenoiserTrainOptions options_;
  BatchOrder order_;
  Key noise_key_;
  LrSchedule lr_;
  Denoiser<S> grad_;
  Adam<Denoiser<S>> adam_;
  std::optional<Ema<Denoiser<S>>> ema_;
  DenoiserBuffers<S> buffers_;
  Matrix<S> z0_, log_var_, eps_;
  Matrix<double> uniform_t_;
  Eigen::VectorXi t_, labels_;
  long long step_ = 0;
  bool grads_zero_ = true;  // the gradient buffers hold zeros (Adam zeroes them as it uses them)
  double last_lr_ = 0;
};

// Trains the denoiser in place; with EMA on, the averaged weights are copied into denoiser at
// the end (they are what sampling should use) and the raw weights are returned in `raw` if given.
template <class S>
TrainResult train_denoiser(Denoiser<S>& denoiser, const LatentSet<S>& latents, const Schedule<S>& schedule,
                           const DenoiserTrainOptions& options, Key key, const ProgressCallback& progress = {},
                           Denoiser<S>* raw = nullptr) {
  DenoiserTrainer<S> trainer(denoiser, latents, schedule, options, key);
  TrainResult result;
  result.key = split(key, 3)[2];
  result.loss.reserve(static_cast<std::size_t>(options.steps));
  detail::ProgressReporter reporter("denoiser", options.steps, progress);
  while (trainer.steps_done() < options.steps) {
    const double loss = trainer.step();
    result.loss.push_back(loss);
    const long long done = trainer.steps_done();
    if (!reporter.report(done, trainer.epoch(), loss, trainer.last_lr(),
                         done * static_cast<long long>(trainer.batch_size()))) {
      result.stopped = true;
      break;
    }
  }
  if (raw) *raw = denoiser;
  if (const Denoiser<S>* average = trainer.ema_average()) denoiser = *average;
  return result;
}

}  // namespace ldm
