"""Gathers run.sh's JSON files into the README's markdown table. Shape and trend errors are
computed by both ldm eval and score.py; they are printed once when the two agree to 0.05 and
as "ldm eval / score.py" otherwise. Usage: summarize.py WORK_DIR TABLE..."""
import json
import os
import sys

METHODS = [("ldm", "ldm"), ("cart", "sequential CART"), ("copula", "Gaussian copula"), ("train_rows", "training rows")]


def load(path):
    with open(path) as f:
        return json.load(f)


def seconds(path):
    return "%.0f" % float(open(path).read().split()[0]) if os.path.exists(path) else "-"


def both(a, b):
    return "%.1f" % a if abs(a - b) < 0.05 else "%.1f / %.1f" % (a, b)


def ratio(u):
    return 100 * u["synthetic"] / u["real"] if u["real"] else float("nan")


def main():
    work, tables = sys.argv[1], sys.argv[2:]
    print("| table: rows train / held-out, columns | rows from | C2ST AUC: MLP / boosting | shape error | trend error "
          "| utility, % of real: ldm eval / boosting | exact copies (held-out rows) | DCR share (ideal) | train s |")
    print("|---|---|---|---:|---:|---|---|---|---:|")
    for t in tables:
        d = os.path.join(work, t)
        cols = len(open(os.path.join(d, "train.csv")).readline().split(","))
        for key, name in METHODS:
            e, s = load(os.path.join(d, "eval_%s.json" % key)), load(os.path.join(d, "score_%s.json" % key))
            ue, us = e["utility"], s["utility"]
            label = "%s: %d / %d, %d" % (t, e["rows_train"], e["rows_held_out"], cols) if key == "ldm" else ""
            time_file = {"ldm": "train.time", "cart": "cart.time"}.get(key, "none")
            print("| %s | %s | %.3f / %.3f | %s | %s | %s %.0f / %.0f | %d of %d (%d of %d) | %.3f (%.3f) | %s |" % (
                label, name, e["c2st_auc"], s["c2st_auc"], both(e["shape_error"], s["shape_error"]),
                both(e["trend_error"], s["trend_error"]), ue["metric"], ratio(ue), ratio(us), e["exact_copies"],
                e["rows_synth"], e["held_out_copies"], e["rows_held_out"], e["dcr_share"], e["dcr_ideal_share"],
                seconds(os.path.join(d, time_file))))


if __name__ == "__main__":
    main()
