"""The map's scene view: the patches' own imagery under the patch grid, as plain functions of a snapshot.

When the map's *Scene view* is on and the patches have footprints and pixels, the server-drawn map image is, bottom
to top: the basemap, the composite of every patch in view warped into its footprint (:mod:`mining.mosaic`, from
the workspace's pixel store, offline), then each patch's outline in its colour of the colour-by scheme (grey
outside the selection, none for patches the filters hide; the imagery stays, it is the scene; greys are faint,
and left out while patches are small on screen). Patches the scene
view cannot show (no footprint or no pixels) stay dots of the point raster.

* The imagery does not depend on the colouring, the filters or the selection: it is cached per view (box, image
  size, composite) in ``Caches.scene_image``, so a change of colour redraws only the outlines.
* A multi-scale tiling (``eomine ingest --scales``) is shown one scale at a time, the finest whose patches in view
  number at most :data:`mining.mosaic.MAX_PATCHES` and are at least 2 px wide: zooming in goes finer. Patches of the
  other scales are not drawn while the scene view is on (the info line names the scale shown).
* More patches in view than the cap (a continent of reBEN patches): no scene view, the map draws as without it.
"""

from __future__ import annotations

import time

import numpy as np

from mining.mosaic import MAX_PATCHES, choose_scale, footprint_corners, outline, render_mosaic, visible
from mining.raster import Viewport, hex_to_rgb

from .data import AppData
from .geo import merc_y

__all__ = ["scene_corners", "can_show_scene", "is_scene", "quicklook_composite", "scene_image", "scene_view",
           "OUTLINE_ALPHA"]

#: opacity of the outlines over the imagery: a colour, and a grey (no label, clear, outside the selection...)
OUTLINE_ALPHA = 235
NEUTRAL_ALPHA = 80
#: patches narrower than this on screen get outlines only in a colour (greys would hide the imagery under a grid)
OUTLINE_MIN_PX = 10.0
#: a colour whose channels differ by less than this is a grey
NEUTRAL_CHROMA = 40


def scene_corners(data: AppData) -> np.ndarray:
    """Footprint corners of every patch in plot coordinates (lon, Mercator y), shape (n, 4, 2), NaN where unknown
    (:func:`mining.mosaic.footprint_corners`; cached)."""
    def build():
        c = footprint_corners(data.cat)
        c[..., 1] = merc_y(c[..., 1])
        c.setflags(write=False)
        return c

    return data.caches.scene_corners.get(None, build)


def _drawable(data: AppData) -> np.ndarray:
    """Boolean (n,): patches with a whole footprint and pixels."""
    return np.isfinite(scene_corners(data)).all((1, 2)) & (data.pixel_row >= 0)


def can_show_scene(data: AppData) -> bool:
    """Whether any patch has a footprint and pixels (the *Scene view* toggle is offered)."""
    return data.renderer is not None and bool(_drawable(data).any())


def is_scene(data: AppData) -> bool:
    """Whether the patches were cut from a scene (``eomine ingest --format scene``): the scene view starts on."""
    return can_show_scene(data) and "grid_col" in data.cat.columns and "scale_m" in data.cat.columns


def quicklook_composite(data: AppData, composite: str | None) -> str | None:
    """The composite the imagery is drawn in: the sidebar's choice when the workspace has it, else true colour,
    else its first composite; None without pixels."""
    comps = getattr(data.renderer, "composites_", None) or []
    if composite in comps:
        return composite
    return "true_color" if "true_color" in comps else (comps[0] if comps else None)


def scene_image(data: AppData, vp: Viewport, composite: str) -> dict | None:
    """The imagery of the view: the scale shown and its patches warped into their footprints (cached per view).

    Returns
    -------
    dict or None
        ``rgba`` (uint8 (H, W, 4), transparent where no patch is), ``rows`` (catalog rows drawn, int64 (B,)),
        ``scale`` (patch side in metres, NaN for a workspace of one scale), ``tile`` (side the patches were read
        at), ``width_px`` (a typical patch's width on screen), ``ms``; None when no scale fits the view (too many patches, or too small to see).
    """
    key = (vp.x_range, vp.y_range, vp.width, vp.height, composite)
    return data.caches.scene_image.get(key, lambda: _draw(data, vp, composite))


