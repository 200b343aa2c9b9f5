"""Label maps of a real scene: rasterio reads them back with the scene's CRS and bounds, codes and colours."""

from __future__ import annotations

import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner

from eomine.cli import main
from mining.curation import Edit, EditLog
from mining.datasets import SceneDataset
from mining.errors import DataError
from mining.ingest import ingest
from mining.labelmap import write_label_map
from mining.workspace import Workspace

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def tile(shared_data, tmp_path_factory) -> Workspace:
    d = shared_data / "scenes" / "s2-l2a-29RKH-20200219-100m"
    out = tmp_path_factory.mktemp("lm") / "ws"
    ingest(SceneDataset(d / "S2A_29RKH_20200219_0_L2A.json"), out, progress=False)
    return Workspace(out)


def test_single_label_map_has_the_scenes_grid_codes_and_colours(tile, tmp_path):
    ws = tile
    EditLog(ws).commit([Edit("S2A_29RKH_20200219_0_L2A_3_4", "set", labels=("Arable land",)),
                        Edit("S2A_29RKH_20200219_0_L2A_90_90", "set", labels=("Urban fabric",))], author="ana")
    card = write_label_map(ws, tmp_path / "labels.tif")
    with rasterio.open(tmp_path / "labels.tif") as src, rasterio.open(_band(ws)) as band:
        assert src.crs == band.crs and src.count == 1 and src.nodata == 0
        assert (src.width, src.height) == (91, 91)
        assert src.bounds.left == band.bounds.left and src.bounds.top == band.bounds.top
        assert src.bounds.right == band.bounds.left + 91 * 1200
        a = src.read(1)
        classes = list(ws.nomenclature.classes)
        assert a[4, 3] == classes.index("Arable land") + 1 and a[90, 90] == classes.index("Urban fabric") + 1
        assert (a > 0).sum() == 2
        cmap = src.colormap(1)
        h = ws.nomenclature.colors[classes.index("Arable land")].lstrip("#")
        assert cmap[a[4, 3]][:3] == (int(h[:2], 16), int(h[2:4], 16), int(h[4:], 16))
        # the patch's pixel sits at its footprint's centre
        p = ws.catalog.set_index("patch_id").loc["S2A_29RKH_20200219_0_L2A_3_4"]
        r, c = src.index((p.x_min + p.x_max) / 2, (p.y_min + p.y_max) / 2)
        assert (r, c) == (4, 3)
    codes = pd.read_csv(card["csv"])
    assert codes.loc[codes["class"] == "Arable land", "patches"].item() == 1


def _band(ws: Workspace):
    return ws.meta["made_by"]["source"].rsplit("/", 1)[0] + "/B04.tif"


def test_multi_label_map_and_ten_metre_pixels(tile, tmp_path):
    ws = tile
    labels = pd.Series({"S2A_29RKH_20200219_0_L2A_0_0": ["Arable land", "Pastures"],
                        "S2A_29RKH_20200219_0_L2A_1_0": ["Pastures"]})
    write_label_map(ws, tmp_path / "multi.tif", labels=labels)
    with rasterio.open(tmp_path / "multi.tif") as src:
        classes = list(ws.nomenclature.classes)
        assert src.count == len(classes) and src.descriptions[classes.index("Pastures")] == "Pastures"
        a = src.read()
        assert a[classes.index("Pastures"), 0, :2].tolist() == [1, 1]
        assert a[classes.index("Arable land"), 0, :2].tolist() == [1, 0]
        assert a[0, 5, 5] == 255 == src.nodata  # unlabelled
    write_label_map(ws, tmp_path / "fine.tif", labels=labels, pixel=100)
    with rasterio.open(tmp_path / "fine.tif") as src:
        assert (src.width, src.res) == (91 * 12, (100.0, 100.0))
        assert src.read(classes.index("Pastures") + 1)[:12, :24].min() == 1


def test_label_map_refusals(tile, tmp_path, demo_ws):
    with pytest.raises(DataError, match="--pixel 500 m does not divide the patch side"):
        write_label_map(tile, tmp_path / "x.tif", pixel=500)
    with pytest.raises(DataError, match="CRS"):
        write_label_map(Workspace(demo_ws), tmp_path / "y.tif")  # the demo spans several UTM zones
    r = CliRunner().invoke(main, ["export", str(tile.path), "--format", "parquet", "--out", str(tmp_path / "z"),
                                  "--pixel", "10"])
    assert r.exit_code == 2 and "--pixel only applies to --format labelmap" in r.output
