"""One k-nearest-neighbour graph per workspace, computed once and reused by every later stage.

Exact search in torch (chunked matmul + topk; on the GPU when there is one) or approximate search with
pynndescent on the CPU. Stored as ``knn/indices.npy`` (n, k) int32 and ``knn/distances.npy`` (n, k)
float32, row i = row i of ``embeddings.parquet``, self excluded, nearest first; ``knn/knn.json`` holds the
parameters, timings and the hash of the embeddings it was built from.
"""

from __future__ import annotations

import time

import numpy as np

from ._internal.artifacts import load_card, params_hash, write_card
from ._internal.validation import SEED, Interval, Options, validate_params
from .errors import DataError, ParameterError, WorkspaceError
from .workspace import Workspace, save_npy

__all__ = ["KNNGraph", "exact_knn", "exact_knn_rows", "faiss_index", "faiss_search", "knn_recall", "load_knn", "load_knn_catalog", "load_knn_card", "has_knn", "save_knn",
           "KNN_FORMAT_VERSION"]

KNN_FORMAT_VERSION = 1
METRICS = ("cosine", "euclidean")
METHODS = ("auto", "exact", "nndescent", "faiss")


def exact_knn(X: np.ndarray, k: int, *, metric: str = "cosine", device: str = "cpu",
              chunk_size: int = 4096, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact kNN by chunked matrix products in torch (self excluded).

    Parameters
    ----------
    X : ndarray, shape (n, d)
    k : int
    metric : {"cosine", "euclidean"}
    device : {"cpu", "cuda"}
    chunk_size : int
        Query rows per matrix product.
    start, stop : int
        Only the query rows ``start:stop`` (against all of ``X``); a block that starts at a multiple of
        ``chunk_size`` gives exactly the rows of the whole search (the same products), which is how the Ray
        backend shards the search (:mod:`mining.distributed.knn`).

    Returns
    -------
    indices : ndarray of int32, shape (stop - start, k)
    distances : ndarray of float32, shape (stop - start, k)
        Cosine distance (1 - cos) or Euclidean distance.
    """
    import torch

    n = len(X)
    stop = n if stop is None else stop
    kk = min(k + 1, n)
    cuda = device == "cuda"
    xt = torch.from_numpy(np.require(X, dtype=np.float32, requirements=["C", "W"])).to(device)
    if metric == "cosine":
        xt = torch.nn.functional.normalize(xt, dim=1)
    sq = (xt * xt).sum(1)
    # On CUDA the n x n similarities are computed in half precision (tensor cores) and only ranked there: the
    # best kk + margin candidates are re-scored in float32, so the distances are exact and only near-ties closer
    # than fp16 rounding can swap. On the CPU everything is float32.
    half = cuda and X.shape[1] >= 64
    xm = xt.to(torch.float16) if half else xt
    cand = min(n, kk + 16) if half else kk
    idx_out = torch.empty((stop - start, kk), dtype=torch.int64, device=device)
    d_out = torch.empty((stop - start, kk), dtype=torch.float32, device=device)
    with torch.inference_mode():
        for s in range(start, stop, chunk_size):
            e = min(s + chunk_size, stop)
            q = xm[s:e]
            sim = q @ xm.T
            if metric == "euclidean":  # rank by -|x-y|^2 = 2 x.y - |y|^2 (the |x|^2 term is constant per row)
                sim = 2 * sim - sq[None, :].to(sim.dtype)
            _, ind = sim.topk(cand, dim=1, sorted=False)
            del sim
            qf, cf = xt[s:e], xt[ind]                  # (b, d), (b, cand, d)
            dots = torch.einsum("bd,bcd->bc", qf, cf)
            if metric == "cosine":
                dist = (1.0 - dots).clamp_min(0)
            else:
                dist = (sq[s:e, None] + sq[ind] - 2 * dots).clamp_min(0).sqrt()
            dist, order = dist.topk(kk, dim=1, largest=False, sorted=True)
            idx_out[s - start:e - start] = ind.gather(1, order)
            d_out[s - start:e - start] = dist
    return _drop_self(idx_out.cpu().numpy(), d_out.cpu().numpy(), k, start=start)


def _drop_self(ind: np.ndarray, dist: np.ndarray, k: int, *, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index (wherever ties put it) and keep the first k others; row i of ``ind`` is
    point ``start + i``."""
    n = len(ind)
    self_mask = ind == np.arange(start, start + n)[:, None]
    has_self = self_mask.any(axis=1)
    # rows without self in the list (exact duplicates crowding it out): drop the last column instead
    self_mask[~has_self, -1] = True
    keep = ~self_mask
    if ind.shape[1] - 1 < k:
        raise ValueError(f"k={k} needs at least {k + 1} points, got {ind.shape[1]}")
    ind = ind[keep].reshape(n, -1)[:, :k]
    dist = dist[keep].reshape(n, -1)[:, :k]
    return ind.astype(np.int32), dist.astype(np.float32)


def exact_knn_rows(X: np.ndarray, rows: np.ndarray, k: int, *, metric: str = "cosine") -> np.ndarray:
    """Exact neighbours (self excluded) of some rows of ``X`` against all of it, float32 on the CPU: the
    reference of :func:`knn_recall`.

    Returns
    -------
    ndarray of int64, shape (len(rows), k)
    """
    import torch

    xt = torch.from_numpy(np.require(X, dtype=np.float32, requirements=["C", "W"]))
    if metric == "cosine":
        xt = torch.nn.functional.normalize(xt, dim=1)
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), k), np.int64)
    with torch.inference_mode():
        for s in range(0, len(rows), 1024):
            r = torch.from_numpy(rows[s:s + 1024])
            sim = xt[r] @ xt.T
            if metric == "euclidean":
                sim = 2 * sim - (xt * xt).sum(1)[None, :]
            sim[torch.arange(len(r)), r] = -torch.inf  # self
            out[s:s + len(r)] = sim.topk(k, dim=1).indices.numpy()
    return out


