"""The map's plot coordinates (:mod:`dashboard.geo`): Web Mercator in degree units and the basemap path."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.data import AppData
from dashboard.geo import (
    LAND,
    WATER,
    basemap_image,
    footprint_bounds,
    from_plot,
    lat_of,
    map_xy,
    merc_y,
    over,
    to_plot,
)
from mining.raster import hex_to_rgb


def test_mercator_round_trip():
    lat = np.array([-80.0, -33.3, 0.0, 45.0, 60.0, 71.2])
    assert np.allclose(lat_of(merc_y(lat)), lat, atol=1e-9)
    assert merc_y(0.0) == 0.0
    # conformal: at 60 deg N one degree of latitude is twice as long on screen as one degree of longitude
    assert merc_y(60.5) - merc_y(59.5) == pytest.approx(2.0, rel=1e-3)
    view = {"x": [-10.0, 30.0], "y": [40.0, 60.0]}
    back = from_plot(to_plot(view))
    assert back["x"] == view["x"] and back["y"] == pytest.approx(view["y"], abs=1e-7)


def test_geometry_is_computed_once_per_app(demo_ws):
    data = AppData.load(demo_ws)
    lon, y = map_xy(data)
    assert map_xy(data)[0] is lon  # cached (declared cache, not an attribute bolted on)
    assert np.allclose(y, merc_y(data.lat), atol=1e-4)
    b, known = footprint_bounds(data)
    assert b.shape == (4, data.n) and known.all()
    assert (b[0] < lon).all() and (lon < b[2]).all() and (b[1] < y).all() and (y < b[3]).all()


def _pixel(img, box, lon, lat):
    (x0, x1), (y0, y1) = box["x"], box["y"]
    H, W = img.shape[:2]
    return img[int((y1 - merc_y(lat)) / (y1 - y0) * H), int((lon - x0) / (x1 - x0) * W)]


@pytest.mark.parametrize("box, land, sea", [
    (to_plot({"x": [-25.0, 45.0], "y": [34.0, 72.0]}), [(16.37, 48.21), (-3.7, 40.4)], [(-20.0, 45.0), (18.0, 35.0)]),
    (to_plot({"x": [16.0, 16.8], "y": [48.0, 48.4]}), [(16.37, 48.21)], []),           # Vienna, zoomed far in
    (to_plot({"x": [24.0, 26.0], "y": [59.5, 60.5]}), [(24.94, 60.17)], [(25.0, 59.8)]),  # Helsinki, Gulf of Finland
])
def test_the_basemap_is_drawn_into_the_image_at_every_zoom(demo_ws, box, land, sea):
    data = AppData.load(demo_ws)
    img = basemap_image(data, box, 640, 480)
    assert img.shape == (480, 640, 4) and (img[..., 3] == 255).all()  # opaque: water, land and borders
    for lon, lat in land:
        assert tuple(_pixel(img, box, lon, lat)[:3]) == tuple(hex_to_rgb([LAND])[0]), (lon, lat)
    for lon, lat in sea:
        assert tuple(_pixel(img, box, lon, lat)[:3]) == tuple(hex_to_rgb([WATER])[0]), (lon, lat)


def test_points_are_composited_over_the_basemap():
    base = np.zeros((2, 2, 4), np.uint8)
    base[..., :3], base[..., 3] = 200, 255
    top = np.zeros((2, 2, 4), np.uint8)
    top[0, 0] = (0, 0, 0, 255)
    top[0, 1] = (0, 0, 0, 51)
    out = over(top, base)
    assert tuple(out[0, 0]) == (0, 0, 0, 255) and tuple(out[1, 1]) == (200, 200, 200, 255)
    assert out[0, 1, 0] == 160  # 20 % black over light grey
    assert over(None, base) is base
