"""The split leakage audit: distances on a generated grid of patches, near-duplicates in the graph, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from eomine.cli import main
from mining.audit import audit_workspace, embedding_leakage, spatial_leakage
from mining.errors import DataError


def grid(n=20, w_km=1.2, lat0=48.0, lon0=10.0):
    """Centres of an n x n grid of patches of side w_km (near lat0: 1 deg lat = 111.2 km)."""
    r, c = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    lat = lat0 + r.ravel() * w_km / 111.195
    lon = lon0 + c.ravel() * w_km / (111.195 * np.cos(np.radians(lat0)))
    return lon, lat, r.ravel(), c.ravel()


def test_a_checkerboard_split_touches_everywhere_and_blocks_do_not():
    lon, lat, r, c = grid()
    checker = np.where((r + c) % 2 == 0, "train", "test")
    df = spatial_leakage(lon, lat, checker, width_km=1.2).set_index("audited")
    assert df.loc["test", "within_1w"] == 1.0 and df.loc["test", "median_km"] == pytest.approx(1.2, rel=0.01)
    assert df.loc["test", "same_place"] == 0.0
    # west half train, east half test, a 3-column gap between them
    split = np.where(c < 8, "train", np.where(c > 10, "test", None)).astype(object)
    df = spatial_leakage(lon, lat, split, width_km=1.2).set_index("audited")
    assert df.loc["test", "within_1w"] == 0.0 and df.loc["test", "within_3w"] == pytest.approx(20 / 180)
    assert df.loc["test", "p10_km"] == pytest.approx(4 * 1.2, rel=0.02)  # column 11 to column 7
    # the same footprint seen twice (another date): same place
    both = spatial_leakage(np.r_[lon, lon[:50]], np.r_[lat, lat[:50]], np.r_[["train"] * len(lon), ["test"] * 50],
                           width_km=1.2).set_index("audited")
    assert both.loc["test", "same_place"] == 1.0


def test_near_duplicates_in_the_graph():
    split = np.array(["train", "train", "test", "test"], dtype=object)
    ind = np.array([[1, 2], [0, 3], [0, 3], [2, 1]])
    dist = np.array([[0.01, 0.2], [0.01, 0.3], [0.001, 0.4], [0.05, 0.5]], np.float32)
    df, thr = embedding_leakage(ind, dist, split, duplicate_distance=0.005)
    row = df.set_index("audited").loc["test"]
    assert thr == 0.005 and row["near_duplicates"] == 0.5 and row["with_neighbour"] == 1.0


def test_audit_the_demo_and_a_split_table(demo_ws, tmp_path):
    res = audit_workspace(demo_ws)
    assert set(res["spatial"]["audited"]) >= {"test", "validation"} and res["embedding"] is not None
    assert res["width_km"] > 0
    r = CliRunner().invoke(main, ["audit", str(demo_ws), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert {p["reference"] + ">" + p["audited"] for p in out["pairs"]} >= {"train>test"}
    cat = pd.read_parquet(demo_ws / "catalog.parquet", columns=["patch_id"])
    table = tmp_path / "split.csv"
    pd.DataFrame({"patch_id": cat["patch_id"], "split": np.where(np.arange(len(cat)) % 2, "train", "test")}
                 ).to_csv(table, index=False)
    r = CliRunner().invoke(main, ["audit", str(demo_ws), "--split-table", str(table)])
    assert r.exit_code == 0, r.output
    assert "train -> test" in r.output and "validation" not in r.output.split("\n", 1)[1]
    with pytest.raises(DataError, match="split table not found"):
        audit_workspace(demo_ws, split_table=tmp_path / "nope.csv")
