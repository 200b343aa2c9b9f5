"""The demo's pixels: a 60 x 60 class map at 10 m filled with measured spectra (``data/demo/spectra.json``),
textures, seasons, snow, clouds, optics and S1 speckle (see :mod:`mining.datasets.demo`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ...resources import DATA_DIR
from ..base import S2_BANDS
from .fields import smooth_fields, unit_noise
from .landscape import (
    AGRI_NATURAL,
    AGROFOREST,
    ARABLE,
    BEACHES,
    BROADLEAF,
    COASTAL_WETLANDS,
    COMPLEX,
    CONIFER,
    GRASSLAND,
    INDUSTRIAL,
    INLAND_WATERS,
    MARINE,
    MIXED,
    MOORS,
    PASTURES,
    PERMANENT,
    TRANSITIONAL,
    URBAN,
    WETLANDS,
)

__all__ = ["SPECTRA_PATH", "load_spectra"]

#: measured per-class signatures (see tools/measure_spectra.py); read at scan time, never at import
SPECTRA_PATH = DATA_DIR / "demo" / "spectra.json"

#: patch side in pixels at 10 m (600 m patches on the reBEN 1200 m grid)
SIZE = 60
#: equivalent number of looks of the S1 speckle (IW GRDH)
ENL = 4.4
ROAD = 19                       # extra spectral entry: asphalt (derived from the Industrial spectrum)


# ---------------------------------------------------------------------------------------------- pixel model
# texture kinds of the spectral entries (19 classes + road)
(K_URBAN, K_INDUSTRIAL, K_FIELD, K_ORCHARD, K_MEADOW, K_MOSAIC, K_SAVANNA, K_CANOPY, K_NATURAL, K_SHRUB, K_SAND,
 K_WETLAND, K_WATER, K_ROAD) = range(14)
_KIND = np.array([K_URBAN, K_INDUSTRIAL, K_FIELD, K_ORCHARD, K_MEADOW, K_MOSAIC, K_MOSAIC, K_SAVANNA, K_CANOPY,
                  K_CANOPY, K_CANOPY, K_NATURAL, K_NATURAL, K_SHRUB, K_SAND, K_WETLAND, K_MOSAIC, K_WATER, K_WATER,
                  K_ROAD])
#: how strongly each entry senesces towards bare soil outside the growing season (0 = not at all)
_SENESCENCE = np.array([0.3, 0.0, 1.0, 0.6, 0.35, 0.7, 0.6, 0.3, 0.9, 0.15, 0.5, 0.6, 0.3, 0.5, 0.0, 0.5, 0.3, 0.0,
                        0.0, 0.0])
#: seasonal weight of senescence per month (Jan..Dec)
_MONTH_BARE = np.array([0.5, 0.5, 0.4, 0.2, 0.05, 0.0, 0.0, 0.05, 0.1, 0.25, 0.4, 0.5])
#: snow cover weight per entry (canopies hide most of the snow)
_SNOW_ALPHA = np.array([0.7, 0.7, 0.92, 0.85, 0.92, 0.9, 0.85, 0.8, 0.5, 0.3, 0.4, 0.92, 0.85, 0.6, 0.9, 0.92,
                        0.6, 0.0, 0.0, 0.5])
#: texture of each kind = weights of (parcel value, white noise, 3-px blocks, 5-px blocks, smooth fields of
#: 1.5, 2, 3, 4, 6, 8, 12 px); rows sum of squares ~1 so the class's measured pc1 keeps its spread
def _texture_table() -> np.ndarray:
    weights = {K_FIELD: {0: 0.95, 1: 0.25}, K_ORCHARD: {0: 0.7, 1: 0.6}, K_MEADOW: {0: 0.6, 6: 0.5, 1: 0.25},
               K_SAVANNA: {4: 0.8, 1: 0.6}, K_CANOPY: {6: 0.6, 10: 0.3, 1: 0.5}, K_NATURAL: {8: 0.8, 1: 0.4},
               K_SHRUB: {5: 0.7, 1: 0.5}, K_SAND: {9: 0.6, 1: 0.25}, K_WETLAND: {7: 0.7, 1: 0.4},
               K_WATER: {10: 0.35, 1: 0.1}, K_URBAN: {2: 0.9, 1: 0.45}, K_INDUSTRIAL: {3: 0.9, 1: 0.3},
               K_ROAD: {1: 0.3}}
    out = np.zeros((14, 11), dtype=np.float32)
    for k, w in weights.items():
        for j, v in w.items():
            out[k, j] = v
    out.setflags(write=False)
    return out


_TEXTURE = _texture_table()
_PARCEL_LIKE = np.isin(np.arange(14), (K_FIELD, K_ORCHARD, K_MEADOW))
# pixel-level mixing order of the land groups
_COAST_ORDER = (MARINE, COASTAL_WETLANDS, BEACHES)
_AGRI_ORDER = (URBAN, INDUSTRIAL, ARABLE, COMPLEX, PERMANENT, AGRI_NATURAL, PASTURES, AGROFOREST)
_NATURAL_ORDER = (GRASSLAND, MOORS, TRANSITIONAL, BROADLEAF, MIXED, CONIFER)
#: smooth-field length scales used per patch (pixels at 10 m), drawn on the 20 m grid (+ 2 finer ones)
_SCALES_COARSE = (12.0, 10.0, 10.0, 8.0, 6.0, 12.0, 4.0, 3.0)
(F_PRIMARY, F_AGRI, F_NATURAL, F_S8, F_S6, F_S12, F_S4, F_S3, F_S2, F_S15) = range(10)
F_WATER = F_S8      # lakes: 8 px blobs


@dataclass(frozen=True)
class _Spectra:
    """Read-only per-entry tables (19 classes + road) built from ``spectra.json``."""

    mean: np.ndarray        # (20, 12) S2 L2A reflectance x 10000, S2_BANDS order
    pc1: np.ndarray         # (20, 12) main axis of within-class variation (1 std)
    resid: np.ndarray       # (20, 12) remaining per-band std
    s1_mean: np.ndarray     # (20, 2) VV, VH dB
    s1_texture: np.ndarray  # (20, 2) texture std in dB (measured std minus the speckle part)
    parts: dict             # mixture class -> (part indices, weights)
    bare: np.ndarray        # (12,)
    snow: np.ndarray        # (12,)
    snow_pc1: np.ndarray    # (12,)
    cloud: np.ndarray       # (12,)
    cloud_pc1: np.ndarray   # (12,)


@cache
def load_spectra(path: str = str(SPECTRA_PATH)) -> _Spectra:
    """Parse ``data/demo/spectra.json`` into the generator's tables (cached, read-only).

    Raises
    ------
    ValueError
        When the file is missing or does not describe the 19 BigEarthNet classes and 12 bands.
    """
    from ...nomenclature import load_nomenclature

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"demo spectra not found: {path} (run tools/measure_spectra.py): {exc}") from None
    if tuple(doc.get("bands", ())) != S2_BANDS:
        raise ValueError(f"{path}: expected bands {S2_BANDS}, got {doc.get('bands')}")
    names = load_nomenclature("ben19").classes
    cl = doc["classes"]
    missing = [c for c in names if c not in cl]
    if missing:
        raise ValueError(f"{path}: no spectrum for class {missing[0]!r}")
    mean = np.array([cl[c]["mean"] for c in names], dtype=np.float64)
    std = np.array([cl[c]["std"] for c in names], dtype=np.float64)
    pc1 = np.array([cl[c]["pc1"] for c in names], dtype=np.float64)
    s1m = np.array([cl[c]["s1_mean_db"] for c in names], dtype=np.float64)
    s1s = np.array([cl[c]["s1_std_db"] for c in names], dtype=np.float64)
    # road / asphalt: a darker, flatter version of the measured Industrial spectrum; S1 dark (smooth surface)
    road = 0.75 * mean[INDUSTRIAL]
    mean = np.vstack([mean, road])
    std = np.vstack([std, 0.3 * std[INDUSTRIAL]])
    pc1 = np.vstack([pc1, 0.3 * pc1[INDUSTRIAL]])
    s1m = np.vstack([s1m, [-15.0, -23.0]])
    s1s = np.vstack([s1s, [2.5, 2.5]])
    resid = np.sqrt(np.maximum(std ** 2 - pc1 ** 2, 0.0))
    speckle_db = 10 / np.log(10) * np.sqrt(_trigamma(ENL))
    texture = np.sqrt(np.maximum(s1s ** 2 - speckle_db ** 2, 0.25))
    parts = {}
    for c, name in enumerate(names):
        mix = cl[name].get("mixture")
        if mix:
            idx = np.array([names.index(p) for p in mix])
            w = np.array(list(mix.values()), dtype=np.float64)
            parts[c] = (idx, w / w.sum())
    aux = doc["aux"]
    arr = {k: np.array(v, dtype=np.float64) for k, v in (("bare", aux["bare_soil"]["mean"]),
                                                       ("snow", aux["snow"]["mean"]),
                                                       ("snow_pc1", aux["snow"]["pc1"]),
                                                       ("cloud", aux["cloud"]["mean"]),
                                                       ("cloud_pc1", aux["cloud"]["pc1"]))}
    f32 = {k: v.astype(np.float32) for k, v in arr.items()}
    tables = _Spectra(mean=mean.astype(np.float32), pc1=pc1.astype(np.float32), resid=resid.astype(np.float32),
                      s1_mean=s1m.astype(np.float32), s1_texture=texture.astype(np.float32), parts=parts, **f32)
    for a in (tables.mean, tables.pc1, tables.resid, tables.s1_mean, tables.s1_texture, *f32.values()):
        a.setflags(write=False)
    return tables


def _trigamma(x: float) -> float:
    """Trigamma function (asymptotic series after shifting x above 6)."""
    acc = 0.0
    while x < 6:
        acc += 1 / x ** 2
        x += 1
    return acc + 1 / x + 1 / (2 * x ** 2) + 1 / (6 * x ** 3) - 1 / (30 * x ** 5) + 1 / (42 * x ** 7)



def _patch_fields(rng: np.random.Generator) -> np.ndarray:
    """The per-patch smooth fields, shape (10, 3600), each zero-mean unit-std: drawn at 20 m and upsampled (linear)."""
    coarse = smooth_fields(rng, tuple(s / 2 for s in _SCALES_COARSE), SIZE // 2, 32)
    up = _upsampler()
    # the two finest (~2 and ~1.5 px) by two / one passes of the [0.2, 0.6, 0.2] blur over white noise
    white = unit_noise(rng, (2, SIZE, SIZE))
    out = np.concatenate([up @ coarse @ up.T, _blur(_blur(white[:1])), _blur(white[1:])]).reshape(-1, SIZE * SIZE)
    out -= out.mean(axis=1, keepdims=True)
    out /= out.std(axis=1, keepdims=True)
    return out


@cache
def _upsampler() -> np.ndarray:
    """Linear-interpolation matrix from 30 to 60 samples, shape (60, 30)."""
    n = SIZE // 2
    pos = np.clip((np.arange(SIZE) - 0.5) / 2, 0, n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    m = np.zeros((SIZE, n))
    m[np.arange(SIZE), lo] += 1 - (pos - lo)
    m[np.arange(SIZE), hi] += pos - lo
    m.setflags(write=False)
    return m



def _block_mean(a: np.ndarray, f: int) -> np.ndarray:
    """(b, n, n) uint16 -> (b, n/f, n/f) uint16 block means (rounded)."""
    b, n, _ = a.shape
    m = a.reshape(b, n // f, f, n // f, f).mean(axis=(2, 4))
    return np.clip(np.rint(m), 1, 10000).astype(np.uint16)


@cache
def _grid() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy.ravel(), xx.ravel()


def _counts(fracs: np.ndarray, total: int) -> np.ndarray:
    """Integer pixel counts from fractions (largest remainder), shape like ``fracs``."""
    raw = fracs / fracs.sum() * total
    out = np.floor(raw).astype(int)
    out[np.argsort(-(raw - out))[: total - out.sum()]] += 1
    return out


def _assign(cls: np.ndarray, field: np.ndarray, avail: np.ndarray, classes, counts) -> np.ndarray:
    """Give the pixels ``avail`` (indices) to ``classes`` in increasing order of ``field``; returns the rest."""
    order = avail[np.argsort(field[avail])]
    start = 0
    for c, k in zip(classes, counts, strict=True):
        cls[order[start:start + k]] = c
        start += k
    return order[start:]


def _render(sp: _Spectra, rng: np.random.Generator, classes: np.ndarray, fracs: np.ndarray, month: int,
            snow: bool, cloud: bool, sea_angle: float, lat: float) -> tuple[np.ndarray, np.ndarray]:
    """Generate one patch.

    Returns
    -------
    s2 : ndarray of uint16, shape (12, 60, 60)
        All 12 bands at 10 m in :data:`S2_BANDS` order (1..10000).
    s1 : ndarray of float32, shape (2, 60, 60)
        VV, VH in dB.
    """
    npx = SIZE * SIZE
    yy, xx = _grid()
    fields = _patch_fields(rng)
    counts = dict(zip(classes.tolist(), _counts(fracs, npx).tolist(), strict=True))
    cls = np.full(npx, -1, dtype=np.intp)
    avail = np.arange(npx)

    # 1. coast: sea -> coastal wetlands -> beach along the tile's real sea direction (or a random one)
    coast = [c for c in _COAST_ORDER if c in counts]
    if coast:
        a = sea_angle if np.isfinite(sea_angle) else rng.uniform(0, 2 * np.pi)
        a += rng.normal(0, 0.35)
        ramp = -((xx - SIZE / 2) * np.cos(a) + (yy - SIZE / 2) * np.sin(a)) / SIZE
        avail = _assign(cls, ramp + 0.12 * fields[F_S8], avail, coast, [counts[c] for c in coast])
    # 2. inland water as a lake or a river, wetlands on its fringe
    water = [c for c in (INLAND_WATERS, WETLANDS) if c in counts]
    if water:
        if INLAND_WATERS in counts and counts[INLAND_WATERS] < 0.25 * npx and rng.random() < 0.5:
            a = rng.uniform(0, np.pi)
            u = (xx - SIZE / 2) * np.cos(a) + (yy - SIZE / 2) * np.sin(a)
            v = -(xx - SIZE / 2) * np.sin(a) + (yy - SIZE / 2) * np.cos(a)
            wf = np.abs(v - rng.uniform(-15, 15) - 6 * np.sin(u / rng.uniform(6, 14) + rng.uniform(0, 6.3)))
            wf = wf + 1.5 * fields[F_S4]
        else:
            wf = fields[F_WATER]
        avail = _assign(cls, wf, avail, water, [counts[c] for c in water])
    # 3. the rest: agriculture / urban in the lower parts, semi-natural and forest in the higher
    agri = [c for c in _AGRI_ORDER if c in counts]
    nat = [c for c in _NATURAL_ORDER if c in counts]
    if agri or nat:
        a = rng.uniform(0, 2 * np.pi)
        grad = ((xx - SIZE / 2) * np.cos(a) + (yy - SIZE / 2) * np.sin(a)) / SIZE * rng.uniform(0, 3)
        n_agri = sum(counts[c] for c in agri)
        order = avail[np.argsort((fields[F_PRIMARY] + grad)[avail])]
        if agri:
            _assign(cls, fields[F_AGRI], order[:n_agri], agri, [counts[c] for c in agri])
        if nat:
            _assign(cls, fields[F_NATURAL], order[n_agri:], nat, [counts[c] for c in nat])

    # parcels: rotated rectangular fields (coarse) and small plots (fine, complex cultivation)
    a = rng.uniform(0, np.pi)
    u = xx * np.cos(a) + yy * np.sin(a)
    v = -xx * np.sin(a) + yy * np.cos(a)
    coarse = _strips(rng, u, 8, 22) * 64 + _strips(rng, v, 5, 18)
    fine = _strips(rng, u, 3, 8) * 64 + _strips(rng, v, 3, 9)
    pid = np.where(cls == COMPLEX, fine, coarse) % 1024
    parcel_z = rng.standard_normal(1024)

    # spectral entry per pixel: mixtures draw a part per plot / blob; roads, gardens, hedges, pools
    spec = cls.copy()
    for c, (idx, w) in sp.parts.items():
        m = cls == c
        if not m.any():
            continue
        if c == COASTAL_WETLANDS:
            q = np.searchsorted(np.cumsum(w)[:-1], _rank01(fields[F_S3][m]))
            spec[m] = idx[q]
        else:
            table = idx[np.minimum(np.searchsorted(np.cumsum(w), rng.random(1024)), len(idx) - 1)]
            spec[m] = table[np.where(c == COMPLEX, fine, coarse)[m] % 1024]
    blocks3 = np.repeat(np.repeat(rng.standard_normal((SIZE // 3, SIZE // 3)), 3, 0), 3, 1).ravel()
    blocks5 = np.repeat(np.repeat(rng.standard_normal((SIZE // 5, SIZE // 5)), 5, 0), 5, 1).ravel()
    built = (cls == URBAN) | (cls == INDUSTRIAL)
    if built.any():
        spacing_u, spacing_v = rng.uniform(7, 11), rng.uniform(8, 13)
        road = ((u % spacing_u) < 1.0) | ((v % spacing_v) < 1.0)
        spec[(cls == URBAN) & (blocks3 < -0.8)] = PASTURES       # gardens
        spec[built & road] = ROAD
    hedge_classes = (spec == PASTURES) | (cls == COMPLEX) | (cls == AGRI_NATURAL)
    if hedge_classes.any():
        grid_id = coarse.reshape(SIZE, SIZE)
        edge = np.zeros((SIZE, SIZE), dtype=bool)
        edge[:, :-1] |= grid_id[:, 1:] != grid_id[:, :-1]
        edge[:-1, :] |= grid_id[1:, :] != grid_id[:-1, :]
        spec[hedge_classes & edge.ravel() & (rng.random(npx) < 0.5) & (cls != URBAN)] = BROADLEAF
    wet = cls == WETLANDS
    spec[wet & (fields[F_S4] < -0.9)] = INLAND_WATERS                 # open pools in the bog

    # texture along each entry's measured main axis of variation (unit variance in total)
    kind = _KIND[spec]
    basis = np.stack([parcel_z[pid], rng.standard_normal(npx), blocks3, blocks5,
                      *fields[[F_S15, F_S2, F_S3, F_S4, F_S6, F_S8, F_S12]]]).astype(np.float32)
    z = np.einsum("pj,jp->p", _TEXTURE[kind], basis)
    resid_scale = np.where(kind == K_WATER, np.float32(0.25), np.float32(0.5))[:, None]
    parcel_like = _PARCEL_LIKE[kind]

    # seasonal senescence towards the measured bare-soil spectrum
    w_bare = (_SENESCENCE * _MONTH_BARE[month - 1])[:, None].astype(np.float32)
    mean = sp.mean * (1 - w_bare) + sp.bare[None, :] * w_bare
    img = mean[spec] + sp.pc1[spec] * z[:, None]
    bands_white = unit_noise(rng, (npx, 12))
    img += sp.resid[spec] * resid_scale * bands_white
    if parcel_like.any():
        parcel_band = rng.standard_normal((256, 12), dtype=np.float32)
        img[parcel_like] += 0.6 * sp.resid[spec[parcel_like]] * parcel_band[pid[parcel_like] % 256]

    if snow:
        frozen = month in (12, 1, 2, 3) and lat >= 55.0
        alpha = _SNOW_ALPHA[spec] + np.where(frozen & (spec == INLAND_WATERS), 0.9, 0.0)
        cover = np.clip((fields[F_S8] - np.quantile(fields[F_S8], rng.uniform(0.0, 0.4))) * 2.5, 0, 1)
        a = (alpha * cover)[:, None]
        flake = sp.snow[None, :] + 0.5 * sp.snow_pc1[None, :] * fields[F_S6][:, None]
        img = img * (1 - a) + flake * a
    img = img.T.reshape(12, SIZE, SIZE)
    if cloud:
        img = _cloud(sp, rng, img, fields[F_S12].reshape(SIZE, SIZE), fields[F_S4].reshape(SIZE, SIZE))
    # optics: a small point-spread blur, then sensor noise
    img = _blur(img)
    img += unit_noise(rng, img.shape) * (0.008 * np.abs(img) + 5.0)
    # dark targets: a soft floor instead of clipping (values below 40 decay smoothly towards 0, never reach it)
    dark = img < 40.0
    img[dark] = 40.0 * np.exp((img[dark] - 40.0) / 40.0)
    s2 = np.clip(np.rint(img), 1, 10000).astype(np.uint16)

    # S1: per-entry backscatter with the same structural texture, then gamma speckle (ENL 4.4)
    db = sp.s1_mean[spec] + sp.s1_texture[spec] * z[:, None]
    speckle = rng.standard_gamma(ENL, size=(npx, 2), dtype=np.float32) / np.float32(ENL)
    s1 = (db + 10 * np.log10(speckle)).T.reshape(2, SIZE, SIZE).astype(np.float32)
    return s2, s1


def _blur(img: np.ndarray) -> np.ndarray:
    """Separable [0.2, 0.6, 0.2] point-spread blur of (b, n, n) images (edges replicated)."""
    for ax in (1, 2):
        src = img
        img = 0.6 * src
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax], hi[ax] = slice(None, -1), slice(1, None)
        img[tuple(hi)] += 0.2 * src[tuple(lo)]
        img[tuple(lo)] += 0.2 * src[tuple(hi)]
        first = [slice(None)] * 3
        last = [slice(None)] * 3
        first[ax], last[ax] = 0, -1
        img[tuple(first)] += 0.2 * src[tuple(first)]
        img[tuple(last)] += 0.2 * src[tuple(last)]
    return img


def _strips(rng: np.random.Generator, coord: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Index of random-width strips (widths uniform in [lo, hi] px) along a coordinate."""
    span = coord.max() - coord.min()
    edges = coord.min() - rng.uniform(0, hi) + np.cumsum(rng.uniform(lo, hi, size=int(span / lo) + 3))
    return np.searchsorted(edges, coord)


