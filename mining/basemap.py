"""The offline basemap: Natural Earth country outlines shipped in ``data/basemap/`` (public domain).

One loader for every picture that shows countries (the dashboard's map, the exported tour player): rings of
lon/lat vertices, read once per process.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from .errors import DataError
from .resources import DATA_DIR

__all__ = ["BASEMAP", "load_basemap", "rings_near"]

#: Natural Earth 1:50m Admin 0 countries with territory in lon -32..50, lat 26..73 (tools/make_basemap.py)
BASEMAP = DATA_DIR / "basemap" / "countries-50m-europe.geojson"


@functools.cache
def load_basemap(path: Path = BASEMAP) -> tuple[tuple[str, np.ndarray], ...]:
    """The exterior rings of every country, read once per process.

    Holes are dropped: every enclave is a country of its own, drawn in the same colour. A ring that crosses
    the antimeridian (Russia) is unwrapped eastwards (longitudes beyond 180).

    Returns
    -------
    tuple of (name, ndarray of float64, shape (m, 2))
        Country name and lon/lat vertices of each ring (read-only arrays).

    Raises
    ------
    DataError
        The file is missing or not GeoJSON (names it).
    """
    path = Path(path)
    try:
        gj = json.loads(path.read_text())
        features = gj["features"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read the basemap {path}: {exc}") from None
    rings = []
    for feat in features:
        geom = feat["geometry"]
        polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
        for poly in polys:
            r = np.asarray(poly[0], dtype=np.float64)
            if len(r) < 3:
                continue
            if np.abs(np.diff(r[:, 0])).max() > 180:  # crosses the antimeridian: unwrap eastwards
                r[:, 0] = np.where(r[:, 0] < 0, r[:, 0] + 360, r[:, 0])
            r.setflags(write=False)
            rings.append((str(feat.get("properties", {}).get("name")), r))
    return tuple(rings)


def rings_near(lon0: float, lat0: float, lon1: float, lat1: float, *, margin: float = 5.0,
               path: Path = BASEMAP) -> list[np.ndarray]:
    """Rings whose bounding box comes within ``margin`` degrees of the box [lon0, lon1] x [lat0, lat1]."""
    out = []
    for _, r in load_basemap(path):
        if r[:, 0].max() < lon0 - margin or r[:, 0].min() > lon1 + margin or r[:, 1].max() < lat0 - margin \
                or r[:, 1].min() > lat1 + margin:
            continue
        out.append(r)
    return out
