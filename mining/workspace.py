"""Workspaces: one directory per dataset.

::

    WS/
      workspace.json          format version, dataset, nomenclature, bands, how it was made; written LAST
      catalog.parquet         one row per patch (schema: :data:`CATALOG_SCHEMA`)
      pixels/                 the packed pixel store (:mod:`mining.store`), absent for metadata-only ingests
      ingest_report.parquet   every skipped patch / problem found while ingesting, with the reason
      ...                     the artifacts of the later stages (:mod:`mining.layout` names every file)

A workspace is built in ``WS.partial/`` and renamed into place only once complete, so an interrupted
ingest never looks like a valid workspace. Every artifact file is written to a temporary name and renamed.

:class:`Workspace` knows the path of every artifact (``ws.files``) and holds the one patch id -> catalog row
index every stage uses (``ws.index``, ``ws.row_of``, ``ws.rows_of``, ``ws.find``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .errors import WorkspaceError
from .layout import EDIT_LOG_FILES, WorkspaceFiles
from .nomenclature import Nomenclature

__all__ = ["Workspace", "CATALOG_SCHEMA", "WORKSPACE_FORMAT_VERSION", "atomic_write", "save_npy", "write_parquet"]

WORKSPACE_FORMAT_VERSION = 1

#: columns of catalog.parquet (datasets may add extra columns after these, e.g. ``gt_labels`` in the demo)
CATALOG_SCHEMA = pa.schema([
    ("patch_id", pa.string()),
    ("dataset", pa.string()),
    ("split", pa.string()),                     # train / validation / test, null when unknown
    ("labels", pa.list_(pa.string())),          # in the nomenclature's official order
    ("lon", pa.float64()),                      # WGS84 centre, null when unknown (EuroSAT RGB)
    ("lat", pa.float64()),
    ("x_min", pa.float64()),                    # footprint bounds in `crs` (metres for UTM)
    ("y_min", pa.float64()),
    ("x_max", pa.float64()),
    ("y_max", pa.float64()),
    ("lon_min", pa.float64()),                  # footprint bounding box in WGS84
    ("lat_min", pa.float64()),
    ("lon_max", pa.float64()),
    ("lat_max", pa.float64()),
    ("crs", pa.string()),                       # e.g. EPSG:32633
    ("tile", pa.string()),                      # Sentinel-2 tile without the T, e.g. 33UUP
    ("acquired", pa.timestamp("ms", tz="UTC")),
    ("season", pa.string()),                    # Spring / Summer / Fall / Winter (from `acquired`, N hemisphere)
    ("country", pa.string()),
    ("cloud_or_shadow", pa.bool_()),
    ("seasonal_snow", pa.bool_()),
    ("s1_id", pa.string()),                     # paired Sentinel-1 patch, null when none
    ("source", pa.string()),                    # where the pixels came from (folder, lmdb key, file)
    ("pixel_row", pa.int32()),                  # row in the pixel store, -1 when ingested without pixels
    ("has_s2", pa.bool_()),
    ("has_s1", pa.bool_()),
])


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` then rename ``tmp`` over ``path`` (atomic on POSIX).

    The temporary name is unique per call (process, thread and a random part), so threads of one server that
    write the same file at the same time never rename or delete each other's temporary file.
    """
    import uuid

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` in ``.npy`` format atomically (:func:`atomic_write`), the file closed.

    ``np.save`` gets an open file, not the temporary name: given a name that does not end in ``.npy`` it
    would append the suffix, and the rename would miss the file it wrote.
    """

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array)

    atomic_write(Path(path), write)


def write_parquet(df_or_table, path: Path, schema: pa.Schema | None = None) -> None:
    """Write a DataFrame / Arrow table to Parquet atomically."""
    table = df_or_table if isinstance(df_or_table, pa.Table) else pa.Table.from_pandas(
        df_or_table, schema=schema, preserve_index=False)
    atomic_write(Path(path), lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def season_of(ts: pd.Series) -> pd.Series:
    """Meteorological season (northern hemisphere) of UTC timestamps; null stays null."""
    month = ts.dt.month
    names = np.array(["Winter", "Winter", "Spring", "Spring", "Spring", "Summer", "Summer", "Summer",
                      "Fall", "Fall", "Fall", "Winter"], dtype=object)
    out = pd.Series(pd.NA, index=ts.index, dtype=object)
    ok = month.notna()
    out[ok] = names[month[ok].astype(int).to_numpy() - 1]
    return out


def conform_catalog(df: pd.DataFrame) -> pa.Table:
    """Order / type a catalog DataFrame to :data:`CATALOG_SCHEMA` (extra columns kept at the end)."""
    df = df.copy()
    for f in CATALOG_SCHEMA:
        if f.name not in df.columns:
            df[f.name] = None
    if df["season"].isna().all() and df["acquired"].notna().any():
        df["season"] = season_of(pd.to_datetime(df["acquired"], utc=True))
    extra = [c for c in df.columns if c not in CATALOG_SCHEMA.names]
    fields = list(CATALOG_SCHEMA)
    for c in extra:
        fields.append(pa.field(c, pa.Table.from_pandas(df[[c]], preserve_index=False).schema.field(c).type))
    schema = pa.schema(fields)
    df["acquired"] = pd.to_datetime(df["acquired"], utc=True)
    for c in ("cloud_or_shadow", "seasonal_snow", "has_s2", "has_s1"):
        df[c] = df[c].fillna(False).astype(bool)
    df["pixel_row"] = df["pixel_row"].fillna(-1).astype(np.int32)
    return pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)


class Workspace:
    """An ingested dataset on disk.

    Parameters
    ----------
    path : str or Path
        The workspace directory.

    Raises
    ------
    WorkspaceError
        When the directory is missing, incomplete (interrupted ingest) or of an unknown format.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.files = WorkspaceFiles(self.path)
        meta = self.files.workspace_card
        partial = self.files.partial
        if not self.path.is_dir():
            hint = " (an ingest into it was interrupted; run it again)" if partial.exists() else ""
            raise WorkspaceError(f"no workspace at {self.path}{hint}")
        if not meta.is_file():
            hint = " (an ingest was interrupted; run it again)" if partial.exists() else ""
            raise WorkspaceError(f"{self.path} is not a complete eomine workspace: no workspace.json{hint}")
        try:
            self.meta = json.loads(meta.read_text())
        except json.JSONDecodeError as exc:
            raise WorkspaceError(f"{meta} is not valid JSON: {exc}") from None
        if self.meta.get("format") != "eomine-workspace":
            raise WorkspaceError(f"{meta} is not an eomine workspace description")
        if self.meta.get("version") != WORKSPACE_FORMAT_VERSION:
            raise WorkspaceError(f"{meta}: workspace format version {self.meta.get('version')!r} is not supported "
                                 f"(this eomine reads version {WORKSPACE_FORMAT_VERSION})")
        self.nomenclature = Nomenclature.from_json(self.meta["nomenclature"])
        self._catalog: pd.DataFrame | None = None
        self._store = None
        self._ids: tuple[np.ndarray, pd.Index] | None = None
        self._lock = threading.Lock()  # the lazy loads below happen once, whichever server thread asks first

    # ------------------------------------------------------------------ paths
    @property
    def catalog_path(self) -> Path:
        return self.files.catalog

    @property
    def pixels_path(self) -> Path:
        return self.files.pixels

    @property
    def name(self) -> str:
        return self.meta.get("dataset", self.path.name)

    # ------------------------------------------------------------------ data
    @property
    def catalog(self) -> pd.DataFrame:
        """The catalog as a DataFrame (read once, cached)."""
        with self._lock:
            if self._catalog is None:
                self._catalog = pd.read_parquet(self.catalog_path)
            return self._catalog

    @property
    def has_pixels(self) -> bool:
        return self.files.store_card.is_file()

    @property
    def store(self):
        """The :class:`~mining.store.PixelStore` (raises when the workspace has no pixels)."""
        from .store import PixelStore

        with self._lock:
            if self._store is None:
                if not self.has_pixels:
                    raise WorkspaceError(f"{self.path} was ingested without pixels (metadata-only)")
                self._store = PixelStore(self.pixels_path)
            return self._store

    # ------------------------------------------------------------------ patch id -> catalog row
    @property
    def ids(self) -> np.ndarray:
        """Patch ids in catalog order, object array of shape (n,) (only the ``patch_id`` column is read)."""
        return self._id_index()[0]

    @property
    def index(self) -> pd.Index:
        """The one patch id -> catalog row hash index of this workspace (built once, on first use)."""
        return self._id_index()[1]

    def rows_of(self, patch_ids) -> np.ndarray:
        """Catalog rows of several patch ids, int64 array of shape (m,), -1 where an id is unknown."""
        return self.index.get_indexer(list(patch_ids) if not isinstance(patch_ids, np.ndarray) else patch_ids)

    def find(self, patch_id) -> int | None:
        """Catalog row of ``patch_id``, or None when it is not in the catalog (or not a string)."""
        if not isinstance(patch_id, str):
            return None
        try:
            row = self.index.get_loc(patch_id)
        except KeyError:
            return None
        return int(row) if isinstance(row, int | np.integer) else None

    def row_of(self, patch_id: str) -> int:
        """Catalog row of a patch id (raises ``KeyError`` naming it and the workspace)."""
        row = self.find(patch_id)
        if row is None:
            raise KeyError(f"patch {patch_id!r} is not in workspace {self.path}")
        return row

    def _id_index(self) -> tuple[np.ndarray, pd.Index]:
        with self._lock:
            if self._ids is None:
                col = pq.read_table(self.catalog_path, columns=["patch_id"]).column(0)
                ids = col.to_numpy(zero_copy_only=False).astype(object)
                index = pd.Index(ids)
                index.get_indexer(ids[:1])  # build the hash table now, under the lock
                self._ids = (ids, index)
            return self._ids

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r}, dataset={self.name!r}, n={self.meta.get('n_patches')})"

    # ------------------------------------------------------------------ creation
    @staticmethod
    def describe(*, dataset: str, nomenclature: Nomenclature, bands: list[str], n_patches: int,
                 made_by: dict) -> dict:
        return {
            "format": "eomine-workspace",
            "version": WORKSPACE_FORMAT_VERSION,
            "dataset": dataset,
            "n_patches": int(n_patches),
            "nomenclature": nomenclature.to_json(),
            "bands": list(bands),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "made_by": {"eomine": __version__, **made_by},
        }


def check_replaceable(path: Path, *, overwrite: bool) -> None:
    """Raise unless ``path`` is free, or is an eomine workspace and ``overwrite`` is set.

    A directory that is not a workspace is never replaced, whatever ``overwrite`` says: it may hold
    someone's files.
    """
    path = Path(path)
    if not path.exists():
        return
    if not WorkspaceFiles(path).workspace_card.is_file():
        raise WorkspaceError(f"{path} exists and is not an eomine workspace; refusing to replace it "
                             "(choose another --out)")
    if not overwrite:
        raise WorkspaceError(f"{path} already exists; pass --overwrite to replace it")


def publish(partial: Path, final: Path, *, overwrite: bool) -> Path | None:
    """Move a finished ``partial`` directory to ``final``, replacing an existing workspace only if asked.

    A replaced workspace's curation log is curators' work, not derived data: it is moved to
    ``<final>.edits-backup-<UTC time>/`` beside the workspace instead of being deleted.

    Returns
    -------
    Path or None
        The backup folder of the old edit log, when there was one.
    """
    backup = None
    if final.exists():
        check_replaceable(final, overwrite=overwrite)
        old = final.with_name(final.name + f".old-{os.getpid()}")
        os.replace(final, old)
        os.replace(partial, final)
        logs = [old / f for f in EDIT_LOG_FILES if (old / f).exists()]
        if logs:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            backup = final.with_name(f"{final.name}.edits-backup-{stamp}")
            backup.mkdir()
            for f in logs:
                os.replace(f, backup / f.name)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(partial, final)
    return backup
