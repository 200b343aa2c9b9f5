"""``eomine score --backend ray``: the noise scorer's heavy parts as Ray tasks, the same scores as local.

* the out-of-fold models: one task per fold (:func:`mining._internal.noise_model.fit_fold`) on the folds and
  training subsamples drawn here (:func:`~mining._internal.noise_model.oof_folds`, the local draws);
* the neighbour evidence: one task per shard of rows (each row reads only its own k neighbours' labels: the
  kernel is per row, so shards give the rows of the whole pass);
* the rest (thresholds, evidence, ranks: a few vector operations over (n, C) arrays) stays in this process.

Determinism: the neighbour evidence is exact per row. A fold's logistic regression goes through BLAS, whose
sums depend on its thread count in the last bit; each fold task therefore runs with the BLAS thread count of
this process, so on the same machine the scores are bit-identical to the local backend's. (On other hosts,
with another BLAS or CPU, the model probabilities can differ in the last float32 bit.)
"""

from __future__ import annotations

import numpy as np

from .._internal.validation import Instance, Interval, validate_params
from ..noise import NoiseScorer
from .cluster import RayCluster

__all__ = ["RayNoiseScorer"]


def _fold_task(X, Y, tr, te, C, blas_threads):
    from threadpoolctl import threadpool_limits

    from .._internal.noise_model import fit_fold

    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return fit_fold(X, Y, tr, te, C=C)


def _evidence_task(indices, distances, w, Y, start, stop):
    from .._internal.noise_kernels import neighbour_evidence

    return neighbour_evidence(indices[start:stop], distances[start:stop], w[start:stop], Y)


def _blas_threads() -> int:
    from threadpoolctl import threadpool_info

    counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(counts) if counts else 1


class RayNoiseScorer(NoiseScorer):
    """:class:`mining.noise.NoiseScorer` with the out-of-fold models and the neighbour evidence on Ray.

    Parameters
    ----------
    cluster : RayCluster
        Entered (connected).
    shard_rows : int
        Rows per neighbour-evidence task.
    **params
        :class:`~mining.noise.NoiseScorer` parameters.

    Attributes
    ----------
    backend_card_ : dict
        The cluster, the shards and the fold tasks, recorded in ``scores.json``.
    """

    _parameter_constraints = {**NoiseScorer._parameter_constraints,
                              "cluster": [Instance(RayCluster, name="a RayCluster")],
                              "shard_rows": [Interval(int, 1, None)]}

    def __init__(self, *, cluster: RayCluster, shard_rows: int = 65536, **params):
        super().__init__(**params)
        self.cluster = cluster
        self.shard_rows = shard_rows

    def fit(self, X, Y, indices, distances, *, proba=None) -> RayNoiseScorer:
        validate_params(self)
        self._shards = 0
        self._folds = 0
        super().fit(X, Y, indices, distances, proba=proba)
        self.backend_card_ = {"backend": "ray", "cluster": self.cluster.card(),
                              "shards": {"n": self._shards, "rows": int(self.shard_rows)}, "fold_tasks": self._folds}
        return self

    def _evidence(self, indices, distances, w, Y):
        import ray

        n = len(indices)
        task = ray.remote(num_cpus=1, max_retries=3)(_evidence_task)
        refs = [ray.put(np.ascontiguousarray(a)) for a in (indices, distances, w, Y)]
        spans = [(s, min(s + self.shard_rows, n)) for s in range(0, n, self.shard_rows)]
        parts = ray.get([task.remote(*refs, s, e) for s, e in spans])
        self._shards = len(spans)
        if not parts:
            C = Y.shape[1]
            return np.empty((0, C), np.float32), np.empty(0, np.float32), np.empty((0, C), np.float32)
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))

    def _oof(self, X, Y):
        import ray

        from .._internal.noise_model import oof_folds

        n, n_cls = Y.shape
        folds = oof_folds(n, n_folds=self.n_folds, max_train=self.max_train, seed=self.seed)
        task = ray.remote(num_cpus=1, max_retries=3)(_fold_task)
        x_ref, y_ref = ray.put(np.ascontiguousarray(X, dtype=np.float32)), ray.put(np.ascontiguousarray(Y))
        threads = _blas_threads()
        parts = ray.get([task.remote(x_ref, y_ref, tr, te, self.C, threads) for tr, te in folds])
        P = np.empty((n, n_cls), dtype=np.float32)
        for (_, te), p in zip(folds, parts, strict=True):
            P[te] = p
        self._folds = len(folds)
        return P
