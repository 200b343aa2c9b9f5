"""Benchmark export: a curated workspace written as a new benchmark in the reBEN or the EuroSAT layout.

``eomine export WS --format reben-layout --out DIR`` / ``--format eurosat-layout``. Ingesting ``DIR`` with
``eomine ingest DIR --format reben`` (``eurosat``) gives back the same labels, splits and pixels, bit for bit.

What is exported
----------------
Every patch with pixels that is not excluded, with its labels after the active edits of the edit log and its
current split. Excluded patches are left out (the dataset's README says how many); so are patches ingested
without pixels.

``reben-layout`` (the official reBEN / BigEarthNet v2.0 folders, what :class:`~mining.datasets.ReBEN` reads)::

    DIR/BigEarthNet-S2/<tile>/<patch_id>/<patch_id>_<band>.tif      one GeoTIFF per band, native resolution
    DIR/BigEarthNet-S1/<s1 product>/<s1_name>/<s1_name>_{VV,VH}.tif  where the patch has Sentinel-1 pixels
    DIR/Reference_Maps/<tile>/<patch_id>/<patch_id>_reference_map.tif  where the patch has a reference map
    DIR/metadata.parquet                                        patches without snow, cloud or shadow
    DIR/metadata_for_patches_with_snow_cloud_or_shadow.parquet  the others (the official split into two files)
    DIR/README.md, DIR/eomine_export.json                       the dataset card, the provenance card

``<tile>`` is the patch id without its trailing ``_<col>_<row>`` (reBEN: ``S2A_MSIL2A_..._T33UUP``; a scene
workspace: the scene's name). Each GeoTIFF carries the patch's CRS and a transform made from its footprint in
the catalog (``x_min .. y_max`` in ``crs``) and its group's pixel count. The metadata has exactly the official
columns (:data:`mining.export.REBEN_COLUMNS`; ``contains_*`` from the catalog's QA flags). The workspace must
hold reBEN's pixel grid (``s2_10m`` 120 px, ``s2_20m`` 60 px, ``s2_60m`` 20 px, ``s1`` 120 px) and its 12
Sentinel-2 bands; Sentinel-2 values are written as uint16 (reBEN's type; a value that does not fit is an
error, never clipped), Sentinel-1 as float32. A band reBEN does not have (B10 of an L1C scene) is written as
one more file that the reben ingest does not read. ``s1_name`` is the catalog's ``s1_id`` where a patch has its
own; patches that share one (a scene's one Sentinel-1 file, cut with the patches) get ``<s1_id>_<col>_<row>``.

``eurosat-layout`` (what :class:`~mining.datasets.EuroSATMS` reads)::

    DIR/<Class>/<Class>_<n>.tif     one multi-band GeoTIFF per patch, bands in EuroSAT MS's disk order
    DIR/patches.csv                 patch_id (the file's name), source_patch_id, label, split
    DIR/README.md, DIR/eomine_export.json

Single-label only: a patch with several labels is an error (nothing is chosen for the curator); unlabelled
patches are left out (counted). The label must be a EuroSAT class. A patch keeps its id when it is already
``<Class>_<n>`` of its current class; the others get the next free numbers of their class (``patches.csv``
maps them). Bands: the Sentinel-2 bands of the workspace in EuroSAT MS's disk order (B01 .. B12, B8A last), on
the finest group's grid; a coarser group is repeated by its whole factor (each native pixel becomes an f x f
block: lossless, the native values are every f-th pixel). Sentinel-1 and reference maps are left out. Exact
round trip through ``--format eurosat``: a workspace with EuroSAT MS's 13 bands on one 64 px grid (a EuroSAT
ingest). Any other workspace gives valid GeoTIFFs (band names in their descriptions) that the eurosat ingest
refuses (it expects 13 bands of 64 px); the card says so (``eurosat_readable``). EuroSAT has no split: the
split is kept in ``patches.csv`` only.

The output folder is built beside ``DIR`` (``DIR.partial``) and moved in place once complete. An existing
non-empty ``DIR`` is replaced only with ``overwrite`` and only when it is an earlier export (it has
``eomine_export.json``): any other folder may hold someone's files.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import __version__
from .benchmark_layouts import (
    CARD_FILE,
    dataset_readme,
    eurosat_names,
    reben_names,
    write_eurosat,
    write_reben,
)
from .errors import DataError, WorkspaceError
from .progress import ProgressCallback
from .workspace import Workspace

__all__ = ["LAYOUT_FORMATS", "CARD_FILE", "export_benchmark", "reben_names", "eurosat_names"]

LAYOUT_FORMATS = ("reben-layout", "eurosat-layout")


def export_benchmark(workspace, fmt: str, out, *, overwrite: bool = False,
                     progress: ProgressCallback | None = None, log=None) -> dict:
    """Write the curated workspace as a new benchmark folder (see the module docstring).

    Parameters
    ----------
    workspace : Workspace or path-like
    fmt : {"reben-layout", "eurosat-layout"}
    out : path-like
        The folder to create (its parent must exist).
    overwrite : bool
        Replace an earlier export at ``out``.
    progress : callable, optional
        Called with a :class:`~mining.progress.Progress` about every 5 % of the patches.
    log : EditLog or PostgresEditLog, optional
        The edit log the labels come from (default: :func:`~mining.curation.open_log`).

    Returns
    -------
    dict
        The provenance card (also ``out/eomine_export.json``): counts, the edit-log version, paths.
    """
    from .curation import open_log

    if fmt not in LAYOUT_FORMATS:
        raise DataError(f"unknown benchmark layout {fmt!r} (one of {', '.join(LAYOUT_FORMATS)})")
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    out = Path(out)
    _check_out(ws, out, overwrite)
    if not ws.has_pixels:
        raise DataError(f"{ws.path} was ingested without pixels (metadata-only): a {fmt} export writes pixels")
    cur = (log or open_log(ws, create=False)).current_labels()
    cat = ws.catalog
    if not np.array_equal(cat["patch_id"].to_numpy(object), cur.patch_ids):
        raise WorkspaceError(f"{ws.catalog_path} changed while exporting; run the export again")
    labels = np.empty(len(cat), dtype=object)
    labels[:] = cur.lists()
    split = cur.split  # after the edit log's split edits (eomine split)
    has_pix = cat["pixel_row"].to_numpy(np.int64) >= 0
    keep = has_pix & ~cur.excluded
    card = {"format": f"eomine-benchmark-{fmt}", "eomine": __version__,
            "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"), "workspace": str(ws.path),
            "dataset": ws.name, "nomenclature": ws.nomenclature.name, "edits_version": int(cur.version),
            "n_patches": len(cat), "n_excluded": int((cur.excluded & has_pix).sum()),
            "n_without_pixels": int((~has_pix).sum()), "n_changed": int((cur.changed & keep).sum())}
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # left by an interrupted export
    partial.mkdir()
    try:
        if fmt == "reben-layout":
            card.update(write_reben(ws, cat, labels, split, keep, partial, progress))
        else:
            card.update(write_eurosat(ws, cat, labels, split, keep, partial, progress))
        card["n_files"] = sum(len(f) for _, _, f in os.walk(partial)) + 2
        (partial / "README.md").write_text(dataset_readme(card))
        (partial / CARD_FILE).write_text(json.dumps(card, indent=1, default=str))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _publish(partial, out)
    return card


# ---------------------------------------------------------------------- the output folder
def _check_out(ws: Workspace, out: Path, overwrite: bool) -> None:
    if not out.parent.is_dir():
        raise DataError(f"cannot write {out}: folder {out.parent} does not exist")
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; give the folder to create")
    if out.resolve().is_relative_to(ws.path.resolve()) or ws.path.resolve().is_relative_to(out.resolve()):
        raise DataError(f"refusing to write {out} inside or around the workspace {ws.path} (choose another --out)")
    if out.is_dir() and any(out.iterdir()):
        if not (out / CARD_FILE).is_file():
            raise DataError(f"{out} exists, is not empty and is not an eomine benchmark export (no {CARD_FILE}); "
                            "refusing to replace it (choose another --out)")
        if not overwrite:
            raise DataError(f"{out} already exists; pass --overwrite to replace it")


def _publish(partial: Path, out: Path) -> None:
    """Move the finished ``partial`` folder to ``out`` (an earlier export or an empty folder is replaced)."""
    if out.exists():
        old = out.with_name(out.name + f".old-{os.getpid()}")
        os.replace(out, old)
        os.replace(partial, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(partial, out)
