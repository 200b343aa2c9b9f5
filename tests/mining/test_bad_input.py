"""Broken inputs built from real files: every problem is named, skipped patches are listed, good ones kept.

Each case checks both modes:

- ``on_error="skip"`` (default): the good patches are ingested, the bad one is listed in
  ``IngestReport.issues`` and in the workspace's ``ingest_report.parquet`` with a message naming the file / field;
- ``on_error="fail"``: :class:`~mining.errors.DataError` naming the same thing, and a workspace that already
  existed at the output path (``overwrite=True``) is left byte-for-byte untouched.
"""

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

from mining.datasets import BigEarthNetV1, EuroSATMS, PatchFolder, ReBEN
from mining.errors import DataError
from mining.ingest import ingest
from mining.workspace import Workspace

pytestmark = pytest.mark.realdata

PRODUCT = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
REBEN_IDS = [f"{PRODUCT}_26_57", f"{PRODUCT}_27_55", f"{PRODUCT}_27_56"]
EXTRA_ID = f"{PRODUCT}_27_57"  # a 4th real patch, used for "no-metadata" / "no-pixels"
BEN1_IDS = ["S2A_MSIL2A_20170613T101031_87_48", "S2A_MSIL2A_20170617T113321_36_85",
            "S2B_MSIL2A_20170924T093019_43_47"]


# ---------------------------------------------------------------------------------------------------- helpers
def copy_tree(src: Path, dst: Path) -> None:
    """Copy files as writable copies (the shared data is read-only; tests corrupt their copies)."""
    for f in src.rglob("*"):
        if f.is_file():
            out = dst / f.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, out)


def digest(path: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``path`` (to prove a workspace was not touched)."""
    return {str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(path.rglob("*")) if f.is_file()}


def run(ds, out: Path, **kw):
    return ingest(ds, out, progress=False, workers=2, **kw)


def truncate(path: Path, size: int) -> None:
    data = path.read_bytes()
    assert len(data) > size
    path.write_bytes(data[:size])


def check_skipped(report, out: Path, *, patch_id: str, kind: str | None, names: list[str],
                  good: list[str]) -> None:
    """The bad patch is listed (report + ingest_report.parquet) with a message naming ``names``; good ones kept."""
    hits = [i for i in report.issues if i.patch_id == patch_id]
    assert hits, f"{patch_id} not listed in issues: {report.issues}"
    issue = hits[0]
    if kind is not None:
        assert issue.kind == kind, issue
    for name in names:
        assert name in issue.message, f"{name!r} not named in {issue.message!r}"

    ws = Workspace(out)
    assert sorted(ws.catalog["patch_id"]) == sorted(good)
    assert report.n_patches == len(good) == ws.meta["n_patches"]
    assert (ws.catalog["pixel_row"] >= 0).all()
    assert report.n_with_pixels == len(good)

    rep = pd.read_parquet(out / "ingest_report.parquet")
    rows = rep[rep["patch_id"] == patch_id]
    assert len(rows) >= 1
    assert issue.kind in set(rows["kind"])
    assert issue.message in set(rows["message"])
    assert ws.meta["made_by"]["skipped"] == len(report.issues) == len(rep)
    assert patch_id in report.summary()


def check_fails(ds, existing: Path, names: list[str]) -> None:
    """on_error='fail' raises DataError naming ``names``; the workspace at ``existing`` is unchanged."""
    before = digest(existing)
    with pytest.raises(DataError) as exc:
        run(ds, existing, on_error="fail", overwrite=True)
    for name in names:
        assert name in str(exc.value), f"{name!r} not named in {exc.value}"
    assert digest(existing) == before
    Workspace(existing)  # still a valid workspace
    assert not existing.with_name(existing.name + ".partial").exists()


# ---------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def reben_rows(shared_data) -> pa.Table:
    """The official metadata rows of the 4 real patches used here (official schema)."""
    t = pq.read_table(shared_data / "bigearthnet-v2-reben" / "metadata.parquet",
                      filters=[("patch_id", "in", [*REBEN_IDS, EXTRA_ID])])
    assert sorted(t["patch_id"].to_pylist()) == sorted([*REBEN_IDS, EXTRA_ID])
    order = {p: i for i, p in enumerate([*REBEN_IDS, EXTRA_ID])}
    return t.take(np.argsort([order[p] for p in t["patch_id"].to_pylist()]))


@pytest.fixture(scope="module")
def existing_template(tmp_path_factory, shared_data) -> Path:
    """A valid workspace (2 real EuroSAT patches) copied to each test's output path before a failing run."""
    src = tmp_path_factory.mktemp("template_src")
    for name in ("Forest_1", "River_1"):
        cls = name.split("_")[0]
        (src / cls).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / "eurosat-ms" / cls / f"{name}.tif", src / cls / f"{name}.tif")
    out = tmp_path_factory.mktemp("template") / "ws"
    run(EuroSATMS(src), out)
    return out