def _rank01(v: np.ndarray) -> np.ndarray:
    """Ranks of ``v`` scaled to [0, 1)."""
    r = np.empty(len(v))
    r[np.argsort(v, kind="stable")] = np.arange(len(v)) / max(len(v), 1)
    return r


def _cloud(sp: _Spectra, rng: np.random.Generator, img: np.ndarray, f_cloud: np.ndarray,
           f_tex: np.ndarray) -> np.ndarray:
    """Add a cloud blob (measured opaque-cloud spectrum) and its displaced shadow.

    Parameters
    ----------
    img : ndarray, shape (12, 60, 60)
    f_cloud, f_tex : ndarray, shape (60, 60)
        Smooth fields for the cloud shape and its inner texture.
    """
    cover = rng.uniform(0.1, 0.5)
    opacity = np.clip((f_cloud - np.quantile(f_cloud, 1 - cover)) * 1.5, 0, 1)
    dy, dx = (int(d) for d in rng.integers(5, 14, size=2))
    shadow = np.zeros_like(opacity)
    shadow[dy:, dx:] = opacity[:-dy, :-dx]
    img = img * (1 - 0.65 * (shadow * (1 - opacity)))[None]
    cl = sp.cloud[:, None, None] + 0.4 * sp.cloud_pc1[:, None, None] * f_tex[None]
    return img * (1 - opacity[None]) + cl * opacity[None]
