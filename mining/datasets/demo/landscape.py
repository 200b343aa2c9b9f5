"""The demo's landscape: its real Sentinel-2 tiles (``data/demo/tiles.json``) and the area fractions of the 19
classes on their cells, calibrated to each tile's reBEN class shares (see :mod:`mining.datasets.demo`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from ...resources import DATA_DIR
from .fields import smooth_fields

__all__ = ["Tile", "TILES_PATH", "load_tiles"]

#: the real reBEN tiles the demo uses and what reBEN says about them; read at scan time, never at import
TILES_PATH = DATA_DIR / "demo" / "tiles.json"

#: cells per tile side on the reBEN grid (109.8 km tiles, 1200 m cells)
GRID = 91
#: minimum area fraction for a class to be a label
MIN_FRACTION = 0.05
SPLITS = (("train", 0.52), ("validation", 0.25), ("test", 0.23))
#: cells per side of the blocks that share a split (reBEN splits are spatially blocked)
SPLIT_BLOCK = 10

# the 19 classes by index, in the official BigEarthNet-19 order
(URBAN, INDUSTRIAL, ARABLE, PERMANENT, PASTURES, COMPLEX, AGRI_NATURAL, AGROFOREST, BROADLEAF, CONIFER, MIXED,
 GRASSLAND, MOORS, TRANSITIONAL, BEACHES, WETLANDS, COASTAL_WETLANDS, INLAND_WATERS, MARINE) = range(19)
N_CLASSES = 19


# ---------------------------------------------------------------------------------------------- the tiles
@dataclass(frozen=True)
class Tile:
    """A real reBEN Sentinel-2 tile and what reBEN says about it (one entry of ``data/demo/tiles.json``).

    ``products``: (S2 product prefix, paired S1 product, share of reBEN patches, seasonal-snow rate,
    cloud-or-shadow rate) per reBEN acquisition of the tile; ``prevalence``: share of the tile's reBEN patches
    carrying each of the 19 classes; ``mask``: 13 x 13 blocks of 7 x 7 cells, ``#`` where reBEN has patches
    (tiles crossing a border); ``sea``: unit vector (d col, d row) pointing to the sea (coastal tiles).
    """

    tile: str
    country: str
    n_reben: int
    products: tuple[tuple[str, str, float, float, float], ...]
    prevalence: tuple[float, ...]
    mask: tuple[str, ...] | None = None
    sea: tuple[float, float] | None = None


@cache
def load_tiles(path: str = str(TILES_PATH)) -> tuple[Tile, ...]:
    """Read ``data/demo/tiles.json`` (cached).

    Returns
    -------
    tuple of Tile, length n_tiles
        In the file's order (part of every random stream: do not reorder).

    Raises
    ------
    ValueError
        When the file is missing, of another format, or a tile is malformed (the tile is named).
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"demo tiles not found: {path}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if doc.get("format") != "eomine-demo-tiles" or doc.get("version") != 1:
        raise ValueError(f"{path}: not an eomine-demo-tiles file of version 1")
    tiles = []
    for i, t in enumerate(doc.get("tiles") or ()):
        try:
            tile = Tile(tile=str(t["tile"]), country=str(t["country"]), n_reben=int(t["n_reben"]),
                        products=tuple((str(p["s2_product"]), str(p["s1_product"]), float(p["share"]),
                                        float(p["seasonal_snow"]), float(p["cloud_or_shadow"]))
                                       for p in t["products"]),
                        prevalence=tuple(float(x) for x in t["prevalence"]),
                        mask=None if t.get("mask") is None else tuple(str(r) for r in t["mask"]),
                        sea=None if t.get("sea") is None else (float(t["sea"][0]), float(t["sea"][1])))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"{path}: tile {i} is malformed ({type(exc).__name__}: {exc})") from None
        blocks = (GRID + 6) // 7
        if (len(tile.prevalence) != N_CLASSES or not tile.products
                or (tile.mask is not None and (len(tile.mask) != blocks or any(
                    len(r) != blocks or set(r) - {"#", "."} for r in tile.mask)))):
            raise ValueError(f"{path}: tile {tile.tile}: expected {N_CLASSES} prevalences, at least one product "
                             f"and a mask of {blocks} x {blocks} '#' / '.' (or null)")
        tiles.append(tile)
    if not tiles:
        raise ValueError(f"{path}: no tiles")
    return tuple(tiles)


