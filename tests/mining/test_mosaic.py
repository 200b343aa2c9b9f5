"""The scene view's imagery (mining.mosaic) and QA classes (mining.qa): synthetic footprints, then the real 29RKH
tile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mining.mosaic import (
    affines,
    choose_scale,
    footprint_corners,
    outline,
    render_mosaic,
    tile_size,
    visible,
    warp,
)
from mining.qa import QA_NAMES, has_qa, qa_codes
from mining.raster import Viewport

VP = Viewport((0.0, 10.0), (0.0, 10.0), 100, 100)  # 0.1 units per pixel; row 0 is y = 10


def square(x0, y0, side) -> np.ndarray:
    """Corners TL, TR, BR, BL of an axis-aligned square."""
    return np.array([[x0, y0 + side], [x0 + side, y0 + side], [x0 + side, y0], [x0, y0]], float)


def quadrants() -> np.ndarray:
    """A 2 x 2 RGBA tile: red, green (top), blue, white (bottom)."""
    t = np.zeros((2, 2, 4), np.uint8)
    t[0, 0], t[0, 1], t[1, 0], t[1, 1] = [255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255], [255, 255, 255, 255]
    return t


def px(x, y):
    """(row, col) of the output pixel holding plot point (x, y) in VP."""
    return int((10.0 - y) / 0.1), int(x / 0.1)


def test_a_patchs_pixels_land_at_its_footprint():
    out = warp(square(2.0, 3.0, 4.0)[None], quadrants()[None], VP)
    assert out.shape == (100, 100, 4)
    assert tuple(out[px(3.0, 6.0)]) == (255, 0, 0, 255)    # top left quarter of the footprint
    assert tuple(out[px(5.0, 6.0)]) == (0, 255, 0, 255)    # top right
    assert tuple(out[px(3.0, 4.0)]) == (0, 0, 255, 255)    # bottom left
    assert tuple(out[px(5.0, 4.0)]) == (255, 255, 255, 255)
    drawn = out[..., 3] > 0
    rows, cols = np.nonzero(drawn)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (30, 69, 20, 59)  # 4 x 4 units = 40 x 40 px
    assert drawn.sum() == 40 * 40


def test_a_rotated_footprint_is_sampled_through_its_own_axes():
    # the same square turned 90 degrees clockwise: its top-left corner is now at the top right
    c = square(2.0, 3.0, 4.0)[[1, 2, 3, 0]]
    out = warp(c[None], quadrants()[None], VP)
    assert tuple(out[px(5.0, 6.0)]) == (255, 0, 0, 255)    # red follows the top-left corner
    assert tuple(out[px(5.0, 4.0)]) == (0, 255, 0, 255)
    assert tuple(out[px(3.0, 6.0)]) == (0, 0, 255, 255)
    a = affines(c[None])[0]
    u, v = a[0] * 6.0 + a[1] * 7.0 + a[2], a[3] * 6.0 + a[4] * 7.0 + a[5]  # corner TL
    assert (u, v) == pytest.approx((0.0, 0.0))


def test_transparent_pixels_and_patches_outside_the_view_are_not_drawn():
    t = quadrants()
    t[0, 0, 3] = 0
    corners = np.stack([square(2.0, 3.0, 4.0), square(20.0, 20.0, 4.0)])
    out = warp(corners, np.stack([t, t]), VP)
    assert out[px(3.0, 6.0)][3] == 0 and out[px(5.0, 6.0)][3] == 255
    assert (out[..., 3] > 0).sum() == 40 * 40 - 20 * 20
    assert visible(corners, VP).tolist() == [True, False]
    with pytest.raises(ValueError, match="tiles"):
        warp(corners, t[None], VP)


def test_outlines_are_inside_each_footprint():
    corners = np.stack([square(0.0, 0.0, 5.0), square(5.0, 0.0, 5.0)])
    colors = np.array([[255, 0, 0, 255], [0, 0, 255, 255]], np.uint8)
    out = outline(corners, colors, VP)
    r = px(2.5, 2.5)[0]
    assert tuple(out[r, 49]) == (255, 0, 0, 255) and tuple(out[r, 50]) == (0, 0, 255, 255)  # side by side
    assert out[r, 25, 3] == 0 and out[r, 0, 3] == 255  # the inside stays open
    assert out[px(2.5, 4.95)][3] == 255  # the top border
    none = outline(corners, np.zeros((2, 4), np.uint8), VP)
    assert not none.any()


class FakeRenderer:
    """The part of a CompositeRenderer render_mosaic uses: uniform tiles in a colour per pixel row."""

    composites_ = ("true_color",)

    class store_:  # noqa: N801
        groups = {"g": type("G", (), {"size": 16})()}
        band_group = {"B04": "g", "B03": "g", "B02": "g"}

    def __init__(self):
        self.calls = []

    def render_many(self, rows, name, size):
        self.calls.append((np.asarray(rows).tolist(), size))
        t = np.zeros((len(rows), size, size, 4), np.uint8)
        t[..., 0] = np.asarray(rows)[:, None, None]
        t[..., 3] = 255
        return t


def test_render_mosaic_draws_only_the_patches_in_view_and_holds_the_cap():
    corners = np.stack([square(x, y, 1.0) for x in range(-5, 15) for y in range(0, 10)])  # 200 patches
    rows = np.arange(len(corners))
    rows[3] = -1  # no pixels
    r = FakeRenderer()
    m = render_mosaic(r, corners, rows, VP)
    inside = visible(corners, VP) & (rows >= 0)
    assert sorted(m.rows.tolist()) == np.flatnonzero(inside).tolist()
    assert r.calls[0][0] == rows[m.rows].tolist()  # only those are read
    assert m.tile == 16  # 10 px wide on screen -> 16, the stored size
    assert m.rgba[px(0.5, 0.5)][0] == rows[np.flatnonzero((corners[:, 0, 0] == 0) & (corners[:, 3, 1] == 0))[0]]
    assert render_mosaic(r, corners, rows, VP, max_patches=int(inside.sum()) - 1) is None  # the cap
    assert len(r.calls) == 1  # nothing was read beyond the cap
    only = np.zeros(len(corners), bool)
    only[[0, 150]] = True
    assert len(render_mosaic(r, corners, rows, VP, candidates=only).rows) == 1  # patch 0 is outside the view


def test_tile_size_follows_the_screen_and_the_budget():
    assert tile_size(9.5, 120) == 16
    assert tile_size(300, 120) == 120
    assert tile_size(0.3, 120) == 2
    assert tile_size(60, 120, max_pixels=1000 * 16 * 16, n=1000) == 16


def test_choose_scale_takes_the_finest_that_fits():
    scale = np.array([4800.0] * 4 + [1200.0] * 64)
    touching = np.ones(68, bool)
    width = np.where(scale == 4800, 40.0, 10.0)
    assert choose_scale(scale, touching, width) == 1200.0
    assert choose_scale(scale, touching, width, max_patches=10) == 4800.0
    assert choose_scale(scale, touching, width, max_patches=3) is None
    assert choose_scale(scale, touching, np.where(scale == 4800, 8.0, 1.0)) == 4800.0  # fine ones too small
    assert np.isnan(choose_scale(None, touching, width))


def test_qa_rule():
    cat = pd.DataFrame({"qa_cloud": [0.0, 0.4, 0.03, 0.1, np.nan], "qa_cirrus": [0.0, 0.6, 0.0, 0.0, np.nan],
                        "qa_shadow": 0.0, "qa_snow": 0.0, "qa_water": [0.0, 0.0, 0.0, 0.3, np.nan],
                        "qa_nodata": 0.0})
    cat.loc[4, ["qa_shadow", "qa_snow", "qa_nodata"]] = np.nan
    assert has_qa(cat)
    assert [QA_NAMES[c] for c in qa_codes(cat)] == ["clear", "cirrus", "clear", "water", "no QA"]
    assert not has_qa(pd.DataFrame({"lon": [1.0]}))
    assert QA_NAMES[qa_codes(pd.DataFrame({"lon": [1.0]}))[0]] == "no QA"


# --------------------------------------------------------------------------- the real 29RKH tile
@pytest.mark.realdata
def test_the_cloudy_north_east_of_29rkh_is_coloured_cloud(scene_ws):
    from mining.workspace import Workspace

    cat = Workspace(scene_ws).catalog
    names = np.array(QA_NAMES)[qa_codes(cat)]
    cloud = cat[names == "cloud"]
    assert len(cloud) >= 30  # the opaque cloud's core (37 patches are more than half SCL 8 / 9)
    assert (cloud.grid_col > 60).all() and (cloud.grid_row < 30).all()  # all of them in the north-east corner
    assert set(names[(cat.grid_col > 60) & (cat.grid_row < 30)]) >= {"cloud", "cirrus", "clear"}
    sw = (cat.grid_col < 30) & (cat.grid_row > 60)
    assert set(names[sw]) == {"clear"}


@pytest.mark.realdata
def test_29rkh_footprints_are_rotated_utm_squares(scene_ws):
    from mining.workspace import Workspace

    cat = Workspace(scene_ws).catalog
    c = footprint_corners(cat)
    assert np.isfinite(c).all()
    assert np.allclose(c[:, :, 0].min(1), cat["lon_min"]) and np.allclose(c[:, :, 1].max(1), cat["lat_max"])
    # west of zone 29's central meridian (9 W), grid north turns east of true north: the top edge climbs
    assert (c[:, 1, 1] > c[:, 0, 1]).all()
    # neighbours share corners: patch (c, r)'s top right is patch (c + 1, r)'s top left
    key = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(cat.grid_col, cat.grid_row, strict=True))}
    i, j = key[(10, 20)], key[(11, 20)]
    assert np.allclose(c[i, 1], c[j, 0])
