"""The map's plot coordinates: Web Mercator in degree units, and the workspace's geometry in them.

The x axis is longitude in degrees; the y axis is the Mercator northing expressed in the same "degree" unit,
``Y = degrees(ln tan(pi/4 + lat/2))``, so with ``yaxis.scaleanchor="x"`` and ``scaleratio=1`` one unit on
either axis has the same length on screen and shapes are right at every latitude. Everything outside the map
(the ``MAP_VIEW`` store, the URL, the map's box selection) stays in lon/lat degrees; conversions happen here.
"""

from __future__ import annotations

import math

import numpy as np

from .data import AppData

__all__ = ["LAT_MAX", "merc_y", "lat_of", "to_plot", "from_plot", "has_coordinates", "map_xy", "footprint_bounds",
           "basemap_image", "over", "axis_ticks", "WATER", "LAND", "BORDER"]

LAT_MAX = 85.05112878  # Web Mercator's limit
WATER = "#dbe9f4"
LAND = "#efeadf"
BORDER = "#9a9a9a"


def merc_y(lat) -> np.ndarray:
    """Web Mercator northing in degree units (NaN stays NaN; latitudes are clamped to +-85.05)."""
    lat = np.clip(np.asarray(lat, dtype=np.float64), -LAT_MAX, LAT_MAX)
    return np.degrees(np.arcsinh(np.tan(np.radians(lat))))  # = ln tan(pi/4 + lat/2)


def lat_of(y) -> np.ndarray:
    """Inverse of :func:`merc_y`."""
    return np.degrees(np.arctan(np.sinh(np.radians(np.asarray(y, dtype=np.float64)))))


def to_plot(view: dict) -> dict:
    """lon/lat view -> plot coordinates (lon, Mercator y)."""
    return {"x": [float(v) for v in view["x"]], "y": [float(v) for v in merc_y(view["y"])]}


def from_plot(pview: dict) -> dict:
    """Plot coordinates -> lon/lat view (rounded to ~1 cm)."""
    return {"x": [round(float(v), 7) for v in pview["x"]], "y": [round(float(v), 7) for v in lat_of(pview["y"])]}


def map_xy(data: AppData) -> tuple[np.ndarray, np.ndarray]:
    """(lon, Mercator y) of the patch centres, float32 arrays of shape (n,), NaN where unknown (cached)."""
    def build():
        return np.asarray(data.lon, np.float32), merc_y(data.lat).astype(np.float32)

    return data.caches.map_xy.get(None, build)


_STEPS = [s * 10.0 ** e for e in range(-4, 3) for s in (1, 2, 5)]


def _nice_step(span: float, n: int = 5) -> float:
    raw = span / max(n, 1)
    return next((s for s in _STEPS if s >= raw), _STEPS[-1])


def _fmt_deg(v: float, step: float, pos: str, neg: str) -> str:
    dec = max(0, math.ceil(-math.log10(step) - 1e-9))
    s = f"{abs(v):.{dec}f}"
    return f"{s}°" + ("" if abs(v) < 0.5 * step else pos if v > 0 else neg)


def axis_ticks(pview: dict, n: int = 6) -> dict:
    """Tick positions (plot coordinates) and degree labels for both axes of the plot-coordinate view ``pview``:
    round longitudes, and round latitudes placed at their Mercator y."""
    (x0, x1), (y0, y1) = pview["x"], pview["y"]
    sx = _nice_step(x1 - x0, n)
    xt = np.arange(math.ceil(x0 / sx - 1e-6), math.floor(x1 / sx + 1e-6) + 1) * sx
    lat0, lat1 = (float(v) for v in lat_of([y0, y1]))
    sy = _nice_step(lat1 - lat0, n)
    yt = np.arange(math.ceil(lat0 / sy - 1e-6), math.floor(lat1 / sy + 1e-6) + 1) * sy
    return {"xvals": xt.tolist(), "xtext": [_fmt_deg(((v + 180) % 360) - 180, sx, "E", "W") for v in xt],
            "yvals": merc_y(yt).tolist(), "ytext": [_fmt_deg(v, sy, "N", "S") for v in yt]}


def has_coordinates(data: AppData) -> bool:
    """Whether any patch has a centre on the map."""
    lon, y = map_xy(data)
    return bool((np.isfinite(lon) & np.isfinite(y)).any())