def _draw(data: AppData, vp: Viewport, composite: str) -> dict | None:
    t0 = time.perf_counter()
    corners = scene_corners(data)
    ok = _drawable(data)
    touching = visible(corners, vp) & ok
    rows = np.flatnonzero(touching)
    scale_col = data.cat["scale_m"].to_numpy(np.float64) if "scale_m" in data.cat.columns else None
    scale = scale_col[rows] if scale_col is not None else None
    c = corners[rows]
    width_px = np.hypot(*(c[:, 1] - c[:, 0]).T) * vp.width / (vp.x_range[1] - vp.x_range[0])
    s = choose_scale(scale, np.ones(len(rows), bool), width_px, max_patches=MAX_PATCHES)
    if s is None or not len(rows):
        return None
    cand = ok if scale_col is None or not np.isfinite(s) else ok & (scale_col == s)
    m = render_mosaic(data.renderer, corners, data.pixel_row, vp, composite, candidates=cand)
    if m is None:
        return None
    m.rgba.setflags(write=False)
    return {"rgba": m.rgba, "rows": m.rows, "scale": s, "tile": m.tile, "ms": round((time.perf_counter() - t0) * 1e3, 1),
            "width_px": float(np.median(width_px[scale == s])) if scale is not None and np.isfinite(s)
            else float(np.median(width_px))}


def scene_view(data: AppData, vp: Viewport, composite: str | None, codes: np.ndarray, colors: list[str],
               fmask: np.ndarray | None) -> dict | None:
    """The scene view of ``vp``: the imagery and the patches' outlines coloured by the scheme.

    Outlines in a grey (no label, clear, outside the selection: any colour of little chroma) are faint, and left
    out while patches are under ``OUTLINE_MIN_PX`` wide on screen, so the whole scene reads as imagery with its
    coloured patches (the cloudy ones of colour-by QA, the labelled ones) ringed; zoomed in, every patch is.

    Parameters
    ----------
    codes : ndarray of int16, shape (n,)
        Colour index per patch (-1: not drawn), with the grey of the unselected patches as the last colour.
    colors : list of str
        ``#rrggbb`` per code.
    fmask : ndarray of bool, shape (n,), or None
        Patches passing the filters (None: all); the others get no outline.

    Returns
    -------
    dict or None
        ``image`` (the imagery, uint8 (H, W, 4)), ``outlines`` (uint8 (H, W, 4)), ``covers`` (bool (n,): patches the
        scene view stands for, which the point raster leaves out), ``rows``, ``scale``, ``tile``, ``ms``; None when
        there is nothing to show (no pixels, or no scale fits the view).
    """
    composite = quicklook_composite(data, composite)
    if composite is None:
        return None
    img = scene_image(data, vp, composite)
    if img is None:
        return None
    rows = img["rows"]
    if fmask is not None:
        rows = rows[fmask[rows]]
    cd = codes[rows]
    rows, cd = rows[cd >= 0], cd[cd >= 0]
    rgb = hex_to_rgb(colors)
    neutral = (rgb.max(1).astype(int) - rgb.min(1)) < NEUTRAL_CHROMA
    small = img["width_px"] < OUTLINE_MIN_PX
    alpha = np.where(neutral, 0 if small else NEUTRAL_ALPHA, OUTLINE_ALPHA).astype(np.uint8)
    cols = np.concatenate([rgb, alpha[:, None]], axis=1)[cd]
    lines = outline(scene_corners(data)[rows], cols, vp)
    return {"image": img["rgba"], "outlines": lines, "covers": _drawable(data), "rows": img["rows"],
            "scale": img["scale"], "tile": img["tile"], "ms": img["ms"]}
