"""Train / validation / test splits: geographic (spatial blocks) or random, with their class balance measured.

Neighbouring patches are alike (spatial autocorrelation): a test patch next to a training patch is partly seen,
and a random split over-states accuracy. :class:`SpatialSplitter` with ``method="geographic"``

1. cuts the ground into square **blocks** of ``block_widths`` patch widths (on an equal-area sinusoidal grid, so
   a block is the same area at every latitude; by default the largest of 32, 16, 8, 4, 2 widths that still
   makes :data:`MIN_BLOCKS` blocks, since few blocks cannot balance the classes); a multiscale tiling's patches go with their coarsest ancestor,
   so a coarse patch and the finer patches inside it never fall in different splits;
2. assigns whole blocks to the splits, largest first, each to the split that still **needs** most of what the
   block holds (its patches and their classes, each class weighted by its rarity), then improves the assignment
   by moving single blocks while that brings every split's class distribution closer to the whole;
3. makes a **buffer**: a test patch within ``buffer_widths`` patch widths of a training patch (1: one of the 8
   touching patches, the audit's ``within_1w``) moves to validation (with two splits, to no split), so that no
   test patch touches a training patch.

``method="random"`` draws patches independently, for comparison. Both report the share of each split, the
largest deviation of a split's class distribution from the whole (percentage points of patches with the class),
and the share of test patches touching a training patch.

The split is written as one batch of ``split`` edits of the curation log (logged, undoable, exported):
:func:`split_edits` gives the edits; the command line is ``eomine split``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._internal.validation import SEED, Instance, Interval, Options, validate_params
from .errors import DataError, ParameterError

__all__ = ["SpatialSplitter", "split_workspace", "class_deviation", "touching_share", "regions", "patch_widths_km",
           "METHODS", "BLOCK_CHOICES", "MIN_BLOCKS", "EARTH_KM"]

METHODS = ("geographic", "random")
#: block sides tried by default (patch widths), largest first, and the fewest blocks a default split makes
BLOCK_CHOICES = (32.0, 16.0, 8.0, 4.0, 2.0)
MIN_BLOCKS = 100
EARTH_KM = 6371.0088
#: touching: centres at most one patch width apart on both axes (the diagonal neighbour: w * sqrt(2))
_TOUCH = np.sqrt(2) * 1.001


def regions(catalog: pd.DataFrame) -> np.ndarray:
    """The coarsest ancestor of every catalog row (its catalog row), from ``parent_id``, shape (n,), int64.

    A patch without a parent is its own region; a workspace without ``parent_id`` gives ``arange(n)``.
    """
    n = len(catalog)
    if "parent_id" not in catalog.columns or not catalog["parent_id"].notna().any():
        return np.arange(n, dtype=np.int64)
    parent = catalog["parent_id"].to_numpy(object)
    pos = pd.Index(catalog["patch_id"].to_numpy(object)).get_indexer(
        pd.Series(parent).where(pd.notna(parent), None))
    root = np.arange(n)
    for _ in range(16):  # walk up: a tiling has a few scales
        up = pos[root]
        if (up < 0).all():
            break
        root = np.where(up >= 0, up, root)
    return root.astype(np.int64)


def patch_widths_km(catalog: pd.DataFrame) -> np.ndarray:
    """Each patch's side in km from its footprint (``x_min .. x_max`` in its ``crs``), shape (n,) (NaN: none)."""
    w = (catalog["x_max"] - catalog["x_min"]).to_numpy(float)
    if "crs" in catalog.columns:
        geo = (catalog["crs"].astype(str) == "EPSG:4326").to_numpy()
        w = np.where(geo, w * 111.32 * np.cos(np.radians(catalog["lat"].to_numpy(float))), w / 1000.0)
    else:
        w = w / 1000.0
    return w


def _unit(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    return np.c_[np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)]


