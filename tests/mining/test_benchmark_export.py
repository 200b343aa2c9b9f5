"""Benchmark export (``eomine export --format reben-layout / eurosat-layout``): the round trip through
``eomine ingest --format reben / eurosat`` on the real reBEN, EuroSAT MS and Sentinel scene files (labels after
curation, splits, every band's pixels bit for bit, the GeoTIFFs' CRS and transform), and the refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import rasterio
from click.testing import CliRunner

from eomine.cli import main
from mining.benchmark_export import CARD_FILE, LAYOUT_FORMATS, eurosat_names, export_benchmark, reben_names
from mining.curation import Edit, EditLog
from mining.datasets import EuroSATMS, ReBEN, SceneDataset
from mining.errors import DataError
from mining.export import REBEN_COLUMNS
from mining.ingest import ingest
from mining.workspace import Workspace

CHIP = "sen1floods11-spain-7370579"
#: the tests that read ../shared/data (skipped with the reason when it is absent)
realdata = pytest.mark.realdata


# --------------------------------------------------------------------------- helpers
def _same_pixels(a: Workspace, b: Workspace, pairs, groups=None) -> dict[str, int]:
    """Patches whose pixels differ (bytes), per group; ``pairs``: (id in a, id in b); ``groups``: name -> bands
    of ``a`` to compare (default: every group of b, whole)."""
    ca, cb = a.catalog.set_index("patch_id"), b.catalog.set_index("patch_id")
    diff = {}
    for g in groups or b.store.groups:
        sel = [a.store.groups[g].bands.index(x) for x in b.store.groups[g].bands]
        n = 0
        for pa_, pb_ in pairs:
            ra, rb = int(ca.loc[pa_, "pixel_row"]), int(cb.loc[pb_, "pixel_row"])
            xa = np.asarray(a.store.array(g)[ra])[sel]
            xb = np.asarray(b.store.array(g)[rb])
            n += xa.dtype != xb.dtype or xa.tobytes() != xb.tobytes()
            n += bool(a.store.filled(g)[ra] != b.store.filled(g)[rb])
        diff[g] = n
    return diff


# --------------------------------------------------------------------------- reBEN: the exact round trip
@pytest.fixture(scope="module")
def reben_root(shared_data):
    return shared_data / "bigearthnet-v2-reben"


@pytest.fixture(scope="module")
def reben_curated(reben_root, tmp_path_factory):
    """The 24 real reBEN patches, one relabelled, one given one more label, one excluded, one moved to another
    split."""
    ws_path = tmp_path_factory.mktemp("reben") / "ws"
    ingest(ReBEN(reben_root), ws_path, progress=False)
    ws = Workspace(ws_path)
    ids = list(ws.ids)
    refmap_pid = next(p for p in ids if p.endswith("_26_57"))
    relabel, more, gone, moved = [p for p in ids if p != refmap_pid][:4]
    log = EditLog(ws)
    log.commit([Edit(relabel, "set", labels=("Urban fabric", "Marine waters"))], author="ana", note="coast")
    log.commit([Edit(more, "add", "Beaches, dunes, sands"), Edit(gone, "exclude")], author="bo")
    was = ws.catalog.set_index("patch_id").loc[moved, "split"]
    log.commit([Edit(moved, "split", label="validation" if was != "validation" else "test")], author="bo")
    return ws, {"relabel": relabel, "more": more, "gone": gone, "moved": moved}


@pytest.fixture(scope="module")
def reben_export(reben_curated, tmp_path_factory):
    ws, who = reben_curated
    out = tmp_path_factory.mktemp("reben_out") / "benchmark"
    r = CliRunner().invoke(main, ["export", str(ws.path), "--format", "reben-layout", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "exported 23 patches" in r.stdout and "1 excluded patches left out" in r.stdout
    again = out.parent / "again"
    report = ingest(ReBEN(out), again, progress=False)
    assert not report.issues, report.summary()
    return out, Workspace(again)


@realdata
def test_reben_round_trip_labels_splits_and_state(reben_curated, reben_export):
    ws, who = reben_curated
    out, again = reben_export
    cur = EditLog(ws, create=False).current_labels().to_frame().set_index("patch_id")
    src = ws.catalog.set_index("patch_id")
    back = again.catalog.set_index("patch_id")
    assert sorted(back.index) == sorted(set(src.index) - {who["gone"]}) and len(back) == 23
    assert {p: list(back.loc[p, "labels"]) for p in back.index} == {p: list(cur.loc[p, "labels"]) for p in back.index}
    assert list(back.loc[who["relabel"], "labels"]) == ["Urban fabric", "Marine waters"]
    assert "Beaches, dunes, sands" in list(back.loc[who["more"], "labels"])
    assert back["split"].equals(cur.loc[back.index, "split"].astype(back["split"].dtype))  # the split edit too
    assert back.loc[who["moved"], "split"] != src.loc[who["moved"], "split"]
    for col in ("country", "s1_id", "cloud_or_shadow", "seasonal_snow", "tile", "crs", "x_min", "y_min",
                "x_max", "y_max", "acquired"):
        assert back[col].equals(src.loc[back.index, col]), col


@realdata
def test_reben_round_trip_pixels_bit_for_bit(reben_curated, reben_export):
    ws, _ = reben_curated
    _, again = reben_export
    assert list(again.store.groups) == list(ws.store.groups) == ["s2_10m", "s2_20m", "s2_60m", "s1", "refmap"]
    assert all(again.store.groups[g] == ws.store.groups[g] for g in ws.store.groups)
    ids = list(again.catalog["patch_id"])
    assert _same_pixels(ws, again, zip(ids, ids, strict=True)) == {g: 0 for g in ws.store.groups}
    assert again.catalog["has_s1"].sum() == ws.catalog.set_index("patch_id").loc[ids, "has_s1"].sum() == 20


@realdata
def test_reben_layout_files_match_the_official_ones(reben_root, reben_curated, reben_export):
    """Every official GeoTIFF of an exported patch has its twin at the same relative path, with the same CRS,
    transform, size, type and values; the excluded patch and the S1-only patches have none."""
    ws, who = reben_curated
    out, _ = reben_export
    cat = ws.catalog.set_index("patch_id").drop(who["gone"])
    exported = set(cat.index) | set(cat.loc[cat["has_s1"], "s1_id"])
    n = 0
    for sub in ("BigEarthNet-S2", "BigEarthNet-S1", "Reference_Maps"):
        for f in sorted((reben_root / sub).rglob("*.tif")):
            rel = f.relative_to(reben_root)
            if f.parent.name not in exported:  # the excluded patch, its S1 partner, the 3 S1-only patches
                assert not (out / rel).exists() and not (out / rel).parent.exists(), rel
                continue
            with rasterio.open(f) as a, rasterio.open(out / rel) as b:
                assert a.crs == b.crs and a.transform == b.transform, rel
                assert (a.width, a.height, a.count, a.dtypes, a.nodata) == (b.width, b.height, b.count, b.dtypes,
                                                                             b.nodata), rel
                assert a.read().tobytes() == b.read().tobytes(), rel
            n += 1
    assert n == 23 * 12 + 20 * 2 + 1  # 23 patches x 12 bands, 20 S1 partners x 2 bands, 1 reference map
    assert sum(1 for _ in out.rglob("*.tif")) == n


@realdata
def test_reben_metadata_files_and_readme(reben_curated, reben_export):
    ws, who = reben_curated
    out, _ = reben_export
    clear = pq.read_table(out / "metadata.parquet")
    cloudy = pq.read_table(out / "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
    assert tuple(clear.schema.names) == tuple(cloudy.schema.names) == REBEN_COLUMNS
    assert clear.num_rows + cloudy.num_rows == 23
    c = cloudy.to_pandas()
    assert len(c) == 3 and (c["contains_cloud_or_shadow"] | c["contains_seasonal_snow"]).all()
    assert not clear.to_pandas()[["contains_cloud_or_shadow", "contains_seasonal_snow"]].any().any()
    row = clear.to_pandas().set_index("patch_id")
    relabel = row.loc[who["relabel"]] if who["relabel"] in row.index else c.set_index("patch_id").loc[who["relabel"]]
    assert list(relabel["labels"]) == ["Marine waters", "Urban fabric"]  # sorted by name, as the official file
    card = json.loads((out / CARD_FILE).read_text())
    assert card["edits_version"] == 3 and card["n_excluded"] == 1 and card["n_changed"] == 2
    assert card["workspace"] == str(ws.path) and card["eomine"]
    readme = (out / "README.md").read_text()
    cur = EditLog(ws, create=False).current_labels().to_frame().set_index("patch_id")
    splits = cur.drop(who["gone"])["split"].value_counts()
    row = next(line for line in readme.splitlines() if line.startswith("| **patches**"))
    assert row == (f"| **patches** | {splits['test']} | {splits['train']} | {splits['validation']} | 23 |")
    assert "Excluded patches are left out: 1" in readme and "edit log version: 3" in readme
    assert "| Marine waters | " in readme and "| B8A | 60 | 20 | uint16 |" in readme


# --------------------------------------------------------------------------- a scene cut into patches
@pytest.fixture(scope="module")
def chip_ws(shared_data, tmp_path_factory):
    d = shared_data / "scenes" / CHIP
    out = tmp_path_factory.mktemp("chip") / "ws"
    ingest(SceneDataset(d / "Spain_7370579_S2Hand.tif", s1=d / "Spain_7370579_S1Hand.tif"), out, progress=False)
    ws = Workspace(out)
    ids = ws.ids
    EditLog(ws).commit([Edit(ids[0], "set", labels=("Arable land",)),
                        Edit(ids[5], "set", labels=("Inland waters", "Urban fabric")),
                        Edit(ids[9], "set", labels=("Permanent crops",))], author="ana")
    return ws


@realdata
def test_a_scene_workspace_in_the_reben_layout_reads_back(chip_ws, tmp_path):
    out = tmp_path / "bench"
    seen = []
    card = export_benchmark(chip_ws, "reben-layout", out, progress=seen.append)
    assert seen[-1].fraction == 1.0 and all(0 < p.fraction <= 1 for p in seen)
    assert card["n_exported"] == 16 and card["n_s1"] == 16 and card["extra_bands"] == ["B10"]
    tiles = [p.name for p in (out / "BigEarthNet-S2").iterdir()]
    assert tiles == ["Spain_7370579_S2Hand"]  # the tile folder is the scene's name
    report = ingest(ReBEN(out), tmp_path / "again", progress=False)
    assert not report.issues, report.summary()
    again = Workspace(tmp_path / "again")
    src, back = chip_ws.catalog.set_index("patch_id"), again.catalog.set_index("patch_id")
    assert sorted(back.index) == sorted(src.index)
    cur = EditLog(chip_ws, create=False).current_labels().to_frame().set_index("patch_id")
    assert {p: list(back.loc[p, "labels"]) for p in back.index} == {p: list(cur.loc[p, "labels"]) for p in back.index}
    assert back["split"].isna().all() and (back["crs"] == "EPSG:4326").all()
    for c in ("x_min", "y_min", "x_max", "y_max"):
        np.testing.assert_allclose(back[c], src.loc[back.index, c], rtol=0, atol=1e-12)
    pid = "Spain_7370579_S2Hand_2_1"
    assert back.loc[pid, "s1_id"] == "Spain_7370579_S1Hand_2_1"
    assert (out / "BigEarthNet-S1" / "Spain_7370579_S1Hand" / "Spain_7370579_S1Hand_2_1").is_dir()
    # reBEN's 12 bands (the scene's int16 values, as the reben ingest's uint16) and S1, bit for bit
    groups = {"s2_10m": None, "s2_20m": None, "s2_60m": None, "s1": None}
    ids = list(back.index)
    pairs = list(zip(ids, ids, strict=True))
    d = {}
    for g in groups:
        sel = [chip_ws.store.groups[g].bands.index(b) for b in again.store.groups[g].bands]
        d[g] = sum(not np.array_equal(np.asarray(chip_ws.store.array(g)[int(src.loc[a, "pixel_row"])])[sel],
                                      np.asarray(again.store.array(g)[int(back.loc[b, "pixel_row"])]))
                   for a, b in pairs)
    assert d == {g: 0 for g in groups}
    assert _same_pixels(chip_ws, again, pairs, groups=["s1"]) == {"s1": 0}
    # B10 (not a reBEN band) is one more file with the scene's values
    g60 = chip_ws.store.groups["s2_60m"]
    with rasterio.open(out / "BigEarthNet-S2" / "Spain_7370579_S2Hand" / pid / f"{pid}_B10.tif") as f:
        b10 = f.read(1)
        assert f.crs.to_epsg() == 4326 and f.width == 20
    want = np.asarray(chip_ws.store.array("s2_60m")[int(src.loc[pid, "pixel_row"]), g60.bands.index("B10")])
    assert np.array_equal(b10, want)


@realdata
def test_off_grid_ids_need_their_geotiffs(chip_ws, tmp_path):
    """Metadata-only, a scene export's ids (no _T<tile>_) have no footprint: skipped as bad-id, as before."""
    export_benchmark(chip_ws, "reben-layout", tmp_path / "bench")
    report = ingest(ReBEN(tmp_path / "bench", metadata_only=True), tmp_path / "md", progress=False)
    assert report.n_patches == 0 and {i.kind for i in report.issues} == {"bad-id"} and len(report.issues) == 16


