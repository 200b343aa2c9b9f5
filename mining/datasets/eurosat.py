"""EuroSAT (Helber et al. 2019): MS (13-band GeoTIFF, B8A last on disk) and RGB (JPEG, no coordinates)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..store import BandGroup
from ._geotiff import georef, read_tif
from .base import Issue, PatchDataset, issue_from_error
from .reben import _geometry_frame

__all__ = ["EuroSATMS", "EuroSATRGB"]

CLASSES = ("AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture", "PermanentCrop",
           "Residential", "River", "SeaLake")
_NAME_RE = re.compile(r"^(" + "|".join(CLASSES) + r")_(\d+)$")


class _EuroSATBase(PatchDataset):
    nomenclature_key = "eurosat"
    suffixes: tuple[str, ...] = ()

    def __init__(self, root, *, metadata_only: bool = False):
        super().__init__(Path(root), metadata_only=metadata_only)

    def _files(self, issues: list[Issue]) -> pd.DataFrame:
        if not self.root.is_dir():
            raise DataError(f"EuroSAT folder not found: {self.root}")
        rows = []
        for f in sorted(self.root.rglob("*")):
            if f.suffix.lower() not in self.suffixes or not f.is_file():
                continue
            m = _NAME_RE.match(f.stem)
            if not m:
                issues.append(Issue(f.stem, "unknown-class", f"{f}: file name is not <Class>_<n> with a EuroSAT "
                                                             f"class ({', '.join(CLASSES)})"))
                continue
            if f.parent.name != m.group(1):
                issues.append(Issue(f.stem, "unknown-class", f"{f} lies in folder {f.parent.name!r}, "
                                                             f"not in its class folder {m.group(1)!r}"))
                continue
            rows.append({"patch_id": f.stem, "labels": [m.group(1)], "tmp_file": str(f),
                         "source": str(f.relative_to(self.root))})
        if not rows:
            raise DataError(f"no EuroSAT {'/'.join(self.suffixes)} files named <Class>_<n> under {self.root}")
        df = pd.DataFrame(rows)
        df = self._drop_duplicates(df, issues, f"{self.root} (same <Class>_<n> file in two places)")
        df["dataset"] = self.dataset
        df["split"] = None  # EuroSAT has no official split
        return df


class EuroSATMS(_EuroSATBase):
    """EuroSAT MS: 64 x 64 px, 13 Sentinel-2 L1C bands (incl. B10), UTM georeference per file.

    The bands on disk are B01..B12 followed by B8A (B8A is the LAST band, not the 9th).
    """

    format = "eurosat"
    dataset = "EuroSAT-MS"
    #: band order on disk
    disk_bands = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")
    #: stored in the canonical Sentinel-2 order
    groups = (BandGroup("s2_all", ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10",
                                   "B11", "B12"), 64, "uint16", 10.0, None),)
    suffixes = (".tif", ".tiff")

    def scan(self):
        issues: list[Issue] = []
        df = self._files(issues)
        keep = np.ones(len(df), dtype=bool)
        geo = []
        for i, (pid, f) in enumerate(zip(df["patch_id"], df["tmp_file"], strict=True)):
            try:
                crs, b = georef(Path(f), where=pid)
            except DataError as exc:
                issues.append(issue_from_error(pid, exc))
                keep[i] = False
                continue
            geo.append((int(crs.removeprefix("EPSG:")), *b))
        df = df[keep].reset_index(drop=True)
        g = np.array(geo, dtype=np.float64).reshape(-1, 5)
        frame = _geometry_frame(np.full(len(df), None), g[:, 1], g[:, 2], g[:, 3], g[:, 4], g[:, 0].astype(int))
        return pd.concat([df, frame], axis=1), issues

    def read(self, row) -> dict[str, np.ndarray]:
        arr = read_tif(Path(row.tmp_file), shape=(64, 64), where=row.patch_id)
        if arr.shape[0] != 13:
            raise DataError(f"{row.patch_id}: {row.tmp_file} has {arr.shape[0]} bands, EuroSAT MS has 13")
        order = [self.disk_bands.index(b) for b in self.groups[0].bands]
        return {"s2_all": arr[order]}


class EuroSATRGB(_EuroSATBase):
    """EuroSAT RGB: 64 x 64 px JPEG (B04, B03, B02 as 8-bit), no coordinates."""

    format = "eurosat-rgb"
    dataset = "EuroSAT-RGB"
    groups = (BandGroup("rgb", ("B04", "B03", "B02"), 64, "uint8", 10.0, None),)
    suffixes = (".jpg", ".jpeg")

    def scan(self):
        issues: list[Issue] = []
        return self._files(issues), issues

    def read(self, row) -> dict[str, np.ndarray]:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(row.tmp_file) as im:
                arr = np.asarray(im.convert("RGB"))
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"{row.patch_id}: cannot read {row.tmp_file} (corrupt JPEG?): {exc}") from None
        if arr.shape[:2] != (64, 64):
            raise DataError(f"{row.patch_id}: {row.tmp_file} is {arr.shape[1]}x{arr.shape[0]} px, expected 64x64")
        return {"rgb": arr.transpose(2, 0, 1)}
