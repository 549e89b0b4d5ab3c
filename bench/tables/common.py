"""Shared by cart_synth.py and score.py: reading a CSV as ldm does (missing cells: empty, NA,
N/A, NaN, null, any case; a column is numeric when every present cell is a number, else
categorical) and one-hot features for the classifiers."""
import numpy as np
import pandas as pd

NA_TEXTS = {"", "na", "n/a", "nan", "null"}


def read(path):
    """The file as text cells (missing as None)."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    return raw.apply(lambda col: col.map(lambda s: None if s.strip().lower() in NA_TEXTS else s))


def is_numeric(col):
    present = col.dropna()
    return len(present) > 0 and pd.to_numeric(present, errors="coerce").notna().all()


def types(train):
    """Per column True for numeric, False for categorical, from the training rows."""
    return {c: is_numeric(train[c]) for c in train.columns}


def parsed(df, kinds):
    """Numeric columns as float (missing NaN), categorical as text (missing None)."""
    out = df.copy()
    for c, numeric in kinds.items():
        if numeric:
            out[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return out


def one_hot(frames, kinds, reference, exclude=()):
    """Features for every frame: numeric columns standardised with the reference's present values,
    a missing cell 0 plus an indicator; categorical columns one-hot, missing one more category."""
    blocks = [[] for _ in frames]
    for c, numeric in kinds.items():
        if c in exclude:
            continue
        has_missing = any(f[c].isna().any() for f in frames + [reference])
        if numeric:
            v = reference[c].dropna()
            mean = v.mean() if len(v) else 0.0
            sd = v.std(ddof=0) if len(v) > 1 else 1.0
            sd = sd if sd > 0 else 1.0
            for b, f in zip(blocks, frames):
                x = f[c].to_numpy(dtype=float)
                b.append(np.nan_to_num((x - mean) / sd, nan=0.0)[:, None])
                if has_missing:
                    b.append(np.isnan(x).astype(float)[:, None])
        else:
            cats = sorted(set().union(*[set(f[c].dropna()) for f in frames + [reference]]))
            for b, f in zip(blocks, frames):
                col = f[c]
                b.append(np.stack([(col == k).to_numpy(dtype=float) for k in cats], axis=1))
                if has_missing:
                    b.append(col.isna().to_numpy(dtype=float)[:, None])
    return [np.hstack(b) for b in blocks]
