"""The map's plot coordinates (:mod:`dashboard.geo`): Web Mercator in degree units and the basemap path."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.data import AppData
from dashboard.geo import basemap_path, footprint_bounds, from_plot, lat_of, map_xy, merc_y, to_plot


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


def test_basemap_path_is_closed_rings_and_simplifies(demo_ws):
    data = AppData.load(demo_ws)
    full = basemap_path(data)
    assert basemap_path(data) is full
    assert full.startswith("M") and full.count("Z") == full.count("M") > 100
    coarse = basemap_path(data, 0.05)
    assert coarse.count("M") <= full.count("M") and len(coarse) < 0.5 * len(full)
