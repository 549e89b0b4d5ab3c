// The umbrella header: #include <ldm/ldm.hpp> brings in the whole library.
#pragma once

#include <ldm/build.hpp>
#include <ldm/csv.hpp>
#include <ldm/decoder.hpp>
#include <ldm/denoiser.hpp>
#include <ldm/encoder.hpp>
#include <ldm/guidance.hpp>
#include <ldm/io.hpp>
#include <ldm/layers.hpp>
#include <ldm/metrics.hpp>
#include <ldm/optim.hpp>
#include <ldm/params.hpp>
#include <ldm/pipeline.hpp>
#include <ldm/random.hpp>
#include <ldm/safetensors.hpp>
#include <ldm/samplers.hpp>
#include <ldm/schedule.hpp>
#include <ldm/standardizer.hpp>
#include <ldm/tensor.hpp>
#include <ldm/threads.hpp>
#include <ldm/train.hpp>
#include <ldm/vae.hpp>
