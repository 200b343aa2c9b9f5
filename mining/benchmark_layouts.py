"""The two benchmark layouts of :mod:`mining.benchmark_export`: their names, their writers (patch by patch,
from the pixel store's memory maps) and the dataset card (README.md). The layouts are described there."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .progress import ProgressCallback, report
from .workspace import Workspace

__all__ = ["CARD_FILE", "REBEN_GRID", "EUROSAT_DISK", "reben_names", "eurosat_names", "write_reben",
           "write_eurosat", "dataset_readme"]

#: the provenance card in every exported folder (also what marks a folder as an export that may be replaced)
CARD_FILE = "eomine_export.json"
#: reBEN's pixel grid: group -> pixels per side
REBEN_GRID = {"s2_10m": 120, "s2_20m": 60, "s2_60m": 20, "s1": 120, "refmap": 120}
REBEN_S2 = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
#: EuroSAT MS's band order on disk (B8A last), as :class:`~mining.datasets.EuroSATMS` reads it
EUROSAT_DISK = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")
_GRID_SUFFIX = re.compile(r"_(\d+_\d+)$")
_S1_PRODUCT = re.compile(r"^(.+?)(?:_\d{2}[C-X][A-Z]{2})?_\d+_\d+$")



# ---------------------------------------------------------------------- names (array in, array out)
def reben_names(patch_ids, s1_ids, fallback: str) -> pd.DataFrame:
    """Folder and file names of patches in the reBEN layout.

    Parameters
    ----------
    patch_ids : array-like of str, shape (n,)
    s1_ids : array-like of str or None, shape (n,)
        The catalog's ``s1_id``.
    fallback : str
        The tile folder of ids that do not end in ``_<col>_<row>``.

    Returns
    -------
    DataFrame, shape (n, 3)
        ``tile`` (the S2 folder: the id without ``_<col>_<row>``), ``s1_name`` (the ``s1_id`` when each patch
        has its own, else ``<s1_id>_<col>_<row>``; None without one), ``s1_product`` (the S1 folder: the name
        without ``[_<tile>]_<col>_<row>``).
    """
    ids = pd.Series(np.asarray(patch_ids, dtype=object), dtype=object)
    s1 = pd.Series(np.asarray(s1_ids, dtype=object), dtype=object)
    s1 = s1.where(s1.notna(), None)
    for name in pd.concat([ids, s1.dropna()]):
        if not isinstance(name, str) or name in ("", ".", "..") or re.search(r"[/\\\x00]", name):
            raise DataError(f"patch or s1 id {name!r} cannot be a folder name (field patch_id / s1_id)")
    suffix = ids.str.extract(_GRID_SUFFIX)[0]
    tile = ids.str.replace(_GRID_SUFFIX, "", regex=True).where(suffix.notna(), fallback)
    shared = s1.notna() & s1.duplicated(keep=False)
    s1_name = s1.copy()
    s1_name[shared] = s1[shared] + "_" + suffix[shared].fillna(ids[shared])
    product = s1_name.str.extract(_S1_PRODUCT)[0]
    product = product.where(product.notna(), s1_name)
    none = s1_name.isna().to_numpy()
    s1_name, product = s1_name.to_numpy(object, copy=True), product.to_numpy(object, copy=True)
    s1_name[none] = product[none] = None
    return pd.DataFrame({"tile": tile.to_numpy(object), "s1_name": s1_name, "s1_product": product}, dtype=object)


def eurosat_names(patch_ids, labels) -> np.ndarray:
    """EuroSAT file names ``<Class>_<n>`` of single-label patches.

    A patch already named ``<Class>_<n>`` after its label keeps its name; the others get the next free numbers
    of their class, in the given order.

    Parameters
    ----------
    patch_ids : array-like of str, shape (n,)
    labels : array-like of str, shape (n,)
        One class per patch.

    Returns
    -------
    ndarray of object, shape (n,)
    """
    ids = np.asarray(patch_ids, dtype=object)
    labels = np.asarray(labels, dtype=object)
    out = np.empty(len(ids), dtype=object)
    used: dict[str, set[int]] = {}
    for i, (pid, lab) in enumerate(zip(ids, labels, strict=True)):
        m = re.fullmatch(rf"{re.escape(lab)}_(\d+)", str(pid))
        if m and int(m.group(1)) not in used.setdefault(lab, set()):
            used[lab].add(int(m.group(1)))
            out[i] = pid
    nxt = {lab: max(u, default=0) + 1 for lab, u in used.items()}
    for i in np.flatnonzero(out == None):  # noqa: E711 (element-wise)
        lab = labels[i]
        n = nxt.get(lab, 1)
        while n in used.setdefault(lab, set()):
            n += 1
        used[lab].add(n)
        nxt[lab] = n + 1
        out[i] = f"{lab}_{n}"
    return out



# ---------------------------------------------------------------------- reBEN
def write_reben(ws: Workspace, cat: pd.DataFrame, labels: np.ndarray, split: np.ndarray, keep: np.ndarray,
                out: Path, progress: ProgressCallback | None) -> dict:
    """Write the patches ``keep`` in the reBEN layout under ``out``.

    Parameters
    ----------
    ws : Workspace
    cat : DataFrame, shape (n, ...)
        The workspace's catalog.
    labels : ndarray of object, shape (n,)
        The current label lists.
    split : ndarray of object, shape (n,)
        The current splits.
    keep : ndarray of bool, shape (n,)
        The patches to export.
    out : Path
        The folder to fill.
    progress : callable, optional

    Returns
    -------
    dict
        Card entries: counts, bands, files.
    """
    from .export import _reben_table, _write_parquet
    from .nomenclature import load_nomenclature

    store = ws.store
    s2 = _check_reben_grid(ws, store)
    rows = np.flatnonzero(keep)
    sub = cat.iloc[rows].reset_index(drop=True)
    lab = labels[rows]
    _check_classes(sub["patch_id"], lab, load_nomenclature("ben19").classes, "reben-layout",
                   "the ben19 nomenclature the reben ingest validates")
    _check_georef(sub, "reben-layout")
    names = reben_names(sub["patch_id"], sub["s1_id"], _folder_name(ws.name))
    extra = {"s1": "s1" in store.groups, "refmap": "refmap" in store.groups}
    filled = {g: store.filled(g) for g, on in extra.items() if on}
    n_s1 = n_ref = 0
    s2_root, s1_root, ref_root = out / "BigEarthNet-S2", out / "BigEarthNet-S1", out / "Reference_Maps"
    step = max(1, len(sub) // 20)
    for i, r in enumerate(sub.itertuples(index=False)):
        p, pid = int(r.pixel_row), r.patch_id
        d = s2_root / names["tile"].iat[i] / pid
        d.mkdir(parents=True)
        for g in s2:
            arr = _lossless(np.asarray(store.array(g.name)[p]), np.uint16, f"{pid}: group {g.name}")
            for j, band in enumerate(g.bands):
                _write_tif(d / f"{pid}_{band}.tif", arr[j:j + 1], r, g.size, nodata=g.nodata)
        if extra["s1"] and filled["s1"][p] and isinstance(names["s1_name"].iat[i], str):
            s1n = names["s1_name"].iat[i]
            d1 = s1_root / names["s1_product"].iat[i] / s1n
            d1.mkdir(parents=True)
            g = store.groups["s1"]
            arr = np.asarray(store.array("s1")[p]).astype(np.float32, copy=False)
            for j, band in enumerate(g.bands):
                _write_tif(d1 / f"{s1n}_{band}.tif", arr[j:j + 1], r, g.size, nodata=None)
            n_s1 += 1
        if extra["refmap"] and filled["refmap"][p]:
            dr = ref_root / names["tile"].iat[i] / pid
            dr.mkdir(parents=True)
            arr = _lossless(np.asarray(store.array("refmap")[p]), np.uint16, f"{pid}: group refmap")
            _write_tif(dr / f"{pid}_reference_map.tif", arr, r, arr.shape[-1], nodata=0, compress="deflate")
            n_ref += 1
        if (i + 1) % step == 0 or i + 1 == len(sub):
            report(progress, "write", f"wrote {i + 1:,} of {len(sub):,} patches", (i + 1) / len(sub))
    md = pd.DataFrame({"patch_id": sub["patch_id"], "labels": list(lab), "split": split[rows],
                       "country": sub["country"], "s1_id": names["s1_name"],
                       "seasonal_snow": sub["seasonal_snow"], "cloud_or_shadow": sub["cloud_or_shadow"]})
    cloudy = (md["seasonal_snow"].fillna(False).astype(bool) | md["cloud_or_shadow"].fillna(False).astype(bool))
    prov = {"format": "eomine-benchmark-reben-layout", "workspace": str(ws.path)}
    _write_parquet(_reben_table(md[~cloudy]), out / "metadata.parquet", prov)
    _write_parquet(_reben_table(md[cloudy]), out / "metadata_for_patches_with_snow_cloud_or_shadow.parquet", prov)
    bands = [{"band": b, "group": g.name, "px": g.size, "resolution": g.resolution, "dtype": "uint16",
              "in_reben": b in REBEN_S2} for g in s2 for b in g.bands]
    for gname, on in extra.items():
        if on:
            g = store.groups[gname]
            bands += [{"band": b, "group": gname, "px": g.size, "resolution": g.resolution,
                       "dtype": "float32" if gname == "s1" else "uint16", "in_reben": True} for b in g.bands]
    return {"n_exported": len(sub), "n_s1": n_s1, "n_reference_maps": n_ref, "n_snow_cloud_or_shadow":
            int(cloudy.sum()), "counts": _counts(lab, split[rows]), "split_counts": _split_counts(split[rows]),
            "bands": bands,
            "extra_bands": [b for g in s2 for b in g.bands if b not in REBEN_S2],
            "n_s1_renamed": int((sub["s1_id"].notna() & (names["s1_name"] != sub["s1_id"])).sum()),
            "ingest": "eomine ingest DIR --format reben --out WS"}


def _check_reben_grid(ws: Workspace, store) -> list:
    """The workspace's Sentinel-2 groups, checked against reBEN's pixel grid and bands."""
    s2 = []
    for name in ("s2_10m", "s2_20m", "s2_60m"):
        g = store.groups.get(name)
        if g is None:
            have = ", ".join(f"{h.name} ({h.size} px)" for h in store.groups.values())
            raise DataError(f"reben-layout needs reBEN's band groups s2_10m, s2_20m, s2_60m (120, 60, 20 px); "
                            f"{ws.path} has {have}")
        s2.append(g)
    for g in store.groups.values():
        want = REBEN_GRID.get(g.name)
        if want is None:
            raise DataError(f"reben-layout: band group {g.name} ({', '.join(g.bands)}) has no place in the reBEN "
                            "layout")
        if g.size != want:
            side = g.size * g.resolution
            raise DataError(f"reben-layout needs reBEN's pixel grid (s2_10m 120 px, s2_20m 60 px, s2_60m 20 px, "
                            f"s1 120 px); {ws.path} has {g.name} of {g.size} px of {g.resolution:g} m "
                            f"({side:g} m patches; a scene cut with --patch-size {want * g.resolution:g} has {want} px)")
    have = {b for g in s2 for b in g.bands}
    missing = [b for b in REBEN_S2 if b not in have]
    if missing:
        raise DataError(f"reben-layout needs reBEN's 12 Sentinel-2 bands; {ws.path} has no {', '.join(missing)}")
    return s2


# ---------------------------------------------------------------------- EuroSAT
def write_eurosat(ws: Workspace, cat: pd.DataFrame, labels: np.ndarray, split: np.ndarray, keep: np.ndarray,
                  out: Path, progress: ProgressCallback | None) -> dict:
    """Write the single-label patches ``keep`` in the EuroSAT layout under ``out``.

    Parameters are those of :func:`write_reben`.

    Returns
    -------
    dict
        Card entries: counts, bands, whether the eurosat ingest reads the files (``eurosat_readable``).
    """
    from .datasets.eurosat import CLASSES

    store = ws.store
    n_lab = np.array([len(x) for x in labels])
    multi = keep & (n_lab > 1)
    if multi.any():
        i = int(np.flatnonzero(multi)[0])
        raise DataError(f"eurosat-layout is single-label: {int(multi.sum()):,} patches have several labels (first: "
                        f"{cat['patch_id'].iat[i]}: {', '.join(labels[i])}); relabel them or use reben-layout")
    rows = np.flatnonzero(keep & (n_lab == 1))
    sub = cat.iloc[rows].reset_index(drop=True)
    lab = np.array([x[0] for x in labels[rows]], dtype=object)
    if not len(sub):
        raise DataError(f"eurosat-layout: no labelled patch to export in {ws.path}")
    _check_classes(sub["patch_id"], [[x] for x in lab], CLASSES, "eurosat-layout", "a EuroSAT class")
    _check_georef(sub, "eurosat-layout")
    order = {b: k for k, b in enumerate(EUROSAT_DISK)}
    bands = sorted(((b, g) for g in store.groups.values() for b in g.bands if b in order), key=lambda t: order[t[0]])
    if not bands:
        raise DataError(f"eurosat-layout needs Sentinel-2 bands; {ws.path} has {', '.join(store.bands)}")
    size = max(g.size for _, g in bands)
    for b, g in bands:
        if size % g.size:
            raise DataError(f"eurosat-layout: band {b} ({g.size} px) does not tile the {size} px grid")
    dtype = np.result_type(*{g.dtype for _, g in bands})
    nodata = {g.nodata for _, g in bands}
    nodata = nodata.pop() if len(nodata) == 1 else None
    names = eurosat_names(sub["patch_id"], lab)
    step = max(1, len(sub) // 20)
    for i, r in enumerate(sub.itertuples(index=False)):
        p = int(r.pixel_row)
        arr = np.empty((len(bands), size, size), dtype=dtype)
        for k, (b, g) in enumerate(bands):
            a = np.asarray(store.array(g.name)[p, g.bands.index(b)])
            f = size // g.size
            arr[k] = np.repeat(np.repeat(a, f, axis=0), f, axis=1) if f > 1 else a
        d = out / lab[i]
        d.mkdir(exist_ok=True)
        _write_tif(d / f"{names[i]}.tif", arr, r, size, nodata=nodata, descriptions=[b for b, _ in bands])
        if (i + 1) % step == 0 or i + 1 == len(sub):
            report(progress, "write", f"wrote {i + 1:,} of {len(sub):,} patches", (i + 1) / len(sub))
    pd.DataFrame({"patch_id": names, "source_patch_id": sub["patch_id"], "label": lab,
                  "split": split[rows]}).to_csv(out / "patches.csv", index=False)
    readable = tuple(b for b, _ in bands) == EUROSAT_DISK and size == 64
    left_out = [b for g in store.groups.values() for b in g.bands if b not in order]
    return {"n_exported": len(sub), "n_unlabelled": int((keep & (n_lab == 0)).sum()),
            "n_renamed": int((names != sub["patch_id"].to_numpy(object)).sum()),
            "counts": _counts([[x] for x in lab], split[rows]), "split_counts": _split_counts(split[rows]),
            "bands": [{"band": b, "group": g.name, "px": size, "native_px": g.size,
                       "resolution": g.resolution * g.size / size, "dtype": str(dtype)} for b, g in bands],
            "left_out_bands": left_out, "eurosat_readable": readable,
            "ingest": "eomine ingest DIR --format eurosat --out WS" if readable else
            "not readable by --format eurosat (it expects EuroSAT MS's 13 bands of 64 px)"}


# ---------------------------------------------------------------------- shared
def _check_classes(ids, labels, classes, fmt: str, what: str) -> None:
    known = set(classes)
    for pid, labs in zip(ids, labels, strict=True):
        bad = [x for x in labs if x not in known]
        if bad:
            raise DataError(f"{fmt}: patch {pid} has label {bad[0]!r}, not {what}")


def _check_georef(sub: pd.DataFrame, fmt: str) -> None:
    box = sub[["x_min", "y_min", "x_max", "y_max"]].to_numpy(float)
    crs = sub["crs"].astype(object)
    ok = np.isfinite(box).all(1) & (box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1])
    ok &= crs.map(lambda c: isinstance(c, str) and re.fullmatch(r"EPSG:\d+", c) is not None).to_numpy(bool)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise DataError(f"{fmt}: patch {sub['patch_id'].iat[i]} has no footprint with an EPSG code (fields x_min .. "
                        f"y_max, crs = {crs.iat[i]!r}); the GeoTIFFs need one")


def _folder_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", str(name)).strip("._") or "patches"


def _lossless(a: np.ndarray, dtype, where: str) -> np.ndarray:
    """``a`` as ``dtype``; a value that would change is an error (never clipped)."""
    if a.dtype == dtype:
        return a
    b = a.astype(dtype)
    if not np.array_equal(b, a):
        raise DataError(f"{where}: values {a.min()} .. {a.max()} do not fit {np.dtype(dtype).name}, the type of the "
                        "reBEN layout's files")
    return b


def _write_tif(path: Path, arr: np.ndarray, row, size: int, *, nodata=None, descriptions=None,
               compress: str | None = None) -> None:
    """One GeoTIFF of ``arr`` (bands, size, size) on the footprint of catalog ``row`` (x_min .. y_max, crs)."""
    import rasterio
    from affine import Affine

    transform = Affine((row.x_max - row.x_min) / size, 0.0, row.x_min, 0.0, -(row.y_max - row.y_min) / size,
                       row.y_max)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": arr.shape[0], "dtype": arr.dtype.name,
               "crs": row.crs, "transform": transform, "nodata": nodata}
    if compress:
        profile["compress"] = compress
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)
        for k, d in enumerate(descriptions or (), 1):
            dst.set_band_description(k, d)


def _split_counts(split) -> dict:
    """``{split: patches}`` (None as ``"none"``)."""
    return {str(k): int(v) for k, v in pd.Series(split, dtype=object).fillna("none").value_counts().sort_index()
            .items()}


def _counts(labels, split) -> dict:
    """``{class: {split: patches}}`` (split None as ``"none"``), classes and splits sorted."""
    split = pd.Series(split, dtype=object).fillna("none").to_numpy(object)
    out: dict = {}
    for labs, s in zip(labels, split, strict=True):
        for c in labs:
            out.setdefault(c, {}).setdefault(s, 0)
            out[c][s] += 1
    return {c: dict(sorted(v.items())) for c, v in sorted(out.items())}


def dataset_readme(card: dict) -> str:
    """The README.md of an exported benchmark: what it holds, counts per split and class, bands, provenance."""
    reben = card["format"].endswith("reben-layout")
    counts, per_split = card["counts"], card["split_counts"]
    splits = sorted(per_split, key=lambda s: (s == "none", s))
    lines = [f"# {card['dataset']}: a benchmark exported by eomine", "",
             f"{card['n_exported']:,} patches of the eomine workspace `{card['workspace']}` (dataset "
             f"{card['dataset']}, nomenclature {card['nomenclature']}), written in the "
             f"{'reBEN (BigEarthNet v2.0)' if reben else 'EuroSAT'} layout with the labels after curation.", ""]
    if reben:
        lines += ["```", "BigEarthNet-S2/<tile>/<patch_id>/<patch_id>_<band>.tif   one GeoTIFF per band, native resolution",
                  "BigEarthNet-S1/<s1 product>/<s1_name>/<s1_name>_{VV,VH}.tif",
                  "Reference_Maps/<tile>/<patch_id>/<patch_id>_reference_map.tif",
                  "metadata.parquet                                          patches without snow, cloud or shadow",
                  "metadata_for_patches_with_snow_cloud_or_shadow.parquet    the others", "```", "",
                  f"Sentinel-1 partners: {card['n_s1']:,} patches; reference maps: {card['n_reference_maps']:,}; "
                  f"with snow, cloud or shadow: {card['n_snow_cloud_or_shadow']:,}."]
        if card["n_s1_renamed"]:
            lines.append(f"{card['n_s1_renamed']:,} patches shared one Sentinel-1 id in the workspace (a scene's "
                         "file): their `s1_name` is that id followed by the patch's `_<col>_<row>`.")
        if card["extra_bands"]:
            lines.append(f"Bands outside reBEN's 12 ({', '.join(card['extra_bands'])}) are written as more files "
                         "beside the others; the reben ingest does not read them.")
    else:
        lines += ["```", "<Class>/<Class>_<n>.tif   one multi-band GeoTIFF per patch", "patches.csv   "
                  "patch_id (the file's name), source_patch_id, label, split", "```", "",
                  f"Single-label; {card['n_unlabelled']:,} unlabelled patches left out; {card['n_renamed']:,} "
                  "patches renamed after their (new) class. EuroSAT has no split: `patches.csv` keeps it."]
        if card["left_out_bands"]:
            lines.append(f"Bands left out (not Sentinel-2): {', '.join(card['left_out_bands'])}.")
    lines += [f"Excluded patches are left out: {card['n_excluded']:,}; patches without pixels: "
              f"{card['n_without_pixels']:,}; relabelled by curation: {card['n_changed']:,}.", "",
              f"Read it back: `{card['ingest']}`.", "", "## Patches per split and class", "",
              "| class | " + " | ".join(splits) + " | total |", "|---" * (len(splits) + 2) + "|"]
    for c, v in counts.items():
        lines.append(f"| {c} | " + " | ".join(f"{v.get(s, 0):,}" for s in splits) + f" | {sum(v.values()):,} |")
    lines += ["| **patches** | " + " | ".join(f"{per_split[s]:,}" for s in splits) + f" | {card['n_exported']:,} |",
              "", "A multi-label patch counts once in each of its classes." if reben else "", "", "## Bands", "", "| band | pixels | metres per pixel | type |", "|---|---|---|---|"]
    for b in card["bands"]:
        lines.append(f"| {b['band']} | {b['px']} | {b['resolution']:g} | {b['dtype']} |")
    lines += ["", "## Provenance", "",
              f"- source workspace: `{card['workspace']}` (dataset {card['dataset']})",
              f"- edit log version: {card['edits_version']} (the labels are those after its active edits)",
              f"- eomine {card['eomine']}, exported {card['exported']}",
              f"- `{CARD_FILE}`: the same, machine-readable", ""]
    return "\n".join(lines)
