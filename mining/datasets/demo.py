"""The embedded demo dataset: reBEN-like patches generated on the fly, with known injected label errors.

``DemoDataset(n=6000)`` needs no download. It places ``n`` patches of 600 m x 600 m on twelve real Sentinel-2
tiles used by reBEN (Austria, Portugal, Ireland, Finland, Serbia, Lithuania, Belgium), on the reBEN 1200 m
grid, and gives each a multi-label set in the BigEarthNet-19 nomenclature plus 12-band S2 L2A and VV/VH S1
pixels. Everything is deterministic for a given ``seed``.

How it is made
--------------
Landscape
    Per tile, six smooth random "factor" fields on the 91 x 91 grid of cells (agriculture, forest, urban,
    inland water, coast, semi-natural) plus one field per class are combined with fixed loadings, so classes
    co-occur the way they do in reBEN (Arable land + Complex cultivation + Land principally agriculture;
    Broad-leaved + Coniferous + Mixed forest; Urban + Industrial; Marine waters + Beaches + Coastal wetlands)
    and neighbouring cells share land cover. Coastal tiles get a coast along the real side of the sea. Each cell
    gets area fractions of the 19 classes; per tile an offset per class is calibrated so that the share of
    patches carrying each class matches the real reBEN share of that tile (hard-coded below, measured on the
    official metadata), which also reproduces reBEN's ~3 labels per patch. Labels = classes covering >= 5 %.
Label errors
    A fraction ``noise_rate`` of the patches (exactly ``round(noise_rate * n)``) gets corrupted labels: a true
    label dropped (only with >= 2 labels), a plausible absent class added, or a true label swapped for a
    confusable one. ``labels`` is what detectors see; ``gt_labels``, ``gt_label_error`` and ``gt_error_kind``
    hold the truth (no detector may read them).
Pixels
    A 60 x 60 class map at 10 m (coast -> beach -> land gradients, lakes or rivers with wetland fringes, fields
    in rectangular parcels, urban blocks with roads, blotchy forest canopies) is filled with per-class spectra
    measured on real data (``data/demo/spectra.json``, written by ``tools/measure_spectra.py``; each class says
    how it was measured), with per-parcel and per-pixel variation along the class's measured main axis of
    variation, seasonal senescence towards a measured bare-soil spectrum, optional measured snow / cloud + shadow,
    a small point-spread blur and sensor noise. 20 m and 60 m bands are 2 x 2 / 6 x 6 block means of the 10 m
    field. S1 VV/VH backscatter (dB) per class with parcel texture and gamma speckle (ENL 4.4).

Only the generation recipe is synthetic; the tiles, dates, orbit numbers, S1 partner products, class shares and
snow / cloud rates per product are real reBEN values, and the spectra are measured.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .._internal.validation import SEED, Interval, validate_params
from ..grid import tile_origin, utm_epsg
from ..resources import DATA_DIR
from ..store import BandGroup
from .base import S2_BANDS, Issue, PatchDataset
from .reben import _geometry_frame

__all__ = ["DemoDataset", "SPECTRA_PATH", "GENERATOR_VERSION", "MAX_PATCHES", "load_spectra"]

#: measured per-class signatures (see tools/measure_spectra.py); read at scan time, never at import
SPECTRA_PATH = DATA_DIR / "demo" / "spectra.json"

#: patch side in pixels at 10 m (600 m patches on the reBEN 1200 m grid)
SIZE = 60
#: cells per tile side on the reBEN grid (109.8 km tiles, 1200 m cells)
GRID = 91
#: minimum area fraction for a class to be a label
MIN_FRACTION = 0.05
#: bump when the generator's output changes (recorded in ``made_by`` so cached demo workspaces get rebuilt)
GENERATOR_VERSION = 1
#: equivalent number of looks of the S1 speckle (IW GRDH)
ENL = 4.4
SPLITS = (("train", 0.52), ("validation", 0.25), ("test", 0.23))
#: cells per side of the blocks that share a split (reBEN splits are spatially blocked)
SPLIT_BLOCK = 10

# the 19 classes by index, in the official BigEarthNet-19 order
(URBAN, INDUSTRIAL, ARABLE, PERMANENT, PASTURES, COMPLEX, AGRI_NATURAL, AGROFOREST, BROADLEAF, CONIFER, MIXED,
 GRASSLAND, MOORS, TRANSITIONAL, BEACHES, WETLANDS, COASTAL_WETLANDS, INLAND_WATERS, MARINE) = range(19)
N_CLASSES = 19
ROAD = 19                       # extra spectral entry: asphalt (derived from the Industrial spectrum)

# ---------------------------------------------------------------------------------------------- the tiles
@dataclass(frozen=True)
class _Tile:
    """A real reBEN Sentinel-2 tile and what reBEN says about it (hard-coded from the official metadata).

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


