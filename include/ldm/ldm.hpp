// The umbrella header: #include <ldm/ldm.hpp> brings in the whole library, layer by layer,
// bottom up (the README's "Layout" section is the map).
#pragma once

// core: types, checks, errors, randomness, threads, the matrix product, visiting parameters,
// the processes that share the work (core/mpi.hpp too when built with LDM_USE_MPI)
#include <ldm/core/checks.hpp>
#include <ldm/core/communicator.hpp>
#include <ldm/core/errors.hpp>
#include <ldm/core/gemm.hpp>
#include <ldm/core/json.hpp>
#include <ldm/core/matrix.hpp>
#include <ldm/core/random.hpp>
#include <ldm/core/threads.hpp>
#include <ldm/core/visit.hpp>
#ifdef LDM_USE_MPI
#include <ldm/core/mpi.hpp>
#endif

// nn: layers, the three models and build()
#include <ldm/nn/build.hpp>
#include <ldm/nn/decoder.hpp>
#include <ldm/nn/denoiser.hpp>
#include <ldm/nn/encoder.hpp>
#include <ldm/nn/layers.hpp>
#include <ldm/nn/options.hpp>
#include <ldm/nn/vae.hpp>

// diffusion: the noise schedule, the samplers, classifier-free guidance
#include <ldm/diffusion/guidance.hpp>
#include <ldm/diffusion/samplers.hpp>
#include <ldm/diffusion/schedule.hpp>

// io: atomic files, safetensors and its dtypes, model parameters as tensors, checkpoints
#include <ldm/io/atomic_file.hpp>
#include <ldm/io/checkpoint.hpp>
#include <ldm/io/dtype.hpp>
#include <ldm/io/metadata.hpp>
#include <ldm/io/model_tensors.hpp>
#include <ldm/io/safetensors.hpp>

// data: CSV tables, mixed tables and their schema, standardisation, the VAE encoding of a row
#include <ldm/data/columns.hpp>
#include <ldm/data/csv_reader.hpp>
#include <ldm/data/csv_table.hpp>
#include <ldm/data/csv_writer.hpp>
#include <ldm/data/encoding.hpp>
#include <ldm/data/quantile_normal.hpp>
#include <ldm/data/schema.hpp>
#include <ldm/data/schema_file.hpp>
#include <ldm/data/standardizer.hpp>
#include <ldm/data/table.hpp>
#include <ldm/data/table_reader.hpp>
#include <ldm/data/table_writer.hpp>
#include <ldm/data/vector_layout.hpp>

// train: optimizers, the training loop, the two stages' trainers
#include <ldm/train/adam.hpp>
#include <ldm/train/batches.hpp>
#include <ldm/train/data_parallel.hpp>
#include <ldm/train/denoiser_trainer.hpp>
#include <ldm/train/ema.hpp>
#include <ldm/train/gradients.hpp>
#include <ldm/train/latents.hpp>
#include <ldm/train/loop.hpp>
#include <ldm/train/lr_schedule.hpp>
#include <ldm/train/reconstruction.hpp>
#include <ldm/train/vae_trainer.hpp>

// eval: distances, memorisation, C2ST, classifiers, mixed-table metrics, baselines, evaluate
#include <ldm/eval/baselines.hpp>
#include <ldm/eval/c2st.hpp>
#include <ldm/eval/column_shapes.hpp>
#include <ldm/eval/distances.hpp>
#include <ldm/eval/evaluate.hpp>
#include <ldm/eval/memorization.hpp>
#include <ldm/eval/one_hot.hpp>
#include <ldm/eval/pair_trends.hpp>
#include <ldm/eval/report.hpp>
#include <ldm/eval/softmax_regression.hpp>
#include <ldm/eval/table_metrics.hpp>
#include <ldm/eval/table_utility.hpp>

// pipeline: LatentDiffusion (the whole flow in one object), FitRun, TableDiffusion (mixed tables)
#include <ldm/pipeline/columns.hpp>
#include <ldm/pipeline/fit_run.hpp>
#include <ldm/pipeline/latent_diffusion.hpp>
#include <ldm/pipeline/options.hpp>
#include <ldm/pipeline/table_diffusion.hpp>
