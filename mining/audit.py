"""Split leakage audit: how close test patches are to training patches, on the ground and in the embedding.

Spatial autocorrelation makes neighbouring patches alike: a test patch next to a training patch is partly seen.
For each pair of splits (``train`` -> ``test``, ``train`` -> ``validation``, ``validation`` -> ``test``) and each
patch of the second split:

* **within k patch widths**: its centre is at most ``k * w * sqrt(2)`` from the centre of a patch of the first
  split (``w`` the patch side; ``k = 1``: one of the 8 touching patches, ``k = 3``: within a 7 x 7 block);
* **same place**: the share of patches on the very footprint of a patch of the first split (another acquisition
  date of the same ground);
* **median distance**: the median ground distance (km) from each patch to the nearest patch of the first split
  (great circle between centres; a k-d tree on unit vectors, so 549,488 patches take a few seconds);
* **near-duplicates** (when the workspace has a kNN graph): the share of patches whose nearest stored neighbour in
  the first split is closer than ``duplicate_distance`` in the embedding (default: the 1st percentile of every
  patch's nearest-neighbour distance in the workspace, a scale-free "nearly identical").

Array in, frame out (:func:`spatial_leakage`, :func:`embedding_leakage`); :func:`audit_workspace` reads a
workspace and an optional split table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .workspace import Workspace

__all__ = ["spatial_leakage", "embedding_leakage", "leakage_per_patch", "audit_workspace", "LEAKAGE_NAMES", "PAIRS",
           "EARTH_KM"]

EARTH_KM = 6371.0088
#: (reference split, audited split)
PAIRS = (("train", "test"), ("train", "validation"), ("validation", "test"))


def _unit(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    return np.c_[np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)]


def spatial_leakage(lon, lat, split, *, width_km: float, widths=(1, 3), pairs=PAIRS) -> pd.DataFrame:
    """Ground distance from each patch of a split to the nearest patch of another.

    Parameters
    ----------
    lon, lat : ndarray of float, shape (n,)
        Patch centres (WGS84 degrees; NaN: left out).
    split : ndarray of str, shape (n,)
    width_km : float
        The patch side.
    widths : sequence of int
    pairs : sequence of (str, str)

    Returns
    -------
    DataFrame, one row per pair present
        ``reference, audited, n, same_place`` (share at the same place as a reference patch: another
        acquisition of the same footprint), ``within_<k>w`` (share) for each k, ``median_km``, ``p10_km``.
    """
    from scipy.spatial import cKDTree

    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    split = np.asarray(split, dtype=object)
    ok = np.isfinite(lon) & np.isfinite(lat)
    rows = []
    for ref, aud in pairs:
        r = ok & (split == ref)
        a = ok & (split == aud)
        if not r.any() or not a.any():
            continue
        tree = cKDTree(_unit(lon[r], lat[r]))
        chord, _ = tree.query(_unit(lon[a], lat[a]), k=1)
        km = 2 * EARTH_KM * np.arcsin(np.clip(chord / 2, 0, 1))
        row = {"reference": ref, "audited": aud, "n": int(a.sum()),
               "same_place": float(np.mean(km < 0.05 * width_km))}  # the same footprint (another acquisition)
        for k in widths:
            row[f"within_{k}w"] = float(np.mean(km <= k * width_km * np.sqrt(2) * 1.001))
        row["median_km"] = float(np.median(km))
        row["p10_km"] = float(np.percentile(km, 10))
        rows.append(row)
    return pd.DataFrame(rows)


#: the categories of :func:`leakage_per_patch`
LEAKAGE_NAMES = ("train", "touches a training patch", "within 3 widths of training", "near-duplicate of training",
                 "apart from training", "no split")


def leakage_per_patch(lon, lat, split, *, width_km: float, indices=None, distances=None,
                      duplicate_distance: float | None = None) -> np.ndarray:
    """What leaks, patch by patch: a code of :data:`LEAKAGE_NAMES` for each patch (a map layer of the audit).

    Parameters
    ----------
    lon, lat : ndarray of float, shape (n,)
    split : ndarray of object, shape (n,)
    width_km : float
    indices, distances : ndarray, shape (n, k), optional
        The stored kNN graph, for near-duplicates.
    duplicate_distance : float, optional
        As in :func:`embedding_leakage`.

    Returns
    -------
    ndarray of int16, shape (n,)
        0 a training patch; for a patch of another split: 1 within one patch width of a training patch, 2 within
        three, 3 (farther, but) its nearest stored neighbour in train is nearly identical, 4 apart; 5 no split.
    """
    from scipy.spatial import cKDTree

    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    split = np.asarray(split, dtype=object)
    n = len(split)
    has = pd.notna(split)  # None / NaN: no split
    train = split == "train"
    codes = np.full(n, 5, np.int16)
    codes[train] = 0
    other = has & ~train
    codes[other] = 4
    ok = np.isfinite(lon) & np.isfinite(lat)
    if (train & ok).any() and (other & ok).any():
        a = np.flatnonzero(other & ok)
        chord, _ = cKDTree(_unit(lon[train & ok], lat[train & ok])).query(_unit(lon[a], lat[a]), k=1)
        km = 2 * EARTH_KM * np.arcsin(np.clip(chord / 2, 0, 1))
        codes[a[km <= 3 * width_km * np.sqrt(2) * 1.001]] = 2
        codes[a[km <= width_km * np.sqrt(2) * 1.001]] = 1
    if indices is not None and distances is not None and other.any():
        ind = np.asarray(indices)
        dist = np.asarray(distances, np.float32)
        if duplicate_distance is None:
            first = dist[:, 0][np.isfinite(dist[:, 0])]
            duplicate_distance = float(np.percentile(first, 1)) if len(first) else 0.0
        is_train = (ind >= 0) & train[np.clip(ind, 0, None)]
        dup = (is_train & (dist <= duplicate_distance)).any(1)
        codes[other & dup & (codes == 4)] = 3
    return codes


def embedding_leakage(indices, distances, split, *, duplicate_distance: float | None = None,
                      pairs=PAIRS) -> tuple[pd.DataFrame, float]:
    """Share of a split's patches whose nearest stored neighbour in another split is nearly identical.

    Parameters
    ----------
    indices, distances : ndarray, shape (n, k)
        The stored kNN graph (rows = patches, nearest first; negative index: none).
    split : ndarray of str, shape (n,)
    duplicate_distance : float, optional
        Default: the 1st percentile of every patch's nearest-neighbour distance.

    Returns
    -------
    frame : DataFrame
        ``reference, audited, n, near_duplicates`` (share), ``with_neighbour`` (share with any neighbour of the
        reference split among the k stored).
    threshold : float
    """
    ind = np.asarray(indices)
    dist = np.asarray(distances, np.float32)
    split = np.asarray(split, dtype=object)
    if duplicate_distance is None:
        first = dist[:, 0][np.isfinite(dist[:, 0])]
        duplicate_distance = float(np.percentile(first, 1)) if len(first) else 0.0
    nb_split = np.where(ind >= 0, split[np.clip(ind, 0, None)], None)
    rows = []
    for ref, aud in pairs:
        a = split == aud
        if not a.any() or not (split == ref).any():
            continue
        is_ref = nb_split[a] == ref
        has = is_ref.any(1)
        first = np.where(has, dist[a][np.arange(a.sum()), is_ref.argmax(1)], np.inf)
        rows.append({"reference": ref, "audited": aud, "n": int(a.sum()),
                     "near_duplicates": float(np.mean(first <= duplicate_distance)),
                     "with_neighbour": float(np.mean(has))})
    return pd.DataFrame(rows), float(duplicate_distance)


def audit_workspace(workspace, *, split_table=None, duplicate_distance: float | None = None) -> dict:
    """Audit the splits of a workspace (its current splits: the catalog's after the edit log's ``split`` edits,
    or those of ``split_table``).

    Parameters
    ----------
    workspace : Workspace or path-like
    split_table : path-like or DataFrame, optional
        CSV / Parquet with ``patch_id, split`` (patches not in it are left out of the audit).

    Returns
    -------
    dict
        ``spatial`` (frame of :func:`spatial_leakage`), ``embedding`` (frame or None), ``threshold``,
        ``width_km``, ``n_patches`` (audited), ``counts`` (patches per split).
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    cat = ws.catalog
    from .curation import open_log

    split = open_log(ws, create=False).current_labels().split
    if split_table is not None:
        t = split_table if isinstance(split_table, pd.DataFrame) else _read_table(Path(split_table))
        split = pd.Series(t["split"].astype(str).to_numpy(), index=t["patch_id"].astype(str)).reindex(
            cat["patch_id"]).to_numpy(object)
    split = np.array([s if isinstance(s, str) else None for s in split], dtype=object)
    if not any(s is not None for s in split):
        raise DataError(f"{ws.path}: no patch has a split (field 'split'); give a split table")
    w = (cat["x_max"] - cat["x_min"]).to_numpy(float)
    w = w[np.isfinite(w)]
    if not len(w):
        raise DataError(f"{ws.path}: the catalog has no footprints (x_min .. x_max) to measure the patch width")
    crs = str(cat["crs"].dropna().iloc[0]) if cat["crs"].notna().any() else ""
    width_km = float(np.median(w)) / 1000.0
    if crs == "EPSG:4326":
        width_km = float(np.median(w)) * 111.32
    spatial = spatial_leakage(cat["lon"].to_numpy(float), cat["lat"].to_numpy(float), split, width_km=width_km)
    emb, thr = None, None
    from .knn import has_knn, load_knn_catalog

    if has_knn(ws):
        ind, dist, _ = load_knn_catalog(ws)
        emb, thr = embedding_leakage(ind, dist, split, duplicate_distance=duplicate_distance)
    counts = pd.Series(split).value_counts().to_dict()
    return {"spatial": spatial, "embedding": emb, "threshold": thr, "width_km": width_km,
            "n_patches": int(sum(1 for s in split if s is not None)), "counts": counts}


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"split table not found: {path}")
    try:
        t = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read split table {path}: {exc}") from None
    for c in ("patch_id", "split"):
        if c not in t.columns:
            raise DataError(f"{path}: missing column {c!r} (need patch_id, split)")
    return t
