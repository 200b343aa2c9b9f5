"""A Sentinel-2 scene (and optionally a Sentinel-1 partner) cut into patches: the start of a new benchmark.

Sources (``eomine ingest SRC --format scene``):

* a **STAC item** JSON whose band assets are local COGs (each href is resolved by its file name against the
  item's folder, or ``assets``);
* a **folder of per-band files** (``*B02*.tif`` / ``.jp2``, ``SCL``), including a SAFE product's
  ``GRANULE/*/IMG_DATA/R10m|R20m|R60m`` layout (each band from its finest resolution folder);
* a **multi-band GeoTIFF** whose band descriptions name the bands (``B1`` … ``B12``, ``B8A``).

The grid
--------
Patches of ``patch_size`` metres tile the scene from its top-left corner, on the grid of the scene's finest
band as read from the file (its transform and CRS; a STAC item's ``proj:shape`` is never used: published files
may be decimated). Columns and rows that would run past the scene's edge are left out. Patch ids are
``<scene>_<col>_<row>`` (with several ``scales``: ``<scene>_<scale>m_<col>_<row>``). Bands are stored in the
reBEN groups at their native resolution (``s2_10m`` B02 B03 B04 B08, ``s2_20m`` B05 B06 B07 B8A B11 B12,
``s2_60m`` B01 B09 [B10]); a band stored finer than its native resolution (a multi-band file resampled to 10 m)
is averaged down to it. A coarser scale of a multiscale tiling (``--scales 4800,2400,1200``) is stored at the
pixel size of the finest scale (averaged), and each patch records its ``parent_id`` (the patch of the next
coarser scale that contains it: what the ``cascade`` query of active learning walks down).

QA from the scene classification layer (SCL, when present)
---------------------------------------------------------
Per patch, the fraction of SCL pixels of each kind: ``qa_cloud`` (8, 9), ``qa_cirrus`` (10), ``qa_shadow``
(3), ``qa_snow`` (11), ``qa_water`` (6), ``qa_nodata`` (0). reBEN-style flags: ``cloud_or_shadow`` when
``qa_cloud + qa_cirrus + qa_shadow > cloud_threshold`` (default 0: any such pixel, as reBEN's "contains"),
``seasonal_snow`` when ``qa_snow > snow_threshold`` (default 0). Patches whose nodata share (SCL 0, or the
10 m bands all at their nodata value) exceeds ``max_nodata`` are skipped and reported.

Sentinel-1 (``s1``): one GeoTIFF with VV and VH; every patch reads the window of its footprint (reprojected
to the S1 file's CRS), resampled to the 10 m group's size; patches outside it get NaN and ``has_s1 = False``.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..nomenclature import Nomenclature, load_nomenclature
from ..store import BandGroup
from .base import Issue, PatchDataset

__all__ = ["SceneDataset", "SCL_CLASSES", "NATIVE_GROUPS"]

#: reBEN's groups by native resolution (B10 joins the 60 m group in L1C products)
NATIVE_GROUPS = (("s2_10m", 10.0, ("B02", "B03", "B04", "B08")),
                 ("s2_20m", 20.0, ("B05", "B06", "B07", "B8A", "B11", "B12")),
                 ("s2_60m", 60.0, ("B01", "B09", "B10")))
#: the QA fractions taken from SCL and the classes each counts
SCL_CLASSES = {"qa_cloud": (8, 9), "qa_cirrus": (10,), "qa_shadow": (3,), "qa_snow": (11,), "qa_water": (6,),
               "qa_nodata": (0,)}
#: GDAL block cache (MB) while cutting a scene: one row of 512 x 512 blocks of 13 uint16 bands of a full tile
GDAL_CACHE_MB = 256
_BAND = re.compile(r"(?:^|[_\-.])B(\d{1,2}|8A)(?=$|[_\-.])", re.IGNORECASE)
_DESC = re.compile(r"^B(\d{1,2}|8A)$", re.IGNORECASE)


def _band_name(token: str) -> str:
    """``B2`` / ``b02`` / ``8A`` -> ``B02`` / ``B8A``."""
    t = token.upper().lstrip("B")
    return "B8A" if t == "8A" else f"B{int(t):02d}"


def _band_of_file(path: Path) -> str | None:
    m = _BAND.search(path.stem)
    return _band_name(m.group(1)) if m else None


class SceneDataset(PatchDataset):
    """A Sentinel-2 scene cut into patches (see the module docstring).

    Parameters
    ----------
    root : path-like
        A STAC item JSON, a folder of band files (or a SAFE product), or a multi-band GeoTIFF.
    patch_size : float
        Patch side in metres (the finest scale when ``scales`` is given).
    scales : sequence of float, optional
        Several patch sizes in metres, each an integer multiple of the next finer (e.g. 4800, 2400, 1200).
    assets : path-like, optional
        STAC: the folder holding the assets (default: the item's folder).
    s1 : path-like, optional
        A Sentinel-1 GeoTIFF (VV, VH) to pair by footprint.
    max_nodata : float
        Patches with a larger nodata share are skipped (reported).
    cloud_threshold, snow_threshold : float
        The QA flags' thresholds on the SCL fractions.
    nomenclature : str, optional
        The classes labels will be given in: ``ben19`` (default) or ``eurosat``.
    classes : sequence of str, optional
        Own class names instead.
    name : str, optional
        The scene's name in patch ids (default: the STAC id, the product or file name).
    """

    format = "scene"
    dataset = "scene"

    def __init__(self, root, *, patch_size: float = 1200.0, scales=None, assets=None, s1=None,
                 max_nodata: float = 0.1, cloud_threshold: float = 0.0, snow_threshold: float = 0.0,
                 nomenclature: str | None = None, classes=None, name: str | None = None,
                 metadata_only: bool = False):
        super().__init__(Path(root), metadata_only=metadata_only)
        self.patch_size = float(patch_size)
        self.scales = tuple(sorted({float(s) for s in scales}, reverse=True)) if scales else (self.patch_size,)
        self.assets = Path(assets) if assets else None
        self.s1 = Path(s1) if s1 else None
        self.max_nodata = float(max_nodata)
        self.cloud_threshold = float(cloud_threshold)
        self.snow_threshold = float(snow_threshold)
        self.nomenclature_name = nomenclature
        self.classes = tuple(classes) if classes else None
        self.name = name
        self._bands: dict[str, tuple[Path, int]] = {}   # band -> (file, 1-based index)
        self._scl: Path | None = None
        self._groups: tuple[BandGroup, ...] = ()
        self._local = threading.local()
        self._meta: dict = {}
        self._strips: dict = {}                 # (file, band, scale, grid row) -> [lock, strip]
        self._strip_lock = threading.Lock()
        self._strip_cap = 64
        self._geom: dict = {}
        self._px: dict[float, int] = {}
        self._ref: tuple | None = None           # (transform, crs, width, height) of the finest band, set by scan
        self._group_files: dict[str, list[tuple[Path, int]]] = {}
        if not 0 <= self.max_nodata <= 1:
            raise DataError(f"--max-nodata must be in [0, 1], got {max_nodata}")
        for a, b in zip(self.scales, self.scales[1:], strict=False):
            if abs(a / b - round(a / b)) > 1e-9:
                raise DataError(f"--scales: {a:g} m is not a multiple of {b:g} m")

    # ------------------------------------------------------------------ tables
    @property
    def nomenclature(self) -> Nomenclature:
        if self.classes:
            return Nomenclature.generic(list(self.classes), name=f"classes of {self.scene_name}")
        return load_nomenclature(self.nomenclature_name or "ben19")

    @property
    def store_groups(self) -> tuple[BandGroup, ...]:
        groups = self._groups
        if self.s1 is not None and groups:
            g10 = groups[0]
            groups = (*groups, BandGroup("s1", ("VV", "VH"), g10.size, "float32", g10.resolution, None))
        return groups

    @property
    def scene_name(self) -> str:
        return self.name or self._meta.get("id") or self.root.stem

    # ------------------------------------------------------------------ finding the bands
    def _discover(self) -> None:
        import rasterio
        import rasterio.env

        # GDAL's block cache defaults to 5 % of the RAM; every strip is read once, so a small cache that holds
        # one row of 512-px blocks of every band keeps the peak RSS bounded (read when GDAL first caches a block)
        rasterio.env.set_gdal_config("GDAL_CACHEMAX", GDAL_CACHE_MB)

        root = self.root
        if not root.exists():
            raise DataError(f"scene not found: {root}")
        if root.is_file() and root.suffix.lower() == ".json":
            self._from_stac(root)
        elif root.is_dir():
            self._from_folder(root)
        elif root.suffix.lower() in (".tif", ".tiff"):
            try:
                with rasterio.open(root) as src:
                    desc = src.descriptions
            except rasterio.errors.RasterioError as exc:
                raise DataError(f"cannot read {root} (corrupt or not a GeoTIFF?): {exc}") from None
            for i, d in enumerate(desc, 1):
                if d and _DESC.match(d.strip()):
                    self._bands[_band_name(d.strip())] = (root, i)
            if not self._bands:
                raise DataError(f"{root}: no band descriptions naming Sentinel-2 bands (B1 ... B12, B8A); found "
                                f"{list(desc)}")
        else:
            raise DataError(f"{root}: give a STAC item (.json), a folder of band files or a multi-band GeoTIFF")
        if not any(b in self._bands for b in ("B02", "B03", "B04", "B08")):
            raise DataError(f"{root}: no 10 m band (B02, B03, B04 or B08) found")

    def _from_stac(self, path: Path) -> None:
        try:
            item = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read STAC item {path}: {exc}") from None
        if item.get("type") != "Feature" or "assets" not in item:
            raise DataError(f"{path}: not a STAC item (a Feature with assets)")
        props = item.get("properties", {})
        self._meta = {"id": item.get("id"), "datetime": props.get("datetime"),
                      "tile": props.get("s2:mgrs_tile") or "".join(str(props.get(k, "")) for k in
                                                                 ("mgrs:utm_zone", "mgrs:latitude_band",
                                                                  "mgrs:grid_square")) or None}
        folder = self.assets or path.parent
        for key, asset in item["assets"].items():
            href = str(asset.get("href", ""))
            name = Path(href.split("?")[0]).name
            if not name.lower().endswith((".tif", ".tiff")):
                continue  # the jp2 twins, metadata, thumbnails
            local = folder / name
            stem = Path(name).stem.upper()
            if stem == "SCL" or key.lower() == "scl":
                if local.is_file():
                    self._scl = local
                continue
            band = _band_of_file(Path(name))
            if band is None:
                for eo in asset.get("eo:bands", []) or []:
                    m = re.search(r"band (\d{1,2}A?)\)", str(eo.get("description", "")))
                    if m:
                        band = _band_name(m.group(1))
            if band is None or "visual" in (asset.get("roles") or []):
                continue
            if not local.is_file():
                raise DataError(f"{path}: asset {key!r} ({band}) not found at {local} (use --assets DIR)")
            self._bands[band] = (local, 1)

    def _from_folder(self, root: Path) -> None:
        files = [f for f in root.rglob("*") if f.suffix.lower() in (".tif", ".tiff", ".jp2") and f.is_file()]
        best: dict[str, tuple[float, Path]] = {}
        for f in files:
            res = next((float(p[1:-1]) for p in f.parts if re.fullmatch(r"R\d+m", p)), 0.0)
            if f.stem.upper() == "SCL" or re.search(r"_SCL(_\d+m)?$", f.stem, re.IGNORECASE):
                if self._scl is None or res < best.get("SCL", (1e9, f))[0]:
                    self._scl = f
                    best["SCL"] = (res, f)
                continue
            band = _band_of_file(f)
            if band is None or "TCI" in f.stem.upper():
                continue
            if band not in best or res < best[band][0]:
                best[band] = (res, f)
        for band, (_, f) in best.items():
            if band != "SCL":
                self._bands[band] = (f, 1)
        if not self._bands:
            raise DataError(f"{root}: no Sentinel-2 band files (*B02*.tif / .jp2) found")
        if root.suffix == ".SAFE" or root.name.endswith(".SAFE"):
            self._meta.setdefault("id", root.name[:-5])

    # ------------------------------------------------------------------ the grid
    def _open(self, path: Path):
        """A rasterio handle per reading thread (reads of one handle are not thread-safe)."""
        import rasterio

        cache = getattr(self._local, "handles", None)
        if cache is None:
            cache = self._local.handles = {}
        if path not in cache:
            try:
                cache[path] = rasterio.open(path)
            except rasterio.errors.RasterioError as exc:
                raise DataError(f"cannot read {path} (corrupt or not a raster?): {exc}") from None
        return cache[path]

    def _file_info(self, path: Path) -> tuple:
        import rasterio

        try:
            with rasterio.open(path) as src:
                return src.transform, src.crs, src.width, src.height, src.nodata, src.dtypes[0]
        except rasterio.errors.RasterioError as exc:
            raise DataError(f"cannot read {path} (corrupt or not a raster?): {exc}") from None

    @staticmethod
    def _metres(transform, crs) -> float:
        """Pixel height in metres (geographic CRS: degrees of latitude x 111,320 m)."""
        size = abs(transform.e)
        return size * 111_320.0 if crs is not None and crs.is_geographic else size

    def scan(self):
        from ..workspace import season_of

        self._discover()
        ref_band = next(b for b in ("B02", "B03", "B04", "B08") if b in self._bands)
        ref_path = self._bands[ref_band][0]
        transform, crs, width, height, _, _ = self._file_info(ref_path)
        if crs is None:
            raise DataError(f"{ref_path}: no CRS; a scene needs a georeferenced grid")
        if abs(transform.b) > 1e-12 or abs(transform.d) > 1e-12:
            raise DataError(f"{ref_path}: rotated grids are not supported")
        self._ref = (transform, crs, width, height)
        res_ref = self._metres(transform, crs)
        # every scale as a whole number of reference pixels (1 % tolerance: a geographic grid's "10 m" pixel is
        # 0.0000898 deg = 9.997 m)
        px = {}
        for s_m in self.scales:
            n = s_m / res_ref
            if round(n) < 1 or abs(n - round(n)) > 0.01 * n:
                raise DataError(f"--patch-size / --scales: {s_m:g} m is not a whole number of the scene's "
                                f"{res_ref:g} m pixels ({ref_path.name})")
            px[s_m] = int(round(n))
        finest = px[self.scales[-1]]
        self._px = px
        groups = []
        self._group_files = {}
        for gname, native, bands in NATIVE_GROUPS:
            have = [b for b in bands if b in self._bands]
            if not have:
                continue
            infos = {b: self._file_info(self._bands[b][0]) for b in have}
            res = max(self._metres(i[0], i[1]) for i in infos.values())
            if res <= res_ref * 1.001:  # stored on the scene's finest grid: bring the group to its native resolution
                res = res_ref * native / 10.0 if res_ref < native * 1.001 else res
            size = finest * res_ref / res
            if abs(size - round(size)) > 1e-6 or round(size) < 1:
                raise DataError(f"--patch-size {self.scales[-1]:g} m is not a whole number of {gname} pixels "
                                f"({res:g} m)")
            dtype = str(np.dtype(infos[have[0]][5]))
            nodata = infos[have[0]][4]
            groups.append(BandGroup(gname, tuple(have), int(round(size)), dtype, float(res),
                                    None if nodata is None or np.isnan(nodata) else nodata))
            self._group_files[gname] = [self._bands[b] for b in have]
        self._groups = tuple(groups)
        self._strip_cap = 3 * sum(len(v) for v in self._group_files.values())  # about 3 rows of patches per band
        # the patch grid of every scale, from the scene's top-left corner
        rows = []
        scene = self.scene_name
        multi = len(self.scales) > 1
        x0, y0 = transform.c, transform.f
        for s_m in self.scales:
            sx, sy = px[s_m] * transform.a, px[s_m] * abs(transform.e)  # patch side in CRS units
            n_c, n_r = width // px[s_m], height // px[s_m]
            cc, rr = np.meshgrid(np.arange(n_c), np.arange(n_r))
            cc, rr = cc.ravel(), rr.ravel()
            tag = f"{scene}_{int(s_m)}m" if multi else scene
            df = pd.DataFrame({"patch_id": [f"{tag}_{c}_{r}" for c, r in zip(cc, rr, strict=True)],
                               "scale_m": s_m, "grid_col": cc, "grid_row": rr,
                               "x_min": x0 + cc * sx, "x_max": x0 + (cc + 1) * sx,
                               "y_max": y0 - rr * sy, "y_min": y0 - (rr + 1) * sy})
            rows.append(df)
        cat = pd.concat(rows, ignore_index=True)
        cat["parent_id"] = None
        if multi:
            for coarse, fine in zip(self.scales, self.scales[1:], strict=False):
                m = cat["scale_m"] == fine
                f = int(round(coarse / fine))
                cat.loc[m, "parent_id"] = [f"{scene}_{int(coarse)}m_{c // f}_{r // f}" for c, r in
                                           zip(cat.loc[m, "grid_col"], cat.loc[m, "grid_row"], strict=True)]
                known = set(cat.loc[cat["scale_m"] == coarse, "patch_id"])
                cat.loc[m & ~cat["parent_id"].isin(known), "parent_id"] = None  # the edge beyond the coarse grid
        epsg = crs.to_epsg()
        crs_name = f"EPSG:{epsg}" if epsg else crs.to_string()
        cat["crs"] = crs_name
        cat["dataset"] = self.dataset
        cat["labels"] = [[] for _ in range(len(cat))]
        cat["split"] = None
        cat["tile"] = self._meta.get("tile")
        when = self._meta.get("datetime")
        cat["acquired"] = pd.Timestamp(when) if when else pd.NaT
        if when:
            cat["season"] = season_of(pd.to_datetime(cat["acquired"], utc=True))
        cat["source"] = str(self.root)
        self._lonlat(cat, crs)
        if self.s1 is not None:
            cat["s1_id"] = self.s1.stem
        return self._qa(cat)

    @staticmethod
    def _lonlat(cat: pd.DataFrame, crs) -> None:
        from pyproj import Transformer

        tr = Transformer.from_crs(crs, "OGC:CRS84", always_xy=True)
        x0, x1, y0, y1 = (cat[c].to_numpy(float) for c in ("x_min", "x_max", "y_min", "y_max"))
        lon, lat = tr.transform((x0 + x1) / 2, (y0 + y1) / 2)
        cx = np.stack([x0, x1, x0, x1])
        cy = np.stack([y0, y0, y1, y1])
        clon, clat = tr.transform(cx, cy)
        cat["lon"], cat["lat"] = lon, lat
        cat["lon_min"], cat["lon_max"] = clon.min(0), clon.max(0)
        cat["lat_min"], cat["lat_max"] = clat.min(0), clat.max(0)

    def _window(self, src, row):
        from rasterio.windows import from_bounds

        w = from_bounds(row.x_min, row.y_min, row.x_max, row.y_max, transform=src.transform)
        return w.round_offsets().round_lengths()

    def _qa(self, cat: pd.DataFrame) -> tuple[pd.DataFrame, list[Issue]]:
        """SCL fractions and flags per patch (whole-scene read of SCL: it is 20 m, small), nodata skips."""
        issues: list[Issue] = []
        for c in SCL_CLASSES:
            cat[c] = np.nan
        if self._scl is not None:
            src = self._open(self._scl)
            scl = src.read(1)
            for i, row in enumerate(cat.itertuples()):
                w = self._window(src, row)
                r0, c0 = int(w.row_off), int(w.col_off)
                block = scl[max(r0, 0): r0 + int(w.height), max(c0, 0): c0 + int(w.width)]
                n = block.size or 1
                counts = np.bincount(block.ravel(), minlength=256)
                for c, codes in SCL_CLASSES.items():
                    cat.iat[i, cat.columns.get_loc(c)] = counts[list(codes)].sum() / n
            cat["cloud_or_shadow"] = (cat["qa_cloud"] + cat["qa_cirrus"] + cat["qa_shadow"]) > self.cloud_threshold
            cat["seasonal_snow"] = cat["qa_snow"] > self.snow_threshold
        else:
            cat["qa_nodata"] = self._nodata_share(cat)
        bad = cat["qa_nodata"].to_numpy(float) > self.max_nodata
        for pid, share in zip(cat.loc[bad, "patch_id"], cat.loc[bad, "qa_nodata"], strict=True):
            issues.append(Issue(pid, "nodata", f"{share:.0%} nodata (more than --max-nodata {self.max_nodata:g})"))
        keep = ~bad
        # a fine patch whose parent was skipped keeps no parent
        kept = set(cat.loc[keep, "patch_id"])
        cat.loc[~cat["parent_id"].isin(kept), "parent_id"] = None
        return cat[keep].reset_index(drop=True), issues

    def _nodata_share(self, cat: pd.DataFrame) -> np.ndarray:
        """Share of pixels at the nodata value in every 10 m band (no SCL): one decimated read per patch."""
        g = self._groups[0]
        path, band = self._group_files[g.name][0]
        src = self._open(path)
        nd = src.nodata
        if nd is None:
            return np.zeros(len(cat))
        out = np.empty(len(cat))
        for i, row in enumerate(cat.itertuples()):
            a = src.read(band, window=self._window(src, row), boundless=True, fill_value=nd)
            out[i] = float(np.mean(a == nd)) if a.size else 1.0
        return out

    # ------------------------------------------------------------------ pixels
    def read(self, row) -> dict[str, np.ndarray]:
        out = {}
        for g in self._groups:
            arr = np.empty(g.shape, dtype=g.dtype)
            for j, (path, band) in enumerate(self._group_files[g.name]):
                strip, f = self._strip(path, band, g, row.scale_m, row.grid_row, row.patch_id)
                w = strip.shape[0]  # the patch is w x w file pixels
                a = strip[:, row.grid_col * w:(row.grid_col + 1) * w]
                if f > 1:  # averaged down to the group's pixel size (native resolution, or a coarser scale)
                    a = a.reshape(g.size, f, g.size, f).mean((1, 3))
                    a = np.rint(a) if np.issubdtype(arr.dtype, np.integer) else a
                arr[j] = a
            out[g.name] = arr
        if self.s1 is not None:
            out["s1"] = self._read_s1(row)
        return out

    def _strip(self, path: Path, band: int, g: BandGroup, scale_m: float, grid_row: int, pid: str):
        """One row of patches of one band file (read once, shared by the reading threads; the last few rows of
        each file are kept), and the averaging factor from file pixels to the group's pixels."""
        from rasterio.windows import Window

        src_info = self._strip_geometry(path, g, scale_m)
        w, f = src_info
        key = (path, band, scale_m, grid_row)
        with self._strip_lock:
            entry = self._strips.get(key)
            if entry is None:
                entry = self._strips[key] = [threading.Lock(), None]
                while len(self._strips) > self._strip_cap:
                    self._strips.pop(next(iter(self._strips)))
        lock = entry[0]
        with lock:
            if entry[1] is None:
                src = self._open(path)
                n_c = src.width // w
                try:
                    entry[1] = src.read(band, window=Window(0, grid_row * w, n_c * w, w))
                except Exception as exc:  # noqa: BLE001 (GDAL raises several kinds for a damaged file)
                    raise DataError(f"{pid}: cannot read {path} (corrupt or truncated?): {exc}") from None
            return entry[1], f

    def _strip_geometry(self, path: Path, g: BandGroup, scale_m: float) -> tuple[int, int]:
        """(patch side in pixels of this file, averaging factor to the group's pixel size)."""
        key = (path, g.name, scale_m)
        if key not in self._geom:
            transform = self._file_info(path)[0]
            ref_t = self._ref[0]
            px_ref = self._px[scale_m]
            w = px_ref * abs(ref_t.e) / abs(transform.e)
            if abs(w - round(w)) > 1e-6:
                raise DataError(f"{path}: its pixels ({abs(transform.e):g}) do not tile the scene's patches")
            w = int(round(w))
            f = w // g.size
            if f * g.size != w:
                raise DataError(f"{path}: {w} px per patch cannot be averaged to {g.size} px")
            self._geom[key] = (w, f)
        return self._geom[key]

    def _read_s1(self, row) -> np.ndarray | None:
        from rasterio.enums import Resampling
        from rasterio.warp import transform_bounds
        from rasterio.windows import from_bounds

        g10 = self._groups[0]
        src = self._open(self.s1)
        b = transform_bounds(self._ref[1], src.crs, row.x_min, row.y_min, row.x_max, row.y_max)
        left, bottom, right, top = src.bounds
        if b[2] <= left or b[0] >= right or b[3] <= bottom or b[1] >= top:
            return None
        w = from_bounds(*b, transform=src.transform)
        arr = src.read([1, 2], window=w, out_shape=(2, g10.size, g10.size), resampling=Resampling.bilinear,
                       boundless=True, fill_value=np.nan).astype(np.float32)
        return arr

    def made_by(self) -> dict:
        return {**super().made_by(), "patch_size": self.patch_size, "scales": list(self.scales),
                "assets": str(self.assets) if self.assets else None, "s1": str(self.s1) if self.s1 else None,
                "max_nodata": self.max_nodata, "cloud_threshold": self.cloud_threshold,
                "snow_threshold": self.snow_threshold, "scene": self.scene_name}
