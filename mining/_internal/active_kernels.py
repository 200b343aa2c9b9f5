"""Array kernels of active learning: the classifier, label spreading over the kNN graph, uncertainty, and the
batch selection helpers (cluster medoids, greedy picks under a minimum ground distance and class quotas).

Everything here is arrays in, arrays out; :mod:`mining.active` holds the estimator and the strategies.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["fit_classifier", "propagation_matrix", "NeighbourVote", "SPREAD_LIMIT", "spread", "uncertainty", "class_uncertainty", "kmeans",
           "medoids", "greedy_pick", "predicted_labels"]


def fit_classifier(X: np.ndarray, Y: np.ndarray, train: np.ndarray, *, single: bool, C: float,
                   seed: int) -> np.ndarray:
    """Probabilities of a logistic regression fitted on the rows ``train``, for every row.

    Parameters
    ----------
    X : ndarray of float32, shape (n, d)
    Y : ndarray of bool, shape (n, n_classes)
        Labels; only the rows in ``train`` are read.
    train : ndarray of int, shape (m,)
    single : bool
        One label per patch (multinomial softmax) or several (one binary model per class).
    C : float
        Inverse L2 regularisation.
    seed : int

    Returns
    -------
    ndarray of float32, shape (n, n_classes)
        Single-label rows sum to 1. Classes the training rows never (or always) carry get the smoothed
        training frequency; with no training row at all, the uniform prior (single) or 0.5 (multi).
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    n, n_cls = Y.shape
    m = len(train)
    if m == 0:
        return np.full((n, n_cls), 1.0 / n_cls if single else 0.5, np.float32)
    Xt = X[train]
    mu = Xt.mean(0)
    sd = Xt.std(0) + 1e-6 if m > 1 else np.ones(X.shape[1], np.float32)
    Zt = ((Xt - mu) / sd).astype(np.float32)
    coef = np.zeros((X.shape[1], n_cls), np.float32)   # on standardised inputs
    bias = np.zeros(n_cls, np.float32)
    # small fits on one thread: OpenMP / BLAS threads cost more than they give on a (shared) small machine
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # lbfgs convergence chatter on tiny training sets
        if single:
            y = Y[train].argmax(1)
            present = np.unique(y)
            if len(present) == 1:
                freq = np.full(n_cls, 0.5 / max(n_cls - 1, 1), np.float32)
                freq[present[0]] = 0.5
                return np.broadcast_to(freq, (n, n_cls)).copy()
            model = LogisticRegression(C=C, max_iter=500, random_state=seed).fit(Zt, y)
            cw, cb = model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
            if len(present) == 2:  # sklearn's binary case: one row of coefficients for the second class
                cw, cb = np.r_[-cw / 2, cw / 2], np.r_[-cb / 2, cb / 2]
            bias[:] = -1e4  # classes nobody labelled yet: never predicted
            coef[:, model.classes_], bias[model.classes_] = cw.T, cb
        else:
            fixed = np.full(n_cls, np.nan, np.float32)
            for c in range(n_cls):
                yc = Y[train, c]
                pos = int(yc.sum())
                if pos == 0 or pos == m:
                    fixed[c] = (pos + 0.5) / (m + 1.0)
                    continue
                model = LogisticRegression(C=C, solver="newton-cholesky", max_iter=100).fit(Zt, yc)
                coef[:, c], bias[c] = model.coef_[0], model.intercept_[0]
    # logits of every row in one product, without materialising the standardised (n, d) copy
    A = (coef / sd[:, None]).astype(np.float32)
    logits = X @ A
    logits += (bias - (mu / sd) @ coef).astype(np.float32)
    if single:
        logits -= logits.max(1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(1, keepdims=True)
        return logits
    np.clip(logits, -30, 30, out=logits)
    np.negative(logits, out=logits)
    np.exp(logits, out=logits)
    logits += 1
    np.reciprocal(logits, out=logits)
    known = np.isfinite(fixed)
    logits[:, known] = fixed[known]
    return logits


#: above this many patches label spreading is replaced by a one-hop neighbour vote (:class:`NeighbourVote`):
#: ten spreading iterations over reBEN's 549,488 x 30 graph (33 M edges once symmetrised) take ~16 s on two
#: cores, the vote ~0.3 s
SPREAD_LIMIT = 200_000


class NeighbourVote:
    """The graph of a large workspace, for a one-hop vote instead of iterative spreading.

    Every patch hears the labelled patches among its stored neighbours and the labelled patches that list it as
    a neighbour (the symmetrised graph's first hop), weighted as in :func:`propagation_matrix`.

    Parameters
    ----------
    indices : ndarray of int, shape (n, k)
    weights : ndarray of float32, shape (n, k)
    """

    def __init__(self, indices: np.ndarray, weights: np.ndarray):
        self.indices = indices
        self.weights = weights
        self.shape = (len(indices), len(indices))


def propagation_matrix(indices: np.ndarray, distances: np.ndarray):
    """What label spreading walks on: the row-normalised kNN affinity ``W`` (scipy CSR, float32, shape (n, n)),
    or above :data:`SPREAD_LIMIT` patches a :class:`NeighbourVote`.

    Weights are the scale-free neighbour weights of the noise scorer
    (:func:`mining.noise.neighbour_weights`), made symmetric (``W + W.T``: a patch also hears the patches
    that list it as a neighbour) and normalised per row.
    """
    from scipy import sparse

    from ..noise import neighbour_weights

    n, k = indices.shape
    w = neighbour_weights(distances, indices)
    if n > SPREAD_LIMIT:
        return NeighbourVote(np.asarray(indices), np.where(indices >= 0, w, 0).astype(np.float32))
    ok = (indices >= 0) & (w > 0)
    rows = np.repeat(np.arange(n, dtype=np.int32), k)[ok.ravel()]
    cols = indices.ravel()[ok.ravel()].astype(np.int32)
    vals = w.ravel()[ok.ravel()].astype(np.float32)
    W = sparse.csr_matrix((vals, (rows, cols)), shape=(n, n), dtype=np.float32)
    W = (W + W.T).tocsr()
    deg = np.asarray(W.sum(1)).ravel()
    deg[deg == 0] = 1.0
    W = sparse.diags((1.0 / deg).astype(np.float32)) @ W
    return W.tocsr().astype(np.float32)


def spread(W, Y0: np.ndarray, seeds: np.ndarray, *, alpha: float, n_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Label spreading (Zhou et al. 2004, random-walk form): ``F <- alpha W F + (1 - alpha) Y0``.

    Parameters
    ----------
    W : scipy sparse, shape (n, n)
        Row-normalised affinity (:func:`propagation_matrix`).
    Y0 : ndarray of bool, shape (n, n_classes)
        Labels of the seed rows (other rows are ignored).
    seeds : ndarray of int, shape (m,)
        The labelled rows the labels spread from.
    alpha : float in [0, 1)
        How far labels travel (0: not at all).
    n_iter : int

    Returns
    -------
    P : ndarray of float32, shape (n, n_classes)
        Share of the label mass reaching each row that carries each class (0.5 where none reaches).
    mass : ndarray of float32, shape (n,)
        The labelled mass reaching each row, in [0, 1]: how much the row's estimate rests on labels nearby.
    """
    n, n_cls = Y0.shape
    if isinstance(W, NeighbourVote):
        return _vote(W, Y0, seeds)
    B = np.zeros((n, n_cls + 1), np.float32)
    B[seeds, :n_cls] = Y0[seeds]
    B[seeds, n_cls] = 1.0
    B *= np.float32(1.0 - alpha)
    F = B.copy()
    a = np.float32(alpha)
    for _ in range(n_iter):
        F = W @ F
        F *= a
        F += B
    mass = F[:, n_cls]
    with np.errstate(invalid="ignore", divide="ignore"):
        P = np.where(mass[:, None] > 1e-12, F[:, :n_cls] / mass[:, None], 0.5).astype(np.float32)
    return np.clip(P, 0, 1), np.clip(mass, 0, 1).astype(np.float32)


def _vote(G: NeighbourVote, Y0: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One hop of the symmetrised graph from the seeds: (P, mass) as :func:`spread` returns them."""
    from scipy import sparse

    n, n_cls = Y0.shape
    k = G.indices.shape[1]
    seeds = np.asarray(seeds, np.int64)
    col = np.full(n, -1, np.int64)
    col[seeds] = np.arange(len(seeds))
    # forward: the labelled patches among each row's neighbours
    hit = col[G.indices] >= 0
    hit &= G.indices >= 0
    r_f, c_f = np.nonzero(hit)
    s_f = col[G.indices[r_f, c_f]]
    w_f = G.weights[r_f, c_f]
    # reverse: each seed's neighbours hear the seed
    r_r = G.indices[seeds].ravel()
    s_r = np.repeat(np.arange(len(seeds)), k)
    w_r = G.weights[seeds].ravel()
    ok = r_r >= 0
    M = sparse.csr_matrix((np.r_[w_f, w_r[ok]].astype(np.float32), (np.r_[r_f, r_r[ok]], np.r_[s_f, s_r[ok]])),
                          shape=(n, len(seeds)))
    S = np.c_[Y0[seeds].astype(np.float32), np.ones(len(seeds), np.float32)]
    F = np.asarray(M @ S)
    mass = F[:, n_cls]
    with np.errstate(invalid="ignore", divide="ignore"):
        P = np.where(mass[:, None] > 1e-12, F[:, :n_cls] / mass[:, None], 0.5).astype(np.float32)
    return np.clip(P, 0, 1), np.clip(mass / (2 * k), 0, 1).astype(np.float32)


def class_uncertainty(P: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Per-class uncertainty of multi-label probabilities: 1 at the decision threshold, 0 at 0 or 1.

    Returns
    -------
    ndarray of float32, shape (n, n_classes)
    """
    t = np.float32(threshold)
    return np.where(P >= t, (1 - P) / (1 - t), P / t).astype(np.float32)


def uncertainty(P: np.ndarray, *, single: bool, kind: str) -> np.ndarray:
    """How unsure the model is of each row, in [0, 1].

    Parameters
    ----------
    P : ndarray, shape (n, n_classes)
    single : bool
        Rows of P are a distribution over classes (single-label) or independent class probabilities.
    kind : {"entropy", "margin"}
        single-label: normalised entropy, or 1 - (p1 - p2); multi-label: mean binary entropy over the classes,
        or the largest per-class uncertainty (:func:`class_uncertainty`: the class nearest its threshold).

    Returns
    -------
    ndarray of float32, shape (n,)
    """
    n_cls = P.shape[1]
    Q = np.clip(P.astype(np.float32), 1e-7, 1 - 1e-7)
    if single:
        if kind == "entropy":
            return (-(Q * np.log(Q)).sum(1) / np.log(n_cls)).astype(np.float32)
        top2 = -np.partition(-P, 1, axis=1)[:, :2]
        return (1 - (top2[:, 0] - top2[:, 1])).astype(np.float32)
    if kind == "entropy":
        h = -(Q * np.log2(Q) + (1 - Q) * np.log2(1 - Q))
        return h.mean(1).astype(np.float32)
    return class_uncertainty(P).max(1)


def predicted_labels(P: np.ndarray, *, single: bool, threshold: float = 0.5) -> np.ndarray:
    """Predicted label sets, multi-hot, shape (n, n_classes): the top class (single-label), or every class at or
    above ``threshold`` and at least the top one (multi-label)."""
    Y = np.zeros(P.shape, bool)
    if len(P):
        Y[np.arange(len(P)), P.argmax(1)] = True
    if not single:
        Y |= P >= threshold
    return Y


def kmeans(X: np.ndarray, k: int, *, seed: int, weights: np.ndarray | None = None,
           max_fit: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    """k-means clusters of the rows of X (scikit-learn, one thread; MiniBatchKMeans on a sample of ``max_fit``
    rows above that, every row then assigned to its nearest centre).

    Returns
    -------
    labels : ndarray of int, shape (n,)
        Cluster of each row.
    centres : ndarray of float32, shape (k, d)
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from threadpoolctl import threadpool_limits

    n = len(X)
    k = max(1, min(k, n))
    # one thread: several times faster than OpenMP threads on a small, shared machine (as the tours found)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        if n <= max_fit:
            km = KMeans(k, n_init=1, random_state=seed, max_iter=100).fit(X, sample_weight=weights)
            return km.labels_, km.cluster_centers_.astype(np.float32)
        rng = np.random.default_rng(seed)
        fit = rng.choice(n, max_fit, replace=False)
        km = MiniBatchKMeans(k, n_init=1, random_state=seed, batch_size=4096).fit(
            X[fit], sample_weight=None if weights is None else weights[fit])
        return km.predict(X), km.cluster_centers_.astype(np.float32)


def medoids(X: np.ndarray, labels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The row nearest its cluster's centre, for every non-empty cluster, shape (n_clusters,); -1 for an empty
    cluster."""
    d = ((X - centres[labels]) ** 2).sum(1)
    order = np.lexsort((d, labels))
    first = np.r_[True, labels[order][1:] != labels[order][:-1]]
    out = np.full(len(centres), -1, np.int64)
    out[labels[order][first]] = order[first]
    return out


def greedy_pick(order: np.ndarray, n: int, *, coords: np.ndarray | None = None, min_km: float = 0.0,
                avoid: np.ndarray | None = None, groups: np.ndarray | None = None,
                quota: np.ndarray | None = None) -> np.ndarray:
    """The first ``n`` rows of ``order`` that keep every constraint.

    Parameters
    ----------
    order : ndarray of int, shape (m,)
        Candidate rows, best first (no repeats).
    n : int
    coords : ndarray of float, shape (N, 2), optional
        lon, lat of every row (NaN: unknown, never too close).
    min_km : float
        Two picked rows are at least this far apart on the ground.
    avoid : ndarray of int, optional
        Rows (e.g. patches labelled already) a pick must also keep ``min_km`` from.
    groups, quota : ndarray of int, optional
        The group (predicted class) of every row, and how many picks each group may take at most.

    Returns
    -------
    ndarray of int, shape (<= n,)
    """
    use_dist = coords is not None and min_km > 0
    if not use_dist and groups is None:
        return np.asarray(order[:n], np.int64)
    from ..walks import haversine_km

    picked: list[int] = []
    taken = np.zeros(len(quota), np.int64) if quota is not None else None
    near = np.empty((0, 2))
    if use_dist and avoid is not None and len(avoid):
        near = coords[avoid]
        near = near[np.isfinite(near).all(1)]
    for r in order:
        if len(picked) >= n:
            break
        if taken is not None and taken[groups[r]] >= quota[groups[r]]:
            continue
        if use_dist:
            lon, lat = coords[r]
            if np.isfinite(lon) and np.isfinite(lat) and len(near):
                if haversine_km(lon, lat, near[:, 0], near[:, 1]).min() < min_km:
                    continue
            if np.isfinite(lon) and np.isfinite(lat):
                near = np.vstack([near, coords[r]])
        picked.append(int(r))
        if taken is not None:
            taken[groups[r]] += 1
    if quota is not None and len(picked) < n:  # the quotas left the batch short: fill it from the ranking
        rest = np.setdiff1d(order, picked, assume_unique=True)
        rest = rest[np.argsort(_positions(order, rest))]
        more = greedy_pick(rest, n - len(picked), coords=coords, min_km=min_km,
                           avoid=np.r_[avoid if avoid is not None else np.empty(0, np.int64), picked].astype(np.int64))
        picked.extend(more.tolist())
    return np.asarray(picked, np.int64)


def _positions(order: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Position of each of ``rows`` in ``order``."""
    pos = np.empty(int(order.max()) + 1 if len(order) else 0, np.int64)
    pos[order] = np.arange(len(order))
    return pos[rows]