_TILES = (
    _Tile("33UWP", "Austria", 8274,
          products=(("S2A_MSIL2A_20180506T100031_N9999_R122", "S1A_IW_GRDH_1SDV_20180507T050948", 1.0, 0.0, 0.0),),
          prevalence=(0.410, 0.051, 0.604, 0.093, 0.219, 0.261, 0.360, 0.000, 0.341, 0.416, 0.427, 0.034, 0.004,
                      0.020, 0.000, 0.000, 0.000, 0.037, 0.000)),
    _Tile("33TWN", "Austria", 13246,
          products=(("S2B_MSIL2A_20171219T095409_N9999_R079", "S1B_IW_GRDH_1SDV_20171220T050912", 0.40, 0.271, 0.024),
                    ("S2B_MSIL2A_20180421T100029_N9999_R122", "S1A_IW_GRDH_1SDV_20180421T165046", 0.60, 0.035, 0.0)),
          prevalence=(0.301, 0.032, 0.440, 0.010, 0.334, 0.431, 0.255, 0.000, 0.311, 0.513, 0.631, 0.071, 0.024,
                      0.029, 0.000, 0.001, 0.000, 0.006, 0.000)),
    _Tile("29SNB", "Portugal", 24354,
          products=(("S2A_MSIL2A_20171002T112111_N9999_R037", "S1A_IW_GRDH_1SDV_20171004T183450", 0.34, 0.0, 0.0),
                    ("S2A_MSIL2A_20171201T112431_N9999_R037", "S1A_IW_GRDH_1SDV_20171203T183450", 0.33, 0.0, 0.0),
                    ("S2B_MSIL2A_20180326T112109_N9999_R037", "S1B_IW_GRDH_1SDV_20180327T183408", 0.34, 0.0, 0.0)),
          prevalence=(0.054, 0.009, 0.354, 0.164, 0.122, 0.148, 0.256, 0.228, 0.330, 0.032, 0.022, 0.010, 0.268,
                      0.487, 0.012, 0.001, 0.013, 0.034, 0.236),
          sea=(-0.85, 0.53)),
    _Tile("29SNC", "Portugal", 32670,
          products=(("S2A_MSIL2A_20170813T112121_N9999_R037", "S1A_IW_GRDH_1SDV_20170812T182647", 0.25, 0.0, 0.0),
                    ("S2A_MSIL2A_20171002T112111_N9999_R037", "S1B_IW_GRDH_1SDV_20171004T064231", 0.25, 0.0, 0.0),
                    ("S2B_MSIL2A_20180224T112109_N9999_R037", "S1B_IW_GRDH_1SDV_20180225T064227", 0.25, 0.0, 0.008),
                    ("S2B_MSIL2A_20180515T112109_N9999_R037", "S1B_IW_GRDH_1SDV_20180515T063421", 0.25, 0.0, 0.0)),
          prevalence=(0.059, 0.028, 0.529, 0.238, 0.226, 0.153, 0.048, 0.546, 0.342, 0.117, 0.144, 0.012, 0.022,
                      0.324, 0.010, 0.000, 0.019, 0.060, 0.118),
          sea=(-0.96, 0.29)),
    _Tile("29SND", "Portugal", 32831,
          products=(("S2A_MSIL2A_20170704T112111_N9999_R037", "S1B_IW_GRDH_1SDV_20170701T182622", 0.25, 0.0, 0.0),
                    ("S2A_MSIL2A_20171121T112351_N9999_R037", "S1B_IW_GRDH_1SDV_20171121T064205", 0.25, 0.0, 0.0),
                    ("S2A_MSIL2A_20171221T112501_N9999_R037", "S1B_IW_GRDH_1SDV_20171222T063355", 0.25, 0.0, 0.0),
                    ("S2B_MSIL2A_20180515T112109_N9999_R037", "S1B_IW_GRDH_1SDV_20180515T063356", 0.25, 0.0, 0.0)),
          prevalence=(0.139, 0.033, 0.379, 0.327, 0.093, 0.317, 0.267, 0.299, 0.500, 0.120, 0.271, 0.021, 0.093,
                      0.515, 0.004, 0.002, 0.003, 0.062, 0.006),
          sea=(-0.75, 0.67)),
    _Tile("29UPU", "Ireland", 32539,
          products=(("S2A_MSIL2A_20170617T113321_N9999_R080", "S1A_IW_GRDH_1SDV_20170617T064724", 0.25, 0.0, 0.003),
                    ("S2A_MSIL2A_20180225T114351_N9999_R123", "S1B_IW_GRDH_1SDV_20180225T063817", 0.25, 0.001, 0.084),
                    ("S2B_MSIL2A_20171112T114339_N9999_R123", "S1B_IW_GRDH_1SDV_20171112T181343", 0.25, 0.0, 0.239),
                    ("S2B_MSIL2A_20180421T114349_N9999_R123", "S1A_IW_GRDH_1SDV_20180420T063917", 0.25, 0.0, 0.014)),
          prevalence=(0.071, 0.010, 0.405, 0.000, 0.769, 0.074, 0.101, 0.000, 0.067, 0.210, 0.093, 0.017, 0.064,
                      0.115, 0.005, 0.084, 0.002, 0.022, 0.182),
          sea=(0.97, 0.24)),
    _Tile("35VNJ", "Finland", 24735,
          products=(("S2A_MSIL2A_20171101T094131_N9999_R036", "S1B_IW_GRDH_1SDV_20171101T153951", 0.33, 0.450, 0.011),
                    ("S2B_MSIL2A_20180204T094159_N9999_R036", "S1A_IW_GRDH_1SDV_20180204T043318", 0.33, 0.865, 0.006),
                    ("S2B_MSIL2A_20180515T094029_N9999_R036", "S1B_IW_GRDH_1SDV_20180517T154802", 0.33, 0.0, 0.0)),
          prevalence=(0.023, 0.007, 0.123, 0.000, 0.000, 0.000, 0.201, 0.000, 0.093, 0.856, 0.794, 0.000, 0.000,
                      0.349, 0.000, 0.037, 0.000, 0.706, 0.000)),
    _Tile("34WFS", "Finland", 27880,
          products=(("S2A_MSIL2A_20180228T101021_N9999_R022", "S1A_IW_GRDH_1SDV_20180228T154921", 0.25, 0.983, 0.0),
                    ("S2B_MSIL2A_20170817T101019_N9999_R022", "S1B_IW_GRDH_1SDV_20170817T045612", 0.25, 0.0, 0.001),
                    ("S2B_MSIL2A_20170906T101019_N9999_R022", "S1A_IW_GRDH_1SDV_20170906T155749", 0.25, 0.0, 0.004),
                    ("S2B_MSIL2A_20180521T100029_N9999_R122", "S1A_IW_GRDH_1SDV_20180521T044858", 0.25, 0.0, 0.004)),
          prevalence=(0.045, 0.009, 0.336, 0.000, 0.006, 0.000, 0.225, 0.000, 0.056, 0.620, 0.582, 0.000, 0.000,
                      0.368, 0.000, 0.081, 0.004, 0.041, 0.334),
          mask=(".....########", ".....########", "....#########", "....#########", "...##########",
                "...##########", "..###########", ".############", "#############", "#############",
                "#############", "#############", "#############"),
          sea=(-0.96, -0.28)),
    _Tile("34TEP", "Serbia", 24666,
          products=(("S2B_MSIL2A_20170914T093029_N9999_R136", "S1A_IW_GRDH_1SDV_20170914T162451", 0.33, 0.0, 0.0),
                    ("S2B_MSIL2A_20180201T093219_N9999_R136", "S1B_IW_GRDH_1SDV_20180130T162407", 0.33, 0.174, 0.014),
                    ("S2B_MSIL2A_20180502T093039_N9999_R136", "S1A_IW_GRDH_1SDV_20180430T162450", 0.33, 0.0, 0.002)),
          prevalence=(0.191, 0.015, 0.317, 0.027, 0.068, 0.586, 0.690, 0.000, 0.789, 0.025, 0.050, 0.111, 0.000,
                      0.383, 0.001, 0.008, 0.000, 0.035, 0.000)),
    _Tile("34TCR", "Serbia", 19454,
          products=(("S2A_MSIL2A_20170803T094031_N9999_R036", "S1A_IW_GRDH_1SDV_20170802T163350", 0.25, 0.0, 0.0),
                    ("S2A_MSIL2A_20171002T094031_N9999_R036", "S1B_IW_GRDH_1SDV_20170929T045327", 0.25, 0.0, 0.0),
                    ("S2A_MSIL2A_20180430T094031_N9999_R036", "S1B_IW_GRDH_1SDV_20180429T163254", 0.25, 0.0, 0.0),
                    ("S2B_MSIL2A_20171206T094349_N9999_R036", "S1B_IW_GRDH_1SDV_20171206T163254", 0.25, 0.0, 0.0)),
          prevalence=(0.187, 0.051, 0.928, 0.025, 0.089, 0.188, 0.124, 0.000, 0.178, 0.000, 0.005, 0.007, 0.000,
                      0.162, 0.000, 0.053, 0.000, 0.124, 0.000),
          mask=("......#######", "....#########", "....#########", "....#########", ".....########",
                "....#########", ".....########", ".....########", ".....########", "......#######",
                "........#####", ".......######", "......#######")),
    _Tile("34UEG", "Lithuania", 13712,
          products=(("S2A_MSIL2A_20180413T095031_N9999_R079", "S1A_IW_GRDH_1SDV_20180413T161957", 0.50, 0.0, 0.001),
                    ("S2B_MSIL2A_20170930T095019_N9999_R079", "S1B_IW_GRDH_1SDV_20170929T045032", 0.50, 0.0, 0.0)),
          prevalence=(0.145, 0.033, 0.671, 0.017, 0.484, 0.466, 0.405, 0.000, 0.332, 0.371, 0.476, 0.004, 0.006,
                      0.280, 0.011, 0.048, 0.000, 0.065, 0.088),
          mask=("#############", "#############", "#############", "#############", "#############",
                "#############", "#############", "#############", "#############", "...##########",
                ".....########", ".......######", "............#"),
          sea=(-1.0, 0.05)),
    _Tile("31UER", "Belgium", 7709,
          products=(("S2B_MSIL2A_20170829T105019_N9999_R051", "S1A_IW_GRDH_1SDV_20170829T055029", 0.25, 0.0, 0.0),
                    ("S2B_MSIL2A_20171107T105229_N9999_R051", "S1B_IW_GRDH_1SDV_20171108T055808", 0.25, 0.0, 0.062),
                    ("S2B_MSIL2A_20180225T105019_N9999_R051", "S1A_IW_GRDH_1SDV_20180225T055027", 0.25, 0.0, 0.0),
                    ("S2B_MSIL2A_20180506T105029_N9999_R051", "S1A_IW_GRDH_1SDV_20180508T055029", 0.25, 0.0, 0.0)),
          prevalence=(0.718, 0.089, 0.710, 0.000, 0.616, 0.659, 0.280, 0.000, 0.527, 0.053, 0.126, 0.000, 0.036,
                      0.032, 0.000, 0.009, 0.000, 0.036, 0.000),
          mask=("...##########", ".....########", "......#######", ".........####", "..........###",
                "..........###", "..........###", "..........###", ".............", ".............",
                ".............", ".............", ".............")),
)

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
    from ..nomenclature import load_nomenclature

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