@pytest.fixture
def existing(tmp_path, existing_template) -> Path:
    out = tmp_path / "existing_ws"
    shutil.copytree(existing_template, out)
    return out


class RebenCopy:
    def __init__(self, shared: Path, root: Path, rows: pa.Table):
        self.shared = shared / "bigearthnet-v2-reben"
        self.root = root
        self.rows = rows
        for pid in REBEN_IDS:
            self.add_pixels(pid)
        self.write_metadata(rows.slice(0, 3))

    def add_pixels(self, pid: str) -> None:
        copy_tree(self.shared / "BigEarthNet-S2" / PRODUCT / pid, self.dir(pid))

    def dir(self, pid: str) -> Path:
        return self.root / "BigEarthNet-S2" / PRODUCT / pid

    def band(self, pid: str, band: str) -> Path:
        return self.dir(pid) / f"{pid}_{band}.tif"

    @property
    def metadata(self) -> Path:
        return self.root / "metadata.parquet"

    def write_metadata(self, table: pa.Table | pd.DataFrame) -> None:
        if isinstance(table, pd.DataFrame):
            table = pa.Table.from_pandas(table, schema=self.rows.schema, preserve_index=False)
        assert table.schema.equals(self.rows.schema, check_metadata=False)
        pq.write_table(table, self.metadata)

    def dataset(self) -> ReBEN:
        return ReBEN(self.root, metadata=[self.metadata])


@pytest.fixture
def reben(tmp_path, shared_data, reben_rows) -> RebenCopy:
    return RebenCopy(shared_data, tmp_path / "reben", reben_rows)


# ---------------------------------------------------------------------------------------------------- reBEN
def test_reben_subset_is_clean(reben, tmp_path):
    """Baseline: the copied subset ingests without issues (so every issue below comes from the damage)."""
    report = run(reben.dataset(), tmp_path / "ws")
    assert report.issues == []
    assert sorted(Workspace(tmp_path / "ws").catalog["patch_id"]) == sorted(REBEN_IDS)


@pytest.mark.parametrize("band_name", ["B05", "B02"])  # B02 is also opened by the scan (georeference)
def test_reben_missing_band_file(reben, tmp_path, existing, band_name):
    bad = REBEN_IDS[1]
    band = reben.band(bad, band_name)
    band.unlink()

    report = run(reben.dataset(), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id=bad, kind="missing-band", names=[band.name],
                  good=[REBEN_IDS[0], REBEN_IDS[2]])
    check_fails(reben.dataset(), existing, [band.name, bad])


