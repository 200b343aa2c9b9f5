"""The ``galileo`` encoder: strict weights loading, the forward pass against an independent slow implementation and
recorded numbers on a real patch, channel groups and masking, 8-bit renderings, the CLI default."""

from __future__ import annotations

import json
import shutil
from math import sqrt
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import erf

from mining.encoders import default_encoder, make_encoder, resolve_encoder
from mining.encoders._weights import GALILEO_ENV, SHIPPED_GALILEO_DIR
from mining.encoders.galileo import (
    CHANNELS,
    GROUPS,
    PUBLISHED_SHA256,
    GalileoEncoder,
    canonical_band,
    default_patch_size,
    load_galileo,
)
from mining.errors import DataError, ParameterError
from mining.ingest import ingest
from mining.store import read_rows
from mining.workspace import Workspace

WEIGHTS = SHIPPED_GALILEO_DIR
needs_weights = pytest.mark.skipif(not (WEIGHTS / "encoder.pt").is_file(),
                                   reason=f"the Galileo weights are not in {WEIGHTS}")
pytestmark = needs_weights

#: The real patch of the recorded-numbers test and what was recorded for it. EuroSAT MS Forest_1 (shared data),
#: every group the patch has (S2_RGB, S2_Red_Edge, S2_NIR_10m, S2_NIR_20m, S2_SWIR, NDVI; no S1), patch size 8,
#: June (EuroSAT has no dates: the fallback month). Recorded once with ``slow_reference`` below (numpy, float64,
#: read from the GeoTIFF with rasterio), and checked at the time against the reference code of nasaharvest/galileo
#: (0f0b5b9, ``single_file_galileo.Encoder`` + ``average_tokens`` on the same normalised input), which gave the same
#: 8 values to 6 decimals and the same norm (1.153525); the module agreed with it to 3e-7 on EuroSAT MS patches at
#: patch sizes 8 and 4, with and without NDVI.
REAL_PATCH = ("Forest", "Forest_1")
RECORDED_FIRST8 = [0.015927, -0.057757, 0.151768, 0.052113, -0.017951, 0.003481, -0.029913, 0.048151]
RECORDED_NORM = 1.153525


# ------------------------------------------------------------------------------- an independent slow forward pass
def _ln(x, w, b, eps=1e-5):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def _sincos_1d(v: float) -> np.ndarray:
    """16-d code of one coordinate: sin and cos of v * 10000^(-k/32), k = 0..7."""
    a = v * 10000.0 ** (-np.arange(8) / 32.0)
    return np.concatenate([np.sin(a), np.cos(a)])


def slow_reference(sd: dict, inputs: dict, month: int, patch: int, gsd_ratio: float, visible: dict | None = None):
    """Galileo-nano encoder, written out token by token in float64 numpy (no torch op of the module reused).

    inputs: group -> (C, S, S) normalised channels; visible: group -> (tokens,) bool (default all); month 0-11.
    Masked tokens are left out of the sequence altogether, as the paper's encoder does.
    """
    p = {k: v.double().numpy() for k, v in sd.items()}
    names = list(GROUPS)
    toks = []
    for g, x in inputs.items():
        w = p[f"space_time_embed.{g}.proj.weight"]
        if patch != 8:  # FlexiViT PI-resize: w_new = pinv(R) w, R[i] = basis image i resized (bicubic, antialias)
            basis = torch.eye(64, dtype=torch.float64).view(64, 1, 8, 8)
            R = torch.nn.functional.interpolate(basis, size=(patch, patch), mode="bicubic", antialias=True)
            pinv = np.linalg.pinv(R.view(64, -1).numpy())
            w = np.einsum("ij,dcj->dci", pinv, w.reshape(*w.shape[:2], 64)).reshape(*w.shape[:2], patch, patch)
        b = p[f"space_time_embed.{g}.proj.bias"]
        n = x.shape[-1] // patch
        for i in range(n):
            for j in range(n):
                if visible is not None and g in visible and not visible[g][i * n + j]:
                    continue
                pix = x[:, i * patch:(i + 1) * patch, j * patch:(j + 1) * patch]
                code = np.concatenate([p["s_t_channel_embed"][names.index(g)], p["pos_embed"][0],
                                       p["month_embed.weight"][month], _sincos_1d(j * gsd_ratio),
                                       _sincos_1d(i * gsd_ratio)])
                toks.append(np.einsum("dcuv,cuv->d", w, pix) + b + code)
    X = np.stack(toks)
    for blk in range(4):
        pre = f"blocks.{blk}."
        h = _ln(X, p[pre + "norm1.weight"], p[pre + "norm1.bias"])
        q, k, v = (h @ p[pre + f"attn.{n}.weight"].T + p[pre + f"attn.{n}.bias"] for n in "qkv")
        heads = []
        for hd in range(8):
            s = slice(16 * hd, 16 * hd + 16)
            a = q[:, s] @ k[:, s].T / sqrt(16)
            a = np.exp(a - a.max(1, keepdims=True))
            heads.append((a / a.sum(1, keepdims=True)) @ v[:, s])
        X = X + np.concatenate(heads, 1) @ p[pre + "attn.proj.weight"].T + p[pre + "attn.proj.bias"]
        h = _ln(X, p[pre + "norm2.weight"], p[pre + "norm2.bias"])
        h = h @ p[pre + "mlp.fc1.weight"].T + p[pre + "mlp.fc1.bias"]
        h = 0.5 * h * (1 + erf(h / sqrt(2)))
        X = X + h @ p[pre + "mlp.fc2.weight"].T + p[pre + "mlp.fc2.bias"]
    return _ln(X, p["norm.weight"], p["norm.bias"]).mean(0)


