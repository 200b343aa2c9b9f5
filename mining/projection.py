"""2-D layouts of the embeddings: UMAP fed the stored kNN graph (no second neighbour search), or PCA.

Stored as ``projection.parquet`` (patch_id, x, y) + ``projection.json`` (method, parameters, timings,
the kNN key it was built from).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ._internal.artifacts import load_card, params_hash, write_card
from ._internal.validation import SEED, Boolean, Interval, Options, validate_params
from .errors import WorkspaceError
from .workspace import Workspace, write_parquet

__all__ = ["Projection", "save_projection", "load_projection", "load_projection_card", "load_layout_catalog",
           "PROJECTION_FORMAT_VERSION"]

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
    init : {"auto", "spectral", "pca"}
        UMAP initial layout. ``auto``: umap-learn's spectral layout of the graph up to ``LARGE`` points, the
        (much cheaper) PCA of the embeddings above.
    reproducible : bool or "auto"
        ``True``: umap-learn gets ``random_state=seed`` (bit-reproducible, but then it optimises on ONE thread).
        ``False``: ``random_state=None`` and every core (Hogwild SGD: each run differs slightly). ``auto``:
        reproducible up to ``LARGE`` points, parallel above. The choice made is stored as ``reproducible_``
        and in ``projection.json``.

    Attributes
    ----------
    embedding_ : ndarray of float32, shape (n, 2)
    seconds_ : float
    reproducible_ : bool
        Whether this layout is reproducible from its parameters (always True for PCA).
    init_ : str
        The UMAP initialisation used.
    """

    #: above this many points ``auto`` means PCA initialisation and the parallel (non-reproducible) optimiser
    LARGE = 50_000

    _parameter_constraints = {
        "method": [Options(("umap", "pca"))],
        "seed": [SEED],
        "min_dist": [Interval(float, 0, 1)],  # umap-learn: 0 <= min_dist <= spread (1)
        "n_epochs": [Interval(int, 1, None), None],
        "init": [Options(("auto", "spectral", "pca"))],
        "reproducible": [Boolean(), Options(("auto",))],
    }

    def __init__(self, method: str = "umap", *, seed: int = 0, min_dist: float = 0.1, n_epochs: int | None = None,
                 init: str = "auto", reproducible: bool | str = "auto"):
        self.method = method
        self.seed = seed
        self.min_dist = min_dist
        self.n_epochs = n_epochs
        self.init = init
        self.reproducible = reproducible

    def get_params(self) -> dict:
        return {"method": self.method, "seed": self.seed, "min_dist": self.min_dist, "n_epochs": self.n_epochs,
                "init": self.init, "reproducible": self.reproducible}

    def fit(self, X: np.ndarray, knn: tuple[np.ndarray, np.ndarray] | None = None) -> Projection:
        """Compute the layout.

        Parameters
        ----------
        X : ndarray, shape (n, d)
        knn : (indices, distances), each shape (n, k), self excluded
            Required for ``umap``.
        """
        validate_params(self)
        X = np.asarray(X, dtype=np.float32)
        large = len(X) > self.LARGE
        self.init_ = ("pca" if large else "spectral") if self.init == "auto" else self.init
        self.reproducible_ = (not large) if self.reproducible == "auto" else bool(self.reproducible)
        t0 = time.perf_counter()
        if self.method == "pca":
            self.reproducible_ = True
            from sklearn.decomposition import PCA

            Y = PCA(n_components=2, random_state=self.seed, svd_solver="randomized").fit_transform(X)
        else:
            if knn is None:
                raise ValueError("umap needs the stored kNN graph (run `eomine knn` first)")
            ind, dist = knn
            if len(ind) != len(X):
                raise ValueError(f"kNN graph has {len(ind)} rows but there are {len(X)} embeddings")
            Y = umap_from_knn(X, ind, dist, seed=self.seed, min_dist=self.min_dist, n_epochs=self.n_epochs,
                              init=self.init_, reproducible=self.reproducible_)
        self.embedding_ = np.asarray(Y, dtype=np.float32)
        self.seconds_ = time.perf_counter() - t0
        return self


