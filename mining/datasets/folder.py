"""Any patch set: a folder of GeoTIFF / PNG / JPEG patches + a CSV or Parquet table of labels, or no table at
all (an unlabelled pool for active learning, with the classes given by a nomenclature or a list)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..nomenclature import Nomenclature, load_nomenclature
from ..store import BandGroup
from .base import Issue, PatchDataset
from .reben import _geometry_frame

__all__ = ["PatchFolder"]

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
LABEL_SEPARATORS = ("|", ";")


def _parse_labels(v) -> list[str]:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return []
    if isinstance(v, list | tuple | np.ndarray):
        return [str(x).strip() for x in v if str(x).strip()]
    s = str(v).strip()
    if s.startswith("["):
        import json

        try:
            return [str(x) for x in json.loads(s)]
        except json.JSONDecodeError:
            pass
    for sep in LABEL_SEPARATORS:
        if sep in s:
            return [p.strip() for p in s.split(sep) if p.strip()]
    return [s] if s else []


class PatchFolder(PatchDataset):
    """A folder of patch images plus a table ``patch_id, labels[, lon, lat, split]``, or without a table an
    unlabelled pool (every image is a patch with no label; ``nomenclature`` or ``classes`` names the classes
    active learning will ask for).

    Parameters
    ----------
    root : path-like
        Folder searched (recursively) for ``<patch_id>.tif|.tiff|.png|.jpg|.jpeg``.
    table : path-like
        CSV or Parquet with columns ``patch_id`` and ``labels`` (a list, a JSON list, or names separated by
        ``|`` or ``;``) and optionally ``lon``, ``lat``, ``split``. Default: ``root/labels.csv`` or
        ``root/labels.parquet``.
    bands : sequence of str, optional
        Band names in file order (e.g. ``B04,B03,B02``); default: the GeoTIFF band descriptions, ``B04,B03,B02``
        for 3-band PNG/JPEG, else ``band1..bandN``.
    nomenclature : str, optional
        ``ben19`` or ``eurosat`` to validate labels against a shipped nomenclature (a class may be written as
        the app shows it, e.g. ``Urban``, or in another case: :meth:`Nomenclature.resolve`); default: the classes
        found.
    classes : sequence of str, optional
        The class names of an unlabelled pool (no table) when no shipped nomenclature fits.
    """

    format = "folder"
    dataset = "folder"

    def __init__(self, root, *, table=None, bands=None, nomenclature: str | None = None,
                 metadata_only: bool = False, classes=None):
        super().__init__(Path(root), metadata_only=metadata_only)
        self.classes = tuple(classes) if classes else None
        self.table = Path(table) if table else None
        self.band_names = tuple(bands) if bands else None
        self.nomenclature_name = nomenclature
        self._nom: Nomenclature | None = None
        self._group: BandGroup | None = None

    @property
    def nomenclature(self) -> Nomenclature:
        if self._nom is None:
            raise RuntimeError("scan() first")
        return self._nom

    @property
    def store_groups(self):
        return (self._group,) if self._group else ()

    def _table_path(self) -> Path:
        if self.table:
            return self.table
        for name in ("labels.csv", "labels.parquet"):
            if (self.root / name).is_file():
                return self.root / name
        if self.nomenclature_name or self.classes:
            return None  # an unlabelled pool
        raise DataError(f"no label table: pass --table PATH (or put labels.csv in {self.root}), or --nomenclature / "
                        f"--classes to ingest the images unlabelled")

    def _unlabelled_table(self) -> pd.DataFrame:
        ids = sorted({f.stem for f in self.root.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()})
        if not ids:
            raise DataError(f"no images (.tif .png .jpg) under {self.root}")
        return pd.DataFrame({"patch_id": ids, "labels": [[] for _ in ids]})

    def scan(self):
        if not self.root.is_dir():
            raise DataError(f"patch folder not found: {self.root}")
        if self.table is None and self.classes and self.nomenclature_name:
            raise DataError("give --nomenclature or --classes, not both")
        path = self._table_path()
        if path is None:
            t = self._unlabelled_table()
            path = self.root
        elif not path.is_file():
            raise DataError(f"label table not found: {path}")
        else:
            try:
                t = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
            except Exception as exc:
                raise DataError(f"cannot read label table {path}: {exc}") from None
        for col in ("patch_id", "labels"):
            if col not in t.columns:
                raise DataError(f"{path}: missing column {col!r} (need patch_id, labels[, lon, lat, split])")
        issues: list[Issue] = []
        t = t.assign(patch_id=t["patch_id"].astype(str), labels=t["labels"].map(_parse_labels))
        t = self._drop_duplicates(t, issues, str(path))
        if self.nomenclature_name:
            self._nom = load_nomenclature(self.nomenclature_name)
            t["labels"] = _resolve_labels(t["labels"], self._nom)
        elif self.classes:
            self._nom = Nomenclature.generic(list(self.classes), name=f"classes of {self.root.name}")
            t["labels"] = _resolve_labels(t["labels"], self._nom)
        else:
            names = sorted({lab for labs in t["labels"] for lab in labs})
            self._nom = Nomenclature.generic(names, name=f"classes of {path.name}")
        t = self._validate_labels(t, issues)

        files: dict[str, Path] = {}
        for f in self.root.rglob("*"):
            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file():
                if f.stem in files:
                    issues.append(Issue(f.stem, "duplicate-id", f"two images for one patch: {files[f.stem]} and {f}"))
                    continue
                files[f.stem] = f
        known = set(t["patch_id"])
        for pid in sorted(set(files) - known):
            issues.append(Issue(pid, "no-metadata", f"image {files[pid]} has no row in {path}"))
        if not self.metadata_only:
            have = t["patch_id"].isin(files)
            for pid in t.loc[~have, "patch_id"]:
                issues.append(Issue(pid, "no-pixels", f"row in {path} has no image <patch_id>.tif/.png/.jpg "
                                                      f"under {self.root}"))
            t = t[have].reset_index(drop=True)
        df = pd.DataFrame({"patch_id": t["patch_id"], "labels": t["labels"], "dataset": self.dataset,
                           "split": t["split"] if "split" in t else None})
        df["tmp_file"] = df["patch_id"].map(lambda p: str(files[p]) if p in files else None)
        df["source"] = df["tmp_file"].map(lambda p: str(Path(p).relative_to(self.root)) if p else None)
        if "lon" in t and "lat" in t:
            df["lon"] = pd.to_numeric(t["lon"], errors="coerce")
            df["lat"] = pd.to_numeric(t["lat"], errors="coerce")
            bad = df["lon"].notna() & ~(df["lon"].between(-180, 180) & df["lat"].between(-90, 90))
            for pid in df.loc[bad, "patch_id"]:
                issues.append(Issue(pid, "bad-metadata", f"{path}: lon/lat outside WGS84 range"))
            df = df[~bad].reset_index(drop=True)
        elif len(df) and not self.metadata_only:
            df = self._georef_from_files(df)
        if len(df) and not self.metadata_only:
            self._group = self._probe_group([Path(f) for f in df["tmp_file"].dropna()])
        return df, issues

    def _georef_from_files(self, df: pd.DataFrame) -> pd.DataFrame:
        import rasterio

        geo = []
        for f in df["tmp_file"]:
            if Path(f).suffix.lower() not in (".tif", ".tiff"):  # PNG / JPEG carry no georeference
                geo.append((0, np.nan, np.nan, np.nan, np.nan))
                continue
            try:
                with rasterio.open(f) as src:
                    epsg = src.crs.to_epsg() if src.crs else None
                    b = src.bounds
                geo.append((epsg or 0, b.left, b.bottom, b.right, b.top) if epsg else (0, np.nan, np.nan, np.nan, np.nan))
            except Exception:
                geo.append((0, np.nan, np.nan, np.nan, np.nan))
        g = np.array(geo, dtype=np.float64)
        ok = g[:, 0] > 0
        if ok.any():
            frame = _geometry_frame(np.full(ok.sum(), None), g[ok, 1], g[ok, 2], g[ok, 3], g[ok, 4],
                                    g[ok, 0].astype(int))
            for c in frame.columns:
                df.loc[ok, c] = frame[c].to_numpy()
        return df

    def _probe_group(self, files: list[Path], sample: int = 25) -> BandGroup:
        """The band layout shared by most of a sample of the images (unreadable ones are left to read())."""
        from collections import Counter

        seen: Counter = Counter()
        example: dict = {}
        step = max(1, len(files) // sample)
        for f in files[::step][:sample]:
            try:
                arr, names = self._read_file(f, f.stem)
            except DataError:
                continue
            key = (arr.shape, str(arr.dtype), names)
            seen[key] += 1
            example.setdefault(key, f)
        if not seen:
            raise DataError(f"none of {min(sample, len(files))} sampled images under {self.root} could be read")
        (shape, dtype, names), _ = seen.most_common(1)[0]
        f = example[(shape, dtype, names)]
        if shape[1] != shape[2]:
            raise DataError(f"{f}: patches must be square, got {shape[2]}x{shape[1]} px")
        bands = self.band_names or names
        if len(bands) != shape[0]:
            raise DataError(f"--bands names {len(bands)} bands but {f} has {shape[0]}")
        return BandGroup("image", tuple(bands), int(shape[1]), dtype, 10.0, None)

    @staticmethod
    def _read_file(f: Path, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
        if f.suffix.lower() in (".tif", ".tiff"):
            import rasterio
            from rasterio.errors import RasterioError

            try:
                with rasterio.open(f) as src:
                    arr = src.read()
                    desc = src.descriptions
            except (RasterioError, OSError) as exc:
                raise DataError(f"{where}: cannot read {f} (corrupt or truncated GeoTIFF?): {exc}") from None
            names = tuple(desc) if all(desc) else tuple(f"band{i + 1}" for i in range(arr.shape[0]))
            return arr, names
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(f) as im:
                arr = np.asarray(im.convert("RGB"))
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"{where}: cannot read {f} (corrupt image?): {exc}") from None
        return arr.transpose(2, 0, 1), ("B04", "B03", "B02")

    def read(self, row) -> dict[str, np.ndarray]:
        arr, _ = self._read_file(Path(row.tmp_file), row.patch_id)
        g = self._group
        if arr.shape != g.shape:
            raise DataError(f"{row.patch_id}: {row.tmp_file} has shape {arr.shape}, the first patch had {g.shape}")
        return {"image": arr.astype(g.dtype, copy=False)}

    def made_by(self) -> dict:
        table = self._table_path()
        return {**super().made_by(), "table": str(table) if table else None,
                **({"classes": list(self.classes)} if self.classes else {})}


def _resolve_labels(labels: pd.Series, nom: Nomenclature) -> pd.Series:
    """Label lists with each name a person may write for a class (its short name as the app shows it, another
    case: :meth:`Nomenclature.resolve`) replaced by the class; names that resolve to nothing stay as they are,
    for the label validation to report with the closest names."""
    mapping = {}
    for name in {lab for labs in labels for lab in labs}:
        try:
            mapping[name] = nom.resolve(name)
        except DataError:
            mapping[name] = name
    if all(k == v for k, v in mapping.items()):
        return labels
    return labels.map(lambda labs: [mapping[lab] for lab in labs])
