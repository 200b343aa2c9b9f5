"""Ingest a dataset into a workspace: scan -> validate -> pack pixels -> stats -> publish atomically."""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .datasets.base import Issue, PatchDataset, issue_from_error
from .errors import DataError
from .store import BandGroup, PixelStoreWriter
from .workspace import Workspace, atomic_write, check_replaceable, conform_catalog, publish, write_parquet

__all__ = ["ingest", "IngestReport", "band_percentiles"]

ON_ERROR = ("skip", "fail")


@dataclass
class IngestReport:
    """What an ingest did: counts, timings and every skipped patch with its reason."""

    workspace: Path
    n_patches: int
    n_with_pixels: int
    issues: list[Issue] = field(default_factory=list)
    seconds: float = 0.0
    #: where the replaced workspace's edit log was moved (``--overwrite`` of a curated workspace)
    edits_backup: Path | None = None

    def summary(self, max_examples: int = 5) -> str:
        lines = [f"ingested {self.n_patches:,} patches ({self.n_with_pixels:,} with pixels) into "
                 f"{self.workspace} in {self.seconds:.1f} s"]
        if self.edits_backup is not None:
            lines.append(f"the replaced workspace's edit log was kept in {self.edits_backup} "
                         "(the new workspace starts without edits)")
        if self.issues:
            lines.append(f"skipped {len(self.issues):,} patch(es):")
            by_kind: dict[str, list[Issue]] = {}
            for it in self.issues:
                by_kind.setdefault(it.kind, []).append(it)
            for kind, items in sorted(by_kind.items()):
                lines.append(f"  {kind}: {len(items):,}")
                for it in items[:max_examples]:
                    lines.append(f"    {it}")
                if len(items) > max_examples:
                    lines.append(f"    ... {len(items) - max_examples:,} more in ingest_report.parquet")
        return "\n".join(lines)


def drop_catalog_labels(catalog: pd.DataFrame) -> pd.DataFrame:
    """The catalog of an unlabelled pool: ``labels`` emptied, the given labels moved to ``true_labels``.

    Parameters
    ----------
    catalog : DataFrame, n rows, with ``labels`` (lists of class names)

    Returns
    -------
    DataFrame, n rows: a copy with ``true_labels`` (the former labels) and empty ``labels``.
    """
    if "true_labels" in catalog.columns:
        raise DataError("the catalog already has a true_labels column: its labels were dropped before")
    out = catalog.copy()
    out["true_labels"] = out["labels"].map(lambda v: [str(x) for x in v] if v is not None else [])
    out["labels"] = [[] for _ in range(len(out))]
    return out


