"""The pixel store read through fsspec: a shared file system or an object store instead of one machine's disk.

A workspace's ``pixels/`` folder (:mod:`mining.store`) is plain files: ``store.json``, ``stats.json`` and one
``.npy`` array per band group, rows of fixed size after a small header. Copied as they are to any place fsspec
reaches (``file:///shared/ws/pixels``, ``s3://bucket/ws/pixels`` with ``s3fs``, ``gs://`` with ``gcsfs``, an
NFS or Lustre mount), the store can be read by a Ray worker on any host: :meth:`FsPixelStore.rows` asks for the
byte range of its rows only (``cat_file(path, start, end)``, an HTTP range request on an object store), so a
worker never reads another worker's shard.

Only the reads of the embedding step go through here (``rows``, ``filled``); the rest of eomine (thumbnails,
fitting an encoder on a sample) reads the workspace's own memory-mapped store.
"""

from __future__ import annotations

import io
import json

import numpy as np

from .errors import WorkspaceError
from .layout import STORE_CARD, STORE_STATS
from .store import STORE_FORMAT_VERSION, BandGroup

__all__ = ["FsPixelStore", "store_url_of"]

#: bytes read to parse an ``.npy`` header (numpy pads headers to 64 bytes; ours are 128)
_HEAD = 4096


def store_url_of(path) -> str:
    """The ``file://`` URL of a local pixel-store folder (what a local Ray cluster's workers read)."""
    from pathlib import Path

    return Path(path).resolve().as_uri()


class FsPixelStore:
    """Read access to a pixel store through an fsspec URL.

    Parameters
    ----------
    url : str
        The ``pixels/`` folder: ``file:///abs/path/pixels``, ``memory://ws/pixels``, ``s3://bucket/ws/pixels``
        (needs the fsspec package of that protocol, e.g. ``s3fs``), or a plain local path.
    storage_options : dict, optional
        Passed to the fsspec file system (credentials, endpoint).

    Attributes
    ----------
    n_rows : int
    groups : dict of str -> BandGroup
    band_group : dict of str -> str
    stats : dict
    card : dict
        ``store.json`` as read.
    bytes_read : int
        Bytes of pixel rows fetched so far by this object (headers and cards not counted).
    """

    def __init__(self, url: str, *, storage_options: dict | None = None):
        self.url = str(url).rstrip("/")
        self.storage_options = dict(storage_options or {})
        fs, root = self._fs()
        try:
            doc = json.loads(fs.cat_file(f"{root}/{STORE_CARD}"))
        except FileNotFoundError:
            raise WorkspaceError(f"no pixel store at {self.url} (missing {STORE_CARD})") from None
        if doc.get("version") != STORE_FORMAT_VERSION:
            raise WorkspaceError(f"{self.url}/{STORE_CARD}: pixel store format version {doc.get('version')!r} "
                                 f"is not supported (this eomine reads version {STORE_FORMAT_VERSION})")
        self.card = doc
        self.n_rows = int(doc["n_rows"])
        self.groups = {g["name"]: BandGroup.from_json(g) for g in doc["groups"]}
        self.band_group = {b: g.name for g in self.groups.values() for b in g.bands}
        try:
            self.stats = json.loads(fs.cat_file(f"{root}/{STORE_STATS}"))
        except FileNotFoundError:
            self.stats = {}
        self._headers: dict[str, int] = {}
        self.bytes_read = 0

    def _fs(self):
        from fsspec.core import url_to_fs

        return url_to_fs(self.url, **self.storage_options)

    @property
    def bands(self) -> tuple[str, ...]:
        return tuple(self.band_group)

    def _header(self, group: str) -> int:
        """Byte offset of row 0 of ``group``'s array (after checking its dtype and shape)."""
        if group not in self._headers:
            if group not in self.groups:
                raise KeyError(f"no band group {group!r} in {self.url} (have {sorted(self.groups)})")
            fs, root = self._fs()
            head = io.BytesIO(fs.cat_file(f"{root}/{group}.npy", start=0, end=_HEAD))
            version = np.lib.format.read_magic(head)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(head)
            g = self.groups[group]
            if fortran or shape != (self.n_rows, *g.shape) or dtype != np.dtype(g.dtype):
                raise WorkspaceError(f"{self.url}/{group}.npy: array {shape} {dtype} does not match store.json "
                                     f"({(self.n_rows, *g.shape)} {g.dtype})")
            self._headers[group] = head.tell()
        return self._headers[group]

    def rows(self, start: int, stop: int, groups=None) -> dict[str, np.ndarray]:
        """Raw arrays of rows ``start:stop``: one ranged read per group.

        Returns
        -------
        dict of group name -> ndarray, shape (stop - start, n_bands, size, size)
        """
        if not 0 <= start <= stop <= self.n_rows:
            raise IndexError(f"rows {start}:{stop} outside 0..{self.n_rows}")
        fs, root = self._fs()
        out = {}
        for name in (groups or self.groups):
            g = self.groups[name]
            row_bytes = int(np.prod(g.shape)) * np.dtype(g.dtype).itemsize
            off = self._header(name)
            buf = fs.cat_file(f"{root}/{name}.npy", start=off + start * row_bytes, end=off + stop * row_bytes)
            if len(buf) != (stop - start) * row_bytes:
                raise WorkspaceError(f"{self.url}/{name}.npy: short read of rows {start}:{stop} "
                                     f"({len(buf)} of {(stop - start) * row_bytes} bytes)")
            self.bytes_read += len(buf)
            out[name] = np.frombuffer(buf, dtype=g.dtype).reshape(stop - start, *g.shape)
        return out

    def filled(self, group: str) -> np.ndarray:
        """Boolean mask, shape (n_rows,): which rows hold real pixels of ``group``."""
        fs, root = self._fs()
        return np.load(io.BytesIO(fs.cat_file(f"{root}/{group}.filled.npy")))

    def matches(self, store) -> bool:
        """Whether this is the same store as ``store`` (same rows and groups)."""
        return self.n_rows == store.n_rows and self.groups == store.groups
