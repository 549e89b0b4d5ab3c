"""The digits split of bench/seeds: a fixed 80/20 split of examples/data/digits.csv (numpy
permutation with seed 0; 1,437 training rows, 360 held out), the same for every training seed,
so that seeds differ only in the model's own randomness.
Usage: split.py DIGITS.csv TRAIN.csv HELD.csv"""
import sys

import numpy as np

src, train_path, held_path = sys.argv[1:4]
with open(src) as f:
    header, *rows = f.read().splitlines()
order = np.random.default_rng(0).permutation(len(rows))
n_held = 360  # as examples/digits: 20 % of 1,797, rounded up
for path, idx in ((held_path, order[:n_held]), (train_path, np.sort(order[n_held:]))):
    with open(path, "w") as f:
        f.write("\n".join([header] + [rows[i] for i in sorted(idx)]) + "\n")
