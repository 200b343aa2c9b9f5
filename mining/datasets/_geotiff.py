"""GeoTIFF reading with error messages that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError


def read_tif(path: Path, *, shape: tuple[int, int] | None = None, where: str = "") -> np.ndarray:
    """Read every band of a GeoTIFF.

    Returns
    -------
    ndarray, shape (bands, height, width)
    """
    import rasterio
    from rasterio.errors import RasterioError

    path = Path(path)
    at = f"{where}: " if where else ""
    if not path.is_file():
        raise DataError(f"{at}missing band file {path}")
    try:
        with rasterio.open(path) as src:
            arr = src.read()
    except (RasterioError, OSError) as exc:
        raise DataError(f"{at}cannot read {path} (corrupt or truncated GeoTIFF?): {exc}") from None
    if shape is not None and arr.shape[1:] != tuple(shape):
        raise DataError(f"{at}{path} is {arr.shape[1]}x{arr.shape[2]} px, expected {shape[0]}x{shape[1]}")
    return arr


def georef(path: Path, *, where: str = "") -> tuple[str, tuple[float, float, float, float]]:
    """CRS (``EPSG:xxxx`` or WKT) and bounds ``(xmin, ymin, xmax, ymax)`` of a GeoTIFF."""
    import rasterio
    from rasterio.errors import RasterioError

    at = f"{where}: " if where else ""
    if not Path(path).is_file():
        raise DataError(f"{at}missing band file {path}")
    try:
        with rasterio.open(path) as src:
            crs = src.crs
            b = src.bounds
    except (RasterioError, OSError) as exc:
        raise DataError(f"{at}cannot read {path} (corrupt or truncated GeoTIFF?): {exc}") from None
    if crs is None:
        raise DataError(f"{at}{path} has no coordinate reference system")
    epsg = crs.to_epsg()
    return (f"EPSG:{epsg}" if epsg else crs.to_wkt()), (b.left, b.bottom, b.right, b.top)
