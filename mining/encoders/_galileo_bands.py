"""Galileo's input channels: the channel groups of the model, the pixel-store bands each needs, band names and the
8-bit gains (no torch here). See :mod:`mining.encoders.galileo` for how each dataset maps onto the groups."""

from __future__ import annotations

import re

__all__ = ["CHANNELS", "GROUPS", "GROUP_BANDS", "SPACE_GROUPS", "TIME_GROUPS", "STATIC_GROUPS", "RGB8_GAIN",
           "RGB8_GAIN_OTHER", "canonical_band", "default_patch_size", "group_names", "groups_of_bands"]

#: the 13 space-time input channels, in the model's order (``normalization.json["13"]`` follows it)
CHANNELS = ("VV", "VH", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "NDVI")
#: space-time channel groups in the model's order (the rows of ``s_t_channel_embed``)
GROUPS: dict[str, tuple[str, ...]] = {
    "S1": ("VV", "VH"), "S2_RGB": ("B02", "B03", "B04"), "S2_Red_Edge": ("B05", "B06", "B07"),
    "S2_NIR_10m": ("B08",), "S2_NIR_20m": ("B8A",), "S2_SWIR": ("B11", "B12"), "NDVI": ("NDVI",)}
#: pixel-store bands each group needs (NDVI is computed from B04 and B08)
GROUP_BANDS: dict[str, tuple[str, ...]] = {**GROUPS, "NDVI": ("B04", "B08")}
#: the model's other inputs (no eomine workspace has them: loaded so that the weights match strictly, never used)
SPACE_GROUPS = {"SRTM": 2, "DW": 9, "WC": 5}
TIME_GROUPS = {"ERA5": 2, "TC": 3, "VIIRS": 1}
STATIC_GROUPS = {"LS": 1, "location": 3, "DW_static": 9, "WC_static": 5}

#: 8-bit rendering -> reflectance x 10,000, measured on the EuroSAT RGB / MS twins (tools/fit_rgb8.py)
RGB8_GAIN = {"B04": 10.790, "B03": 10.755, "B02": 10.734}
RGB8_GAIN_OTHER = 10.76


def canonical_band(name: str) -> str | None:
    """The band name Galileo's tables use for a pixel-store band name.

    Parameters
    ----------
    name : str
        A band name as stored (``B2``, ``b02``, ``B8a``, ``vv``, ...).

    Returns
    -------
    str or None
        ``B02``, ``B8A``, ``VV`` ...; None for a name that is no Sentinel-1/2 band.

    Examples
    --------
    >>> [canonical_band(b) for b in ("B2", "b8a", " vh ", "band1")]
    ['B02', 'B8A', 'VH', None]
    """
    s = str(name).strip().upper()
    if s in ("VV", "VH"):
        return s
    m = re.fullmatch(r"B0?(\d{1,2})(A?)", s)
    if not m:
        return None
    return f"B{int(m.group(1))}A" if m.group(2) else f"B{int(m.group(1)):02d}"


def groups_of_bands(bands) -> list[str]:
    """The Sentinel-1/2 channel groups (not NDVI) whose bands are all among ``bands``.

    Parameters
    ----------
    bands : iterable of str
        Pixel-store band names, in any of the spellings :func:`canonical_band` reads.

    Examples
    --------
    >>> groups_of_bands(["B2", "B3", "B4", "B8"])
    ['S2_RGB', 'S2_NIR_10m']
    >>> groups_of_bands(["B01", "B09"])
    []
    """
    have = {canonical_band(b) for b in bands}
    return [g for g, need in GROUP_BANDS.items() if g != "NDVI" and all(b in have for b in need)]


def default_patch_size(size: int) -> int:
    """Pixels per token side for ``size``-pixel patches: ``min(8, size // 8)``, at least 1 (about 8 tokens a side).

    Examples
    --------
    >>> [default_patch_size(s) for s in (120, 64, 60, 32, 5)]
    [8, 8, 7, 4, 1]
    """
    return max(1, min(8, int(size) // 8))


def group_names(value: str | list[str] | tuple[str, ...] | None) -> list[str] | None:
    """The group names of a ``groups`` parameter, or None for ``"auto"`` / None (every group the data has).

    Parameters
    ----------
    value : str, list of str or None
        ``"auto"``, a list of names, or one comma-separated string of names. The names are not checked here.

    Returns
    -------
    list of str or None

    Examples
    --------
    >>> group_names("S2_RGB, S2_SWIR")
    ['S2_RGB', 'S2_SWIR']
    >>> group_names("auto") is None
    True
    """
    if value is None or value == "auto":
        return None
    if isinstance(value, str):
        return [s.strip() for s in value.split(",")]
    return [str(s) for s in value]
