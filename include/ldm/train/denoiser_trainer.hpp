// The second stage (Rombach et al. 2022, sec. 4): with the encoder frozen, the denoiser learns
// to predict the noise added to standardised latents (Ho et al. 2020, eq. 14), optionally the
// velocity and with min-SNR weights; Adam, clipping, a warm-up and cosine learning rate and an
// EMA of the weights. Randomness per step as in the VAE stage (vae_trainer.hpp).
#pragma once

#include <ldm/core/checks.hpp>
#include <ldm/core/json.hpp>
#include <ldm/diffusion/samplers.hpp>
#include <ldm/diffusion/schedule.hpp>
#include <ldm/nn/denoiser.hpp>
#include <ldm/train/adam.hpp>
#include <ldm/train/batches.hpp>
#include <ldm/train/data_parallel.hpp>
#include <ldm/train/ema.hpp>
#include <ldm/train/gradients.hpp>
#include <ldm/train/latents.hpp>
#include <ldm/train/loop.hpp>
#include <ldm/train/lr_schedule.hpp>

#include <optional>
#include <string>

namespace ldm {

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
  long long warmup_steps = auto_warmup;  // auto: min(100, steps / 10), see lr_schedule_for_run
  bool cosine_decay = true;
  double weight_decay = 0.0;
  double clip_grad_norm = 1.0;  // 0 = no clipping
  Prediction prediction = Prediction::epsilon;
  double min_snr_gamma = 0.0;  // 0 = plain MSE; 5 is the paper's choice
  double ema_decay = 0.999;    // 0 = no EMA
  double label_dropout = 0.1;  // conditional only: share of rows trained as "no label" (Ho & Salimans 2022)
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DenoiserTrainOptions, steps, batch_size, lr, warmup_steps, cosine_decay,
                                                weight_decay, clip_grad_norm, prediction, min_snr_gamma, ema_decay,
                                                label_dropout)

template <class S>
class DenoiserTrainer {
 public:
  DenoiserTrainer(Denoiser<S>& denoiser, const LatentSet<S>& latents, const Schedule<S>& schedule,
                  const DenoiserTrainOptions& options, Key key, const DataParallel& parallel = {})
      : denoiser_(denoiser),
        latents_(latents),
        schedule_(schedule),
        options_(options),
        order_(static_cast<std::size_t>(latents.mu.rows()), checked_batch(options), split(key)[0]),
        noise_key_(split(key)[1]),
        lr_(lr_schedule_for_run("train_denoiser", options.lr, options.warmup_steps, options.cosine_decay,
                                options.steps)),
        grad_(zeros_like(denoiser)),
        adam_(AdamOptions{.lr = options.lr, .weight_decay = options.weight_decay}, denoiser),
        parallel_(parallel) {
    detail::require_cols("train_denoiser", "latents", latents.mu, denoiser.latent_size());
    if (schedule.num_steps != denoiser.num_steps)
      throw std::invalid_argument(detail::concat("train_denoiser: the schedule has ", schedule.num_steps,
                                                 " steps but the denoiser ", denoiser.num_steps));
    if (options.steps < 0)
      throw std::invalid_argument(detail::concat("train_denoiser: steps must be >= 0, got ", options.steps));
    check_labels(denoiser, latents, options);
    if (options.ema_decay > 0) ema_.emplace(EmaOptions{.max_decay = options.ema_decay}, denoiser);
    detail::require_valid_parallel("train_denoiser", parallel, static_cast<Eigen::Index>(order_.batch_size()));
    if (parallel.on()) {
      const auto [first, last] = parallel.my_chunks();
      grad_chunks_.assign(static_cast<std::size_t>(last - first), grad_);
    }
  }

