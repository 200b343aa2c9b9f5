"""The workspace on disk: complete-or-absent publishing, overwrite rules, format versions, catalog schema."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mining.datasets import EuroSATMS, ReBEN
from mining.errors import DataError, WorkspaceError
from mining.ingest import ingest
from mining.workspace import CATALOG_SCHEMA, Workspace, save_npy

pytestmark = pytest.mark.realdata

PRODUCT = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
S1_PRODUCT = "S1B_IW_GRDH_1SDV_20170612T165809"
REBEN_IDS = [f"{PRODUCT}_26_57", f"{PRODUCT}_27_55", f"{PRODUCT}_27_56"]


def run(ds, out: Path, **kw):
    return ingest(ds, out, progress=False, workers=2, **kw)


def digest(path: Path) -> dict[str, str]:
    return {str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(path.rglob("*")) if f.is_file()}


def copy_tree(src: Path, dst: Path) -> None:
    for f in src.rglob("*"):
        if f.is_file():
            out = dst / f.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, out)  # writable copy of the read-only shared file


@pytest.fixture(scope="module")
def reben_root(tmp_path_factory, shared_data) -> Path:
    """3 real reBEN patches (S2 for all, S1 for the first) + their official metadata rows."""
    src = shared_data / "bigearthnet-v2-reben"
    root = tmp_path_factory.mktemp("reben")
    for pid in REBEN_IDS:
        copy_tree(src / "BigEarthNet-S2" / PRODUCT / pid, root / "BigEarthNet-S2" / PRODUCT / pid)
    s1 = f"{S1_PRODUCT}_33UUP_26_57"
    copy_tree(src / "BigEarthNet-S1" / S1_PRODUCT / s1, root / "BigEarthNet-S1" / S1_PRODUCT / s1)
    t = pq.read_table(src / "metadata.parquet", filters=[("patch_id", "in", REBEN_IDS)])
    assert t.num_rows == 3
    pq.write_table(t, root / "metadata.parquet")
    return root


@pytest.fixture(scope="module")
def reben_ws(tmp_path_factory, reben_root) -> Path:
    out = tmp_path_factory.mktemp("ws") / "reben"
    report = run(ReBEN(reben_root, metadata=[reben_root / "metadata.parquet"]), out)
    assert report.issues == []
    return out


@pytest.fixture
def eurosat(tmp_path, shared_data):
    """Make a small EuroSAT folder from real files: ``eurosat(["Forest_1", ...]) -> root``."""
    def make(names, name="eurosat"):
        root = tmp_path / name
        for n in names:
            cls = n.split("_")[0]
            (root / cls).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shared_data / "eurosat-ms" / cls / f"{n}.tif", root / cls / f"{n}.tif")
        return root
    return make


# ---------------------------------------------------------------------------------------------------- completeness
def test_directory_without_workspace_json_is_rejected(reben_ws, tmp_path):
    half = tmp_path / "half"
    shutil.copytree(reben_ws, half)
    (half / "workspace.json").unlink()  # what an interrupted ingest leaves if it wrote in place
    with pytest.raises(WorkspaceError, match="not a complete") as exc:
        Workspace(half)
    assert str(half) in str(exc.value)

    (tmp_path / "half.partial").mkdir()  # the interrupted run's build folder is still there: say so
    with pytest.raises(WorkspaceError, match="interrupted"):
        Workspace(half)


def test_missing_directory_is_rejected(tmp_path):
    with pytest.raises(WorkspaceError) as exc:
        Workspace(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(exc.value)


def test_stale_partial_does_not_block_next_ingest(eurosat, tmp_path):
    src = eurosat(["Forest_1", "River_1", "SeaLake_1"])
    out = tmp_path / "ws"
    stale = tmp_path / "ws.partial"
    (stale / "pixels").mkdir(parents=True)
    (stale / "catalog.parquet").write_bytes(b"half-written garbage")
    (stale / "pixels" / "s2_all.npy").write_bytes(b"\0" * 1000)
    (stale / "leftover.txt").write_text("from the interrupted run")

    report = run(EuroSATMS(src), out)

    assert report.issues == []
    ws = Workspace(out)
    assert sorted(ws.catalog["patch_id"]) == ["Forest_1", "River_1", "SeaLake_1"]
    assert not (out / "leftover.txt").exists()
    assert not stale.exists()
    assert ws.store.array("s2_all").shape == (3, 13, 64, 64)


def test_interrupted_ingest_keeps_old_workspace_and_next_run_recovers(reben_root, reben_ws, tmp_path):
    out = tmp_path / "ws"
    shutil.copytree(reben_ws, out)
    before = digest(out)

    class Interrupted(ReBEN):
        def read(self, row):
            if row.Index == 1:
                raise KeyboardInterrupt  # Ctrl-C while packing pixels
            return super().read(row)

    with pytest.raises(KeyboardInterrupt):
        run(Interrupted(reben_root, metadata=[reben_root / "metadata.parquet"]), out, overwrite=True)
    assert digest(out) == before
    Workspace(out)

    run(ReBEN(reben_root, metadata=[reben_root / "metadata.parquet"]), out, overwrite=True)
    assert sorted(Workspace(out).catalog["patch_id"]) == sorted(REBEN_IDS)
    assert not (tmp_path / "ws.partial").exists()


# ---------------------------------------------------------------------------------------------------- overwrite
def test_existing_workspace_needs_overwrite(eurosat, reben_ws, tmp_path):
    out = tmp_path / "ws"
    shutil.copytree(reben_ws, out)
    before = digest(out)
    with pytest.raises(WorkspaceError, match="overwrite") as exc:
        run(EuroSATMS(eurosat(["Forest_1"])), out)
    assert str(out) in str(exc.value)
    assert digest(out) == before


def test_overwrite_replaces_only_once_the_new_workspace_is_complete(eurosat, reben_root, reben_ws, tmp_path):
    out = tmp_path / "ws"
    shutil.copytree(reben_ws, out)
    before = digest(out)

    broken = tmp_path / "broken"
    shutil.copytree(reben_root, broken)
    b03 = broken / "BigEarthNet-S2" / PRODUCT / REBEN_IDS[2] / f"{REBEN_IDS[2]}_B03.tif"
    b03.write_bytes(b03.read_bytes()[:1000])  # fails while packing pixels, after 2 patches were written
    with pytest.raises(DataError, match=b03.name):
        run(ReBEN(broken, metadata=[broken / "metadata.parquet"]), out, on_error="fail", overwrite=True)
    assert digest(out) == before
    assert sorted(Workspace(out).catalog["patch_id"]) == sorted(REBEN_IDS)

    # a good run replaces it, with nothing of the old one left behind
    report = run(EuroSATMS(eurosat(["Forest_1", "River_1"])), out, overwrite=True)
    assert report.n_patches == 2
    ws = Workspace(out)
    assert ws.meta["dataset"] == "EuroSAT-MS"
    assert sorted(ws.catalog["patch_id"]) == ["Forest_1", "River_1"]
    assert not (out / "pixels" / "s2_10m.npy").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "eurosat", "ws"]


def test_overwrite_refuses_a_directory_that_is_not_a_workspace(eurosat, tmp_path):
    """--overwrite replaces a workspace; it must not delete an unrelated folder given as --out by mistake."""
    src = eurosat(["Forest_1"])
    mine = tmp_path / "my-results"
    mine.mkdir()
    (mine / "notes.txt").write_text("a week of work")
    with pytest.raises(WorkspaceError) as exc:
        run(EuroSATMS(src), mine, overwrite=True)
    assert str(mine) in str(exc.value)
    assert (mine / "notes.txt").read_text() == "a week of work"


def test_overwrite_keeps_the_curation_log_of_the_replaced_workspace(eurosat, tmp_path):
    """Re-ingesting a curated workspace must not delete the curators' edits: the log is moved beside it."""
    from mining.curation import Edit, EditLog

    src = eurosat(["Forest_1", "River_1"])
    out = tmp_path / "ws"
    run(EuroSATMS(src), out)
    ws = Workspace(out)
    pid = ws.catalog["patch_id"].iloc[0]
    EditLog(ws).commit([Edit(pid, "flag")], author="ana", note="looks cloudy")
    report = run(EuroSATMS(src), out, overwrite=True)
    assert report.edits_backup is not None and report.edits_backup.parent == tmp_path
    assert str(report.edits_backup) in report.summary()
    assert (report.edits_backup / "edits.sqlite").is_file()
    assert not (out / "edits.sqlite").exists()  # the new workspace starts clean
    # the backup is a complete log: it still holds ana's batch
    import sqlite3

    with sqlite3.connect(report.edits_backup / "edits.sqlite") as con:
        assert con.execute("select count(*) from events where author = 'ana'").fetchone()[0] == 1


