"""Measure per-class Sentinel-2 / Sentinel-1 signatures on the real test data -> ``data/demo/spectra.json``.

The embedded demo dataset (:mod:`mining.datasets.demo`) draws its pixels from these signatures, so every
class looks like the real thing. Run from the repository root::

    python tools/measure_spectra.py [--data ../shared/data] [--out data/demo/spectra.json]

Sources (all real, see ``../shared/data/*/SOURCE.md``):

* the reBEN reference map (CLC level-3 code per 10 m pixel) of patch ``T33UUP_26_57`` with its 12 S2 bands
  and its S1 partner: pure-pixel spectra of Arable land (211), Pastures (231), Broad-leaved (311) and Mixed
  forest (313);
* the labelled reBEN (24), BigEarthNet v1 (14) and v1 LMDB-derived (7) S2 patches: spectral-index masks or
  2-means clusters restricted to patches that carry the class label (water, coniferous forest, peat bogs,
  moors, transitional woodland, agro-forestry, snow, cloud, bare soil);
* EuroSAT MS (Sentinel-2 L1C top-of-atmosphere, band order B01..B12 then B8A, B10 dropped), brought to L2A
  surface reflectance with a per-band gain/offset fitted on the classes measured in both collections.

Classes without a direct measurement are documented mixtures of measured ones. Every class entry carries a
``provenance`` string saying exactly how it was obtained.

Output (small JSON, deterministic): per class ``mean``/``std``/``pc1`` (12 values each, S2 L2A reflectance
x 10000, band order :data:`BANDS`; ``pc1`` = first principal component of the within-class pixel variation
scaled to its standard deviation), ``n_pixels``/``n_scenes`` (real pixels / acquisitions measured; scenes are
weighted equally), ``s1_mean_db``/``s1_std_db`` (VV, VH) with ``s1_provenance``, ``mixture`` (part weights) for
the derived classes, and auxiliary endmembers (snow, cloud, bare soil) under ``"aux"``. Each band is measured on
its native grid from pixels entirely inside the class mask; B01/B09 fall back to a regression on the finer
bands where a class has no pure 60 m pixel (said in the provenance).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mining.resources import DATA_DIR, shared_data_dir  # noqa: E402

#: S2 L2A band order of the output (reBEN order, no B10)
BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
BI = {b: i for i, b in enumerate(BANDS)}
#: EuroSAT MS file band order (verified in ../shared/data/FORMATS.md): B8A last, B10 (cirrus) at index 9
EUROSAT_ORDER = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")
EUROSAT_TAKE = [EUROSAT_ORDER.index(b) for b in BANDS]
NATIVE = {b: (10 if b in ("B02", "B03", "B04", "B08") else 60 if b in ("B01", "B09") else 20) for b in BANDS}

CLASSES = (
    "Urban fabric", "Industrial or commercial units", "Arable land", "Permanent crops", "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas", "Broad-leaved forest", "Coniferous forest", "Mixed forest",
    "Natural grassland and sparsely vegetated areas", "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland, shrub", "Beaches, dunes, sands", "Inland wetlands", "Coastal wetlands",
    "Inland waters", "Marine waters",
)
REFMAP_CLASSES = {211: "Arable land", 231: "Pastures", 311: "Broad-leaved forest", 313: "Mixed forest"}
LABEL_43_TO_19 = {  # the v1 43-class names met in the sample -> 19-class names (FORMATS.md section 4)
    "Non-irrigated arable land": "Arable land", "Pastures": "Pastures", "Water bodies": "Inland waters",
    "Complex cultivation patterns": "Complex cultivation patterns", "Broad-leaved forest": "Broad-leaved forest",
    "Coniferous forest": "Coniferous forest", "Mixed forest": "Mixed forest", "Peatbogs": "Inland wetlands",
    "Transitional woodland/shrub": "Transitional woodland, shrub",
    "Moors and heathland": "Moors, heathland and sclerophyllous vegetation",
    "Agro-forestry areas": "Agro-forestry areas",
    "Land principally occupied by agriculture, with significant areas of natural vegetation":
        "Land principally occupied by agriculture, with significant areas of natural vegetation",
}


# ---------------------------------------------------------------------------------------------- reading
def _read1(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1)


def _up(a: np.ndarray, size: int) -> np.ndarray:
    f = size // a.shape[0]
    return np.repeat(np.repeat(a, f, 0), f, 1)


class S2Patch:
    """One real labelled S2 patch (12 bands at 10 m, 20/60 m bands nearest-upsampled) + optional S1 (dB)."""

    def __init__(self, name: str, folder: Path, labels: list[str], *, s1: Path | None = None,
                 cloud: bool = False, date: str = ""):
        self.name, self.labels, self.cloud, self.date = name, labels, cloud, date
        self.native = {b: _read1(folder / f"{folder.name}_{b}.tif").astype(np.float64) for b in BANDS}
        self.x = np.stack([_up(self.native[b], 120) for b in BANDS])   # (12, 120, 120)
        self.s1 = None
        if s1 is not None and (s1 / f"{s1.name}_VV.tif").is_file():
            self.s1 = np.stack([_read1(s1 / f"{s1.name}_{p}.tif").astype(np.float64) for p in ("VV", "VH")])

    def index(self, a: str, b: str) -> np.ndarray:
        x, y = self.x[BI[a]], self.x[BI[b]]
        return (x - y) / np.maximum(x + y, 1.0)

    @property
    def ndvi(self) -> np.ndarray:
        return self.index("B08", "B04")

    @property
    def mndwi(self) -> np.ndarray:
        return self.index("B03", "B11")

    @property
    def ndsi(self) -> np.ndarray:
        return self.index("B03", "B11")


def load_labelled_patches(data: Path) -> list[S2Patch]:
    """Every labelled S2 patch of the reBEN and BigEarthNet v1 samples (19-class labels)."""
    import pandas as pd

    out = []
    reben = data / "bigearthnet-v2-reben"
    md = pd.concat([pd.read_parquet(reben / f) for f in
                    ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")])
    md = md.set_index("patch_id")
    s1_dirs = {p.name: p for p in (reben / "BigEarthNet-S1").glob("*/*")}
    for d in sorted((reben / "BigEarthNet-S2").glob("*/*")):
        r = md.loc[d.name]
        out.append(S2Patch(d.name, d, list(r["labels"]), s1=s1_dirs.get(r["s1_name"]),
                           cloud=bool(r["contains_cloud_or_shadow"]), date=d.name.split("_")[2][:8]))
    v1 = data / "bigearthnet-v1"
    for d in sorted((v1 / "BigEarthNet-v1.0").glob("*")):
        js = json.loads((d / f"{d.name}_labels_metadata.json").read_text())
        labels = sorted({LABEL_43_TO_19[x] for x in js["labels"] if LABEL_43_TO_19.get(x)})
        out.append(S2Patch(d.name, d, labels, date=d.name.split("_")[2][:8]))
    table = pd.read_csv(v1 / "lmdb-derived" / "patches.csv")
    for _, r in table.iterrows():
        d = v1 / "lmdb-derived" / "BigEarthNet-v1.0" / r["s2_name"]
        s1 = v1 / "lmdb-derived" / "BigEarthNet-S1-v1.0" / r["s1_name"]
        out.append(S2Patch(r["s2_name"], d, json.loads(r["labels_19"]), s1=s1, date=r["s2_name"].split("_")[2][:8]))
    return out


def load_eurosat(data: Path) -> dict[str, np.ndarray]:
    """EuroSAT MS class -> pixels, shape (n_pixels, 12), TOA reflectance x10000 in :data:`BANDS` order."""
    import rasterio

    out = {}
    for cdir in sorted((data / "eurosat-ms").iterdir()):
        if not cdir.is_dir():
            continue
        px = []
        for f in sorted(cdir.glob("*.tif")):
            with rasterio.open(f) as src:
                a = src.read().astype(np.float64)
            px.append(a[EUROSAT_TAKE].reshape(12, -1).T)
        out[cdir.name] = np.concatenate(px)
        if cdir.name == "SeaLake":   # open, deep water only: dark SWIR, homogeneous NIR
            out["SeaLakeOpen"] = np.concatenate([p for p in px if p[:, BI["B11"]].mean() < 100
                                                 and p[:, BI["B08"]].std() < 100])
    return out


# ---------------------------------------------------------------------------------------------- statistics
def erode(mask: np.ndarray, r: int = 1) -> np.ndarray:
    """Binary erosion with a (2r+1)^2 square (pixels beyond the edge count as outside)."""
    m = np.pad(mask, r, constant_values=False)
    out = np.ones_like(mask)
    h, w = mask.shape
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out &= m[dy:dy + h, dx:dx + w]
    return out


def native_pure(mask10: np.ndarray, band: str) -> np.ndarray:
    """Mask on the band's native grid: native pixels whose 10 m footprint lies entirely inside ``mask10``."""
    f = NATIVE[band] // 10
    n = mask10.shape[0] // f
    return mask10.reshape(n, f, n, f).all(axis=(1, 3))


