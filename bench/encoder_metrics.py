"""Measures of bench/encoders.py's quality report: kNN label agreement, linear probes, 2-D trustworthiness, and a
subprocess runner that records the child's own peak RSS.

All functions take embeddings ``X`` (n, d) in the order of the label arrays they are given.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time

import numpy as np

__all__ = ["run_measured", "labels_for", "knn_graph", "agreement", "probe_per_class", "probe_all",
           "trustworthiness_2d"]


def run_measured(cmd: list[str], *, cwd, env) -> tuple[int, str, str, float, float]:
    """Run ``cmd``; return (exit status, stdout, stderr, wall seconds, the child's peak RSS in MiB).

    The peak RSS is ``ru_maxrss`` of ``os.wait4`` on that child alone (``RUSAGE_CHILDREN`` would be the maximum
    over every child this process has waited for).
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        secs = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read(), secs, usage.ru_maxrss / 1024  # Linux: KiB


def labels_for(ws, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Multi-hot labels (bool, (n, c), the nomenclature's classes) and each patch's FIRST listed label (str), in
    the order of ``ids``."""
    import pandas as pd

    cat = ws.catalog.set_index("patch_id").loc[list(ids)]
    classes = list(ws.nomenclature.classes)
    pos = {c: i for i, c in enumerate(classes)}
    Y = np.zeros((len(cat), len(classes)), bool)
    first = []
    for r, labs in enumerate(cat["labels"].to_numpy()):
        labs = list(labs)
        Y[r, [pos[c] for c in labs]] = True
        first.append(labs[0])
    return Y, pd.Series(first).to_numpy(dtype=object).astype(str)


def knn_graph(X: np.ndarray, k: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine kNN graph (self excluded), as ``eomine knn --metric cosine`` stores it."""
    from mining.knn import exact_knn

    return exact_knn(X, k, metric="cosine")


def agreement(Y: np.ndarray, ind: np.ndarray, k: int = 10) -> float:
    """``eomine report``'s kNN label agreement: mean Jaccard of each patch's label set with its first ``k``
    neighbours' (for single-label data: the fraction of neighbours with the same label)."""
    from mining.quality import knn_label_agreement

    return knn_label_agreement(Y, ind, k)


def _fit_predict(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    import warnings

    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(X[train])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings on the tiny sets
        clf = LogisticRegression(max_iter=2000, C=1.0).fit(sc.transform(X[train]), y[train])
    return float((clf.predict(sc.transform(X[test])) == y[test]).mean())


def probe_per_class(X: np.ndarray, y: np.ndarray, per_class: int, draws: int = 5) -> tuple[float, float, str] | str:
    """Linear probe trained on ``per_class`` labelled patches per class, tested on all the other patches of those
    classes; mean and sd over ``draws`` seeded draws, and a note naming the classes used when a class has no
    more than ``per_class`` patches (it is left out). A string (the reason) when fewer than 2 classes qualify."""
    classes, counts = np.unique(y, return_counts=True)
    ok = classes[counts > per_class]
    if len(ok) < 2:
        return f"n/a (largest class {counts.max()} patches)"
    note = "" if len(ok) == len(classes) else f"{len(ok)} of {len(classes)} classes"
    keep = np.flatnonzero(np.isin(y, ok))
    accs = []
    for seed in range(draws):
        rng = np.random.default_rng(seed)
        train = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in ok])
        accs.append(_fit_predict(X, y, train, np.setdiff1d(keep, train)))
    return float(np.mean(accs)), float(np.std(accs)), note


def probe_all(X: np.ndarray, y: np.ndarray, folds: int = 5) -> tuple[float, float, str]:
    """Linear probe with every label: ``folds``-fold cross-validation (stratified when every class has at least
    ``folds`` patches, else plain shuffled folds); mean and sd of the fold accuracies, and the split used."""
    from sklearn.model_selection import KFold, StratifiedKFold

    _, counts = np.unique(y, return_counts=True)
    if counts.min() >= folds:
        split, how = StratifiedKFold(folds, shuffle=True, random_state=0).split(X, y), "stratified"
    else:
        split, how = KFold(folds, shuffle=True, random_state=0).split(X), "plain (a class has < 5 patches)"
    accs = [_fit_predict(X, y, tr, te) for tr, te in split]
    return float(np.mean(accs)), float(np.std(accs)), how


def trustworthiness_2d(X: np.ndarray, ind: np.ndarray, dist: np.ndarray, *, sample: int = 5000,
                       k: int = 10, seed: int = 0) -> tuple[float, int, float]:
    """Trustworthiness (k neighbours, euclidean, as ``eomine report``) of eomine's UMAP layout (``Projection``
    fed the kNN graph) against the embeddings, on at most ``sample`` random patches (sklearn's measure builds
    an n x n distance matrix). Returns (trustworthiness, patches used, UMAP seconds)."""
    from sklearn.manifold import trustworthiness

    from mining.projection import Projection

    proj = Projection("umap", seed=seed).fit(X, (ind, dist))
    rng = np.random.default_rng(seed)
    s = np.sort(rng.choice(len(X), size=min(sample, len(X)), replace=False))
    kk = min(k, len(s) // 2 - 1)
    return float(trustworthiness(X[s], proj.embedding_[s], n_neighbors=kk)), len(s), proj.seconds_
