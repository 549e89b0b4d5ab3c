"""The table of the scale check (README, "Real tables"): 50,000 rows of ggplot2's diamonds (a
seeded shuffle) with missing cells put in (3% of `depth`, `table` and `cut`, drawn independently),
so it holds every kind of column: numeric, integer (`price`), categorical and missing. Also a
1,000-row table: the first 1,000 of those rows. Usage: scale_table.py diamonds.csv OUT_DIR"""
import csv
import os
import random
import sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    with open(src, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    rng = random.Random(1)
    rng.shuffle(rows)
    rows = rows[:50000]
    holes = [header.index(c) for c in ("depth", "table", "cut")]
    for row in rows:
        for c in holes:
            if rng.random() < 0.03:
                row[c] = "NA"
    for name, part in (("scale50k.csv", rows), ("scale1k.csv", rows[:1000])):
        with open(os.path.join(out, name), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows(part)


if __name__ == "__main__":
    main()
