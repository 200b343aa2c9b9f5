"""Walks through a kNN graph: the four tour strategies as array-in / array-out functions.

Each strategy is a plain function over the graph's arrays and deterministic for a given seed:

* :func:`random_walk`: similarity-weighted steps to unvisited neighbours; restarts two hops away when every
  neighbour was visited, and teleports to a random unvisited patch when that fails too or after ``max_run``
  steps (so a disconnected graph is walked component by component);
* :func:`grand_tour`: one representative per class (or per cluster of the 2-D layout), ordered as a short
  path over the representatives (nearest neighbour + 2-opt), so consecutive stops stay close;
* :func:`boundary_tour`: walks along class borders: it prefers patches whose neighbours disagree with their
  labels (and, when suspicion scores are given, patches the noise detector suspects);
* :func:`class_tour`: stays within one class and shows its variety (farthest-point sampling over the
  class's core members, ordered as a short path).

Every function works in catalog-row space: ``ind`` (n, k) holds catalog rows of the neighbours, -1 where
unknown (a patch without an embedding has a row of -1). :mod:`mining.tours` builds these arrays from a
workspace and holds the estimator.

No strategy loops over all n patches in Python: each step touches O(k) or O(k²) entries, and the few
whole-array passes (farthest-point sampling, class purity) are vectorised.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import DataError, WorkspaceError

__all__ = ["Walk", "border_scores", "boundary_tour", "class_tour", "grand_tour", "graph_rows", "haversine_km",
           "random_walk", "short_path"]


#: teleport candidates drawn at random before falling back to a full scan of the unvisited patches
_TELEPORT_DRAWS = 64
#: patches examined when the boundary tour jumps to a new stretch of border
_BORDER_SAMPLE = 512
#: members sampled per class to pick its representative (the grand tour), and points (at least 20 per cluster)
#: k-means is fitted on for the grand tour by cluster
_REP_SAMPLE = 20_000
_CLUSTER_SAMPLE = 10_000


class Walk(NamedTuple):
    """A computed path.

    rows : ndarray of int64, shape (m,)
        Catalog rows of the stops, no repeats.
    jumps : ndarray of bool, shape (m,)
        True where a stop is not a kNN neighbour of the previous one (a teleport or restart); False at 0.
    """

    rows: np.ndarray
    jumps: np.ndarray


# ------------------------------------------------------------------------------------------------ strategies
def random_walk(ind: np.ndarray, dist: np.ndarray | None, start: int, steps: int, *, seed: int = 0,
                max_run: int = 25) -> Walk:
    """Similarity-weighted random walk without revisits.

    Parameters
    ----------
    ind : ndarray of int, shape (n, k)
        Neighbour rows, nearest first, -1 where unknown.
    dist : ndarray of float, shape (n, k) or None
        Distances of ``ind`` (None: uniform weights).
    start : int
        First stop.
    steps : int
        Number of stops (fewer when the graph has fewer reachable patches).
    seed : int
    max_run : int
        Teleport after this many consecutive graph steps (a tour that keeps moving through the dataset).

    Returns
    -------
    Walk
    """
    rng = np.random.default_rng(seed)
    pool = graph_rows(ind)
    visited = np.zeros(len(ind), bool)
    rows, jumps = [int(start)], [False]
    visited[start] = True
    run = 0
    for _ in range(steps - 1):
        cur = rows[-1]
        nxt, jump = -1, True
        if run < max_run:
            cand, w = _candidates(ind, dist, cur, visited)
            if len(cand):
                nxt, jump = int(cand[_draw(rng, w)]), False
            else:
                nxt = _two_hop(ind, cur, visited, rng)
        if nxt < 0:
            nxt = _teleport(pool, visited, rng)
        if nxt < 0:
            break  # every reachable patch was visited
        run = 0 if jump else run + 1
        rows.append(nxt)
        jumps.append(jump)
        visited[nxt] = True
    return Walk(np.asarray(rows, np.int64), np.asarray(jumps, bool))


def boundary_tour(ind: np.ndarray, dist: np.ndarray | None, Y: np.ndarray, steps: int, *, start: int | None = None,
                  seed: int = 0, suspicion: np.ndarray | None = None, max_run: int = 40, patience: int = 2,
                  sharpness: float = 15.0, border_quantile: float = 0.75) -> Walk:
    """Walk along the borders between classes, where label noise lives.

    Each step goes to an unvisited neighbour, drawn with weight ``similarity * exp(sharpness * border)``,
    where ``border`` is :func:`border_scores` (averaged with ``suspicion`` when given). After ``patience``
    consecutive steps into a class's interior (border below the ``border_quantile`` of a seeded sample), or when
    stuck, the walk jumps: first to the strongest border patch two hops away, else to the strongest of a
    random sample of unvisited patches.

    Parameters
    ----------
    ind, dist : see :func:`random_walk`
    Y : ndarray of bool, shape (n, n_classes)
        Labels (multi-hot).
    steps : int
    start : int or None
        First stop; None: the strongest border patch of a seeded random sample.
    seed : int
    suspicion : ndarray of float, shape (n,) or None
        Noise-detector suspicion in [0, 1] (``scores.parquet``), NaN where unknown.
    max_run, patience : int
    sharpness : float
        How strongly steps prefer border patches.
    border_quantile : float

    Returns
    -------
    Walk
    """
    rng = np.random.default_rng(seed)
    pool = graph_rows(ind)
    visited = np.zeros(len(ind), bool)

    def score(nodes):
        s = border_scores(ind, Y, nodes)
        if suspicion is not None:
            sus = suspicion[nodes]
            s = np.where(np.isfinite(sus), 0.5 * (s + np.nan_to_num(sus)), s)
        return s

    def jump_target(cur):
        hop2 = _two_hop_candidates(ind, cur, visited)
        if len(hop2):
            s = score(hop2)
            if s.max() > 0:
                return int(hop2[int(np.argmax(s))])
        sample = _sample_unvisited(pool, visited, rng, _BORDER_SAMPLE)
        if not len(sample):
            return -1
        return int(sample[int(np.argmax(score(sample)))])

    sample = _sample_unvisited(pool, visited, rng, _BORDER_SAMPLE)
    if not len(sample):
        raise DataError("boundary tour: no patch of this workspace is in the kNN graph")
    sample_scores = score(sample)
    interior_below = float(np.quantile(sample_scores, border_quantile))  # a step below: "inside a class"
    if start is None:
        start = int(sample[int(np.argmax(sample_scores))])
    rows, jumps = [int(start)], [False]
    visited[start] = True
    run = interior = 0
    for _ in range(steps - 1):
        cur = rows[-1]
        nxt = -1
        if run < max_run and interior < patience:
            cand, w = _candidates(ind, dist, cur, visited)
            if len(cand):
                s = score(cand)
                nxt = int(cand[_draw(rng, w * np.exp(sharpness * s))])
                interior = interior + 1 if s[cand == nxt][0] <= interior_below else 0
        jump = nxt < 0
        if jump:
            nxt = jump_target(cur)
            interior = 0
        if nxt < 0:
            break
        run = 0 if jump else run + 1
        rows.append(nxt)
        jumps.append(jump)
        visited[nxt] = True
    return Walk(np.asarray(rows, np.int64), np.asarray(jumps, bool))


def class_tour(ind: np.ndarray, Y: np.ndarray, xy: np.ndarray | None, label: int, steps: int, *,
               start: int | None = None, seed: int = 0, core: float = 0.5) -> Walk:
    """A tour within one class that shows its variety.

    Candidates are the class's *core* members (of a seeded sample of 20,000 when the class is larger): patches
    with the label whose kNN neighbours mostly share it (fraction >= ``core``; all members when fewer than
    ``steps`` qualify), so the tour shows the class rather than its mislabelled outliers. Stops are picked by farthest-point sampling in the 2-D layout (seeded
    start), then ordered as a short path (:func:`short_path`).

    Parameters
    ----------
    ind : ndarray of int, shape (n, k)
    Y : ndarray of bool, shape (n, n_classes)
    xy : ndarray of float, shape (n, 2) or None
        2-D layout (NaN where unknown); None: a seeded random sample of the core instead of farthest points.
    label : int
        Column of ``Y``.
    steps : int
    start : int or None
        First stop when it carries the label; else a seeded random core member.
    seed : int
    core : float

    Returns
    -------
    Walk
    """
    rng = np.random.default_rng(seed)
    col = np.ascontiguousarray(Y[:, label])
    members = np.flatnonzero(col & (ind[:, 0] >= 0))
    if not len(members):
        raise DataError(f"class tour: no patch in the kNN graph has label column {label}")
    if len(members) > _REP_SAMPLE:  # a big class: a seeded sample shows its variety as well, at bounded cost
        members = np.sort(rng.choice(members, _REP_SAMPLE, replace=False))
    nb = ind[members]
    purity = np.where(nb >= 0, col[np.maximum(nb, 0)], False).sum(1) / np.maximum((nb >= 0).sum(1), 1)
    cand = members[purity >= core]
    if len(cand) < steps:
        cand = members
    if start is not None and Y[start, label]:
        first = int(start)
        cand = np.union1d(cand, [first])
    else:
        first = int(cand[rng.integers(len(cand))])
    steps = min(steps, len(cand))
    if xy is not None:
        ok = np.isfinite(xy[cand]).all(1)
        cand = cand[ok | (cand == first)]
    if xy is None or not np.isfinite(xy[first]).all():
        others = rng.permutation(cand[cand != first])[: steps - 1]
        rows = np.r_[first, others].astype(np.int64)
        return Walk(rows, _jump_flags(ind, rows))
    P = xy[cand].astype(np.float64)
    chosen = [int(np.flatnonzero(cand == first)[0])]
    mind = np.hypot(*(P - P[chosen[0]]).T)
    for _ in range(steps - 1):
        j = int(np.argmax(mind))
        if mind[j] <= 0:
            break
        chosen.append(j)
        np.minimum(mind, np.hypot(*(P - P[j]).T), out=mind)
    order = short_path(P[chosen])
    rows = cand[np.asarray(chosen)[order]].astype(np.int64)
    return Walk(rows, _jump_flags(ind, rows))


def grand_tour(ind: np.ndarray, Y: np.ndarray, xy: np.ndarray | None, *, by: str = "class",
               n_clusters: int = 20, start: int | None = None, seed: int = 0) -> tuple[Walk, np.ndarray]:
    """Visit every class (or every cluster of the 2-D layout) once, through a representative patch.

    Class representative: among (a seeded sample of) the class's members, the one whose kNN neighbours share
    the class most, nearest to the members' median position in the layout on ties. Cluster representative:
    the sampled member nearest to its k-means centre (k-means on the 2-D layout, fitted on a seeded sample). The
    representatives are ordered as a short path over their positions (:func:`short_path`), starting with
    the one nearest to ``start``; ``start`` itself is the first stop when given.

    Parameters
    ----------
    ind : ndarray of int, shape (n, k)
    Y : ndarray of bool, shape (n, n_classes)
    xy : ndarray of float, shape (n, 2) or None
        2-D layout; required for ``by="cluster"``.
    by : {"class", "cluster"}
    n_clusters : int
    start : int or None
    seed : int

    Returns
    -------
    walk : Walk
    groups : ndarray of int64, shape (m,)
        The class column or cluster each stop represents (-1 for a ``start`` that represents none).
    """
    rng = np.random.default_rng(seed)
    graph = ind[:, 0] >= 0
    if by == "class":
        reps, groups = [], []
        YT = np.ascontiguousarray(Y.T)  # one contiguous column per class
        for c in range(Y.shape[1]):
            col = YT[c]
            members = np.flatnonzero(col & graph)
            if not len(members):
                continue
            if len(members) > _REP_SAMPLE:
                members = np.sort(rng.choice(members, _REP_SAMPLE, replace=False))
            nb = ind[members]
            purity = np.where(nb >= 0, col[np.maximum(nb, 0)], False).mean(1)
            near = np.zeros(len(members))
            if xy is not None:
                P = xy[members]
                centre = np.nanmedian(P, axis=0)
                near = np.nan_to_num(np.hypot(*(P - centre).T), nan=np.inf)
            ranked = members[np.lexsort((near, -purity))]
            # one distinct patch per class: a patch already standing for another class is skipped
            best = ranked[:64][~np.isin(ranked[:64], reps)][:1]
            if not len(best):
                best = ranked[~np.isin(ranked, reps)][:1]
            if not len(best):
                continue
            reps.append(int(best[0]))
            groups.append(c)
        reps, groups = np.asarray(reps, np.int64), np.asarray(groups, np.int64)
        if not len(reps):
            raise DataError("grand tour: no labelled patch is in the kNN graph")
    elif by == "cluster":
        reps, groups = _cluster_representatives(xy, graph, n_clusters, rng)
    else:
        raise DataError(f"grand tour: by must be 'class' or 'cluster', not {by!r}")
    if xy is not None and np.isfinite(xy[reps]).all():
        P = xy[reps].astype(np.float64)
        s0 = 0
        if start is not None and np.isfinite(xy[start]).all():
            s0 = int(np.argmin(np.hypot(*(P - xy[start]).T)))
        order = short_path(P, start=s0)
    else:
        order = np.argsort(groups, kind="stable")
    reps, groups = reps[order], groups[order]
    if start is not None:
        keep = reps != start
        first = groups[~keep][0] if (~keep).any() else -1  # the start may be a representative itself
        reps, groups = np.r_[int(start), reps[keep]], np.r_[first, groups[keep]]
    reps = reps.astype(np.int64)
    return Walk(reps, _jump_flags(ind, reps)), groups.astype(np.int64)


# ------------------------------------------------------------------------------------------------ helpers
def border_scores(ind: np.ndarray, Y: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """How much each node's neighbours disagree with its labels: 1 - mean Jaccard(labels, neighbour labels).

    Parameters
    ----------
    ind : ndarray of int, shape (n, k)
    Y : ndarray of bool, shape (n, n_classes)
    nodes : ndarray of int, shape (m,)

    Returns
    -------
    ndarray of float64, shape (m,)
        0: every neighbour has the same labels; 1: no neighbour shares any label.
    """
    nodes = np.asarray(nodes, np.int64)
    nb = ind[nodes]                                   # (m, k)
    ok = nb >= 0
    a = Y[nodes][:, None, :]                          # (m, 1, C)
    b = Y[np.maximum(nb, 0)]                          # (m, k, C)
    inter = (a & b).sum(-1)
    union = (a | b).sum(-1)
    jac = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    mean = np.where(ok, jac, 0).sum(1) / np.maximum(ok.sum(1), 1)
    return np.where(ok.any(1), 1.0 - mean, 0.0)


def short_path(P: np.ndarray, *, start: int = 0, max_iter: int = 1000) -> np.ndarray:
    """A short open path through points: nearest neighbour from ``start``, then 2-opt (vectorised).

    Parameters
    ----------
    P : ndarray of float, shape (m, d)
    start : int
        Index of the first point (kept first).

    Returns
    -------
    ndarray of int64, shape (m,)
        Visiting order (a permutation of ``range(m)``).
    """
    from scipy.spatial.distance import cdist

    m = len(P)
    if m <= 2:
        return np.r_[start, np.setdiff1d(np.arange(m), [start])].astype(np.int64)
    D = np.zeros((m + 1, m + 1))
    D[:m, :m] = cdist(P, P)  # row/column m: the "end" of the open path, free to reach
    left = np.ones(m, bool)
    order = [start]
    left[start] = False
    for _ in range(m - 1):
        d = np.where(left, D[order[-1], :m], np.inf)
        j = int(np.argmin(d))
        order.append(j)
        left[j] = False
    o = np.asarray(order + [m], np.int64)  # sentinel at the end
    iu = np.triu(np.ones((m - 1, m - 1), bool), 1)
    for _ in range(max_iter):
        # reverse o[i..j] (1 <= i < j <= m-1): edges (o[i-1], o[i]) + (o[j], o[j+1]) -> (o[i-1], o[j]) + (o[i], o[j+1])
        prev, cur, oj, nxt = o[:m - 1], o[1:m], o[1:m], o[2:m + 1]
        delta = (D[prev[:, None], oj[None, :]] + D[cur[:, None], nxt[None, :]]
                 - D[prev, cur][:, None] - D[oj, nxt][None, :])
        delta = np.where(iu, delta, 0.0)
        k = int(np.argmin(delta))
        if delta.flat[k] >= -1e-12:
            break
        i, j = divmod(k, m - 1)
        i, j = i + 1, j + 1
        o[i:j + 1] = o[i:j + 1][::-1].copy()
    return o[:m]


def graph_rows(ind: np.ndarray) -> np.ndarray:
    """Catalog rows that are in the graph (have neighbours), int64 array of shape (m,)."""
    return np.flatnonzero(ind[:, 0] >= 0)


def _similarity(d: np.ndarray, row_d: np.ndarray) -> np.ndarray:
    """Step weights exp(-(d - d_min) / s), s = half the spread of the row's k distances (any metric).

    Raw ``1 - cosine distance`` is nearly uniform over a kNN row (its distances differ by a few 0.01); scaling
    by the row's own spread makes the nearest neighbour about e² times likelier than the farthest.
    """
    ok = np.isfinite(row_d)
    if not ok.any() or not len(d):
        return np.ones(len(d))
    lo, hi = float(row_d[ok].min()), float(row_d[ok].max())
    scale = max((hi - lo) / 2.0, 1e-12)
    return np.exp(-(np.nan_to_num(d, nan=hi, posinf=hi) - lo) / scale)


def _candidates(ind, dist, cur, visited):
    nb = ind[cur]
    ok = nb >= 0
    ok[ok] = ~visited[nb[ok]]
    cand = nb[ok].astype(np.int64)
    if dist is None:
        return cand, np.ones(len(cand))
    row_d = np.asarray(dist[cur], np.float64)
    w = _similarity(row_d[ok], row_d)
    return cand, w


def _draw(rng, w) -> int:
    c = np.cumsum(w)
    return int(min(np.searchsorted(c, rng.random() * c[-1], side="right"), len(c) - 1))


def _two_hop_candidates(ind, cur, visited) -> np.ndarray:
    nb = ind[cur]
    nb = nb[nb >= 0]
    if not len(nb):
        return nb.astype(np.int64)
    hop = ind[nb].ravel()
    hop = np.unique(hop[hop >= 0])
    return hop[~visited[hop]].astype(np.int64)


def _two_hop(ind, cur, visited, rng) -> int:
    hop = _two_hop_candidates(ind, cur, visited)
    if not len(hop):
        return -1
    return int(hop[rng.integers(len(hop))])


def _sample_unvisited(pool, visited, rng, size) -> np.ndarray:
    if not len(pool):
        return pool
    s = pool[rng.integers(len(pool), size=min(size, len(pool)))]
    s = np.unique(s[~visited[s]])
    if not len(s):
        rest = pool[~visited[pool]]
        s = rest[rng.permutation(len(rest))[:size]] if len(rest) else rest
    return s


def _teleport(pool, visited, rng) -> int:
    if not len(pool):
        return -1
    for r in pool[rng.integers(len(pool), size=_TELEPORT_DRAWS)]:
        if not visited[r]:
            return int(r)
    rest = pool[~visited[pool]]  # nearly everything visited: one scan
    return int(rest[rng.integers(len(rest))]) if len(rest) else -1


def _jump_flags(ind: np.ndarray, rows: np.ndarray) -> np.ndarray:
    j = np.zeros(len(rows), bool)
    if len(rows) > 1:
        j[1:] = ~(ind[rows[:-1]] == rows[1:, None]).any(1)
    return j


def _cluster_representatives(xy, graph, n_clusters, rng):
    if xy is None:
        raise WorkspaceError("the grand tour by cluster needs the 2-D layout: run `eomine project WS`")
    pts = np.flatnonzero(graph & np.isfinite(xy).all(1))
    if len(pts) < n_clusters:
        raise DataError(f"grand tour: {n_clusters} clusters asked for, only {len(pts)} patches in the layout")
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    sample = np.sort(rng.choice(pts, min(len(pts), max(_CLUSTER_SAMPLE, 20 * n_clusters)), replace=False))
    X = xy[sample].astype(np.float64)
    # one thread: on a small 2-D problem OpenMP start-up and oversubscription cost more than they save
    with threadpool_limits(1):
        km = KMeans(n_clusters=n_clusters, n_init=1, random_state=int(rng.integers(2**31 - 1))).fit(X)
    lab = km.labels_
    d = np.hypot(*(X - km.cluster_centers_[lab]).T)
    order = np.lexsort((d, lab))
    first = order[np.r_[True, lab[order][1:] != lab[order][:-1]]]
    return sample[first].astype(np.int64), lab[first].astype(np.int64)


def haversine_km(lon0, lat0, lon1, lat1) -> np.ndarray:
    """Great-circle distances in km between (lon0, lat0) and (lon1, lat1), degrees, arrays of one shape."""
    lon0, lat0, lon1, lat1 = (np.radians(np.asarray(v, np.float64)) for v in (lon0, lat0, lon1, lat1))
    a = np.sin((lat1 - lat0) / 2) ** 2 + np.cos(lat0) * np.cos(lat1) * np.sin((lon1 - lon0) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