def block_mean(a: np.ndarray, f: int) -> np.ndarray:
    """Average ``f x f`` blocks of the last two axes."""
    n = a.shape[-1] // f
    return a.reshape(*a.shape[:-2], n, f, n, f).mean(axis=(-3, -1))


FINE = [b for b in BANDS if NATIVE[b] < 60]
COARSE = ("B01", "B09")


class CoarseBandModel:
    """B01 and B09 (60 m) predicted linearly from the 10 finer bands.

    Fitted on the 60 m aggregates of every cloud-free, snow-free real patch; used where a class has too few
    pure 60 m pixels (pixel-level 10 m signatures need B01/B09 too) and for EuroSAT's B09 (the L1C water-vapour
    band has no L2A counterpart).
    """

    def __init__(self, patches: list[S2Patch]):
        xs, ys = [], []
        for p in patches:
            if p.cloud or p.date[4:6] in ("12", "01", "02", "03"):
                continue
            xs.append(np.stack([block_mean(p.x[BI[b]], 6).ravel() for b in FINE], 1))
            ys.append(np.stack([p.native[b].ravel() for b in COARSE], 1))
        x = np.concatenate(xs)
        y = np.concatenate(ys)
        a = np.c_[x, np.ones(len(x))]
        self.coef = np.linalg.lstsq(a, y, rcond=None)[0]          # (11, 2)
        pred = a @ self.coef
        self.r2 = 1 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
        self.n = len(x)

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels (n, 12) -> predicted (n, 2) values of B01, B09."""
        a = np.c_[pixels[:, [BI[b] for b in FINE]], np.ones(len(pixels))]
        return np.clip(a @ self.coef, 1, 10000)

    def describe(self) -> str:
        return (f"linear regression on the 10 finer bands fitted on {self.n} real 60 m aggregates "
                f"(R2 B01 {self.r2[0]:.2f}, B09 {self.r2[1]:.2f})")


class Region:
    """Pixels of one real patch that belong to a class (a 10 m mask)."""

    def __init__(self, patch: S2Patch, mask: np.ndarray):
        self.patch, self.mask = patch, mask

    @property
    def scene(self) -> str:
        return self.patch.date


def _r(a) -> list[float]:
    return [round(float(x), 1) for x in np.asarray(a)]


def pc1(pixels: np.ndarray, std: np.ndarray) -> np.ndarray:
    """First principal component of ``pixels`` (n, 12) scaled by its standard deviation, sign: +B08."""
    if len(pixels) < 13:
        return np.zeros(12)
    w, v = np.linalg.eigh(np.cov(pixels.T))
    vec = v[:, -1] * np.sqrt(max(w[-1], 0.0))
    if vec[BI["B08"]] < 0:
        vec = -vec
    return np.clip(vec, -std, std)   # never more than the band's total spread


def region_stats(regions: list[Region], coarse: CoarseBandModel, *, cap: int = 1500) -> dict:
    """Scene-balanced class statistics of a set of regions.

    Every band's mean/std come from the pure pixels of its native grid (10, 20 or 60 m); each scene (acquisition)
    contributes at most ``cap`` 10 m pixels (and proportionally fewer coarse pixels) so one big scene does not
    dominate. B01/B09 fall back to :class:`CoarseBandModel` predictions when fewer than 8 pure 60 m pixels exist;
    20 m bands fall back to the 10 m-upsampled values.
    """
    rng = np.random.default_rng(0)
    regions = [r for r in regions if r.mask.any()]
    scenes: dict[str, list[Region]] = {}
    for r in regions:
        scenes.setdefault(r.scene, []).append(r)

    def take(v: np.ndarray, k: int) -> np.ndarray:
        return v if len(v) <= k else v[np.sort(rng.choice(len(v), k, replace=False))]

    px10 = np.concatenate([take(np.concatenate([r.patch.x[:, r.mask].T for r in rs]), cap)
                           for rs in scenes.values()])
    per_band, notes = [], []
    for b in BANDS:
        f = NATIVE[b] // 10
        vals = [take(np.concatenate([r.patch.native[b][native_pure(r.mask, b)] for r in rs]), max(cap // f ** 2, 4))
                for rs in scenes.values()]
        per_band.append(np.concatenate(vals))
    pred = coarse.predict(px10)
    for j, b in enumerate(COARSE):
        i = BI[b]
        if per_band[i].size < 8:
            per_band[i] = pred[:, j]
            notes.append(b)
        px10[:, i] = pred[:, j] if b in notes else px10[:, i]
    for b in BANDS:
        i = BI[b]
        if NATIVE[b] == 20 and per_band[i].size < 8:
            per_band[i] = px10[:, i]
            notes.append(b)
    mean = np.array([v.mean() for v in per_band])
    std = np.array([v.std() for v in per_band])
    doc = {"mean": _r(mean), "std": _r(std), "pc1": _r(pc1(px10, std)), "n_pixels": int(len(px10)),
           "n_scenes": len(scenes)}
    extra = ""
    if notes:
        extra = (f"; {', '.join(notes)}: no pure native pixels, " +
                 ("predicted from the finer bands (" + coarse.describe() + ")" if set(notes) & set(COARSE)
                  else "10 m-upsampled values"))
    s1 = [r.patch.s1[:, r.mask] for r in regions if r.patch.s1 is not None]
    if s1:
        m, s = s1_stats(np.concatenate(s1, axis=1))
        doc.update(s1_mean_db=m, s1_std_db=s, s1_provenance=(
            f"co-registered S1 partners of {len(s1)} of those patches, same pixel mask"))
    doc["_extra"] = extra
    return doc


def s1_stats(values: np.ndarray) -> tuple[list[float], list[float]]:
    """Mean (power average, back in dB) and std (dB) of S1 samples, shape (2, n) in dB."""
    lin = 10 ** (values / 10)
    mean_db = 10 * np.log10(lin.mean(1))
    return [round(float(x), 2) for x in mean_db], [round(float(x), 2) for x in values.std(1)]


def entry(stats: dict, provenance: str) -> dict:
    extra = stats.pop("_extra", "")
    return {**stats, "provenance": provenance + extra}


def _short(p: S2Patch) -> str:
    tail = "_".join(p.name.split("_")[-2:])
    tile = re.search(r"_T(\d{2}[A-Z]{3})_", p.name)
    return f"{p.date}{'_T' + tile.group(1) if tile else ''}_{tail}"


# ---------------------------------------------------------------------------------------------- measurements
def refmap_classes(data: Path, patches: list[S2Patch], coarse: CoarseBandModel) -> dict[str, dict]:
    """Pure-pixel statistics of the 4 CLC classes in the reBEN reference map of T33UUP_26_57."""
    ref_dir = next((data / "bigearthnet-v2-reben" / "Reference_Maps").glob("*/*"))
    ref = _read1(ref_dir / f"{ref_dir.name}_reference_map.tif")
    patch = next(p for p in patches if p.name == ref_dir.name)
    out = {}
    for code, cls in REFMAP_CLASSES.items():
        core = erode(ref == code, 1)   # drop edge pixels (mixed / co-registration)
        st = region_stats([Region(patch, core)], coarse, cap=10 ** 6)
        out[cls] = entry(st, (
            f"pure pixels of CLC code {code} in the real reBEN reference map of {_short(patch)} (Austria, "
            f"2017-06-13; 1-px eroded class mask, {int(core.sum())} px at 10 m; each band on its native grid, "
            "only native pixels entirely inside the mask)"))
        if "s1_provenance" in out[cls]:
            out[cls]["s1_provenance"] = f"S1 partner of {_short(patch)} (2017-06-12), same pure-pixel mask"
    return out


def water_mask(p: S2Patch) -> np.ndarray:
    """Open water: dark NIR and SWIR, no vegetation, SWIR not above NIR (1-px eroded).

    Dark humic boreal lakes have MNDWI ~ 0 in L2A, so no MNDWI threshold; only used on patches labelled
    Inland waters (topographic shadows elsewhere would pass too).
    """
    x8, x11 = p.x[BI["B08"]], p.x[BI["B11"]]
    return erode((x8 < 600) & (x11 < 400) & (p.ndvi < 0.25) & (x11 < x8 + 100), 1)


def inland_waters(patches: list[S2Patch], coarse: CoarseBandModel) -> dict:
    regions = [Region(p, water_mask(p)) for p in patches if "Inland waters" in p.labels and not p.cloud]
    regions = [r for r in regions if r.mask.sum() >= 10]
    st = region_stats(regions, coarse)
    return entry(st, (
        f"open-water pixels (B08<600, B11<400, NDVI<0.25, B11<B08+100, 1-px eroded) of the {len(regions)} real "
        "S2 L2A patches "
        f"labelled Inland waters that contain any ({', '.join(_short(r.patch) for r in regions)}); "
        f"{st['n_scenes']} scenes weighted equally (turbid Alpine river, Swiss lake, dark boreal lakes)"))


def two_means(x: np.ndarray, key: np.ndarray, n_iter: int = 30) -> np.ndarray:
    """2-means on rows of ``x`` (n, d) initialised at the low/high quartile of ``key``; returns labels 0/1."""
    lo, hi = np.percentile(key, [25, 75])
    c = np.stack([x[key <= lo].mean(0), x[key >= hi].mean(0)])
    lab = np.zeros(len(x), dtype=int)
    for _ in range(n_iter):
        lab = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
        for k in (0, 1):
            if (lab == k).any():
                c[k] = x[lab == k].mean(0)
    return lab


def split_two(p: S2Patch, valid: np.ndarray, pick: str) -> tuple[np.ndarray, np.ndarray]:
    """2-means on log(B03, B04, B08, B11, B12) of the valid pixels -> masks (picked, other).

    ``pick``: ``"dark-swir"`` (lower B11) or ``"low-ndvi"``.
    """
    x = p.x[:, valid].T
    feat = np.log(np.maximum(x[:, [BI["B03"], BI["B04"], BI["B08"], BI["B11"], BI["B12"]]], 1.0))
    ndvi = (x[:, BI["B08"]] - x[:, BI["B04"]]) / np.maximum(x[:, BI["B08"]] + x[:, BI["B04"]], 1.0)
    lab = two_means(feat, ndvi)
    score = x[:, BI["B11"]] if pick == "dark-swir" else ndvi
    k = int(np.argmin([score[lab == j].mean() if (lab == j).any() else np.inf for j in (0, 1)]))
    picked = np.zeros_like(valid)
    picked[valid] = lab == k
    other = valid & ~picked
    return picked, other


def _season_ok(p: S2Patch) -> bool:
    return p.date[4:6] not in ("11", "12", "01", "02", "03")


def cluster_classes(patches: list[S2Patch], coarse: CoarseBandModel) -> dict[str, dict]:
    """Classes measured as one of two spectral clusters of the pixels of patches labelled with them."""
    out = {}

    def veg(p: S2Patch) -> np.ndarray:  # sunlit vegetation, no water / snow / haze
        return erode((p.ndvi > 0.3) & (p.mndwi < 0.0) & (p.x[BI["B02"]] < 1000) & (p.x[BI["B08"]] > 800), 1)

    # Coniferous forest: patches whose only woody label is Coniferous forest; the darker-SWIR cluster
    woody = {"Broad-leaved forest", "Mixed forest", "Transitional woodland, shrub", "Agro-forestry areas"}
    sel = [p for p in patches if "Coniferous forest" in p.labels and not woody & set(p.labels) and not p.cloud
           and _season_ok(p) and veg(p).sum() >= 50]
    regions = [Region(p, split_two(p, veg(p), "dark-swir")[0]) for p in sel]
    out["Coniferous forest"] = entry(region_stats(regions, coarse), (
        "sunlit vegetated pixels (NDVI>0.3, MNDWI<0, B02<1000, B08>800, 1-px eroded) of the real S2 L2A patches "
        f"whose only woody label is Coniferous forest ({', '.join(_short(p) for p in sel)}), split by 2-means on "
        "log(B03,B04,B08,B11,B12); the darker-SWIR cluster of each patch"))

    # Transitional woodland part 1: the other (brighter-SWIR) cluster of the Coniferous + Transitional patch
    trans = []
    p_ct = [p for p in patches if set(p.labels) == {"Coniferous forest", "Transitional woodland, shrub"}]
    for p in p_ct:
        trans.append(Region(p, split_two(p, veg(p), "dark-swir")[1]))

    # Moors / sclerophyllous vs Transitional woodland: the Portuguese patch labelled exactly these two
    p = next(p for p in patches if set(p.labels) == {"Moors, heathland and sclerophyllous vegetation",
                                                     "Transitional woodland, shrub"})
    sunlit = erode((p.mndwi < 0.0) & (p.x[BI["B02"]] >= 50) & (p.x[BI["B08"]] >= 800), 1)
    moors, other = split_two(p, sunlit, "low-ndvi")
    out["Moors, heathland and sclerophyllous vegetation"] = entry(region_stats([Region(p, moors)], coarse), (
        f"real S2 L2A patch {_short(p)} (Portugal, 2017-11-21) labelled exactly Moors/heathland + Transitional "
        "woodland/shrub: sunlit pixels (B02>=50, B08>=800, MNDWI<0; topographic shadows excluded) split by "
        "2-means on log(B03,B04,B08,B11,B12); the lower-NDVI cluster"))
    trans.append(Region(p, other))
    out["Transitional woodland, shrub"] = entry(region_stats(trans, coarse), (
        "pooled, scenes weighted equally: the brighter-SWIR (non-coniferous) 2-means cluster of the sunlit "
        f"vegetated pixels of {', '.join(_short(q) for q in p_ct)} (Finland, labelled Coniferous forest + "
        f"Transitional woodland only) and the higher-NDVI cluster of {_short(p)} (Portugal, Moors + Transitional)"))

    # Inland wetlands (peat bogs): lower-NDVI cluster of the non-water, snow-free pixels of Peatbog patches
    sel = [p for p in patches if "Inland wetlands" in p.labels]
    regions = []
    for q in sel:
        valid = erode((q.mndwi < 0.0) & (q.x[BI["B02"]] < 1000) & (q.ndvi > 0.1) & (q.x[BI["B08"]] > 500), 1)
        regions.append(Region(q, split_two(q, valid, "low-ndvi")[0]))
    out["Inland wetlands"] = entry(region_stats(regions, coarse), (
        "non-water, snow-free pixels (MNDWI<0, B02<1000, NDVI>0.1, B08>500, 1-px eroded) of the real S2 L2A "
        f"patches labelled Peatbogs ({', '.join(_short(q) for q in sel)}, Finland), split by 2-means; "
        "the lower-NDVI (open bog) cluster of each"))

    # Agro-forestry: the whole real montado patch (Portugal, early October) labelled Agro-forestry areas
    p = next(p for p in patches if "Agro-forestry areas" in p.labels)
    st = region_stats([Region(p, np.ones((120, 120), dtype=bool))], coarse, cap=10 ** 6)
    out["Agro-forestry areas"] = entry(st, (
        f"all pixels of the one real S2 L2A patch labelled Agro-forestry areas, {_short(p)} (Portugal, dry season "
        f"2017-10-02; co-labels {', '.join(x for x in p.labels if x != 'Agro-forestry areas')}): a landscape-"
        "level montado spectrum (sparse oaks over dry grass)"))
    return out


def aux_endmembers(patches: list[S2Patch], coarse: CoarseBandModel) -> tuple[dict[str, dict], list[Region]]:
    """Snow, cloud and bare-soil spectra from the real patches (used for seasons, clouds and beaches)."""
    out = {}
    regions = [Region(p, erode((p.ndsi > 0.6) & (p.x[BI["B03"]] > 3000), 1))
               for p in patches if p.date[4:6] in ("12", "01", "02", "03")]
    regions = [r for r in regions if r.mask.sum() > 100]
    st = region_stats(regions, coarse)
    st["mean"] = _r(np.minimum(st["mean"], 10000))
    out["snow"] = entry(st, (
        "snow pixels (NDSI>0.6, B03>3000, 1-px eroded) of the real winter S2 L2A patches "
        f"{', '.join(_short(r.patch) for r in regions)}"))
    regions = [Region(p, erode((p.x[BI["B02"]] > 3000) & (p.ndsi < 0.4) & (p.x[BI["B11"]] > 2000), 1))
               for p in patches if p.cloud]
    regions = [r for r in regions if r.mask.sum() > 20]
    st = region_stats(regions, coarse)
    st["mean"] = _r(np.minimum(st["mean"], 10000))
    out["cloud"] = entry(st, (
        "opaque-cloud pixels (B02>3000, NDSI<0.4, B11>2000, 1-px eroded) of the real reBEN patches flagged "
        f"contains_cloud_or_shadow ({', '.join(_short(r.patch) for r in regions)})"))
    bare = [Region(p, erode((p.ndvi < 0.15) & (p.mndwi < -0.1) & (p.x[BI["B11"]] > p.x[BI["B08"]]) &
                            (p.x[BI["B02"]] < 2500), 1)) for p in patches if not p.cloud]
    bare = [r for r in bare if r.mask.sum() > 10]
    out["bare_soil"] = entry(region_stats(bare, coarse), (
        f"bare-soil / senescent pixels (NDVI<0.15, MNDWI<-0.1, B11>B08, B02<2500, 1-px eroded) of {len(bare)} "
        "real cloud-free S2 L2A patches (reBEN + BigEarthNet v1)"))
    return out, bare


def eurosat_calibration(es: dict[str, np.ndarray], ref: dict[str, dict]) -> tuple[np.ndarray, np.ndarray, str]:
    """Per band L2A = gain * TOA + offset from the classes measured in both collections (B09: see caller)."""
    pairs = {"AnnualCrop": ["Arable land"], "Pasture": ["Pastures"],
             "Forest": ["Broad-leaved forest", "Mixed forest", "Coniferous forest"], "SeaLakeOpen": ["Inland waters"]}
    weight = np.array([1.0, 1.0, 1.0, 3.0])       # anchor the dark end: water decides the offset
    toa = np.stack([es[k].mean(0) for k in pairs])
    boa = np.stack([np.mean([ref[c]["mean"] for c in v], axis=0) for v in pairs.values()])
    gain, off = np.ones(12), np.zeros(12)
    sw = np.sqrt(weight)
    for b in range(12):
        a = np.stack([toa[:, b], np.ones(len(toa))], 1) * sw[:, None]
        g = float(np.linalg.lstsq(a, boa[:, b] * sw, rcond=None)[0][0])
        gain[b] = min(max(g, 0.85), 1.3)          # physically plausible 1/transmittance range
        off[b] = float(np.average(boa[:, b] - gain[b] * toa[:, b], weights=weight))
    how = ("EuroSAT MS is L1C top-of-atmosphere: brought to L2A surface reflectance with a per-band linear map "
           "L2A = gain*TOA + offset, gain = weighted least-squares slope clamped to the physical range 0.85..1.3, "
           "offset = weighted mean residual, fitted on 4 class pairs measured in both collections (AnnualCrop~"
           "Arable land, Pasture~Pastures, Forest~mean of the 3 measured forests, and with weight 3 to anchor the "
           "dark end: the open-water SeaLake images~Inland waters); B09 (water-vapour band, no L2A counterpart) "
           "predicted from the other bands")
    return gain, off, how


def eurosat_classes(es, gain, off, how, coarse: CoarseBandModel) -> dict[str, dict]:
    m = {"Urban fabric": "Residential", "Industrial or commercial units": "Industrial",
         "Permanent crops": "PermanentCrop", "Natural grassland and sparsely vegetated areas": "HerbaceousVegetation",
         "Marine waters": "SeaLakeOpen"}
    out = {}
    for cls, src in m.items():
        px = np.clip(es[src] * gain + off, 1, 10000)
        px[:, BI["B09"]] = coarse.predict(px)[:, 1]
        std = px.std(0)
        what = (f"EuroSAT MS class {src} ({len(px) // 4096} real 64x64 patches, all pixels)" if src != "SeaLakeOpen"
                else f"the {len(px) // 4096} open-water EuroSAT MS SeaLake patches (mean TOA B11 < 100, B08 std < "
                     "100: no shore, no turbid lake), all pixels")
        out[cls] = {"mean": _r(px.mean(0)), "std": _r(std), "pc1": _r(pc1(px, std)), "n_pixels": int(len(px)),
                    "n_scenes": int(len(px) // 4096), "provenance": f"{what}; {how}"}
    return out


def mixture(parts: dict[str, float], classes: dict[str, dict], why: str) -> dict:
    """A documented linear mixture of measured classes (mean, std and pc1 mixed with the same weights)."""
    w = np.array(list(parts.values()), dtype=np.float64)
    w = w / w.sum()
    means = np.stack([classes[c]["mean"] for c in parts])
    stds = np.stack([classes[c]["std"] for c in parts])
    mean = (w[:, None] * means).sum(0)
    # spread = within-part spread + spread between the parts' means (law of total variance)
    std = np.sqrt((w[:, None] * (stds ** 2 + (means - mean) ** 2)).sum(0))
    # main axis of variation: the two heaviest parts traded against each other
    top = np.argsort(w)[::-1][:2]
    pc = (means[top[0]] - means[top[1]]) * np.sqrt(w[top[0]] * w[top[1]])
    pc = np.clip(pc if pc[BI["B08"]] >= 0 else -pc, -std, std)
    recipe = " + ".join(f"{x:.2f} x {c}" for c, x in zip(parts, w, strict=True))
    doc = {"mean": _r(mean), "std": _r(std), "pc1": _r(pc), "n_pixels": 0, "n_scenes": 0,
           "mixture": {c: round(float(x), 3) for c, x in zip(parts, w, strict=True)},
           "provenance": f"derived (no direct measurement): {recipe}; {why}"}
    lin = sum(x * 10 ** (np.array(classes[c]["s1_mean_db"]) / 10) for c, x in zip(parts, w, strict=True))
    doc["s1_mean_db"] = [round(float(v), 2) for v in 10 * np.log10(lin)]
    doc["s1_std_db"] = [round(float(v), 2) for v in
                        np.sum([x * np.array(classes[c]["s1_std_db"]) for c, x in zip(parts, w, strict=True)], 0)]
    doc["s1_provenance"] = f"the same mixture of the parts' S1 backscatter in linear power ({recipe})"
    return doc


#: literature C-band IW GRD backscatter (VV, VH dB; mean and spread) for classes without co-registered S1 samples
S1_LITERATURE = {
    "Urban fabric": ([-5.0, -12.0], [5.0, 5.0], "double-bounce of built-up areas"),
    "Industrial or commercial units": ([-3.5, -10.5], [5.5, 5.5], "large flat roofs and corner reflectors"),
    "Permanent crops": ([-9.0, -15.5], [2.8, 2.8], "orchards / vineyards: between fields and forest"),
    "Coniferous forest": ([-7.8, -13.6], [2.5, 2.5], "volume scattering of conifer canopies"),
    "Natural grassland and sparsely vegetated areas": ([-11.0, -18.0], [3.0, 3.0], "short, sparse vegetation"),
    "Moors, heathland and sclerophyllous vegetation": ([-9.5, -16.0], [2.8, 2.8], "shrubland"),
    "Transitional woodland, shrub": ([-8.8, -15.0], [2.7, 2.7], "young forest and shrub"),
    "Beaches, dunes, sands": ([-17.0, -26.0], [3.0, 3.0], "smooth dry sand: mostly specular, dark"),
    "Inland wetlands": ([-12.0, -19.0], [3.5, 3.5], "peat bogs: wet soil, low vegetation"),
    "Agro-forestry areas": ([-9.5, -16.0], [2.8, 2.8], "scattered trees over grassland"),
    "Marine waters": ([-21.0, -28.0], [3.0, 3.0], "open sea at low wind: specular"),
    "Inland waters": ([-20.0, -27.0], [3.0, 3.0], "calm water"),
}


def urban_s1(patches: list[S2Patch]) -> tuple[list[float], list[float], str] | None:
    """S1 of built-up pixels (low NDVI, not water) in S1-paired patches labelled Urban fabric."""
    vals, names = [], []
    for p in patches:
        if "Urban fabric" not in p.labels or p.s1 is None or p.cloud:
            continue
        m = erode((p.ndvi < 0.25) & (p.mndwi < 0.0) & (p.x[BI["B02"]] < 2500), 1)
        if m.sum() >= 20:
            vals.append(p.s1[:, m])
            names.append(_short(p))
    if not vals:
        return None
    mean, std = s1_stats(np.concatenate(vals, axis=1))
    return mean, std, (f"built-up pixels (NDVI<0.25, MNDWI<0, B02<2500, 1-px eroded S2 mask) of the S1 partners of "
                       f"{len(names)} real reBEN patches labelled Urban fabric ({', '.join(names)})")


def measure(data: Path) -> dict:
    patches = load_labelled_patches(data)
    coarse = CoarseBandModel(patches)
    es = load_eurosat(data)
    classes: dict[str, dict] = {}
    classes.update(refmap_classes(data, patches, coarse))
    classes["Inland waters"] = inland_waters(patches, coarse)
    classes.update(cluster_classes(patches, coarse))
    aux, bare = aux_endmembers(patches, coarse)
    gain, off, how = eurosat_calibration(es, classes)
    classes.update(eurosat_classes(es, gain, off, how, coarse))

    # S1: measured where a co-registered S2 class mask exists, otherwise literature values
    urb = urban_s1(patches)
    if urb:
        classes["Urban fabric"].update(s1_mean_db=urb[0], s1_std_db=urb[1], s1_provenance=urb[2])
    for cls, e in classes.items():
        if "s1_mean_db" not in e:
            m, s, why = S1_LITERATURE[cls]
            e.update(s1_mean_db=m, s1_std_db=s, s1_provenance=f"literature value (not measurable here): {why}")

    # Beaches: the brightest decile of the measured bare-soil pixels (dry sand is the brightest bare surface)
    bright = np.concatenate([r.patch.x[:, r.mask].sum(0) for r in bare])
    thr = np.percentile(bright, 90)
    sand = [Region(r.patch, r.mask & (r.patch.x.sum(0) >= thr)) for r in bare]
    classes["Beaches, dunes, sands"] = entry(region_stats(sand, coarse), (
        "derived: the brightest 10 % (summed reflectance) of the measured bare-soil pixels (aux.bare_soil) - "
        "dry sand is the brightest bare surface; no beach pixels exist in the real sample"))
    m, s, why = S1_LITERATURE["Beaches, dunes, sands"]
    classes["Beaches, dunes, sands"].update(s1_mean_db=m, s1_std_db=s,
                                            s1_provenance=f"literature value (not measurable here): {why}")
    classes["Complex cultivation patterns"] = mixture(
        {"Arable land": 0.4, "Pastures": 0.3, "Permanent crops": 0.15, "Broad-leaved forest": 0.15}, classes,
        "CLC 242 = small parcels of annual crops, pasture and permanent crops with hedges (measured parts)")
    classes["Land principally occupied by agriculture, with significant areas of natural vegetation"] = mixture(
        {"Arable land": 0.25, "Pastures": 0.25, "Transitional woodland, shrub": 0.25, "Broad-leaved forest": 0.25},
        classes, "CLC 243 = agriculture interrupted by significant natural vegetation (measured parts)")
    classes["Coastal wetlands"] = mixture(
        {"Inland wetlands": 0.45, "Marine waters": 0.35, "Natural grassland and sparsely vegetated areas": 0.2},
        classes, "CLC 421/422 salt marshes / salines: wet low vegetation with tidal water (measured parts)")

    return {
        "format": "eomine-demo-spectra", "version": 1,
        "bands": list(BANDS), "s1_bands": ["VV", "VH"],
        "units": "S2: L2A surface reflectance x 10000 (uint16 scale); S1: backscatter in dB",
        "fields": "mean/std/pc1 per band (pc1 = first principal component of the within-class pixel variation, "
                  "scaled to its standard deviation); n_pixels / n_scenes = real pixels / acquisitions measured",
        "made_by": "tools/measure_spectra.py on ../shared/data (reBEN + BigEarthNet v1 + EuroSAT MS samples)",
        "coarse_band_model": coarse.describe(),
        "eurosat_l1c_to_l2a": {"gain": [round(float(g), 4) for g in gain],
                               "offset": [round(float(o), 1) for o in off]},
        "classes": {c: classes[c] for c in CLASSES},
        "aux": aux,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="the shared real-data folder (default ../shared/data)")
    ap.add_argument("--out", type=Path, default=DATA_DIR / "demo" / "spectra.json")
    args = ap.parse_args(argv)
    data = args.data or shared_data_dir()
    if data is None or not Path(data).is_dir():
        print("real data folder not found; pass --data PATH", file=sys.stderr)
        return 2
    doc = measure(Path(data))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    for cls, e in doc["classes"].items():
        m = np.array(e["mean"])
        ndvi = (m[BI["B08"]] - m[BI["B04"]]) / (m[BI["B08"]] + m[BI["B04"]])
        print(f"{cls[:34]:34s} B02 {m[1]:6.0f} B04 {m[3]:6.0f} B08 {m[7]:6.0f} B11 {m[10]:6.0f} "
              f"NDVI {ndvi:5.2f}  S1 {e['s1_mean_db']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