def umap_from_knn(X, ind, dist, *, seed: int, min_dist: float, n_epochs: int | None, init: str = "spectral",
                  reproducible: bool = True) -> np.ndarray:
    """umap-learn with ``precomputed_knn``: our graph plus each point as its own first neighbour.

    ``init="pca"`` starts from the seeded PCA of ``X`` (scaled like umap-learn's own inits), so even the
    parallel optimiser starts from a reproducible layout.
    """
    import warnings

    import umap

    n = len(ind)
    self_col = np.arange(n, dtype=np.int32)[:, None]
    ind1 = np.hstack([self_col, ind]).astype(np.int32)
    dist1 = np.hstack([np.zeros((n, 1), np.float32), dist]).astype(np.float32)
    with warnings.catch_warnings():
        # umap warns that a precomputed graph without a search index cannot transform new points: expected
        warnings.simplefilter("ignore")
        if init == "pca":
            from sklearn.decomposition import PCA

            start = PCA(n_components=2, random_state=seed, svd_solver="randomized").fit_transform(X)
            start = 10.0 * (start - start.mean(0)) / np.abs(start).max()  # umap-learn scales its inits to +-10
            init_arg = start.astype(np.float32)
        else:
            init_arg = init
        reducer = umap.UMAP(n_neighbors=ind1.shape[1], precomputed_knn=(ind1, dist1, None), min_dist=min_dist,
                            random_state=seed if reproducible else None, n_epochs=n_epochs, init=init_arg,
                            metric="euclidean", low_memory=True, force_approximation_algorithm=True,
                            verbose=False)
        return reducer.fit_transform(X)


def save_projection(ws: Workspace, patch_ids, proj: Projection, *, knn_key: str | None) -> dict:
    """Write ``projection.parquet`` (patch_id, x, y) and its card ``projection.json``; returns the card."""
    Y = proj.embedding_
    write_parquet(pd.DataFrame({"patch_id": np.asarray(patch_ids, dtype=object), "x": Y[:, 0], "y": Y[:, 1]}),
                  ws.files.projection)
    card = {"format": "eomine-projection", "version": PROJECTION_FORMAT_VERSION, "params": proj.get_params(),
            "seconds": round(proj.seconds_, 3), "n": int(len(Y)), "knn_key": knn_key,
            "reproducible": bool(proj.reproducible_), "init": getattr(proj, "init_", None)}
    card["key"] = params_hash({"params": card["params"], "knn_key": knn_key})
    write_card(ws.files.projection_card, card)
    return card


def load_projection_card(ws: Workspace) -> dict | None:
    """``projection.json`` (format version checked), or None when there is no layout yet."""
    return load_card(ws.files.projection_card, version=PROJECTION_FORMAT_VERSION, what="2-D layout")


def load_projection(ws: Workspace) -> pd.DataFrame:
    """``projection.parquet`` as a DataFrame (patch_id, x, y) in embedding order."""
    if not ws.files.projection.is_file():
        raise WorkspaceError(f"{ws.path} has no projection yet: run `eomine project {ws.path}`")
    load_projection_card(ws)
    return pd.read_parquet(ws.files.projection)


def load_layout_catalog(ws: Workspace) -> np.ndarray | None:
    """The stored 2-D layout in *catalog* row order, or None without a projection.

    Returns
    -------
    ndarray of float32, shape (n_catalog, 2) or None
        NaN on the rows of patches without a position.
    """
    if not ws.files.projection.is_file():
        return None
    p = load_projection(ws)
    rows = ws.rows_of(p["patch_id"].to_numpy(object))
    ok = rows >= 0
    xy = np.full((len(ws.index), 2), np.nan, np.float32)
    xy[rows[ok], 0] = p["x"].to_numpy(np.float32)[ok]
    xy[rows[ok], 1] = p["y"].to_numpy(np.float32)[ok]
    return xy
