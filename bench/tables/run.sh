#!/usr/bin/env bash
# The real-table comparison of the README ("Real tables against sequential CART"): for each
# table, a seeded 70/30 split; ldm train + ldm sample at their defaults; sequential CART
# (cart_synth.py, synthpop's method); ldm's Gaussian-copula baseline; and the training rows
# themselves as a reference. Each set of rows (as many as the held-out rows; all training rows
# for the reference) is scored twice: `ldm eval --json` and the independent score.py.
# Usage: [THREADS=2] bench/tables/run.sh LDM_BINARY [WORK_DIR] [TABLE ...]   (default: every table below)
# Needs: apt-get install -y r-base-core r-cran-mass r-cran-ggplot2 python3-sklearn python3-pandas
# Heavy steps (training, score.py; everything on tables of 1,000 held-out rows or more) run under flock
# /tmp/ldm-heavy.lock: one heavy job at a time on a shared machine.
set -euo pipefail
ldm=$(realpath "$1")
work=${2:-build/tables}
shift $(($# < 2 ? $# : 2))
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3   # Debian's python, where python3-sklearn is
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
lock="flock /tmp/ldm-heavy.lock"
threads=${THREADS:-2}  # the --threads of every ldm command
declare -A target=([msleep]=vore [survey]=Sex [biopsy]=class [txhousing]=median [diamonds]=price [midwest]=state
  [mpg]=hwy)
tables=("$@")
[ ${#tables[@]} -gt 0 ] || tables=(msleep survey biopsy txhousing diamonds midwest mpg)

mkdir -p "$work/data"
for t in "${tables[@]}"; do [ -f "$work/data/$t.csv" ] || { Rscript "$here/export.R" "$work/data"; break; }; done
for t in "${tables[@]}"; do
  d="$work/$t"
  mkdir -p "$d"
  "$py" "$here/split.py" "$work/data/$t.csv" "$d/train.csv" "$d/held.csv"
  n=$(($(wc -l < "$d/held.csv") - 1))
  heavy=""
  [ "$n" -lt 1000 ] || heavy=$lock  # on small tables the baselines and ldm eval take seconds
  echo "== $t: $(($(wc -l < "$d/train.csv") - 1)) training rows, $n held out, target ${target[$t]}"
  [ -f "$d/model.safetensors" ] || $lock /usr/bin/time -f "%e s, %M KB" -o "$d/train.time" \
    "$ldm" --threads "$threads" train --data "$d/train.csv" --out "$d/model.safetensors" > "$d/train.log" 2>&1
  $heavy "$ldm" --threads "$threads" sample --model "$d/model.safetensors" -n "$n" --out "$d/ldm.csv" 2> "$d/sample.log"
  $heavy /usr/bin/time -f "%e s, %M KB" -o "$d/cart.time" "$py" "$here/cart_synth.py" "$d/train.csv" "$n" "$d/cart.csv"
  $heavy "$ldm" --threads "$threads" baseline --data "$d/train.csv" --method gaussian-copula -n "$n" --out "$d/copula.csv" \
    2> /dev/null
  cp "$d/train.csv" "$d/train_rows.csv"
  for s in ldm cart copula train_rows; do
    $heavy "$ldm" --threads "$threads" eval --real "$d/held.csv" --synth "$d/$s.csv" --train "$d/train.csv" \
      --target "${target[$t]}" --json > "$d/eval_$s.json"
    $lock "$py" "$here/score.py" --train "$d/train.csv" --held "$d/held.csv" --synth "$d/$s.csv" \
      --target "${target[$t]}" > "$d/score_$s.json"
  done
done
"$py" "$here/summarize.py" "$work" "${tables[@]}"