#: how much the winter acquisitions' real snow rate is used (reBEN: 11 % snow; the demo aims at ~5 %)
SNOW_SCALE = 0.55
#: cloud-or-shadow probability = CLOUD_BASE + CLOUD_SCALE * real rate of the product (demo: ~3 %)
CLOUD_BASE, CLOUD_SCALE = 0.018, 1.5

# ---------------------------------------------------------------------------------------------- landscape model
#: factor loadings of each class: agriculture, forest, urban, inland water, coast, semi-natural
_LOADINGS = np.array([
    [0.4, -0.2, 1.3, 0.0, 0.0, -0.3],    # Urban fabric
    [0.3, -0.3, 1.4, 0.0, 0.0, -0.3],    # Industrial or commercial units
    [1.2, -0.6, 0.2, 0.0, -0.5, -0.6],   # Arable land
    [0.8, -0.3, 0.1, 0.0, 0.0, 0.0],     # Permanent crops
    [0.8, -0.2, 0.1, 0.0, 0.0, 0.0],     # Pastures
    [1.1, -0.2, 0.3, 0.0, -0.4, -0.2],   # Complex cultivation patterns
    [0.8, 0.4, 0.0, 0.0, 0.0, 0.3],      # Land principally occupied by agriculture ...
    [0.5, 0.2, 0.0, 0.0, 0.0, 0.5],      # Agro-forestry areas
    [-0.3, 1.0, 0.0, 0.0, 0.0, 0.2],     # Broad-leaved forest
    [-0.5, 1.0, -0.2, 0.0, 0.0, 0.3],    # Coniferous forest
    [-0.4, 1.1, 0.0, 0.0, 0.0, 0.2],     # Mixed forest
    [-0.3, 0.0, -0.3, 0.0, 0.0, 1.2],    # Natural grassland and sparsely vegetated areas
    [-0.4, 0.1, -0.3, 0.0, 0.2, 1.1],    # Moors, heathland and sclerophyllous vegetation
    [-0.1, 0.8, -0.2, 0.0, 0.0, 0.7],    # Transitional woodland, shrub
    [0.0, 0.0, 0.0, 0.0, 1.5, 0.0],      # Beaches, dunes, sands
    [-0.3, 0.3, -0.3, 0.9, 0.0, 0.3],    # Inland wetlands
    [0.0, 0.0, 0.0, 0.3, 1.5, 0.0],      # Coastal wetlands
    [-0.1, 0.1, 0.0, 1.3, 0.0, 0.0],     # Inland waters
    [0.0, 0.0, 0.0, 0.0, 2.2, 0.0],      # Marine waters
])
#: weight of each class's own random field
_OWN = np.array([0.5, 0.8, 0.6, 0.9, 0.7, 0.6, 0.6, 0.8, 0.8, 0.8, 0.6, 0.8, 0.8, 0.7, 0.8, 0.8, 0.8, 0.6, 0.3])
_FACTOR_SCALE = 6.0      # correlation length of the factor fields, cells (1 cell = 1.2 km)
_OWN_SCALE = 2.5
_SPREAD = 1.3            # std of the log-abundance field: higher = fewer, more dominant classes per patch
_GAMMA_SHAPE = 1.2       # per-patch randomness of the area fractions
_CALIBRATION_STEPS = 30  # fixed-point iterations matching the class shares (converges to < 0.5 %)

