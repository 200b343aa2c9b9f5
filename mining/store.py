"""The packed pixel store: one memory-mapped ``.npy`` array per native-resolution band group.

Layout inside a workspace::

    pixels/store.json        format version, groups (bands, shape, dtype, resolution, nodata), row count
    pixels/<group>.npy       array of shape (n_rows, n_bands, height, width), memory-mapped on read
    pixels/stats.json        dataset-level band percentiles used by the composites' robust stretch

Row ``r`` of every group holds the same patch; ``catalog.parquet``'s ``pixel_row`` column points to it
(``-1`` for a patch ingested without pixels). Reading one patch touches a few contiguous kilobytes, so
thumbnails and embeddings never re-open the source GeoTIFFs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import DataError, WorkspaceError

__all__ = ["BandGroup", "PixelStore", "PixelStoreWriter", "STORE_FORMAT_VERSION", "read_rows", "stack_bands"]

STORE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class BandGroup:
    """Bands stored together because they share a grid.

    Parameters
    ----------
    name : str
        Group name, e.g. ``"s2_10m"``.
    bands : tuple of str
        Band names in storage order.
    size : int
        Height = width in pixels.
    dtype : str
        NumPy dtype name (``"uint16"`` for S2 reflectance x10000, ``"float32"`` for S1 dB).
    resolution : float
        Ground sampling distance in metres.
    nodata : float or None
        Value marking missing pixels (NaN for float groups where ``None`` is given).
    """

    name: str
    bands: tuple[str, ...]
    size: int
    dtype: str
    resolution: float
    nodata: float | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.bands), self.size, self.size)

    @classmethod
    def from_json(cls, doc: dict) -> BandGroup:
        return cls(doc["name"], tuple(doc["bands"]), int(doc["size"]), doc["dtype"], float(doc["resolution"]),
                   doc.get("nodata"))

    def check(self, arr: np.ndarray, *, where: str) -> np.ndarray:
        """Validate one patch's array for this group (names ``where`` on failure)."""
        if arr.shape != self.shape:
            raise DataError(f"{where}: group {self.name} expects shape {self.shape}, got {arr.shape}")
        return arr.astype(self.dtype, copy=False)


