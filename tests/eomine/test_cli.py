"""The ``eomine`` command line on a small copy of real EuroSAT MS files (2 per class)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from eomine.cli import main

pytestmark = pytest.mark.realdata

CLASSES = ("AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture", "PermanentCrop",
           "Residential", "River", "SeaLake")


def copy_eurosat(shared_data: Path, root: Path, per_class: int = 2) -> Path:
    for cls in CLASSES:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(1, per_class + 1):
            shutil.copyfile(shared_data / "eurosat-ms" / cls / f"{cls}_{i}.tif", root / cls / f"{cls}_{i}.tif")
    return root


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def eurosat_src(tmp_path_factory, shared_data) -> Path:
    return copy_eurosat(shared_data, tmp_path_factory.mktemp("eurosat"))


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, eurosat_src):
    out = tmp_path_factory.mktemp("ws") / "eurosat"
    result = invoke("ingest", eurosat_src, "--format", "eurosat", "--out", out)
    return out, result


def assert_one_line_error(result, *names: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    for name in names:
        assert name in err, f"{name!r} not in {err!r}"


def test_ingest_prints_summary(ingested):
    out, result = ingested
    assert result.exit_code == 0, result.output
    assert f"ingested 20 patches (20 with pixels) into {out}" in result.output
    assert "skipped" not in result.output
    assert (out / "workspace.json").is_file()


def test_info_text(ingested):
    out, _ = ingested
    result = invoke("info", out)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "EuroSAT-MS workspace" in text
    assert "patches        20" in text
    assert "S2 20 (100.0 %)" in text and "none 0" in text
    assert "B8A" in text  # bands listed
    label_lines = {line.split()[0]: line.split()[1:] for line in text.splitlines()[text.splitlines().index(
        "  patches per label:") + 1:]}
    assert set(label_lines) == set(CLASSES)
    assert all(v == ["2", "10.0", "%"] for v in label_lines.values()), label_lines


def test_info_json(ingested):
    out, _ = ingested
    result = invoke("info", out, "--json")
    assert result.exit_code == 0, result.output
    s = json.loads(result.output)
    assert s["patches"] == 20
    assert s["labels"] == {c: 2 for c in CLASSES}
    assert s["pixels"]["with_s2"] == 20 and s["pixels"]["without_pixels"] == 0
    assert s["geolocated"] == 20
    assert s["made_by"]["format"] == "eurosat"


@pytest.mark.parametrize("size", [None, 200])
def test_thumb_writes_png(ingested, tmp_path, size):
    out, _ = ingested
    png = tmp_path / "t.png"
    args = ["thumb", out, "Forest_1", "-o", png] + (["--size", str(size)] if size else [])
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert str(png) in result.output
    with Image.open(io.BytesIO(png.read_bytes())) as im:
        assert im.format == "PNG"
        assert im.size == ((size, size) if size else (64, 64))
        rgb = np.asarray(im.convert("RGB"))
    assert rgb.std() > 1  # a real image, not a flat square


def test_thumb_unknown_patch(ingested, tmp_path):
    out, _ = ingested
    result = invoke("thumb", out, "Forest_999", "-o", tmp_path / "t.png")
    assert result.exit_code != 0
    assert "Forest_999" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "t.png").exists()


@pytest.mark.parametrize("command", ["info", "thumb"])
def test_missing_workspace_is_a_one_line_error(tmp_path, command):
    missing = tmp_path / "no-such-workspace"
    args = [command, missing] + (["Forest_1", "-o", tmp_path / "t.png"] if command == "thumb" else [])
    result = invoke(*args)
    assert_one_line_error(result, str(missing))


def test_incomplete_workspace_is_a_one_line_error(ingested, tmp_path):
    out, _ = ingested
    half = tmp_path / "half"
    shutil.copytree(out, half)
    (half / "workspace.json").unlink()
    assert_one_line_error(invoke("info", half), str(half), "not a complete")


def test_option_for_another_format_is_a_one_line_usage_error(shared_data, tmp_path):
    result = invoke("ingest", shared_data / "bigearthnet-v2-reben", "--format", "reben", "--out", tmp_path / "ws",
                    "--table", tmp_path / "labels.csv")
    assert_one_line_error(result, "--table", "reben")
    assert "Usage:" not in result.output
    assert not (tmp_path / "ws").exists()


def test_ingest_into_existing_workspace_without_overwrite(ingested, eurosat_src, tmp_path):
    out, _ = ingested
    dst = tmp_path / "ws"
    shutil.copytree(out, dst)
    before = (dst / "catalog.parquet").read_bytes()
    result = invoke("ingest", eurosat_src, "--format", "eurosat", "--out", dst)
    assert_one_line_error(result, str(dst), "--overwrite")
    assert (dst / "catalog.parquet").read_bytes() == before


def test_on_error_fail_names_the_broken_file(shared_data, tmp_path):
    src = copy_eurosat(shared_data, tmp_path / "src", per_class=1)
    broken = src / "River" / "River_1.tif"
    broken.write_bytes(broken.read_bytes()[:100])

    result = invoke("ingest", src, "--format", "eurosat", "--out", tmp_path / "ws", "--on-error", "fail")
    assert_one_line_error(result, str(broken))
    assert not (tmp_path / "ws").exists()

    # the default (skip) ingests the rest and lists the broken file
    result = invoke("ingest", src, "--format", "eurosat", "--out", tmp_path / "ws")
    assert result.exit_code == 0, result.output
    assert "ingested 9 patches (9 with pixels)" in result.output
    assert "skipped 1 patch(es)" in result.output and str(broken) in result.output
