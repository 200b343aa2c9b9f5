"""Splits: the split edit of the log (undoable, exported), the geographic and random splitters, ``eomine split``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from eomine.cli import main
from mining.audit import LEAKAGE_NAMES, audit_workspace, leakage_per_patch
from mining.curation import Edit, EditLog, describe_ops
from mining.errors import DataError, ParameterError
from mining.export import export_workspace
from mining.splits import SpatialSplitter, class_deviation, regions, split_workspace, touching_share
from mining.workspace import Workspace


def grid(n=48, w_km=1.2, lat0=47.0, lon0=8.0, n_classes=5, seed=0):
    """An n x n grid of patches with spatially clustered classes (regions of a few patches, 10 % noise)."""
    rng = np.random.default_rng(seed)
    r, c = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    r, c = r.ravel(), c.ravel()
    lat = lat0 + r * w_km / 111.195
    lon = lon0 + c * w_km / (111.195 * np.cos(np.radians(lat)))
    cls = (c // 6 + r // 9) % n_classes
    noise = rng.random(len(r)) < 0.1
    cls[noise] = rng.integers(0, n_classes, noise.sum())
    return lon, lat, np.eye(n_classes, dtype=bool)[cls], r, c


# ------------------------------------------------------------------ the splitter
def test_geographic_split_keeps_test_away_from_train_and_the_classes_balanced():
    lon, lat, Y, r, c = grid()
    sp = SpatialSplitter(ratios=(0.5, 0.25, 0.25), block_widths=8).fit(lon, lat, Y, widths_km=1.2)
    rep = sp.report_.set_index("split")
    assert list(rep.index) == ["train", "validation", "test"]
    assert np.allclose(rep["share"], [0.5, 0.25, 0.25], atol=0.03), rep
    assert sp.max_deviation_ < 0.06, rep
    # no test patch touches a training patch, measured independently with the audit
    assert sp.touching_ == 0.0
    from mining.audit import spatial_leakage

    aud = spatial_leakage(lon, lat, sp.split_, width_km=1.2).set_index(["reference", "audited"])
    assert aud.loc[("train", "test"), "within_1w"] == 0.0
    # whole blocks: every block is in one split, except the buffer's test patches moved to validation
    df = pd.DataFrame({"block": sp.block_, "split": sp.split_, "buffer": sp.buffer_})
    assert (df[~df["buffer"]].groupby("block")["split"].nunique() == 1).all()
    assert set(df.loc[df["buffer"], "split"]) <= {"validation"} and sp.buffer_.sum() > 0
    # the same seed gives the same split; another seed another one
    again = SpatialSplitter(ratios=(0.5, 0.25, 0.25), block_widths=8).fit(lon, lat, Y, widths_km=1.2)
    assert (again.split_ == sp.split_).all()
    other = SpatialSplitter(ratios=(0.5, 0.25, 0.25), block_widths=8, seed=5).fit(lon, lat, Y, widths_km=1.2)
    assert (other.split_ != sp.split_).any()


def test_random_split_has_the_ratios_and_touches_everywhere():
    lon, lat, Y, *_ = grid()
    sp = SpatialSplitter(method="random", ratios=(0.8, 0.2)).fit(lon, lat, Y, widths_km=1.2)
    assert sp.names_ == ("train", "test") and (sp.split_ == "test").mean() == pytest.approx(0.2, abs=0.001)
    assert sp.touching_ > 0.9  # what the geographic split is for
    geo = SpatialSplitter(ratios=(0.8, 0.2)).fit(lon, lat, Y, widths_km=1.2)
    assert geo.touching_ == 0.0
    # with two splits the buffer has nowhere to go: its patches get no split
    assert geo.buffer_.any() and all(s is None for s in geo.split_[geo.buffer_])


def test_excluded_and_unplaced_patches_get_no_split_and_groups_stay_together():
    lon, lat, Y, r, c = grid(n=32)
    lon = lon.copy()
    lon[:5] = np.nan
    include = np.ones(len(lon), bool)
    include[10:20] = False
    groups = (r // 4) * 8 + (c // 4)  # 4 x 4 patches under one coarse patch
    groups = np.array([np.flatnonzero(groups == g)[0] for g in groups])  # the group's first patch (a catalog row)
    sp = SpatialSplitter(block_widths=2).fit(lon, lat, Y, widths_km=1.2, include=include, groups=groups)
    assert all(s is None for s in sp.split_[:5]) and all(s is None for s in sp.split_[10:20])
    df = pd.DataFrame({"g": groups, "s": sp.split_}).dropna()
    assert (df.groupby("g")["s"].nunique() == 1).all()


def test_bad_parameters_are_named():
    lon, lat, Y, *_ = grid(n=8)
    with pytest.raises(ParameterError, match="ratios must be 2 or 3 positive shares summing to 1"):
        SpatialSplitter(ratios=(0.5, 0.6)).fit(lon, lat, Y, widths_km=1.2)
    with pytest.raises(ParameterError, match="ratios"):
        SpatialSplitter(ratios=(0.5, 0.25, 0.25, 0.0)).fit(lon, lat, Y, widths_km=1.2)
    with pytest.raises(ParameterError, match="method"):
        SpatialSplitter(method="kmeans").fit(lon, lat, Y, widths_km=1.2)
    with pytest.raises(ParameterError, match="same length"):
        SpatialSplitter().fit(lon, lat[:3], Y, widths_km=1.2)


def test_class_deviation_and_touching_by_hand():
    Y = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], bool)
    split = np.array(["train", "train", "test", "test"], dtype=object)
    dev = class_deviation(Y, split, ("train", "test")).set_index("split")
    assert dev.loc["train", "max_deviation"] == pytest.approx(0.5) and dev.loc["test", "n"] == 2
    lon = np.array([0.0, 0.0108, 0.0216, 1.0])  # 1.2 km apart at the equator, the last one far away
    lat = np.zeros(4)
    assert touching_share(lon, lat, split, np.full(4, 1.2)) == pytest.approx(0.5)


def test_regions_walk_up_to_the_coarsest_ancestor():
    cat = pd.DataFrame({"patch_id": ["a", "b", "c", "d"], "parent_id": [None, "a", "b", None]})
    assert regions(cat).tolist() == [0, 0, 0, 3]
    assert regions(pd.DataFrame({"patch_id": ["a", "b"]})).tolist() == [0, 1]


def test_leakage_per_patch_codes():
    lon, lat, Y, r, c = grid(n=12)
    split = np.where(c < 4, "train", np.where(c < 5, "test", np.where(c < 9, "validation", None))).astype(object)
    codes = leakage_per_patch(lon, lat, split, width_km=1.2)
    names = np.asarray(LEAKAGE_NAMES)[codes]
    assert (names[c < 4] == "train").all() and (names[c == 4] == "touches a training patch").all()
    assert (names[(c >= 6) & (c <= 7)] == "within 3 widths of training").all()
    assert (names[c == 8] == "apart from training").all() and (names[c >= 9] == "no split").all()


# ------------------------------------------------------------------ the edit and the workspace
def test_split_edits_are_logged_undone_and_exported(demo_ws, copy_ws, tmp_path):
    ws = Workspace(copy_ws(demo_ws))
    log = EditLog(ws)
    pid = str(ws.ids[0])
    before = ws.catalog["split"].iat[0]
    b = log.commit([Edit(pid, "split", label="val"), Edit(str(ws.ids[1]), "split", label=None)], author="c")
    cur = log.current_labels()
    assert cur.split[0] == "validation" and cur.split[1] is None and cur.split_original[0] == before
    assert "Assign the splits of 2 patches" in describe_ops(log.batch_info(b).ops)
    out = tmp_path / "cur.parquet"
    export_workspace(ws, "parquet", out)
    df = pd.read_parquet(out).set_index("patch_id")
    assert df.loc[pid, "split"] == "validation" and df.loc[pid, "original_split"] == before
    log.undo(author="c")
    assert log.current_labels().split[0] == before
    with pytest.raises(DataError, match="'holdout' is not a split"):
        log.commit([Edit(pid, "split", label="holdout")], author="c")
    with pytest.raises(DataError, match="takes one split"):
        log.commit([Edit(pid, "split", labels=("train", "test"))], author="c")


def test_split_workspace_then_audit_sees_it(demo_ws, copy_ws):
    ws = Workspace(copy_ws(demo_ws))
    log = EditLog(ws)
    log.commit([Edit(str(ws.ids[3]), "exclude")], author="c")
    sp, edits = split_workspace(ws, log, ratios=(0.6, 0.2, 0.2))
    assert edits and all(e.op == "split" for e in edits)
    assert str(ws.ids[3]) not in {e.patch_id for e in edits}  # excluded: left as it is
    log.commit(edits, author="split")
    res = audit_workspace(ws).get("spatial").set_index(["reference", "audited"])
    assert res.loc[("train", "test"), "within_1w"] == 0.0
    # splitting again with the same parameters changes nothing
    assert split_workspace(ws, log, ratios=(0.6, 0.2, 0.2))[1] == []


def test_cli_split_dry_run_write_undo_redo(demo_ws, copy_ws):
    ws = copy_ws(demo_ws)
    run = CliRunner()
    r = run.invoke(main, ["split", str(ws), "--method", "random", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "dry run" in r.output and "test patches touching a training patch" in r.output
    assert not (ws / "edits.sqlite").exists()
    r = run.invoke(main, ["split", str(ws), "--ratios", "0.7,0.3", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["test_touching_train"] == 0.0 and out["batch"] == 1
    assert [s["split"] for s in out["splits"]] == ["train", "test"]
    assert abs(out["splits"][1]["share"] - 0.3) < 0.03
    cur = EditLog(ws, create=False).current_labels()
    assert set(cur.split) - {None} == {"train", "test"}
    r = run.invoke(main, ["undo", str(ws)])
    assert r.exit_code == 0 and "undo of batch 1" in r.output, r.output
    assert EditLog(ws, create=False).current_labels().split.tolist() == cur.split_original.tolist()
    r = run.invoke(main, ["redo", str(ws), "--batch", "1"])
    assert r.exit_code == 0 and "redo of batch 1" in r.output, r.output
    r = run.invoke(main, ["undo", str(ws), "--batch", "9"])
    assert r.exit_code == 2 and "nothing to undo: batch 9 is not an active edit batch" in r.output


@pytest.mark.realdata
def test_a_multiscale_scene_splits_by_region_and_no_test_patch_touches_train(shared_data, tmp_path):
    """The real 29RKH tile cut at 4,800 and 2,400 m: a coarse patch and the finer ones inside it share a split,
    and at every scale no test patch touches a training patch of that scale."""
    from mining.datasets import SceneDataset
    from mining.ingest import ingest
    from mining.splits import patch_widths_km

    item = shared_data / "scenes" / "s2-l2a-29RKH-20200219-100m" / "S2A_29RKH_20200219_0_L2A.json"
    ingest(SceneDataset(item, scales=(4800, 2400)), tmp_path / "ws", progress=False)
    ws = Workspace(tmp_path / "ws")
    sp, edits = split_workspace(ws, EditLog(ws), ratios=(0.6, 0.2, 0.2))
    cat = ws.catalog
    root = regions(cat)
    assert (cat["scale_m"] == 2400).sum() > 0 and (root != np.arange(len(cat))).any()
    df = pd.DataFrame({"root": root, "split": sp.split_})
    assert (df.groupby("root")["split"].nunique() == 1).all()  # a region never straddles two splits
    widths = patch_widths_km(cat)
    lon, lat = cat["lon"].to_numpy(float), cat["lat"].to_numpy(float)
    for scale in (4800, 2400):
        m = (cat["scale_m"] == scale).to_numpy()
        assert touching_share(lon[m], lat[m], sp.split_[m], widths[m]) == 0.0, scale
    assert len(edits) == len(cat) and sp.report_["n"].sum() == len(cat)


def test_cli_warns_when_a_split_is_empty(demo_ws, copy_ws):
    ws = copy_ws(demo_ws)
    r = CliRunner().invoke(main, ["split", str(ws), "--block-widths", "1000000", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "is empty" in r.stderr and "smaller --block-widths" in r.stderr
