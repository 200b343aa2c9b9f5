"""Composites of real reBEN patches: stretch, resampling, nodata, S1, PNG encoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mining.composites import COMPOSITES, CompositeRenderer
from mining.datasets import ReBEN
from mining.errors import DataError
from mining.ingest import ingest
from mining.workspace import Workspace

WATER = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_37_89"  # labelled Inland waters (river crossing)


@pytest.fixture(scope="module")
def ws(shared_data, tmp_path_factory):
    root = shared_data / "bigearthnet-v2-reben"
    out = tmp_path_factory.mktemp("comp") / "ws"
    # a small metadata file keeps this fast: just the rows of the 24 sample patches
    import pandas as pd

    md = pd.read_parquet(root / "metadata.parquet")
    ids = {p.name for p in (root / "BigEarthNet-S2").glob("*/*")}
    small = out.parent / "metadata.parquet"
    md[md["patch_id"].isin(ids)].to_parquet(small)
    ingest(ReBEN(root, metadata=[small]), out, progress=False)
    return Workspace(out)


@pytest.fixture(scope="module")
def renderer(ws):
    return CompositeRenderer().fit(ws.store)


def _row(ws, pid):
    return int(ws.catalog.set_index("patch_id").loc[pid, "pixel_row"])


def test_all_composites_render_on_the_10m_grid(ws, renderer):
    assert set(renderer.composites_) == set(COMPOSITES)
    for name in COMPOSITES:
        img = renderer.render(0, name)
        assert img.shape == (120, 120, 4) and img.dtype == np.uint8, name
        assert img[..., :3].std() > 5, f"{name} is flat"


def test_stretch_is_dataset_level_so_patches_stay_comparable(ws, renderer):
    """A dark patch stays darker than a bright one (per-image stretch would make both span 0..255)."""
    refl = [ws.store.read(r, ["B04", "B03", "B02"]).mean() for r in range(len(ws.catalog))]
    dark, bright = int(np.argmin(refl)), int(np.argmax(refl))
    lum = [renderer.render(r, "true_color")[..., :3].mean() for r in (dark, bright)]
    assert lum[0] < lum[1] - 20


def test_ndvi_and_ndwi_separate_water_from_vegetation(ws, renderer):
    row = _row(ws, WATER)
    b = ws.store.read(row, ["B08", "B04", "B03"])
    ndvi = (b[0] - b[1]) / (b[0] + b[1])
    water, veg = ndvi < 0, ndvi > 0.6
    assert water.sum() > 100 and veg.sum() > 100
    img = renderer.render(row, "ndvi").astype(int)
    # CET_D13: negative NDVI blue, dense vegetation green
    assert img[water, 2].mean() > img[water, 1].mean()
    assert img[veg, 1].mean() > img[veg, 2].mean()
    wi = renderer.render(row, "ndwi").astype(int)
    assert wi[water, 2].mean() > wi[veg, 2].mean()  # water is bluer in NDWI


def test_nodata_pixels_are_transparent(ws, renderer):
    arr = ws.store.array("s2_10m")
    row = 0
    saved = np.array(arr[row, 0, :10, :10])
    # simulate a nodata corner in a writable copy of the store
    import shutil

    from mining.store import PixelStore

    tmp = ws.path.parent / "nodata_pixels"
    if not tmp.exists():
        shutil.copytree(ws.pixels_path, tmp)
    a = np.load(tmp / "s2_10m.npy", mmap_mode="r+")
    a[row, :, :10, :10] = 0
    a.flush()
    r = CompositeRenderer().fit(PixelStore(tmp))
    img = r.render(row, "true_color")
    assert (img[:10, :10, 3] == 0).all() and (img[20:, 20:, 3] == 255).all()
    np.testing.assert_array_equal(np.asarray(arr[row, 0, :10, :10]), saved)  # original untouched


def test_twenty_metre_bands_are_upsampled_not_shrunk(ws, renderer):
    img = renderer.render(0, "swir")  # B12, B8A are 60x60 natively
    assert img.shape[:2] == (120, 120)
    # nearest-neighbour: each 20 m pixel of R (B12) and G (B8A) becomes a 2x2 block; B (B04) is native 10 m
    np.testing.assert_array_equal(img[0:120:2, 0:120:2, :2], img[1:120:2, 1:120:2, :2])
    assert (img[0:120:2, 0:120:2, 2] != img[1:120:2, 1:120:2, 2]).any()


def test_s1_composite_and_missing_pair(ws, renderer):
    cat = ws.catalog
    with_s1 = int(cat.loc[cat["has_s1"], "pixel_row"].iloc[0])
    without = int(cat.loc[~cat["has_s1"], "pixel_row"].iloc[0])
    img = renderer.render(with_s1, "s1")
    assert img[..., 3].min() == 255 and img[..., :3].std() > 10
    with pytest.raises(DataError, match="no Sentinel-1 pair"):
        renderer.render(without, "s1")


def test_png_thumbnail(renderer):
    png = renderer.png(3, "false_color", upscale=240)
    im = Image.open(io.BytesIO(png))
    assert im.format == "PNG" and im.size == (240, 240) and im.mode == "RGBA"


def test_unknown_composite(renderer):
    with pytest.raises(ValueError, match="unknown composite 'rgbx'"):
        renderer.render(0, "rgbx")