class PixelStoreWriter:
    """Create a pixel store and fill it row by row.

    Parameters
    ----------
    path : Path
        The ``pixels/`` directory (created).
    groups : sequence of BandGroup
    n_rows : int
        Number of patches with pixels.
    """

    def __init__(self, path: Path, groups: Sequence[BandGroup], n_rows: int):
        self.path = Path(path)
        self.groups = tuple(groups)
        self.n_rows = int(n_rows)
        self.path.mkdir(parents=True, exist_ok=True)
        # rows are written with pwrite at their offset, not through a memory map: dirty mapped pages count in
        # the process's RSS (a full Sentinel-2 tile's store is 1.3 GB), the page cache does not
        self._files: dict[str, tuple[int, int, int]] = {}  # name -> (fd, header bytes, row bytes)
        for g in self.groups:
            fill = g.nodata if g.nodata is not None else (np.nan if g.dtype.startswith("float") else 0)
            arr = np.lib.format.open_memmap(self.path / f"{g.name}.npy", mode="w+", dtype=g.dtype,
                                            shape=(self.n_rows, *g.shape))
            header = int(arr.offset)
            del arr
            fd = os.open(self.path / f"{g.name}.npy", os.O_RDWR)
            row_bytes = int(np.prod(g.shape)) * np.dtype(g.dtype).itemsize
            if fill != 0:  # zero-filled by the OS otherwise
                chunk = max(1, (8 << 20) // max(row_bytes, 1))
                block = np.full((chunk, *g.shape), fill, dtype=g.dtype).tobytes()
                for r0 in range(0, self.n_rows, chunk):
                    m = min(chunk, self.n_rows - r0)
                    os.pwrite(fd, block[: m * row_bytes], header + r0 * row_bytes)
            self._files[g.name] = (fd, header, row_bytes)
        self.filled = {g.name: np.zeros(self.n_rows, dtype=bool) for g in self.groups}

    def write(self, row: int, arrays: dict[str, np.ndarray], *, where: str = "") -> None:
        """Store one patch's arrays (any subset of the groups) at ``row``."""
        for g in self.groups:
            if g.name in arrays and arrays[g.name] is not None:
                a = np.ascontiguousarray(g.check(arrays[g.name], where=where or f"row {row}"), dtype=g.dtype)
                fd, header, row_bytes = self._files[g.name]
                os.pwrite(fd, a.tobytes(), header + row * row_bytes)
                self.filled[g.name][row] = True

    def read_rows(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Rows of group ``name`` written so far, shape (len(rows), *group shape) (for the band statistics)."""
        g = next(g for g in self.groups if g.name == name)
        fd, header, row_bytes = self._files[name]
        out = np.empty((len(rows), *g.shape), dtype=g.dtype)
        for i, r in enumerate(rows):
            buf = os.pread(fd, row_bytes, header + int(r) * row_bytes)
            out[i] = np.frombuffer(buf, dtype=g.dtype).reshape(g.shape)
        return out

    def close(self, stats: dict | None = None) -> None:
        """Flush the arrays and write ``store.json`` (+ ``stats.json``).

        If fewer rows were used than allocated (``n_rows`` lowered after skipped patches), the arrays are
        rewritten to exactly ``n_rows`` rows, so every group has the documented shape.
        """
        for g in self.groups:
            fd, header, row_bytes = self._files.pop(g.name)
            os.fsync(fd)
            os.close(fd)
            final = self.path / f"{g.name}.npy"
            if os.path.getsize(final) != header + self.n_rows * row_bytes:
                tmp = self.path / f".{g.name}.compact.npy"
                small = np.lib.format.open_memmap(tmp, mode="w+", dtype=g.dtype, shape=(self.n_rows, *g.shape))
                offset = int(small.offset)
                del small
                with open(final, "rb") as src, open(tmp, "r+b") as dst:
                    src.seek(header)
                    dst.seek(offset)
                    left = self.n_rows * row_bytes
                    while left:
                        buf = src.read(min(left, 8 << 20))
                        dst.write(buf)
                        left -= len(buf)
                tmp.replace(final)
            np.save(self.path / f"{g.name}.filled.npy", self.filled[g.name][: self.n_rows])
        doc = {"format": "eomine-pixel-store", "version": STORE_FORMAT_VERSION, "n_rows": self.n_rows,
               "groups": [asdict(g) for g in self.groups]}
        (self.path / "store.json").write_text(json.dumps(doc, indent=1))
        (self.path / "stats.json").write_text(json.dumps(stats or {}, indent=1))


class PixelStore:
    """Read access to a workspace's packed pixels.

    Parameters
    ----------
    path : Path
        The workspace's ``pixels/`` directory.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        meta = self.path / "store.json"
        if not meta.is_file():
            raise WorkspaceError(f"no pixel store at {self.path} (missing store.json)")
        doc = json.loads(meta.read_text())
        if doc.get("version") != STORE_FORMAT_VERSION:
            raise WorkspaceError(f"{meta}: pixel store format version {doc.get('version')!r} is not supported "
                                 f"(this eomine reads version {STORE_FORMAT_VERSION})")
        self.n_rows = int(doc["n_rows"])
        self.groups = {g["name"]: BandGroup.from_json(g) for g in doc["groups"]}
        stats = self.path / "stats.json"
        self.stats = json.loads(stats.read_text()) if stats.is_file() else {}
        self._arrays: dict[str, np.ndarray] = {}
        self._filled: dict[str, np.ndarray] = {}
        self.band_group = {b: g.name for g in self.groups.values() for b in g.bands}

    def __getstate__(self) -> dict:
        """Pickled without its memory maps (pickling a memmap would copy the whole array): an encoder shipped to
        a Ray worker carries the store's description, and the worker reads rows through its own store."""
        return {**self.__dict__, "_arrays": {}, "_filled": {}}

    def rows(self, start: int, stop: int, groups=None) -> dict[str, np.ndarray]:
        """Raw arrays of the contiguous rows ``start:stop`` (:func:`read_rows`)."""
        return {g: np.asarray(self.array(g)[start:stop]) for g in (groups or self.groups)}

    def array(self, group: str) -> np.ndarray:
        """Memory-mapped array of a group, shape (n_rows, n_bands, size, size)."""
        if group not in self._arrays:
            if group not in self.groups:
                raise KeyError(f"no band group {group!r} in {self.path} (have {sorted(self.groups)})")
            self._arrays[group] = np.load(self.path / f"{group}.npy", mmap_mode="r")
        return self._arrays[group]

    def filled(self, group: str) -> np.ndarray:
        """Boolean mask, shape (n_rows,): which rows hold real pixels of ``group``."""
        if group not in self._filled:
            self._filled[group] = np.load(self.path / f"{group}.filled.npy")
        return self._filled[group]

    @property
    def bands(self) -> tuple[str, ...]:
        return tuple(self.band_group)

    @property
    def max_size(self) -> int:
        return max(g.size for g in self.groups.values())

    def has(self, bands: Iterable[str]) -> bool:
        return all(b in self.band_group for b in bands)

    def read(self, row: int, bands: Sequence[str], *, size: int | None = None) -> np.ndarray:
        """Bands of one patch resampled (nearest neighbour) to a common grid.

        Parameters
        ----------
        row : int
            Pixel-store row (``catalog.pixel_row``).
        bands : sequence of str
        size : int, optional
            Output height = width; default the finest grid among ``bands``.

        Returns
        -------
        ndarray of float32, shape (len(bands), size, size)
            Raw values; nodata pixels are NaN.
        """
        if not 0 <= row < self.n_rows:
            raise IndexError(f"pixel row {row} outside 0..{self.n_rows - 1}")
        missing = [b for b in bands if b not in self.band_group]
        if missing:
            raise KeyError(f"band {missing[0]!r} is not in this workspace (bands: {', '.join(self.bands)})")
        groups = [self.groups[self.band_group[b]] for b in bands]
        size = size or max(g.size for g in groups)
        out = np.empty((len(bands), size, size), dtype=np.float32)
        for i, (b, g) in enumerate(zip(bands, groups, strict=True)):
            a = self.array(g.name)[row, g.bands.index(b)]
            out[i] = _resize_nearest(a, size)
            if g.nodata is not None:
                out[i][_resize_nearest(a == g.nodata, size)] = np.nan
        return out


def read_rows(store: PixelStore, start: int, stop: int, groups=None) -> dict[str, np.ndarray]:
    """Raw arrays of the contiguous pixel rows ``start:stop`` (one sequential read per group).

    Returns
    -------
    dict of group name -> ndarray, shape (stop - start, n_bands, size, size)

    ``store`` is a :class:`PixelStore` (memory-mapped files) or a :class:`mining.store_fs.FsPixelStore` (byte
    ranges through fsspec): both read only the rows asked for.
    """
    return store.rows(start, stop, groups)


def stack_bands(store: PixelStore, batch: dict[str, np.ndarray], bands, size: int) -> np.ndarray:
    """Stack ``bands`` of a batch on one ``size`` x ``size`` grid (block-mean down, nearest up); nodata -> NaN.

    Returns
    -------
    ndarray of float32, shape (B, len(bands), size, size)
    """
    first = next(iter(batch.values()))
    out = np.empty((first.shape[0], len(bands), size, size), dtype=np.float32)
    for i, b in enumerate(bands):
        g = store.groups[store.band_group[b]]
        a = batch[g.name][:, g.bands.index(b)].astype(np.float32)
        if g.nodata is not None:
            a[a == g.nodata] = np.nan
        n = a.shape[-1]
        if n > size and n % size == 0:
            f = n // size
            # block mean as a sum of f*f strided slices (a reshape + mean over two axes is ~10x slower)
            acc = np.zeros((a.shape[0], size, size), np.float32)
            for di in range(f):
                for dj in range(f):
                    acc += a[:, di::f, dj::f]
            a = acc / (f * f)
        elif n != size:
            idx = (np.arange(size) * n // size).astype(np.intp)
            a = a[:, idx][:, :, idx]
        out[:, i] = a
    return out


def _resize_nearest(a: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of a square 2-D array (block replication when the factor is whole)."""
    n = a.shape[0]
    if n == size:
        return a
    if size % n == 0:
        f = size // n
        return np.repeat(np.repeat(a, f, axis=0), f, axis=1)
    idx = (np.arange(size) * n // size).astype(np.intp)
    return a[np.ix_(idx, idx)]