def reference_inputs_from_geotiff(tif: Path, *, ndvi: bool = True) -> dict:
    """Normalised group inputs of a EuroSAT MS GeoTIFF, read with rasterio (disk order B01..B12, B8A last)."""
    import rasterio

    with rasterio.open(tif) as src:
        a = src.read().astype(np.float64)
    disk = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")
    norm = json.loads((WEIGHTS / "normalization.json").read_text())["13"]
    mean, std = np.array(norm["mean"]), np.array(norm["std"])
    out = {}
    for g, chans in GROUPS.items():
        if g == "S1":
            continue
        if g == "NDVI":
            if ndvi:
                nir, red = a[disk.index("B08")], a[disk.index("B04")]
                out[g] = np.where(nir + red > 0, (nir - red) / (nir + red), 0)[None]
            continue
        idx = [CHANNELS.index(c) for c in chans]
        out[g] = np.stack([(a[disk.index(c)] - (mean[i] - 2 * std[i])) / (4 * std[i]) for c, i in zip(chans, idx, strict=True)])
    return out


@pytest.fixture(scope="module")
def state_dict():
    return torch.load(WEIGHTS / "encoder.pt", map_location="cpu", weights_only=True)


# ------------------------------------------------------------------------------------------------ weights
def test_shipped_weights_load_strictly(state_dict):
    net, info = load_galileo()
    assert info["published"] and info["sha256"] == PUBLISHED_SHA256
    assert set(net.state_dict()) == set(state_dict) and len(state_dict) == 106
    assert all(net.state_dict()[k].shape == v.shape for k, v in state_dict.items())
    assert sum(v.numel() for v in state_dict.values()) == 1_037_856
    assert all(torch.equal(net.state_dict()[k], v) for k, v in state_dict.items())
    for f in ("LICENSE", "SOURCE.md", "config.json", "normalization.json"):
        assert (WEIGHTS / f).is_file()


@pytest.fixture
def weights_copy(tmp_path):
    d = tmp_path / "w"
    shutil.copytree(WEIGHTS, d)
    return d


def _tamper_sd(d: Path, fn) -> None:
    sd = torch.load(d / "encoder.pt", map_location="cpu", weights_only=True)
    fn(sd)
    torch.save(sd, d / "encoder.pt")


def _assert_one_line(exc_info, *parts) -> None:
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    for part in parts:
        assert str(part) in msg, msg


@pytest.mark.parametrize("case", ["missing", "truncated", "corrupt", "shape", "missing-key", "extra-key", "nan",
                                  "not-a-dict", "unreadable"])
