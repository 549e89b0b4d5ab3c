"""Splits a CSV file into training and held-out rows, deterministically: a seeded shuffle, the
first round(share * n) rows for training. Rows are copied as text (csv module), so numbers and
missing cells keep their spelling. Held-out rows with a category the training rows never have
(a rare `order` of mammals) are left out and counted: no synthesiser trained on the training rows
can make them, and `ldm eval` reads the held-out rows in the training rows' schema.
Usage: split.py IN.csv TRAIN.csv HELD.csv [--share 0.7] [--seed 0]"""
import argparse
import csv
import random

NA_TEXTS = {"", "na", "n/a", "nan", "null"}


def is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("src")
    p.add_argument("train")
    p.add_argument("held")
    p.add_argument("--share", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    with open(a.src, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    random.Random(a.seed).shuffle(rows)
    cut = round(a.share * len(rows))
    train, held = rows[:cut], rows[cut:]
    seen = [set() for _ in header]  # present texts of categorical columns; None for numeric ones
    for c in range(len(header)):
        present = [r[c] for r in train if r[c].strip().lower() not in NA_TEXTS]
        if all(is_number(v) for v in present):
            seen[c] = None
        else:
            seen[c] = set(present)
    kept = [r for r in held if all(s is None or r[c].strip().lower() in NA_TEXTS or r[c] in s
                                   for c, s in enumerate(seen))]
    if len(kept) < len(held):
        print("split.py: %d held-out rows left out: a category the training rows lack" % (len(held) - len(kept)))
    for path, part in ((a.train, train), (a.held, kept)):
        with open(path, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows(part)


if __name__ == "__main__":
    main()
