"""Dataset tours: walks through the stored kNN graph that present a dataset patch by patch.

The strategies themselves (random, grand, boundary, class) are array-in / array-out functions in
:mod:`mining.walks` (re-exported here). This module connects them to a workspace: :class:`TourGraph` builds their
arrays from the workspace's artifacts (the one stored kNN graph, never a second neighbour search), :class:`Tour`
is the estimator that computes one tour and keeps its parameters, and :func:`describe_stops` says what each stop
shows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._internal.validation import SEED, Instance, Interval, Options, validate_params
from .errors import DataError
from .nomenclature import Nomenclature
from .walks import (
    Walk,
    border_scores,
    boundary_tour,
    class_tour,
    grand_tour,
    graph_rows,
    haversine_km,
    random_walk,
    short_path,
)

__all__ = ["STRATEGIES", "TOUR_FORMAT_VERSION", "Tour", "TourGraph", "Walk", "boundary_tour", "class_tour",
           "grand_tour", "random_walk", "describe_stops", "border_scores", "short_path"]

TOUR_FORMAT_VERSION = 1
STRATEGIES = ("random", "grand", "boundary", "class")


# ------------------------------------------------------------------------------------------------ the graph
@dataclass
class TourGraph:
    """The arrays a tour needs, in catalog-row order.

    Attributes
    ----------
    patch_ids : ndarray of object, shape (n,)
    classes : list of str
    ind : ndarray of int32, shape (n, k)
        kNN neighbours as catalog rows, -1 where unknown (patches without embeddings).
    dist : ndarray of float32, shape (n, k)
    Y : ndarray of bool, shape (n, n_classes)
        Labels (the current labels after curation edits when the workspace has an edit log).
    xy : ndarray of float32, shape (n, 2) or None
        The 2-D layout (NaN where unknown); None without a projection.
    lonlat : ndarray of float64, shape (n, 2)
    country : ndarray of object, shape (n,) or None
    suspicion : ndarray of float32, shape (n,) or None
        ``scores.parquet`` suspicion (NaN where unknown); None without scores.
    metric : str
    knn_key : str
        Identity of the stored kNN graph (its card's key).
    nomenclature : Nomenclature or None
        The workspace's classes with their short names (resolves a class given by name, :meth:`label_index`);
        None: the classes alone.
    """

    patch_ids: np.ndarray
    classes: list
    ind: np.ndarray
    dist: np.ndarray
    Y: np.ndarray
    xy: np.ndarray | None = None
    lonlat: np.ndarray | None = None
    country: np.ndarray | None = None
    suspicion: np.ndarray | None = None
    metric: str = "cosine"
    knn_key: str = ""
    _index: pd.Index | None = field(default=None, repr=False)
    nomenclature: Nomenclature | None = field(default=None, repr=False)

    @classmethod
    def from_workspace(cls, ws, *, Y: np.ndarray | None = None, xy: np.ndarray | None = None,
                       knn: tuple[np.ndarray, np.ndarray, dict] | None = None,
                       suspicion: np.ndarray | None = None) -> TourGraph:
        """Load the stored kNN graph, labels, layout, coordinates and (when present) noise scores.

        Parameters
        ----------
        ws : Workspace or path-like
        Y : ndarray of bool, shape (n, n_classes), optional
            Labels to use (e.g. the dashboard's current labels); default: the edit log's current labels when
            the workspace has one, else the catalog's.
        xy : ndarray of float, shape (n, 2), optional
            The layout in catalog order when the caller has it already.
        knn : (indices, distances, card), optional
            The graph in catalog order (:func:`mining.knn.load_knn_catalog`) when the caller has it already.
        suspicion : ndarray of float32, shape (n,), optional
            Noise scores in catalog order (NaN where not scored) when the caller has them already; default:
            read from ``scores.parquet`` when the workspace has one.
        """
        from .knn import load_knn_catalog
        from .projection import load_layout_catalog
        from .workspace import Workspace

        ws = ws if isinstance(ws, Workspace) else Workspace(ws)
        cat = ws.catalog
        ind, dist, card = load_knn_catalog(ws) if knn is None else knn
        classes = list(ws.nomenclature.classes)
        if Y is None:
            Y = _current_labels(ws, cat, classes)
        if xy is None:
            xy = load_layout_catalog(ws)
        if suspicion is None:
            suspicion = _suspicion(ws)
        lonlat = np.c_[cat["lon"].to_numpy(np.float64), cat["lat"].to_numpy(np.float64)]
        country = cat["country"].to_numpy(dtype=object) if "country" in cat.columns else None
        return cls(ws.ids, classes, ind, dist, np.asarray(Y, bool), xy, lonlat, country, suspicion,
                   card.get("params", {}).get("metric", "cosine"), card.get("key", ""), ws.index,
                   nomenclature=ws.nomenclature)

    @property
    def n(self) -> int:
        return len(self.ind)

    def row(self, patch_id: str) -> int:
        """Catalog row of a patch (raises :class:`DataError` naming it)."""
        if self._index is None:
            self._index = pd.Index(self.patch_ids)
        r = int(self._index.get_indexer([patch_id])[0])
        if r < 0:
            raise DataError(f"patch {patch_id!r} is not in the workspace")
        return r

    def resolve_label(self, label: str) -> str:
        """The class ``label`` names: its exact name, the short name the app displays (``"Urban"``), or either
        in another case (:meth:`mining.nomenclature.Nomenclature.resolve`); :class:`DataError` listing the
        closest names otherwise."""
        nom = self.nomenclature
        if nom is None or list(nom.classes) != list(self.classes):
            nom = Nomenclature("workspace", tuple(self.classes), ("#000000",) * len(self.classes))
        return nom.resolve(label)

    def label_index(self, label: str) -> int:
        """Column of the class ``label`` names (see :meth:`resolve_label`)."""
        return self.classes.index(self.resolve_label(label))


def _suspicion(ws) -> np.ndarray | None:
    """Noise scores in catalog order (NaN where not scored), or None when the workspace has none."""
    from .noise import load_scores

    if not ws.files.scores.is_file():  # written by the noise detection (`eomine score`); optional
        return None
    s = load_scores(ws, columns=["patch_id", "score"])
    out = np.full(len(ws.index), np.nan, np.float32)
    rows = ws.rows_of(s["patch_id"].to_numpy(object))
    ok = rows >= 0
    out[rows[ok]] = s["score"].to_numpy(np.float32)[ok]
    return out


def _current_labels(ws, cat, classes) -> np.ndarray:
    from .curation import open_log

    log = open_log(ws, create=False)  # $EOMINE_LOG, else WS/edits.sqlite
    try:
        if log.exists_:
            return log.current_labels().Y
    finally:
        log.close()
    from .quality import label_matrix

    return label_matrix(cat["labels"], classes)


# ------------------------------------------------------------------------------------------------ estimator
class Tour:
    """One tour through a workspace: strategy, parameters and (after :meth:`fit`) its stops.

    Parameters
    ----------
    strategy : {"random", "grand", "boundary", "class"}
    steps : int
        Number of stops (the grand tour by class has one stop per class and ignores it; by cluster it is the
        number of clusters).
    start : str or None
        Patch id of the first stop (random / boundary / class tours; the grand tour starts near it).
        None: chosen from the seed.
    label : str or None
        The class of a class tour: its name, or the short name the app displays (``"Urban"`` for ``"Urban
        fabric"``), in any case (:meth:`TourGraph.resolve_label`).
    seed : int
    by : {"class", "cluster"}
        What the grand tour visits.
    max_run : int
        Teleport after this many consecutive steps (random and boundary tours).

    Attributes
    ----------
    rows_ : ndarray of int64, shape (m,)
        Catalog rows of the stops.
    patch_ids_ : list of str, length m
    jumps_ : ndarray of bool, shape (m,)
        Stops reached by a teleport / restart rather than a kNN edge.
    groups_ : ndarray of int64, shape (m,) or None
        Grand tour: the class column or cluster each stop represents (-1: the given start).
    label_ : str or None
        Class tour: the class ``label`` resolved to (``"Urban fabric"`` for ``"Urban"``).
    seconds_ : float
        Time to compute the path (the graph already loaded).
    knn_key_ : str
    """

    _parameter_constraints = {
        "strategy": [Options(STRATEGIES)],
        "steps": [Interval(int, 1, 100_000)],
        "start": [Instance(str), None],
        "label": [Instance(str), None],
        "seed": [SEED],
        "by": [Options(("class", "cluster"))],
        "max_run": [Interval(int, 1, None)],
    }

    def __init__(self, strategy: str = "random", *, steps: int = 50, start: str | None = None,
                 label: str | None = None, seed: int = 0, by: str = "class", max_run: int = 25):
        self.strategy = strategy
        self.steps = steps
        self.start = start
        self.label = label
        self.seed = seed
        self.by = by
        self.max_run = max_run

    def get_params(self) -> dict:
        return {"strategy": self.strategy, "steps": self.steps, "start": self.start, "label": self.label,
                "seed": self.seed, "by": self.by, "max_run": self.max_run}

    def fit(self, graph: TourGraph) -> Tour:
        """Compute the stops on ``graph`` (a :class:`TourGraph`, or a workspace / path to load one from)."""
        validate_params(self)
        if not isinstance(graph, TourGraph):
            graph = TourGraph.from_workspace(graph)
        steps, seed, max_run = int(self.steps), int(self.seed), int(self.max_run)
        start = graph.row(self.start) if self.start else None
        if start is not None and graph.ind[start, 0] < 0 and self.strategy in ("random", "boundary"):
            raise DataError(f"patch {self.start!r} has no embedding, so it is not in the kNN graph")
        t0 = time.perf_counter()
        self.groups_ = None
        self.label_ = graph.resolve_label(self.label) if self.label else None
        if self.strategy == "random":
            if start is None:
                pool = graph_rows(graph.ind)
                if not len(pool):
                    raise DataError("random walk: no patch of this workspace is in the kNN graph")
                start = int(pool[np.random.default_rng(seed).integers(len(pool))])
            walk = random_walk(graph.ind, graph.dist, start, steps, seed=seed, max_run=max_run)
        elif self.strategy == "boundary":
            walk = boundary_tour(graph.ind, graph.dist, graph.Y, steps, start=start, seed=seed,
                                 suspicion=graph.suspicion, max_run=max_run)
        elif self.strategy == "class":
            if not self.label:
                raise DataError("a class tour needs a class (--label)")
            walk = class_tour(graph.ind, graph.Y, graph.xy, graph.classes.index(self.label_), steps, start=start,
                              seed=seed)
        else:
            walk, self.groups_ = grand_tour(graph.ind, graph.Y, graph.xy, by=self.by, n_clusters=steps,
                                            start=start, seed=seed)
        self.seconds_ = time.perf_counter() - t0
        self.rows_, self.jumps_ = walk.rows, walk.jumps
        self.patch_ids_ = [str(p) for p in graph.patch_ids[walk.rows]]
        self.knn_key_ = graph.knn_key
        self.graph_ = graph
        return self

    def stops(self) -> pd.DataFrame:
        """The stops with their captions (see :func:`describe_stops`), ``stands_for`` included
        (:meth:`stands_for`)."""
        return describe_stops(self.graph_, self.rows_, self.jumps_, stands_for=self.stands_for())

    def stands_for(self) -> list[str | None]:
        """What each stop stands for, length m: a grand tour by class, the class it represents (its full name);
        by cluster, ``"cluster i of N"`` (clusters numbered in the order the tour visits them); None for a
        stop that stands for nothing (the given ``start`` of a grand tour, every stop of the other strategies).
        """
        m = len(self.rows_)
        if self.strategy != "grand" or self.groups_ is None:
            return [None] * m
        g = np.asarray(self.groups_)
        if self.by == "class":
            return [self.graph_.classes[int(c)] if c >= 0 else None for c in g]
        order = {c: i for i, c in enumerate(dict.fromkeys(int(c) for c in g if c >= 0))}
        return [f"cluster {order[int(c)] + 1} of {len(order)}" if c >= 0 else None for c in g]

    def card(self) -> dict:
        """Format, version, parameters (the class resolved to its name), the kNN graph's key and the stops (for
        an export)."""
        params = self.get_params()
        if getattr(self, "label_", None):
            params["label"] = self.label_
        return {"format": "eomine-tour", "version": TOUR_FORMAT_VERSION, "params": params,
                "knn_key": self.knn_key_, "patch_ids": list(self.patch_ids_),
                "seconds": round(float(self.seconds_), 4)}


def describe_stops(graph: TourGraph, rows: np.ndarray, jumps: np.ndarray | None = None, *,
                   stands_for: list[str | None] | None = None) -> pd.DataFrame:
    """One row per stop with what a caption says.

    Columns: ``step`` (1-based), ``patch_id``, ``labels`` (list), ``gained`` / ``lost`` (labels since the
    previous stop), ``km`` (ground distance from the previous stop), ``km_total``, ``embedding`` (cosine
    distance from the previous stop when it is a kNN edge, else NaN), ``jump``, ``country``, ``lon``,
    ``lat``, ``x``, ``y``, ``stands_for``.

    ``stands_for`` (str or None) says what a stop represents: for a grand tour by class the class's name
    (a patch has several labels; this is the one it was chosen for), by cluster ``"cluster i of N"``, None
    otherwise (:meth:`Tour.stands_for`; pass ``stands_for`` to fill it, length m).
    """
    rows = np.asarray(rows, np.int64)
    m = len(rows)
    jumps = np.zeros(m, bool) if jumps is None else np.asarray(jumps, bool)
    cls = np.asarray(graph.classes, dtype=object)
    Yr = graph.Y[rows]
    labels = [list(cls[r]) for r in Yr]
    prev = np.vstack([Yr[:1], Yr[:-1]]) if m else Yr
    gained = [list(cls[r]) for r in Yr & ~prev]
    lost = [list(cls[r]) for r in prev & ~Yr]
    lon, lat = (graph.lonlat[rows, 0], graph.lonlat[rows, 1]) if graph.lonlat is not None else (
        np.full(m, np.nan), np.full(m, np.nan))
    km = np.zeros(m)
    if m > 1:
        km[1:] = haversine_km(lon[:-1], lat[:-1], lon[1:], lat[1:])
    emb = np.full(m, np.nan)
    if m > 1:
        hit = graph.ind[rows[:-1]] == rows[1:, None]
        has = hit.any(1)
        emb[1:][has] = graph.dist[rows[:-1]][hit][: int(has.sum())]
    xy = graph.xy[rows] if graph.xy is not None else np.full((m, 2), np.nan)
    return pd.DataFrame({
        "step": np.arange(1, m + 1), "patch_id": [str(p) for p in graph.patch_ids[rows]], "labels": labels,
        "gained": gained, "lost": lost, "km": km, "km_total": np.nancumsum(km), "embedding": emb,
        "jump": jumps, "country": graph.country[rows] if graph.country is not None else [None] * m,
        "lon": lon, "lat": lat, "x": xy[:, 0].astype(np.float64), "y": xy[:, 1].astype(np.float64),
        "stands_for": pd.Series(list(stands_for) if stands_for is not None else [None] * m, dtype=object)})
