"""Out-of-fold class probabilities of a linear classifier on the embeddings (the scorer's model evidence)."""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["oof_probabilities", "oof_folds", "fit_fold"]


def oof_probabilities(X: np.ndarray, Y: np.ndarray, *, n_folds: int = 5, C: float = 1.0,
                      max_train: int | None = 10000, seed: int = 0) -> np.ndarray:
    """k-fold out-of-fold probabilities of scikit-learn logistic regression on standardised embeddings.

    Every row's probabilities come from a model that never saw that row. Single-label data (every row has
    exactly one label) gets one multinomial model per fold; multi-label data one binary model per class and
    fold (one-vs-rest, Newton-Cholesky solver). Each fold trains on at most ``max_train`` rows drawn at random from its training part
    (keeps 549,488 patches fast; a linear model on 64-d embeddings does not need more).

    Parameters
    ----------
    X : ndarray, shape (n, d)
    Y : ndarray of bool, shape (n, n_classes)
    n_folds : int
    C : float
        Inverse L2 regularisation strength.
    max_train : int or None
    seed : int
        Seeds the folds and the training subsamples.

    Returns
    -------
    ndarray of float32, shape (n, n_classes)
        ``P[i, c]``: probability that row i carries class c. Classes that a fold's training rows never (or
        always) carry get their training frequency.
    """
    n, n_cls = Y.shape
    P = np.empty((n, n_cls), dtype=np.float32)
    for tr, te in oof_folds(n, n_folds=n_folds, max_train=max_train, seed=seed):
        P[te] = fit_fold(X, Y, tr, te, C=C)
    return P


def oof_folds(n: int, *, n_folds: int = 5, max_train: int | None = 10000,
              seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds of :func:`oof_probabilities`: (training rows, held-out rows) per fold, the training rows
    subsampled to ``max_train`` with one seeded generator drawn in fold order (so a fold fitted elsewhere, as a
    Ray task, trains on the same rows)."""
    from sklearn.model_selection import KFold

    rng = np.random.default_rng(seed)
    folds = KFold(n_splits=min(n_folds, n), shuffle=True, random_state=seed)
    out = []
    for tr, te in folds.split(np.empty((n, 1))):
        if max_train is not None and len(tr) > max_train:
            tr = np.sort(rng.choice(tr, size=max_train, replace=False))
        out.append((tr, te))
    return out


def fit_fold(X: np.ndarray, Y: np.ndarray, tr: np.ndarray, te: np.ndarray, *, C: float = 1.0) -> np.ndarray:
    """One fold of :func:`oof_probabilities`: standardise on ``X[tr]``, fit, predict ``X[te]``.

    Returns
    -------
    ndarray of float32, shape (len(te), n_classes)
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    n_cls = Y.shape[1]
    single = bool((Y.sum(1) == 1).all())
    P = np.zeros((len(te), n_cls), dtype=np.float32)
    scaler = StandardScaler().fit(X[tr])
    Xtr, Xte = scaler.transform(X[tr]), scaler.transform(X[te])
    freq = Y[tr].mean(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence chatter on easy folds
        if single:
            y = Y[tr].argmax(1)
            present = np.unique(y)
            if len(present) == 1:
                P[:, present[0]] = 1.0
                return P
            model = LogisticRegression(C=C, max_iter=300).fit(Xtr, y)
            P[:, model.classes_] = model.predict_proba(Xte)
        else:
            for c in range(n_cls):
                yc = Y[tr, c]
                if freq[c] == 0.0 or freq[c] == 1.0:
                    P[:, c] = freq[c]
                    continue
                # Newton-Cholesky: a few exact steps on (rows, 64) embeddings; 3-4x faster than lbfgs here
                model = LogisticRegression(C=C, solver="newton-cholesky", max_iter=100).fit(Xtr, yc)
                P[:, c] = model.predict_proba(Xte)[:, 1]
    return P
