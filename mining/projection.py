"""2-D layouts of the embeddings: UMAP fed the stored kNN graph (no second neighbour search), or PCA.

Stored as ``projection.parquet`` (patch_id, x, y) + ``projection.json`` (method, parameters, timings,
the kNN key it was built from).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ._internal.artifacts import params_hash, read_card, write_card
from .errors import WorkspaceError
from .workspace import Workspace, write_parquet

__all__ = ["Projection", "save_projection", "load_projection", "PROJECTION_FORMAT_VERSION"]

PROJECTION_FORMAT_VERSION = 1


class Projection:
    """Project embeddings to 2-D.

    Parameters
    ----------
    method : {"umap", "pca"}
        ``umap`` uses the stored kNN graph as umap-learn's ``precomputed_knn``; ``pca`` is the instant preview.
    seed : int
        Random state: the same seed gives the same layout.
    min_dist : float
        UMAP ``min_dist``.
    n_epochs : int, optional
        UMAP epochs (default: umap-learn's, 200 above 10,000 points, else 500).

    Attributes
    ----------
    embedding_ : ndarray of float32, shape (n, 2)
    seconds_ : float
    """

    def __init__(self, method: str = "umap", *, seed: int = 0, min_dist: float = 0.1, n_epochs: int | None = None):
        self.method = method
        self.seed = seed
        self.min_dist = min_dist
        self.n_epochs = n_epochs

    def get_params(self) -> dict:
        return {"method": self.method, "seed": self.seed, "min_dist": self.min_dist, "n_epochs": self.n_epochs}

    def fit(self, X: np.ndarray, knn: tuple[np.ndarray, np.ndarray] | None = None) -> Projection:
        """Compute the layout.

        Parameters
        ----------
        X : ndarray, shape (n, d)
        knn : (indices, distances), each shape (n, k), self excluded
            Required for ``umap``.
        """
        if self.method not in ("umap", "pca"):
            raise ValueError(f"method must be 'umap' or 'pca', got {self.method!r}")
        X = np.asarray(X, dtype=np.float32)
        t0 = time.perf_counter()
        if self.method == "pca":
            from sklearn.decomposition import PCA

            Y = PCA(n_components=2, random_state=self.seed, svd_solver="randomized").fit_transform(X)
        else:
            if knn is None:
                raise ValueError("umap needs the stored kNN graph (run `eomine knn` first)")
            ind, dist = knn
            if len(ind) != len(X):
                raise ValueError(f"kNN graph has {len(ind)} rows but there are {len(X)} embeddings")
            Y = umap_from_knn(X, ind, dist, seed=self.seed, min_dist=self.min_dist, n_epochs=self.n_epochs)
        self.embedding_ = np.asarray(Y, dtype=np.float32)
        self.seconds_ = time.perf_counter() - t0
        return self


def umap_from_knn(X, ind, dist, *, seed: int, min_dist: float, n_epochs: int | None) -> np.ndarray:
    """umap-learn with ``precomputed_knn``: our graph plus each point as its own first neighbour."""
    import warnings

    import umap

    n = len(ind)
    self_col = np.arange(n, dtype=np.int32)[:, None]
    ind1 = np.hstack([self_col, ind]).astype(np.int32)
    dist1 = np.hstack([np.zeros((n, 1), np.float32), dist]).astype(np.float32)
    with warnings.catch_warnings():
        # umap warns that a precomputed graph without a search index cannot transform new points: expected
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(n_neighbors=ind1.shape[1], precomputed_knn=(ind1, dist1, None), min_dist=min_dist,
                            random_state=seed, n_epochs=n_epochs, metric="euclidean", low_memory=True,
                            force_approximation_algorithm=True, verbose=False)
        return reducer.fit_transform(X)


def save_projection(ws: Workspace, patch_ids, proj: Projection, *, knn_key: str | None) -> dict:
    Y = proj.embedding_
    write_parquet(pd.DataFrame({"patch_id": np.asarray(patch_ids, dtype=object), "x": Y[:, 0], "y": Y[:, 1]}),
                  ws.path / "projection.parquet")
    card = {"format": "eomine-projection", "version": PROJECTION_FORMAT_VERSION, "params": proj.get_params(),
            "seconds": round(proj.seconds_, 3), "n": int(len(Y)), "knn_key": knn_key}
    card["key"] = params_hash({"params": card["params"], "knn_key": knn_key})
    write_card(ws.path / "projection.json", card)
    return card


def load_projection(ws: Workspace) -> pd.DataFrame:
    path = ws.path / "projection.parquet"
    if not path.is_file():
        raise WorkspaceError(f"{ws.path} has no projection yet: run `eomine project {ws.path}`")
    return pd.read_parquet(path)


def projection_card(ws: Workspace) -> dict | None:
    return read_card(ws.path / "projection.json")
