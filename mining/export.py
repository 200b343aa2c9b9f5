"""Export a curated workspace: labels after the edit log, excluded patches marked (or dropped), the history.

Formats (``eomine export WS --format F --out PATH``):

``parquet``
    The catalog with the current labels (``labels``), the catalog's own (``original_labels``), the current split
    (``split``: after ``eomine split`` or any ``split`` edit), the catalog's (``original_split``) and the curation
    state (``flagged``, ``excluded``, ``confirmed``, ``changed``).
``csv``
    The same, list columns joined with ``|`` (``eomine ingest --format folder --table`` reads that back).
``reben``
    A reBEN-compatible ``metadata.parquet``: exactly the official columns (``patch_id, labels, split, country,
    s1_name, s2v1_name, contains_seasonal_snow, contains_cloud_or_shadow``), labels sorted by name as in the
    official file. ``eomine ingest --format reben --metadata-only --metadata PATH`` reads it back.
``geoparquet``
    One footprint polygon per patch (the UTM square, corners transformed to OGC:CRS84 lon/lat) as WKB, with the
    GeoParquet 1.1 ``geo`` metadata (encoding, geometry type, CRS as PROJJSON, bbox), the current labels as a
    list and as text, and the curation state: QGIS / GDAL >= 3.5 open it.

``predictions``
    Every patch's labels after active learning (:mod:`mining.labelling`): ``labels`` (given by a person or the
    dataset; empty when none), ``labelled`` (True: given), ``predicted`` (the model's label set, refitted on the
    current labels), ``final_labels`` (the given labels where there are some, else the predicted ones),
    ``confidence`` (probability of the top class), ``uncertainty``, ``proba`` (one probability per class, in the
    order of the ``classes`` list in the provenance card), plus ``split``, ``flagged``, ``excluded``.

Every export writes the edit history beside the file (``<PATH>.history.parquet``, or ``.history.csv`` for csv:
one row per event with its batch's kind, the batch an undo / redo targets (an integer), source and active state;
a reviewer's confirmation reads ``confirm`` in ``op``, the name people know for the stored ``keep``), and records
its provenance (eomine version,
workspace, log version, parameters, format version) in the Parquet key-value metadata under ``eomine``
(``<PATH>.json`` for csv).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .curation import EditLog, op_name, open_log
from .errors import DataError, WorkspaceError
from .workspace import Workspace, atomic_write

__all__ = ["FORMATS", "EXPORT_FORMAT_VERSION", "export_workspace", "curated_catalog", "history_table",
           "REBEN_COLUMNS"]

EXPORT_FORMAT_VERSION = 1
FORMATS = ("parquet", "csv", "reben", "geoparquet", "predictions")
REBEN_COLUMNS = ("patch_id", "labels", "split", "country", "s1_name", "s2v1_name", "contains_seasonal_snow",
                 "contains_cloud_or_shadow")
_S2V1 = r"^(?:.*_)?(S2[AB]_MSIL2A_\d{8}T\d{6})_N\d{4}_R\d{3}_T\d{2}[A-Z]{3}_(\d+_\d+)$"


def curated_catalog(ws: Workspace, *, log: EditLog | None = None) -> pd.DataFrame:
    """The catalog with the labels after the active edits and the curation state.

    Returns
    -------
    DataFrame, shape (n, n_catalog_columns + 6)
        ``labels`` (current, nomenclature order), ``original_labels``, ``split`` (current: after the ``split``
        edits), ``original_split``, ``flagged``, ``excluded``, ``confirmed``, ``changed``;
        ``attrs["edits_version"]`` is the log version these labels make up.
    """
    log = log or open_log(ws, create=False)
    cur = log.current_labels()
    cat = ws.catalog.copy()
    if not np.array_equal(cat["patch_id"].to_numpy(object), cur.patch_ids):
        raise WorkspaceError(f"{ws.catalog_path} changed while exporting; run the export again")
    cat.insert(cat.columns.get_loc("labels") + 1, "original_labels", cat["labels"])
    cat["labels"] = cur.lists()
    cat.insert(cat.columns.get_loc("split") + 1, "original_split", cat["split"])
    cat["split"] = cur.split
    cat["flagged"] = cur.flagged
    cat["excluded"] = cur.excluded
    cat["confirmed"] = cur.confirmed
    cat["changed"] = cur.changed
    cat.attrs["edits_version"] = int(cur.version)
    return cat


def history_table(log: EditLog, *, up_to: int | None = None) -> pd.DataFrame:
    """Every event with its batch's provenance: ``event, time, author, batch, kind, target, source, note,
    patch_id, op, label, active`` (oldest first; ``target``: the edit batch of an undo / redo, integer, null
    otherwise; ``op`` as people name it: ``confirm`` for the stored ``keep``; ``label`` of ``set`` is the JSON
    list of the new labels).

    ``up_to``: only the batches up to that log version, ``active`` as of then (so an undo committed while an
    export runs does not contradict the labels the export read at ``up_to``).
    """
    ev = log.events().rename(columns={"id": "event"})
    b = log.batches(up_to=up_to).rename(columns={"id": "batch", "note": "batch_note", "time": "batch_time"})
    if up_to is not None:
        ev = ev[ev["batch"] <= up_to].reset_index(drop=True)
    out = ev.merge(b[["batch", "kind", "target", "source", "active"]], on="batch", how="left")
    out["active"] = out["active"].fillna(False).astype(bool)
    out["op"] = out["op"].map(op_name)
    cols = ["event", "time", "author", "batch", "kind", "target", "source", "note", "patch_id", "op", "label",
            "active"]
    return out[cols]


def export_workspace(workspace, fmt: str, out, *, drop_excluded: bool = False, overwrite: bool = False,
                     log: EditLog | None = None) -> dict:
    """Write the curated workspace in ``fmt`` to ``out`` (+ the history beside it).

    Parameters
    ----------
    workspace : Workspace or path-like
    fmt : {"parquet", "csv", "reben", "geoparquet"}
    out : path-like
        The file to write (``.parquet`` / ``.csv``); its folder must exist.
    drop_excluded : bool
        Leave excluded patches out (default: keep them, marked ``excluded``; the reben format has no such
        column, so excluded patches are only told apart in the history there).
    overwrite : bool
        Replace an existing file.
    log : EditLog or PostgresEditLog, optional
        The edit log to read (default: :func:`~mining.curation.open_log`: ``$EOMINE_LOG``, else
        ``WS/edits.sqlite``).

    Returns
    -------
    dict
        The provenance card (also stored in the file): rows written, patches changed / excluded, paths, ...
    """
    if fmt not in FORMATS:
        raise DataError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    out = Path(out)
    if not out.parent.is_dir():
        raise DataError(f"cannot write {out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise DataError(f"--out {out} is a folder; give a file name (e.g. {out / ('metadata.parquet')})")
    hist_path = out.with_name(out.name + (".history.csv" if fmt == "csv" else ".history.parquet"))
    for p in (out, hist_path):
        if p.exists() and not overwrite:
            raise DataError(f"{p} already exists; pass --overwrite to replace it")
    if out.resolve().is_relative_to(ws.path.resolve()):
        raise DataError(f"refusing to write {out} inside the workspace {ws.path} (choose another --out)")
    log = log or open_log(ws, create=False)
    cat = curated_catalog(ws, log=log)
    version = cat.attrs["edits_version"]  # a commit during the export is in neither the labels nor the history
    n_all = len(cat)
    if drop_excluded:
        cat = cat[~cat["excluded"]].reset_index(drop=True)
    card = {"format": f"eomine-export-{fmt}", "version": EXPORT_FORMAT_VERSION, "eomine": __version__,
            "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "workspace": str(ws.path), "dataset": ws.name, "nomenclature": ws.nomenclature.name,
            "edits_version": version, "params": {"format": fmt, "drop_excluded": drop_excluded},
            "n_rows": len(cat), "n_patches": n_all, "n_changed": int(cat["changed"].sum()),
            "n_excluded": int(cat["excluded"].sum()), "n_dropped": n_all - len(cat),
            "n_flagged": int(cat["flagged"].sum()), "file": out.name, "history": hist_path.name}
    if fmt == "parquet":
        _write_parquet(pa.Table.from_pandas(cat, preserve_index=False), out, card)
    elif fmt == "csv":
        flat = cat.copy()
        for c in ("labels", "original_labels", *(["gt_labels"] if "gt_labels" in flat else [])):
            flat[c] = flat[c].map(lambda x: "|".join(x) if x is not None else "")
        atomic_write(out, lambda tmp: flat.to_csv(tmp, index=False))
        atomic_write(out.with_name(out.name + ".json"), lambda tmp: tmp.write_text(json.dumps(card, indent=1)))
    elif fmt == "reben":
        _write_parquet(_reben_table(cat), out, card)
    elif fmt == "predictions":
        table, extra = _predictions_table(ws, log, cat)
        card.update(extra)
        _write_parquet(table, out, card)
    else:
        _write_parquet(_geo_table(cat, card), out, card, extra=card.pop("_geo"))
    hist = history_table(log, up_to=version)
    if fmt == "csv":
        atomic_write(hist_path, lambda tmp: hist.to_csv(tmp, index=False))
    else:
        _write_parquet(pa.Table.from_pandas(hist, preserve_index=False), hist_path,
                       {**card, "format": "eomine-export-history", "file": hist_path.name})
    card["n_events"] = len(hist)
    return card


# ---------------------------------------------------------------------- formats
def _write_parquet(table: pa.Table, path: Path, card: dict, *, extra: dict | None = None) -> None:
    meta = dict(table.schema.metadata or {})
    meta[b"eomine"] = json.dumps(card, default=str).encode()
    for k, v in (extra or {}).items():
        meta[k.encode()] = json.dumps(v).encode()
    table = table.replace_schema_metadata(meta)
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def _predictions_table(ws: Workspace, log: EditLog, cat: pd.DataFrame) -> tuple[pa.Table, dict]:
    from .labelling import LabellingSession

    pred = LabellingSession(ws).predictions(log).set_index("patch_id").loc[cat["patch_id"]].reset_index()
    labelled = pred["labelled"].to_numpy(bool)
    df = pd.DataFrame({
        "patch_id": cat["patch_id"].astype(str).to_numpy(),
        "labels": [list(x) if lab else [] for x, lab in zip(cat["labels"], labelled, strict=True)],
        "labelled": labelled,
        "predicted": pred["predicted"].to_numpy(object),
        "final_labels": [list(x) if lab else list(p) for x, p, lab in zip(cat["labels"], pred["predicted"], labelled,
                                                                          strict=True)],
        "confidence": pred["confidence"].to_numpy(np.float32),
        "uncertainty": pred["uncertainty"].to_numpy(np.float32),
        "proba": pred["proba"].to_numpy(object),
        "split": cat["split"].to_numpy(object), "flagged": cat["flagged"].to_numpy(bool),
        "excluded": cat["excluded"].to_numpy(bool),
    })
    schema = pa.schema([("patch_id", pa.string()), ("labels", pa.list_(pa.string())), ("labelled", pa.bool_()),
                        ("predicted", pa.list_(pa.string())), ("final_labels", pa.list_(pa.string())),
                        ("confidence", pa.float32()), ("uncertainty", pa.float32()),
                        ("proba", pa.list_(pa.float32())), ("split", pa.string()), ("flagged", pa.bool_()),
                        ("excluded", pa.bool_())])
    extra = {"classes": list(ws.nomenclature.classes), "n_labelled": int(labelled.sum())}
    return pa.Table.from_pandas(df, schema=schema, preserve_index=False), extra


def _reben_table(cat: pd.DataFrame) -> pa.Table:
    s2v1 = cat["patch_id"].str.extract(_S2V1)
    s2v1_name = (s2v1[0] + "_" + s2v1[1]).where(s2v1[0].notna(), None)
    df = pd.DataFrame({
        "patch_id": cat["patch_id"].astype(str),
        # the official file sorts labels by name (a Series: an empty frame keeps a column of lists)
        "labels": pd.Series([sorted(x) for x in cat["labels"]], index=cat.index, dtype=object),
        "split": cat["split"], "country": cat["country"], "s1_name": cat["s1_id"], "s2v1_name": s2v1_name,
        "contains_seasonal_snow": cat["seasonal_snow"].fillna(False).astype(bool),
        "contains_cloud_or_shadow": cat["cloud_or_shadow"].fillna(False).astype(bool),
    })
    schema = pa.schema([("patch_id", pa.string()), ("labels", pa.list_(pa.string())), ("split", pa.string()),
                        ("country", pa.string()), ("s1_name", pa.string()), ("s2v1_name", pa.string()),
                        ("contains_seasonal_snow", pa.bool_()), ("contains_cloud_or_shadow", pa.bool_())])
    return pa.Table.from_pandas(df, schema=schema, preserve_index=False)


def _footprints(cat: pd.DataFrame):
    """Polygons (n,) in lon/lat: each patch's square in its own CRS with its corners transformed; the WGS84
    bbox where there is no projected footprint; None where there are no coordinates at all."""
    import shapely
    from pyproj import Transformer

    n = len(cat)
    lon = np.full((n, 5), np.nan)
    lat = np.full((n, 5), np.nan)
    x0, y0, x1, y1 = (cat[c].to_numpy(float) for c in ("x_min", "y_min", "x_max", "y_max"))
    crs = cat["crs"].astype(object).where(cat["crs"].notna(), None).to_numpy()
    has_proj = np.isfinite(x0) & np.isfinite(y0) & np.isfinite(x1) & np.isfinite(y1) & (crs != None)  # noqa: E711
    # counter-clockwise ring (GeoParquet / OGC: exterior rings CCW): LL, LR, UR, UL, LL
    for code in pd.unique(crs[has_proj]):
        m = has_proj & (crs == code)
        tr = Transformer.from_crs(code, "OGC:CRS84", always_xy=True)
        xs = np.stack([x0[m], x1[m], x1[m], x0[m], x0[m]], 1)
        ys = np.stack([y0[m], y0[m], y1[m], y1[m], y0[m]], 1)
        lo, la = tr.transform(xs.ravel(), ys.ravel())
        lon[m], lat[m] = np.reshape(lo, (-1, 5)), np.reshape(la, (-1, 5))
    bx0, by0, bx1, by1 = (cat[c].to_numpy(float) for c in ("lon_min", "lat_min", "lon_max", "lat_max"))
    bb = ~has_proj & np.isfinite(bx0) & np.isfinite(by0) & np.isfinite(bx1) & np.isfinite(by1)
    lon[bb] = np.stack([bx0[bb], bx1[bb], bx1[bb], bx0[bb], bx0[bb]], 1)
    lat[bb] = np.stack([by0[bb], by0[bb], by1[bb], by1[bb], by0[bb]], 1)
    ok = np.isfinite(lon).all(1) & np.isfinite(lat).all(1)
    geoms = np.full(n, None, dtype=object)
    if ok.any():
        coords = np.stack([lon[ok], lat[ok]], -1)  # (m, 5, 2)
        geoms[ok] = shapely.polygons(coords)
    return geoms


def _geo_table(cat: pd.DataFrame, card: dict) -> pa.Table:
    import shapely
    from pyproj import CRS

    geoms = _footprints(cat)
    ok = np.array([g is not None for g in geoms])
    if ok.any() and not shapely.is_valid(geoms[ok]).all():
        bad = cat["patch_id"].to_numpy()[ok][~shapely.is_valid(geoms[ok])][0]
        raise DataError(f"patch {bad}: its footprint is not a valid polygon (check x_min..y_max and crs)")
    wkb = np.full(len(cat), None, dtype=object)
    if ok.any():
        wkb[ok] = shapely.to_wkb(geoms[ok], output_dimension=2, byte_order=1)
    keep = ["patch_id", "dataset", "split", "original_split", "labels", "original_labels", "country", "tile", "acquired", "season",
            "cloud_or_shadow", "seasonal_snow", "crs", "flagged", "excluded", "confirmed", "changed"]
    df = cat[[c for c in keep if c in cat.columns]].copy()
    df.insert(df.columns.get_loc("labels") + 1, "labels_text", df["labels"].map("; ".join))
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.append_column("geometry", pa.array(list(wkb), type=pa.binary()))
    bounds = shapely.total_bounds(geoms[ok]).tolist() if ok.any() else None
    col = {"encoding": "WKB", "geometry_types": ["Polygon"], "crs": CRS("OGC:CRS84").to_json_dict(),
           "edges": "planar", "orientation": "counterclockwise"}
    if bounds and np.isfinite(bounds).all():
        col["bbox"] = bounds
    card["_geo"] = {"geo": {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": col}}}
    card["n_without_geometry"] = int((~ok).sum())
    return table