def _touching(lon, lat, a: np.ndarray, b: np.ndarray, widths: np.ndarray, k: float = 1.0) -> np.ndarray:
    """Mask (n,) of the patches of ``a`` within ``k`` patch widths of a patch of ``b`` (same width only)."""
    from scipy.spatial import cKDTree

    out = np.zeros(len(lon), bool)
    for w in np.unique(np.round(widths[a | b], 6)):
        if not np.isfinite(w):
            continue
        same = np.isclose(widths, w, rtol=1e-3)
        aa, bb = np.flatnonzero(a & same), np.flatnonzero(b & same)
        if not len(aa) or not len(bb):
            continue
        chord, _ = cKDTree(_unit(lon[bb], lat[bb])).query(_unit(lon[aa], lat[aa]), k=1)
        km = 2 * EARTH_KM * np.arcsin(np.clip(chord / 2, 0, 1))
        out[aa[km <= k * w * _TOUCH]] = True
    return out


def touching_share(lon, lat, split, widths_km, *, audited: str = "test", reference: str = "train") -> float:
    """Share of the ``audited`` patches within one patch width of a ``reference`` patch.

    Parameters
    ----------
    lon, lat : ndarray of float, shape (n,)
    split : ndarray of object, shape (n,)
    widths_km : ndarray of float, shape (n,)
        Patch sides (patches are compared with patches of their own width).

    Returns
    -------
    float
        NaN when there is no ``audited`` patch.
    """
    split = np.asarray(split, dtype=object)
    a, b = split == audited, split == reference
    if not a.any():
        return float("nan")
    t = _touching(np.asarray(lon, float), np.asarray(lat, float), a, b, np.asarray(widths_km, float))
    return float(t[a].mean())


def class_deviation(Y: np.ndarray, split: np.ndarray, names) -> pd.DataFrame:
    """Each split's class distribution against the whole.

    Parameters
    ----------
    Y : ndarray of bool, shape (n, c)
        Labels (patches without any label are counted in the splits' sizes only).
    split : ndarray of object, shape (n,)
    names : sequence of str
        The splits to report, in order.

    Returns
    -------
    DataFrame, one row per split
        ``split, n, share`` (of the patches with a split), ``max_deviation`` (the largest absolute difference,
        over the classes, between the share of the split's labelled patches having the class and the same share
        over every split; a fraction), ``worst_class`` (its column index).
    """
    split = np.asarray(split, dtype=object)
    Y = np.asarray(Y, bool)
    has = np.isin(split, list(names))
    lab = Y.any(1)
    whole = Y[has & lab].mean(0) if (has & lab).any() else np.zeros(Y.shape[1])
    rows = []
    for s in names:
        m = split == s
        ml = m & lab
        dev = np.abs(Y[ml].mean(0) - whole) if ml.any() and Y.shape[1] else np.zeros(max(Y.shape[1], 1))
        rows.append({"split": s, "n": int(m.sum()), "share": float(m.sum() / max(has.sum(), 1)),
                     "max_deviation": float(dev.max()) if len(dev) else 0.0,
                     "worst_class": int(dev.argmax()) if len(dev) else -1})
    return pd.DataFrame(rows)


