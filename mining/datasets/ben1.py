"""BigEarthNet v1.0: patch folders with ``<patch>_labels_metadata.json`` + the official tables."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..nomenclature import ben43_to_19
from ._geotiff import read_tif
from .base import S1_GROUP, S2_GROUPS, Issue, PatchDataset
from .reben import _geometry_frame, acquisition_from_id

__all__ = ["BigEarthNetV1"]

_TILE_RE = re.compile(r"_T(\d{2}[C-X][A-Z]{2})_")


@cache
def _epsg_of_wkt(wkt: str) -> int:
    from pyproj import CRS

    code = CRS.from_wkt(wkt).to_epsg()
    if code is None:
        raise DataError("projection WKT has no EPSG code")
    return int(code)


class BigEarthNetV1(PatchDataset):
    """BigEarthNet v1.0 (Sumbul et al. 2019), 43-class labels mapped to the 19-class nomenclature.

    Parameters
    ----------
    root : path-like
        Folder holding ``BigEarthNet-v1.0/`` (S2 patches; or that folder itself), optionally
        ``BigEarthNet-S1-v1.0/`` and ``metadata/`` with the official tables (``train.csv``, ``val.csv``,
        ``test.csv``, ``patches_with_cloud_and_shadow.csv``, ``patches_with_seasonal_snow.csv``,
        ``s1_s2_name_country_season.csv``; ``.bz2`` accepted).
    metadata_dir : path-like, optional
        Where the official tables are; default ``root/metadata``.
    """

    format = "ben1"
    dataset = "BigEarthNet-v1"
    nomenclature_key = "ben19"
    groups = (*S2_GROUPS, S1_GROUP)

    def __init__(self, root, *, metadata_dir=None, metadata_only: bool = False):
        super().__init__(Path(root), metadata_only=metadata_only)
        self.metadata_dir = Path(metadata_dir) if metadata_dir else None

    def _dirs(self) -> tuple[Path, Path | None, Path | None]:
        root = self.root
        s2 = root / "BigEarthNet-v1.0"
        if not s2.is_dir():
            s2 = root  # the S2 folder itself
            root = root.parent
        s1 = root / "BigEarthNet-S1-v1.0"
        meta = self.metadata_dir or (root / "metadata")
        return s2, (s1 if s1.is_dir() else None), (meta if meta.is_dir() else None)

    @staticmethod
    def _table(meta: Path | None, name: str, **kw) -> pd.DataFrame | None:
        if meta is None:
            return None
        for cand in (meta / name, meta / f"{name}.bz2"):
            if cand.is_file():
                try:
                    return pd.read_csv(cand, **kw)
                except Exception as exc:
                    raise DataError(f"cannot read BigEarthNet table {cand}: {exc}") from None
        return None

    def scan(self):
        s2_root, s1_root, meta = self._dirs()
        if not s2_root.is_dir():
            raise DataError(f"BigEarthNet v1 folder not found: {self.root}")
        issues: list[Issue] = []
        mapping = ben43_to_19()
        rows = []
        for d in sorted(p for p in s2_root.iterdir() if p.is_dir()):
            pid = d.name
            jf = d / f"{pid}_labels_metadata.json"
            if not jf.is_file():
                issues.append(Issue(pid, "no-metadata", f"missing {jf.name} in {d}"))
                continue
            try:
                doc = json.loads(jf.read_text())
                labels43 = doc["labels"]
                c = doc["coordinates"]
                ulx, uly, lrx, lry = c["ulx"], c["uly"], c["lrx"], c.get("lry", c.get("lly"))
                epsg = _epsg_of_wkt(doc["projection"])
            except (json.JSONDecodeError, KeyError, TypeError, DataError) as exc:
                issues.append(Issue(pid, "bad-metadata", f"{jf}: malformed or missing field {exc}"))
                continue
            unknown = [lab for lab in labels43 if lab not in mapping]
            if unknown:
                issues.append(Issue(pid, "unknown-class", f"{jf}: unknown class {unknown[0]!r} in field 'labels' "
                                                          "(not in the BigEarthNet 43-class nomenclature)"))
                continue
            labels19 = sorted({mapping[lab] for lab in labels43 if mapping[lab]})
            if not labels19:
                issues.append(Issue(pid, "no-19-class-target", f"{jf}: none of {labels43} maps to a 19-class label"))
                continue
            tile = _TILE_RE.search(doc.get("tile_source", "") or "")
            rows.append({"patch_id": pid, "labels": labels19, "x_min": float(ulx), "y_min": float(lry),
                         "x_max": float(lrx), "y_max": float(uly), "epsg": epsg,
                         "tile": tile.group(1) if tile else None,
                         "acquired": doc.get("acquisition_date"), "tmp_dir": str(d)})
        df = pd.DataFrame(rows, columns=["patch_id", "labels", "x_min", "y_min", "x_max", "y_max", "epsg",
                                         "tile", "acquired", "tmp_dir"])
        df = self._validate_labels(df, issues)
        df["dataset"] = self.dataset
        acq = pd.to_datetime(df["acquired"], utc=True, errors="coerce")
        df["acquired"] = acq.fillna(acquisition_from_id(df["patch_id"]))
        geo = _geometry_frame(df["tile"].to_numpy(), df["x_min"].to_numpy(float), df["y_min"].to_numpy(float),
                              df["x_max"].to_numpy(float), df["y_max"].to_numpy(float), df["epsg"].to_numpy())
        for c in ("crs", "lon", "lat", "lon_min", "lat_min", "lon_max", "lat_max"):
            df[c] = geo[c].to_numpy()
        df = df.drop(columns=["epsg"])
        df["source"] = df["tmp_dir"].map(lambda p: str(Path(p).relative_to(s2_root.parent)))

        # official tables: split, cloud/snow lists, S1 partner + country + season
        split = pd.Series(pd.NA, index=df.index, dtype=object)
        for name, value in (("train.csv", "train"), ("val.csv", "validation"), ("test.csv", "test")):
            t = self._table(meta, name, header=None, names=["patch"])
            if t is not None:
                split[df["patch_id"].isin(t["patch"])] = value
        df["split"] = split
        for name, col in (("patches_with_cloud_and_shadow.csv", "cloud_or_shadow"),
                          ("patches_with_seasonal_snow.csv", "seasonal_snow")):
            t = self._table(meta, name, header=None, names=["patch"])
            df[col] = df["patch_id"].isin(t["patch"]) if t is not None else False
        css = self._table(meta, "s1_s2_name_country_season.csv")
        if css is not None:
            css = css.drop_duplicates("s2_name").set_index("s2_name")
            df["s1_id"] = df["patch_id"].map(css["s1_name"])
            df["country"] = df["patch_id"].map(css["country"])
            df["season"] = df["patch_id"].map(css["season"])
        else:
            df["s1_id"] = None
        # S1 partner folders: the S1 JSON names its S2 patch (`corresponding_s2_patch`)
        s1_dirs: dict[str, str] = {}
        if s1_root is not None:
            for d in s1_root.iterdir():
                jf = d / f"{d.name}_labels_metadata.json"
                s2name = None
                if jf.is_file():
                    try:
                        s2name = json.loads(jf.read_text()).get("corresponding_s2_patch")
                    except json.JSONDecodeError:
                        issues.append(Issue(d.name, "bad-metadata", f"{jf} is not valid JSON"))
                if s2name:
                    s1_dirs[s2name] = str(d)
        df["tmp_s1_dir"] = df["patch_id"].map(s1_dirs)
        s1_from_json = df["tmp_s1_dir"].map(lambda p: Path(p).name if isinstance(p, str) else None)
        df["s1_id"] = s1_from_json.where(s1_from_json.notna(), df["s1_id"])
        df = df.rename(columns={"tmp_dir": "tmp_s2_dir"})
        return df, issues

    def read(self, row) -> dict[str, np.ndarray]:
        pid = row.patch_id
        d = Path(row.tmp_s2_dir)
        out = {g.name: np.concatenate([read_tif(d / f"{pid}_{b}.tif", shape=(g.size, g.size), where=pid)
                                       for b in g.bands]) for g in S2_GROUPS}
        if isinstance(row.tmp_s1_dir, str):
            s1 = Path(row.tmp_s1_dir)
            out["s1"] = np.concatenate([read_tif(s1 / f"{s1.name}_{b}.tif", shape=(120, 120), where=pid)
                                        for b in S1_GROUP.bands])
        return out
