"""The embedded demo dataset: determinism, catalog contents, label noise, geolocation, physical plausibility."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from mining.datasets.demo import SPECTRA_PATH, TILES_PATH, DemoDataset, load_tiles
from mining.ingest import ingest
from mining.nomenclature import load_nomenclature
from mining.workspace import CATALOG_SCHEMA, Workspace

N = 300
CLASSES = load_nomenclature("ben19").classes
FOREST = {"Broad-leaved forest", "Coniferous forest", "Mixed forest"}
WATER = {"Inland waters", "Marine waters"}
GROUPS = {"s2_10m": ((4, 60, 60), np.uint16), "s2_20m": ((6, 30, 30), np.uint16),
          "s2_60m": ((2, 10, 10), np.uint16), "s1": ((2, 60, 60), np.float32)}


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory):
    """Two ingests with seed 0 (n = 300)."""
    root = tmp_path_factory.mktemp("demo")
    out = {}
    for name in ("a", "b"):
        ingest(DemoDataset(n=N, seed=0), root / name, progress=False)
        out[name] = Workspace(root / name)
    return out


@pytest.fixture(scope="module")
def big():
    """A larger scan (no pixels) for statistics; pixels are read for a few selected rows only."""
    ds = DemoDataset(n=4000, seed=0)
    df, issues = ds.scan()
    assert issues == []
    return ds, df


def _pixels(ws: Workspace) -> dict[str, np.ndarray]:
    return {g: np.asarray(ws.store.array(g)) for g in GROUPS}


# ---------------------------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_catalog_and_pixels(workspaces):
    a, b = workspaces["a"], workspaces["b"]
    pd.testing.assert_frame_equal(a.catalog, b.catalog)
    pa, pb = _pixels(a), _pixels(b)
    for g in GROUPS:
        np.testing.assert_array_equal(pa[g], pb[g], err_msg=g)


def test_other_seed_differs(workspaces):
    a = workspaces["a"]
    other = DemoDataset(n=N, seed=1)
    df, _ = other.scan()
    assert list(a.catalog["patch_id"]) != list(df["patch_id"])
    assert list(a.catalog["gt_labels"].map(list)) != list(df["gt_labels"])
    mine = _pixels(a)["s2_10m"]
    for row in list(df.itertuples(index=True))[:5]:
        px = other.read(row)["s2_10m"]
        assert not any(np.array_equal(px, m) for m in mine)


def test_read_does_not_depend_on_order_or_thread():
    ds = DemoDataset(n=24, seed=0)
    df, _ = ds.scan()
    rows = list(df.itertuples(index=True))
    forward = [ds.read(r) for r in rows]
    backward = [ds.read(r) for r in reversed(rows)][::-1]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(ds.read, rows))
    # a fresh instance reading a single patch gives the same pixels
    fresh = DemoDataset(n=24, seed=0)
    fresh_df, _ = fresh.scan()
    single = fresh.read(list(fresh_df.itertuples(index=True))[17])
    for f, bw, t in zip(forward, backward, threaded, strict=True):
        for g in GROUPS:
            np.testing.assert_array_equal(f[g], bw[g])
            np.testing.assert_array_equal(f[g], t[g])
    for g in GROUPS:
        np.testing.assert_array_equal(single[g], forward[17][g])


def test_patches_do_not_depend_on_n():
    """The landscape is fixed per seed: a smaller demo is a subset with the same labels."""
    small, _ = DemoDataset(n=100).scan()
    large, _ = DemoDataset(n=400).scan()
    truth = large.set_index("patch_id")["gt_labels"]
    common = small[small["patch_id"].isin(truth.index)]
    assert len(common) >= 90
    for pid, labels in zip(common["patch_id"], common["gt_labels"], strict=True):
        assert list(truth[pid]) == list(labels)


# ---------------------------------------------------------------------------------------------- catalog
def test_catalog_columns_and_ids(workspaces):
    cat = workspaces["a"].catalog
    assert len(cat) == N
    for f in CATALOG_SCHEMA:
        assert f.name in cat.columns, f.name
    for c in ("gt_labels", "gt_label_error", "gt_error_kind"):
        assert c in cat.columns
    assert not any(c.startswith("tmp_") for c in cat.columns)
    assert cat["patch_id"].is_unique
    pat = re.compile(r"^DEMO_S2[AB]_MSIL2A_(20(17|18)\d{4}T\d{6})_N9999_R\d{3}_T(\d{2}[A-Z]{3})_(\d+)_(\d+)$")
    for pid, tile, acq in zip(cat["patch_id"], cat["tile"], cat["acquired"], strict=True):
        m = pat.match(pid)
        assert m, pid
        assert m.group(3) == tile
        assert 0 <= int(m.group(4)) <= 90 and 0 <= int(m.group(5)) <= 90
        assert pd.Timestamp(m.group(1), tz="UTC") == acq
    assert cat["s1_id"].str.match(r"^DEMO_S1[AB]_IW_GRDH_1SDV_\d{8}T\d{6}_\d{2}[A-Z]{3}_\d+_\d+$").all()
    assert (cat["dataset"] == "eomine-demo").all() and (cat["source"] == "generated").all()
    assert set(cat["split"]) <= {"train", "validation", "test"} and len(set(cat["split"])) == 3
    assert cat["acquired"].dt.year.isin([2017, 2018]).all()
    assert (cat["pixel_row"] >= 0).all() and cat["has_s2"].all() and cat["has_s1"].all()
    assert cat["season"].notna().all()
    meta = json.loads((workspaces["a"].path / "workspace.json").read_text())
    assert meta["made_by"]["n"] == N and meta["made_by"]["seed"] == 0 and meta["made_by"]["noise_rate"] == 0.08


def test_labels_use_the_nomenclature_in_official_order(workspaces):
    cat = workspaces["a"].catalog
    idx = {c: i for i, c in enumerate(CLASSES)}
    for col in ("labels", "gt_labels"):
        for labels in cat[col]:
            labels = list(labels)
            assert labels, col
            assert all(x in idx for x in labels)
            assert [idx[x] for x in labels] == sorted(idx[x] for x in labels)
            assert len(set(labels)) == len(labels)
    n = cat["gt_labels"].map(len)
    assert 2.0 < n.mean() < 4.5 and n.max() <= 12


def test_snow_and_cloud_flags(big):
    _, df = big
    assert 0.01 < df["cloud_or_shadow"].mean() < 0.07
    assert 0.02 < df["seasonal_snow"].mean() < 0.10
    assert df.loc[df["seasonal_snow"], "acquired"].dt.month.isin([11, 12, 1, 2, 3]).all()
    split = df["split"].value_counts(normalize=True)
    assert 0.35 < split["train"] < 0.7 and 0.1 < split["test"] < 0.4


def test_invalid_options_raise():
    for kw in ({"n": 0}, {"n": -5}, {"noise_rate": 0.5}, {"noise_rate": -0.01}, {"noise_rate": "x"}):
        with pytest.raises(ValueError):
            DemoDataset(**kw).scan()


# ---------------------------------------------------------------------------------------------- label noise
def test_injected_errors_match_noise_rate_and_ground_truth(workspaces):
    cat = workspaces["a"].catalog
    err = cat["gt_label_error"].to_numpy()
    assert abs(err.mean() - 0.08) <= 0.01
    differs = np.array([list(a) != list(b) for a, b in zip(cat["labels"], cat["gt_labels"], strict=True)])
    np.testing.assert_array_equal(differs, err)
    assert set(cat.loc[~err, "gt_error_kind"]) == {"none"}
    for labels, truth, kind in zip(cat["labels"][err], cat["gt_labels"][err], cat["gt_error_kind"][err],
                                   strict=True):
        lab, tru = set(labels), set(truth)
        if kind == "drop":
            assert lab < tru and len(tru - lab) == 1
        elif kind == "add":
            assert lab > tru and len(lab - tru) == 1
        else:
            assert kind == "swap" and len(lab) == len(tru) and len(lab - tru) == 1


def test_noise_rate_zero_and_high():
    clean, _ = DemoDataset(n=200, noise_rate=0.0).scan()
    assert not clean["gt_label_error"].any()
    assert all(list(a) == list(b) for a, b in zip(clean["labels"], clean["gt_labels"], strict=True))
    noisy, _ = DemoDataset(n=200, noise_rate=0.3).scan()
    assert noisy["gt_label_error"].sum() == 60
    assert set(noisy["gt_error_kind"]) == {"none", "drop", "add", "swap"}


# ---------------------------------------------------------------------------------------------- geolocation
def test_patches_lie_in_europe_on_their_utm_tile(workspaces):
    cat = workspaces["a"].catalog
    assert cat["lon"].between(-10, 35).all() and cat["lat"].between(35, 71).all()
    zone = cat["tile"].str[:2].astype(int)
    central = -183 + 6 * zone
    assert ((cat["lon"] - central).abs() < 4.5).all()
    assert (cat["crs"] == "EPSG:326" + cat["tile"].str[:2]).all()
    np.testing.assert_allclose(cat["x_max"] - cat["x_min"], 600)
    np.testing.assert_allclose(cat["y_max"] - cat["y_min"], 600)
    assert ((cat["lon_min"] <= cat["lon"]) & (cat["lon"] <= cat["lon_max"])).all()
    assert ((cat["lat_min"] <= cat["lat"]) & (cat["lat"] <= cat["lat_max"])).all()
    assert cat["country"].nunique() >= 5
    # one patch per grid cell
    assert not cat.duplicated(["tile", "x_min", "y_max"]).any()


def test_neighbouring_patches_share_land_cover():
    df, _ = DemoDataset(n=15000).scan()
    cell = df["patch_id"].str.extract(r"_(\d+)_(\d+)$").astype(int)
    sets = {(t, c, r): set(x) for t, c, r, x in zip(df["tile"], cell[0], cell[1], df["gt_labels"], strict=True)}

    def jaccard(a, b):
        return len(a & b) / len(a | b)

    near = [jaccard(s, sets[(t, c + dc, r + dr)]) for (t, c, r), s in sets.items()
            for dc, dr in ((1, 0), (0, 1), (1, 1), (1, -1)) if (t, c + dc, r + dr) in sets]
    rng = np.random.default_rng(0)
    keys = list(sets)
    far = []
    for _ in range(3000):
        i, j = rng.integers(len(keys), size=2)
        if keys[i][0] == keys[j][0]:
            far.append(jaccard(sets[keys[i]], sets[keys[j]]))
    assert len(near) > 500
    assert np.mean(near) > np.mean(far) + 0.1


# ---------------------------------------------------------------------------------------------- pixels
def test_shapes_dtypes_and_value_range(workspaces):
    ws = workspaces["a"]
    assert ws.meta["bands"] == ["B02", "B03", "B04", "B08", "B05", "B06", "B07", "B8A", "B11", "B12", "B01", "B09",
                                "VV", "VH"]
    pix = _pixels(ws)
    for g, (shape, dtype) in GROUPS.items():
        a = pix[g]
        assert a.shape == (N, *shape) and a.dtype == dtype
        if dtype == np.uint16:
            assert a.min() >= 1 and a.max() <= 10000      # 0 is nodata: never produced
        else:
            assert np.isfinite(a).all() and -45 < a.min() and a.max() < 20
    # coarse bands are block means of a 10 m field: smooth, not noise
    b05 = pix["s2_20m"][:, 0].astype(float)
    lag = np.corrcoef(b05[:, :, :-1].ravel(), b05[:, :, 1:].ravel())[0, 1]
    assert lag > 0.5


def test_physically_plausible_spectra(big):
    ds, df = big
    clean = ~df["cloud_or_shadow"] & ~df["seasonal_snow"]
    rows = {r.Index: r for r in df.itertuples(index=True)}

    def mean_bands(sel, limit=40):
        out = []
        for i in np.flatnonzero(sel.to_numpy())[:limit]:
            px = ds.read(rows[i])["s2_10m"].astype(float)
            out.append(px.mean(axis=(1, 2)))               # B02 B03 B04 B08
        return np.array(out)

    forest = mean_bands(clean & df["gt_labels"].map(lambda x: set(x) <= FOREST))
    assert len(forest) >= 10
    ndvi = (forest[:, 3] - forest[:, 2]) / (forest[:, 3] + forest[:, 2])
    assert ndvi.mean() > 0.6
    water = mean_bands(df["gt_labels"].map(lambda x: set(x) <= WATER) & clean)
    assert len(water) >= 3
    assert water[:, 3].mean() < 800                     # NIR absorbed by water
    assert (water[:, 3] < forest[:, 3].mean()).all()
    snow = mean_bands(df["seasonal_snow"] & ~df["cloud_or_shadow"], limit=15)
    assert snow[:, 1].mean() > 2 * forest[:, 1].mean()   # snow is bright in the visible
    # S1: open water is dark in VV, forest is not
    w = [ds.read(rows[i])["s1"][0].mean() for i in
         np.flatnonzero((df["gt_labels"].map(lambda x: set(x) <= WATER)).to_numpy())[:10]]
    f = [ds.read(rows[i])["s1"][0].mean() for i in
         np.flatnonzero((df["gt_labels"].map(lambda x: set(x) <= FOREST)).to_numpy())[:10]]
    assert np.mean(w) < np.mean(f) - 5


def test_co_occurrence_like_reben(big):
    _, df = big
    labels = df["gt_labels"].map(set)
    arable = labels[labels.map(lambda s: "Arable land" in s)]
    agri = arable.map(lambda s: bool(s & {"Complex cultivation patterns", "Land principally occupied by agriculture, "
                                                                        "with significant areas of natural vegetation"}))
    marine = arable.map(lambda s: "Marine waters" in s)
    assert agri.mean() > 2 * marine.mean()
    forests = labels[labels.map(lambda s: "Coniferous forest" in s)]
    assert forests.map(lambda s: "Mixed forest" in s).mean() > 0.3
    urban = labels[labels.map(lambda s: "Industrial or commercial units" in s)]
    assert urban.map(lambda s: "Urban fabric" in s).mean() > 0.5
    # country character: Finland is coniferous, Ireland is pasture
    by_country = df.assign(conifer=labels.map(lambda s: "Coniferous forest" in s),
                           pasture=labels.map(lambda s: "Pastures" in s)).groupby("country")
    assert by_country["conifer"].mean()["Finland"] > 0.6
    assert by_country["pasture"].mean()["Ireland"] > 0.6


def test_spectra_file_documents_every_class():
    doc = json.loads(SPECTRA_PATH.read_text())
    assert tuple(doc["bands"]) == ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11",
                                   "B12")
    assert set(doc["classes"]) == set(CLASSES)
    for name, e in doc["classes"].items():
        assert len(e["mean"]) == 12 and len(e["std"]) == 12 and len(e["s1_mean_db"]) == 2, name
        assert e["provenance"] and e["s1_provenance"], name
        assert all(0 < v <= 10000 for v in e["mean"]), name


def test_tiles_file_says_what_it_holds_and_where_it_comes_from():
    doc = json.loads(TILES_PATH.read_text())
    assert doc["format"] == "eomine-demo-tiles" and doc["version"] == 1
    assert "reBEN" in doc["source"] and set(doc["fields"]) >= {"tile", "products", "prevalence", "mask", "sea"}
    tiles = load_tiles()
    assert len(tiles) == 12 and len({t.tile for t in tiles}) == 12
    for t in tiles:
        assert re.fullmatch(r"\d\d[A-Z]{3}", t.tile) and t.n_reben > 0, t.tile
        assert abs(sum(p[2] for p in t.products) - 1) < 0.02, t.tile  # acquisition shares (rounded)
        assert all(p[0].startswith("S2") and p[1].startswith("S1") and 0 <= p[3] <= 1 and 0 <= p[4] <= 1
                   for p in t.products), t.tile
        assert len(t.prevalence) == len(CLASSES) and all(0 <= v <= 1 for v in t.prevalence), t.tile
        assert t.sea is None or abs(np.hypot(*t.sea) - 1) < 0.01, t.tile


def test_a_malformed_tiles_file_is_refused_with_its_name(tmp_path):
    doc = json.loads(TILES_PATH.read_text())
    with pytest.raises(ValueError, match="demo tiles not found"):
        load_tiles(str(tmp_path / "none.json"))
    bad = tmp_path / "format.json"
    bad.write_text(json.dumps({**doc, "format": "other"}))
    with pytest.raises(ValueError, match="not an eomine-demo-tiles file"):
        load_tiles(str(bad))
    short = json.loads(json.dumps(doc))
    short["tiles"][3]["prevalence"] = short["tiles"][3]["prevalence"][:-1]
    bad = tmp_path / "short.json"
    bad.write_text(json.dumps(short))
    with pytest.raises(ValueError, match=f"tile {doc['tiles'][3]['tile']}: expected 19 prevalences"):
        load_tiles(str(bad))
    broken = json.loads(json.dumps(doc))
    del broken["tiles"][5]["products"]
    bad.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="tile 5 is malformed"):
        load_tiles(str(bad))
