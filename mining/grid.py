"""Sentinel-2 tile grid and patch footprints.

BigEarthNet / reBEN patches are 1200 m x 1200 m cells of a Sentinel-2 tile. A patch id ends in
``_<tile>_<col>_<row>`` and its upper-left corner is ``(x0 + 1200*col, y0 - 1200*row)`` where ``(x0, y0)``
is the upper-left corner of the tile in its UTM zone.

The tile origin follows from the MGRS 100 km square the tile is named after: Sentinel-2 tiles start at the
square's west edge and at its north edge (south edge + 100 km), both snapped outwards to the 60 m grid
(``x0 = floor(E/60)*60``, ``y0 = ceil(N/60)*60``). This reproduces every origin measured in the real data
(e.g. T33UUP -> (300000, 5400000), T34WFU -> (600000, 7400040), T29SND -> (499980, 4400040)); the tests
check it against the GeoTIFF transforms and the official v1 footprints.
"""

from __future__ import annotations

import math
import re
import warnings
from functools import cache

import numpy as np

from .errors import DataError

__all__ = ["PATCH_SIZE_M", "tile_origin", "parse_reben_id", "patch_bounds", "utm_epsg", "to_wgs84"]

#: side of a BigEarthNet patch in metres
PATCH_SIZE_M = 1200.0

_TILE_RE = re.compile(r"^(\d{2})([C-X])([A-Z]{2})$")
_REBEN_ID_RE = re.compile(r"_T(\d{2}[C-X][A-Z]{2})_(\d+)_(\d+)$")


def utm_epsg(tile: str) -> int:
    """EPSG code of the (northern hemisphere) UTM zone of an MGRS tile id like ``33UUP``."""
    m = _TILE_RE.match(tile)
    if not m:
        raise DataError(f"not a Sentinel-2 tile id: {tile!r} (expected e.g. '33UUP')")
    zone = int(m.group(1))
    north = m.group(2) >= "N"
    return (32600 if north else 32700) + zone


@cache
def tile_origin(tile: str) -> tuple[float, float]:
    """Upper-left corner ``(x0, y0)`` in metres of Sentinel-2 tile ``tile`` in its UTM zone.

    Parameters
    ----------
    tile : str
        MGRS tile id without the leading ``T``, e.g. ``"33UUP"``.
    """
    import mgrs
    from pyproj import Transformer

    epsg = utm_epsg(tile)
    try:
        with warnings.catch_warnings():  # "Latitude Warning": the square straddles a latitude band edge; harmless
            warnings.simplefilter("ignore", RuntimeWarning)
            lat, lon = mgrs.MGRS().toLatLon(tile + "0000000000")  # south-west corner of the 100 km square
    except Exception as exc:  # mgrs raises a bare MGRSError for impossible squares
        raise DataError(f"tile {tile!r} is not a valid MGRS 100 km square: {exc}") from None
    e, n = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
    e = round(e / 100000.0) * 100000.0
    n = round(n / 100000.0) * 100000.0
    return float(math.floor(e / 60.0) * 60.0), float(math.ceil((n + 100000.0) / 60.0) * 60.0)


def parse_reben_id(patch_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split reBEN patch ids into tile, column and row.

    Parameters
    ----------
    patch_ids : array-like of str, shape (n,)

    Returns
    -------
    tiles : ndarray of str, shape (n,)
    cols, rows : ndarray of int32, shape (n,)
    """
    import pandas as pd

    s = pd.Series(np.asarray(patch_ids, dtype=object))
    parts = s.str.extract(_REBEN_ID_RE)
    bad = parts[0].isna()
    if bad.any():
        raise DataError(f"patch id {s[bad].iloc[0]!r} does not end in _T<tile>_<col>_<row> "
                        f"({int(bad.sum())} such ids)")
    return parts[0].to_numpy(str), parts[1].astype(np.int32).to_numpy(), parts[2].astype(np.int32).to_numpy()


def patch_bounds(tiles, cols, rows) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Footprints of grid patches in their tile's UTM CRS.

    Returns
    -------
    xmin, ymin, xmax, ymax : ndarray of float64, shape (n,)
    epsg : ndarray of int32, shape (n,)
    """
    tiles = np.asarray(tiles)
    uniq, inv = np.unique(tiles, return_inverse=True)
    origins = np.array([tile_origin(t) for t in uniq], dtype=np.float64).reshape(-1, 2)
    epsgs = np.array([utm_epsg(t) for t in uniq], dtype=np.int32)
    xmin = origins[inv, 0] + PATCH_SIZE_M * np.asarray(cols, dtype=np.float64)
    ymax = origins[inv, 1] - PATCH_SIZE_M * np.asarray(rows, dtype=np.float64)
    return xmin, ymax - PATCH_SIZE_M, xmin + PATCH_SIZE_M, ymax, epsgs[inv]


def to_wgs84(x, y, epsg) -> tuple[np.ndarray, np.ndarray]:
    """Project coordinates from per-point EPSG codes to WGS84 lon/lat.

    Parameters
    ----------
    x, y : array-like of float, shape (n,)
    epsg : array-like of int, shape (n,), or a single int

    Returns
    -------
    lon, lat : ndarray of float64, shape (n,)
    """
    from pyproj import Transformer

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    epsg = np.broadcast_to(np.asarray(epsg), x.shape)
    lon = np.full(x.shape, np.nan)
    lat = np.full(x.shape, np.nan)
    for code in np.unique(epsg):
        sel = epsg == code
        tr = Transformer.from_crs(int(code), 4326, always_xy=True)
        lon[sel], lat[sel] = tr.transform(x[sel], y[sel])
    return lon, lat