@cache
def _filters(size: int, scales: tuple[float, ...]) -> np.ndarray:
    """Gaussian low-pass transfer functions for :func:`_smooth_fields`, shape (len(scales), size, size//2+1)."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    k2 = fx ** 2 + fy ** 2
    out = np.stack([np.exp(-2 * np.pi ** 2 * s ** 2 * k2) for s in scales])
    out.setflags(write=False)
    return out


def _smooth_fields(rng: np.random.Generator, scales: tuple[float, ...], size: int, pad: int) -> np.ndarray:
    """Gaussian random fields with the given correlation lengths, each zero-mean, unit std.

    Parameters
    ----------
    rng : Generator
    scales : tuple of float
        Correlation length (pixels or cells) of each field.
    size : int
        Output side.
    pad : int
        Side of the FFT grid (>= size; larger avoids the wrap-around of long fields).

    Returns
    -------
    ndarray of float64, shape (len(scales), size, size)
    """
    noise = _unit_noise(rng, (len(scales), pad, pad))
    f = np.fft.irfft2(np.fft.rfft2(noise) * _filters(pad, scales), s=(pad, pad))[:, :size, :size]
    f -= f.mean(axis=(1, 2), keepdims=True)
    f /= f.std(axis=(1, 2), keepdims=True) + 1e-12
    return f


def _patch_fields(rng: np.random.Generator) -> np.ndarray:
    """The per-patch smooth fields, shape (10, 3600), each zero-mean unit-std: drawn at 20 m and upsampled (linear)."""
    coarse = _smooth_fields(rng, tuple(s / 2 for s in _SCALES_COARSE), SIZE // 2, 32)
    up = _upsampler()
    # the two finest (~2 and ~1.5 px) by two / one passes of the [0.2, 0.6, 0.2] blur over white noise
    white = _unit_noise(rng, (2, SIZE, SIZE))
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


def _unit_noise(rng: np.random.Generator, shape) -> np.ndarray:
    """Zero-mean, unit-variance float32 noise (uniform: ~5x cheaper than normal; blurred fields become Gaussian)."""
    return (rng.random(shape, dtype=np.float32) - np.float32(0.5)) * np.float32(12 ** 0.5)


def _logit(p):
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


@lru_cache(maxsize=2 * len(_TILES))
def _landscape(seed: int, ti: int) -> np.ndarray:
    """Area fractions of the 19 classes for the allowed cells of one tile, calibrated to its reBEN class shares.

    The calibration runs over all allowed cells (:func:`_allowed_cells`), so a cell's fractions do not depend
    on how many patches are drawn. Cached (read-only result) for the tiles of the last two seeds.

    Parameters
    ----------
    seed : int
    ti : int
        Tile index in ``_TILES`` (part of the random stream).

    Returns
    -------
    ndarray of float32, shape (n_cells, 19)
        Fractions summing to 1; classes below :data:`MIN_FRACTION` are set to 0 (then renormalised).
    """
    tile = _TILES[ti]
    cells = _allowed_cells(tile)
    rng = np.random.default_rng([seed, 0x4C414E44, ti])
    factors = _smooth_fields(rng, (_FACTOR_SCALE,) * 6, GRID, 128)
    if tile.sea is not None:   # a coast: ramp towards the real side of the sea, made irregular by the noise
        col, row = np.meshgrid(np.arange(GRID), np.arange(GRID))
        ramp = ((col - GRID / 2) * tile.sea[0] + (row - GRID / 2) * tile.sea[1]) / (GRID / 2)
        factors[4] = 2.2 * ramp + 0.6 * factors[4]
    own = _smooth_fields(rng, (_OWN_SCALE,) * N_CLASSES, GRID, 128)
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


def _allowed_cells(tile: _Tile) -> np.ndarray:
    """Cells (``row * GRID + col``) where reBEN has patches of this tile."""
    if tile.mask is None:
        return np.arange(GRID * GRID)
    block = np.array([[ch == "#" for ch in r] for r in tile.mask])
    rows, cols = np.divmod(np.arange(GRID * GRID), GRID)
    return np.flatnonzero(block[rows // 7, cols // 7])


#: the most patches a demo can have: one per reBEN grid cell of the demo tiles (``_allowed_cells``; a test
#: checks the count)
MAX_PATCHES = 87_073


# ---------------------------------------------------------------------------------------------- the dataset
class DemoDataset(PatchDataset):
    """Generated reBEN-like demo dataset with known label errors (no files needed).

    Parameters
    ----------
    root : ignored
        Kept for the :class:`PatchDataset` signature; the demo reads only ``data/demo/spectra.json``.
    n : int
        Number of patches (>= 1; at most :data:`MAX_PATCHES`, the 87,073 reBEN grid cells of the 12 tiles).
    seed : int
        Random seed; the same seed gives the same catalog and pixels.
    noise_rate : float
        Fraction of patches with corrupted labels, ``0 <= noise_rate < 0.5``.

    Notes
    -----
    The catalog has the usual columns plus the ground truth ``gt_labels`` (list of true class names),
    ``gt_label_error`` (bool) and ``gt_error_kind`` (``"none"``, ``"drop"``, ``"add"``, ``"swap"``), for
    evaluating detectors; detectors must read only ``labels``.
    """

    format = "demo"
    dataset = "eomine-demo"
    nomenclature_key = "ben19"
    groups = (
        BandGroup("s2_10m", ("B02", "B03", "B04", "B08"), 60, "uint16", 10.0, 0),
        BandGroup("s2_20m", ("B05", "B06", "B07", "B8A", "B11", "B12"), 30, "uint16", 20.0, 0),
        BandGroup("s2_60m", ("B01", "B09"), 10, "uint16", 60.0, 0),
        BandGroup("s1", ("VV", "VH"), 60, "float32", 10.0, None),
    )

    _parameter_constraints = {
        "n": [Interval(int, 1, MAX_PATCHES)],
        "seed": [SEED],
        "noise_rate": [Interval(float, 0, 0.5, closed="left")],
    }

    def __init__(self, root=None, *, n: int = 6000, seed: int = 0, noise_rate: float = 0.08):
        super().__init__(root, metadata_only=False)
        self.n = n
        self.seed = seed
        self.noise_rate = noise_rate
        self._spectra: _Spectra | None = None
        self._lock = threading.Lock()

    def made_by(self) -> dict:
        return {"format": self.format, "source": "generated", "metadata_only": False, "n": int(self.n),
                "seed": int(self.seed), "noise_rate": float(self.noise_rate), "generator": GENERATOR_VERSION}

    # ------------------------------------------------------------------ scan
    def _validate(self) -> None:
        validate_params(self)

    def _tables(self) -> _Spectra:
        with self._lock:
            if self._spectra is None:
                self._spectra = load_spectra()
            return self._spectra

    def scan(self) -> tuple[pd.DataFrame, list[Issue]]:
        """Generate the catalog (one row per patch) plus the private ``tmp_*`` columns :meth:`read` needs.

        Returns
        -------
        catalog : DataFrame, n rows
            Catalog columns (without ``pixel_row``/``has_s2``/``has_s1``), ground truth ``gt_*`` columns and
            ``tmp_key``, ``tmp_classes``, ``tmp_fracs``, ``tmp_month``, ``tmp_sea``.
        issues : list of Issue
            Always empty (nothing can be missing).
        """
        self._validate()
        self._tables()
        names = self.nomenclature.classes
        seed = int(self.seed)
        alloc = self._allocate(int(self.n))
        frames = []
        for ti, (tile, k) in enumerate(zip(_TILES, alloc, strict=True)):
            if k:
                frames.append(self._tile_rows(seed, ti, tile, k))
        df = pd.concat(frames, ignore_index=True)
        df = self._inject_errors(df, seed)
        df["labels"] = [[names[c] for c in cs] for cs in df["tmp_labels"]]
        df["gt_labels"] = [[names[c] for c in cs] for cs in df["tmp_classes"]]
        df = df.drop(columns=["tmp_labels"])
        epsg = np.array([utm_epsg(t) for t in df["tile"]])
        geo = _geometry_frame(df["tile"].to_numpy(), df["x_min"].to_numpy(float), df["y_min"].to_numpy(float),
                              df["x_max"].to_numpy(float), df["y_max"].to_numpy(float), epsg)
        for c in ("crs", "lon", "lat", "lon_min", "lat_min", "lon_max", "lat_max"):
            df[c] = geo[c].to_numpy()
        cols = ["patch_id", "dataset", "split", "labels", "lon", "lat", "x_min", "y_min", "x_max", "y_max",
                "lon_min", "lat_min", "lon_max", "lat_max", "crs", "tile", "acquired", "country",
                "cloud_or_shadow", "seasonal_snow", "s1_id", "source", "gt_labels", "gt_label_error",
                "gt_error_kind", "tmp_key", "tmp_classes", "tmp_fracs", "tmp_month", "tmp_sea"]
        return df[cols], []

    @staticmethod
    def _allocate(n: int) -> np.ndarray:
        """Patches per tile: proportional to sqrt(reBEN patches), capped by the tile's cells (largest remainder)."""
        cap = np.array([len(_allowed_cells(t)) for t in _TILES])
        w = np.sqrt([t.n_reben for t in _TILES])
        out = np.zeros(len(_TILES), dtype=int)
        left = n
        open_ = cap > 0
        while left > 0:
            share = np.where(open_, w, 0.0)
            raw = left * share / share.sum()
            add = np.minimum(np.floor(raw).astype(int), cap - out)
            rem = left - add.sum()
            order = np.argsort(-(raw - np.floor(raw)), kind="stable")
            for i in order:
                if rem <= 0:
                    break
                if open_[i] and out[i] + add[i] < cap[i]:
                    add[i] += 1
                    rem -= 1
            out += add
            left = n - out.sum()
            open_ = out < cap
        return out

    def _tile_rows(self, seed: int, ti: int, tile: _Tile, k: int) -> pd.DataFrame:
        """The first ``k`` cells of the tile's fixed random cell order, with their labels and acquisitions."""
        cells = _allowed_cells(tile)
        fracs = _landscape(seed, ti)
        rng = np.random.default_rng([seed, 0x43454C4C, ti])
        order = rng.permutation(len(cells))
        # per-cell draws for every allowed cell (so a patch does not depend on n)
        w = np.array([p[2] for p in tile.products])
        product = rng.choice(len(tile.products), size=len(cells), p=w / w.sum())
        u_snow = rng.random(len(cells))
        u_cloud = rng.random(len(cells))
        u_split = np.random.default_rng([seed, 0x53504C54, ti]).random((GRID // SPLIT_BLOCK + 1) ** 2)
        sel = order[:k]
        cell = cells[sel]
        row, col = np.divmod(cell, GRID)
        prod = product[sel]
        snow_rate = np.array([p[3] for p in tile.products])[prod] * SNOW_SCALE
        cloud_rate = CLOUD_BASE + CLOUD_SCALE * np.array([p[4] for p in tile.products])[prod]
        stamps = pd.Series(np.array([p[0] for p in tile.products])[prod]).str.extract(r"_MSIL2A_(\d{8}T\d{6})_")[0]
        acquired = pd.to_datetime(stamps, format="%Y%m%dT%H%M%S", utc=True)
        winter = acquired.dt.month.isin([11, 12, 1, 2, 3]).to_numpy()   # seasonal snow: winter scenes only
        snow = (u_snow[sel] < snow_rate) & winter
        cloud = u_cloud[sel] < cloud_rate
        block = (row // SPLIT_BLOCK) * (GRID // SPLIT_BLOCK + 1) + col // SPLIT_BLOCK
        us = u_split[block]
        split = np.where(us < SPLITS[0][1], SPLITS[0][0],
                         np.where(us < SPLITS[0][1] + SPLITS[1][1], SPLITS[1][0], SPLITS[2][0]))
        x0, y0 = tile_origin(tile.tile)
        x_min = x0 + 1200.0 * col
        y_max = y0 - 1200.0 * row
        s2 = np.array([p[0] for p in tile.products])[prod]
        s1 = np.array([p[1] for p in tile.products])[prod]
        f = fracs[sel]
        classes = [np.flatnonzero(r).tolist() for r in f]
        fr = [r[np.flatnonzero(r)].astype(float).tolist() for r in f]
        sea = np.arctan2(tile.sea[1], tile.sea[0]) if tile.sea is not None else np.nan
        return pd.DataFrame({
            "patch_id": [f"DEMO_{p}_T{tile.tile}_{c}_{r}" for p, c, r in zip(s2, col, row, strict=True)],
            "dataset": self.dataset, "split": split, "tile": tile.tile, "country": tile.country,
            "x_min": x_min, "y_min": y_max - 600.0, "x_max": x_min + 600.0, "y_max": y_max,
            "acquired": acquired.reset_index(drop=True), "cloud_or_shadow": cloud, "seasonal_snow": snow,
            "s1_id": [f"DEMO_{p}_{tile.tile}_{c}_{r}" for p, c, r in zip(s1, col, row, strict=True)],
            "source": "generated",
            "tmp_key": ti * GRID * GRID + cell, "tmp_classes": classes, "tmp_fracs": fr,
            "tmp_month": acquired.dt.month.to_numpy(), "tmp_sea": sea,
            "tmp_prevalence": [tile.prevalence] * k,
        })

    def _inject_errors(self, df: pd.DataFrame, seed: int) -> pd.DataFrame:
        """Corrupt exactly ``round(noise_rate * n)`` patches' labels; record the truth in ``gt_*``."""
        n = len(df)
        n_bad = int(round(float(self.noise_rate) * n))
        rng = np.random.default_rng([seed, 0x4E4F4953])
        bad = np.zeros(n, dtype=bool)
        bad[rng.choice(n, size=n_bad, replace=False)] = True
        kinds = np.full(n, "none", dtype=object)
        labels = []
        for i, (true, prev) in enumerate(zip(df["tmp_classes"], df["tmp_prevalence"], strict=True)):
            if not bad[i]:
                labels.append(list(true))
                continue
            kind = str(rng.choice(_ERROR_KINDS, p=_ERROR_P))
            if kind == "drop" and len(true) < 2:
                kind = "add" if rng.random() < _ERROR_P[1] / (_ERROR_P[1] + _ERROR_P[2]) else "swap"
            absent = np.setdiff1d(np.arange(N_CLASSES), true)
            prev = np.asarray(prev, dtype=np.float64)
            if kind == "drop":
                gone = true[int(rng.integers(len(true)))]
                new = [c for c in true if c != gone]
            elif kind == "add":   # a class plausible in this tile but absent from the patch
                w = prev[absent] + 0.002
                new = sorted([*true, int(rng.choice(absent, p=w / w.sum()))])
            else:                 # swap one true label for a confusable class that is not there
                old = true[int(rng.integers(len(true)))]
                cands = [c for c in _CONFUSIONS[old] if c not in true]
                if not cands:
                    w = prev[absent] + 0.002
                    cands = [int(rng.choice(absent, p=w / w.sum()))]
                new = sorted([c for c in true if c != old] + [int(cands[int(rng.integers(len(cands)))])])
            labels.append(new)
            kinds[i] = kind
        df = df.drop(columns=["tmp_prevalence"])
        df["tmp_labels"] = labels
        df["gt_label_error"] = bad
        df["gt_error_kind"] = kinds.astype(str)
        return df

    # ------------------------------------------------------------------ pixels
    def read(self, row) -> dict[str, np.ndarray]:
        """Generate one patch's pixels (deterministic in ``seed`` and the patch, whatever the call order).

        Parameters
        ----------
        row : namedtuple
            A ``catalog.itertuples()`` record of :meth:`scan`'s frame.

        Returns
        -------
        dict
            ``s2_10m`` uint16 (4, 60, 60) B02 B03 B04 B08; ``s2_20m`` uint16 (6, 30, 30) B05 B06 B07 B8A B11 B12;
            ``s2_60m`` uint16 (2, 10, 10) B01 B09 (L2A reflectance x 10000, 1..10000); ``s1`` float32
            (2, 60, 60) VV, VH backscatter in dB.
        """
        sp = self._tables()
        rng = np.random.default_rng([int(self.seed), 0x50495853, int(row.tmp_key)])
        s2, s1 = _render(sp, rng, np.asarray(row.tmp_classes, dtype=np.intp),
                         np.asarray(row.tmp_fracs, dtype=np.float64), int(row.tmp_month), bool(row.seasonal_snow),
                         bool(row.cloud_or_shadow), float(row.tmp_sea), float(row.lat))
        return {
            "s2_10m": s2[[1, 2, 3, 7]],
            "s2_20m": _block_mean(s2[[4, 5, 6, 8, 10, 11]], 2),
            "s2_60m": _block_mean(s2[[0, 9]], 6),
            "s1": s1,
        }


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
    bands_white = _unit_noise(rng, (npx, 12))
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
    img += _unit_noise(rng, img.shape) * (0.008 * np.abs(img) + 5.0)
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
