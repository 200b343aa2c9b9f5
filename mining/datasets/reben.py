"""reBEN / BigEarthNet v2.0: official folder layout + ``metadata.parquet``, or metadata only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..grid import parse_reben_id, patch_bounds, to_wgs84
from ..store import BandGroup
from ._geotiff import georef, read_tif
from .base import S1_GROUP, S2_GROUPS, Issue, PatchDataset, issue_from_error

__all__ = ["ReBEN", "load_reben_metadata", "grid_geometry"]

METADATA_FILES = ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
METADATA_COLUMNS = ("patch_id", "labels", "split", "country", "s1_name", "contains_seasonal_snow",
                    "contains_cloud_or_shadow")
REFMAP_GROUP = BandGroup("refmap", ("CLC",), 120, "uint16", 10.0, 0)


def load_reben_metadata(paths) -> pd.DataFrame:
    """Read and concatenate reBEN metadata Parquet files (both official files, or any subset).

    Raises :class:`DataError` naming the file for a missing file or column.
    """
    frames = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise DataError(f"reBEN metadata file not found: {p}")
        try:
            df = pd.read_parquet(p)
        except Exception as exc:
            raise DataError(f"cannot read reBEN metadata {p}: {exc}") from None
        missing = [c for c in METADATA_COLUMNS if c not in df.columns]
        if missing:
            raise DataError(f"{p}: missing column {missing[0]!r} (expected {', '.join(METADATA_COLUMNS)})")
        df = df[list(METADATA_COLUMNS)].copy()
        df["tmp_metadata"] = p.name
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def acquisition_from_id(patch_ids: pd.Series) -> pd.Series:
    """Sensing time encoded in reBEN / v1 ids (``..._MSIL2A_20170613T101031_...``; v1 may drop a leading 0)."""
    s = patch_ids.str.extract(r"_MSIL2A_(\d{8})T(\d{5,6})_")
    t = s[1].str.zfill(6)
    return pd.to_datetime(s[0] + t, format="%Y%m%d%H%M%S", utc=True, errors="coerce")


def grid_geometry(patch_ids) -> pd.DataFrame:
    """Tile, footprint (UTM and WGS84 bbox) and centre of reBEN patches from their ids alone."""
    tiles, cols, rows = parse_reben_id(patch_ids)
    xmin, ymin, xmax, ymax, epsg = patch_bounds(tiles, cols, rows)
    return _geometry_frame(tiles, xmin, ymin, xmax, ymax, epsg)


def _geometry_frame(tiles, xmin, ymin, xmax, ymax, epsg) -> pd.DataFrame:
    epsg = np.asarray(epsg)
    lon, lat = to_wgs84((xmin + xmax) / 2, (ymin + ymax) / 2, epsg)
    # bbox of the projected square in WGS84 (corners; UTM squares are slightly rotated in lon/lat)
    cx = np.stack([xmin, xmax, xmin, xmax])
    cy = np.stack([ymin, ymin, ymax, ymax])
    clon, clat = to_wgs84(cx.ravel(), cy.ravel(), np.tile(epsg, 4))
    clon = clon.reshape(4, -1)
    clat = clat.reshape(4, -1)
    return pd.DataFrame({
        "tile": tiles, "x_min": xmin, "y_min": ymin, "x_max": xmax, "y_max": ymax,
        "crs": pd.Series(epsg).map(lambda e: f"EPSG:{e}").to_numpy(),
        "lon": lon, "lat": lat, "lon_min": clon.min(0), "lat_min": clat.min(0),
        "lon_max": clon.max(0), "lat_max": clat.max(0),
    })


class ReBEN(PatchDataset):
    """reBEN (BigEarthNet v2.0), Clasen et al. 2025.

    Parameters
    ----------
    root : path-like
        Folder with ``BigEarthNet-S2/`` (and optionally ``BigEarthNet-S1/``, ``Reference_Maps/``) and the
        official metadata Parquet files.
    metadata : list of path-like, optional
        Metadata files; default: the official ones found in ``root``.
    metadata_only : bool
        Ingest every metadata row without pixels; footprints come from the tile grid (see :mod:`mining.grid`).

    Notes
    -----
    With pixels, every patch's footprint and CRS come from its B02 GeoTIFF, so a patch id need not end in
    ``_T<tile>_<col>_<row>``: a benchmark cut from a scene and exported by ``eomine export --format
    reben-layout`` (ids ``<scene>_<col>_<row>``) reads back with its ids (``tile`` is then null). Without pixels
    (``metadata_only``) the footprint comes from the id, and such ids are skipped (``bad-id``).
    """

    format = "reben"
    dataset = "reBEN"
    nomenclature_key = "ben19"
    groups = (*S2_GROUPS, S1_GROUP)

    def __init__(self, root, *, metadata=None, metadata_only: bool = False):
        super().__init__(Path(root), metadata_only=metadata_only)
        self.metadata = metadata
        self._groups = self.groups
        if not metadata_only and (self.root / "Reference_Maps").is_dir():
            self._groups = (*self.groups, REFMAP_GROUP)

    @property
    def store_groups(self) -> tuple[BandGroup, ...]:
        return self._groups

    def _metadata_paths(self) -> list[Path]:
        if self.metadata:
            return [Path(p) for p in self.metadata]
        found = [self.root / f for f in METADATA_FILES if (self.root / f).is_file()]
        if not found:
            raise DataError(f"no reBEN metadata in {self.root} (expected {METADATA_FILES[0]}); "
                            "pass --metadata PATH")
        return found

    def scan(self):
        if not self.root.is_dir():
            raise DataError(f"reBEN folder not found: {self.root}")
        issues: list[Issue] = []
        md = load_reben_metadata(self._metadata_paths())
        md = self._drop_duplicates(md, issues, "the reBEN metadata")
        md = self._validate_labels(md, issues)
        on_grid = md["patch_id"].str.contains(r"_T\d{2}[C-X][A-Z]{2}_\d+_\d+$", regex=True).to_numpy(bool)
        if self.metadata_only:  # the footprint can only come from the id
            for pid in md.loc[~on_grid, "patch_id"]:
                issues.append(Issue(pid, "bad-id", "patch_id does not end in _T<tile>_<col>_<row>"))
            md = md[on_grid].reset_index(drop=True)
            on_grid = np.ones(len(md), dtype=bool)

        df = pd.DataFrame({
            "patch_id": md["patch_id"], "dataset": self.dataset, "split": md["split"], "labels": md["labels"],
            "acquired": acquisition_from_id(md["patch_id"]), "country": md["country"],
            "cloud_or_shadow": md["contains_cloud_or_shadow"].astype(bool),
            "seasonal_snow": md["contains_seasonal_snow"].astype(bool),
            "s1_id": md["s1_name"],
        })
        geo = grid_geometry(df["patch_id"].to_numpy()[on_grid]).set_axis(np.flatnonzero(on_grid))
        geo = geo.reindex(range(len(df)))
        for c in ("tile", "crs"):
            geo[c] = geo[c].astype(object).where(geo[c].notna(), None)
        df = pd.concat([df, geo], axis=1)
        if self.metadata_only:
            df["source"] = md["tmp_metadata"]
            return df, issues

        s2_root = self.root / "BigEarthNet-S2"
        if not s2_root.is_dir():
            raise DataError(f"{s2_root} not found (use --metadata-only to ingest without pixels)")
        s2_dirs = {p.name: p for p in s2_root.glob("*/*") if p.is_dir()}
        s1_dirs = {p.name: p for p in (self.root / "BigEarthNet-S1").glob("*/*") if p.is_dir()}
        ref_dirs = {p.name: p for p in (self.root / "Reference_Maps").glob("*/*") if p.is_dir()}
        known = set(df["patch_id"])
        for name in sorted(set(s2_dirs) - known):
            issues.append(Issue(name, "no-metadata", f"pixels in {s2_dirs[name]} have no row in the metadata"))
        have = df["patch_id"].isin(s2_dirs)
        for pid, grid in zip(df.loc[~have, "patch_id"], on_grid[~have.to_numpy()], strict=True):
            issues.append(Issue(pid, "no-pixels", f"metadata row has no folder under {s2_root}") if grid else
                          Issue(pid, "bad-id", "patch_id does not end in _T<tile>_<col>_<row> and has no folder "
                                               f"under {s2_root} to take its footprint from"))
        df = df[have].reset_index(drop=True)
        df["tmp_s2_dir"] = df["patch_id"].map(lambda p: str(s2_dirs[p]))
        df["tmp_s1_dir"] = df["s1_id"].map(lambda s: str(s1_dirs[s]) if s in s1_dirs else None)
        df["tmp_ref_dir"] = df["patch_id"].map(lambda p: str(ref_dirs[p]) if p in ref_dirs else None)
        df["source"] = df["tmp_s2_dir"].map(lambda p: str(Path(p).relative_to(self.root)))
        # geolocation from each patch's own GeoTIFF transform (the grid footprint is only the fallback)
        keep = np.ones(len(df), dtype=bool)
        for i, (pid, d) in enumerate(zip(df["patch_id"], df["tmp_s2_dir"], strict=True)):
            try:
                crs, (x0, y0, x1, y1) = georef(Path(d) / f"{pid}_B02.tif", where=pid)
            except DataError as exc:
                issues.append(issue_from_error(pid, exc))
                keep[i] = False
                continue
            df.loc[i, ["x_min", "y_min", "x_max", "y_max", "crs"]] = [x0, y0, x1, y1, crs]
        df = df[keep].reset_index(drop=True)
        if len(df):
            epsg = df["crs"].str.removeprefix("EPSG:").astype(int).to_numpy()
            geo = _geometry_frame(df["tile"].to_numpy(), df["x_min"].to_numpy(float), df["y_min"].to_numpy(float),
                                  df["x_max"].to_numpy(float), df["y_max"].to_numpy(float), epsg)
            for c in ("lon", "lat", "lon_min", "lat_min", "lon_max", "lat_max"):
                df[c] = geo[c].to_numpy()
        return df, issues

    def read(self, row) -> dict[str, np.ndarray]:
        pid = row.patch_id
        d = Path(row.tmp_s2_dir)
        out = {}
        for g in S2_GROUPS:
            out[g.name] = np.concatenate(
                [read_tif(d / f"{pid}_{b}.tif", shape=(g.size, g.size), where=pid) for b in g.bands])
        if isinstance(row.tmp_s1_dir, str):
            s1 = Path(row.tmp_s1_dir)
            out["s1"] = np.concatenate(
                [read_tif(s1 / f"{s1.name}_{b}.tif", shape=(120, 120), where=pid) for b in S1_GROUP.bands])
        if isinstance(getattr(row, "tmp_ref_dir", None), str):
            r = Path(row.tmp_ref_dir)
            out["refmap"] = read_tif(r / f"{pid}_reference_map.tif", shape=(120, 120), where=pid)
        return out