def test_bad_weights_file_is_a_clear_error_naming_it(weights_copy, case, monkeypatch):
    pt = weights_copy / "encoder.pt"
    expect = [pt]
    if case == "missing":
        pt.unlink()
        expect.append("nasaharvest/galileo")
    elif case == "truncated":
        pt.write_bytes(pt.read_bytes()[:100_000])
        expect.append("truncated or corrupt")
    elif case == "corrupt":
        pt.write_bytes(np.random.default_rng(0).bytes(4096))
    elif case == "shape":
        _tamper_sd(weights_copy, lambda sd: sd.__setitem__("blocks.2.mlp.fc1.weight", torch.zeros(256, 128)))
        expect += ["blocks.2.mlp.fc1.weight", "(256, 128)", "(512, 128)"]
    elif case == "missing-key":
        _tamper_sd(weights_copy, lambda sd: sd.pop("norm.bias"))
        expect += ["missing norm.bias"]
    elif case == "extra-key":
        _tamper_sd(weights_copy, lambda sd: sd.__setitem__("head.weight", torch.zeros(3)))
        expect += ["unexpected head.weight"]
    elif case == "nan":
        _tamper_sd(weights_copy, lambda sd: sd["blocks.0.attn.q.weight"].__setitem__((0, 0), float("nan")))
        expect += ["blocks.0.attn.q.weight", "not finite"]
    elif case == "not-a-dict":
        torch.save([torch.zeros(2)], pt)
    elif case == "unreadable":
        real = Path.read_bytes

        def deny(self):
            if self == pt:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self)

        monkeypatch.setattr(Path, "read_bytes", deny)
        expect += ["cannot read", "Permission denied"]
    with pytest.raises(DataError) as exc:
        load_galileo(weights_copy)
    _assert_one_line(exc, *expect)


@pytest.mark.parametrize("case", ["no-config", "bad-json", "bad-arch", "no-normalization", "bad-normalization"])
def test_bad_config_or_normalisation_file_is_named(weights_copy, case):
    cfg, norm = weights_copy / "config.json", weights_copy / "normalization.json"
    if case == "no-config":
        cfg.unlink()
        bad = cfg
    elif case == "bad-json":
        cfg.write_text("{not json")
        bad = cfg
    elif case == "bad-arch":
        doc = json.loads(cfg.read_text())
        doc["model"]["encoder"]["depth"] = 3  # the file's blocks.3.* are then unexpected
        cfg.write_text(json.dumps(doc))
        bad = weights_copy / "encoder.pt"
    elif case == "no-normalization":
        norm.unlink()
        bad = norm
    else:
        doc = json.loads(norm.read_text())
        doc["13"]["std"] = doc["13"]["std"][:5]
        norm.write_text(json.dumps(doc))
        bad = norm
    with pytest.raises(DataError) as exc:
        load_galileo(weights_copy)
    _assert_one_line(exc, bad)


def test_changed_values_with_the_right_shapes_load_with_a_warning(weights_copy):
    _tamper_sd(weights_copy, lambda sd: sd["norm.weight"].add_(0.01))
    with pytest.warns(UserWarning, match="not the published"):
        _, info = load_galileo(weights_copy / "encoder.pt")
    assert not info["published"]


def test_weights_found_through_the_environment_and_default_encoder(weights_copy, tmp_path, monkeypatch):
    monkeypatch.setenv(GALILEO_ENV, str(weights_copy))
    assert load_galileo()[1]["path"] == str(weights_copy / "encoder.pt")
    assert default_encoder() == "galileo" and resolve_encoder("auto") == "galileo"
    # auto looks at the workspace's bands: EuroSAT RGB's are enough, a store of B01 / B09 only is not
    assert resolve_encoder("auto", ["B04", "B03", "B02"]) == "galileo"
    assert resolve_encoder("auto", ["B01", "B09"]) == "spectral"
    assert resolve_encoder("galileo", ["B01", "B09"]) == "galileo"  # named: galileo says what is missing
    monkeypatch.setenv(GALILEO_ENV, str(tmp_path / "nowhere"))
    assert default_encoder() == "spectral" and resolve_encoder(None) == "spectral"
    assert resolve_encoder("ssl") == "ssl"
    with pytest.raises(DataError) as exc:
        load_galileo()
    _assert_one_line(exc, tmp_path / "nowhere" / "encoder.pt", GALILEO_ENV)


