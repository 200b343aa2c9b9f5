"""Loaders on the REAL files in ../shared/data (skipped with a reason when that folder is absent)."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from mining.datasets import BigEarthNetV1, EuroSATMS, ReBEN, ReBENLMDB
from mining.ingest import ingest
from mining.workspace import Workspace

# rough national bounding boxes (lon_min, lat_min, lon_max, lat_max)
AUSTRIA = (9.5, 46.3, 17.2, 49.1)
FINLAND = (19.0, 59.7, 31.6, 70.1)


def _inside(lon, lat, box):
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


@pytest.fixture(scope="module")
def reben_root(shared_data):
    return shared_data / "bigearthnet-v2-reben"


@pytest.fixture(scope="module")
def reben_ws(reben_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("reben") / "ws"
    report = ingest(ReBEN(reben_root), out, progress=False)
    return Workspace(out), report


@pytest.fixture(scope="module")
def reben_meta_ws(reben_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("reben_md") / "ws"
    ingest(ReBEN(reben_root, metadata_only=True), out, progress=False)
    return Workspace(out)


@pytest.fixture(scope="module")
def official_metadata(reben_root):
    return pd.concat([pd.read_parquet(reben_root / "metadata.parquet"),
                      pd.read_parquet(reben_root / "metadata_for_patches_with_snow_cloud_or_shadow.parquet")],
                     ignore_index=True)


# --------------------------------------------------------------------------- reBEN pixels
def test_reben_24_patches_with_official_labels(reben_ws, official_metadata):
    ws, report = reben_ws
    cat = ws.catalog
    assert len(cat) == 24
    assert report.n_with_pixels == 24
    md = official_metadata.set_index("patch_id")
    for pid, labels, split in zip(cat["patch_id"], cat["labels"], cat["split"], strict=True):
        assert sorted(labels) == sorted(md.loc[pid, "labels"])
        assert split == md.loc[pid, "split"]
    # the other official rows are reported as metadata without pixels, each by name
    assert sum(i.kind == "no-pixels" for i in report.issues) == len(official_metadata) - 24
    rep = pd.read_parquet(ws.path / "ingest_report.parquet")
    assert (rep["kind"] == "no-pixels").sum() == len(official_metadata) - 24


def test_reben_centres_inside_austria_or_finland(reben_ws):
    cat = reben_ws[0].catalog
    for lon, lat, country in zip(cat["lon"], cat["lat"], cat["country"], strict=True):
        box = {"Austria": AUSTRIA, "Finland": FINLAND}[country]
        assert _inside(lon, lat, box), (lon, lat, country)
    assert set(cat["country"]) == {"Austria", "Finland"}
    assert (cat["tile"] == "34WFU").sum() == 1


def test_reben_pixels_equal_geotiffs(reben_ws, reben_root):
    ws = reben_ws[0]
    cat = ws.catalog.set_index("patch_id")
    pid = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57"
    row = int(cat.loc[pid, "pixel_row"])
    folder = reben_root / "BigEarthNet-S2" / "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP" / pid
    for band, group, idx in (("B02", "s2_10m", 0), ("B8A", "s2_20m", 3), ("B09", "s2_60m", 1)):
        with rasterio.open(folder / f"{pid}_{band}.tif") as src:
            np.testing.assert_array_equal(ws.store.array(group)[row, idx], src.read(1))
    # the optional reference map is packed too
    ref = glob.glob(str(reben_root / "Reference_Maps" / "*" / pid / "*_reference_map.tif"))[0]
    with rasterio.open(ref) as src:
        np.testing.assert_array_equal(ws.store.array("refmap")[row, 0], src.read(1))


def test_reben_s1_pair_linked(reben_ws, reben_root):
    ws = reben_ws[0]
    cat = ws.catalog
    assert cat["has_s1"].sum() == 21  # 21 of the 24 S2 patches have their S1 partner in the sample
    r = cat[cat["has_s1"]].iloc[0]
    s1_dir = next((reben_root / "BigEarthNet-S1").glob(f"*/{r['s1_id']}"))
    with rasterio.open(s1_dir / f"{r['s1_id']}_VH.tif") as src:
        np.testing.assert_array_equal(ws.store.array("s1")[r["pixel_row"], 1], src.read(1))
    no_s1 = cat[~cat["has_s1"]].iloc[0]
    assert np.isnan(ws.store.array("s1")[no_s1["pixel_row"]]).all()  # missing S1 is nodata, not zeros


# --------------------------------------------------------------------------- metadata-only
def test_metadata_only_all_549488_patches_have_footprints(reben_meta_ws):
    cat = reben_meta_ws.catalog
    assert len(cat) == 549_488
    assert cat["patch_id"].is_unique
    for c in ("x_min", "y_min", "x_max", "y_max", "lon", "lat", "lon_min", "lat_max"):
        assert cat[c].notna().all(), c
    np.testing.assert_allclose(cat["x_max"] - cat["x_min"], 1200.0)
    np.testing.assert_allclose(cat["y_max"] - cat["y_min"], 1200.0)
    assert (cat["lat"].between(36, 71) & cat["lon"].between(-11, 33)).all()  # all within reBEN's Europe
    assert reben_meta_ws.has_pixels is False
    # the snow/cloud file's patches are flagged
    assert cat["cloud_or_shadow"].sum() + cat["seasonal_snow"].sum() >= 69_450


def test_metadata_only_agrees_with_geotiff_transform(reben_meta_ws, reben_ws):
    px = reben_ws[0].catalog.set_index("patch_id")
    md = reben_meta_ws.catalog.set_index("patch_id").loc[px.index]
    for c in ("x_min", "y_min", "x_max", "y_max"):
        assert np.abs(md[c] - px[c]).max() < 1.0, c
    assert (md["crs"] == px["crs"]).all()
    # centres agree to ~1 m in WGS84 too (1e-5 deg lat ~ 1.1 m)
    assert np.abs(md["lat"] - px["lat"]).max() < 1e-5


def test_metadata_only_agrees_with_official_v1_footprints(reben_meta_ws, shared_data, official_metadata):
    """208k patches whose v1 twin has an official footprint (zones 29, 31, 32, 33, 36): same corner, < 1 m."""
    import shapely

    cat = reben_meta_ws.catalog.merge(official_metadata[["patch_id", "s2v1_name"]], on="patch_id")
    checked = 0
    for f in sorted((shared_data / "bigearthnet-v1" / "metadata" / "spatial").glob("*.parquet")):
        epsg = f.stem.rsplit("_", 1)[-1]
        fp = pd.read_parquet(f)
        b = shapely.bounds(shapely.from_wkb(fp["geom"].to_numpy()))
        fp = fp.assign(fx=b[:, 0], fy=b[:, 3])
        m = cat.merge(fp[["patch_name", "fx", "fy"]], left_on="s2v1_name", right_on="patch_name")
        m = m[m["crs"] == f"EPSG:{epsg}"]
        d = np.hypot(m["x_min"] - m["fx"], m["y_max"] - m["fy"])
        assert (d < 1.0).all(), f"{f.name}: {(d >= 1).sum()} footprints off by up to {d.max():.1f} m"
        checked += len(m)
    assert checked > 200_000


# --------------------------------------------------------------------------- LMDB
def test_lmdb_and_geotiffs_give_identical_arrays(reben_root, reben_ws, tmp_path):
    out = tmp_path / "lmdb_ws"
    ingest(ReBENLMDB(reben_root / "lmdb" / "BigEarthNet-V2-LMDB"), out, progress=False)
    lm = Workspace(out)
    tif = reben_ws[0]
    common = sorted(set(lm.catalog["patch_id"]) & set(tif.catalog["patch_id"]))
    assert len(common) >= 21
    a = lm.catalog.set_index("patch_id")
    b = tif.catalog.set_index("patch_id")
    for pid in common:
        ra, rb = int(a.loc[pid, "pixel_row"]), int(b.loc[pid, "pixel_row"])
        for g in ("s2_10m", "s2_20m", "s2_60m", "s1"):
            np.testing.assert_array_equal(lm.store.array(g)[ra], tif.store.array(g)[rb], err_msg=f"{pid} {g}")
        assert sorted(a.loc[pid, "labels"]) == sorted(b.loc[pid, "labels"])
    # LMDB-only patches (the Finnish T35VNJ ones) are geolocated from the tile grid
    only = lm.catalog[~lm.catalog["patch_id"].isin(common)]
    assert only["lat"].between(59.7, 70.1).all() and len(only) >= 1


# --------------------------------------------------------------------------- BigEarthNet v1
@pytest.fixture(scope="module")
def ben1_ws(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ben1") / "ws"
    ingest(BigEarthNetV1(shared_data / "bigearthnet-v1"), out, progress=False)
    return Workspace(out)


def test_ben1_maps_43_to_19_labels(ben1_ws):
    """Hand-checked against the official JSON files and the bigearthnet-common 43->19 table."""
    cat = ben1_ws.catalog.set_index("patch_id")
    assert len(cat) == 14
    expected = {
        # Non-irrigated arable land -> Arable land; 243 keeps its name
        "S2A_MSIL2A_20170613T101031_87_48": [
            "Arable land", "Land principally occupied by agriculture, with significant areas of natural vegetation"],
        # Peatbogs -> Inland wetlands; Water bodies -> Inland waters; Transitional woodland/shrub -> ..., shrub
        "S2B_MSIL2A_20170924T93020_69_24": ["Coniferous forest", "Mixed forest", "Transitional woodland, shrub",
                                            "Inland wetlands", "Inland waters"],
        "S2A_MSIL2A_20180510T94033_19_86": ["Coniferous forest", "Inland wetlands"],
        "S2A_MSIL2A_20171221T112501_56_35": [
            "Complex cultivation patterns",
            "Land principally occupied by agriculture, with significant areas of natural vegetation",
            "Broad-leaved forest", "Transitional woodland, shrub"],
    }
    for pid, labels in expected.items():
        assert list(cat.loc[pid, "labels"]) == labels, pid

def test_ben1_dropped_classes(shared_data, tmp_path):
    """Classes without a 19-class counterpart are dropped; a patch left with none is reported, not ingested."""
    import shutil

    src = shared_data / "bigearthnet-v1" / "BigEarthNet-v1.0"
    root = tmp_path / "BigEarthNet-v1.0"
    for pid, labels in (("S2A_MSIL2A_20170613T101031_87_48", ["Road and rail networks and associated land",
                                                               "Continuous urban fabric", "Sea and ocean"]),
                        ("S2A_MSIL2A_20170617T113321_4_55", ["Bare rock", "Intertidal flats"])):
        shutil.copytree(src / pid, root / pid)
        jf = root / pid / f"{pid}_labels_metadata.json"
        doc = json.loads(jf.read_text())
        jf.write_text(json.dumps({**doc, "labels": labels}))
    report = ingest(BigEarthNetV1(tmp_path), tmp_path / "ws", progress=False)
    cat = Workspace(tmp_path / "ws").catalog
    assert list(cat["labels"].iloc[0]) == ["Urban fabric", "Marine waters"]
    assert [(i.patch_id, i.kind) for i in report.issues] == [("S2A_MSIL2A_20170617T113321_4_55",
                                                             "no-19-class-target")]


def test_ben1_official_tables_and_s1_lly(ben1_ws):
    cat = ben1_ws.catalog.set_index("patch_id")
    pid = "S2A_MSIL2A_20170613T101031_87_48"
    assert cat.loc[pid, "split"] == "test"
    assert cat.loc[pid, "country"] == "Austria"
    assert cat.loc[pid, "s1_id"] == "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48"
    assert cat["has_s1"].sum() == 6  # the 6 original S2 patches shipped with their S1 partner
    assert _inside(cat.loc[pid, "lon"], cat.loc[pid, "lat"], AUSTRIA)
    # the v1 JSON corner (ulx/uly) is the footprint
    assert cat.loc[pid, "x_min"] == 404400 and cat.loc[pid, "y_max"] == 5342400
    assert cat.loc[pid, "acquired"] == pd.Timestamp("2017-06-13 10:10:31", tz="UTC")


# --------------------------------------------------------------------------- EuroSAT
def test_eurosat_b8a_is_the_last_band_on_disk(shared_data, tmp_path):
    out = tmp_path / "eu"
    ingest(EuroSATMS(shared_data / "eurosat-ms"), out, progress=False)
    ws = Workspace(out)
    assert len(ws.catalog) == 180
    assert ws.catalog["labels"].map(len).eq(1).all()
    g = ws.store.groups["s2_all"]
    f = Path(shared_data / "eurosat-ms" / "Forest" / "Forest_1.tif")
    row = int(ws.catalog.set_index("patch_id").loc["Forest_1", "pixel_row"])
    with rasterio.open(f) as src:
        disk = src.read()
    stored = ws.store.array("s2_all")[row]
    np.testing.assert_array_equal(stored[g.bands.index("B8A")], disk[12])
    np.testing.assert_array_equal(stored[g.bands.index("B09")], disk[8])
    np.testing.assert_array_equal(stored[g.bands.index("B12")], disk[11])
    # physics: B8A sits on the NIR plateau with B08; B09 (water vapour) does not follow it as closely
    x = ws.store.array("s2_all")[:, [g.bands.index(b) for b in ("B08", "B8A", "B09")]].reshape(180, 3, -1)
    means = x.mean(axis=2)
    assert np.corrcoef(means[:, 0], means[:, 1])[0, 1] > 0.99
    assert ws.catalog["lat"].between(35, 71).all()


def test_eurosat_rgb_jpegs(shared_data, tmp_path):
    """EuroSAT RGB layout (<Class>/<Class>_<n>.jpg, no coordinates), made from the real MS files' B04/B03/B02."""
    from PIL import Image

    from mining.datasets import EuroSATRGB

    src = shared_data / "eurosat-ms"
    made = {}
    for cls in ("Forest", "SeaLake", "Residential"):
        for f in sorted((src / cls).glob("*.tif"))[:3]:
            with rasterio.open(f) as s:
                rgb = s.read([4, 3, 2]).astype(np.float32)
            img = np.clip(rgb / 3000 * 255, 0, 255).astype(np.uint8).transpose(1, 2, 0)
            out = tmp_path / "EuroSAT" / cls / f"{f.stem}.jpg"
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(out, quality=95)
            made[f.stem] = np.asarray(Image.open(out).convert("RGB"))
    ingest(EuroSATRGB(tmp_path / "EuroSAT"), tmp_path / "ws", progress=False)
    ws = Workspace(tmp_path / "ws")
    cat = ws.catalog.set_index("patch_id")
    assert set(cat.index) == set(made) and cat["lon"].isna().all()  # RGB JPEGs carry no coordinates
    assert cat.loc["Forest_1", "labels"].tolist() == ["Forest"]
    g = ws.store.groups["rgb"]
    assert g.bands == ("B04", "B03", "B02") and g.dtype == "uint8"
    row = int(cat.loc["SeaLake_1", "pixel_row"])
    np.testing.assert_array_equal(ws.store.array("rgb")[row], made["SeaLake_1"].transpose(2, 0, 1))
    from mining.composites import CompositeRenderer

    r = CompositeRenderer().fit(ws.store)
    assert r.composites_ == ["true_color"]  # the only composite RGB bands allow
    assert r.render(row, "true_color").shape == (64, 64, 4)
