"""What the embedding scatter draws, as plain functions of a snapshot (no plotly, no callbacks).

The raster of a view (:func:`render_points`, through the engine's one categorical renderer), the patch under
the mouse (:func:`nearest`), the view of everything (:func:`full_view`) and the legend counts
(:func:`legend_counts`). The map's rendering uses :func:`nearest` and the same renderer.
"""

from __future__ import annotations

import time

import numpy as np

from mining.raster import Viewport, render_categorical

from .data import AppData, Filters, Scheme
from .selection import selection_mask

__all__ = ["IMG_W", "IMG_H", "GREY", "full_view", "scheme_for", "render_points", "nearest", "legend_counts"]

IMG_W, IMG_H = 960, 640
#: patches outside the selection
GREY = "#d0d4da"
DENSITY_SCHEME = Scheme(np.zeros(0, np.int16), ("#000000",), ("patches",))


def full_view(x: np.ndarray, y: np.ndarray, margin: float = 0.03) -> dict:
    """The view {"x": [x0, x1], "y": [y0, y1]} of every finite point, with a margin."""
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return {"x": [0.0, 1.0], "y": [0.0, 1.0]}
    x0, x1 = float(x[ok].min()), float(x[ok].max())
    y0, y1 = float(y[ok].min()), float(y[ok].max())
    dx, dy = max(x1 - x0, 1e-6) * margin, max(y1 - y0, 1e-6) * margin
    return {"x": [x0 - dx, x1 + dx], "y": [y0 - dy, y1 + dy]}


def scheme_for(data: AppData, color: str) -> Scheme:
    """The colouring of ``color``; ``density`` is one category ("patches")."""
    if color == "density":
        return Scheme(np.zeros(data.n, np.int16), DENSITY_SCHEME.colors, DENSITY_SCHEME.names)
    return data.scheme(color)


def render_points(data: AppData, view: dict, color: str, filters: dict | None, sel: dict | None, *,
                  width: int = IMG_W, height: int = IMG_H, xy: tuple[np.ndarray, np.ndarray] | None = None,
                  scheme: Scheme | None = None) -> tuple[np.ndarray, dict]:
    """Raster of the points in ``view`` coloured by ``color``; filtered-out points hidden, points outside the
    selection grey.

    Parameters
    ----------
    xy : (ndarray, ndarray), optional
        Other coordinates than the layout's (a benchmark's resampled point set), with ``scheme`` for them.

    Returns
    -------
    rgba : ndarray of uint8, shape (height, width, 4)
    info : dict
        ``in_view`` (points drawn), ``shown`` (points passing filters), ``selected``, ``ms`` render time.
    """
    t0 = time.perf_counter()
    x, y = xy if xy is not None else (data.px, data.py)
    vp = Viewport(view["x"], view["y"], width, height)
    fmask = data.mask(Filters.from_dict(filters))
    smask = selection_mask(data, sel)
    sch = scheme if scheme is not None else scheme_for(data, color)
    codes = sch.codes
    if smask is not None:
        codes = np.where(smask, codes, len(sch.colors)).astype(np.int16)
    rgba, cnt = render_categorical(x, y, codes, [*sch.colors, GREY], vp, sel=fmask, density=color == "density")
    in_view = int(cnt.sum())
    shown = int(fmask.sum()) if fmask is not None else int(np.isfinite(x).sum())
    selected = None
    if smask is not None:
        selected = int((smask & fmask).sum() if fmask is not None else smask.sum())
    info = {"in_view": in_view, "shown": shown, "selected": selected,
            "ms": round((time.perf_counter() - t0) * 1e3, 1)}
    return rgba, info


def nearest(data: AppData, x: float, y: float, view: dict, *, coords: str = "scatter", max_px: float = 12.0,
            filters: dict | None = None, size: tuple[int, int] = (IMG_W, IMG_H)) -> int | None:
    """Catalog row of the patch nearest to (x, y) on screen, within ``max_px`` pixels; honours filters.

    One KD-tree per coordinate system ("scatter": the layout; "map": lon/lat), built on first use; candidates
    inside the search radius are ranked by their distance in screen pixels, so a stretched view (box zoom)
    still picks what the eye sees.
    """
    xs, ys = (data.px, data.py) if coords == "scatter" else (data.lon, data.lat)

    def build():
        from scipy.spatial import cKDTree

        ok = np.flatnonzero(np.isfinite(xs) & np.isfinite(ys))
        return (cKDTree(np.c_[xs[ok], ys[ok]]) if len(ok) else None), ok

    tree, rows = data.caches.kdtree.get(coords, build)
    if tree is None:
        return None
    sx = (view["x"][1] - view["x"][0]) / size[0]  # data units per pixel
    sy = (view["y"][1] - view["y"][0]) / size[1]
    cand = tree.query_ball_point([x, y], r=max_px * max(sx, sy))
    if not cand:
        return None
    cand = rows[np.asarray(cand)]
    fmask = data.mask(Filters.from_dict(filters))
    if fmask is not None:
        cand = cand[fmask[cand]]
    d = np.hypot((xs[cand] - x) / sx, (ys[cand] - y) / sy)
    best = int(np.argmin(d)) if len(d) else -1
    return int(cand[best]) if best >= 0 and d[best] <= max_px else None


def legend_counts(data: AppData, color: str, filters: dict | None, limit: int = 24) -> list[tuple[str, str, int]]:
    """[(name, colour, patches)] of the ``limit`` largest categories of ``color`` among the patches passing the
    filters, largest first (empty categories left out)."""
    sch = data.scheme(color)
    fmask = data.mask(Filters.from_dict(filters))
    c = sch.codes if fmask is None else sch.codes[fmask]
    counts = np.bincount(c[c >= 0], minlength=len(sch.names))
    order = np.argsort(-counts, kind="stable")[:limit]
    return [(sch.names[i], sch.colors[i], int(counts[i])) for i in order if counts[i] > 0]
