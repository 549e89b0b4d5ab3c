// The umbrella header: #include <ldm/ldm.hpp> brings in the whole library, layer by layer,
// bottom up (the README's "Layout" section is the map).
#pragma once

// core: types, checks, errors, randomness, threads, the matrix product, visiting parameters
#include <ldm/core/checks.hpp>
#include <ldm/core/errors.hpp>
#include <ldm/core/gemm.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/core/random.hpp>
#include <ldm/core/threads.hpp>
#include <ldm/core/visit.hpp>

// nn: layers, the three models and build()
#include <ldm/nn/build.hpp>
#include <ldm/nn/decoder.hpp>
#include <ldm/nn/denoiser.hpp>
#include <ldm/nn/encoder.hpp>
#include <ldm/nn/layers.hpp>
#include <ldm/nn/vae.hpp>

// diffusion: the noise schedule, the samplers, classifier-free guidance
#include <ldm/diffusion/guidance.hpp>
#include <ldm/diffusion/samplers.hpp>
#include <ldm/diffusion/schedule.hpp>

// io: atomic files, safetensors, checkpoints
#include <ldm/io/atomic_file.hpp>
#include <ldm/io/checkpoint.hpp>
#include <ldm/io/safetensors.hpp>

// data: CSV tables, standardisation
#include <ldm/data/csv.hpp>
#include <ldm/data/standardizer.hpp>

// train: optimizers, trainers
#include <ldm/train/optim.hpp>
#include <ldm/train/train.hpp>

// eval: quality metrics and classifiers
#include <ldm/eval/metrics.hpp>

// pipeline: LatentDiffusion, the whole flow in one object
#include <ldm/pipeline/latent_diffusion.hpp>