def ingest(dataset: PatchDataset, out, *, on_error: str = "skip", overwrite: bool = False,
           progress: bool = True, workers: int | None = None, stats_sample: int = 2000,
           drop_labels: bool = False) -> IngestReport:
    """Build a workspace from a dataset.

    Parameters
    ----------
    dataset : PatchDataset
        A configured loader (:mod:`mining.datasets`).
    out : path-like
        The workspace directory to create.
    on_error : {"skip", "fail"}
        ``"skip"`` drops bad patches and lists each with its reason; ``"fail"`` stops at the first one,
        before anything is published (an existing workspace at ``out`` is left untouched).
    overwrite : bool
        Replace an existing workspace at ``out`` (only once the new one is complete).
    progress : bool
        Show a tqdm bar with patches/s.
    workers : int, optional
        Reader threads (GeoTIFF / LMDB reads release the GIL); default ``min(4, cpu_count)``.
    stats_sample : int
        Patches sampled for the dataset-level band percentiles.
    drop_labels : bool
        Make an unlabelled pool from a labelled dataset (to simulate active learning): the catalog's
        ``labels`` are emptied and the dataset's labels kept aside in the column ``true_labels``, which only
        evaluations and the simulated curator (``eomine learn --oracle catalog``) read.

    Returns
    -------
    IngestReport
    """
    from tqdm.auto import tqdm

    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    out = Path(out)
    check_replaceable(out, overwrite=overwrite)
    t0 = time.perf_counter()
    catalog, issues = dataset.scan()
    if issues and on_error == "fail":
        raise DataError(f"{issues[0]} (stopped: --on-error fail; {len(issues)} problem(s) found in the scan)")

    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # left by an interrupted run: start clean, the published workspace is untouched
    partial.mkdir(parents=True)

    n = len(catalog)
    catalog = catalog.reset_index(drop=True)
    catalog["pixel_row"] = -1
    catalog["has_s2"] = False
    catalog["has_s1"] = False
    n_pix = 0
    groups = tuple(dataset.store_groups)
    if not dataset.metadata_only and n:
        writer = PixelStoreWriter(partial / "pixels", groups, n)
        failed = np.zeros(n, dtype=bool)
        workers = workers or min(4, os.cpu_count() or 1)

        def load(row):
            try:
                return dataset.read(row), None
            except DataError as exc:
                return None, exc

        rows = list(catalog.itertuples(index=True))
        with ThreadPoolExecutor(workers) as pool, tqdm(total=n, desc="ingest", unit="patch",
                                                       disable=not progress, smoothing=0.1) as bar:
            for row, (arrays, err) in zip(rows, pool.map(load, rows, chunksize=8), strict=True):
                if err is not None:
                    issue = issue_from_error(row.patch_id, err)
                    if on_error == "fail":
                        pool.shutdown(cancel_futures=True)
                        shutil.rmtree(partial, ignore_errors=True)
                        raise DataError(f"{issue} (stopped: --on-error fail)")
                    issues.append(issue)
                    failed[row.Index] = True
                else:
                    writer.write(n_pix, arrays, where=row.patch_id)
                    catalog.at[row.Index, "pixel_row"] = n_pix
                    catalog.at[row.Index, "has_s2"] = any(k.startswith("s2") for k in arrays)
                    catalog.at[row.Index, "has_s1"] = arrays.get("s1") is not None
                    n_pix += 1
                bar.update()
        writer.n_rows = n_pix
        stats = band_percentiles_from_writer(writer, groups, n_pix, sample=stats_sample)
        writer.close(stats)
        catalog = catalog[~failed].reset_index(drop=True)

    private = [c for c in catalog.columns if c.startswith("tmp_")]
    catalog = catalog.drop(columns=private)
    if drop_labels:
        catalog = drop_catalog_labels(catalog)
    write_parquet(conform_catalog(catalog), partial / "catalog.parquet")
    write_parquet(pd.DataFrame({"patch_id": [i.patch_id for i in issues], "kind": [i.kind for i in issues],
                                "message": [i.message for i in issues]}, dtype=str),
                  partial / "ingest_report.parquet")
    meta = Workspace.describe(dataset=dataset.dataset, nomenclature=dataset.nomenclature,
                              bands=dataset.bands if not dataset.metadata_only else [],
                              n_patches=len(catalog), made_by={**dataset.made_by(), "on_error": on_error,
                                                               "skipped": len(issues),
                                                               **({"drop_labels": True} if drop_labels else {})})
    atomic_write(partial / "workspace.json", lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))
    backup = publish(partial, out, overwrite=overwrite)
    return IngestReport(out, len(catalog), n_pix, issues, time.perf_counter() - t0, edits_backup=backup)


def band_percentiles(arrays: dict[str, np.ndarray], groups: tuple[BandGroup, ...],
                     q=(1.0, 2.0, 50.0, 98.0, 99.0)) -> dict[str, dict[str, float]]:
    """Per-band percentiles over a sample of patches, ignoring nodata.

    Parameters
    ----------
    arrays : dict of group name -> ndarray, shape (n_sample, n_bands, h, w)
    """
    out = {}
    for g in groups:
        a = arrays.get(g.name)
        if a is None or not len(a):
            continue
        for bi, band in enumerate(g.bands):
            v = a[:, bi].astype(np.float64).ravel()
            v = v[np.isfinite(v)]
            if g.nodata is not None:
                v = v[v != g.nodata]
            if v.size:
                pct = np.percentile(v, q)
                out[band] = {f"p{int(k) if float(k).is_integer() else k}": float(x) for k, x in zip(q, pct, strict=True)}
    return out


def band_percentiles_from_writer(writer: PixelStoreWriter, groups, n_rows: int, *, sample: int) -> dict:
    if n_rows == 0:
        return {}
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(n_rows, size=min(sample, n_rows), replace=False))
    arrays = {}
    for g in groups:
        filled = writer.filled[g.name][rows]
        if filled.any():
            arrays[g.name] = writer.read_rows(g.name, rows[filled])
    return band_percentiles(arrays, groups)
