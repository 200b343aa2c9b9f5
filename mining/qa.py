"""One QA class per patch from the scene classification layer's fractions (``eomine ingest --format scene``).

The rule (colour-by "Scene QA" in the dashboard): a patch's class is the condition that covers the largest share
of it among ``cloud`` (SCL 8, 9), ``cirrus`` (10), ``shadow`` (3), ``snow`` (11), ``water`` (6) and ``nodata``
(0), provided that share is at least ``min_share`` (5 % by default); otherwise it is ``clear``. Ties go to the
condition listed first. A patch without QA fractions (not cut from an L2A scene) is ``no QA``.

So a patch 60 % cirrus and 40 % cloud is ``cirrus``, one 3 % cloud is ``clear`` (the reBEN flag
``cloud_or_shadow``, any such pixel, still marks it), one 30 % water and 10 % cloud is ``water``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["QA_COLUMNS", "QA_NAMES", "QA_COLORS", "QA_MIN_SHARE", "has_qa", "qa_codes"]

#: the SCL fractions, in the order ties are broken
QA_COLUMNS = ("qa_cloud", "qa_cirrus", "qa_shadow", "qa_snow", "qa_water", "qa_nodata")
#: the classes: clear, then one per fraction, then "no QA"
QA_NAMES = ("clear", "cloud", "cirrus", "shadow", "snow", "water", "nodata", "no QA")
QA_COLORS = ("#9aa5b1", "#6a3d9a", "#b07cd8", "#3f3f3f", "#00bcd4", "#1f78b4", "#e31a1c", "#e4e7eb")
#: a condition names the patch when it covers at least this share of it
QA_MIN_SHARE = 0.05


def has_qa(cat) -> bool:
    """Whether the catalog has the SCL fractions (all of :data:`QA_COLUMNS`, the cloud share known for at least one
    patch: an L1C scene without SCL has only its nodata share)."""
    return all(c in cat.columns for c in QA_COLUMNS) and bool(cat["qa_cloud"].notna().any())


def qa_codes(cat, min_share: float = QA_MIN_SHARE) -> np.ndarray:
    """The QA class of every patch, as an index into :data:`QA_NAMES`.

    Parameters
    ----------
    cat : pandas.DataFrame
        A catalog with the columns of :data:`QA_COLUMNS` (NaN where unknown); without them every patch is
        ``no QA``.
    min_share : float
        The least share of the patch the dominant condition must cover.

    Returns
    -------
    ndarray of int16, shape (n,)
    """
    n = len(cat)
    if not all(c in cat.columns for c in QA_COLUMNS):
        return np.full(n, len(QA_NAMES) - 1, np.int16)
    f = np.stack([cat[c].to_numpy(np.float64) for c in QA_COLUMNS], axis=1)
    known = np.isfinite(f).any(1)
    f = np.nan_to_num(f, nan=0.0)
    top = f.argmax(1)  # the first of equal shares
    codes = np.where(f[np.arange(n), top] >= min_share, top + 1, 0)
    codes[~known] = len(QA_NAMES) - 1
    return codes.astype(np.int16)
