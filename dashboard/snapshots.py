"""The parts of the server state that change while it serves, as immutable snapshots, and the declared caches.

* :class:`Labels`: the labels and curation states after the edit log's active batches, at one log version;
* :class:`Scores`: the noise scores (``scores.parquet``) at one version of that file, with the review queue's
  suspects;
* :class:`Memo` / :class:`Caches`: every cache the app keeps, declared in one place, keyed and locked.

A snapshot is built whole and never modified (its arrays are read-only), so a callback that holds one sees
labels, flags and scores of one version, whatever other threads commit meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = ["Labels", "SPLIT_ORDER", "NO_SPLIT", "split_scheme", "Scores", "ReviewScores", "Predictions", "Memo", "Caches", "SUSPICION_COLORS",
           "suspicion_names", "predictions_stamp", "uncertainty_names"]

#: colours of the suspicion bins: not scored, none, some, flagged
SUSPICION_COLORS = ("#d9dde3", "#9ecae1", "#fd8d3c", "#b30000")
#: scores below this (or below half the flag threshold, when that is lower) count as "no suspicion"
SUSPICION_LOW = 0.25


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


#: the splits in their display order, and the name of "no split"
SPLIT_ORDER = ("train", "validation", "test")
NO_SPLIT = "(none)"


def split_scheme(split: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes (int16, shape (n,)) and names of a split array: :data:`SPLIT_ORDER`, other names present (sorted),
    then :data:`NO_SPLIT` for None.

    One hash pass over the values (built on every edit: 549,488 patches take about 20 ms)."""
    import pandas as pd

    codes, uniq = pd.factorize(np.asarray(split, dtype=object), use_na_sentinel=True)  # None -> -1
    present = [str(u) for u in uniq]
    names = (*SPLIT_ORDER, *sorted(set(present) - set(SPLIT_ORDER) - {NO_SPLIT}), NO_SPLIT)
    lookup = np.array([names.index(u) for u in present] + [len(names) - 1], np.int16)  # -1 -> NO_SPLIT
    return lookup[codes], names


# --------------------------------------------------------------------------- labels after edits
@dataclass(frozen=True, eq=False)
class Labels:
    """Labels and curation states of every patch at one version of the edit log (catalog order).

    Attributes
    ----------
    version : int
        The edit log's last batch id these labels include (0: the catalog's labels).
    Y : ndarray of bool, shape (n, n_classes)
    first : ndarray of int16, shape (n,)
        Index of the first label; -1 for a patch without any label.
    codes : ndarray of int16, shape (n,)
        Colour-by "label": the first label's index, or ``n_classes`` ("no label", a category of its own that is
        drawn, counted and filterable like the classes).
    flagged, excluded, confirmed, changed : ndarray of bool, shape (n,)
        Flagged doubtful; excluded from its split; a reviewer's ``keep`` is the latest label decision; labels
        differ from the catalog's.
    decided : ndarray of bool, shape (n,)
        A person decided the patch's labels in an active batch of the log (active learning's "labelled by a
        curator").
    catalog_labelled : ndarray of bool, shape (n,)
        The catalog gave the patch at least one label.
    split : ndarray of object, shape (n,)
        The current split of each patch (after the log's ``split`` edits; None: no split).
    split_codes : ndarray of int16, shape (n,)
        Colour-by "split": the index of each patch's split in ``split_names``.
    split_names : tuple of str
        ``train, validation, test``, other names the catalog uses, then ``(none)``.
    """

    version: int
    Y: np.ndarray
    first: np.ndarray
    codes: np.ndarray
    flagged: np.ndarray
    excluded: np.ndarray
    confirmed: np.ndarray
    changed: np.ndarray
    decided: np.ndarray
    catalog_labelled: np.ndarray
    split: np.ndarray
    split_codes: np.ndarray
    split_names: tuple[str, ...]

    @property
    def labelled(self) -> np.ndarray:
        """Labelled for active learning: the catalog gave labels or a person decided them (bool, (n,))."""
        return self.catalog_labelled | self.decided

    @classmethod
    def build(cls, Y: np.ndarray, *, version: int = 0, Y_original: np.ndarray | None = None,
              flagged: np.ndarray | None = None, excluded: np.ndarray | None = None,
              confirmed: np.ndarray | None = None, decided: np.ndarray | None = None,
              split: np.ndarray | None = None) -> Labels:
        n = len(Y)
        no = np.zeros(n, bool)
        has = Y.any(1)
        first = np.where(has, Y.argmax(1), -1).astype(np.int16)
        codes = np.where(has, first, Y.shape[1]).astype(np.int16)
        changed = (Y != Y_original).any(1) if Y_original is not None else no.copy()
        catalog = (Y_original if Y_original is not None else Y).any(1)
        arrays = [Y, first, codes, no if flagged is None else flagged, no if excluded is None else excluded,
                  no if confirmed is None else confirmed, changed, no if decided is None else decided, catalog]
        if split is None:
            split = np.full(n, None, object)
        else:  # a catalog column read through pandas has NaN where the split is missing: None, as in the log
            import pandas as pd

            split = np.asarray(split, dtype=object)
            split = np.where(pd.isna(split), None, split)
        split_codes, split_names = split_scheme(split)
        return cls(int(version), *(_frozen(np.asarray(a)) for a in arrays), _frozen(split.copy()),
                   _frozen(split_codes), split_names)

    @classmethod
    def from_log(cls, cur) -> Labels:
        """From :meth:`mining.curation.EditLog.current_labels` (one read of the log: labels and states agree)."""
        return cls.build(cur.Y, version=cur.version, Y_original=cur.Y_original, flagged=cur.flagged,
                         excluded=cur.excluded, confirmed=cur.confirmed, decided=cur.decided, split=cur.split)