# --------------------------------------------------------------------------- EuroSAT
def _eurosat_subset(shared: Path, dst: Path, n: int = 5, classes=("AnnualCrop", "Forest", "River")) -> Path:
    """Symbolic links to the first ``n`` real files of a few classes (nothing copied)."""
    for c in classes:
        (dst / c).mkdir(parents=True)
        for f in sorted((shared / "eurosat-ms" / c).glob("*.tif"))[:n]:
            os.symlink(f, dst / c / f.name)
    return dst


@pytest.fixture
def eurosat_ws(shared_data, tmp_path):
    src = _eurosat_subset(shared_data, tmp_path / "src")
    ingest(EuroSATMS(src), tmp_path / "ws", progress=False)
    return Workspace(tmp_path / "ws")


@realdata
def test_eurosat_round_trip(eurosat_ws, shared_data, tmp_path):
    ws = eurosat_ws
    ids = list(ws.ids)
    moved = next(p for p in ids if p.startswith("AnnualCrop_"))
    gone = next(p for p in ids if p.startswith("River_"))
    EditLog(ws).commit([Edit(moved, "set", labels=("Forest",)), Edit(gone, "exclude")], author="ana")
    out = tmp_path / "bench"
    card = export_benchmark(ws, "eurosat-layout", out)
    assert card["eurosat_readable"] and card["n_exported"] == 14 and card["n_renamed"] == 1
    report = ingest(EuroSATMS(out), tmp_path / "again", progress=False)
    assert not report.issues, report.summary()
    again = Workspace(tmp_path / "again")
    table = pd.read_csv(out / "patches.csv")
    assert len(table) == len(again.catalog) == 14 and gone not in set(table["source_patch_id"])
    new_id = table.set_index("source_patch_id").loc[moved, "patch_id"]
    forest_n = [int(p.split("_")[1]) for p in ids if p.startswith("Forest_")]
    assert new_id == f"Forest_{max(forest_n) + 1}"
    kept = table[table["source_patch_id"] != moved]
    assert (kept["patch_id"] == kept["source_patch_id"]).all()  # unchanged patches keep their EuroSAT names
    cur = EditLog(ws, create=False).current_labels().to_frame().set_index("patch_id")
    back = again.catalog.set_index("patch_id")
    assert all(list(back.loc[n, "labels"]) == list(cur.loc[s, "labels"])
               for n, s in zip(table["patch_id"], table["source_patch_id"], strict=True))
    assert back["split"].isna().all()
    pairs = list(zip(table["source_patch_id"], table["patch_id"], strict=True))
    assert _same_pixels(ws, again, pairs) == {"s2_all": 0}
    # the files are the originals' bands in the same order, CRS and grid
    for s, n in pairs[:3]:
        cls = n.split("_")[0]
        with rasterio.open(shared_data / "eurosat-ms" / s.split("_")[0] / f"{s}.tif") as a, \
                rasterio.open(out / cls / f"{n}.tif") as b:
            assert a.crs == b.crs and a.transform.almost_equals(b.transform, precision=1e-9)
            assert a.read().tobytes() == b.read().tobytes()
    assert "AnnualCrop" in (out / "README.md").read_text()