@pytest.mark.parametrize("band_name", ["B03", "B02"])  # B03: found while reading pixels; B02: already in the scan
@pytest.mark.parametrize("how", ["100-bytes", "half"])
def test_reben_truncated_geotiff(reben, tmp_path, existing, how, band_name):
    bad = REBEN_IDS[0]
    band = reben.band(bad, band_name)
    truncate(band, 100 if how == "100-bytes" else band.stat().st_size // 2)

    report = run(reben.dataset(), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id=bad, kind="unreadable-file", names=[band.name],
                  good=REBEN_IDS[1:])
    check_fails(reben.dataset(), existing, [band.name])


def test_reben_unknown_class(reben, tmp_path, existing):
    bad = REBEN_IDS[2]
    df = reben.rows.slice(0, 3).to_pandas()
    df.at[2, "labels"] = ["Arable land", "Glaciers and perpetual snow"]
    reben.write_metadata(df)

    report = run(reben.dataset(), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id=bad, kind="unknown-class",
                  names=["Glaciers and perpetual snow", "labels"], good=REBEN_IDS[:2])
    check_fails(reben.dataset(), existing, ["Glaciers and perpetual snow", "labels", bad])


def test_reben_duplicate_patch_id(reben, tmp_path, existing):
    dup = REBEN_IDS[1]
    t = reben.rows.slice(0, 3)
    reben.write_metadata(pa.concat_tables([t, t.slice(1, 1)]))

    report = run(reben.dataset(), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id=dup, kind="duplicate-id", names=["patch_id"],
                  good=REBEN_IDS)
    ws = Workspace(tmp_path / "ws")
    assert (ws.catalog["patch_id"] == dup).sum() == 1
    assert ws.store.n_rows == 3
    assert [i.kind for i in report.issues] == ["duplicate-id"]
    check_fails(reben.dataset(), existing, [dup, "duplicate"])


def test_reben_metadata_row_without_pixels(reben, tmp_path, existing):
    reben.write_metadata(reben.rows)  # 4 rows; no folder for EXTRA_ID

    report = run(reben.dataset(), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id=EXTRA_ID, kind="no-pixels", names=["BigEarthNet-S2"],
                  good=REBEN_IDS)
    check_fails(reben.dataset(), existing, [EXTRA_ID])


def test_reben_pixels_without_metadata_row(reben, tmp_path, existing):
    reben.add_pixels(EXTRA_ID)  # folder copied, metadata keeps only the 3 other rows

    report = run(reben.dataset(), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id=EXTRA_ID, kind="no-metadata",
                  names=[str(reben.dir(EXTRA_ID))], good=REBEN_IDS)
    check_fails(reben.dataset(), existing, [EXTRA_ID, "metadata"])


# ---------------------------------------------------------------------------------------------------- BigEarthNet v1
@pytest.fixture
def ben1(tmp_path, shared_data) -> Path:
    root = tmp_path / "ben1"
    for pid in BEN1_IDS:
        copy_tree(shared_data / "bigearthnet-v1" / "BigEarthNet-v1.0" / pid, root / "BigEarthNet-v1.0" / pid)
    return root


def test_ben1_subset_is_clean(ben1, tmp_path):
    report = run(BigEarthNetV1(ben1), tmp_path / "ws")
    assert report.issues == []
    assert sorted(Workspace(tmp_path / "ws").catalog["patch_id"]) == sorted(BEN1_IDS)


def test_ben1_unknown_43_class_label(ben1, tmp_path, existing):
    bad = BEN1_IDS[0]
    jf = ben1 / "BigEarthNet-v1.0" / bad / f"{bad}_labels_metadata.json"
    doc = json.loads(jf.read_text())
    doc["labels"] = [*doc["labels"], "Glaciers and perpetual snow"]  # CLC 335: not one of BigEarthNet's 43
    jf.write_text(json.dumps(doc))

    report = run(BigEarthNetV1(ben1), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id=bad, kind="unknown-class",
                  names=[jf.name, "Glaciers and perpetual snow", "labels"], good=BEN1_IDS[1:])
    check_fails(BigEarthNetV1(ben1), existing, [jf.name, "Glaciers and perpetual snow"])


def test_ben1_malformed_json(ben1, tmp_path, existing):
    bad = BEN1_IDS[1]
    jf = ben1 / "BigEarthNet-v1.0" / bad / f"{bad}_labels_metadata.json"
    jf.write_text(jf.read_text()[:60])  # cut in the middle of the labels list

    report = run(BigEarthNetV1(ben1), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id=bad, kind=None, names=[jf.name],
                  good=[BEN1_IDS[0], BEN1_IDS[2]])
    check_fails(BigEarthNetV1(ben1), existing, [jf.name])


def test_ben1_json_without_labels_field(ben1, tmp_path, existing):
    bad = BEN1_IDS[2]
    jf = ben1 / "BigEarthNet-v1.0" / bad / f"{bad}_labels_metadata.json"
    doc = json.loads(jf.read_text())
    del doc["labels"]
    jf.write_text(json.dumps(doc))

    report = run(BigEarthNetV1(ben1), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id=bad, kind=None, names=[jf.name, "labels"],
                  good=BEN1_IDS[:2])
    check_fails(BigEarthNetV1(ben1), existing, [jf.name, "labels"])


# ---------------------------------------------------------------------------------------------------- EuroSAT
EUROSAT_FILES = ["AnnualCrop_1", "AnnualCrop_2", "Forest_1", "Forest_2", "River_1"]


@pytest.fixture
def eurosat(tmp_path, shared_data) -> Path:
    root = tmp_path / "eurosat"
    for name in EUROSAT_FILES:
        cls = name.split("_")[0]
        (root / cls).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / "eurosat-ms" / cls / f"{name}.tif", root / cls / f"{name}.tif")
    return root