# ---------------------------------------------------------------------------------------------------- versions
def test_unknown_workspace_format_version(reben_ws, tmp_path):
    out = tmp_path / "ws"
    shutil.copytree(reben_ws, out)
    meta_path = out / "workspace.json"
    meta = json.loads(meta_path.read_text())
    meta["version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(WorkspaceError) as exc:
        Workspace(out)
    assert str(meta_path) in str(exc.value)
    assert "99" in str(exc.value)


def test_workspace_json_not_json(reben_ws, tmp_path):
    out = tmp_path / "ws"
    shutil.copytree(reben_ws, out)
    (out / "workspace.json").write_text('{"format": "eomine-workspace", ')
    with pytest.raises(WorkspaceError) as exc:
        Workspace(out)
    assert str(out / "workspace.json") in str(exc.value)


def test_unknown_pixel_store_version(reben_ws, tmp_path):
    out = tmp_path / "ws"
    shutil.copytree(reben_ws, out)
    store_json = out / "pixels" / "store.json"
    doc = json.loads(store_json.read_text())
    doc["version"] = 99
    store_json.write_text(json.dumps(doc))
    ws = Workspace(out)  # the catalog is still readable
    assert len(ws.catalog) == 3
    with pytest.raises(WorkspaceError) as exc:
        ws.store  # noqa: B018
    assert str(store_json) in str(exc.value)


# ---------------------------------------------------------------------------------------------------- catalog
def test_catalog_schema(reben_ws):
    schema = pq.read_schema(reben_ws / "catalog.parquet")
    for f in CATALOG_SCHEMA:
        assert schema.field(f.name).type == f.type, f.name
    assert schema.field("labels").type == pa.list_(pa.string())
    assert schema.field("acquired").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("pixel_row").type == pa.int32()

    c = pd.read_parquet(reben_ws / "catalog.parquet")
    assert c["patch_id"].is_unique
    assert sorted(c["patch_id"]) == sorted(REBEN_IDS)
    assert (c["acquired"] == pd.Timestamp("2017-06-13 10:10:31", tz="UTC")).all()
    assert c["season"].eq("Summer").all()
    assert c["crs"].eq("EPSG:32633").all() and c["tile"].eq("33UUP").all()
    assert c["country"].eq("Austria").all()
    # each patch is a 1200 m square; the centre lies inside its WGS84 box (Austria)
    np.testing.assert_allclose(c["x_max"] - c["x_min"], 1200)
    np.testing.assert_allclose(c["y_max"] - c["y_min"], 1200)
    assert ((c["lon_min"] < c["lon"]) & (c["lon"] < c["lon_max"])).all()
    assert c["lon"].between(9, 17).all() and c["lat"].between(46, 49).all()
    first = c.set_index("patch_id").loc[REBEN_IDS[0]]
    assert first["has_s1"] and first["s1_id"] == f"{S1_PRODUCT}_33UUP_26_57"
    assert c["has_s2"].all() and c["has_s1"].sum() == 1

    # the source's labels, listed in the nomenclature's official order (reBEN files list them alphabetically)
    ws = Workspace(reben_ws)
    ref = pd.read_parquet(Path(ws.meta["made_by"]["source"]) / "metadata.parquet")
    order = list(ws.nomenclature.classes)
    expected = {p: sorted(v, key=order.index) for p, v in zip(ref["patch_id"], ref["labels"], strict=True)}
    assert {p: list(v) for p, v in zip(c["patch_id"], c["labels"], strict=True)} == expected
    assert expected[REBEN_IDS[1]][-2:] == ["Mixed forest", "Inland waters"]


def test_pixel_rows_point_at_the_source_geotiff_values(reben_ws, reben_root):
    import rasterio

    ws = Workspace(reben_ws)
    c = ws.catalog
    rows = c["pixel_row"].to_numpy()
    assert sorted(rows) == list(range(ws.store.n_rows))  # distinct rows, all inside the store
    for pid, row in zip(c["patch_id"], rows, strict=True):
        d = reben_root / "BigEarthNet-S2" / PRODUCT / pid
        for group, g in ws.store.groups.items():
            if group == "s1":
                continue
            for bi, band in enumerate(g.bands):
                with rasterio.open(d / f"{pid}_{band}.tif") as f:
                    expected = f.read(1)
                np.testing.assert_array_equal(ws.store.array(group)[row, bi], expected, err_msg=f"{pid} {band}")
        # resampled read: native 20 m band B05 repeated 2x2 onto the 120 px grid
        b05 = ws.store.read(int(row), ["B05"], size=120)[0]
        with rasterio.open(d / f"{pid}_B05.tif") as f:
            native = f.read(1).astype(np.float32)
        np.testing.assert_array_equal(b05[::2, ::2], np.where(native == 0, np.nan, native))

    row0 = int(c.set_index("patch_id").at[REBEN_IDS[0], "pixel_row"])
    s1 = reben_root / "BigEarthNet-S1" / S1_PRODUCT / f"{S1_PRODUCT}_33UUP_26_57"
    for bi, band in enumerate(("VV", "VH")):
        with rasterio.open(s1 / f"{s1.name}_{band}.tif") as f:
            np.testing.assert_array_equal(ws.store.array("s1")[row0, bi], f.read(1))
    assert ws.store.filled("s1").sum() == 1
    # patches without S1 hold NaN, not zeros that would look like real backscatter
    other = int(c.set_index("patch_id").at[REBEN_IDS[1], "pixel_row"])
    assert np.isnan(ws.store.array("s1")[other]).all()


def test_pixel_store_has_one_row_per_ingested_patch_after_skips(reben_root, tmp_path):
    """A patch skipped while packing pixels leaves no phantom row: arrays hold exactly ``n_rows`` patches."""
    src = tmp_path / "src"
    shutil.copytree(reben_root, src)
    b03 = src / "BigEarthNet-S2" / PRODUCT / REBEN_IDS[1] / f"{REBEN_IDS[1]}_B03.tif"
    b03.write_bytes(b03.read_bytes()[:1000])
    report = run(ReBEN(src, metadata=[src / "metadata.parquet"]), tmp_path / "ws")
    assert [i.patch_id for i in report.issues] == [REBEN_IDS[1]]

    ws = Workspace(tmp_path / "ws")
    assert ws.store.n_rows == report.n_with_pixels == len(ws.catalog) == 2
    for group in ws.store.groups:
        assert ws.store.array(group).shape[0] == ws.store.n_rows, group
        assert ws.store.filled(group).shape == (ws.store.n_rows,), group


def test_real_data_is_found_beside_the_checkout_a_clone_was_made_from(tmp_path, monkeypatch):
    """`git clone . /tmp/fresh` of a checkout with ../shared/data beside it still runs the real-data tests."""
    import subprocess

    from mining.resources import shared_data_dir

    monkeypatch.delenv("EOMINE_SHARED_DATA", raising=False)
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    (work / "repo").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(work / "repo")], check=True)
    subprocess.run(["git", "-C", str(work / "repo"), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    subprocess.run(["git", "clone", "-q", str(work / "repo"), str(elsewhere / "fresh")], check=True)
    assert shared_data_dir(elsewhere / "fresh") is None  # no shared data anywhere yet
    (work / "shared" / "data").mkdir(parents=True)
    assert shared_data_dir(work / "repo") == work / "shared" / "data"
    assert shared_data_dir(elsewhere / "fresh") == (work / "shared" / "data").resolve()  # via its origin
    monkeypatch.setenv("EOMINE_SHARED_DATA", str(tmp_path / "missing"))
    assert shared_data_dir(elsewhere / "fresh") is None  # an explicit setting wins, even when wrong


def test_save_npy_is_atomic_and_closes_its_file(tmp_path):
    """save_npy writes through a closed file under a temporary name without the .npy suffix (which np.save
    would append to a name), then renames: the file reads back, no temporary file or ResourceWarning remains."""
    import gc
    import warnings

    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_npy(tmp_path / "a.npy", a)
        save_npy(tmp_path / "a.npy", a * 2)  # over an existing file
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), a * 2)
    assert [f.name for f in tmp_path.iterdir()] == ["a.npy"]
