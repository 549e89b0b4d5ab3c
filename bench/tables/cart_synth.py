"""Sequential CART synthesiser, as the R package synthpop does it by default (Nowok, Raab &
Dibben 2016, "synthpop: Bespoke Creation of Synthetic Data in R", J. Stat. Softw. 74(11)):
columns in file order; the first drawn from its marginal (a bootstrap of the training values);
each next column from a decision tree fitted on the training rows with the previous columns as
predictors (min 5 rows per leaf, no pruning: synthpop's cart.minbucket = 5, cp = 1e-8). A
synthetic row goes down the tree on its already synthesised cells and takes the value of a
training row drawn at random from the same leaf. Missing cells: a categorical column has
missing as one more category; a numeric column with missing cells is done in two steps, as
synthpop does for such columns: first whether the cell is missing (a classification tree), then
the value among the rows where it is present. Predictors are one-hot / standardised with missing
indicators (common.one_hot); values are copied as the training file wrote them.
Usage: cart_synth.py TRAIN.csv N OUT.csv [--seed 0]"""
import argparse

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import common


def leaf_draw(tree, x_fit, y_fit, x_new, rng):
    """For each new row: the value of a random fitted row in its leaf."""
    leaves_fit = tree.apply(x_fit)
    leaves_new = tree.apply(x_new)
    order = np.argsort(leaves_fit, kind="stable")
    sorted_leaves = leaves_fit[order]
    first = np.searchsorted(sorted_leaves, leaves_new, side="left")
    last = np.searchsorted(sorted_leaves, leaves_new, side="right")
    pick = first + (rng.random(len(leaves_new)) * (last - first)).astype(int)
    return y_fit[order[pick]]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("train")
    p.add_argument("n", type=int)
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-leaf", type=int, default=5)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    text = common.read(a.train)
    kinds = common.types(text)
    values = common.parsed(text, kinds)
    cols = list(text.columns)
    n = a.n
    synth_text = pd.DataFrame(index=range(n), columns=cols, dtype=object)
    synth_values = pd.DataFrame(index=range(n), columns=cols)

    def put(c, picks_idx, where):
        """Copy training cells (text and value) of rows picks_idx into the synthetic rows `where`."""
        synth_text.loc[where, c] = text[c].to_numpy(dtype=object)[picks_idx]
        synth_values.loc[where, c] = values[c].to_numpy(dtype=object)[picks_idx]

    first = cols[0]
    pick = rng.integers(0, len(text), n)
    put(first, pick, np.arange(n))
    for j, c in enumerate(cols[1:], start=1):
        prev = cols[:j]
        sv = synth_values[prev].copy()
        for q in prev:
            if kinds[q]:
                sv[q] = sv[q].astype(float)
        x_fit, x_new = common.one_hot([values[prev], sv], {q: kinds[q] for q in prev}, values[prev])
        all_rows = np.arange(len(text))
        if not kinds[c] or not values[c].isna().any():
            y = values[c].fillna("\x00missing").to_numpy(dtype=object) if not kinds[c] else values[c].to_numpy()
            tree = (DecisionTreeClassifier if not kinds[c] else DecisionTreeRegressor)(
                min_samples_leaf=a.min_leaf, random_state=a.seed
            )
            tree.fit(x_fit, y.astype(str) if not kinds[c] else y)
            put(c, leaf_draw(tree, x_fit, all_rows, x_new, rng), np.arange(n))
            continue
        # A numeric column with missing cells: missing or not, then the value.
        missing = values[c].isna().to_numpy()
        tree = DecisionTreeClassifier(min_samples_leaf=a.min_leaf, random_state=a.seed).fit(x_fit, missing)
        drawn = leaf_draw(tree, x_fit, all_rows, x_new, rng)
        put(c, drawn, np.arange(n))  # missing rows get a missing cell here
        present_new = np.flatnonzero(~missing[drawn])
        present_fit = np.flatnonzero(~missing)
        if len(present_new) and len(present_fit):
            tree = DecisionTreeRegressor(min_samples_leaf=a.min_leaf, random_state=a.seed)
            tree.fit(x_fit[present_fit], values[c].to_numpy()[present_fit])
            picks = leaf_draw(tree, x_fit[present_fit], present_fit, x_new[present_new], rng)
            put(c, picks, present_new)
    synth_text.fillna("NA").to_csv(a.out, index=False)


if __name__ == "__main__":
    main()