def knn_recall(X: np.ndarray, indices: np.ndarray, *, metric: str = "cosine", sample: int = 1000,
               seed: int = 0) -> tuple[float, int]:
    """recall@k of a graph against exact search on ``sample`` random rows: the mean share of each row's exact
    k neighbours that the graph has.

    Returns
    -------
    recall : float
    n_rows : int
        Rows checked.
    """
    n, k = indices.shape
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False))
    exact = exact_knn_rows(X, rows, k, metric=metric)
    hits = [len(np.intersect1d(indices[r], e, assume_unique=True)) for r, e in zip(rows, exact, strict=True)]
    return float(np.sum(hits) / (len(rows) * k)), int(len(rows))


def _faiss_prepared(X: np.ndarray, metric: str) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=np.float32)
    if metric == "cosine":
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), np.float32(1e-12))
    return np.ascontiguousarray(X, dtype=np.float32)


def faiss_index(X: np.ndarray, *, metric: str = "cosine", nlist: int | None = None, seed: int = 0):
    """A FAISS inverted-file index (``IndexIVFFlat``) of ``X``: ``nlist`` k-means cells (default ``4 sqrt(n)``)
    trained on a seeded sample of at most 64 points per cell; inner product of normalised vectors for cosine.

    Returns
    -------
    faiss.IndexIVFFlat
    """
    try:
        import faiss
    except ImportError:
        raise DataError("--method faiss needs FAISS: pip install 'eomine[ray]' (or faiss-cpu)") from None

    Xp = _faiss_prepared(X, metric)
    n, d = Xp.shape
    nlist = nlist or max(1, min(int(4 * np.sqrt(n)), n // 39 or 1))
    ip = metric == "cosine"
    quantizer = faiss.IndexFlatIP(d) if ip else faiss.IndexFlatL2(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT if ip else faiss.METRIC_L2)
    index.cp.seed = seed
    train = Xp if n <= 64 * nlist else Xp[np.sort(np.random.default_rng(seed).choice(n, 64 * nlist, replace=False))]
    index.train(train)
    index.add(Xp)
    return index


def faiss_search(index, X: np.ndarray, k: int, *, metric: str = "cosine", nprobe: int = 16, start: int = 0,
                 stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Neighbours of rows ``start:stop`` of ``X`` (self excluded) in a :func:`faiss_index` of all of ``X``.

    Rows for which the probed cells hold fewer than ``k + 1`` points are searched exactly instead.

    Returns
    -------
    indices : ndarray of int32, shape (stop - start, k)
    distances : ndarray of float32, shape (stop - start, k)
    """
    stop = len(X) if stop is None else stop
    index.nprobe = nprobe
    Q = _faiss_prepared(X[start:stop], metric)
    D, ind = index.search(Q, k + 1)
    dist = (1.0 - D).clip(0, None) if metric == "cosine" else np.sqrt(np.maximum(D, 0))
    short = np.flatnonzero((ind < 0).any(1))
    if len(short):  # too few points in the probed cells: exact for those rows
        for r in short:
            i, d = exact_knn(X, k, metric=metric, start=start + int(r), stop=start + int(r) + 1)
            ind[r, :k], dist[r, :k] = i[0], d[0]
            ind[r, k], dist[r, k] = start + r, 0.0  # the row itself, dropped below
    return _drop_self(ind, dist.astype(np.float32), k, start=start)


class KNNGraph:
    """k-nearest-neighbour graph of embeddings.

    Parameters
    ----------
    k : int
        Neighbours per point (self excluded).
    metric : {"cosine", "euclidean"}
    method : {"auto", "exact", "nndescent", "faiss"}
        ``auto``: exact torch on CUDA or when n <= ``exact_max_n``, else pynndescent. ``faiss``: an approximate
        FAISS inverted-file index (:func:`faiss_index`), its recall measured against exact search on
        ``recall_sample`` rows.
    device : {"auto", "cpu", "cuda"}
    seed : int
        Seed of pynndescent.
    exact_max_n : int
        Largest n searched exactly on the CPU with ``auto``.
    nprobe : int
        ``faiss``: inverted lists searched per query.
    recall_sample : int
        ``faiss``: rows whose exact neighbours measure the recall (0: not measured).

    Attributes
    ----------
    indices_ : ndarray of int32, shape (n, k)
    distances_ : ndarray of float32, shape (n, k)
    method_ : str
        The method actually used.
    device_ : str
    seconds_ : float
    recall_ : float or None
        ``faiss``: recall@k against exact search on ``recall_rows_`` sampled rows (None for the others).
    """

    _parameter_constraints = {
        "k": [Interval(int, 1, None)],  # and fewer than the points, checked by fit
        "metric": [Options(METRICS)],
        "method": [Options(METHODS)],
        "device": [Options(("auto", "cpu", "cuda"))],
        "seed": [SEED],
        "exact_max_n": [Interval(int, 0, None)],
        "nprobe": [Interval(int, 1, None)],
        "recall_sample": [Interval(int, 0, None)],
    }

    def __init__(self, k: int = 30, *, metric: str = "cosine", method: str = "auto", device: str = "auto",
                 seed: int = 0, exact_max_n: int = 20000, nprobe: int = 16, recall_sample: int = 1000):
        self.k = k
        self.metric = metric
        self.method = method
        self.device = device
        self.seed = seed
        self.exact_max_n = exact_max_n
        self.nprobe = nprobe
        self.recall_sample = recall_sample

    def get_params(self) -> dict:
        """The parameters that decide the graph (the stored graph's key); ``nprobe`` only for ``faiss``."""
        params = {"k": self.k, "metric": self.metric, "method": self.method, "seed": self.seed}
        if self.method == "faiss":
            params["nprobe"] = self.nprobe
        return params

    def _exact(self, X: np.ndarray, device: str) -> tuple[np.ndarray, np.ndarray]:
        """The exact search (the Ray backend shards it over actors)."""
        return exact_knn(X, self.k, metric=self.metric, device=device)

    def _faiss(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The FAISS search: index built here, all rows queried (the Ray backend shards the queries)."""
        index = faiss_index(X, metric=self.metric, seed=self.seed)
        return faiss_search(index, X, self.k, metric=self.metric, nprobe=self.nprobe)

    def fit(self, X: np.ndarray) -> KNNGraph:
        from .embeddings import resolve_device

        validate_params(self)
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n, d), got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or inf")
        if self.k >= len(X):
            raise ParameterError("k", f"an int in [1, {len(X) - 1}] (fewer than the {len(X)} points)", self.k,
                                 owner=type(self).__name__)
        dev = resolve_device(self.device)
        method = self.method
        if method == "auto":
            method = "exact" if dev == "cuda" or len(X) <= self.exact_max_n else "nndescent"
        t0 = time.perf_counter()
        self.recall_ = self.recall_rows_ = None
        if method == "exact":
            self.indices_, self.distances_ = self._exact(X, dev)
        elif method == "faiss":
            self.indices_, self.distances_ = self._faiss(X)
            dev = "cpu"
            if self.recall_sample:
                self.recall_, self.recall_rows_ = knn_recall(X, self.indices_, metric=self.metric,
                                                             sample=self.recall_sample, seed=self.seed)
        else:
            from pynndescent import NNDescent

            # max_candidates=60 (pynndescent's default is min(60, n_neighbors) = 31 here): on 549,488 64-d points
            # and 2 cores recall@30 rose from 0.885 to 0.929 for 40 -> 56 s (bench/RESULTS.md, "Pipeline")
            index = NNDescent(X, n_neighbors=self.k + 1, metric=self.metric, random_state=self.seed,
                              low_memory=True, n_jobs=-1, compressed=True, max_candidates=60)
            ind, dist = index.neighbor_graph
            self.indices_, self.distances_ = _drop_self(ind, dist, self.k)
            dev = "cpu"
        self.method_ = method
        self.device_ = dev
        self.seconds_ = time.perf_counter() - t0
        return self


def save_knn(ws: Workspace, graph: KNNGraph, *, embeddings_key: str) -> dict:
    """Write ``knn/indices.npy``, ``knn/distances.npy`` and the card ``knn/knn.json``; returns the card."""
    ws.files.knn.mkdir(exist_ok=True)
    save_npy(ws.files.knn_indices, graph.indices_)
    save_npy(ws.files.knn_distances, graph.distances_)
    card = {"format": "eomine-knn", "version": KNN_FORMAT_VERSION, "params": graph.get_params(),
            "method": graph.method_, "device": graph.device_, "seconds": round(graph.seconds_, 3),
            "n": int(len(graph.indices_)), "embeddings_key": embeddings_key,
            **({"recall": round(graph.recall_, 4), "recall_rows": graph.recall_rows_}
               if getattr(graph, "recall_", None) is not None else {}),
            **getattr(graph, "backend_card_", {})}
    card["key"] = params_hash({"params": card["params"], "embeddings_key": embeddings_key})
    write_card(ws.files.knn_card, card)
    return card


def load_knn_card(ws: Workspace) -> dict | None:
    """``knn/knn.json`` (format version checked), or None when there is no graph yet."""
    return load_card(ws.files.knn_card, version=KNN_FORMAT_VERSION, what="kNN graph")


def has_knn(ws: Workspace) -> bool:
    """Whether the workspace has a kNN graph and the embeddings it was built from."""
    return ws.files.knn_indices.is_file() and ws.files.knn_card.is_file() and ws.files.embeddings.is_file()


def load_knn(ws: Workspace) -> tuple[np.ndarray, np.ndarray, dict]:
    """Stored graph: ``indices`` (n, k) int32, ``distances`` (n, k) float32 and its card (embedding row order)."""
    card = load_knn_card(ws)
    if card is None or not ws.files.knn_indices.is_file():
        raise WorkspaceError(f"{ws.path} has no kNN graph yet: run `eomine knn {ws.path}`")
    return np.load(ws.files.knn_indices), np.load(ws.files.knn_distances), card


def load_knn_catalog(ws: Workspace) -> tuple[np.ndarray, np.ndarray, dict]:
    """The stored graph with rows and neighbours as *catalog* rows (the graph itself is in embedding order).

    Returns
    -------
    indices : ndarray of int32, shape (n_catalog, k)
        Neighbours as catalog rows; -1 on the rows of patches without an embedding.
    distances : ndarray of float32, shape (n_catalog, k)
        inf on those rows.
    card : dict
    """
    from .embeddings import load_embedding_ids

    ind_e, dist_e, card = load_knn(ws)
    to_cat = ws.rows_of(load_embedding_ids(ws))
    if len(to_cat) != len(ind_e) or (to_cat < 0).any():
        raise WorkspaceError(f"{ws.files.knn}: the kNN graph does not match embeddings.parquet / the "
                             f"catalog; run `eomine knn {ws.path} --force`")
    n = len(ws.index)
    if len(to_cat) == n and (to_cat == np.arange(n)).all():
        return ind_e.astype(np.int32, copy=False), dist_e.astype(np.float32, copy=False), card
    to_cat = to_cat.astype(np.int32)
    ind = np.full((n, ind_e.shape[1]), -1, np.int32)
    dist = np.full((n, ind_e.shape[1]), np.inf, np.float32)
    ind[to_cat] = to_cat[ind_e]
    dist[to_cat] = dist_e
    return ind, dist, card
