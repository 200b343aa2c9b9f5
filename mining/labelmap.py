"""Label maps: the labels of a workspace's patches as a GeoTIFF on the patches' grid (``eomine export --format
labelmap``), for QGIS, rasterio and any GIS.

* One pixel per patch (default; the patch side is the pixel size), or ``pixel`` metres per pixel (``--pixel
  10``: each patch fills its block of 10 m pixels).
* Single-label workspaces: one uint8 band of class codes (1 = the nomenclature's first class, ...), a colour
  table with the nomenclature's colours, nodata 0 where a patch has no label (or is not in the workspace).
* Multi-label workspaces: one uint8 band per class (1 = the patch carries it, 0 = not, 255 = unlabelled), each
  band described by its class name.
* Beside it ``<name>.csv``: ``code, class, colour, patches`` (the codes and band numbers).

The grid is the catalog's footprints (``x_min .. y_max`` in ``crs``): the patches must share one CRS and lie
on one grid of squares of one size (a scene ingest; a reBEN tile); patches of a coarser scale are left out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .quality import label_matrix
from .workspace import Workspace, atomic_write

__all__ = ["write_label_map"]


def _grid(cat: pd.DataFrame, pixel: float | None) -> tuple:
    x0, x1, y0, y1 = (cat[c].to_numpy(float) for c in ("x_min", "x_max", "y_min", "y_max"))
    if not (np.isfinite(x0).all() and np.isfinite(y1).all()):
        raise DataError("label map: some patches have no footprint (x_min .. y_max in the catalog)")
    crs = cat["crs"].dropna().unique()
    if len(crs) != 1:
        raise DataError(f"label map: the patches lie in {len(crs)} CRSs ({', '.join(map(str, crs[:3]))} ...); "
                        f"export one scene or tile at a time")
    side = np.round(x1 - x0, 9)
    w = float(np.median(side))
    if not np.allclose(side, w, rtol=1e-6) or not np.allclose(y1 - y0, w, rtol=1e-6):
        raise DataError("label map: the patches are not squares of one size (field x_min .. y_max)")
    ox, oy = float(x0.min()), float(y1.max())
    col = (x0 - ox) / w
    row = (oy - y1) / w
    if not (np.allclose(col, np.round(col), atol=1e-6) and np.allclose(row, np.round(row), atol=1e-6)):
        raise DataError("label map: the patches do not lie on one grid (their corners are not whole patch "
                        "widths apart)")
    scale = 1
    if pixel:
        from pyproj import CRS

        side_m = w * 111_320.0 if CRS.from_user_input(str(crs[0])).is_geographic else w  # degrees of latitude
        s = side_m / pixel
        if abs(s - round(s)) > 0.01 * s or round(s) < 1:  # 1 %: a geographic grid's "10 m" pixel is 9.997 m
            raise DataError(f"--pixel {pixel:g} m does not divide the patch side ({side_m:g} m)")
        scale = int(round(s))
    return (np.round(col).astype(np.int64), np.round(row).astype(np.int64), ox, oy, w, str(crs[0]), scale)


def write_label_map(workspace, out, *, pixel: float | None = None, overwrite: bool = False,
                    labels: pd.Series | None = None, log=None) -> dict:
    """Write the label map GeoTIFF ``out`` and its ``.csv`` of codes.

    Parameters
    ----------
    workspace : Workspace or path-like
    out : path-like
        ``.tif`` to write.
    pixel : float, optional
        Pixel size in metres (default: one pixel per patch).
    overwrite : bool
    labels : Series of lists, optional
        The labels to map, indexed by patch id (default: the current labels after the edit log; patches without
        labels are nodata).
    log : EditLog or PostgresEditLog, optional
        The edit log the current labels come from (default: :func:`~mining.curation.open_log`).

    Returns
    -------
    dict
        ``width``, ``height``, ``crs``, ``bounds``, ``n_labelled``, ``bands``, ``csv``.
    """
    import rasterio
    from rasterio.transform import from_origin

    from .curation import open_log

    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    out = Path(out)
    csv = out.with_suffix(".csv")
    for p in (out, csv):
        if p.exists() and not overwrite:
            raise DataError(f"{p} already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise DataError(f"cannot write {out}: folder {out.parent} does not exist")
    cat = ws.catalog
    if "scale_m" in cat.columns:  # a multiscale tiling: the finest scale
        cat = cat[cat["scale_m"] == cat["scale_m"].min()]
    classes = list(ws.nomenclature.classes)
    if labels is None:
        cur = (log or open_log(ws, create=False)).current_labels()
        lists = pd.Series(cur.lists(), index=ws.ids)
    else:
        lists = labels
    lab = lists.reindex(cat["patch_id"]).map(lambda v: list(v) if isinstance(v, list | tuple | np.ndarray) else [])
    col, row, ox, oy, w, crs, scale = _grid(cat, pixel)
    n_c, n_r = int(col.max()) + 1, int(row.max()) + 1
    Y = label_matrix(lab.reset_index(drop=True), classes)
    labelled = Y.any(1)
    single = bool(labelled.any() and (Y[labelled].sum(1) == 1).all())
    if single:
        grid = np.zeros((1, n_r, n_c), np.uint8)
        grid[0, row[labelled], col[labelled]] = Y[labelled].argmax(1) + 1
        nodata = 0
    else:
        grid = np.full((len(classes), n_r, n_c), 255, np.uint8)
        grid[:, row[labelled], col[labelled]] = Y[labelled].T
        nodata = 255
    if scale > 1:
        grid = grid.repeat(scale, axis=1).repeat(scale, axis=2)
    px = w / scale
    profile = {"driver": "GTiff", "width": grid.shape[2], "height": grid.shape[1], "count": grid.shape[0],
               "dtype": "uint8", "crs": crs, "transform": from_origin(ox, oy, px, px), "nodata": nodata,
               "compress": "deflate", "tiled": grid.shape[1] >= 256 and grid.shape[2] >= 256}
    colours = ws.nomenclature.colors

    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(grid)
            if single:
                cmap = {0: (0, 0, 0, 0)}
                for i, hexc in enumerate(colours):
                    h = hexc.lstrip("#")
                    cmap[i + 1] = (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 255)
                dst.write_colormap(1, cmap)
                dst.set_band_description(1, "class code (see the .csv)")
            else:
                for i, c in enumerate(classes):
                    dst.set_band_description(i + 1, c)
            dst.update_tags(eomine_workspace=str(ws.path), eomine_pixel=str(px),
                            eomine_kind="single-label codes" if single else "one band per class")

    atomic_write(out, write)
    counts = Y.sum(0)
    table = pd.DataFrame({"code" if single else "band": np.arange(1, len(classes) + 1), "class": classes,
                          "colour": list(colours), "patches": counts})
    atomic_write(csv, lambda tmp: table.to_csv(tmp, index=False))
    return {"width": profile["width"], "height": profile["height"], "crs": crs,
            "bounds": (ox, oy - n_r * w, ox + n_c * w, oy), "n_labelled": int(labelled.sum()),
            "bands": grid.shape[0], "csv": str(csv), "single_label": single}