@pytest.mark.parametrize("bad_name", ["Forest-3", "Lake_3", "forest_3", "Forest_x"])
def test_eurosat_file_name_not_class_n(eurosat, tmp_path, existing, shared_data, bad_name):
    bad = eurosat / "Forest" / f"{bad_name}.tif"
    shutil.copyfile(shared_data / "eurosat-ms" / "Forest" / "Forest_3.tif", bad)

    report = run(EuroSATMS(eurosat), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id=bad_name, kind=None, names=[str(bad)], good=EUROSAT_FILES)
    check_fails(EuroSATMS(eurosat), existing, [str(bad)])


def test_eurosat_file_in_wrong_class_folder(eurosat, tmp_path, existing, shared_data):
    bad = eurosat / "Forest" / "River_2.tif"
    shutil.copyfile(shared_data / "eurosat-ms" / "River" / "River_2.tif", bad)

    report = run(EuroSATMS(eurosat), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id="River_2", kind=None, names=[str(bad), "River", "Forest"],
                  good=EUROSAT_FILES)
    check_fails(EuroSATMS(eurosat), existing, [str(bad)])


def test_eurosat_truncated_file(eurosat, tmp_path, existing):
    bad = eurosat / "Forest" / "Forest_2.tif"
    truncate(bad, 100)

    report = run(EuroSATMS(eurosat), tmp_path / "ws")
    good = [n for n in EUROSAT_FILES if n != "Forest_2"]
    check_skipped(report, tmp_path / "ws", patch_id="Forest_2", kind="unreadable-file", names=[str(bad)],
                  good=good)
    check_fails(EuroSATMS(eurosat), existing, [str(bad)])