class SpatialSplitter:
    """Assign patches to train / validation / test, geographically (spatial blocks) or at random.

    Parameters
    ----------
    method : {"geographic", "random"}
    ratios : tuple of float
        Two (train, test) or three (train, validation, test) positive shares summing to 1.
    block_widths : float or None
        The side of a spatial block, in patch widths (``geographic``); None: the largest of
        :data:`BLOCK_CHOICES` that makes at least :data:`MIN_BLOCKS` blocks (the smallest otherwise).
    buffer_widths : float
        Test patches within this many patch widths of a training patch move out of test (1: the touching ones).
    refine : int
        Passes of single-block moves that improve the class balance (0: the greedy assignment only).
    seed : int

    Attributes
    ----------
    split_ : ndarray of object, shape (n,)
        ``train`` / ``validation`` / ``test``, None for patches left out (no position, the buffer without a
        validation split, or ``include`` False).
    names_ : tuple of str
        The splits, in the order of ``ratios``.
    block_ : ndarray of int64, shape (n,)
        The block of each patch (-1: none; ``random``: -1 everywhere).
    n_blocks_ : int
    block_widths_ : float
        The block side used (patch widths; NaN for ``random``).
    buffer_ : ndarray of bool, shape (n,)
        Test patches moved out of test because they touched a training patch.
    report_ : DataFrame
        :func:`class_deviation` of the result, plus ``target`` (the asked share).
    max_deviation_ : float
        The largest class deviation over the splits (a fraction).
    touching_ : float
        Share of the test patches within one patch width of a training patch (0 for ``geographic``).
    """

    _parameter_constraints = {
        "method": [Options(METHODS)],
        "ratios": [Instance(tuple, list, np.ndarray, name="a sequence of shares")],
        "block_widths": [Interval(float, 1, None), None],
        "buffer_widths": [Interval(float, 1, None)],
        "refine": [Interval(int, 0, None)],
        "seed": [SEED],
    }

    def __init__(self, *, method: str = "geographic", ratios=(0.5, 0.25, 0.25), block_widths: float | None = None,
                 buffer_widths: float = 1.0, refine: int = 3, seed: int = 0):
        self.method = method
        self.ratios = ratios
        self.block_widths = block_widths
        self.buffer_widths = buffer_widths
        self.refine = refine
        self.seed = seed

    def _check_ratios(self) -> np.ndarray:
        r = self.ratios
        ok = isinstance(r, list | tuple) and len(r) in (2, 3)
        try:
            arr = np.asarray(r, float) if ok else None
        except (TypeError, ValueError):
            arr = None
        if arr is None or not np.isfinite(arr).all() or (arr <= 0).any() or abs(arr.sum() - 1) > 1e-3:
            raise ParameterError("ratios", "2 or 3 positive shares summing to 1 (train,test or "
                                 "train,validation,test)", r, owner="SpatialSplitter")
        return arr / arr.sum()

    def fit(self, lon, lat, Y, *, widths_km, groups=None, include=None) -> SpatialSplitter:
        """Split the patches.

        Parameters
        ----------
        lon, lat : ndarray of float, shape (n,)
            Patch centres (WGS84 degrees); a patch without them gets no split.
        Y : ndarray of bool, shape (n, c)
            Labels, for the class balance.
        widths_km : ndarray of float, shape (n,) or float
            Patch sides in km.
        groups : ndarray of int, shape (n,), optional
            Patches that must share a split (a multiscale tiling's coarsest ancestor, :func:`regions`); a
            group's block is the one of its first patch.
        include : ndarray of bool, shape (n,), optional
            Patches to split (default: all).

        Returns
        -------
        self
        """
        validate_params(self)
        ratios = self._check_ratios()
        self.names_ = ("train", "validation", "test") if len(ratios) == 3 else ("train", "test")
        lon = np.asarray(lon, float)
        lat = np.asarray(lat, float)
        Y = np.asarray(Y, bool)
        n = len(lon)
        if Y.ndim != 2 or len(Y) != n or len(lat) != n:
            raise ParameterError("lon, lat, Y", "arrays of the same length (Y of shape (n, n_classes))",
                                 f"{len(lon)}, {len(lat)}, {Y.shape}", owner="SpatialSplitter.fit")
        widths = np.broadcast_to(np.asarray(widths_km, float), (n,)).copy()
        ok = np.isfinite(lon) & np.isfinite(lat)
        if include is not None:
            ok &= np.asarray(include, bool)
        rng = np.random.default_rng(self.seed)
        split = np.full(n, None, dtype=object)
        self.block_ = np.full(n, -1, np.int64)
        self.buffer_ = np.zeros(n, bool)
        if self.method == "random":  # no position needed
            ok = np.ones(n, bool) if include is None else np.asarray(include, bool).copy()
        rows = np.flatnonzero(ok)
        if self.method == "random":
            perm = rows[rng.permutation(len(rows))]
            cuts = np.round(np.cumsum(ratios)[:-1] * len(rows)).astype(int)
            for name, part in zip(self.names_, np.split(perm, cuts), strict=True):
                split[part] = name
            self.n_blocks_ = 0
            self.block_widths_ = float("nan")
        elif len(rows):
            block = self._blocks(lon, lat, widths, groups, ok)
            self.block_[ok] = block[ok]
            codes, uniq = pd.factorize(block[ok])
            self.n_blocks_ = len(uniq)
            asked = ratios.copy()
            best = None
            for _ in range(4):  # the buffer takes from test: ask for more test until the shares come out right
                split, touch = self._geographic(codes, rows, lon, lat, Y, widths, groups, asked, n,
                                                np.random.default_rng(self.seed))
                got = np.array([(split == s).sum() for s in self.names_], float) / max(len(rows), 1)
                err = float(np.abs(got - ratios).max())
                if best is None or err < best[0]:
                    best = (err, split, touch)
                if err < 0.01 or (got <= 0).any():
                    break
                asked = asked * ratios / got
                asked /= asked.sum()
            _, split, self.buffer_ = best
        else:
            self.n_blocks_ = 0
            self.block_widths_ = float("nan")
        self.split_ = split
        rep = class_deviation(Y, split, self.names_)
        rep["target"] = ratios
        self.report_ = rep
        self.max_deviation_ = float(rep["max_deviation"].max()) if len(rep) else 0.0
        self.touching_ = touching_share(lon, lat, split, widths)
        return self

    # ------------------------------------------------------------------ geographic
    def _geographic(self, codes, rows, lon, lat, Y, widths, groups, asked, n, rng):
        """(split, buffer) for block codes of ``rows`` with the shares ``asked``."""
        split = np.full(n, None, dtype=object)
        assign = self._assign(codes, Y[rows], asked, rng)
        split[rows] = np.asarray(self.names_, dtype=object)[assign]
        test = split == "test"
        touch = _touching(lon, lat, test, split == "train", widths, self.buffer_widths) & test
        if groups is not None:  # a group moves whole
            g = np.asarray(groups)
            touch = np.isin(g, g[touch]) & test
        split[touch] = "validation" if "validation" in self.names_ else None
        return split, touch

    def _blocks(self, lon, lat, widths, groups, ok) -> np.ndarray:
        """Block id of each patch (int64, shape (n,)): sinusoidal km, squares of ``block_widths`` widths (sets
        ``block_widths_``, the side used)."""
        w = float(np.nanmedian(widths[ok])) if np.isfinite(widths[ok]).any() else 1.0
        w = w if w > 0 else 1.0
        la = np.radians(np.where(ok, lat, 0.0))
        x = EARTH_KM * np.radians(np.where(ok, lon, 0.0)) * np.cos(la)
        y = EARTH_KM * la
        if groups is not None:  # every patch at its group's first patch
            g = np.asarray(groups, np.int64)
            x, y = x[g], y[g]
        choices = BLOCK_CHOICES if self.block_widths is None else (float(self.block_widths),)
        for side in choices:
            bx = np.floor(x / (side * w)).astype(np.int64)
            by = np.floor(y / (side * w)).astype(np.int64)
            block = bx * 1_000_003 + by
            if len(np.unique(block[ok])) >= MIN_BLOCKS:
                break
        self.block_widths_ = side
        return block

    def _assign(self, codes: np.ndarray, Y: np.ndarray, ratios: np.ndarray, rng) -> np.ndarray:
        """Split index of each patch (shape (m,)) from its block code: greedy by need, then refined."""
        nb, c = int(codes.max()) + 1, Y.shape[1]
        # what a block holds: its patches and the patches of each class, shape (nb, c + 1)
        V = np.zeros((nb, c + 1))
        np.add.at(V[:, :c], codes, Y.astype(float))
        V[:, c] = np.bincount(codes, minlength=nb)
        total = V.sum(0)
        # weights: each class by its rarity (a share of its own total), the size counting as much as the classes
        wgt = np.where(total > 0, 1.0 / np.maximum(total, 1), 0.0)
        wgt[c] *= max(1, int((total[:c] > 0).sum()))
        target = ratios[:, None] * total[None, :]
        counts = np.zeros_like(target)
        which = np.empty(nb, np.int64)
        order = np.argsort(-V[:, c] + rng.random(nb) * 0.5, kind="stable")  # largest first, ties at random
        for b in order:
            v = V[b]
            need = np.maximum(target - counts, 0.0)
            fit = (np.minimum(v, need) * wgt).sum(1) - (np.maximum(v - need, 0.0) * wgt).sum(1)
            best = np.flatnonzero(fit >= fit.max() - 1e-12)
            j = best[np.argmax((need[best] * wgt).sum(1))] if len(best) > 1 else best[0]
            which[b] = j
            counts[j] += v
        # refine: move one block at a time while the weighted squared distance to the targets falls
        scale = wgt ** 2 * np.maximum(total, 1)  # a relative error per dimension
        for _ in range(int(self.refine)):
            moved = 0
            for b in rng.permutation(nb):
                j0, v = which[b], V[b]
                if counts[j0, c] - v[c] <= 0:
                    continue  # never empty a split
                before = ((counts[j0] - target[j0]) ** 2 * scale).sum()
                after0 = ((counts[j0] - v - target[j0]) ** 2 * scale).sum()
                gain = ((counts - target) ** 2 * scale).sum(1) - ((counts + v - target) ** 2 * scale).sum(1)
                delta = (before - after0) + gain  # > 0: moving b from j0 to j improves
                delta[j0] = 0.0
                j1 = int(np.argmax(delta))
                if delta[j1] > 1e-12:
                    counts[j0] -= v
                    counts[j1] += v
                    which[b] = j1
                    moved += 1
            if not moved:
                break
        return which[codes]