# ------------------------------------------------------------------------------------------- forward pass
def test_forward_with_masked_tokens_matches_the_slow_reference(state_dict):
    """Two patches, S1 for one only and a few S2 tokens masked in the other: key masking == tokens left out."""
    net, _ = load_galileo()
    rng = np.random.default_rng(1)
    S, p = 16, 4
    xs = {g: rng.normal(0.5, 0.3, (2, len(GROUPS[g]), S, S)) for g in ("S1", "S2_RGB", "S2_SWIR")}
    vis = {"S1": np.array([[True] * 16, [False] * 16]), "S2_RGB": np.ones((2, 16), bool),
           "S2_SWIR": np.ones((2, 16), bool)}
    vis["S2_RGB"][1, [0, 5, 6]] = False
    inputs = [(g, torch.tensor(x, dtype=torch.float32), torch.tensor(vis[g])) for g, x in xs.items()]
    with torch.inference_mode():
        out = net(inputs, torch.tensor([2, 8]), p, 4.0).numpy()
    for i in range(2):
        ref = slow_reference(state_dict, {g: x[i] for g, x in xs.items()}, [2, 8][i], p, 4.0,
                             {g: v[i] for g, v in vis.items()})
        np.testing.assert_allclose(out[i], ref, atol=2e-5)


@pytest.fixture(scope="module")
def forest_ws(tmp_path_factory, shared_data):
    src = tmp_path_factory.mktemp("forest_src")
    cls, stem = REAL_PATCH
    (src / cls).mkdir()
    shutil.copy(shared_data / "eurosat-ms" / cls / f"{stem}.tif", src / cls / f"{stem}.tif")
    out = tmp_path_factory.mktemp("forest") / "ws"
    from mining.datasets import EuroSATMS

    ingest(EuroSATMS(src), out, progress=False)
    return Workspace(out)


