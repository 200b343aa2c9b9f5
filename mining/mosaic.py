"""The scene view's imagery: patches' own pixels warped into their footprints on a map grid (fully offline).

A patch cut from a scene is a square of the scene's grid (UTM metres); on the map (lon / Web-Mercator y, or any
plot frame) it is a slightly rotated quadrilateral. Each patch is drawn by inverse mapping: every output pixel
whose centre falls inside the patch's quadrilateral takes the nearest pixel of the patch's composite. The
quadrilateral is taken as the parallelogram of its top-left, top-right and bottom-left corners (over a patch of
a few kilometres the map projection is affine to far below a pixel).

Work is bounded by the view, never by the dataset:

* only patches whose footprint touches the view are drawn, and at most ``max_patches`` of them (beyond that the
  caller keeps its point raster: :func:`render_mosaic` returns None);
* each patch is read at the resolution the view needs (:func:`tile_size`: the next power of two above its width
  on screen, at most its stored size) through :meth:`~mining.composites.CompositeRenderer.render_many`, which
  reads only the pixels it samples;
* a multi-scale tiling is drawn one scale at a time (:func:`choose_scale`: the finest scale that fits the cap).

The two kernels (:func:`warp` for the imagery, :func:`outline` for the grid) are numba loops over each patch's
pixel box on the output; they release the GIL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from .raster import Viewport

__all__ = ["MAX_PATCHES", "MAX_TILE_PIXELS", "footprint_corners", "affines", "warp", "outline", "visible",
           "tile_size", "choose_scale", "render_mosaic", "Mosaic"]

#: at most this many patches are drawn in one view (beyond it the map keeps its point raster)
MAX_PATCHES = 10_000
#: at most this many tile pixels are read for one view (the tile size is halved until they fit)
MAX_TILE_PIXELS = 16_000_000
#: a scale is drawn only when its patches are at least this wide on screen (pixels)
MIN_PATCH_PX = 2.0


# --------------------------------------------------------------------------- geometry
def footprint_corners(cat) -> np.ndarray:
    """The four corners of every patch's footprint in lon / lat degrees.

    From the native grid's bounds (``x_min``, ``y_min``, ``x_max``, ``y_max`` in the patch's ``crs``, as
    ``eomine ingest --format scene`` writes them) reprojected with pyproj, so a UTM square is the rotated
    quadrilateral it is on the map; else from the lon / lat bounding box (``lon_min`` ... ``lat_max``).

    Parameters
    ----------
    cat : pandas.DataFrame
        A catalog.

    Returns
    -------
    ndarray of float64, shape (n, 4, 2)
        (lon, lat) of the top-left, top-right, bottom-right and bottom-left corners (image order); NaN where the
        patch has no footprint.
    """
    n = len(cat)
    out = np.full((n, 4, 2), np.nan)
    box = ("lon_min", "lat_min", "lon_max", "lat_max")
    if all(c in cat.columns for c in box):
        x0, y0, x1, y1 = (cat[c].to_numpy(np.float64) for c in box)
        out[:, :, 0] = np.c_[x0, x1, x1, x0]
        out[:, :, 1] = np.c_[y1, y1, y0, y0]
    native = ("x_min", "y_min", "x_max", "y_max", "crs")
    if not all(c in cat.columns for c in native):
        return out
    from pyproj import Transformer

    crs = cat["crs"].to_numpy(object)
    x0, y0, x1, y1 = (cat[c].to_numpy(np.float64) for c in native[:4])
    known = np.isfinite(x0) & np.isfinite(y0) & np.isfinite(x1) & np.isfinite(y1)
    for name in {c for c in crs[known] if isinstance(c, str) and c}:
        m = known & (crs == name)
        try:
            tr = Transformer.from_crs(name, "OGC:CRS84", always_xy=True)
        except Exception:  # noqa: BLE001 - an unknown CRS keeps the bounding box
            continue
        xs = np.c_[x0[m], x1[m], x1[m], x0[m]]
        ys = np.c_[y1[m], y1[m], y0[m], y0[m]]
        lon, lat = tr.transform(xs, ys)
        out[m, :, 0], out[m, :, 1] = lon, lat
    return out


def affines(corners: np.ndarray) -> np.ndarray:
    """The map from plot coordinates to each patch's unit square.

    Parameters
    ----------
    corners : ndarray, shape (B, 4, 2)
        Top-left, top-right, bottom-right, bottom-left corners in plot coordinates.

    Returns
    -------
    ndarray of float64, shape (B, 6)
        ``(a, b, c, d, e, f)`` with ``u = a x + b y + c`` (0 at the left edge, 1 at the right) and
        ``v = d x + e y + f`` (0 at the top, 1 at the bottom); NaN for degenerate footprints.
    """
    c = np.asarray(corners, np.float64)
    tl, ex, ey = c[:, 0], c[:, 1] - c[:, 0], c[:, 3] - c[:, 0]  # u along TL->TR, v along TL->BL
    det = ex[:, 0] * ey[:, 1] - ex[:, 1] * ey[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = ey[:, 1] / det, -ey[:, 0] / det
        d, e = -ex[:, 1] / det, ex[:, 0] / det
    out = np.stack([a, b, -(a * tl[:, 0] + b * tl[:, 1]), d, e, -(d * tl[:, 0] + e * tl[:, 1])], axis=1)
    out[~np.isfinite(out).all(1) | (det == 0)] = np.nan
    return out


def _pixel_boxes(corners: np.ndarray, vp: Viewport) -> np.ndarray:
    """(B, 4) int64 column / row ranges [c0, c1) x [r0, r1) of the output pixels each quadrilateral may cover."""
    (x0, x1), (y0, y1) = vp.x_range, vp.y_range
    sx, sy = vp.width / (x1 - x0), vp.height / (y1 - y0)
    cx = (corners[:, :, 0] - x0) * sx
    cy = (y1 - corners[:, :, 1]) * sy
    lo_c = np.clip(np.floor(np.nanmin(cx, 1)), 0, vp.width)
    hi_c = np.clip(np.ceil(np.nanmax(cx, 1)) + 1, 0, vp.width)
    lo_r = np.clip(np.floor(np.nanmin(cy, 1)), 0, vp.height)
    hi_r = np.clip(np.ceil(np.nanmax(cy, 1)) + 1, 0, vp.height)
    return np.nan_to_num(np.stack([lo_c, hi_c, lo_r, hi_r], 1)).astype(np.int64)


@njit(cache=True, nogil=True)
def _warp(tiles, aff, pbox, x0, y1, dx, dy, out):  # pragma: no cover - numba
    s = tiles.shape[1]
    for k in range(tiles.shape[0]):
        a, b, c, d, e, f = aff[k, 0], aff[k, 1], aff[k, 2], aff[k, 3], aff[k, 4], aff[k, 5]
        if not (a == a):
            continue
        for r in range(pbox[k, 2], pbox[k, 3]):
            y = y1 - (r + 0.5) * dy
            for col in range(pbox[k, 0], pbox[k, 1]):
                x = x0 + (col + 0.5) * dx
                u = a * x + b * y + c
                v = d * x + e * y + f
                if u < 0.0 or u >= 1.0 or v < 0.0 or v >= 1.0:
                    continue
                i = min(int(v * s), s - 1)
                j = min(int(u * s), s - 1)
                if tiles[k, i, j, 3] > 0:
                    out[r, col, 0] = tiles[k, i, j, 0]
                    out[r, col, 1] = tiles[k, i, j, 1]
                    out[r, col, 2] = tiles[k, i, j, 2]
                    out[r, col, 3] = tiles[k, i, j, 3]


@njit(cache=True, nogil=True)
def _outline(colors, aff, pbox, x0, y1, dx, dy, width, out):  # pragma: no cover - numba
    for k in range(colors.shape[0]):
        a, b, c, d, e, f = aff[k, 0], aff[k, 1], aff[k, 2], aff[k, 3], aff[k, 4], aff[k, 5]
        if not (a == a) or colors[k, 3] == 0:
            continue
        eu = width * (abs(a) * dx + abs(b) * dy)  # the border's width in units of the patch side
        ev = width * (abs(d) * dx + abs(e) * dy)
        for r in range(pbox[k, 2], pbox[k, 3]):
            y = y1 - (r + 0.5) * dy
            for col in range(pbox[k, 0], pbox[k, 1]):
                x = x0 + (col + 0.5) * dx
                u = a * x + b * y + c
                v = d * x + e * y + f
                if u < 0.0 or u >= 1.0 or v < 0.0 or v >= 1.0:
                    continue
                if u < eu or u >= 1.0 - eu or v < ev or v >= 1.0 - ev:
                    for ch in range(4):
                        out[r, col, ch] = colors[k, ch]


def _frame(vp: Viewport, out: np.ndarray | None) -> tuple[np.ndarray, float, float, float, float]:
    if out is None:
        out = np.zeros((vp.height, vp.width, 4), np.uint8)
    elif out.shape != (vp.height, vp.width, 4) or out.dtype != np.uint8:
        raise ValueError(f"out must be uint8 of shape {(vp.height, vp.width, 4)}, not {out.dtype} {out.shape}")
    (x0, x1), (y0, y1) = vp.x_range, vp.y_range
    return out, x0, y1, (x1 - x0) / vp.width, (y1 - y0) / vp.height


def warp(corners: np.ndarray, tiles: np.ndarray, vp: Viewport, *, out: np.ndarray | None = None) -> np.ndarray:
    """Draw each patch's image into its footprint on the viewport's pixel grid.

    Parameters
    ----------
    corners : ndarray, shape (B, 4, 2)
        Footprint corners in the viewport's coordinates (top-left, top-right, bottom-right, bottom-left: the
        image's corners).
    tiles : ndarray of uint8, shape (B, s, s, 4)
        The patches' RGBA images (row 0 at the top); pixels with alpha 0 are not drawn.
    vp : Viewport
    out : ndarray of uint8, shape (vp.height, vp.width, 4), optional
        Drawn into (later patches over earlier ones); a new transparent image by default.

    Returns
    -------
    ndarray of uint8, shape (vp.height, vp.width, 4)
        Row 0 is the top of the view (the largest y).
    """
    corners = np.asarray(corners, np.float64).reshape(-1, 4, 2)
    tiles = np.ascontiguousarray(tiles, np.uint8)
    if tiles.ndim != 4 or tiles.shape[0] != len(corners) or tiles.shape[3] != 4 or tiles.shape[1] != tiles.shape[2]:
        raise ValueError(f"tiles must be (B, s, s, 4) uint8 for B={len(corners)}, not {tiles.shape}")
    out, x0, y1, dx, dy = _frame(vp, out)
    if len(corners):
        _warp(tiles, affines(corners), _pixel_boxes(corners, vp), x0, y1, dx, dy, out)
    return out


def outline(corners: np.ndarray, colors: np.ndarray, vp: Viewport, *, width: float = 1.0,
            out: np.ndarray | None = None) -> np.ndarray:
    """Draw each footprint's border, ``width`` output pixels wide, inside the footprint (neighbours' borders lie
    side by side, each in its own patch's colour).

    Parameters
    ----------
    corners : ndarray, shape (B, 4, 2)
        As for :func:`warp`.
    colors : ndarray of uint8, shape (B, 4)
        RGBA per patch; alpha 0 draws nothing.
    vp : Viewport
    width : float
    out : ndarray of uint8, shape (vp.height, vp.width, 4), optional

    Returns
    -------
    ndarray of uint8, shape (vp.height, vp.width, 4)
    """
    corners = np.asarray(corners, np.float64).reshape(-1, 4, 2)
    colors = np.ascontiguousarray(colors, np.uint8).reshape(-1, 4)
    if len(colors) != len(corners):
        raise ValueError(f"{len(colors)} colours for {len(corners)} footprints")
    out, x0, y1, dx, dy = _frame(vp, out)
    if len(corners):
        _outline(colors, affines(corners), _pixel_boxes(corners, vp), x0, y1, dx, dy, float(width), out)
    return out


# --------------------------------------------------------------------------- what to draw
def visible(corners: np.ndarray, vp: Viewport) -> np.ndarray:
    """Boolean (n,): footprints (n, 4, 2) that touch the viewport (unknown footprints never do)."""
    (x0, x1), (y0, y1) = vp.x_range, vp.y_range
    with np.errstate(invalid="ignore"):
        lo, hi = corners.min(1), corners.max(1)
        return (hi[:, 0] >= x0) & (lo[:, 0] <= x1) & (hi[:, 1] >= y0) & (lo[:, 1] <= y1)


def tile_size(width_px: float, stored: int, max_pixels: int | None = None, n: int = 1) -> int:
    """The side of the tiles a patch ``width_px`` wide on screen is read at: the next power of two at or above
    its width (so no output pixel is a blend of two reads), at most ``stored``; halved while ``n`` tiles would
    exceed ``max_pixels``."""
    s = 2 ** max(1, math.ceil(math.log2(max(width_px, 1.0))))
    s = max(1, min(s, int(stored)))
    while max_pixels and s > 1 and n * s * s > max_pixels:
        s //= 2
    return s


def choose_scale(scale: np.ndarray | None, touching: np.ndarray, width_px: np.ndarray, *,
                 max_patches: int = MAX_PATCHES, min_px: float = MIN_PATCH_PX) -> float | None:
    """The scale of a multi-scale tiling to draw: the finest whose patches touching the view number at most
    ``max_patches`` and are at least ``min_px`` wide on screen.

    Parameters
    ----------
    scale : ndarray of float, shape (n,), or None
        Each patch's scale (patch side in metres, ``scale_m``); None: one scale.
    touching : ndarray of bool, shape (n,)
        Patches that touch the view (and can be drawn).
    width_px : ndarray of float, shape (n,)
        Each patch's width on screen.

    Returns
    -------
    float or None
        The scale (``nan`` for a workspace of one scale), or None when no scale fits (too many patches, or
        too small to see).
    """
    if scale is None:
        scale = np.full(len(touching), np.nan)
    levels = np.unique(scale[touching]) if touching.any() else []
    for s in sorted(levels, key=lambda v: (np.isnan(v), v)):  # finest first; nan (one scale) alone
        m = touching & ((scale == s) if np.isfinite(s) else np.isnan(scale))
        if m.sum() <= max_patches and np.median(width_px[m]) >= min_px:
            return float(s)
    return None


@dataclass(frozen=True)
class Mosaic:
    """A drawn scene view.

    Attributes
    ----------
    rgba : ndarray of uint8, shape (H, W, 4)
        The imagery, transparent where no patch is.
    rows : ndarray of int64, shape (B,)
        The patches drawn (indices into the arrays passed to :func:`render_mosaic`).
    tile : int
        The side the patches were read at.
    """

    rgba: np.ndarray
    rows: np.ndarray
    tile: int


def render_mosaic(renderer, corners: np.ndarray, pixel_rows: np.ndarray, vp: Viewport, composite: str = "true_color",
                  *, candidates: np.ndarray | None = None, max_patches: int = MAX_PATCHES,
                  max_pixels: int = MAX_TILE_PIXELS) -> Mosaic | None:
    """The composite of the patches in view, each warped into its footprint.

    Parameters
    ----------
    renderer : CompositeRenderer
        Fitted on the workspace's pixel store.
    corners : ndarray, shape (n, 4, 2)
        Footprint corners in the viewport's coordinates (:func:`footprint_corners`, projected by the caller).
    pixel_rows : ndarray of int, shape (n,)
        Pixel-store row of each patch (-1: no pixels, not drawn).
    vp : Viewport
    composite : str
    candidates : ndarray of bool, shape (n,), optional
        Only these patches may be drawn (e.g. one scale of a multi-scale tiling).
    max_patches, max_pixels : int
        The caps: more patches in view than ``max_patches`` draws nothing (None is returned); tiles are read
        smaller while they would exceed ``max_pixels`` pixels in all.

    Returns
    -------
    Mosaic or None
        None when more than ``max_patches`` patches touch the view.
    """
    pixel_rows = np.asarray(pixel_rows)
    ok = visible(corners, vp) & (pixel_rows >= 0)
    if candidates is not None:
        ok &= candidates
    rows = np.flatnonzero(ok)
    if len(rows) > max_patches:
        return None
    out = np.zeros((vp.height, vp.width, 4), np.uint8)
    if not len(rows):
        return Mosaic(out, rows, 0)
    c = corners[rows]
    width = np.hypot(*(c[:, 1] - c[:, 0]).T) * vp.width / (vp.x_range[1] - vp.x_range[0])
    comp_bands = _composite_bands(renderer, composite)
    stored = max(renderer.store_.groups[renderer.store_.band_group[b]].size for b in comp_bands)
    s = tile_size(float(np.median(width)), stored, max_pixels, len(rows))
    tiles = renderer.render_many(pixel_rows[rows], composite, s)
    warp(c, tiles, vp, out=out)
    return Mosaic(out, rows, s)


def _composite_bands(renderer, composite: str) -> tuple[str, ...]:
    from .composites import COMPOSITES

    if composite not in getattr(renderer, "composites_", ()):
        raise ValueError(f"composite {composite!r} cannot be drawn from this workspace")
    return COMPOSITES[composite].bands
