"""The table of bench/seeds: one row per seed and sampler, then the mean and the worst (highest
C2ST, KS, FD, NN share and copies; each column's own worst) per sampler, as markdown.
Columns: the MLP C2ST of score.py, ldm eval's own C2ST, mean KS, Frechet distance, NN share
(ideal 0.80), exact copies, and the training time (s).
Usage: summarize.py WORK_DIR"""
import glob
import json
import os
import sys

work = sys.argv[1]
samplers = [("ddim-50", "DDIM-50"), ("dpm++2m-20", "DPM++2M-20")]
columns = [("C2ST MLP", "c2st_mlp", 3), ("C2ST ldm", "c2st_auc", 3), ("KS", "ks", 3), ("FD", "frechet", 2),
           ("NN share", "nn_share", 3), ("copies", "exact_copies", 0)]


def load(path):
    with open(path) as f:
        return json.load(f)


rows = {name: [] for name, _ in samplers}
seed_dirs = sorted(glob.glob(os.path.join(work, "seed*")), key=lambda d: int(d.rsplit("seed", 1)[1]))
for d in seed_dirs:
    seed = int(d.rsplit("seed", 1)[1])
    try:
        seconds = float(open(os.path.join(d, "train.time")).read().split()[-1])
    except (OSError, IndexError, ValueError):
        seconds = float("nan")
    for name, _ in samplers:
        base = os.path.join(d, name)
        if not os.path.exists(base + ".score.json") or os.path.getsize(base + ".score.json") == 0:
            continue  # not scored yet
        values = {**load(base + ".eval.json"), **load(base + ".score.json")}
        rows[name].append((seed, [values.get(key, float("nan")) for _, key, _ in columns], seconds))

options = open(os.path.join(work, "train_options.txt")).read().split() if os.path.exists(
    os.path.join(work, "train_options.txt")) else []
print(f"ldm train options: {' '.join(options) or '(defaults)'}\n")
print("| sampler | seed | " + " | ".join(c for c, _, _ in columns) + " | train s |")
print("|---|---|" + "---:|" * (len(columns) + 1))


def cell(v, digits):
    return f"{v:.{digits}f}" if digits else f"{v:.0f}"


for name, label in samplers:
    if not rows[name]:
        continue
    for seed, values, seconds in rows[name]:
        print(f"| {label} | {seed} | " + " | ".join(cell(v, c[2]) for v, c in zip(values, columns)) +
              f" | {seconds:.0f} |")
    n = len(rows[name])
    mean = [sum(r[1][i] for r in rows[name]) / n for i in range(len(columns))]
    worst = [max(r[1][i] for r in rows[name]) for i in range(len(columns))]
    digits = [max(c[2], 2) if c[2] == 0 else c[2] for c in columns]
    print(f"| {label} | **mean of {n}** | " + " | ".join(f"{v:.{d}f}" for v, d in zip(mean, digits)) + " | |")
    print(f"| {label} | **worst** | " + " | ".join(cell(v, c[2]) for v, c in zip(worst, columns)) + " | |")