# ---------------------------------------------------------------------------------------------------- generic folder
def rgb_png(src: Path, dst: Path, size: int | None = None) -> np.ndarray:
    """A PNG of a real EuroSAT patch's B04/B03/B02 (8-bit), optionally resized."""
    import rasterio
    from PIL import Image

    with rasterio.open(src) as f:
        rgb = f.read([4, 3, 2]).astype(np.float64)
    img = np.clip(rgb / 3000 * 255, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    im = Image.fromarray(img)
    if size:
        im = im.resize((size, size))
    dst.parent.mkdir(parents=True, exist_ok=True)
    im.save(dst)
    return np.asarray(im)


FOLDER_LABELS = {"p1": "Forest|River", "p2": "Pasture", "p3": "Forest"}


@pytest.fixture
def folder(tmp_path, shared_data) -> Path:
    root = tmp_path / "folder"
    for pid, src in zip(FOLDER_LABELS, ["Forest_1", "Pasture_1", "River_1"], strict=True):
        rgb_png(shared_data / "eurosat-ms" / src.split("_")[0] / f"{src}.tif", root / "img" / f"{pid}.png")
    write_table(root / "labels.csv", FOLDER_LABELS)
    return root


def write_table(path: Path, labels: dict[str, str]) -> None:
    pd.DataFrame({"patch_id": list(labels), "labels": list(labels.values())}).to_csv(path, index=False)


def test_folder_clean(folder, tmp_path, shared_data):
    report = run(PatchFolder(folder), tmp_path / "ws")
    assert report.issues == []
    ws = Workspace(tmp_path / "ws")
    assert dict(zip(ws.catalog["patch_id"], ws.catalog["labels"].map(list), strict=True)) == {
        "p1": ["Forest", "River"], "p2": ["Pasture"], "p3": ["Forest"]}
    expected = rgb_png(shared_data / "eurosat-ms" / "Forest" / "Forest_1.tif", tmp_path / "check.png")
    row = int(ws.catalog.set_index("patch_id").at["p1", "pixel_row"])
    np.testing.assert_array_equal(ws.store.array("image")[row], expected.transpose(2, 0, 1))


def test_folder_image_without_row(folder, tmp_path, existing, shared_data):
    extra = folder / "img" / "p4.png"
    rgb_png(shared_data / "eurosat-ms" / "SeaLake" / "SeaLake_1.tif", extra)

    report = run(PatchFolder(folder), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id="p4", kind="no-metadata", names=[str(extra), "labels.csv"],
                  good=list(FOLDER_LABELS))
    check_fails(PatchFolder(folder), existing, [str(extra)])


def test_folder_row_without_image(folder, tmp_path, existing):
    write_table(folder / "labels.csv", {**FOLDER_LABELS, "p9": "River"})

    report = run(PatchFolder(folder), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id="p9", kind="no-pixels", names=["labels.csv"],
                  good=list(FOLDER_LABELS))
    check_fails(PatchFolder(folder), existing, ["p9", "labels.csv"])


def test_folder_image_of_another_shape(folder, tmp_path, existing, shared_data):
    odd = folder / "img" / "p5.png"
    rgb_png(shared_data / "eurosat-ms" / "Highway" / "Highway_1.tif", odd, size=32)
    write_table(folder / "labels.csv", {**FOLDER_LABELS, "p5": "Highway"})

    report = run(PatchFolder(folder), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id="p5", kind=None, names=[str(odd)], good=list(FOLDER_LABELS))
    check_fails(PatchFolder(folder), existing, [str(odd)])


@pytest.mark.parametrize("bad_id", ["p2", "p1"])  # p1: the first image, which also fixes the band layout
def test_folder_corrupt_image(folder, tmp_path, existing, bad_id):
    bad = folder / "img" / f"{bad_id}.png"
    truncate(bad, 100)

    report = run(PatchFolder(folder), tmp_path / "ws")
    check_skipped(report, tmp_path / "ws", patch_id=bad_id, kind="unreadable-file", names=[str(bad)],
                  good=[p for p in FOLDER_LABELS if p != bad_id])
    check_fails(PatchFolder(folder), existing, [str(bad)])


@pytest.mark.parametrize("on_error", ["skip", "fail"])
def test_folder_missing_table(folder, tmp_path, existing, on_error):
    missing = folder / "nope.csv"
    before = digest(existing)
    with pytest.raises(DataError, match="nope.csv") as exc:
        run(PatchFolder(folder, table=missing), existing, on_error=on_error, overwrite=True)
    assert str(missing) in str(exc.value)
    assert digest(existing) == before

    (folder / "labels.csv").unlink()  # no --table and no default table: says where it looked
    with pytest.raises(DataError, match="labels.csv") as exc:
        run(PatchFolder(folder), existing, on_error=on_error, overwrite=True)
    assert str(folder) in str(exc.value)
    assert digest(existing) == before


@pytest.mark.parametrize("on_error", ["skip", "fail"])
def test_folder_table_without_labels_column(folder, tmp_path, existing, on_error):
    table = folder / "labels.csv"
    pd.DataFrame({"patch_id": list(FOLDER_LABELS), "classes": list(FOLDER_LABELS.values())}).to_csv(
        table, index=False)
    before = digest(existing)
    with pytest.raises(DataError) as exc:
        run(PatchFolder(folder), existing, on_error=on_error, overwrite=True)
    assert "'labels'" in str(exc.value)
    assert str(table) in str(exc.value)
    assert digest(existing) == before


def test_folder_labels_by_the_names_the_app_displays(folder, tmp_path):
    """A table may name classes as the app shows them (short names, any case); a near miss is reported with
    the closest names."""
    write_table(folder / "labels.csv", {"p1": "forest|RIVER", "p2": "Pasture", "p3": "Forrest"})
    report = run(PatchFolder(folder, nomenclature="eurosat"), tmp_path / "ws")
    ws = Workspace(tmp_path / "ws")
    assert dict(zip(ws.catalog["patch_id"], ws.catalog["labels"].map(list), strict=True)) == {
        "p1": ["Forest", "River"], "p2": ["Pasture"]}
    (issue,) = [i for i in report.issues if i.kind == "unknown-class"]
    assert issue.patch_id == "p3" and "closest: 'Forest'" in issue.message
