"""The torch encoders: ``ssl`` (self-supervised CNN trained on the workspace) and ``checkpoint`` (user model)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mining.datasets import ReBEN
from mining.embeddings import embed, load_embeddings
from mining.encoders.checkpoint import CheckpointEncoder
from mining.encoders.spectral import SpectralEncoder
from mining.encoders.ssl import SSLEncoder
from mining.errors import DataError, ParameterError
from mining.ingest import ingest
from mining.store import read_rows, stack_bands
from mining.workspace import Workspace

#: torch >= 2.9 deprecates TorchScript (torch.jit.script / trace / save), which users' files still are
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

#: a short, fully reproducible schedule (one thread, no time budget cut) for the functional tests
QUICK = {"epochs": 2, "batch_size": 64, "time_budget_s": 0, "threads": 1}


def _demo(tmp_path_factory, n: int, name: str) -> Workspace:
    from mining.datasets.demo import DemoDataset

    out = tmp_path_factory.mktemp(name) / "ws"
    ingest(DemoDataset(n=n, seed=0), out, progress=False)
    return Workspace(out)


@pytest.fixture(scope="module")
def demo_small(tmp_path_factory):
    return _demo(tmp_path_factory, 400, "demo_small")


def knn_label_agreement(ws: Workspace, k: int = 10) -> float:
    """Mean Jaccard similarity between a patch's labels and those of its k nearest neighbours (cosine)."""
    from sklearn.neighbors import NearestNeighbors

    ids, X = load_embeddings(ws)
    labels = ws.catalog.set_index("patch_id")["labels"]
    sets = [set(labels[i]) for i in ids]
    _, ind = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(X).kneighbors(X)
    scores = []
    for i, row in enumerate(ind):
        nb = [j for j in row if j != i][:k]
        scores.append(np.mean([len(sets[i] & sets[j]) / max(len(sets[i] | sets[j]), 1) for j in nb]))
    return float(np.mean(scores))


# ------------------------------------------------------------------------------------------------ ssl
@pytest.fixture(scope="module")
def ssl_run(demo_small):
    card = embed(demo_small, SSLEncoder(**QUICK), device="cpu", progress=False)
    return demo_small, card


def test_ssl_embeds_end_to_end(ssl_run):
    ws, card = ssl_run
    ids, X = load_embeddings(ws)
    assert X.shape == (400, 128) and X.dtype == np.float32
    assert set(ids) == set(ws.catalog["patch_id"])
    assert np.isfinite(X).all()
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert card["encoder"] == "ssl" and card["dim"] == 128
    assert card["s1"] == ["VV", "VH"]  # the demo has S1 for every patch
    ckpts = list((ws.path / "encoders").glob("ssl-*.pt"))
    assert len(ckpts) == 1 and card["checkpoint"] == ckpts[0].name
    saved = torch.load(ckpts[0], weights_only=True)
    log = saved["log"]
    assert log["device"] == "cpu" and log["stopped"] is None and log["seconds"] > 0
    assert [e["epoch"] for e in log["epochs"]] == [1, 2] and all(np.isfinite(e["loss"]) for e in log["epochs"])
    assert not list((ws.path / "encoders").glob(".*tmp*"))  # atomic write left nothing behind


def test_ssl_second_fit_reuses_checkpoint(ssl_run, monkeypatch):
    ws, _ = ssl_run
    ckpt = next((ws.path / "encoders").glob("ssl-*.pt"))
    before = ckpt.stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("the checkpoint should have been reused")

    monkeypatch.setattr(SSLEncoder, "_train", no_training)
    enc = SSLEncoder(**QUICK).fit(ws, device="cpu", progress=False)
    assert enc.train_log_["reused"] is True
    assert ckpt.stat().st_mtime_ns == before
    assert len(enc.train_log_["epochs"]) == 2  # the log of the original training, not extended
    ids, X = load_embeddings(ws)
    rows = ws.catalog.set_index("patch_id")["pixel_row"]
    r = np.argsort(rows[ids].to_numpy())[:50]  # embeddings of pixel rows 0..49
    np.testing.assert_array_equal(enc.encode(read_rows(ws.store, 0, 50)), X[r])
    # the same encoder embeds identically whatever the batch split
    whole = enc.encode(read_rows(ws.store, 0, 8))
    parts = np.concatenate([enc.encode(read_rows(ws.store, 0, 3)), enc.encode(read_rows(ws.store, 3, 8))])
    np.testing.assert_allclose(whole, parts, atol=1e-6)


