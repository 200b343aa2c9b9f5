"""Export of a curated workspace: round trips (reBEN metadata re-ingested, parquet, csv), GeoParquet validity,
excluded patches, the history with provenance, and the ``eomine export`` / ``eomine history`` commands."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from eomine.cli import main
from mining.curation import Edit, EditLog
from mining.errors import DataError, WorkspaceError
from mining.export import REBEN_COLUMNS, export_workspace
from mining.workspace import Workspace


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from mining.datasets.demo import DemoDataset
    from mining.ingest import ingest

    out = tmp_path_factory.mktemp("demo") / "ws"
    ingest(DemoDataset(n=300, seed=3), out, progress=False)
    return out


@pytest.fixture
def curated(template, tmp_path):
    """A copy of the demo with a few batches: relabel 40, exclude 5, flag 3, one undone batch."""
    ws = tmp_path / "ws"
    shutil.copytree(template, ws)
    log = EditLog(ws)
    ids = log.current_labels().patch_ids
    log.commit([Edit(p, "set", labels=("Urban fabric", "Inland waters")) for p in ids[:40]], author="ana",
               note="towns by rivers")
    log.commit([Edit(p, "exclude") for p in ids[50:55]] + [Edit(p, "flag") for p in ids[60:63]], author="bo")
    log.commit([Edit(ids[70], "add", "Marine waters")], author="bo", note="undone")
    log.undo(author="bo")
    return ws


def _expected(ws) -> pd.DataFrame:
    return EditLog(ws, create=False).current_labels().to_frame().set_index("patch_id")


def test_reben_export_reingests_with_the_curated_labels(curated, tmp_path):
    out = tmp_path / "metadata.parquet"
    card = export_workspace(curated, "reben", out)
    t = pq.read_table(out)
    assert tuple(t.schema.names) == REBEN_COLUMNS
    assert str(t.schema.field("labels").type) == "list<element: string>"
    assert card["n_rows"] == 300 and card["n_changed"] == 40
    assert json.loads(t.schema.metadata[b"eomine"])["edits_version"] == 4
    # re-ingest exactly as an official reBEN metadata file
    r = CliRunner().invoke(main, ["ingest", str(tmp_path), "--format", "reben", "--metadata-only",
                                  "--metadata", str(out), "--out", str(tmp_path / "again")])
    assert r.exit_code == 0, r.output
    again = Workspace(tmp_path / "again").catalog.set_index("patch_id")
    exp = _expected(curated)
    assert len(again) == 300
    assert {p: list(again.loc[p, "labels"]) for p in exp.index} == {p: list(v) for p, v in exp["labels"].items()}
    # relabelled patches came back relabelled, the undone batch did not leak
    first = exp.index[0]
    assert list(again.loc[first, "labels"]) == ["Urban fabric", "Inland waters"]
    src = Workspace(curated).catalog.set_index("patch_id")
    assert list(again.loc[exp.index[70], "labels"]) == list(src.loc[exp.index[70], "labels"])  # undone batch
    assert (again["split"] == src.loc[again.index, "split"]).all()
    assert (again["cloud_or_shadow"] == src.loc[again.index, "cloud_or_shadow"]).all()


def test_parquet_and_csv_carry_labels_and_curation_state(curated, tmp_path):
    exp = _expected(curated)
    export_workspace(curated, "parquet", tmp_path / "cat.parquet")
    df = pd.read_parquet(tmp_path / "cat.parquet").set_index("patch_id")
    assert [list(x) for x in df.loc[exp.index, "labels"]] == [list(x) for x in exp["labels"]]
    assert df["excluded"].sum() == 5 and df["flagged"].sum() == 3 and df["changed"].sum() == 40
    orig = Workspace(curated).catalog.set_index("patch_id")["labels"]
    assert [list(x) for x in df["original_labels"]] == [list(orig[p]) for p in df.index]
    export_workspace(curated, "csv", tmp_path / "cat.csv")
    csv = pd.read_csv(tmp_path / "cat.csv", keep_default_na=False).set_index("patch_id")
    assert [x.split("|") if x else [] for x in csv.loc[exp.index, "labels"]] == [list(x) for x in exp["labels"]]
    assert json.loads((tmp_path / "cat.csv.json").read_text())["n_excluded"] == 5
    # dropped on request
    card = export_workspace(curated, "parquet", tmp_path / "kept.parquet", drop_excluded=True)
    kept = pd.read_parquet(tmp_path / "kept.parquet")
    assert len(kept) == 295 and not kept["excluded"].any() and card["n_dropped"] == 5


def test_geoparquet_opens_with_pyarrow_and_has_valid_geometry(curated, tmp_path):
    import shapely
    from pyproj import CRS

    out = tmp_path / "footprints.parquet"
    export_workspace(curated, "geoparquet", out)
    t = pq.read_table(out)
    geo = json.loads(t.schema.metadata[b"geo"])
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    col = geo["columns"]["geometry"]
    assert col["encoding"] == "WKB" and col["geometry_types"] == ["Polygon"]
    assert CRS.from_json_dict(col["crs"]).equals(CRS("OGC:CRS84"))
    g = shapely.from_wkb(t.column("geometry").to_numpy(zero_copy_only=False))
    assert shapely.is_valid(g).all() and (shapely.get_type_id(g) == 3).all()
    assert all(shapely.is_ccw(shapely.get_exterior_ring(x)) for x in g)
    minx, miny, maxx, maxy = shapely.total_bounds(g)
    assert col["bbox"] == pytest.approx([minx, miny, maxx, maxy])
    # each polygon is the patch's footprint: it contains the catalog centre and is ~600 m wide (demo)
    cat = Workspace(curated).catalog.set_index("patch_id")
    ids = t.column("patch_id").to_pylist()
    centres = shapely.points(cat.loc[ids, "lon"].to_numpy(), cat.loc[ids, "lat"].to_numpy())
    assert shapely.contains(g, centres).all()
    side_m = np.sqrt(shapely.area(g)) * 111_320 * np.cos(np.radians(cat.loc[ids, "lat"].to_numpy())) ** 0.5
    assert np.median(side_m) == pytest.approx(600, rel=0.1)
    labels = t.column("labels_text").to_pylist()
    assert labels[ids.index(_expected(curated).index[0])] == "Urban fabric; Inland waters"


def test_history_beside_every_export_with_provenance(curated, tmp_path):
    export_workspace(curated, "reben", tmp_path / "m.parquet")
    h = pd.read_parquet(tmp_path / "m.parquet.history.parquet")
    assert list(h.columns) == ["event", "time", "author", "batch", "kind", "target", "source", "note", "patch_id",
                               "op", "label", "active"]
    assert h["event"].is_monotonic_increasing and len(h) == 40 + 8 + 1 + 1
    assert set(h.loc[h["batch"] == 1, "author"]) == {"ana"} and set(h.loc[h["batch"] == 1, "note"]) == {
        "towns by rivers"}
    assert not h.loc[h["batch"] == 3, "active"].any() and h.loc[h["batch"] == 1, "active"].all()
    assert h.loc[h["kind"] == "undo", "target"].tolist() == [3]
    prov = json.loads(pq.read_schema(tmp_path / "m.parquet.history.parquet").metadata[b"eomine"])
    assert prov["workspace"] == str(curated) and prov["edits_version"] == 4


def test_history_is_as_of_the_version_the_labels_were_read_at(curated):
    """An undo committed while an export runs (after its labels were read at version 3) must not show up in
    that export's history as 'batch 3 inactive' while the exported labels still carry batch 3."""
    from mining.export import history_table

    h = history_table(EditLog(curated), up_to=3)
    assert h["batch"].max() == 3 and (h["kind"] != "undo").all()
    assert h.loc[h["batch"] == 3, "active"].all()  # as of version 3 nothing had undone it
    assert not history_table(EditLog(curated)).query("batch == 3")["active"].any()  # today it is undone


