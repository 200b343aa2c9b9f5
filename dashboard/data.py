"""The server state of one workspace.

* :class:`AppData` is an immutable snapshot: the workspace's arrays in the columnar form the panels need
  (loaded once at start-up and shared by every snapshot), the :class:`~dashboard.snapshots.Labels` after the
  edits and the :class:`~dashboard.snapshots.Scores` at one version each, and the declared
  :class:`~dashboard.snapshots.Caches`.
* :class:`AppState` is the one mutable object of a server (kept on the Flask app, never a module global): it
  holds the current snapshot and replaces it whole, in one assignment, when the edit log or the scores change.

A callback calls :func:`get_data` once and works on the snapshot it returns: the labels, flags and scores it
reads all belong to one version, whatever other threads commit meanwhile.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
import pandas as pd

from mining.workspace import Workspace

from .snapshots import (
    SPLIT_ORDER,
    SUSPICION_COLORS,
    UNCERTAINTY_COLORS,
    Caches,
    Labels,
    Predictions,
    Scores,
    predictions_stamp,
)

__all__ = ["AppData", "AppState", "Filters", "Scheme", "get_data", "get_state", "COLOR_BY", "NO_LABEL",
           "color_options"]

#: colour-by choices for the scatter and the map
COLOR_BY = {
    "label": "Label (first label)",
    "split": "Split",
    "leakage": "Split leakage (eomine audit)",
    "country": "Country",
    "season": "Season",
    "flags": "Cloud / snow flags",
    "density": "Density",
    "suspicion": "Noise suspicion (eomine score)",
    "labelled": "Labelled (active learning)",
    "predicted": "Predicted class (active learning)",
    "uncertainty": "Model uncertainty (active learning)",
    "qa": "Scene QA (SCL: clear, cloud, cirrus...)",
}
#: colour-by choices a workspace offers only when it has the data (see :func:`color_options`)
OPTIONAL_COLOR_BY = {"qa": "has_qa", "leakage": "has_splits"}
#: colour-by "labelled": what active learning knows of each patch (the first that applies, from the end)
LABELLED_NAMES = ("not labelled", "labelled in the catalog", "labelled by a curator", "unsure",
                  "removed from training")
LABELLED_COLORS = ("#d0d4da", "#6baed6", "#08519c", "#fd8d3c", "#67000d")

#: colour-by "leakage" (:data:`mining.audit.LEAKAGE_NAMES`): train, touching / near / near-duplicate (the
#: leaks, warm colours), apart, no split
LEAKAGE_COLORS = ("#9ecae1", "#b30000", "#fd8d3c", "#7a0177", "#31a354", "#d9dde3")

#: the "no label" category: a value of the label filter, and a colour and legend entry of colour-by label
NO_LABEL = "__no_label__"
NO_LABEL_NAME = "(no label)"
NO_LABEL_COLOR = "#5f6b7a"
SPLIT_COLORS = {"train": "#1f77b4", "validation": "#ff7f0e", "test": "#2ca02c", "(none)": "#d9dde3"}
FLAG_COLORS = {"clear": "#9aa5b1", "cloud or shadow": "#6a3d9a", "seasonal snow": "#00bcd4"}
SEASON_COLORS = {"Winter": "#4575b4", "Spring": "#91cf60", "Summer": "#fc8d59", "Fall": "#b35806"}


@dataclass(frozen=True)
class Filters:
    """Catalog filters applied to every panel (empty = no constraint)."""

    labels: tuple[str, ...] = ()     # class names, and NO_LABEL for the patches without any label
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


@dataclass(frozen=True, eq=False)
class Scheme:
    """A categorical colouring: ``codes`` (n,) int16 (-1 = not drawn), a colour and a name per code."""

    codes: np.ndarray
    colors: tuple[str, ...]
    names: tuple[str, ...]


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class AppData:
    """One immutable snapshot of the workspace as the panels see it.

    Attributes
    ----------
    ws : Workspace
        Its ``index`` is the one patch id -> catalog row lookup (:meth:`find`, :meth:`row`).
    read_only : bool
    n : int
    ids : ndarray of object, shape (n,)
        Patch ids in catalog order.
    cat : pandas.DataFrame
        The catalog (never modified).
    classes, class_colors, short : tuple of str
        The nomenclature: class names, colours, short names.
    px, py : ndarray of float32, shape (n,)
        Scatter (projection) coordinates; NaN where a patch has no projection.
    lon, lat : ndarray of float32, shape (n,)
    knn, knn_dist : ndarray of int32 / float32, shape (n, k), or None
        Neighbours as catalog rows (-1 where unknown) and their cosine distances.
    schemes : mapping of str -> Scheme
        The static colourings (split, season, country, flags); label and suspicion come from the snapshots.
    splits : tuple of str
        The splits a filter offers: train, validation, test and any other name of the catalog (a ``split`` edit
        may give any patch a split, so they are offered on every workspace; :attr:`has_splits` says whether some
        patch has one now).
    countries : tuple of str
    renderer : CompositeRenderer or None
        None without pixels.
    pixel_row : ndarray of int64, shape (n,)
    edits : EditLog or PostgresEditLog or None
        The curation log (a handle shared by every snapshot; its reads are thread-safe).
    labels : Labels
        The labels after the edits, at ``labels.version``.
    scores : Scores
        The noise scores.
    caches : Caches
        Declared caches, shared by every snapshot.
    load_seconds : float
    confirm_above : int
        An edit of more patches than this asks the curator to confirm it first (``eomine serve --confirm-above``).
    """

    ws: Workspace
    read_only: bool
    n: int
    ids: np.ndarray
    cat: pd.DataFrame
    classes: tuple[str, ...]
    class_colors: tuple[str, ...]
    short: tuple[str, ...]
    px: np.ndarray
    py: np.ndarray
    has_projection: bool
    lon: np.ndarray
    lat: np.ndarray
    knn: np.ndarray | None
    knn_dist: np.ndarray | None
    knn_card: MappingProxyType | None
    schemes: MappingProxyType
    splits: tuple[str, ...]
    countries: tuple[str, ...]
    renderer: object | None
    pixel_row: np.ndarray
    edits: object | None
    labels: Labels
    scores: Scores
    caches: Caches
    load_seconds: float = 0.0
    confirm_above: int = 1000

    @classmethod
    def load(cls, path, *, read_only: bool = False, confirm_above: int = 1000, log: str | None = None) -> AppData:
        """Read everything the panels need from the workspace at ``path``; the edit log from ``log``
        (``sqlite``, a ``postgresql://`` URL, or None: ``$EOMINE_LOG``, else ``WS/edits.sqlite``)."""
        from colorcet import glasbey_dark

        from mining.curation import open_log
        from mining.knn import has_knn, load_knn_catalog
        from mining.projection import load_layout_catalog
        from mining.qa import QA_COLORS, QA_NAMES, has_qa, qa_codes
        from mining.quality import label_matrix

        t0 = time.perf_counter()
        ws = Workspace(path)
        cat = ws.catalog
        n = len(cat)
        nom = ws.nomenclature
        xy = load_layout_catalog(ws)
        has_projection = xy is not None
        if xy is None:
            xy = np.full((n, 2), np.nan, np.float32)
        knn = knn_dist = knn_card = None
        if has_knn(ws):
            knn, knn_dist, card = load_knn_catalog(ws)
            knn_card = MappingProxyType(dict(card))
        schemes = {}
        for col, colors in (("season", SEASON_COLORS),):  # the split is edited: its scheme is in the labels
            vals = cat[col].fillna("(none)").astype(str)
            present = set(vals.unique())  # (a set of the Series itself would iterate every row in Python)
            names = [k for k in colors if k in present] + sorted(present - set(colors))
            schemes[col] = Scheme(_readonly(pd.Categorical(vals, categories=names).codes.astype(np.int16)),
                                  tuple(colors.get(k, "#bbbbbb") for k in names), tuple(names))
        countries = cat["country"].fillna("(none)").astype(str)
        cnames = sorted(countries.unique())
        schemes["country"] = Scheme(
            _readonly(pd.Categorical(countries, categories=cnames).codes.astype(np.int16)),
            tuple(glasbey_dark[i % len(glasbey_dark)] for i in range(len(cnames))), tuple(cnames))
        flag = np.zeros(n, np.int16)
        flag[cat["cloud_or_shadow"].to_numpy(bool)] = 1
        flag[cat["seasonal_snow"].to_numpy(bool)] = 2
        schemes["flags"] = Scheme(_readonly(flag), tuple(FLAG_COLORS.values()), tuple(FLAG_COLORS))
        if has_qa(cat):  # scenes: the SCL fractions' dominant condition (mining.qa)
            schemes["qa"] = Scheme(_readonly(qa_codes(cat)), QA_COLORS, QA_NAMES)
        renderer = None
        if ws.has_pixels:
            from mining.composites import CompositeRenderer

            renderer = CompositeRenderer().fit(ws.store)
        # the log is created on the first edit; a damaged or deleted log stops start-up with a clear error
        edits = open_log(ws, log, create=False if read_only else "on_write")
        if edits.version():
            labels = Labels.from_log(edits.current_labels())
        else:  # the labels straight from Arrow (offsets + codes): pandas' object column would cost a Python loop
            import pyarrow.parquet as pq

            Y = label_matrix(pq.read_table(ws.catalog_path, columns=["labels"]).column("labels"), nom.classes)
            labels = Labels.build(Y, split=cat["split"].to_numpy(object))
        classes = tuple(nom.classes)
        return cls(
            ws=ws, read_only=read_only, n=n, ids=ws.ids, cat=cat, classes=classes,
            class_colors=tuple(nom.colors), short=tuple(nom.short),
            px=_readonly(np.ascontiguousarray(xy[:, 0])), py=_readonly(np.ascontiguousarray(xy[:, 1])),
            has_projection=has_projection, lon=_readonly(cat["lon"].to_numpy(np.float32)),
            lat=_readonly(cat["lat"].to_numpy(np.float32)), knn=knn, knn_dist=knn_dist, knn_card=knn_card,
            schemes=MappingProxyType(schemes),
            splits=(*SPLIT_ORDER, *sorted(set(cat["split"].dropna().unique().tolist()) - set(SPLIT_ORDER))),
            countries=tuple(sorted(cat["country"].dropna().unique().tolist())), renderer=renderer,
            pixel_row=_readonly(cat["pixel_row"].to_numpy(np.int64)), edits=edits, labels=labels,
            scores=Scores.load(ws, classes), caches=Caches(), load_seconds=time.perf_counter() - t0,
            confirm_above=int(confirm_above))

    @property
    def has_qa(self) -> bool:
        """Whether the patches have SCL QA fractions (cut from an L2A scene): colour-by "qa" is offered."""
        return "qa" in self.schemes

    # ------------------------------------------------------------------ the snapshot's labels and scores
    @property
    def Y(self) -> np.ndarray:
        """Current labels, multi-hot, shape (n, n_classes) (``labels.Y``)."""
        return self.labels.Y

    @property
    def edits_version(self) -> int:
        return self.labels.version

    def scheme(self, color: str) -> Scheme:
        """The categorical colouring ``color`` (a key of :data:`COLOR_BY`; unknown keys colour by label)."""
        if color == "suspicion":
            return Scheme(self.scores.codes, SUSPICION_COLORS, self.scores.names)
        if color == "labelled":
            return Scheme(self.labelled_codes(), LABELLED_COLORS, LABELLED_NAMES)
        if color == "predicted":
            return Scheme(self.predictions().first, (*self.class_colors, NO_LABEL_COLOR),
                          (*self.short, "no prediction"))
        if color == "uncertainty":
            pred = self.predictions()
            return Scheme(pred.uncertainty_codes, UNCERTAINTY_COLORS, pred.uncertainty_names)
        if color == "leakage":
            from mining.audit import LEAKAGE_NAMES

            return Scheme(self.leakage_codes(), LEAKAGE_COLORS, LEAKAGE_NAMES)
        if color == "split":
            names = self.labels.split_names
            return Scheme(self.labels.split_codes, tuple(SPLIT_COLORS.get(k, "#bbbbbb") for k in names), names)
        if color in self.schemes:
            return self.schemes[color]
        return Scheme(self.labels.codes, (*self.class_colors, NO_LABEL_COLOR), (*self.short, NO_LABEL_NAME))

    def labelled_codes(self) -> np.ndarray:
        """Colour-by "labelled": a code of :data:`LABELLED_NAMES` per patch, from the snapshot's labels."""
        lab = self.labels
        codes = lab.catalog_labelled.astype(np.int16)
        codes[lab.decided] = 2
        codes[lab.flagged & ~lab.decided] = 3
        codes[lab.excluded] = 4
        return codes

    def leakage_codes(self) -> np.ndarray:
        """Colour-by "leakage": the split audit patch by patch (:func:`mining.audit.leakage_per_patch`) on the
        snapshot's splits, shape (n,) int16 (computed once per labels version, through the declared cache)."""
        def build():
            from mining.audit import leakage_per_patch
            from mining.splits import patch_widths_km

            w = patch_widths_km(self.cat)
            width = float(np.nanmedian(w)) if np.isfinite(w).any() else 1.2
            codes = leakage_per_patch(self.lon, self.lat, self.labels.split, width_km=width, indices=self.knn,
                                      distances=self.knn_dist)
            return _readonly(codes)

        return self.caches.leakage.get(self.labels.version, build)

    def predictions(self) -> Predictions:
        """The active-learning model's latest predictions (``WS/active/predictions.parquet``; read once per
        version of the file, through the declared cache)."""
        stamp = predictions_stamp(self.ws)
        return self.caches.predictions.get(stamp, lambda: Predictions.load(self.ws, self.classes))

    # ------------------------------------------------------------------ queries
    def find(self, patch_id) -> int | None:
        """Catalog row of ``patch_id``, or None when it is not in the workspace."""
        return self.ws.find(patch_id)

    def row(self, patch_id: str) -> int:
        """Catalog row of ``patch_id`` (``KeyError`` naming it when unknown)."""
        return self.ws.row_of(patch_id)

    def mask(self, f: Filters) -> np.ndarray | None:
        """Boolean mask (n,) of the patches passing the filters, or None when no filter is active."""
        if not f.active:
            return None
        m = np.ones(self.n, bool)
        if f.labels:
            Y = self.labels.Y
            idx = [self.classes.index(lab) for lab in f.labels if lab in self.classes]
            sub = Y[:, idx]
            none = ~Y.any(1) if NO_LABEL in f.labels else None
            if f.label_mode == "all":  # every chosen label (and "no label" only matches patches without any)
                m &= sub.all(1) if none is None else (none if not idx else np.zeros(self.n, bool))
            else:
                m &= sub.any(1) if none is None else (sub.any(1) | none)
        if f.splits:
            names = self.labels.split_names
            m &= np.isin(self.labels.split_codes, [names.index(s) for s in f.splits if s in names])
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

    @property
    def has_splits(self) -> bool:
        """Some patch has a split now (the catalog's, or one given by a ``split`` edit)."""
        return bool((self.labels.split_codes != len(self.labels.split_names) - 1).any())

    def labels_of(self, row: int) -> list[str]:
        return [self.classes[j] for j in np.flatnonzero(self.labels.Y[row])]

    def neighbours(self, row: int, k: int = 10) -> list[int]:
        if self.knn is None:
            return []
        return [int(r) for r in self.knn[row, :k] if r >= 0]


class AppState:
    """The one mutable object of a server: the current :class:`AppData` snapshot, replaced whole.

    :meth:`sync` is cheap when nothing changed (one read of the log's version, SQLite or PostgreSQL, and one
    ``stat`` of the scores); otherwise it builds the new labels / scores once, under a lock, and swaps the snapshot in one
    assignment.
    """

    __slots__ = ("_current", "_lock")

    def __init__(self, data: AppData):
        self._current = data
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path, *, read_only: bool = False, confirm_above: int = 1000, log: str | None = None) -> AppState:
        return cls(AppData.load(path, read_only=read_only, confirm_above=confirm_above, log=log))

    @property
    def current(self) -> AppData:
        """The latest snapshot (without checking the log or the scores)."""
        return self._current

    def sync(self) -> AppData:
        """The snapshot with the labels of the log's latest version and the scores on disk now."""
        from mining.noise import scores_stamp

        data = self._current
        version = data.edits.version() if data.edits is not None else 0
        stamp = scores_stamp(data.ws)
        if version == data.labels.version and stamp == data.scores.stamp:
            return data
        with self._lock:
            data = self._current
            labels, scores = data.labels, data.scores
            if data.edits is not None and data.edits.version() != labels.version:
                labels = Labels.from_log(data.edits.current_labels())
            if scores_stamp(data.ws) != scores.stamp:
                scores = Scores.load(data.ws, data.classes)
            if labels is not data.labels or scores is not data.scores:
                data = replace(data, labels=labels, scores=scores)
                self._current = data
        return data


def color_options(data: AppData) -> list[dict]:
    """The colour-by dropdown's options for this workspace: :data:`COLOR_BY` less the optional ones it has no data
    for (:data:`OPTIONAL_COLOR_BY`)."""
    return [{"label": v, "value": k} for k, v in COLOR_BY.items()
            if k not in OPTIONAL_COLOR_BY or getattr(data, OPTIONAL_COLOR_BY[k])]


def get_state() -> AppState:
    """The :class:`AppState` of the running app (from the Flask application context)."""
    from flask import current_app

    return current_app.extensions["eomine"]


def get_data() -> AppData:
    """The current snapshot of the running app: labels after every committed edit (from any session or
    process) and the scores of the latest ``eomine score``."""
    return get_state().sync()
