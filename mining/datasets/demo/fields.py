"""Random fields of the demo generator: smooth Gaussian fields (FFT low-pass) and cheap unit noise.

Shared by the landscape (fields on the 91 x 91 cells of a tile) and the pixels (fields on a 60 x 60 patch).
"""

from __future__ import annotations

from functools import cache

import numpy as np

__all__ = ["smooth_fields", "unit_noise"]


@cache
def _filters(size: int, scales: tuple[float, ...]) -> np.ndarray:
    """Gaussian low-pass transfer functions for :func:`smooth_fields`, shape (len(scales), size, size//2+1)."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    k2 = fx ** 2 + fy ** 2
    out = np.stack([np.exp(-2 * np.pi ** 2 * s ** 2 * k2) for s in scales])
    out.setflags(write=False)
    return out


def smooth_fields(rng: np.random.Generator, scales: tuple[float, ...], size: int, pad: int) -> np.ndarray:
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
    noise = unit_noise(rng, (len(scales), pad, pad))
    f = np.fft.irfft2(np.fft.rfft2(noise) * _filters(pad, scales), s=(pad, pad))[:, :size, :size]
    f -= f.mean(axis=(1, 2), keepdims=True)
    f /= f.std(axis=(1, 2), keepdims=True) + 1e-12
    return f


def unit_noise(rng: np.random.Generator, shape) -> np.ndarray:
    """Zero-mean, unit-variance float32 noise (uniform: ~5x cheaper than normal; blurred fields become Gaussian)."""
    return (rng.random(shape, dtype=np.float32) - np.float32(0.5)) * np.float32(12 ** 0.5)
