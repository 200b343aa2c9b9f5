"""``eomine learn`` and ``eomine export --format predictions`` on an unlabelled pool of the demo, and
``eomine ingest --drop-labels`` on real EuroSAT MS files."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from eomine.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def pool(demo_ws, pool_of):
    return pool_of(demo_ws)


def test_learn_with_the_catalog_oracle_runs_rounds_and_writes_predictions(pool, tmp_path):
    r = invoke("learn", pool, "--oracle", "catalog", "--rounds", "3", "--batch", "30", "--check", "60")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "check set: 60 patches labelled by the oracle"
    rows = [ln.split() for ln in lines if ln.strip()[:1].isdigit()]
    assert [x[0] for x in rows] == ["1", "2", "3"] and [x[2] for x in rows] == ["0", "30", "60"]
    assert "predictions written to" in r.output and "patches nobody labelled (oracle)" in r.output
    hist = invoke("history", pool, "--json")
    sources = [b["source"] for b in json.loads(hist.output)]
    assert sources == ["learn:check", "learn:r1:cold", "learn:r2:cold", "learn:r3:cold"]
    out = tmp_path / "pred.parquet"
    r = invoke("export", pool, "--format", "predictions", "--out", out)
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(out)
    assert df["labelled"].sum() == 60 + 90
    assert df["final_labels"].map(len).gt(0).all()  # every patch of the new benchmark has labels
    given = df[df["labelled"]]
    assert (given["final_labels"].map(list) == given["labels"].map(list)).all()


def test_learn_without_an_oracle_proposes_a_batch(pool):
    r = invoke("learn", pool, "--batch", "5", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["round"]["round"] == 1 and len(out["batch"]) == 5
    assert all(b["predicted"] for b in out["batch"])
    r = invoke("learn", pool, "--batch", "5")
    assert r.output.startswith("round 2 (") and "eomine serve" in r.output


@pytest.mark.parametrize("args, message", [
    (("--batch", "0"), "error: --batch must be an int in [1, inf), got '0'"),
    (("--strategy", "best"), "error: --strategy must be one of 'auto', 'random'"),
    (("--target", "Nope"), "error: --target 'Nope' is not a class of"),
    (("--rounds", "3"), "error: --rounds > 1 needs --oracle"),
    (("--min-distance-km", "-1"), "error: --min-distance-km must be"),
])
def test_bad_options_are_one_line(pool, args, message):
    r = invoke("learn", pool, *args)
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == [r.output.strip()] and r.output.startswith(message), r.output


@pytest.mark.realdata
def test_ingest_drop_labels_on_real_files(shared_data, tmp_path):
    from mining.workspace import Workspace

    src = tmp_path / "src"
    for cls in ("Forest", "SeaLake"):
        (src / cls).mkdir(parents=True)
        for i in (1, 2):
            (src / cls / f"{cls}_{i}.tif").write_bytes((shared_data / "eurosat-ms" / cls / f"{cls}_{i}.tif").read_bytes())
    r = invoke("ingest", src, "--format", "eurosat", "--out", tmp_path / "ws", "--drop-labels")
    assert r.exit_code == 0, r.output
    cat = Workspace(tmp_path / "ws").catalog
    assert cat["labels"].map(len).eq(0).all()
    assert sorted(x[0] for x in cat["true_labels"]) == ["Forest", "Forest", "SeaLake", "SeaLake"]


@pytest.mark.realdata
def test_ingest_a_folder_without_a_label_table_as_an_unlabelled_pool(shared_data, tmp_path):
    from mining.workspace import Workspace

    src = tmp_path / "jpegs"
    src.mkdir()
    for cls in ("Forest", "River", "SeaLake"):
        for f in sorted((shared_data / "eurosat-rgb" / "2750" / cls).glob("*.jpg"))[:2]:
            (src / f.name).write_bytes(f.read_bytes())
    r = invoke("ingest", src, "--format", "folder", "--out", tmp_path / "ws")
    assert r.exit_code == 2 and "--nomenclature / --classes to ingest the images unlabelled" in r.output
    r = invoke("ingest", src, "--format", "folder", "--out", tmp_path / "ws", "--classes", "Water,Forest,Other")
    assert r.exit_code == 0, r.output
    ws = Workspace(tmp_path / "ws")
    assert len(ws.catalog) == 6 and ws.catalog["labels"].map(len).eq(0).all()
    assert ws.nomenclature.classes == ("Water", "Forest", "Other")
    assert ws.store.n_rows == 6
