"""The offline basemap (:mod:`mining.basemap`): Natural Earth outlines, loaded once for the map and the tour."""

from __future__ import annotations

import numpy as np
import pytest

from mining.basemap import load_basemap, rings_near
from mining.errors import DataError


def _on_land(rings, lon, lat, country=None):
    from dashboard.selection import points_in_polygon

    return any(points_in_polygon(np.array([lon]), np.array([lat]), r)[0]
               for n, r in rings if country is None or n == country)


def test_basemap_covers_europe():
    rings = load_basemap()
    assert load_basemap() is rings  # read once per process
    names = {name for name, _ in rings}
    assert {"Portugal", "Finland", "Austria", "Spain", "Norway", "Greece"} <= names
    assert _on_land(rings, 16.37, 48.21, "Austria")     # Vienna
    assert _on_land(rings, -8.61, 41.15, "Portugal")    # Porto
    assert _on_land(rings, 24.94, 60.17) and _on_land(rings, 25.7, 66.5, "Finland")  # Helsinki, Rovaniemi
    assert not _on_land(rings, -20.0, 45.0)             # Atlantic
    assert not _on_land(rings, 18.0, 35.0)              # Ionian Sea
    assert not _on_land(rings, 19.5, 58.0)              # Baltic
    # the antimeridian-crossing ring (Russia) is unwrapped: no edge jumps across the map
    assert all(np.abs(np.diff(r[:, 0])).max() < 180 for _, r in rings)
    assert not rings[0][1].flags.writeable


def test_rings_near_a_box_and_a_bad_file(tmp_path):
    near = rings_near(9.5, 46.3, 17.2, 49.0)  # Austria
    assert 0 < len(near) < len(load_basemap())
    bad = tmp_path / "x.geojson"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="x.geojson"):
        load_basemap(bad)
