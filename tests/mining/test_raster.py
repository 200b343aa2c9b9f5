"""The one categorical renderer (:mod:`mining.raster`) of the scatter, the map and the tour export."""

from __future__ import annotations

import numpy as np
import pytest

from mining.raster import Viewport, encode_image, hex_to_rgb, render_categorical, spread


def test_spread_grows_isolated_points_without_wrapping():
    img = np.zeros((50, 60, 4), np.uint8)
    img[25, 30] = (10, 20, 30, 255)
    img[0, 0] = (200, 0, 0, 255)  # at the corner: must not wrap to the other edges
    for px in (1, 2, 3):
        out = spread(img, px)
        side = 2 * px + 1
        assert (out[25 - px:26 + px, 30 - px:31 + px, 3] == 255).all()
        assert (out[..., 3] > 0).sum() == side * side + (px + 1) ** 2
        assert (out[-1, :, 3] == 0).all() and (out[:, -1, 3] == 0).all()
        assert tuple(out[25, 30]) == (10, 20, 30, 255)  # drawn pixels keep their colour


def test_points_get_their_category_colour_and_mix_where_they_overlap():
    x = np.array([0.5, 1.5, 1.5, np.nan, 3.5], np.float32)
    y = np.array([0.5, 0.5, 0.5, 0.5, 0.5], np.float32)
    codes = np.array([0, 0, 1, 0, -1], np.int16)
    vp = Viewport((0, 4), (0, 1), 4, 1)
    rgba, cnt = render_categorical(x, y, codes, ["#ff0000", "#0000ff"], vp, grow_sparse=False)
    assert cnt.tolist() == [[1, 2, 0, 0]]  # NaN and code -1 are not drawn
    assert tuple(rgba[0, 0, :3]) == (255, 0, 0)
    assert tuple(rgba[0, 1, :3]) == (127, 0, 127)  # the mean colour of the pixel's points
    assert rgba[0, 1, 3] > rgba[0, 0, 3] > 0 and rgba[0, 2, 3] == 0
    sel = np.array([False, True, True, True, True])
    _, cnt = render_categorical(x, y, codes, ["#ff0000", "#0000ff"], vp, sel=sel, grow_sparse=False)
    assert cnt.tolist() == [[0, 2, 0, 0]]


def test_density_shading_and_encoding():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 20_000)).astype(np.float32)
    rgba, cnt = render_categorical(x, y, np.zeros(len(x), np.int16), ["#000000"],
                                   Viewport((-4, 4), (-4, 4), 64, 48), density=True)
    inside = int(((np.abs(x) < 3.99) & (np.abs(y) < 3.99)).sum())
    assert rgba.shape == (48, 64, 4) and inside <= cnt.sum() <= len(x)
    assert (rgba[..., 3] > 0).sum() == (cnt > 0).sum()
    webp, mime = encode_image(rgba)
    png, mime2 = encode_image(rgba, "png")
    assert mime == "image/webp" and webp[8:12] == b"WEBP" and png.startswith(b"\x89PNG")
    assert hex_to_rgb(["#0a0b0c"]).tolist() == [[10, 11, 12]]
    with pytest.raises(ValueError):
        Viewport((1, 0), (0, 1), 10, 10)
