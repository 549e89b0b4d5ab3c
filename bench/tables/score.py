"""An independent scorer of synthetic tables (scikit-learn, scipy), so the comparison does not rest
on ldm's own metrics alone. Definitions as DESIGN.md ("Tables", quality) and SDMetrics:
- shape error: 100 (1 - mean over columns of 1 - KS (numeric, present values) or 1 - TVD
  (categorical, missing one more category));
- trend error: 100 (1 - mean over column pairs of 1 - |rho_real - rho_synth| / 2 (two numeric
  columns, Pearson over rows with both present) or 1 - TVD of the contingency tables (numeric
  cells binned at the real column's deciles, missing its own state));
- C2ST: AUC of a gradient-boosting classifier (HistGradientBoosting, 5 rows per leaf so that it
  also splits on tables of 50 rows) telling synthetic from real
  held-out rows on one-hot features, mean over 5 stratified folds (0.5: indistinguishable);
- utility: gradient boosting trained on the synthetic rows, tested on the held-out rows, over the
  same trained on the training rows (accuracy for a categorical target, R^2 for a numeric one);
- copies: rows equal to a training row cell by cell (numbers compared as numbers, missing
  equal to missing), for the synthetic and, for reference, the held-out rows.
The real rows are the held-out ones. Prints one line of JSON.
Usage: score.py --train T.csv --held H.csv --synth S.csv [--target COL] [--seed 0]"""
import argparse
import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # boosting's threads collapse on a busy machine; one is plenty

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

import common


def shape_scores(real, synth, kinds):
    out = {}
    for c, numeric in kinds.items():
        if numeric:
            a, b = real[c].dropna(), synth[c].dropna()
            out[c] = 1.0 if len(a) == 0 and len(b) == 0 else 0.0 if len(a) == 0 or len(b) == 0 else (
                1.0 - ks_2samp(a, b).statistic)
        else:
            pa = real[c].fillna("\x00").value_counts(normalize=True)
            pb = synth[c].fillna("\x00").value_counts(normalize=True)
            out[c] = 1.0 - 0.5 * pa.subtract(pb, fill_value=0).abs().sum()
    return out


def states(real_col, col, numeric, bins=10):
    """Discrete states of a column: category, decile bin of the real column, or missing."""
    if not numeric:
        return col.fillna("\x00").astype(str).to_numpy()
    present = np.sort(real_col.dropna().to_numpy(dtype=float))
    edges = np.unique(np.quantile(present, np.arange(1, bins) / bins)) if len(present) else np.array([])
    x = col.to_numpy(dtype=float)
    s = np.searchsorted(edges, x, side="right").astype(object)
    s[np.isnan(x)] = "missing"
    return s.astype(str)


def pearson(df, a, b):
    both = df[[a, b]].dropna()
    if len(both) < 2 or both[a].std() == 0 or both[b].std() == 0:
        return 0.0
    return float(np.corrcoef(both[a], both[b])[0, 1])


def trend_scores(real, synth, kinds):
    cols = list(kinds)
    out = {}
    for i, a in enumerate(cols):
        for b in cols[i + 1:]:
            if kinds[a] and kinds[b]:
                out[(a, b)] = 1.0 - abs(pearson(real, a, b) - pearson(synth, a, b)) / 2.0
            else:
                ja = pd.Series(list(zip(states(real[a], real[a], kinds[a]), states(real[b], real[b], kinds[b]))))
                jb = pd.Series(list(zip(states(real[a], synth[a], kinds[a]), states(real[b], synth[b], kinds[b]))))
                pa, pb = ja.value_counts(normalize=True), jb.value_counts(normalize=True)
                out[(a, b)] = 1.0 - 0.5 * pa.subtract(pb, fill_value=0).abs().sum()
    return out


def c2st(real, synth, kinds, reference, seed):
    xr, xs = common.one_hot([real, synth], kinds, reference)
    x = np.vstack([xr, xs])
    y = np.r_[np.zeros(len(xr)), np.ones(len(xs))]
    aucs = []
    for fit, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y):
        clf = HistGradientBoostingClassifier(min_samples_leaf=5, random_state=seed).fit(x[fit], y[fit])
        aucs.append(roc_auc_score(y[test], clf.predict_proba(x[test])[:, 1]))
    return float(np.mean(aucs))


def utility(train, held, synth, kinds, target, seed):
    feats = {c: k for c, k in kinds.items() if c != target}

    def rows(df):
        return df[df[target].notna()]

    tr, he, sy = rows(train), rows(held), rows(synth)
    x_tr, x_he, x_sy = common.one_hot([tr, he, sy], feats, tr)
    if kinds[target]:
        def score(x, y):
            return r2_score(he[target], HistGradientBoostingRegressor(min_samples_leaf=5, random_state=seed).fit(x, y).predict(x_he))
        metric = "r2"
    else:
        def score(x, y):
            if len(set(y)) < 2:
                return accuracy_score(he[target], np.full(len(he), y.iloc[0]))
            return accuracy_score(he[target], HistGradientBoostingClassifier(min_samples_leaf=5, random_state=seed).fit(x, y).predict(x_he))
        metric = "accuracy"
    return {"metric": metric, "synthetic": float(score(x_sy, sy[target])), "real": float(score(x_tr, tr[target]))}


def copies(rows, train, kinds):
    def keys(df):
        return set(tuple(None if (v is None or (isinstance(v, float) and np.isnan(v))) else
                         (float(v) if kinds[c] else v) for c, v in zip(df.columns, r))
                   for r in df.itertuples(index=False, name=None))
    seen = keys(train)
    return sum(k in seen for k in (tuple(None if (v is None or (isinstance(v, float) and np.isnan(v))) else
                                         (float(v) if kinds[c] else v) for c, v in zip(rows.columns, r))
                                   for r in rows.itertuples(index=False, name=None)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--train", required=True)
    p.add_argument("--held", required=True)
    p.add_argument("--synth", required=True)
    p.add_argument("--target", default="")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    train_text = common.read(a.train)
    kinds = common.types(train_text)
    train = common.parsed(train_text, kinds)
    held = common.parsed(common.read(a.held), kinds)
    synth = common.parsed(common.read(a.synth), kinds)
    shapes = shape_scores(held, synth, kinds)
    trends = trend_scores(held, synth, kinds)
    out = {
        "rows_train": len(train), "rows_held_out": len(held), "rows_synth": len(synth),
        "c2st_auc": c2st(held, synth, kinds, train, a.seed),
        "shape_error": 100 * (1 - float(np.mean(list(shapes.values())))),
        "trend_error": 100 * (1 - float(np.mean(list(trends.values())))) if trends else 0.0,
        "exact_copies": copies(synth, train, kinds), "held_out_copies": copies(held, train, kinds),
    }
    if a.target:
        out["utility"] = utility(train, held, synth, kinds, a.target, a.seed)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
