#!/usr/bin/env bash
# The README's penguins walk-through ("A real table: penguins"), end to end: a seeded 70/30 split of
# examples/data/penguins.csv (split.py), `ldm train` at its defaults, 300 rows from DDIM-50 and from
# DPM-Solver++(2M)-20, both built-in baselines, and the training rows themselves, each scored by
# `ldm eval --target species` against the held-out rows; prints the README's markdown table.
# Usage: [THREADS=2] [SEED=0] bench/tables/penguins.sh LDM_BINARY [WORK_DIR]
set -euo pipefail
ldm=$(realpath "$1")
work=${2:-build/penguins}
here=$(cd "$(dirname "$0")" && pwd)
threads=${THREADS:-2}
seed=${SEED:-0}
export PYTHONDONTWRITEBYTECODE=1
mkdir -p "$work"
python3 "$here/split.py" "$here/../../examples/data/penguins.csv" "$work/train.csv" "$work/held_out.csv"
run() { "$ldm" --threads "$threads" "$@"; }
[ -f "$work/penguins.safetensors" ] || /usr/bin/time -f "%e" -o "$work/train.time" \
  "$ldm" --threads "$threads" train --data "$work/train.csv" --out "$work/penguins.safetensors" --seed "$seed" \
  2> "$work/train.log"
run sample --model "$work/penguins.safetensors" -n 300 --seed "$seed" --out "$work/ddim.csv" 2> /dev/null
run sample --model "$work/penguins.safetensors" -n 300 --seed "$seed" --sampler dpm++2m --steps 20 \
  --out "$work/dpm.csv" 2> /dev/null
for m in gaussian-copula marginals; do
  run baseline --data "$work/train.csv" --method "$m" -n 300 --seed "$seed" --out "$work/$m.csv" 2> /dev/null
done
cp "$work/train.csv" "$work/train_rows.csv"
for s in ddim dpm gaussian-copula marginals train_rows; do
  run eval --real "$work/held_out.csv" --synth "$work/$s.csv" --train "$work/train.csv" --target species --json \
    > "$work/eval_$s.json"
done
python3 - "$work" "$(cat "$work/train.time")" << 'EOF'
import json, sys
work, train_s = sys.argv[1], float(sys.argv[2])
names = [("ddim", "ldm DDIM-50"), ("dpm", "ldm DPM-Solver++(2M)-20"), ("gaussian-copula", "Gaussian copula"),
         ("marginals", "independent marginals"), ("train_rows", "the training rows themselves")]
first = json.load(open("%s/eval_ddim.json" % work))
print("ldm train: %.0f s; %d training rows, %d held out" % (train_s, first["rows_train"], first["rows_held_out"]))
print("| rows | C2ST AUC | shape error | trend error | missing-rate error | DCR share (ideal %.3f) | copies "
      "| species accuracy, synth / real |" % first["dcr_ideal_share"])
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for key, name in names:
    e = json.load(open("%s/eval_%s.json" % (work, key)))
    u = e["utility"]
    print("| %s | %.3f | %.1f | %.1f | %.3f | %.3f | %d | %.3f / %.3f |" % (
        name, e["c2st_auc"], e["shape_error"], e["trend_error"], e["missing_rate_error"], e["dcr_share"],
        e["exact_copies"], u["synthetic"], u["real"]))
EOF