# --------------------------------------------------------------------------- noise scores
def suspicion_names(threshold: float | None) -> tuple[str, ...]:
    """Legend names of the suspicion bins for the flag threshold the scores were made with."""
    if threshold is None:
        return ("not scored", "no suspicion", "some", "flagged")
    low = min(SUSPICION_LOW, threshold / 2)
    return ("not scored", f"no suspicion (< {low:.2g})", f"some ({low:.2g}–{threshold:.2g})",
            f"flagged (≥ {threshold:.2g})")


class ReviewScores:
    """The flagged patches of ``scores.parquet`` in rank order (most suspicious first), aligned to catalog rows.

    Attributes
    ----------
    n_scored : int
        Patches in ``scores.parquet``.
    rows : ndarray of int64, shape (m,)
        Catalog row of each flagged patch.
    rank : ndarray of int64, shape (m,)
    score : ndarray of float32, shape (m,)
    kind : ndarray of object, shape (m,)
        ``spurious`` / ``missing`` / ``outlier``.
    labels, suggested : ndarray of bool, shape (m, n_classes)
        The labels that were scored, and the suggested labels.
    table : pyarrow.Table
        The rows themselves (evidence lists), read one at a time by :meth:`evidence`.
    """

    def __init__(self, table, rows: np.ndarray, n_scored: int, classes):
        from mining.quality import label_matrix

        keep = rows >= 0
        if not keep.all():
            import pyarrow as pa

            table = table.filter(pa.array(keep))
            rows = rows[keep]
        self.table = table
        self.n_scored = int(n_scored)
        self.rows = _frozen(rows.astype(np.int64))
        self.rank = _frozen(table.column("rank").to_numpy().astype(np.int64))
        self.score = _frozen(table.column("score").to_numpy().astype(np.float32))
        self.kind = _frozen(table.column("kind").to_numpy(zero_copy_only=False).astype(object))
        self.labels = _frozen(label_matrix(table.column("labels"), classes))
        self.suggested = _frozen(label_matrix(table.column("suggested"), classes))

    def __len__(self) -> int:
        return len(self.rows)

    def evidence(self, pos: int) -> dict:
        """Row ``pos`` of the scores (every column, evidence lists included) as a dict."""
        return self.table.slice(int(pos), 1).to_pylist()[0]


