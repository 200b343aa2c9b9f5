"""``eomine knn --backend ray``: the kNN search sharded over Ray actors, the same graph as the local backend.

Exact search: the embeddings go to the object store once; each actor (one GPU each when the cluster has GPUs)
searches blocks of query rows against the whole base with :func:`mining.knn.exact_knn` (``start``/``stop``), and
the blocks' top-k lists are concatenated in row order. Blocks start at multiples of the local search's chunk
(4,096 rows), so every matrix product is the one the local search computes: the graph is identical, ties
included. Approximate search (``method="faiss"``): the index is built once here, shipped to the actors, and the
queries are sharded the same way; its recall is measured against exact search on a sample (the card's
``recall``).
"""

from __future__ import annotations

import numpy as np

from .._internal.validation import Instance, Interval, validate_params
from ..knn import KNNGraph, exact_knn, faiss_search
from .cluster import RayCluster

__all__ = ["RayKNNGraph"]

#: query rows per chunk of the local exact search (:func:`mining.knn.exact_knn`'s ``chunk_size``)
CHUNK = 4096


class _Searcher:
    """A Ray actor holding the base (and a FAISS index when one is given) and searching blocks of query rows."""

    def __init__(self, X: np.ndarray, index_bytes: np.ndarray | None):
        self.X = X
        self.index = None
        if index_bytes is not None:
            import faiss

            self.index = faiss.deserialize_index(index_bytes)

    def exact(self, k: int, metric: str, device: str, start: int, stop: int):
        return start, exact_knn(self.X, k, metric=metric, device=device, chunk_size=CHUNK, start=start, stop=stop)

    def faiss(self, k: int, metric: str, nprobe: int, start: int, stop: int):
        return start, faiss_search(self.index, self.X, k, metric=metric, nprobe=nprobe, start=start, stop=stop)


class RayKNNGraph(KNNGraph):
    """:class:`mining.knn.KNNGraph` with its search sharded over the actors of a Ray cluster.

    Parameters
    ----------
    k, metric, method, device, seed, exact_max_n, nprobe, recall_sample
        As :class:`~mining.knn.KNNGraph`; ``auto`` is exact when the cluster has GPUs or n <= ``exact_max_n``,
        else ``faiss`` (pynndescent is not sharded: ``nndescent`` runs in this process).
    cluster : RayCluster
        Entered (connected).
    block_rows : int
        Query rows per block (rounded up to a multiple of 4,096; at least one block per actor when n allows).

    Attributes
    ----------
    backend_card_ : dict
        The cluster and the blocks, recorded in ``knn.json``.
    """

    _parameter_constraints = {**KNNGraph._parameter_constraints, "cluster": [Instance(RayCluster, name="a RayCluster")],
                              "block_rows": [Interval(int, 1, None)]}

    def __init__(self, k: int = 30, *, cluster: RayCluster, metric: str = "cosine", method: str = "auto",
                 device: str = "auto", seed: int = 0, exact_max_n: int = 20000, nprobe: int = 16,
                 recall_sample: int = 1000, block_rows: int = 4 * CHUNK):
        super().__init__(k, metric=metric, method=method, device=device, seed=seed, exact_max_n=exact_max_n,
                         nprobe=nprobe, recall_sample=recall_sample)
        self.cluster = cluster
        self.block_rows = block_rows

    def fit(self, X: np.ndarray) -> RayKNNGraph:
        validate_params(self)
        if self.method == "auto":  # exact on GPUs or small n, else the sharded FAISS index
            n = len(X)
            method = "exact" if self.cluster.use_gpus or n <= self.exact_max_n else "faiss"
            self.method = method
            try:
                super().fit(X)
            finally:
                self.method = "auto"
        else:
            super().fit(X)
        self.device_ = getattr(self, "_ray_device", self.device_)
        return self

    def _blocks(self, n: int) -> list[tuple[int, int]]:
        rows = -(-int(self.block_rows) // CHUNK) * CHUNK if n > CHUNK else int(self.block_rows)
        return [(s, min(s + rows, n)) for s in range(0, n, rows)]

    def _run(self, X: np.ndarray, index_bytes, call) -> tuple[np.ndarray, np.ndarray]:
        import ray
        from ray.util import ActorPool

        blocks = self._blocks(len(X))
        n_act = max(1, min(self.cluster.n_actors, len(blocks)))
        opts = {"num_gpus": 1} if self.cluster.use_gpus and call == "exact" else {"num_cpus": 1}
        actor = ray.remote(max_restarts=2, max_task_retries=2, **opts)(_Searcher)
        x_ref = ray.put(np.ascontiguousarray(X, dtype=np.float32))
        idx_ref = ray.put(index_bytes) if index_bytes is not None else None
        actors = [actor.remote(x_ref, idx_ref) for _ in range(n_act)]
        dev = "cuda" if "num_gpus" in opts and self.device != "cpu" else "cpu"
        pool = ActorPool(actors)
        if call == "exact":
            results = pool.map_unordered(lambda a, b: a.exact.remote(self.k, self.metric, dev, *b), blocks)
        else:
            results = pool.map_unordered(lambda a, b: a.faiss.remote(self.k, self.metric, self.nprobe, *b), blocks)
        ind = np.empty((len(X), self.k), np.int32)
        dist = np.empty((len(X), self.k), np.float32)
        for start, (i, d) in results:
            ind[start:start + len(i)], dist[start:start + len(i)] = i, d
        for a in actors:
            ray.kill(a)
        self.backend_card_ = {"backend": "ray", "cluster": self.cluster.card(actors=n_act),
                              "blocks": {"n": len(blocks), "rows": blocks[0][1] - blocks[0][0]}}
        self._ray_device = dev
        return ind, dist

    def _exact(self, X: np.ndarray, device: str) -> tuple[np.ndarray, np.ndarray]:
        return self._run(X, None, "exact")

    def _faiss(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        from ..knn import faiss_index

        index = faiss_index(X, metric=self.metric, seed=self.seed)
        return self._run(X, faiss.serialize_index(index), "faiss")