def test_ssl_other_params_or_retrain_train_again(ssl_run):
    ws, _ = ssl_run
    first = SSLEncoder(**QUICK).fit(ws, progress=False)
    other = SSLEncoder(**{**QUICK, "epochs": 1}).fit(ws, progress=False)
    assert other.train_log_["reused"] is False and other.checkpoint_ != first.checkpoint_
    again = SSLEncoder(**{**QUICK, "epochs": 1}, retrain=True).fit(ws, progress=False)
    assert again.train_log_["reused"] is False and again.checkpoint_ == other.checkpoint_
    # deterministic on the CPU: retraining with the same seed gives the same weights
    assert again.state_hash() == other.state_hash()
    seeded = SSLEncoder(**{**QUICK, "epochs": 1}, seed=1).fit(ws, progress=False)
    assert seeded.state_hash() != other.state_hash()


def test_ssl_damaged_checkpoint_is_retrained(ssl_run):
    ws, _ = ssl_run
    params = {**QUICK, "epochs": 1, "seed": 5}
    enc = SSLEncoder(**params).fit(ws, progress=False)
    Path(enc.checkpoint_).write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="unreadable checkpoint"):
        again = SSLEncoder(**params).fit(ws, progress=False)
    assert again.train_log_["reused"] is False and again.state_hash() == enc.state_hash()
    assert SSLEncoder(**params).fit(ws, progress=False).train_log_["reused"] is True  # rewritten


def test_ssl_rejects_bad_options(demo_small):
    with pytest.raises(ValueError, match="dim"):
        SSLEncoder(dim=0).fit(demo_small, progress=False)
    with pytest.raises(ValueError, match="s1"):
        SSLEncoder(s1="yes").fit(demo_small, progress=False)
    with pytest.raises(ValueError, match="encode"):
        SSLEncoder().encode({})


