// The umbrella header: #include <ldm/ldm.hpp> brings in the whole library.
#pragma once

#include <ldm/build.hpp>
#include <ldm/decoder.hpp>
#include <ldm/denoiser.hpp>
#include <ldm/encoder.hpp>
#include <ldm/layers.hpp>
#include <ldm/params.hpp>
#include <ldm/random.hpp>
#include <ldm/tensor.hpp>
#include <ldm/vae.hpp>