def split_workspace(workspace, log, **params) -> tuple[SpatialSplitter, list]:
    """Split a workspace's patches (current labels; excluded patches keep theirs) and the edits that do it.

    Parameters
    ----------
    workspace : Workspace
    log : EditLog
        The curation log (current labels and splits).
    **params
        :class:`SpatialSplitter` parameters.

    Returns
    -------
    splitter : SpatialSplitter
        Fitted.
    edits : list of Edit
        One ``split`` edit per patch whose split changes (an empty list: nothing to change).

    Raises
    ------
    DataError
        A geographic split of a workspace without patch positions or footprints, naming the field.
    """
    from .curation import Edit

    ws = workspace
    cat = ws.catalog
    cur = log.current_labels()
    lon, lat = cat["lon"].to_numpy(float), cat["lat"].to_numpy(float)
    widths = patch_widths_km(cat)
    if params.get("method", "geographic") == "geographic":
        if not (np.isfinite(lon) & np.isfinite(lat)).any():
            raise DataError(f"{ws.path}: no patch has a position (fields 'lon', 'lat'); use --method random")
        if not np.isfinite(widths).any():
            raise DataError(f"{ws.path}: the catalog has no footprints (fields 'x_min' .. 'x_max') to measure "
                            f"the patch width; use --method random")
        widths = np.where(np.isfinite(widths), widths, np.nanmedian(widths))
    groups = regions(cat) if "parent_id" in cat.columns and cat["parent_id"].notna().any() else None
    include = ~cur.excluded
    sp = SpatialSplitter(**params).fit(lon, lat, cur.Y, widths_km=widths, groups=groups, include=include)
    old = cur.split if cur.split is not None else np.full(len(cat), None, object)
    new = sp.split_
    change = include & (new != old)
    ids = cur.patch_ids
    edits = [Edit(str(ids[r]), "split", label=new[r]) for r in np.flatnonzero(change)]
    return sp, edits