@dataclass(frozen=True, eq=False)
class Scores:
    """The noise scores at one version of ``scores.parquet`` (catalog order).

    Attributes
    ----------
    stamp : tuple or None
        :func:`mining.noise.scores_stamp` of the file these scores were read from; None without scores.
    score : ndarray of float32, shape (n,) or None
        Suspicion per patch (NaN where not scored); None without scores.
    codes : ndarray of int16, shape (n,)
        Colour-by "suspicion": 0 not scored, 1 none, 2 some, 3 flagged.
    names : tuple of str
        Legend names of the four codes (they quote the flag threshold).
    threshold : float or None
        The flag threshold the scores were made with.
    card : mapping
        ``scores.json``.
    review : ReviewScores or None
        The flagged patches (the review queue).
    """

    stamp: tuple | None
    score: np.ndarray | None
    codes: np.ndarray
    names: tuple[str, ...]
    threshold: float | None = None
    card: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    review: ReviewScores | None = None

    @classmethod
    def none(cls, n: int) -> Scores:
        return cls(None, None, _frozen(np.zeros(n, np.int16)), suspicion_names(None))

    @classmethod
    def load(cls, ws, classes) -> Scores:
        """Read the workspace's scores once (the stamp is taken around the read, so a file replaced meanwhile is
        read again); :meth:`none` without scores."""
        from mining.noise import load_scores, load_scores_card, scores_stamp

        n = len(ws.index)
        for _ in range(5):
            stamp = scores_stamp(ws)
            if stamp is None:
                return cls.none(n)
            card = load_scores_card(ws) or {}
            full = load_scores(ws, columns=["patch_id", "score", "flagged"])
            flagged = load_scores(ws, flagged_only=True)
            if scores_stamp(ws) == stamp:
                break
        rows = ws.rows_of(full["patch_id"].to_numpy(object))
        ok = rows >= 0
        s = full["score"].to_numpy(np.float32)[ok]
        threshold = (card.get("params") or {}).get("flag_threshold")
        threshold = float(threshold) if threshold is not None else None
        low = min(SUSPICION_LOW, threshold / 2) if threshold is not None else SUSPICION_LOW
        c = np.where(s < low, 1, 2).astype(np.int16)
        c[full["flagged"].to_numpy(bool)[ok]] = 3
        codes = np.zeros(n, np.int16)
        codes[rows[ok]] = c
        score = np.full(n, np.nan, np.float32)
        score[rows[ok]] = s
        review = ReviewScores(flagged, ws.rows_of(flagged.column("patch_id").to_numpy(zero_copy_only=False)),
                              len(full), classes)
        return cls(stamp, _frozen(score), _frozen(codes), suspicion_names(threshold), threshold,
                   MappingProxyType(dict(card)), review)


# --------------------------------------------------------------------------- active-learning predictions
def predictions_stamp(ws) -> tuple | None:
    """(mtime_ns, size) of ``WS/active/predictions.parquet``, or None when there is none: the key of the cache of
    :class:`Predictions`."""
    try:
        st = ws.files.predictions.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


#: bins of colour-by "uncertainty": no prediction, labelled, then thirds of the unlabelled patches' uncertainty
UNCERTAINTY_NAMES = ("no prediction", "labelled", "least unsure third", "middle third", "most unsure third")
UNCERTAINTY_COLORS = ("#d9dde3", "#525252", "#9ecae1", "#fd8d3c", "#b30000")


def uncertainty_names(q1: float, q2: float) -> tuple[str, ...]:
    """Legend names of the uncertainty bins with the thirds' bounds (the model's uncertainty is in [0, 1])."""
    return (*UNCERTAINTY_NAMES[:2], f"least unsure third (< {q1:.2f})", f"middle third ({q1:.2f}–{q2:.2f})",
            f"most unsure third (≥ {q2:.2f})")


@dataclass(frozen=True, eq=False)
class Predictions:
    """The active-learning model's predictions (``WS/active/predictions.parquet``) at one version of that file,
    aligned to catalog rows.

    Attributes
    ----------
    stamp : tuple or None
        :func:`predictions_stamp` of the file read; None without predictions.
    first : ndarray of int16, shape (n,)
        Colour-by "predicted": the first predicted class, or ``n_classes`` (no prediction).
    uncertainty_codes : ndarray of int16, shape (n,)
        Colour-by "uncertainty": a bin of :data:`UNCERTAINTY_NAMES`.
    uncertainty : ndarray of float32, shape (n,)
        NaN where the model made no prediction.
    uncertainty_names : tuple of str
        Legend names of the uncertainty bins (thirds of the unlabelled patches, with their bounds).
    edits_version : int
        The edit-log version the model was fitted on.
    """

    stamp: tuple | None
    first: np.ndarray
    uncertainty_codes: np.ndarray
    uncertainty: np.ndarray
    uncertainty_names: tuple[str, ...] = UNCERTAINTY_NAMES
    edits_version: int = 0

    @classmethod
    def none(cls, n: int, n_classes: int) -> Predictions:
        return cls(None, _frozen(np.full(n, n_classes, np.int16)), _frozen(np.zeros(n, np.int16)),
                   _frozen(np.full(n, np.nan, np.float32)))

    @classmethod
    def load(cls, ws, classes) -> Predictions:
        """Read the predictions once; :meth:`none` without (or with an unreadable) file."""
        import pyarrow.parquet as pq

        from mining.quality import label_matrix

        n, k = len(ws.index), len(classes)
        stamp = predictions_stamp(ws)
        if stamp is None:
            return cls.none(n, k)
        try:
            t = pq.read_table(ws.files.predictions, columns=["patch_id", "predicted", "uncertainty", "labelled"])
        except (OSError, ValueError, KeyError):
            return cls.none(n, k)
        rows = ws.rows_of(t.column("patch_id").to_numpy(zero_copy_only=False))
        ok = rows >= 0
        P = label_matrix(t.column("predicted"), classes)[ok]
        unc = t.column("uncertainty").to_numpy(zero_copy_only=False).astype(np.float32)[ok]
        lab = t.column("labelled").to_numpy(zero_copy_only=False).astype(bool)[ok]
        first = np.full(n, k, np.int16)
        first[rows[ok]] = np.where(P.any(1), P.argmax(1), k)
        u = np.full(n, np.nan, np.float32)
        u[rows[ok]] = unc
        codes = np.zeros(n, np.int16)
        pool = np.isfinite(unc) & ~lab
        q1, q2 = (np.quantile(unc[pool], [1 / 3, 2 / 3]) if pool.any() else (0.25, 0.5))
        c = np.where(unc < q1, 2, np.where(unc < q2, 3, 4)).astype(np.int16)
        c[~np.isfinite(unc)] = 0
        c[lab] = 1
        codes[rows[ok]] = c
        version = int((t.schema.metadata or {}).get(b"edits_version", b"0") or 0)
        return cls(stamp, _frozen(first), _frozen(codes), _frozen(u), uncertainty_names(float(q1), float(q2)),
                   version)


