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
    patches carrying each class matches the real reBEN share of that tile (``data/demo/tiles.json``, measured
    on the official metadata), which also reproduces reBEN's ~3 labels per patch. Labels = classes covering
    >= 5 %.
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

Modules: :mod:`~mining.datasets.demo.landscape` (the tiles, read from ``data/demo/tiles.json``, and their
class fractions), :mod:`~mining.datasets.demo.pixels` (spectra and the rendering of one patch),
:mod:`~mining.datasets.demo.fields` (random fields) and :mod:`~mining.datasets.demo.dataset`
(:class:`DemoDataset`: catalog, label errors, pixels per patch).
"""

from .dataset import GENERATOR_VERSION, MAX_PATCHES, DemoDataset
from .landscape import TILES_PATH, load_tiles
from .pixels import SPECTRA_PATH, load_spectra

__all__ = ["DemoDataset", "SPECTRA_PATH", "TILES_PATH", "GENERATOR_VERSION", "MAX_PATCHES", "load_spectra",
           "load_tiles"]
