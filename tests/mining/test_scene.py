"""Cutting real scenes into patches: the 29RKH Sentinel-2 L2A tile (STAC + COGs, decimated 10x by its publisher)
and the 10 m Spain chip (multi-band L1C GeoTIFF + Sentinel-1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from mining.datasets import SceneDataset
from mining.errors import DataError
from mining.ingest import ingest
from mining.workspace import Workspace

pytestmark = pytest.mark.realdata

TILE = "s2-l2a-29RKH-20200219-100m"
ITEM = "S2A_29RKH_20200219_0_L2A.json"
CHIP = "sen1floods11-spain-7370579"


@pytest.fixture(scope="module")
def tile_dir(shared_data) -> Path:
    return shared_data / "scenes" / TILE


@pytest.fixture(scope="module")
def tile_ws(tile_dir, tmp_path_factory) -> Workspace:
    out = tmp_path_factory.mktemp("t29") / "ws"
    ingest(SceneDataset(tile_dir / ITEM), out, progress=False)
    return Workspace(out)


def test_the_grid_is_the_files_grid(tile_ws, tile_dir):
    cat = tile_ws.catalog
    with rasterio.open(tile_dir / "B04.tif") as src:  # 1098 x 1098 px of 100 m (the STAC item says 10980)
        t, w = src.transform, src.width
    n = w * 100 // 1200  # 91 whole 1,200 m patches per side
    assert len(cat) == n * n == 8281
    first = cat.set_index("patch_id").loc["S2A_29RKH_20200219_0_L2A_0_0"]
    assert (first.x_min, first.y_max) == (t.c, t.f)
    assert (first.x_max - first.x_min, first.y_max - first.y_min) == (1200.0, 1200.0)
    p = cat.set_index("patch_id").loc["S2A_29RKH_20200219_0_L2A_37_52"]
    assert p.x_min == t.c + 37 * 1200 and p.y_max == t.f - 52 * 1200
    assert cat["crs"].unique().tolist() == ["EPSG:32629"] and cat["tile"].iloc[0] == "29RKH"
    assert -12 < p.lon < -10.8 and 24.2 < p.lat < 25.4
    assert [(g.name, g.size, g.resolution) for g in tile_ws.store.groups.values()] == [
        ("s2_10m", 12, 100.0), ("s2_20m", 6, 200.0), ("s2_60m", 2, 600.0)]


def test_a_patchs_pixels_are_a_windowed_read_of_the_band_files(tile_ws, tile_dir):
    row = tile_ws.row_of("S2A_29RKH_20200219_0_L2A_37_52")
    pix = tile_ws.catalog["pixel_row"].iat[row]
    store = tile_ws.store
    for band, file_px in (("B04", 12), ("B11", 6), ("B09", 2)):
        with rasterio.open(tile_dir / f"{band}.tif") as src:
            want = src.read(1, window=Window(37 * file_px, 52 * file_px, file_px, file_px))
        assert np.array_equal(store.read(pix, [band])[0], want), band


def test_scl_fractions_and_the_cloudy_north_east(tile_ws, tile_dir):
    cat = tile_ws.catalog.set_index("patch_id")
    with rasterio.open(tile_dir / "SCL.tif") as src:
        scl = src.read(1, window=Window(71 * 6, 6 * 6, 6, 6))  # patch 71_6: 6 x 6 SCL pixels of 200 m
    p = cat.loc["S2A_29RKH_20200219_0_L2A_71_6"]
    assert p.qa_cirrus == pytest.approx(np.isin(scl, [10]).mean())
    assert p.qa_cloud == pytest.approx(np.isin(scl, [8, 9]).mean())
    assert p.qa_cirrus + p.qa_cloud > 0.5 and p.cloud_or_shadow
    c = tile_ws.catalog
    ne = c[(c.grid_col > 60) & (c.grid_row < 30)]
    sw = c[(c.grid_col < 30) & (c.grid_row > 60)]
    assert ne["cloud_or_shadow"].mean() > 0.3 and sw["cloud_or_shadow"].mean() == 0.0
    assert not c["seasonal_snow"].any()


def test_scales_cut_parents_and_children(tile_dir, tmp_path):
    ingest(SceneDataset(tile_dir / ITEM, scales=[4800, 2400, 1200]), tmp_path / "ws", progress=False)
    ws = Workspace(tmp_path / "ws")
    cat = ws.catalog.set_index("patch_id")
    assert cat.groupby("scale_m").size().to_dict() == {1200.0: 8281, 2400.0: 45 * 45, 4800.0: 22 * 22}
    child = cat.loc["S2A_29RKH_20200219_0_L2A_1200m_36_5"]
    parent = cat.loc[child.parent_id]
    assert child.parent_id == "S2A_29RKH_20200219_0_L2A_2400m_18_2"
    assert parent.x_min <= child.x_min < child.x_max <= parent.x_max
    assert parent.y_min <= child.y_min < child.y_max <= parent.y_max
    assert cat.loc[parent.parent_id].scale_m == 4800.0
    # a coarse patch is stored at the fine pixel size: the mean of its 2 x 2 children's pixels, about
    kids = cat.index[cat["parent_id"] == child.parent_id]
    assert len(kids) == 4
    pa = ws.store.read(int(parent.pixel_row), ["B04"])[0].astype(float)
    ka = np.mean([ws.store.read(int(cat.loc[k].pixel_row), ["B04"])[0].mean() for k in kids])
    assert pa.shape == (12, 12) and pa.mean() == pytest.approx(ka, rel=0.01)


def test_the_spain_chip_with_sentinel1(shared_data, tmp_path):
    d = shared_data / "scenes" / CHIP
    ingest(SceneDataset(d / "Spain_7370579_S2Hand.tif", s1=d / "Spain_7370579_S1Hand.tif"), tmp_path / "ws",
           progress=False)
    ws = Workspace(tmp_path / "ws")
    cat = ws.catalog
    assert len(cat) == 16 and cat["has_s1"].all()  # 512 px = 4 whole 120-px patches per side; S1 covers all
    assert cat["crs"].iloc[0] == "EPSG:4326"
    groups = ws.store.groups
    assert (groups["s2_10m"].size, groups["s2_20m"].size, groups["s2_60m"].size, groups["s1"].size) == (120, 60, 20,
                                                                                                         120)
    assert groups["s2_60m"].bands == ("B01", "B09", "B10")  # L1C: B10 joins the 60 m group
    pid = "Spain_7370579_S2Hand_2_1"
    pix = int(cat.set_index("patch_id").loc[pid].pixel_row)
    with rasterio.open(d / "Spain_7370579_S2Hand.tif") as src:
        desc = list(src.descriptions)
        b4 = src.read(desc.index("B4") + 1, window=Window(240, 120, 120, 120))
        b11 = src.read(desc.index("B11") + 1, window=Window(240, 120, 120, 120)).astype(float)
    with rasterio.open(d / "Spain_7370579_S1Hand.tif") as src:
        vv = src.read(1, window=Window(240, 120, 120, 120))
    assert np.array_equal(ws.store.read(pix, ["B04"])[0], b4)
    # B11 is averaged to its native 20 m
    assert np.allclose(ws.store.read(pix, ["B11"])[0], np.rint(b11.reshape(60, 2, 60, 2).mean((1, 3))))
    assert np.allclose(ws.store.read(pix, ["VV"])[0], vv, equal_nan=True, atol=1e-4)


def test_a_corrupt_cog_or_a_missing_band_is_a_clear_error(tile_dir, tmp_path):
    src = tmp_path / "scene"
    shutil.copytree(tile_dir, src)
    (src / "B08.tif").unlink()
    with pytest.raises(DataError, match=r"asset 'nir' \(B08\) not found at .*B08.tif"):
        SceneDataset(src / ITEM).scan()
    shutil.copyfile(tile_dir / "B08.tif", src / "B08.tif")
    data = (tile_dir / "B03.tif").read_bytes()
    (src / "B03.tif").write_bytes(data[: len(data) // 3])  # a truncated download
    with pytest.raises(DataError, match="B03.tif"):
        ingest(SceneDataset(src / ITEM), tmp_path / "ws", progress=False, on_error="fail")
    bad = tmp_path / "item.json"
    bad.write_text(json.dumps({"type": "Collection"}))
    with pytest.raises(DataError, match="not a STAC item"):
        SceneDataset(bad).scan()


def test_a_safe_product_layout_of_jp2_files(tile_dir, tmp_path):
    """A SAFE product: GRANULE/*/IMG_DATA/R10m|R20m|R60m with JPEG 2000 band files (B02 also at 20 m and 60 m,
    as Sen2Cor writes it: each band comes from its finest folder) and SCL in R20m. Made from a crop of the
    29RKH files."""
    safe = tmp_path / "S2A_MSIL2A_20200219T112111_N0214_R037_T29RKH_20200219T123947.SAFE"
    img = safe / "GRANULE" / "L2A_T29RKH_A024344_20200219T113105" / "IMG_DATA"
    crops = {"R10m": ["B02", "B03", "B04", "B08"], "R20m": ["B02", "B05", "B11", "SCL"], "R60m": ["B01", "B02"]}
    for folder, bands in crops.items():
        (img / folder).mkdir(parents=True)
        for b in bands:
            src_name = "B02" if b == "B02" and folder != "R10m" else b
            with rasterio.open(tile_dir / f"{src_name}.tif") as src:
                n = 120 // (1098 // src.width)  # the same 12 km corner: 120 px of 100 m, 60 of 200 m, 20 of 600 m
                data = src.read(1, window=Window(0, 0, n, n))
                prof = {"driver": "JP2OpenJPEG", "width": n, "height": n, "count": 1, "dtype": data.dtype.name,
                        "crs": src.crs, "transform": src.transform, "QUALITY": 100, "REVERSIBLE": "YES"}
            res = {"R10m": "10m", "R20m": "20m", "R60m": "60m"}[folder]
            with rasterio.open(img / folder / f"T29RKH_20200219T112111_{b}_{res}.jp2", "w", **prof) as dst:
                dst.write(data, 1)
    ds = SceneDataset(safe)
    cat, issues = ds.scan()
    assert len(cat) == 100 and not issues  # 120 px of 100 m = 10 x 10 patches of 1,200 m
    assert cat["patch_id"].iloc[0] == "S2A_MSIL2A_20200219T112111_N0214_R037_T29RKH_20200219T123947_0_0"
    files = {b: p.parent.name for b, (p, _) in ds._bands.items()}
    assert files == {"B02": "R10m", "B03": "R10m", "B04": "R10m", "B08": "R10m", "B05": "R20m", "B11": "R20m",
                     "B01": "R60m"}
    assert ds._scl is not None and ds._scl.parent.name == "R20m"
    px = ds.read(next(cat.itertuples()))
    with rasterio.open(tile_dir / "B04.tif") as src:
        assert np.array_equal(px["s2_10m"][2], src.read(1, window=Window(0, 0, 12, 12)))
