"""Rasterising points coloured by category: the one renderer of the dashboard's scatter and map and of the tour
export's layout image.

Categorical colouring is the hot path: the dashboard re-renders the viewport on every zoom / pan, and datashader's
multi-channel routes (``ds.by`` + stock ``tf.shade``, or a ``summary`` of four sums) build an
(height, width, n_classes) tensor and cost 70-160 ms at 549,488 points on the 2-core machine (measured
in bench/dashboard.py). Here one numba pass accumulates, per pixel, the point count and the sum of the
points' RGB colours (no per-class tensor); the image is their ratio, with an opacity that grows with the
log of the count. Density uses datashader's histogram equalisation of the count. Rendering runs in two
threads (the kernel releases the GIL).
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

__all__ = ["Viewport", "render_categorical", "rasterize_categorical", "shade_density", "spread", "hex_to_rgb",
           "encode_image", "image_uri"]


class Viewport:
    """A data-space window and the pixel grid it is drawn on.

    Parameters
    ----------
    x_range, y_range : (float, float)
    width, height : int
    """

    __slots__ = ("x_range", "y_range", "width", "height")

    def __init__(self, x_range, y_range, width: int, height: int):
        if width < 1 or height < 1 or width * height > 8_000_000:
            raise ValueError(f"bad image size {width}x{height}")
        x0, x1 = map(float, x_range)
        y0, y1 = map(float, y_range)
        if not (np.isfinite([x0, x1, y0, y1]).all() and x1 > x0 and y1 > y0):
            raise ValueError(f"bad viewport x={x_range} y={y_range}")
        self.x_range = (x0, x1)
        self.y_range = (y0, y1)
        self.width = int(width)
        self.height = int(height)

    def __repr__(self):
        return f"Viewport(x={self.x_range}, y={self.y_range}, {self.width}x{self.height})"


def hex_to_rgb(colors) -> np.ndarray:
    """``#rrggbb`` strings -> uint8 array of shape (n, 3)."""
    return np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colors], dtype=np.uint8).reshape(-1, 3)


@njit(cache=True, nogil=True)
def _accumulate(x, y, rgb, codes, sel, lo, hi, x0, y0, sx, sy, W, H, acc):  # pragma: no cover - numba
    for i in range(lo, hi):
        if sel.shape[0] and not sel[i]:
            continue
        c = codes[i]
        if c < 0:
            continue
        fx = (x[i] - x0) * sx
        fy = (y[i] - y0) * sy
        if not (fx >= 0.0 and fy >= 0.0):  # left of / below the view (int() would round -0.5 up to pixel 0); NaN
            continue
        px = int(fx)
        py = int(fy)
        if px < 0 or px >= W or py < 0 or py >= H:
            continue
        j = (H - 1 - py) * W + px  # image rows run top to bottom
        # count and colour sums packed side by side: one cache line per point
        acc[j, 0] += 1
        acc[j, 1] += rgb[c, 0]
        acc[j, 2] += rgb[c, 1]
        acc[j, 3] += rgb[c, 2]


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """The render threads (made on first use, never at import)."""
    return ThreadPoolExecutor(2, thread_name_prefix="eomine-render")


