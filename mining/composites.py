"""Band composites of one patch: true / false colour, SWIR, spectral indices and Sentinel-1.

Colour composites use a robust linear stretch whose range comes from DATASET-level percentiles
(``pixels/stats.json``, measured at ingest), so two patches look comparable: a dark patch stays dark.
20 m and 60 m bands are resampled (nearest neighbour) to the 10 m grid. Nodata pixels (0 in S2, NaN in
S1 or an index with a zero denominator) are transparent in the output (alpha 0), never a fake colour.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache

import numpy as np

from ._internal.validation import Interval, describe, satisfies, validate_params
from .errors import DataError, ParameterError

__all__ = ["Composite", "COMPOSITES", "CompositeRenderer", "available_composites", "PNG_SIZE"]

#: side of a PNG from :meth:`CompositeRenderer.png` (4096 x 4096 RGBA is 64 MB before compression)
PNG_SIZE = Interval(int, 1, 4096)


@dataclass(frozen=True)
class Composite:
    """How to draw one composite.

    Parameters
    ----------
    name : str
        Identifier (``true_color``, ``ndvi`` ...).
    title : str
        Human-readable name.
    kind : {"rgb", "index", "s1"}
        ``rgb``: three bands stretched to R, G, B. ``index``: normalised difference ``(a-b)/(a+b)`` of two bands
        drawn through a colour map over ``vrange``. ``s1``: VV, VH and VV/VH (dB difference) as R, G, B.
    bands : tuple of str
    cmap : str, optional
        colorcet palette for ``index`` composites (``_r`` suffix reverses it).
    shared_range : bool
        Stretch the three bands with one common range (keeps the natural colour balance of true colour).
    vrange : (float, float)
        Index values mapped to the two ends of the colour map.
    """

    name: str
    title: str
    kind: str
    bands: tuple[str, ...]
    cmap: str | None = None
    shared_range: bool = False
    vrange: tuple[float, float] = (-1.0, 1.0)


COMPOSITES: dict[str, Composite] = {c.name: c for c in (
    Composite("true_color", "True colour (B04, B03, B02)", "rgb", ("B04", "B03", "B02"), shared_range=True),
    Composite("false_color", "False colour (B08, B04, B03)", "rgb", ("B08", "B04", "B03")),
    Composite("swir", "SWIR (B12, B8A, B04)", "rgb", ("B12", "B8A", "B04")),
    Composite("ndvi", "NDVI (B08-B04)/(B08+B04)", "index", ("B08", "B04"), cmap="CET_D13"),
    Composite("ndwi", "NDWI (B03-B08)/(B03+B08)", "index", ("B03", "B08"), cmap="bwy_r", vrange=(-0.8, 0.6)),
    Composite("moisture", "Moisture (B8A-B11)/(B8A+B11)", "index", ("B8A", "B11"), cmap="bjy_r",
              vrange=(-0.5, 0.6)),
    Composite("s1", "Sentinel-1 (VV, VH, VV/VH)", "s1", ("VV", "VH")),
)}


@cache
def _lut(name: str) -> np.ndarray:
    """256 x 3 uint8 lookup table of a colorcet palette."""
    import colorcet

    rev = name.endswith("_r")
    pal = colorcet.palette[name.removesuffix("_r")]
    lut = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in pal], dtype=np.uint8)
    if len(lut) != 256:
        lut = lut[np.linspace(0, len(lut) - 1, 256).round().astype(int)]
    return lut[::-1].copy() if rev else lut


def available_composites(bands) -> list[str]:
    """Composites whose bands are all present in ``bands``."""
    bands = set(bands)
    return [n for n, c in COMPOSITES.items() if set(c.bands) <= bands]


class CompositeRenderer:
    """Render composites of patches from a workspace's pixel store.

    Parameters
    ----------
    low, high : float
        Dataset percentiles (from ``pixels/stats.json``) mapped to black and white; 2 and 98 by default.
    gamma : float
        Display gamma applied to the reflectance composites after the linear stretch (1 = none). The default
        1.8 lifts typical land (median reflectance ~15 % of the p2-p98 range, which clouds, snow and towns
        stretch) into the visible mid-tones; it is monotonic, so patches stay comparable.

    Attributes
    ----------
    ranges_ : dict of str -> (float, float)
        Stretch range per band, set by :meth:`fit`.
    composites_ : list of str
        Composites this workspace can draw.
    """

    _parameter_constraints = {
        "low": [Interval(float, 0, 100)],   # and below high
        "high": [Interval(float, 0, 100)],
        "gamma": [Interval(float, 0, None, closed="neither")],
    }
    _upscale = [PNG_SIZE, None]

    def __init__(self, *, low: float = 2.0, high: float = 98.0, gamma: float = 1.8):
        self.low = low
        self.high = high
        self.gamma = gamma

    def fit(self, store) -> CompositeRenderer:
        """Read the dataset-level percentiles of ``store`` (a :class:`~mining.store.PixelStore`)."""
        validate_params(self)
        if self.high <= self.low:
            raise ParameterError("high", f"above low ({self.low:g})", self.high, owner=type(self).__name__)
        lo_key, hi_key = f"p{self.low:g}", f"p{self.high:g}"
        self.ranges_ = {}
        for band, st in store.stats.items():
            if lo_key not in st or hi_key not in st:
                raise ValueError(f"pixels/stats.json has no {lo_key}/{hi_key} for band {band}")
            lo, hi = st[lo_key], st[hi_key]
            self.ranges_[band] = (lo, hi if hi > lo else lo + 1.0)
        self.store_ = store
        self.composites_ = available_composites(store.bands)
        return self

    def render(self, row: int, name: str, *, size: int | None = None) -> np.ndarray:
        """One composite of the patch at pixel-store ``row``.

        Returns
        -------
        ndarray of uint8, shape (size, size, 4)
            RGBA; alpha is 0 on nodata pixels.
        """
        comp = self._composite(name)
        x = self.store_.read(row, comp.bands, size=size or self.store_.max_size)
        if comp.kind != "index" and np.isnan(x).all():
            what = "Sentinel-1 pair" if comp.kind == "s1" else "valid pixels"
            raise DataError(f"pixel row {row} has no {what} for composite {name!r}")
        return self._colour(x[None], comp)[0]

    def render_many(self, rows, name: str, size: int) -> np.ndarray:
        """One composite of many patches at once, each resampled (nearest neighbour) to ``size`` x ``size``.

        Only the pixels the output samples are read (one fancy index of the memory-mapped store per band), so a
        batch of quicklooks smaller than the patches costs about their output pixels, not the patches' pixels.
        Unlike :meth:`render`, a patch without valid pixels is not an error: it is transparent.

        Parameters
        ----------
        rows : array-like of int, shape (B,)
            Pixel-store rows (``catalog.pixel_row``), in any order.
        name : str
            A composite this workspace can draw (:attr:`composites_`).
        size : int
            Output side in pixels.

        Returns
        -------
        ndarray of uint8, shape (B, size, size, 4)
            RGBA; alpha is 0 on nodata pixels.
        """
        comp = self._composite(name)
        rows = np.asarray(rows, np.int64).ravel()
        size = int(size)
        if size < 1:
            raise ParameterError("size", "a positive number of pixels", size, owner=type(self).__name__)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.store_.n_rows):
            raise IndexError(f"pixel rows outside 0..{self.store_.n_rows - 1}")
        order = np.argsort(rows, kind="stable")  # the memory map is read in row order
        x = np.empty((len(rows), len(comp.bands), size, size), np.float32)
        for i, b in enumerate(comp.bands):
            g = self.store_.groups[self.store_.band_group[b]]
            idx = (np.arange(size) * g.size // size).astype(np.intp)
            a = self.store_.array(g.name)[np.ix_(rows[order], [g.bands.index(b)], idx, idx)][:, 0]
            v = a.astype(np.float32)
            if g.nodata is not None:
                v[a == g.nodata] = np.nan
            x[order, i] = v
        return self._colour(x, comp)

    def _composite(self, name: str) -> Composite:
        if name not in COMPOSITES:
            raise ValueError(f"unknown composite {name!r} (choose from {', '.join(COMPOSITES)})")
        if name not in self.composites_:
            missing = [b for b in COMPOSITES[name].bands if b not in self.store_.band_group]
            raise DataError(f"composite {name!r} needs band(s) {', '.join(missing)}, absent from this workspace")
        return COMPOSITES[name]

    def _colour(self, x: np.ndarray, comp: Composite) -> np.ndarray:
        """Raw band values (B, n_bands, h, w) float32, NaN = nodata -> RGBA (B, h, w, 4) uint8."""
        if comp.kind == "index":
            a, b = x[:, 0], x[:, 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                v = (a - b) / (a + b)
            valid = np.isfinite(v)
            v0, v1 = comp.vrange
            idx = np.clip((np.nan_to_num(v) - v0) * (255.0 / (v1 - v0)) + 0.5, 0, 255).astype(np.uint8)
            rgb = _lut(comp.cmap)[idx]
        else:
            if comp.kind == "s1":
                x = np.stack([x[:, 0], x[:, 1], x[:, 0] - x[:, 1]], axis=1)  # dB: VV - VH is the VV/VH ratio
                ranges = [self.ranges_.get("VV", (-25.0, 0.0)), self.ranges_.get("VH", (-32.0, -5.0)), (0.0, 15.0)]
            elif comp.shared_range:
                lo = min(self.ranges_[b][0] for b in comp.bands)
                hi = max(self.ranges_[b][1] for b in comp.bands)
                ranges = [(lo, hi)] * 3
            else:
                ranges = [self.ranges_[b] for b in comp.bands]
            valid = np.isfinite(x).all(axis=1)
            lo = np.array([r[0] for r in ranges], dtype=np.float32)[:, None, None]
            hi = np.array([r[1] for r in ranges], dtype=np.float32)[:, None, None]
            y = np.clip((np.nan_to_num(x, nan=0.0) - lo) / (hi - lo), 0.0, 1.0)
            if self.gamma != 1.0 and comp.kind == "rgb":
                y = y ** (1.0 / self.gamma)
            rgb = (y * 255.0 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)
        alpha = np.where(valid, 255, 0).astype(np.uint8)
        return np.concatenate([rgb, alpha[..., None]], axis=-1)

    def png(self, row: int, name: str, *, size: int | None = None, upscale: int | None = None) -> bytes:
        """PNG bytes of :meth:`render` (optionally resized with nearest neighbour to ``upscale`` px, within
        :data:`PNG_SIZE`)."""
        from PIL import Image

        if not satisfies(self._upscale, upscale):
            raise ParameterError("upscale", describe(self._upscale), upscale, owner=type(self).__name__)

        img = Image.fromarray(self.render(row, name, size=size))
        if upscale and upscale != img.width:
            img = img.resize((upscale, upscale), Image.Resampling.NEAREST)
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()
