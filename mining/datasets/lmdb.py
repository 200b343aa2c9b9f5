"""The reBEN DL-optimised LMDB (rico-hdl / configilm encoding): safetensors values keyed by patch id."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import S1_GROUP, S2_GROUPS, Issue, PatchDataset
from .reben import METADATA_FILES, REFMAP_GROUP, ReBEN

__all__ = ["ReBENLMDB"]


class ReBENLMDB(PatchDataset):
    """reBEN pixels from ``BigEarthNet-V2-LMDB`` + metadata from the official Parquet files.

    The LMDB holds no georeference: footprints come from the tile grid (:mod:`mining.grid`).

    Parameters
    ----------
    root : path-like
        The LMDB directory (holding ``data.mdb``).
    metadata : list of path-like, optional
        reBEN metadata Parquet files; default: the official files found in ``root`` or up to two parents.
    """

    format = "lmdb"
    dataset = "reBEN"
    nomenclature_key = "ben19"
    groups = (*S2_GROUPS, S1_GROUP, REFMAP_GROUP)

    def __init__(self, root, *, metadata=None, metadata_only: bool = False):
        super().__init__(Path(root), metadata_only=metadata_only)
        self.metadata = metadata
        self._local = threading.local()
        self._env = None

    def _metadata_paths(self) -> list[Path]:
        if self.metadata:
            return [Path(p) for p in self.metadata]
        for d in (self.root, self.root.parent, self.root.parent.parent):
            found = [d / f for f in METADATA_FILES if (d / f).is_file()]
            if found:
                return found
        raise DataError(f"no reBEN metadata.parquet next to the LMDB {self.root}; pass --metadata PATH")

    def _open(self):
        import lmdb

        if self._env is None:
            if not (self.root / "data.mdb").is_file():
                raise DataError(f"no LMDB at {self.root} (missing data.mdb)")
            try:
                self._env = lmdb.open(str(self.root), readonly=True, lock=False, readahead=False,
                                      max_readers=512, subdir=True)
            except lmdb.Error as exc:
                raise DataError(f"cannot open LMDB {self.root}: {exc}") from None
        return self._env

    def scan(self):
        issues: list[Issue] = []
        grid = ReBEN(self.root, metadata=self._metadata_paths(), metadata_only=True)
        df, issues = grid.scan()
        df["source"] = "lmdb:" + df["patch_id"]
        if self.metadata_only:
            return df, issues
        env = self._open()
        with env.begin() as tx:
            keys = {k.decode() for k in tx.cursor().iternext(keys=True, values=False)}
        have = df["patch_id"].isin(keys)
        for pid in df.loc[~have, "patch_id"]:
            issues.append(Issue(pid, "no-pixels", f"metadata row has no key in the LMDB {self.root}"))
        known = set(df["patch_id"]) | set(df["s1_id"].dropna())
        for k in sorted(keys - known):
            if "_MSIL2A_" in k and not k.endswith("_reference_map"):
                issues.append(Issue(k, "no-metadata", f"LMDB key has no row in the metadata ({self.root})"))
        df = df[have].reset_index(drop=True)
        df["tmp_has_s1"] = df["s1_id"].isin(keys)
        df["tmp_has_ref"] = (df["patch_id"] + "_reference_map").isin(keys)
        return df, issues

    def _get(self, key: str, where: str) -> dict[str, np.ndarray]:
        from safetensors.numpy import load

        with self._open().begin(buffers=False) as tx:
            raw = tx.get(key.encode())
        if raw is None:
            raise DataError(f"{where}: key {key!r} not in the LMDB {self.root}")
        try:
            return load(raw)
        except Exception as exc:
            raise DataError(f"{where}: LMDB value of {key!r} is not valid safetensors: {exc}") from None

    def read(self, row) -> dict[str, np.ndarray]:
        pid = row.patch_id
        d = self._get(pid, pid)
        out = {}
        for g in S2_GROUPS:
            missing = [b for b in g.bands if b not in d]
            if missing:
                raise DataError(f"{pid}: missing band file {missing[0]} in the LMDB value of {pid!r}")
            out[g.name] = np.stack([d[b] for b in g.bands])
        if row.tmp_has_s1:
            s1 = self._get(row.s1_id, pid)
            out["s1"] = np.stack([s1[b] for b in S1_GROUP.bands])
        if row.tmp_has_ref:
            ref = self._get(pid + "_reference_map", pid)
            out["refmap"] = np.asarray(ref["Data"]).reshape(1, 120, 120)
        return out

    def made_by(self) -> dict:
        return {**super().made_by(), "metadata": [str(p) for p in self._metadata_paths()]}


