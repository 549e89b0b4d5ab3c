#!/usr/bin/env bash
# The README's main job: on a fresh Debian 12 machine, install what is missing, build the
# digits example in Release and run it; outputs (samples.csv, digits.png, model.safetensors)
# go to build/digits/, progress to stderr, the comparison table to stdout.
# Works from any directory; extra arguments go to the example (e.g. --seed 3, --quick).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash .ci/install-deps
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release
cmake --build build/release --target digits -j "$(nproc)"
build/release/examples/digits --out build/digits "$@"