def test_export_refuses_to_overwrite_or_write_into_the_workspace(curated, tmp_path):
    export_workspace(curated, "parquet", tmp_path / "a.parquet")
    with pytest.raises(DataError, match="already exists"):
        export_workspace(curated, "parquet", tmp_path / "a.parquet")
    export_workspace(curated, "parquet", tmp_path / "a.parquet", overwrite=True)
    with pytest.raises(DataError, match="inside the workspace"):
        export_workspace(curated, "parquet", curated / "catalog.parquet", overwrite=True)
    with pytest.raises(DataError, match="does not exist"):
        export_workspace(curated, "parquet", tmp_path / "nope" / "a.parquet")
    assert pd.read_parquet(curated / "catalog.parquet").shape[0] == 300  # untouched


def test_export_of_a_workspace_whose_log_was_deleted_is_an_error(curated, tmp_path):
    for f in curated.glob("edits.sqlite*"):
        f.unlink()
    with pytest.raises(WorkspaceError, match=r"edits\.sqlite"):
        export_workspace(curated, "parquet", tmp_path / "a.parquet")
    assert not (tmp_path / "a.parquet").exists()


def test_cli_export_and_history(curated, tmp_path):
    r = CliRunner().invoke(main, ["export", str(curated), "--format", "geoparquet", "--out",
                                  str(tmp_path / "f.parquet"), "--drop-excluded"])
    assert r.exit_code == 0, r.output
    assert "exported 295 patches" in r.output and "5 dropped" in r.output
    r = CliRunner().invoke(main, ["history", str(curated)])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 5 and "towns by rivers" in lines[1] and "undone" in lines[3] and "undo 3" in lines[4]
    r = CliRunner().invoke(main, ["history", str(curated), "--json"])
    assert [b["kind"] for b in json.loads(r.output)] == ["edit", "edit", "edit", "undo"]
    pid = EditLog(curated).current_labels().patch_ids[0]
    r = CliRunner().invoke(main, ["history", str(curated), "--patch", pid])
    assert r.exit_code == 0 and "Urban fabric" in r.output and "ana" in r.output
    r = CliRunner().invoke(main, ["export", str(curated), "--format", "reben", "--out", str(tmp_path / "f.parquet")])
    assert r.exit_code == 2 and "already exists" in r.output