@realdata
def test_eurosat_layout_is_single_label_and_eurosat_classes(reben_curated, chip_ws, copy_ws, tmp_path):
    ws, _ = reben_curated
    with pytest.raises(DataError, match=r"eurosat-layout is single-label: \d+ patches have several labels \(first: "):
        export_benchmark(ws, "eurosat-layout", tmp_path / "a")
    one = Workspace(copy_ws(chip_ws.path, "one"))  # without the edit log: no multi-label patch
    EditLog(one).commit([Edit(one.ids[3], "set", labels=("Arable land",))], author="ana")
    with pytest.raises(DataError, match="patch Spain_7370579_S2Hand_3_0 has label 'Arable land', not a EuroSAT class"):
        export_benchmark(one, "eurosat-layout", tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert not list(tmp_path.glob("*.partial"))


@realdata
def test_existing_output_folder(eurosat_ws, tmp_path):
    out = tmp_path / "bench"
    out.mkdir()
    export_benchmark(eurosat_ws, "eurosat-layout", out)  # an empty folder is fine
    with pytest.raises(DataError, match="already exists; pass --overwrite"):
        export_benchmark(eurosat_ws, "eurosat-layout", out)
    EditLog(eurosat_ws).commit([Edit(eurosat_ws.ids[0], "exclude")], author="ana")
    card = export_benchmark(eurosat_ws, "eurosat-layout", out, overwrite=True)
    assert card["n_exported"] == 14 and sum(1 for _ in out.rglob("*.tif")) == 14
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="is not an eomine benchmark export .* refusing to replace it"):
        export_benchmark(eurosat_ws, "eurosat-layout", mine, overwrite=True)
    assert (mine / "notes.txt").read_text() == "keep me"
    with pytest.raises(DataError, match="inside or around the workspace"):
        export_benchmark(eurosat_ws, "eurosat-layout", eurosat_ws.path / "bench")
    with pytest.raises(DataError, match="folder .* does not exist"):
        export_benchmark(eurosat_ws, "eurosat-layout", tmp_path / "no" / "bench")
    with pytest.raises(DataError, match=r"reben-layout needs reBEN's band groups s2_10m, .* has s2_all \(64 px\)"):
        export_benchmark(eurosat_ws, "reben-layout", tmp_path / "r")
    assert not (tmp_path / "r").exists() and not (tmp_path / "r.partial").exists()
    with pytest.raises(DataError, match="unknown benchmark layout 'tiff-layout'"):
        export_benchmark(eurosat_ws, "tiff-layout", tmp_path / "t")
    r = CliRunner().invoke(main, ["export", str(eurosat_ws.path), "--format", "eurosat-layout", "--out", str(out)])
    assert r.exit_code == 2 and "already exists; pass --overwrite" in r.stderr
    r = CliRunner().invoke(main, ["export", str(eurosat_ws.path), "--format", "tiff-layout", "--out", str(out)])
    assert r.exit_code == 2 and "'reben-layout', 'eurosat-layout'" in r.stderr


