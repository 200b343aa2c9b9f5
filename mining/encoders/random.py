"""``random``: a fixed random projection of the normalised pixels: the baseline a real encoder must beat."""

from __future__ import annotations

import numpy as np

from .._internal.validation import SEED, Interval, validate_params
from ..store import stack_bands
from .base import S2_ORDER, Encoder

__all__ = ["RandomProjectionEncoder"]


class RandomProjectionEncoder(Encoder):
    """Flatten each patch's bands on a small grid (per-band dataset-normalised) and multiply by a fixed
    Gaussian matrix (Johnson-Lindenstrauss): distances roughly preserve raw-pixel distances, no learning.

    Parameters
    ----------
    dim : int
    grid : int
        Side of the grid the bands are block-averaged to.
    seed : int
    """

    name = "random"
    _parameter_constraints = {
        "dim": [Interval(int, 1, None)],
        "grid": [Interval(int, 1, None)],
        "seed": [SEED],
    }

    def __init__(self, *, dim: int = 64, grid: int = 8, seed: int = 0):
        self.dim = dim
        self.grid = grid
        self.seed = seed

    def fit(self, ws, *, device: str = "cpu", progress: bool = True) -> RandomProjectionEncoder:
        validate_params(self)
        store = ws.store
        self.store_ = store
        self.bands_ = [b for b in S2_ORDER if b in store.band_group] or list(store.bands)
        st = store.stats
        self.lo_ = np.array([st.get(b, {}).get("p2", 0.0) for b in self.bands_], np.float32)[:, None, None]
        hi = np.array([st.get(b, {}).get("p98", 1.0) for b in self.bands_], np.float32)[:, None, None]
        self.span_ = np.maximum(hi - self.lo_, 1e-6)
        rng = np.random.default_rng(self.seed)
        self.W_ = (rng.standard_normal((len(self.bands_) * self.grid * self.grid, self.dim)) /
                   np.sqrt(self.dim)).astype(np.float32)
        self.dim_ = self.dim
        self.device_ = "cpu"
        return self

    def encode(self, batch):
        x = stack_bands(self.store_, batch, self.bands_, self.grid)
        x = np.nan_to_num((x - self.lo_) / self.span_)
        return x.reshape(len(x), -1) @ self.W_
