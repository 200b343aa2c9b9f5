"""Everything the dashboard reads, loaded once per app and kept on the Flask app (never a module global).

Callbacks reach it with :func:`get_data` (``flask.current_app.extensions["eomine"]``); it is read-only
after start-up, so concurrent callbacks never race on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from mining.knn import load_knn_catalog
from mining.projection import load_layout_catalog
from mining.workspace import Workspace

__all__ = ["AppData", "Filters", "get_data", "COLOR_BY"]

#: colour-by choices for the scatter and the map
COLOR_BY = {
    "label": "Label (first label)",
    "split": "Split",
    "country": "Country",
    "season": "Season",
    "flags": "Cloud / snow flags",
    "density": "Density",
    "suspicion": "Noise suspicion (eomine score)",
}

SPLIT_COLORS = {"train": "#1f77b4", "validation": "#ff7f0e", "test": "#2ca02c"}
FLAG_COLORS = {"clear": "#9aa5b1", "cloud or shadow": "#6a3d9a", "seasonal snow": "#00bcd4"}
SEASON_COLORS = {"Winter": "#4575b4", "Spring": "#91cf60", "Summer": "#fc8d59", "Fall": "#b35806"}


@dataclass(frozen=True)
class Filters:
    """Catalog filters applied to every panel (empty = no constraint)."""

    labels: tuple[str, ...] = ()
    label_mode: str = "any"          # any: at least one of `labels`; all: every one of them
    splits: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()      # "clear", "cloud_or_shadow", "seasonal_snow": keep patches with any

    @classmethod
    def from_dict(cls, d: dict | None) -> Filters:
        d = d or {}
        return cls(tuple(d.get("labels") or ()), d.get("label_mode") or "any", tuple(d.get("splits") or ()),
                   tuple(d.get("countries") or ()), tuple(d.get("flags") or ()))

    def to_dict(self) -> dict:
        return {"labels": list(self.labels), "label_mode": self.label_mode, "splits": list(self.splits),
                "countries": list(self.countries), "flags": list(self.flags)}

    @property
    def active(self) -> bool:
        return bool(self.labels or self.splits or self.countries or self.flags)


class RowLookup:
    """Patch id -> catalog row, as a read-only mapping backed by a hash index (``pd.Index``).

    Used like the dict it replaces (``row_of[pid]``, ``row_of.get(pid)``, ``pid in row_of``); building a Python
    dict of 549,488 ids took a second of every start-up.
    """

    def __init__(self, index: pd.Index):
        self._index = index

    def get(self, pid, default=None):
        try:
            row = self._index.get_loc(pid)
        except (KeyError, TypeError, pd.errors.InvalidIndexError):
            return default
        return int(row) if isinstance(row, int | np.integer) else default

    def __getitem__(self, pid) -> int:
        row = self.get(pid)
        if row is None:
            raise KeyError(pid)
        return row

    def __contains__(self, pid) -> bool:
        return self.get(pid) is not None

    def __len__(self) -> int:
        return len(self._index)


@dataclass
class AppData:
    """Workspace data in the columnar form the panels need.

    Attributes
    ----------
    ws : Workspace
    ids : ndarray of object, shape (n,)
        Patch ids in catalog order.
    px, py : ndarray of float32, shape (n,)
        Scatter (projection) coordinates; NaN where a patch has no projection.
    lon, lat : ndarray of float32, shape (n,)
    Y : ndarray of bool, shape (n, n_classes)
        Multi-hot labels (current labels).
    knn : ndarray of int32, shape (n, k) or None
        Neighbours as catalog rows (-1 where unknown).
    suspicion : ndarray of float32, shape (n,) or None
        Noise scores (``scores.parquet``; NaN where not scored), None without scores; follows a re-score.
    """

    ws: Workspace
    read_only: bool = False
    load_seconds: float = 0.0
    ids: np.ndarray = field(default=None)
    row_of: RowLookup = field(default=None)
    suspicion: np.ndarray | None = None

    @classmethod
    def load(cls, path, *, read_only: bool = False) -> AppData:
        from mining.quality import label_matrix

        t0 = time.perf_counter()
        ws = Workspace(path)
        self = cls(ws=ws, read_only=read_only)
        cat = ws.catalog
        self.cat = cat
        n = len(cat)
        self.n = n
        self.ids = cat["patch_id"].to_numpy(dtype=object)
        id_index = pd.Index(cat["patch_id"])  # built once: every id -> row lookup below reuses it
        self.row_of = RowLookup(id_index)
        self.classes = list(ws.nomenclature.classes)
        self.class_colors = list(ws.nomenclature.colors)
        self.short = list(ws.nomenclature.short)
        # the labels straight from Arrow (offsets + codes): pandas' object column would cost a Python loop
        self.Y = label_matrix(pq.read_table(ws.catalog_path, columns=["labels"]).column("labels"), self.classes)
        first = np.where(self.Y.any(1), self.Y.argmax(1), -1).astype(np.int16)
        self.first_label = first
        self.lon = cat["lon"].to_numpy(np.float32)
        self.lat = cat["lat"].to_numpy(np.float32)
        xy = load_layout_catalog(ws, id_index)
        self.has_projection = xy is not None
        if xy is None:
            xy = np.full((n, 2), np.nan, np.float32)
        self.px, self.py = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
        #: neighbours / cosine distances as catalog rows (-1 / inf without an embedding), and the graph's card
        self.knn = self.knn_dist = self.knn_card = None
        if (ws.path / "knn" / "indices.npy").is_file() and (ws.path / "embeddings.parquet").is_file():
            self.knn, self.knn_dist, self.knn_card = load_knn_catalog(ws, id_index)
        # categorical codes for colour-by
        self.codes = {"label": (first, self.class_colors, self.short)}
        for col, colors in (("split", SPLIT_COLORS), ("season", SEASON_COLORS)):
            vals = cat[col].fillna("(none)").astype(str)
            present = set(vals.unique())  # (a set of the Series itself would iterate every row in Python)
            names = [k for k in colors if k in present] + sorted(present - set(colors))
            pal = [colors.get(k, "#bbbbbb") for k in names]
            self.codes[col] = (pd.Categorical(vals, categories=names).codes.astype(np.int16), pal, names)
        countries = cat["country"].fillna("(none)").astype(str)
        cnames = sorted(countries.unique())
        from colorcet import glasbey_dark

        self.codes["country"] = (pd.Categorical(countries, categories=cnames).codes.astype(np.int16),
                                 [glasbey_dark[i % len(glasbey_dark)] for i in range(len(cnames))], cnames)
        flag = np.zeros(n, np.int16)
        flag[cat["cloud_or_shadow"].to_numpy(bool)] = 1
        flag[cat["seasonal_snow"].to_numpy(bool)] = 2
        self.codes["flags"] = (flag, list(FLAG_COLORS.values()), list(FLAG_COLORS))
        self.id_index = id_index
        self._scores_stamp = None
        self.sync_scores()  # colour-by suspicion from scores.parquet ("not scored" without one)
        self.splits = sorted(cat["split"].dropna().unique().tolist())
        self.countries = sorted(cat["country"].dropna().unique().tolist())
        self.renderer = None
        if ws.has_pixels:
            from mining.composites import CompositeRenderer

            self.renderer = CompositeRenderer().fit(ws.store)
        self.pixel_row = cat["pixel_row"].to_numpy(np.int64)
        self._init_edits()
        self.load_seconds = time.perf_counter() - t0
        return self

    # ------------------------------------------------------------------ curation (labels after edits)
    def _init_edits(self) -> None:
        import threading

        from mining.curation import EditLog

        # the log is created on the first edit; a damaged or deleted log stops start-up with a clear error
        self.edits = EditLog(self.ws, create=False if self.read_only else "on_write")
        self.edits_version = 0
        self.flagged = np.zeros(self.n, bool)
        self.excluded = np.zeros(self.n, bool)
        self._edits_lock = threading.Lock()
        self.sync_edits()

    def sync_edits(self) -> bool:
        """Refresh ``Y``, the first-label colours and the flagged / excluded masks when the edit log changed
        (a commit or undo from this or any other session or process). Cheap when nothing changed (one
        SQLite read of the last batch id); returns True when the labels were refreshed."""
        edits = getattr(self, "edits", None)
        if edits is None or edits.version() == self.edits_version:
            return False
        with self._edits_lock:
            cur = edits.current_labels()
            if cur.version == self.edits_version:
                return False
            first = np.where(cur.Y.any(1), cur.Y.argmax(1), -1).astype(np.int16)
            self.Y, self.first_label = cur.Y, first
            self.codes["label"] = (first, self.class_colors, self.short)
            self.flagged, self.excluded = cur.flagged, cur.excluded
            self.edits_version = cur.version
        return True

    def sync_scores(self) -> bool:
        """Refresh the suspicion colour codes when ``scores.parquet`` changed (``eomine score`` re-run while the
        app is serving). Cheap when nothing changed (one ``stat``); returns True when the codes were rebuilt."""
        try:
            stamp = (self.ws.path / "scores.parquet").stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp == self._scores_stamp and "suspicion" in self.codes:
            return False
        codes, self.suspicion = suspicion_codes(self.ws, self.id_index)
        self.codes["suspicion"] = codes, SUSPICION_COLORS, SUSPICION_NAMES
        self._scores_stamp = stamp
        return True

    # ------------------------------------------------------------------ queries
    def mask(self, f: Filters) -> np.ndarray | None:
        """Boolean mask (n,) of the patches passing the filters, or None when no filter is active."""
        if not f.active:
            return None
        m = np.ones(self.n, bool)
        if f.labels:
            idx = [self.classes.index(lab) for lab in f.labels if lab in self.classes]
            sub = self.Y[:, idx]
            m &= sub.all(1) if f.label_mode == "all" else sub.any(1)
        if f.splits:
            m &= self.cat["split"].isin(f.splits).to_numpy()
        if f.countries:
            m &= self.cat["country"].isin(f.countries).to_numpy()
        if f.flags:
            fm = np.zeros(self.n, bool)
            cs = self.cat["cloud_or_shadow"].to_numpy(bool)
            sn = self.cat["seasonal_snow"].to_numpy(bool)
            if "clear" in f.flags:
                fm |= ~cs & ~sn
            if "cloud_or_shadow" in f.flags:
                fm |= cs
            if "seasonal_snow" in f.flags:
                fm |= sn
            m &= fm
        return m

    def labels_of(self, row: int) -> list[str]:
        return [self.classes[j] for j in np.flatnonzero(self.Y[row])]

    def neighbours(self, row: int, k: int = 10) -> list[int]:
        if self.knn is None:
            return []
        return [int(r) for r in self.knn[row, :k] if r >= 0]


SUSPICION_BINS = (0.25, 0.5)
SUSPICION_NAMES = ["not scored", "no suspicion (< 0.25)", "some (0.25–0.5)", "flagged (≥ threshold)"]
SUSPICION_COLORS = ["#d9dde3", "#9ecae1", "#fd8d3c", "#b30000"]


def suspicion_codes(ws, id_index: pd.Index) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour-by ``suspicion`` codes (n,) int16 (0 not scored, 1 none, 2 some, 3 flagged) and the scores (n,)
    float32 (NaN where not scored; None without ``scores.parquet``), in catalog row order."""
    from mining.errors import WorkspaceError
    from mining.noise import load_scores

    n = len(id_index)
    codes = np.zeros(n, np.int16)
    try:
        df = load_scores(ws, columns=["patch_id", "score", "flagged"])
    except WorkspaceError:
        return codes, None
    rows = id_index.get_indexer(df["patch_id"])
    ok = rows >= 0
    s = df["score"].to_numpy(np.float32)[ok]
    c = np.where(s < SUSPICION_BINS[0], 1, 2).astype(np.int16)
    c[df["flagged"].to_numpy(bool)[ok]] = 3
    codes[rows[ok]] = c
    score = np.full(n, np.nan, np.float32)
    score[rows[ok]] = s
    return codes, score


def get_data() -> AppData:
    """The :class:`AppData` of the running app (from the Flask application context)."""
    from flask import current_app

    data = current_app.extensions["eomine"]
    data.sync_edits()  # labels after every committed edit, from any session
    data.sync_scores()  # suspicion colours after a re-run of `eomine score`
    return data