def rasterize_categorical(x: np.ndarray, y: np.ndarray, codes: np.ndarray, palette: np.ndarray, vp: Viewport,
                          *, sel: np.ndarray | None = None, min_alpha: int = 90,
                          threads: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Colour-mixing categorical raster.

    Parameters
    ----------
    x, y : ndarray of float32, shape (n,)
    codes : ndarray of int16, shape (n,)
        Category per point (-1 = not drawn).
    palette : ndarray of uint8, shape (n_categories, 3)
    vp : Viewport
    sel : ndarray of bool, shape (n,), optional
        Only these points (filters).

    Returns
    -------
    rgba : ndarray of uint8, shape (height, width, 4)
    count : ndarray of uint32, shape (height, width)
    """
    W, H = vp.width, vp.height
    sx = W / (vp.x_range[1] - vp.x_range[0])
    sy = H / (vp.y_range[1] - vp.y_range[0])
    sel_arr = sel if sel is not None else np.zeros(0, dtype=np.bool_)
    n = len(x)
    parts = max(1, min(threads, n // 100_000 + 1))
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    bufs = [np.zeros((W * H, 4), np.uint32) for _ in range(parts)]

    def work(p):
        _accumulate(x, y, palette, codes, sel_arr, bounds[p], bounds[p + 1], vp.x_range[0], vp.y_range[0],
                    sx, sy, W, H, bufs[p])

    if parts == 1:
        work(0)
    else:
        list(_pool().map(work, range(parts)))
    packed = bufs[0]
    for other in bufs[1:]:
        packed += other
    cnt = packed[:, 0]
    acc = packed[:, 1:]
    rgba = np.zeros((W * H, 4), np.uint8)
    hit = cnt > 0
    if hit.any():  # an empty view (zoomed onto blank space) stays transparent
        rgba[hit, :3] = (acc[hit] / cnt[hit, None]).astype(np.uint8)
        rgba[hit, 3] = _alpha(cnt[hit], min_alpha)
    return rgba.reshape(H, W, 4), cnt.reshape(H, W)


def _alpha(cnt: np.ndarray, min_alpha: int) -> np.ndarray:
    """Opacity rising with log(count), saturating at the 99th percentile of occupied pixels."""
    if not len(cnt):
        return np.zeros(0, np.uint8)
    lc = np.log1p(cnt.astype(np.float32))
    top = max(float(np.percentile(lc, 99)) if len(lc) > 100 else float(lc.max()), 1e-6)
    return (min_alpha + (255 - min_alpha) * np.clip(lc / top, 0, 1)).astype(np.uint8)


def render_categorical(x: np.ndarray, y: np.ndarray, codes: np.ndarray, colors, vp: Viewport, *,
                       sel: np.ndarray | None = None, density: bool = False,
                       grow_sparse: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Points coloured by category on ``vp``: the image the scatter, the map and the tour export draw.

    Parameters
    ----------
    x, y : ndarray of float32, shape (n,)
        NaN coordinates are not drawn.
    codes : ndarray of int16, shape (n,)
        Category per point, an index into ``colors`` (-1 = not drawn).
    colors : sequence of str, length n_categories
        ``#rrggbb`` per category.
    vp : Viewport
    sel : ndarray of bool, shape (n,), optional
        Only these points.
    density : bool
        Shade by point count (histogram-equalised) instead of by category colour.
    grow_sparse : bool
        Grow each point to a square of a few pixels where the image is sparse, so it stays visible at any screen
        size and zoom (:func:`spread_px` chooses how far, :func:`spread` grows).

    Returns
    -------
    rgba : ndarray of uint8, shape (height, width, 4)
    count : ndarray of uint32, shape (height, width)
        Points per pixel (before growing).
    """
    rgba, cnt = rasterize_categorical(x, y, codes, hex_to_rgb(list(colors)), vp, sel=sel)
    if density:
        rgba = shade_density(cnt)
    if grow_sparse:
        rgba = spread(rgba, spread_px(float((cnt > 0).mean())))
    return rgba, cnt


def spread_px(cover: float, *, max_px: int = 3, max_cover: float = 0.3) -> int:
    """How far :func:`spread` may grow points: the largest ``px`` <= ``max_px`` whose squares would cover at most
    ``max_cover`` of the image, given the fraction ``cover`` of pixels drawn (0: no growing). Like datashader's
    ``dynspread``, it depends on how crowded the image is, not on the number of points or the image size: the
    same view gets the same dots on a laptop and on a large screen.

    Examples
    --------
    >>> [spread_px(c) for c in (0.001, 0.01, 0.02, 0.05)]
    [3, 2, 1, 0]
    """
    for px in range(max_px, 0, -1):
        if cover * (2 * px + 1) ** 2 <= max_cover:
            return px
    return 0


def shade_density(count: np.ndarray, cmap: str = "fire") -> np.ndarray:
    """Histogram-equalised density (datashader ``tf.shade(how='eq_hist')``) as RGBA uint8."""
    import datashader.transfer_functions as tf
    import xarray as xr

    img = tf.shade(xr.DataArray(count.astype(np.uint32), dims=("y", "x")), cmap=_palette(cmap), how="eq_hist")
    return img.to_numpy().view(np.uint8).reshape(*count.shape, 4)


def _palette(name: str) -> list[str]:
    import colorcet

    return list(colorcet.palette[name])


def spread(rgba: np.ndarray, px: int = 1) -> np.ndarray:
    """Grow each drawn pixel into a (2px+1)^2 square where the image is empty (nearest source first), so
    zoomed-in, sparse views stay visible. Touches only the drawn pixels' neighbourhoods (a few ms), with no
    wrap-around at the image edges.
    """
    if px <= 0:
        return rgba
    H, W = rgba.shape[:2]
    sy, sx = np.nonzero(rgba[..., 3])
    out = rgba.copy()
    empty = out[..., 3] == 0
    offsets = sorted(((dy, dx) for dy in range(-px, px + 1) for dx in range(-px, px + 1) if dy or dx),
                     key=lambda o: (max(abs(o[0]), abs(o[1])), abs(o[0]) + abs(o[1])))
    for dy, dx in offsets:
        ty, tx = sy + dy, sx + dx
        ok = (ty >= 0) & (ty < H) & (tx >= 0) & (tx < W)
        ty, tx, fy, fx = ty[ok], tx[ok], sy[ok], sx[ok]
        take = empty[ty, tx]
        ty, tx = ty[take], tx[take]
        out[ty, tx] = rgba[fy[take], fx[take]]
        empty[ty, tx] = False
    return out


def encode_image(rgba: np.ndarray, fmt: str = "webp") -> tuple[bytes, str]:
    """Encode an RGBA image losslessly with Pillow.

    ``webp``: lossless, method 1 / effort 10: half the bytes of the fastest setting for a few ms more (the full
    549,488-point scatter: 239 KB in 21 ms against 464 KB in 11 ms), which the browser gets back in parsing and
    decoding; ``png`` is for files that must open everywhere (the exported tour player, GIF frames).

    Returns
    -------
    data : bytes
    mime : str
    """
    import io

    from PIL import Image

    buf = io.BytesIO()
    if fmt == "webp":
        Image.fromarray(rgba).save(buf, format="WEBP", lossless=True, method=1, quality=10)
    elif fmt == "png":
        Image.fromarray(rgba).save(buf, format="PNG", optimize=True)
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return buf.getvalue(), f"image/{fmt}"


def image_uri(rgba: np.ndarray, fmt: str = "webp") -> str:
    """``data:`` URI of :func:`encode_image` (a plotly layout image, an image inlined in HTML)."""
    import base64

    data, mime = encode_image(rgba, fmt)
    return f"data:{mime};base64," + base64.b64encode(data).decode()
