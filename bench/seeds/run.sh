#!/usr/bin/env bash
# Sample quality over training seeds (README, "Seeds"; issue 17): a fixed 80/20 split of the
# digits (split.py, the same for every seed), then for each seed `ldm train` at its defaults
# (plus any options given here), 1,000 rows with DDIM-50 and with DPM-Solver++(2M)-20, each
# scored by `ldm eval --json` (KS, FD, NN share, exact copies, ldm's own C2ST) and by the
# independent scikit-learn MLP C2ST of score.py; summarize.py prints the table, mean and worst.
# Usage: bench/seeds/run.sh LDM_BINARY WORK_DIR [ldm train options ...]
#   e.g. bench/seeds/run.sh build/rel/examples/ldm build/seeds/raw --options raw.json
# Environment: SEEDS (default "0 1 2 3 4"), THREADS (default 2). A model already in WORK_DIR is
# reused (delete WORK_DIR to retrain). Needs Debian's python3-sklearn (run with /usr/bin/python3).
set -euo pipefail
ldm=$(realpath "$1")
work=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=${THREADS:-2}
threads=${THREADS:-2}
mkdir -p "$work"
"$py" "$here/split.py" "$here/../../examples/data/digits.csv" "$work/train.csv" "$work/held.csv"
printf '%s\n' "$@" > "$work/train_options.txt"
for seed in ${SEEDS:-0 1 2 3 4}; do
  d="$work/seed$seed"
  mkdir -p "$d"
  if [ ! -f "$d/model.safetensors" ]; then
    echo "== seed $seed: training" >&2
    /usr/bin/time -f "%e" -o "$d/train.time" "$ldm" --threads "$threads" train --data "$work/train.csv" \
      --drop-column label --seed "$seed" --out "$d/model.safetensors" "$@" > "$d/train.log" 2>&1
    rm -f "$d/model.safetensors.checkpoint.safetensors"
  fi
  for s in ddim:50 dpm++2m:20; do
    sampler=${s%%:*} steps=${s##*:}
    out="$d/$sampler-$steps"
    if [ ! -f "$out.score.json" ]; then
      "$ldm" --threads "$threads" sample --model "$d/model.safetensors" -n 1000 --sampler "$sampler" --steps "$steps" \
        --seed "$seed" --out "$out.csv" 2> /dev/null
      "$ldm" --threads "$threads" eval --real "$work/held.csv" --synth "$out.csv" --train "$work/train.csv" \
        --drop-column label --json > "$out.eval.json"
      "$py" "$here/score.py" "$work/held.csv" "$out.csv" > "$out.score.tmp"
      mv "$out.score.tmp" "$out.score.json"  # last: a run stopped midway scores this set again
    fi
  done
done
"$py" "$here/summarize.py" "$work"
