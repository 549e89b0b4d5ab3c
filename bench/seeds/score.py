"""An independent classifier two-sample test (C2ST) of generated digits, with scikit-learn,
so that bench/seeds does not judge ldm by ldm's own metric alone.

Procedure (fixed, so numbers from different runs compare):
- features: the 64 pixel columns (a `label` column, if present, is left out), as read;
- real rows: all held-out rows (n, 360 for digits); generated rows: n drawn without replacement
  from the generated file (balanced classes);
- classifier: StandardScaler (fit on the training folds) then MLPClassifier(hidden (128,),
  adam, alpha 1e-3, max_iter 200, early_stopping off);
- AUC: 5-fold stratified cross-validation (shuffled), the mean AUC of the held-out folds;
- repeated for 10 draws r = 0..9 (each draw and fold split seeded with r); reported: the mean of
  the 10 repeats (and their standard deviation). 0.5 = indistinguishable.
Prints one line of JSON: {"c2st_mlp": mean, "c2st_mlp_sd": sd, "n": n}.
Usage: score.py HELD.csv SYNTH.csv"""
import json
import os
import sys
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def read(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    keep = [i for i, name in enumerate(header) if name != "label"]
    return np.loadtxt(path, delimiter=",", skiprows=1, usecols=keep, ndmin=2)


def c2st(real, synth, repeats=10):
    n = len(real)
    if len(synth) < n:
        raise SystemExit(f"score.py: {len(synth)} generated rows, need at least {n} (the held-out rows)")
    aucs = []
    for r in range(repeats):
        s = synth[np.random.default_rng(r).choice(len(synth), n, replace=False)]
        x = np.vstack([real, s])
        y = np.r_[np.zeros(n), np.ones(n)]
        folds = []
        for fit, test in StratifiedKFold(5, shuffle=True, random_state=r).split(x, y):
            clf = make_pipeline(StandardScaler(), MLPClassifier((128,), alpha=1e-3, max_iter=200, random_state=r))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(x[fit], y[fit])
            folds.append(roc_auc_score(y[test], clf.predict_proba(x[test])[:, 1]))
        aucs.append(np.mean(folds))
    return float(np.mean(aucs)), float(np.std(aucs))


if __name__ == "__main__":
    real, synth = read(sys.argv[1]), read(sys.argv[2])
    mean, sd = c2st(real, synth)
    print(json.dumps({"c2st_mlp": round(mean, 4), "c2st_mlp_sd": round(sd, 4), "n": len(real)}))