# --------------------------------------------------------------------------- names (no data needed)
def test_reben_names():
    ids = ["S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43", "scene_1_2", "scene_3_4", "odd"]
    s1 = ["S1B_IW_GRDH_1SDV_20170612T165809_33UUP_70_48", "S1_file", "S1_file", None]
    n = reben_names(ids, s1, "fallback")
    assert list(n["tile"]) == ["S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP", "scene", "scene", "fallback"]
    assert list(n["s1_name"]) == ["S1B_IW_GRDH_1SDV_20170612T165809_33UUP_70_48", "S1_file_1_2", "S1_file_3_4", None]
    assert list(n["s1_product"]) == ["S1B_IW_GRDH_1SDV_20170612T165809", "S1_file", "S1_file", None]
    with pytest.raises(DataError, match="'a/b' cannot be a folder name"):
        reben_names(["a/b"], [None], "x")


def test_eurosat_names():
    got = eurosat_names(["AnnualCrop_1", "AnnualCrop_7", "Forest_3", "AnnualCrop_2", "x"],
                        ["AnnualCrop", "Forest", "Forest", "Forest", "River"])
    assert list(got) == ["AnnualCrop_1", "Forest_4", "Forest_3", "Forest_5", "River_1"]


def test_the_formats_are_the_clis():
    from eomine.cli.curation import export_cmd

    fmt = next(p for p in export_cmd.params if p.name == "fmt")
    assert set(LAYOUT_FORMATS) <= set(fmt.type.choices)