# --------------------------------------------------------------------------- caches
class Memo:
    """One declared cache: a value built once per key under a lock; the ``size`` newest keys are kept.

    Parameters
    ----------
    name : str
    size : int
        Keys kept (the oldest is dropped first).
    """

    def __init__(self, name: str, *, size: int = 1):
        self.name = name
        self.size = size
        self._lock = threading.Lock()
        self._items: dict[Hashable, Any] = {}

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The value for ``key``, built by ``build()`` the first time (other threads asking meanwhile wait)."""
        with self._lock:
            if key in self._items:
                return self._items[key]
            value = build()
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.pop(next(iter(self._items)))
            return value

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """The value for ``key`` if it is kept, else ``default`` (nothing is built)."""
        with self._lock:
            return self._items.get(key, default)

    def put(self, key: Hashable, value: Any) -> None:
        """Keep ``value`` for ``key`` (the newest; the oldest beyond ``size`` is dropped)."""
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.pop(next(iter(self._items)))

    def __repr__(self) -> str:
        return f"Memo({self.name!r}, {len(self._items)}/{self.size})"


@dataclass(frozen=True, eq=False)
class Caches:
    """Every cache of the app, declared here (key of each in brackets). Static data never expires; caches of
    data that changes are keyed on its version."""

    kdtree: Memo = field(default_factory=lambda: Memo("kdtree", size=2))      # ["scatter" | "map"]
    grid_order: Memo = field(default_factory=lambda: Memo("grid_order"))      # [None]
    map_xy: Memo = field(default_factory=lambda: Memo("map_xy"))              # [None]
    footprints: Memo = field(default_factory=lambda: Memo("footprints"))      # [None]
    basemap: Memo = field(default_factory=lambda: Memo("basemap", size=32))  # [("rings" | "path", level of detail)]
    tour_graph: Memo = field(default_factory=lambda: Memo("tour_graph"))      # [None] (labels passed per tour)
    tour_mini: Memo = field(default_factory=lambda: Memo("tour_mini", size=2))  # [labels version]
    embedding_name: Memo = field(default_factory=lambda: Memo("embedding_name"))  # [None]
    selection: Memo = field(default_factory=lambda: Memo("selection", size=4))  # [the selection's JSON]
    basemap_image: Memo = field(default_factory=lambda: Memo("basemap_image", size=4))  # [(box, width, height)]
    #: the map's scene view: footprint corners in plot coordinates, and the imagery of the latest views
    scene_corners: Memo = field(default_factory=lambda: Memo("scene_corners"))  # [None]
    scene_image: Memo = field(default_factory=lambda: Memo("scene_image", size=4))  # [(box, width, height, composite)]
    #: the curation toolbar's latest actions: a repeat of the same action by the same curator within a couple of
    #: seconds (a double click whose first request came back before the second click) is answered with the first
    #: result instead of a second batch or a "nothing to change"
    recent_actions: Memo = field(default_factory=lambda: Memo("recent_actions", size=64))  # [(author, action)]
    #: the active-learning model's predictions (:class:`Predictions`), read once per version of the file
    predictions: Memo = field(default_factory=lambda: Memo("predictions"))  # [predictions_stamp]
    #: colour-by "split leakage" (:meth:`dashboard.data.AppData.leakage_codes`), per labels version (splits are
    #: edits)
    leakage: Memo = field(default_factory=lambda: Memo("leakage", size=2))  # [labels version]
    #: the Label tab's :class:`mining.labelling.LabellingSession` (its embeddings and graph loaded once), kept
    #: with the stamp of ``WS/active/state.json`` it last read or wrote: another writer (``eomine learn``) makes
    #: the next round read the file again
    learning: Memo = field(default_factory=lambda: Memo("learning"))  # [state.json stamp]
