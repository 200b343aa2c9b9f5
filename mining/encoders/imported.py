"""``import``: bring your own embeddings from Parquet or NPY, keyed by patch_id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._internal.validation import PATH, validate_params
from ..errors import DataError
from .base import Encoder

__all__ = ["ImportedEmbeddings", "read_embedding_file"]


def read_embedding_file(path: Path, *, ids_path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read ``(patch_ids, X)`` from a Parquet file (``patch_id`` + ``embedding`` list column, or ``patch_id``
    + numeric columns) or an ``.npy`` / ``.npz`` file (``.npz`` with arrays ``patch_id`` and ``embedding``;
    a plain ``.npy`` needs ``ids_path``: a text file with one patch id per line).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"embedding file not found: {path}")
    try:
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
            if "patch_id" not in df.columns:
                raise DataError(f"{path}: missing column 'patch_id'")
            ids = df["patch_id"].astype(str).to_numpy()
            if "embedding" in df.columns:
                lens = df["embedding"].map(lambda v: -1 if v is None else len(v))
                if lens.nunique() != 1:
                    bad = df["patch_id"][lens != lens.mode()[0]].head(5).tolist()
                    raise DataError(f"{path}: embeddings of different dimensions (e.g. {', '.join(bad)})")
                X = np.stack(df["embedding"].to_numpy()).astype(np.float32)
            else:
                num = df.drop(columns=["patch_id"]).select_dtypes("number")
                if num.shape[1] == 0:
                    raise DataError(f"{path}: no 'embedding' column and no numeric columns")
                X = num.to_numpy(np.float32)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:  # never unpickle a user's file; the zip is closed
                if "patch_id" not in z or "embedding" not in z:
                    raise DataError(f"{path}: an .npz needs arrays 'patch_id' and 'embedding' (has {list(z)})")
                try:
                    ids = z["patch_id"].astype(str)
                except ValueError:
                    raise DataError(f"{path}: 'patch_id' is an object array; save it as strings, e.g. "
                                    "np.savez(f, patch_id=np.array(ids, dtype=str), embedding=X)") from None
                X = z["embedding"].astype(np.float32)
        elif path.suffix == ".npy":
            if ids_path is None:
                raise DataError(f"{path}: a .npy holds no patch ids; pass --ids FILE (one patch id per line)")
            X = np.load(path, allow_pickle=False).astype(np.float32)
            ids = np.array([s for s in Path(ids_path).read_text().splitlines() if s.strip()])
            if len(ids) != len(X):
                raise DataError(f"{ids_path} lists {len(ids)} patch ids but {path} has {len(X)} rows")
        else:
            raise DataError(f"{path}: unsupported embedding file (use .parquet, .npz or .npy)")
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read embeddings from {path}: {exc}") from None
    if X.ndim != 2:
        raise DataError(f"{path}: embeddings must be 2-D (n, dim), got shape {X.shape}")
    return ids, X


class ImportedEmbeddings(Encoder):
    """Embeddings computed elsewhere, validated against the workspace catalog.

    Parameters
    ----------
    path : str
        Parquet / NPZ / NPY file (see :func:`read_embedding_file`).
    ids : str, optional
        For ``.npy``: text file of patch ids, one per line.
    """

    name = "import"
    needs_pixels = False
    _parameter_constraints = {"path": [PATH], "ids": [PATH, None]}

    def __init__(self, path: str, *, ids: str | None = None):
        self.path = str(path)
        self.ids = ids

    def fit(self, ws, *, device: str = "cpu", progress: bool = True) -> ImportedEmbeddings:
        validate_params(self)
        ids, X = read_embedding_file(Path(self.path), ids_path=Path(self.ids) if self.ids else None)
        known = set(ws.catalog["patch_id"])
        problems = []
        unknown = [p for p in ids if p not in known]
        if unknown:
            problems.append(f"{len(unknown)} unknown patch id(s) not in the workspace: {', '.join(unknown[:10])}")
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].tolist()
        if dup:
            problems.append(f"{len(dup)} duplicated patch id(s): {', '.join(dup[:10])}")
        bad = ~np.isfinite(X).all(axis=1)
        if bad.any():
            problems.append(f"{int(bad.sum())} row(s) with NaN/inf: {', '.join(ids[bad][:10])}")
        if problems:
            raise DataError(f"cannot import {self.path}: " + "; ".join(problems))
        order = {p: i for i, p in enumerate(ws.catalog["patch_id"])}
        sort = np.argsort([order[p] for p in ids], kind="stable")
        self.patch_ids_ = ids[sort]
        self.X_ = X[sort]
        self.dim_ = X.shape[1]
        self.bands_ = []
        self.device_ = "cpu"
        missing = len(known) - len(ids)
        self.missing_ = int(missing)
        return self

    def card(self) -> dict:
        return {**super().card(), "source": self.path, "patches_without_embedding": self.missing_}