def footprint_bounds(data: AppData) -> tuple[np.ndarray, np.ndarray]:
    """Footprint boxes in plot coordinates (cached).

    Returns
    -------
    bounds : ndarray of float32, shape (4, n)
        lon_min, Y_min, lon_max, Y_max (NaN where unknown).
    known : ndarray of bool, shape (n,)
        Patches with a complete footprint.
    """
    def build():
        cat = data.cat
        if all(k in cat.columns for k in ("lon_min", "lat_min", "lon_max", "lat_max")):
            b = np.stack([cat["lon_min"].to_numpy(np.float64), merc_y(cat["lat_min"].to_numpy(np.float64)),
                          cat["lon_max"].to_numpy(np.float64), merc_y(cat["lat_max"].to_numpy(np.float64))])
        else:
            b = np.full((4, data.n), np.nan)
        b = b.astype(np.float32)
        return b, np.isfinite(b).all(0)

    return data.caches.footprints.get(None, build)


def _simplify(xy: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas-Peucker simplification of a closed ring (shapely), keeping at least a triangle."""
    import shapely

    ring = shapely.simplify(shapely.linearrings(xy), tolerance, preserve_topology=False)
    out = shapely.get_coordinates(ring)
    return out if len(out) >= 4 else xy[:0]


def basemap_image(data: AppData, box: dict, width: int, height: int) -> np.ndarray:
    """The basemap drawn for the plot-coordinate ``box``: water, land and borders, opaque.

    The map's patches are composited over it (:func:`over`) into the one image the figure shows, so the browser
    never lays out a vector basemap (a 377,510-character SVG path re-laid out on every zoom cost 250-300 ms).
    Rings are simplified to about half a pixel of the current zoom (Douglas-Peucker, cached per zoom level) and
    clipped to the box when they reach far beyond it.

    Returns
    -------
    ndarray of uint8, shape (height, width, 4)
    """
    key = (tuple(round(float(v), 9) for v in (*box["x"], *box["y"])), int(width), int(height))
    return data.caches.basemap_image.get(key, lambda: _draw_basemap(data, box, width, height))


def _draw_basemap(data: AppData, box: dict, width: int, height: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    (x0, x1), (y0, y1) = box["x"], box["y"]
    upp = max((x1 - x0) / width, (y1 - y0) / height)  # plot units per pixel
    level = int(np.floor(np.log2(max(upp, 1e-9))))
    img = Image.new("RGBA", (int(width), int(height)), WATER)
    draw = ImageDraw.Draw(img)
    sx, sy = width / (x1 - x0), height / (y1 - y0)
    span = max(x1 - x0, y1 - y0)
    for (rx0, ry0, rx1, ry1), xy in _rings_at(data, level):
        if rx1 < x0 or rx0 > x1 or ry1 < y0 or ry0 > y1:
            continue
        pieces = [xy]
        if max(rx1 - rx0, ry1 - ry0) > 8 * span:  # deep zoom into a large country: only the part in view
            pieces = _clip(xy, x0 - span, y0 - span, x1 + span, y1 + span)
        for part in pieces:
            pts = np.c_[(part[:, 0] - x0) * sx, (y1 - part[:, 1]) * sy].ravel().tolist()
            if len(pts) >= 6:
                draw.polygon(pts, fill=LAND, outline=BORDER)
    out = np.asarray(img)
    out.setflags(write=False)
    return out


def over(top: np.ndarray | None, base: np.ndarray) -> np.ndarray:
    """``top`` (RGBA with alpha) composited over the opaque ``base``; ``base`` when ``top`` is None."""
    if top is None:
        return base
    a = top[..., 3:4].astype(np.uint16)
    out = base.copy()
    out[..., :3] = ((top[..., :3].astype(np.uint16) * a + base[..., :3].astype(np.uint16) * (255 - a)) // 255)
    return out


def _rings_at(data: AppData, level: int) -> list:
    """[(bounding box, (m, 2) plot-coordinate vertices)] of every basemap ring, simplified to half a pixel at
    zoom ``level`` (2**level plot units per pixel); cached per level."""
    def build():
        from mining.basemap import load_basemap

        tol = 2.0 ** level / 2
        out = []
        for _, r in load_basemap():
            xy = np.c_[r[:, 0], merc_y(r[:, 1])]
            if tol > 1e-4:
                xy = _simplify(xy, tol)
            if len(xy) < 3:
                continue
            out.append(((xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()), xy))
        return out

    return data.caches.basemap.get(("rings", level), build)


def _clip(xy: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> list[np.ndarray]:
    """The exteriors of a ring's pieces inside a rectangle (empty when nothing is left)."""
    import shapely

    poly = shapely.clip_by_rect(shapely.make_valid(shapely.polygons(xy)), x0, y0, x1, y1)
    if poly.is_empty:
        return []
    return [np.asarray(g.exterior.coords) for g in getattr(poly, "geoms", [poly]) if g.geom_type == "Polygon"]
