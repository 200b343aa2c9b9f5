"""The map's plot coordinates: Web Mercator in degree units, and the workspace's geometry in them.

The x axis is longitude in degrees; the y axis is the Mercator northing expressed in the same "degree" unit,
``Y = degrees(ln tan(pi/4 + lat/2))``, so with ``yaxis.scaleanchor="x"`` and ``scaleratio=1`` one unit on
either axis has the same length on screen and shapes are right at every latitude. Everything outside the map
(the ``MAP_VIEW`` store, the URL, the map's box selection) stays in lon/lat degrees; conversions happen here.
"""

from __future__ import annotations

import numpy as np

from .data import AppData

__all__ = ["LAT_MAX", "merc_y", "lat_of", "to_plot", "from_plot", "has_coordinates", "map_xy", "footprint_bounds",
           "basemap_path"]

LAT_MAX = 85.05112878  # Web Mercator's limit


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


def basemap_path(data: AppData, tolerance: float = 0.0) -> str:
    """The Natural Earth basemap as one SVG path in plot coordinates (cached per ``tolerance``).

    Parameters
    ----------
    tolerance : float
        Douglas-Peucker tolerance in plot units (degrees); 0 keeps every vertex (rounded to 0.001).
    """
    def build():
        from mining.basemap import load_basemap

        parts = []
        for _, r in load_basemap():
            xy = np.c_[np.round(r[:, 0], 3), np.round(merc_y(r[:, 1]), 3)]
            if tolerance > 0:
                xy = _simplify(xy, tolerance)
            if len(xy) < 3:  # simplified away (an islet smaller than the tolerance)
                continue
            keep = np.r_[True, (np.diff(xy, axis=0) != 0).any(1)]
            xy = xy[keep]
            if len(xy) < 3:
                continue
            pts = "L".join(f"{x:.3f},{y:.3f}".replace(".000", "") for x, y in xy)
            parts.append(f"M{pts}Z")
        return "".join(parts)

    return data.caches.basemap.get(float(tolerance), build)


def _simplify(xy: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas-Peucker simplification of a closed ring (shapely), keeping at least a triangle."""
    import shapely

    ring = shapely.simplify(shapely.linearrings(xy), tolerance, preserve_topology=False)
    out = shapely.get_coordinates(ring)
    return out if len(out) >= 4 else xy[:0]
