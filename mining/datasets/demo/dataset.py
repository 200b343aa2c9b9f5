"""The demo dataset class: the catalog (tiles, labels, injected label errors) and, per patch, its pixels."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from ..._internal.validation import SEED, Interval, validate_params
from ...grid import tile_origin, utm_epsg
from ...store import BandGroup
from ..base import Issue, PatchDataset
from ..reben import _geometry_frame
from .landscape import (
    _CONFUSIONS,
    _ERROR_KINDS,
    _ERROR_P,
    CLOUD_BASE,
    CLOUD_SCALE,
    GRID,
    N_CLASSES,
    SNOW_SCALE,
    SPLIT_BLOCK,
    SPLITS,
    Tile,
    _allowed_cells,
    _landscape,
    load_tiles,
)
from .pixels import _block_mean, _render, _Spectra, load_spectra

__all__ = ["DemoDataset", "GENERATOR_VERSION", "MAX_PATCHES"]

#: bump when the generator's output changes (recorded in ``made_by`` so cached demo workspaces get rebuilt)
GENERATOR_VERSION = 1
#: the most patches a demo can have: one per reBEN grid cell of the demo tiles (``_allowed_cells``; a test
#: checks the count)
MAX_PATCHES = 87_073


# ---------------------------------------------------------------------------------------------- the dataset
class DemoDataset(PatchDataset):
    """Generated reBEN-like demo dataset with known label errors (no files needed).

    Parameters
    ----------
    root : ignored
        Kept for the :class:`PatchDataset` signature; the demo reads only ``data/demo/tiles.json`` and
        ``data/demo/spectra.json``.
    n : int
        Number of patches (>= 1; at most :data:`MAX_PATCHES`, the 87,073 reBEN grid cells of the 12 tiles).
    seed : int
        Random seed; the same seed gives the same catalog and pixels.
    noise_rate : float
        Fraction of patches with corrupted labels, ``0 <= noise_rate < 0.5``.

    Notes
    -----
    The catalog has the usual columns plus the ground truth ``gt_labels`` (list of true class names),
    ``gt_label_error`` (bool) and ``gt_error_kind`` (``"none"``, ``"drop"``, ``"add"``, ``"swap"``), for
    evaluating detectors; detectors must read only ``labels``.
    """

    format = "demo"
    dataset = "eomine-demo"
    nomenclature_key = "ben19"
    groups = (
        BandGroup("s2_10m", ("B02", "B03", "B04", "B08"), 60, "uint16", 10.0, 0),
        BandGroup("s2_20m", ("B05", "B06", "B07", "B8A", "B11", "B12"), 30, "uint16", 20.0, 0),
        BandGroup("s2_60m", ("B01", "B09"), 10, "uint16", 60.0, 0),
        BandGroup("s1", ("VV", "VH"), 60, "float32", 10.0, None),
    )

    _parameter_constraints = {
        "n": [Interval(int, 1, MAX_PATCHES)],
        "seed": [SEED],
        "noise_rate": [Interval(float, 0, 0.5, closed="left")],
    }

    def __init__(self, root=None, *, n: int = 6000, seed: int = 0, noise_rate: float = 0.08):
        super().__init__(root, metadata_only=False)
        self.n = n
        self.seed = seed
        self.noise_rate = noise_rate
        self._spectra: _Spectra | None = None
        self._lock = threading.Lock()

    def made_by(self) -> dict:
        return {"format": self.format, "source": "generated", "metadata_only": False, "n": int(self.n),
                "seed": int(self.seed), "noise_rate": float(self.noise_rate), "generator": GENERATOR_VERSION}

    # ------------------------------------------------------------------ scan
    def _validate(self) -> None:
        validate_params(self)

    def _tables(self) -> _Spectra:
        with self._lock:
            if self._spectra is None:
                self._spectra = load_spectra()
            return self._spectra

    def scan(self) -> tuple[pd.DataFrame, list[Issue]]:
        """Generate the catalog (one row per patch) plus the private ``tmp_*`` columns :meth:`read` needs.

        Returns
        -------
        catalog : DataFrame, n rows
            Catalog columns (without ``pixel_row``/``has_s2``/``has_s1``), ground truth ``gt_*`` columns and
            ``tmp_key``, ``tmp_classes``, ``tmp_fracs``, ``tmp_month``, ``tmp_sea``.
        issues : list of Issue
            Always empty (nothing can be missing).
        """
        self._validate()
        self._tables()
        names = self.nomenclature.classes
        seed = int(self.seed)
        alloc = self._allocate(int(self.n))
        frames = []
        for ti, (tile, k) in enumerate(zip(load_tiles(), alloc, strict=True)):
            if k:
                frames.append(self._tile_rows(seed, ti, tile, k))
        df = pd.concat(frames, ignore_index=True)
        df = self._inject_errors(df, seed)
        df["labels"] = [[names[c] for c in cs] for cs in df["tmp_labels"]]
        df["gt_labels"] = [[names[c] for c in cs] for cs in df["tmp_classes"]]
        df = df.drop(columns=["tmp_labels"])
        epsg = np.array([utm_epsg(t) for t in df["tile"]])
        geo = _geometry_frame(df["tile"].to_numpy(), df["x_min"].to_numpy(float), df["y_min"].to_numpy(float),
                              df["x_max"].to_numpy(float), df["y_max"].to_numpy(float), epsg)
        for c in ("crs", "lon", "lat", "lon_min", "lat_min", "lon_max", "lat_max"):
            df[c] = geo[c].to_numpy()
        cols = ["patch_id", "dataset", "split", "labels", "lon", "lat", "x_min", "y_min", "x_max", "y_max",
                "lon_min", "lat_min", "lon_max", "lat_max", "crs", "tile", "acquired", "country",
                "cloud_or_shadow", "seasonal_snow", "s1_id", "source", "gt_labels", "gt_label_error",
                "gt_error_kind", "tmp_key", "tmp_classes", "tmp_fracs", "tmp_month", "tmp_sea"]
        return df[cols], []

    @staticmethod
    def _allocate(n: int) -> np.ndarray:
        """Patches per tile: proportional to sqrt(reBEN patches), capped by the tile's cells (largest remainder)."""
        tiles = load_tiles()
        cap = np.array([len(_allowed_cells(t)) for t in tiles])
        w = np.sqrt([t.n_reben for t in tiles])
        out = np.zeros(len(tiles), dtype=int)
        left = n
        open_ = cap > 0
        while left > 0:
            share = np.where(open_, w, 0.0)
            raw = left * share / share.sum()
            add = np.minimum(np.floor(raw).astype(int), cap - out)
            rem = left - add.sum()
            order = np.argsort(-(raw - np.floor(raw)), kind="stable")
            for i in order:
                if rem <= 0:
                    break
                if open_[i] and out[i] + add[i] < cap[i]:
                    add[i] += 1
                    rem -= 1
            out += add
            left = n - out.sum()
            open_ = out < cap
        return out

    def _tile_rows(self, seed: int, ti: int, tile: Tile, k: int) -> pd.DataFrame:
        """The first ``k`` cells of the tile's fixed random cell order, with their labels and acquisitions."""
        cells = _allowed_cells(tile)
        fracs = _landscape(seed, ti)
        rng = np.random.default_rng([seed, 0x43454C4C, ti])
        order = rng.permutation(len(cells))
        # per-cell draws for every allowed cell (so a patch does not depend on n)
        w = np.array([p[2] for p in tile.products])
        product = rng.choice(len(tile.products), size=len(cells), p=w / w.sum())
        u_snow = rng.random(len(cells))
        u_cloud = rng.random(len(cells))
        u_split = np.random.default_rng([seed, 0x53504C54, ti]).random((GRID // SPLIT_BLOCK + 1) ** 2)
        sel = order[:k]
        cell = cells[sel]
        row, col = np.divmod(cell, GRID)
        prod = product[sel]
        snow_rate = np.array([p[3] for p in tile.products])[prod] * SNOW_SCALE
        cloud_rate = CLOUD_BASE + CLOUD_SCALE * np.array([p[4] for p in tile.products])[prod]
        stamps = pd.Series(np.array([p[0] for p in tile.products])[prod]).str.extract(r"_MSIL2A_(\d{8}T\d{6})_")[0]
        acquired = pd.to_datetime(stamps, format="%Y%m%dT%H%M%S", utc=True)
        winter = acquired.dt.month.isin([11, 12, 1, 2, 3]).to_numpy()   # seasonal snow: winter scenes only
        snow = (u_snow[sel] < snow_rate) & winter
        cloud = u_cloud[sel] < cloud_rate
        block = (row // SPLIT_BLOCK) * (GRID // SPLIT_BLOCK + 1) + col // SPLIT_BLOCK
        us = u_split[block]
        split = np.where(us < SPLITS[0][1], SPLITS[0][0],
                         np.where(us < SPLITS[0][1] + SPLITS[1][1], SPLITS[1][0], SPLITS[2][0]))
        x0, y0 = tile_origin(tile.tile)
        x_min = x0 + 1200.0 * col
        y_max = y0 - 1200.0 * row
        s2 = np.array([p[0] for p in tile.products])[prod]
        s1 = np.array([p[1] for p in tile.products])[prod]
        f = fracs[sel]
        classes = [np.flatnonzero(r).tolist() for r in f]
        fr = [r[np.flatnonzero(r)].astype(float).tolist() for r in f]
        sea = np.arctan2(tile.sea[1], tile.sea[0]) if tile.sea is not None else np.nan
        return pd.DataFrame({
            "patch_id": [f"DEMO_{p}_T{tile.tile}_{c}_{r}" for p, c, r in zip(s2, col, row, strict=True)],
            "dataset": self.dataset, "split": split, "tile": tile.tile, "country": tile.country,
            "x_min": x_min, "y_min": y_max - 600.0, "x_max": x_min + 600.0, "y_max": y_max,
            "acquired": acquired.reset_index(drop=True), "cloud_or_shadow": cloud, "seasonal_snow": snow,
            "s1_id": [f"DEMO_{p}_{tile.tile}_{c}_{r}" for p, c, r in zip(s1, col, row, strict=True)],
            "source": "generated",
            "tmp_key": ti * GRID * GRID + cell, "tmp_classes": classes, "tmp_fracs": fr,
            "tmp_month": acquired.dt.month.to_numpy(), "tmp_sea": sea,
            "tmp_prevalence": [tile.prevalence] * k,
        })

    def _inject_errors(self, df: pd.DataFrame, seed: int) -> pd.DataFrame:
        """Corrupt exactly ``round(noise_rate * n)`` patches' labels; record the truth in ``gt_*``."""
        n = len(df)
        n_bad = int(round(float(self.noise_rate) * n))
        rng = np.random.default_rng([seed, 0x4E4F4953])
        bad = np.zeros(n, dtype=bool)
        bad[rng.choice(n, size=n_bad, replace=False)] = True
        kinds = np.full(n, "none", dtype=object)
        labels = []
        for i, (true, prev) in enumerate(zip(df["tmp_classes"], df["tmp_prevalence"], strict=True)):
            if not bad[i]:
                labels.append(list(true))
                continue
            kind = str(rng.choice(_ERROR_KINDS, p=_ERROR_P))
            if kind == "drop" and len(true) < 2:
                kind = "add" if rng.random() < _ERROR_P[1] / (_ERROR_P[1] + _ERROR_P[2]) else "swap"
            absent = np.setdiff1d(np.arange(N_CLASSES), true)
            prev = np.asarray(prev, dtype=np.float64)
            if kind == "drop":
                gone = true[int(rng.integers(len(true)))]
                new = [c for c in true if c != gone]
            elif kind == "add":   # a class plausible in this tile but absent from the patch
                w = prev[absent] + 0.002
                new = sorted([*true, int(rng.choice(absent, p=w / w.sum()))])
            else:                 # swap one true label for a confusable class that is not there
                old = true[int(rng.integers(len(true)))]
                cands = [c for c in _CONFUSIONS[old] if c not in true]
                if not cands:
                    w = prev[absent] + 0.002
                    cands = [int(rng.choice(absent, p=w / w.sum()))]
                new = sorted([c for c in true if c != old] + [int(cands[int(rng.integers(len(cands)))])])
            labels.append(new)
            kinds[i] = kind
        df = df.drop(columns=["tmp_prevalence"])
        df["tmp_labels"] = labels
        df["gt_label_error"] = bad
        df["gt_error_kind"] = kinds.astype(str)
        return df

    # ------------------------------------------------------------------ pixels
    def read(self, row) -> dict[str, np.ndarray]:
        """Generate one patch's pixels (deterministic in ``seed`` and the patch, whatever the call order).

        Parameters
        ----------
        row : namedtuple
            A ``catalog.itertuples()`` record of :meth:`scan`'s frame.

        Returns
        -------
        dict
            ``s2_10m`` uint16 (4, 60, 60) B02 B03 B04 B08; ``s2_20m`` uint16 (6, 30, 30) B05 B06 B07 B8A B11 B12;
            ``s2_60m`` uint16 (2, 10, 10) B01 B09 (L2A reflectance x 10000, 1..10000); ``s1`` float32
            (2, 60, 60) VV, VH backscatter in dB.
        """
        sp = self._tables()
        rng = np.random.default_rng([int(self.seed), 0x50495853, int(row.tmp_key)])
        s2, s1 = _render(sp, rng, np.asarray(row.tmp_classes, dtype=np.intp),
                         np.asarray(row.tmp_fracs, dtype=np.float64), int(row.tmp_month), bool(row.seasonal_snow),
                         bool(row.cloud_or_shadow), float(row.tmp_sea), float(row.lat))
        return {
            "s2_10m": s2[[1, 2, 3, 7]],
            "s2_20m": _block_mean(s2[[4, 5, 6, 8, 10, 11]], 2),
            "s2_60m": _block_mean(s2[[0, 9]], 6),
            "s1": s1,
        }