@pytest.mark.realdata
def test_ssl_on_real_reben_s2_s1(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("reben_ssl") / "ws"
    ingest(ReBEN(shared_data / "bigearthnet-v2-reben"), out, progress=False)
    ws = Workspace(out)
    card = embed(ws, SSLEncoder(epochs=3, batch_size=16, time_budget_s=0, threads=1, dim=32), device="cpu",
                 progress=False)
    ids, X = load_embeddings(ws)
    assert X.shape == (24, 32) and np.isfinite(X).all()
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert card["bands"] == ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
    assert card["s1"] == ["VV", "VH"]
    # 3 of the 24 reBEN patches have no S1 partner: zeros + mask 0 for them, but still a distinct embedding
    has_s1 = ws.catalog.set_index("patch_id")["has_s1"][ids].to_numpy()
    assert 0 < (~has_s1).sum() < 24
    assert len(np.unique(X.round(5), axis=0)) == 24


@pytest.mark.slow
def test_ssl_beats_spectral_on_knn_label_agreement(tmp_path_factory):
    """On the demo, the ssl embeddings' 10-NN share more labels than the spectral baseline's.

    A shortened schedule (24,000 pairs instead of the default 64,000: ~30-40 s on one core) on 1,000 patches, to
    fit the suite's time budget; measured 0.448 vs 0.428 for spectral. The default schedule on larger demos
    widens the gap (6,000 patches: 0.56 vs 0.51).
    """
    ws = _demo(tmp_path_factory, 1000, "demo_agree")
    embed(ws, SpectralEncoder(), device="cpu", progress=False)
    spectral = knn_label_agreement(ws)
    embed(ws, SSLEncoder(cpu_pairs=24_000, threads=1, time_budget_s=0), device="cpu", progress=False)
    ssl = knn_label_agreement(ws)
    assert ssl > spectral + 0.01, (ssl, spectral)


# ----------------------------------------------------------------------------------------- checkpoint
class _TinyNet(nn.Module):
    """3 bands -> conv -> ReLU -> global mean: (B, 3, S, S) -> (B, 8)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


class _MapNet(nn.Module):
    """Returns a feature map (B, 4, S, S) instead of (B, D)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    net = _TinyNet().eval()
    torch.jit.script(net).save(str(d / "tiny.pt"))
    torch.jit.trace(_MapNet().eval(), torch.zeros(1, 3, 8, 8)).save(str(d / "map.pt"))
    torch.save(net.state_dict(), d / "tiny_state.pt")
    (d / "notes.txt").write_text("not a model")
    return d, net


def test_checkpoint_torchscript_round_trip(demo_small, scripted):
    d, net = scripted
    bands, mean, std = ["B04", "B03", "B02"], [0.05, 0.06, 0.04], [0.03, 0.03, 0.02]
    enc = CheckpointEncoder(path=d / "tiny.pt", bands=bands, mean=mean, std=std)
    card = embed(demo_small, enc, device="cpu", progress=False)
    assert card["dim"] == 8 and card["bands"] == bands
    ids, X = load_embeddings(demo_small)
    assert X.shape == (400, 8)
    # one patch by hand: stack_bands -> reflectance -> (x - mean) / std -> the model
    pid = ids[7]
    row = int(demo_small.catalog.set_index("patch_id").loc[pid, "pixel_row"])
    raw = read_rows(demo_small.store, row, row + 1)
    x = stack_bands(demo_small.store, raw, bands, 60) * 1e-4
    x = np.nan_to_num((x - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()[0]
    np.testing.assert_allclose(X[7], expected, rtol=1e-5, atol=1e-6)


def test_checkpoint_errors_name_the_problem(demo_small, scripted):
    d, _ = scripted
    with pytest.raises(DataError, match=r"missing\.pt: no such file"):
        CheckpointEncoder(path=d / "missing.pt", bands=["B04"]).fit(demo_small)
    with pytest.raises(DataError, match=r"'B10' not in workspace .*available bands: B02, B03, B04"):
        CheckpointEncoder(path=d / "tiny.pt", bands=["B04", "B10", "B02"]).fit(demo_small)
    with pytest.raises(DataError, match=r"notes\.txt: not a TorchScript model nor a state_dict"):
        CheckpointEncoder(path=d / "notes.txt", bands=["B04", "B03", "B02"]).fit(demo_small)
    with pytest.raises(DataError, match=r"tiny_state\.pt: this is a state_dict.*arch="):
        CheckpointEncoder(path=d / "tiny_state.pt", bands=["B04", "B03", "B02"]).fit(demo_small)
    with pytest.raises(DataError, match=r"map\.pt: the model must return a tensor of shape \(B, D\)"):
        CheckpointEncoder(path=d / "map.pt", bands=["B04", "B03", "B02"]).fit(demo_small)
    with pytest.raises(DataError, match=r"tiny\.pt: the model fails on an input of shape \(2, 2, 60, 60\)"):
        CheckpointEncoder(path=d / "tiny.pt", bands=["B04", "B03"]).fit(demo_small)
    with pytest.raises(ParameterError, match="bands must be a non-empty list"):
        CheckpointEncoder(path=d / "tiny.pt").fit(demo_small)
    with pytest.raises(ParameterError, match="mean must be a finite number or a list of 3"):
        CheckpointEncoder(path=d / "tiny.pt", bands=["B04", "B03", "B02"], mean=[0.1, 0.2]).fit(demo_small)


def test_checkpoint_arch_needs_torchvision_or_timm(demo_small, scripted):
    d, _ = scripted
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(DataError, match=r"tiny_state\.pt: arch='resnet18' needs torchvision.*pip install"):
            CheckpointEncoder(path=d / "tiny_state.pt", bands=["B04", "B03", "B02"], arch="resnet18").fit(demo_small)
    else:  # torchvision present: a state_dict of another network is reported key by key
        with pytest.raises(DataError, match=r"does not match arch='resnet18'.*missing keys"):
            CheckpointEncoder(path=d / "tiny_state.pt", bands=["B04", "B03", "B02"], arch="resnet18").fit(demo_small)
    try:
        import timm  # noqa: F401
    except ImportError:
        with pytest.raises(DataError, match=r"arch='timm:resnet18' needs timm"):
            CheckpointEncoder(path=d / "tiny_state.pt", bands=["B04"], arch="timm:resnet18").fit(demo_small)


class _FakeResNet(nn.Module):
    """Stands in for a torchvision model: ``conv1`` (3 -> 4 channels), global mean, ``fc`` classifier."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.fc = nn.Linear(4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv1(x)).mean(dim=(2, 3)))


@pytest.fixture
def fake_torchvision(monkeypatch):
    """A ``torchvision`` module whose ``models.get_model`` builds :class:`_FakeResNet` (no real torchvision)."""
    built = []

    def get_model(name, weights=None):
        if name != "resnet18" or weights is not None:
            raise ValueError(f"unexpected {name!r}, weights={weights!r}")
        built.append(_FakeResNet())
        return built[-1]

    fake = types.ModuleType("torchvision")
    fake.models = types.SimpleNamespace(get_model=get_model)
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    return built


def _manual_features(ws, pid, bands, weight):
    """relu(conv(x)) averaged, by hand, for one patch; x = reflectance (scale 1e-4, mean 0, std 1)."""
    row = int(ws.catalog.set_index("patch_id").loc[pid, "pixel_row"])
    x = stack_bands(ws.store, read_rows(ws.store, row, row + 1), bands, 60) * 1e-4
    x = torch.from_numpy(np.nan_to_num(x).astype(np.float32))
    with torch.no_grad():
        return torch.relu(torch.nn.functional.conv2d(x, weight, padding=1)).mean(dim=(2, 3)).numpy()[0]


def test_checkpoint_state_dict_rgb_weights_adapted_to_more_bands(demo_small, fake_torchvision, tmp_path):
    torch.manual_seed(1)
    sd = _FakeResNet().state_dict()  # 3-channel first conv, e.g. ImageNet weights
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}}, tmp_path / "rgb.pth")
    bands = ["B04", "B03", "B02", "B08"]
    enc = CheckpointEncoder(path=tmp_path / "rgb.pth", arch="resnet18", bands=bands, threads=1).fit(demo_small)
    assert enc.dim_ == 4  # the classifier (fc, 10 outputs) is dropped: pooled features
    # documented rule: mean over the 3 input channels, repeated for the 4 bands, scaled by 3 / 4
    w = sd["conv1.weight"].mean(dim=1, keepdim=True).expand(-1, 4, -1, -1) * 0.75
    np.testing.assert_allclose(fake_torchvision[-1].conv1.weight.detach().numpy(), w.numpy(), rtol=1e-6)
    pid = demo_small.catalog["patch_id"].iloc[3]
    row = int(demo_small.catalog["pixel_row"].iloc[3])
    got = enc.encode(read_rows(demo_small.store, row, row + 1))[0]
    np.testing.assert_allclose(got, _manual_features(demo_small, pid, bands, w), rtol=1e-4, atol=1e-6)


def test_checkpoint_state_dict_trained_on_the_bands(demo_small, fake_torchvision, tmp_path):
    torch.manual_seed(2)
    net = _FakeResNet()
    net.conv1 = nn.Conv2d(2, 4, 3, padding=1, bias=False)  # a model trained on 2 bands
    torch.save(net.state_dict(), tmp_path / "two.pt")
    enc = CheckpointEncoder(path=tmp_path / "two.pt", arch="resnet18", bands=["VV", "VH"], scale=1.0,
                            mean=[-12.0, -19.0], std=[3.0, 3.0], threads=1).fit(demo_small)
    np.testing.assert_array_equal(fake_torchvision[-1].conv1.weight.detach().numpy(),
                                  net.conv1.weight.detach().numpy())  # loaded as trained, strictly
    assert enc.encode(read_rows(demo_small.store, 0, 5)).shape == (5, 4)
    # keys of another network: listed in the error
    torch.save({"conv1.weight": net.conv1.weight, "head.bias": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(DataError, match=r"other\.pt: the state_dict does not match arch='resnet18': "
                                        r"missing keys: fc\.weight, fc\.bias \(2\); unexpected keys: head\.bias"):
        CheckpointEncoder(path=tmp_path / "other.pt", arch="resnet18", bands=["VV", "VH"]).fit(demo_small)
    with pytest.warns(UserWarning, match="loaded non-strictly"):
        CheckpointEncoder(path=tmp_path / "other.pt", arch="resnet18", bands=["VV", "VH"],
                          strict=False).fit(demo_small)