@pytest.mark.parametrize("patch", [8, 4])
def test_real_patch_matches_the_slow_reference(forest_ws, shared_data, state_dict, patch):
    enc = GalileoEncoder(patch_size=patch, threads=1).fit(forest_ws)
    assert enc.groups_ == ["S2_RGB", "S2_Red_Edge", "S2_NIR_10m", "S2_NIR_20m", "S2_SWIR", "NDVI"]
    assert (enc.tokens_, enc.token_gsd_ratio_) == (64 // patch, pytest.approx(patch, rel=1e-3))
    z = enc.encode(read_rows(forest_ws.store, 0, 1))[0]
    cls, stem = REAL_PATCH
    ref = slow_reference(state_dict, reference_inputs_from_geotiff(shared_data / "eurosat-ms" / cls / f"{stem}.tif"),
                         5, patch, enc.token_gsd_ratio_)
    np.testing.assert_allclose(z, ref, atol=2e-5)


def test_real_patch_matches_the_recorded_numbers(forest_ws):
    z = GalileoEncoder(threads=1).fit(forest_ws).encode(read_rows(forest_ws.store, 0, 1))[0]
    assert z.shape == (128,) and z.dtype == np.float32
    np.testing.assert_allclose(z[:8], RECORDED_FIRST8, atol=2e-5)
    assert float(np.linalg.norm(z)) == pytest.approx(RECORDED_NORM, abs=2e-5)


# ------------------------------------------------------------------------------------- groups and datasets
def test_canonical_band_names_and_default_patch_size():
    assert [canonical_band(b) for b in ("B2", "b02", "B8A", "b8a", "B08", "B12", "vv", " VH ", "band1", "B")] == \
        ["B02", "B02", "B8A", "B8A", "B08", "B12", "VV", "VH", None, None]
    assert [default_patch_size(s) for s in (120, 64, 60, 32, 16, 9, 5, 1)] == [8, 8, 7, 4, 2, 1, 1, 1]


def _folder_ws(tmp_path, bands: list[str], n: int = 4, size: int = 16, name="ws") -> Workspace:
    import rasterio
    from rasterio.transform import from_origin

    from mining.datasets import FORMATS

    src = tmp_path / f"{name}_src"
    src.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        arr = rng.integers(300, 3000, (len(bands), size, size)).astype(np.uint16)
        with rasterio.open(src / f"p{i}.tif", "w", driver="GTiff", width=size, height=size, count=len(bands),
                           dtype="uint16", crs="EPSG:32633", transform=from_origin(500000, 5000000, 10, 10)) as dst:
            dst.write(arr)
            dst.descriptions = tuple(bands)
        rows.append({"patch_id": f"p{i}", "labels": "a" if i % 2 else "b"})
    import pandas as pd

    pd.DataFrame(rows).to_csv(src / "labels.csv", index=False)
    ingest(FORMATS["folder"](src), tmp_path / name, progress=False)
    return Workspace(tmp_path / name)


def test_workspace_without_any_group_is_refused_naming_the_groups(tmp_path):
    ws = _folder_ws(tmp_path, ["B01", "B09"])
    with pytest.raises(DataError) as exc:
        GalileoEncoder().fit(ws)
    _assert_one_line(exc, ws.path, "S2_RGB needs B02, B03, B04", "S1 needs VV, VH", "B01, B09")


def test_a_required_group_that_is_missing_is_refused_naming_it(tmp_path):
    ws = _folder_ws(tmp_path, ["B4", "B3", "B2"])
    enc = GalileoEncoder(groups="S2_RGB").fit(ws)
    assert enc.groups_ == ["S2_RGB"]
    with pytest.raises(DataError) as exc:
        GalileoEncoder(groups=["S2_RGB", "S2_SWIR"]).fit(ws)
    _assert_one_line(exc, "S2_SWIR", "B11, B12")
    with pytest.raises(ParameterError, match="groups must be 'auto', channel group names among S1, S2_RGB"):
        GalileoEncoder(groups="RGB").fit(ws)


@pytest.mark.parametrize("params, param, words", [
    ({"patch_size": 99}, "patch_size", "an int in [1, 8] or None, got 99"),
    ({"patch_size": 0}, "patch_size", "[1, 8]"),
    ({"patch_size": 4.0}, "patch_size", "[1, 8]"),
    ({"month": 13}, "month", "'auto' or an int in [1, 12], got 13"),
    ({"month": "june"}, "month", "'auto' or an int in [1, 12]"),
    ({"fallback_month": 0}, "fallback_month", "an int in [1, 12]"),
    ({"ndvi": "yes"}, "ndvi", "a bool"),
    ({"groups": ["S2_RGB", "RGB"]}, "groups", "channel group names among S1, S2_RGB"),
    ({"groups": ""}, "groups", "channel group names"),
    ({"groups": "S2_RGB,NDVI", "ndvi": False}, "groups", "without NDVI when ndvi is false"),
    ({"threads": 0}, "threads", "an int in [1, inf) or None"),
    ({"weights": 3}, "weights", "a path or None"),
])
def test_bad_parameters_are_parameter_errors_naming_them(tmp_path, params, param, words):
    ws = _folder_ws(tmp_path, ["B4", "B3", "B2"])
    with pytest.raises(ParameterError) as exc:
        GalileoEncoder(**params).fit(ws)
    assert exc.value.param == param and exc.value.owner == "GalileoEncoder"
    _assert_one_line(exc, f"{param} must be", words)


def test_good_parameters_pass_and_a_patch_size_above_the_patches_is_refused(tmp_path):
    ws = _folder_ws(tmp_path, ["B4", "B3", "B2"], size=16)
    enc = GalileoEncoder(patch_size=np.int64(4), groups=("S2_RGB",), month="auto", threads=1).fit(ws)
    assert (enc.patch_size_, enc.tokens_, enc.groups_) == (4, 4, ["S2_RGB"])
    ws5 = _folder_ws(tmp_path, ["B4", "B3", "B2"], size=5, name="tiny")
    with pytest.raises(ParameterError) as exc:
        GalileoEncoder(patch_size=8).fit(ws5)
    assert exc.value.param == "patch_size"
    _assert_one_line(exc, "patch_size must be at most the patches' size (5 pixels", "got 8")


def test_named_geotiff_bands_map_onto_groups_and_partial_groups_are_masked(tmp_path, state_dict):
    ws = _folder_ws(tmp_path, ["B2", "B3", "B8", "B11", "B12"], size=16)
    with pytest.warns(UserWarning, match="S2_RGB is masked.*not B04"):
        enc = GalileoEncoder(threads=1).fit(ws)
    assert enc.groups_ == ["S2_NIR_10m", "S2_SWIR"]  # no B04: no RGB, no NDVI; never zeros in their place
    assert enc.masked_groups_["S2_RGB"] == "no B04" and enc.masked_groups_["NDVI"] == "no B04"
    assert enc.patch_size_ == 2 and enc.tokens_ == 8
    z = enc.encode(read_rows(ws.store, 0, 1))[0]
    # the same patch through the slow reference with exactly those two groups
    arr = read_rows(ws.store, 0, 1)["image"][0].astype(np.float64)
    norm = json.loads((WEIGHTS / "normalization.json").read_text())["13"]
    mean, std = np.array(norm["mean"]), np.array(norm["std"])
    names = ["B02", "B03", "B08", "B11", "B12"]

    def grp(g):
        return np.stack([(arr[names.index(c)] - mean[CHANNELS.index(c)] + 2 * std[CHANNELS.index(c)])
                         / (4 * std[CHANNELS.index(c)]) for c in GROUPS[g]])

    ref = slow_reference(state_dict, {"S2_NIR_10m": grp("S2_NIR_10m"), "S2_SWIR": grp("S2_SWIR")}, 5, 2,
                         enc.token_gsd_ratio_)
    np.testing.assert_allclose(z, ref, atol=2e-5)


def test_nodata_pixels_fill_from_their_token_and_mostly_empty_tokens_are_masked(tmp_path):
    ws = _folder_ws(tmp_path, ["B02", "B03", "B04"], size=16)
    enc = GalileoEncoder(threads=1).fit(ws)  # patch size 2: 8 x 8 tokens
    x = torch.rand(1, 3, 16, 16)
    x[0, 1, 0, 0] = float("nan")                   # token (0, 0): one pixel of one band missing -> kept, filled
    x[0, :, 2:4, 2:4] = float("nan")               # token (1, 1): every pixel missing -> masked
    x[0, 0, 4:6, 0] = float("nan")                 # token (2, 0): half of its pixels missing -> kept, filled
    x[0, 2, 0:2, 6:8] = float("nan")               # token (0, 3): one band missing everywhere -> masked
    filled, vis = enc._fill(x)
    masked = sorted(np.flatnonzero(~vis[0].numpy()).tolist())
    assert masked == [3, 9]
    assert filled[0, 1, 0, 0] == pytest.approx(float(x[0, 1, 0:2, 0:2].nanmean()))
    assert filled[0, 0, 4, 0] == pytest.approx(float(x[0, 0, 4:6, 1].mean()))
    keep = vis[0].view(8, 8).repeat_interleave(2, 0).repeat_interleave(2, 1)
    assert not torch.isnan(filled[0][:, keep]).any()
    assert torch.equal(enc._fill(x[:, :, 8:, 8:])[0], x[:, :, 8:, 8:]) and enc._fill(x[:, :, 8:, 8:])[1] is None


@pytest.fixture(scope="module")
def reben_ws(tmp_path_factory, shared_data):
    """The real reBEN patches (24, 21 with S1), ingested with only their own metadata rows (fast)."""
    import pyarrow.parquet as pq

    from mining.datasets import ReBEN

    root = shared_data / "bigearthnet-v2-reben"
    ids = sorted(p.name for p in (root / "BigEarthNet-S2").glob("*/*") if p.is_dir())
    tmp = tmp_path_factory.mktemp("reben")
    small = tmp / "metadata.parquet"
    pq.write_table(pq.read_table(root / "metadata.parquet", filters=[("patch_id", "in", ids)]), small)
    out = tmp / "ws"
    ingest(ReBEN(root, metadata=[small]), out, progress=False)
    return Workspace(out)


def test_reben_uses_every_group_and_masks_s1_per_patch(reben_ws):
    ws = reben_ws
    enc = GalileoEncoder(threads=1, month="auto").fit(ws)
    assert enc.groups_ == list(GROUPS) and "B01" not in enc.bands_ and "B09" not in enc.bands_
    assert (enc.patch_size_, enc.tokens_, enc.grid_) == (8, 15, 120)
    assert enc.token_gsd_ratio_ == pytest.approx(8.0)
    assert enc.dated_ == ws.store.n_rows  # every reBEN patch has its acquisition month
    cat = ws.catalog.sort_values("pixel_row")
    no_s1 = np.flatnonzero(~cat["has_s1"].to_numpy())
    with_s1 = np.flatnonzero(cat["has_s1"].to_numpy())
    assert len(no_s1) and len(with_s1)
    rows = np.concatenate([no_s1[:1], with_s1[:1]])
    batch = {g: a[rows] for g, a in read_rows(ws.store, 0, ws.store.n_rows).items()}
    z = enc.encode(batch, rows=rows)
    z_no_s1 = GalileoEncoder(threads=1, month="auto", groups=[g for g in GROUPS if g != "S1"]).fit(ws).encode(
        batch, rows=rows)
    np.testing.assert_allclose(z[0], z_no_s1[0], atol=1e-5)  # missing S1 = masked, exactly
    assert np.abs(z[1:] - z_no_s1[1:]).max() > 1e-2             # present S1 counts
    # the acquisition months from the catalog are what the model sees
    np.testing.assert_array_equal(enc._months[cat["pixel_row"].to_numpy()], cat["acquired"].dt.month.to_numpy() - 1)
    for m in np.unique(enc._months[rows]):
        same = enc._months[rows] == m
        fixed = GalileoEncoder(threads=1, month=int(m) + 1).fit(ws).encode({g: a[same] for g, a in batch.items()})
        np.testing.assert_allclose(z[same], fixed, atol=1e-5)
    other = GalileoEncoder(threads=1, month=12).fit(ws).encode(batch)
    assert np.abs(z - other).max() > 1e-3
    default = GalileoEncoder(threads=1).fit(ws)                # June for every patch, whatever its date
    assert default.dated_ is None and (default._months == 5).all()
    np.testing.assert_allclose(default.encode(batch, rows=rows), GalileoEncoder(threads=1, month=6).fit(ws).encode(
        batch), atol=1e-6)


def _by_id(ws: Workspace, Z: np.ndarray) -> dict:
    """Rows of Z (pixel-store order) by patch id."""
    cat = ws.catalog
    return {pid: Z[r] for pid, r in zip(cat["patch_id"], cat["pixel_row"], strict=True)}


def _cos(a, b) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_embed_end_to_end_on_eurosat_rgb_and_the_8bit_mapping(tmp_path, shared_data):
    """EuroSAT RGB JPEGs go through the measured 8-bit -> reflectance gains and land next to their MS twins."""
    from mining.datasets import EuroSATMS, EuroSATRGB
    from mining.embeddings import embed, load_embeddings

    rgb_root, ms_root = shared_data / "eurosat-rgb" / "2750", shared_data / "eurosat-ms"
    twins = []
    for cls in ("Forest", "SeaLake", "Industrial", "AnnualCrop", "River"):
        for tif in sorted((ms_root / cls).glob("*.tif")):
            if (rgb_root / cls / f"{tif.stem}.jpg").is_file():
                twins.append((cls, tif.stem))
                break
    assert len(twins) == 5
    for sub, ext, root in (("rgb", "jpg", rgb_root), ("ms", "tif", ms_root)):
        for c, s in twins:
            (tmp_path / sub / c).mkdir(parents=True, exist_ok=True)
            shutil.copy(root / c / f"{s}.{ext}", tmp_path / sub / c / f"{s}.{ext}")
    ingest(EuroSATRGB(tmp_path / "rgb"), tmp_path / "ws_rgb", progress=False)
    ingest(EuroSATMS(tmp_path / "ms"), tmp_path / "ws_ms", progress=False)
    rgb, ms = Workspace(tmp_path / "ws_rgb"), Workspace(tmp_path / "ws_ms")
    card = embed(rgb, make_encoder("galileo", threads=1), device="cpu", progress=False)
    assert card["encoder"] == "galileo" and card["dim"] == 128 and card["groups"] == ["S2_RGB"]
    assert sorted(card["rgb8_bands"]) == ["B02", "B03", "B04"] and card["weights"]["published"]
    assert set(card["masked_groups"]) == {"S1", "S2_Red_Edge", "S2_NIR_10m", "S2_NIR_20m", "S2_SWIR", "NDVI"}
    ids, X = load_embeddings(rgb)
    twin = _by_id(ms, GalileoEncoder(groups="S2_RGB", threads=1).fit(ms).encode(read_rows(ms.store, 0, 5)))
    cos = [_cos(x, twin[p]) for p, x in zip(ids, X, strict=True)]
    others = [_cos(x, twin[q]) for p, x in zip(ids, X, strict=True) for q in twin if q != p]
    assert min(cos) > 0.95 and min(cos) > max(others), (cos, max(others))
    # without the mapping (raw 0-255 taken as reflectance x 10,000) the twins would be far apart
    raw = GalileoEncoder(groups="S2_RGB", threads=1).fit(rgb)
    raw._gain = torch.ones_like(raw._gain)
    Z = _by_id(rgb, raw.encode(read_rows(rgb.store, 0, 5)))
    assert max(_cos(Z[p], twin[p]) for p in ids) < min(cos) - 0.1


def test_patch_without_any_valid_pixel_gets_zeros_and_a_warning(reben_ws):
    enc = GalileoEncoder(threads=1).fit(reben_ws)
    batch = {g: a.copy() for g, a in read_rows(reben_ws.store, 0, 3).items()}
    for a in batch.values():
        a[1] = np.nan if a.dtype.kind == "f" else 0      # patch 1: nodata everywhere, no S1
    with pytest.warns(UserWarning, match="no valid pixels"):
        z = enc.encode(batch, rows=(0, 3))
    assert np.isfinite(z).all() and not z[1].any() and z[0].any() and z[2].any()
    ref = enc.encode({g: a[[0, 2]] for g, a in batch.items()}, rows=np.array([0, 2]))
    np.testing.assert_allclose(z[[0, 2]], ref, atol=1e-5)  # the empty patch does not disturb the others


def test_embed_resumes_an_interrupted_run_with_identical_output(tmp_path, monkeypatch):
    from mining.embeddings import embed, load_embeddings

    ws = _folder_ws(tmp_path, ["B02", "B03", "B04", "B08"], n=6)
    embed(ws, GalileoEncoder(threads=1), device="cpu", batch_size=2, chunk_size=2, progress=False)
    _, full = load_embeddings(ws)
    (ws.path / "embeddings.parquet").unlink()
    calls = {"n": 0}
    real = GalileoEncoder.encode

    def dies_on_the_third_batch(self, batch, rows=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, batch, rows=rows)

    monkeypatch.setattr(GalileoEncoder, "encode", dies_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        embed(ws, GalileoEncoder(threads=1), device="cpu", batch_size=2, chunk_size=2, progress=False)
    assert len(list((ws.path / "embeddings.partial").glob("part-*.npy"))) == 2
    seen = []
    monkeypatch.setattr(GalileoEncoder, "encode", lambda self, batch, rows=None: seen.append(rows) or
                        real(self, batch, rows=rows))
    card = embed(ws, GalileoEncoder(threads=1), device="cpu", batch_size=2, chunk_size=2, progress=False)
    assert seen == [(4, 6)]  # only the missing chunk, with its rows
    _, resumed = load_embeddings(ws)
    assert np.array_equal(full, resumed) and card["groups"] == ["S2_RGB", "S2_NIR_10m", "NDVI"]


def test_a_batch_goes_through_the_network_in_steps_of_bounded_tokens(tmp_path):
    ws = _folder_ws(tmp_path, ["B02", "B03", "B04", "B08"], n=5)
    enc = GalileoEncoder(threads=1).fit(ws)
    batch = read_rows(ws.store, 0, 5)
    whole = enc.encode(batch)
    enc._token_budget = 3 * 64 * 2  # 3 groups x 64 tokens: two patches per step
    np.testing.assert_allclose(enc.encode(batch), whole, atol=1e-5)