  double step() {
    const long long s = step_;
    const Key k = fold_in(noise_key_, static_cast<std::uint32_t>(s));
    double loss = 0;
    if (parallel_.on()) {
      loss = chunked_loss_and_gradient(order_.batch(s), k);
    } else {
      if (!grads_zero_) zero_gradients(grad_);  // only after a step that threw
      grads_zero_ = false;
      loss = loss_and_gradient(order_.batch(s), k, grad_);
    }
    detail::require_finite_loss("denoiser", s, loss);
    if (options_.clip_grad_norm > 0) clip_grad_norm(options_.clip_grad_norm, grad_);
    last_lr_ = lr_.at(s);
    if (ema_)  // the average in Adam's pass over memory
      adam_.step_and_zero_grad(denoiser_, grad_, last_lr_, *ema_);
    else
      adam_.step_and_zero_grad(denoiser_, grad_, last_lr_);  // ready for the next step
    grads_zero_ = true;
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

  // The loss of the batch `rows` with the draws of key k (k's sub-keys 0: posterior noise,
  // 1: timesteps, 2: noise, 3: label dropout); its gradients added into grad.
  double loss_and_gradient(std::span<const std::uint32_t> rows, Key k, Denoiser<S>& grad) {
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
    const Eigen::VectorXi* labels = nullptr;
    if (latents_.labels.size() > 0) {  // conditional: each row's label, dropped to "no label" at random
      labels_.resize(n);
      for (Eigen::Index i = 0; i < n; ++i) labels_(i) = latents_.labels(rows[static_cast<std::size_t>(i)]);
      drop_labels(labels_, options_.label_dropout, denoiser_.no_label(), fold_in(k, 3), labels_);
      labels = &labels_;
    }
    return detail::denoiser_loss_and_gradient(denoiser_, schedule_, z0_, t_, labels, eps_, options_.prediction,
                                              options_.min_snr_gamma, grad, buffers_);
  }

  // As VaeTrainer's: this process's chunks (chunk c from fold_in(k, c)), the gradients summed
  // exactly over all processes into grad_, the chunk losses weighted and summed in order.
  double chunked_loss_and_gradient(std::span<const std::uint32_t> batch, Key k) {
    const auto first = parallel_.my_chunks().first;
    std::vector<std::vector<std::span<S>>> chunk_grads;
    for (Denoiser<S>& g : grad_chunks_) chunk_grads.push_back(detail::tensors_of<S>(g));
    return chunked_(
        parallel_, batch, k,
        [&](Eigen::Index c, std::span<const std::uint32_t> rows, Key chunk_key) {
          Denoiser<S>& g = grad_chunks_[static_cast<std::size_t>(c - first)];
          zero_gradients(g);
          return std::array<double, 1>{loss_and_gradient(rows, chunk_key, g)};
        },
        chunk_grads, detail::tensors_of<S>(grad_))[0];
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
  DataParallel parallel_;
  std::vector<Denoiser<S>> grad_chunks_;  // the gradients of this process's chunks
  ChunkedGradient<S, 1> chunked_;
  long long step_ = 0;
  bool grads_zero_ = true;  // the gradient buffers hold zeros (Adam zeroes them as it uses them)
  double last_lr_ = 0;
};

// Trains the denoiser in place; with EMA on, the averaged weights are copied into denoiser at
// the end (they are what sampling should use) and the raw weights are returned in `raw` if given.
template <class S>
TrainResult train_denoiser(Denoiser<S>& denoiser, const LatentSet<S>& latents, const Schedule<S>& schedule,
                           const DenoiserTrainOptions& options, Key key, const ProgressCallback& progress = {},
                           Denoiser<S>* raw = nullptr, const DataParallel& parallel = {}) {
  DenoiserTrainer<S> trainer(denoiser, latents, schedule, options, key, parallel);
  TrainResult result;
  result.key = split(key, 3)[2];
  result.loss.reserve(static_cast<std::size_t>(options.steps));
  result.stopped = !run_steps(trainer, "denoiser", options.steps, progress, {}, &result.loss);
  if (raw) *raw = denoiser;
  if (const Denoiser<S>* average = trainer.ema_average()) denoiser = *average;
  return result;
}

}  // namespace ldm