#: plausible confusions for "swap" errors (true class -> wrong classes an annotator / CLC would give)
_CONFUSIONS = {
    URBAN: (INDUSTRIAL, COMPLEX), INDUSTRIAL: (URBAN,), ARABLE: (COMPLEX, PASTURES, AGRI_NATURAL),
    PERMANENT: (COMPLEX, ARABLE, AGROFOREST), PASTURES: (ARABLE, GRASSLAND, COMPLEX),
    COMPLEX: (ARABLE, AGRI_NATURAL, PASTURES), AGRI_NATURAL: (COMPLEX, TRANSITIONAL, PASTURES),
    AGROFOREST: (AGRI_NATURAL, PERMANENT, MOORS), BROADLEAF: (MIXED, TRANSITIONAL), CONIFER: (MIXED, TRANSITIONAL),
    MIXED: (BROADLEAF, CONIFER), GRASSLAND: (PASTURES, MOORS), MOORS: (TRANSITIONAL, GRASSLAND),
    TRANSITIONAL: (MOORS, BROADLEAF, CONIFER, MIXED), BEACHES: (GRASSLAND, COASTAL_WETLANDS),
    WETLANDS: (TRANSITIONAL, INLAND_WATERS, MOORS), COASTAL_WETLANDS: (WETLANDS, MARINE),
    INLAND_WATERS: (MARINE, WETLANDS), MARINE: (INLAND_WATERS, COASTAL_WETLANDS),
}
_ERROR_KINDS = ("drop", "add", "swap")
_ERROR_P = (0.4, 0.35, 0.25)


def _logit(p):
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))



@lru_cache(maxsize=32)  # the tiles of the last two seeds (2 x 12 tiles)
def _landscape(seed: int, ti: int) -> np.ndarray:
    """Area fractions of the 19 classes for the allowed cells of one tile, calibrated to its reBEN class shares.

    The calibration runs over all allowed cells (:func:`_allowed_cells`), so a cell's fractions do not depend
    on how many patches are drawn. Cached (read-only result) for the tiles of the last two seeds.

    Parameters
    ----------
    seed : int
    ti : int
        Tile index in :func:`load_tiles` (part of the random stream).

    Returns
    -------
    ndarray of float32, shape (n_cells, 19)
        Fractions summing to 1; classes below :data:`MIN_FRACTION` are set to 0 (then renormalised).
    """
    tile = load_tiles()[ti]
    cells = _allowed_cells(tile)
    rng = np.random.default_rng([seed, 0x4C414E44, ti])
    factors = smooth_fields(rng, (_FACTOR_SCALE,) * 6, GRID, 128)
    if tile.sea is not None:   # a coast: ramp towards the real side of the sea, made irregular by the noise
        col, row = np.meshgrid(np.arange(GRID), np.arange(GRID))
        ramp = ((col - GRID / 2) * tile.sea[0] + (row - GRID / 2) * tile.sea[1]) / (GRID / 2)
        factors[4] = 2.2 * ramp + 0.6 * factors[4]
    own = smooth_fields(rng, (_OWN_SCALE,) * N_CLASSES, GRID, 128)
    g = np.einsum("ck,kij->cij", _LOADINGS, factors) + _OWN[:, None, None] * own
    g = g.reshape(N_CLASSES, -1)[:, cells].T                     # (n_cells, 19)
    g = (g - g.mean(0)) / (g.std(0) + 1e-12)
    log_gamma = np.log(rng.gamma(_GAMMA_SHAPE, size=g.shape))
    target = np.asarray(tile.prevalence)
    present = target >= 0.003
    theta = _logit(target)
    base = _SPREAD * g + log_gamma
    sharp = 1.0   # fractions are scale-free: the sharpness sets the number of labels, theta the class shares
    for _ in range(_CALIBRATION_STEPS):
        logw = np.where(present, sharp * (base + theta), -np.inf)
        w = np.exp(logw - logw.max(1, keepdims=True))
        f = w / w.sum(1, keepdims=True)
        obs = (f >= MIN_FRACTION).mean(0)
        theta = theta + np.where(present, 0.7 * (_logit(target) - _logit(obs)) / sharp, 0.0)
        sharp *= float(np.exp(0.7 * (np.log(obs.sum()) - np.log(target[present].sum()))))
    f = np.where(f >= MIN_FRACTION, f, 0.0)
    out = (f / f.sum(1, keepdims=True)).astype(np.float32)
    out.setflags(write=False)
    return out


def _allowed_cells(tile: Tile) -> np.ndarray:
    """Cells (``row * GRID + col``) where reBEN has patches of this tile."""
    if tile.mask is None:
        return np.arange(GRID * GRID)
    block = np.array([[ch == "#" for ch in r] for r in tile.mask])
    rows, cols = np.divmod(np.arange(GRID * GRID), GRID)
    return np.flatnonzero(block[rows // 7, cols // 7])

