"""Embeddings, the kNN graph, the projection and the cached pipeline (CPU)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mining.datasets import EuroSATMS, ReBEN
from mining.embeddings import embed, load_embeddings
from mining.encoders import make_encoder
from mining.errors import DataError, ParameterError
from mining.ingest import ingest
from mining.knn import KNNGraph, exact_knn, load_knn, save_knn
from mining.pipeline import step_embed, step_knn, step_project, step_report
from mining.workspace import Workspace


def _clusters(n=6000, d=32, c=12, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(c, d)) * 3
    return (centres[rng.integers(0, c, n)] + rng.normal(size=(n, d))).astype(np.float32)


def _recall(ind, ref):
    return np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ind, ref, strict=True)])


# --------------------------------------------------------------------------- kNN
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_torch_and_pynndescent_agree_with_brute_force(metric):
    from sklearn.neighbors import NearestNeighbors

    X = _clusters()
    k = 15
    nn = NearestNeighbors(n_neighbors=k + 1, metric=metric, algorithm="brute").fit(X)
    ref = nn.kneighbors(X, return_distance=False)[:, 1:]
    exact = KNNGraph(k, metric=metric, method="exact", device="cpu").fit(X)
    approx = KNNGraph(k, metric=metric, method="nndescent").fit(X)
    assert exact.method_ == "exact" and approx.method_ == "nndescent"
    assert _recall(exact.indices_, ref) > 0.999
    assert _recall(approx.indices_, ref) >= 0.95
    assert (exact.indices_ != np.arange(len(X))[:, None]).all()  # self never listed
    assert (np.diff(exact.distances_, axis=1) >= -1e-5).all()  # nearest first


def test_save_knn_round_trips_and_closes_its_files(tmp_path):
    """The graph files are written under a temporary name and renamed (np.save appends .npy to a bare name),
    through closed files: no ResourceWarning, nothing left behind."""
    import gc
    import types
    import warnings

    graph = KNNGraph(5, method="exact", device="cpu").fit(_clusters(n=200, d=8))
    from mining.layout import WorkspaceFiles

    ws = types.SimpleNamespace(path=tmp_path, files=WorkspaceFiles(tmp_path))  # save_knn / load_knn: only files
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_knn(ws, graph, embeddings_key="k")
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    ind, dist, card = load_knn(ws)
    np.testing.assert_array_equal(ind, graph.indices_)
    np.testing.assert_array_equal(dist, graph.distances_)
    assert sorted(f.name for f in (tmp_path / "knn").iterdir()) == ["distances.npy", "indices.npy", "knn.json"]


def test_knn_excludes_self_even_with_duplicates():
    X = np.repeat(np.eye(4, dtype=np.float32), 3, axis=0)  # every point has two exact duplicates
    ind, dist = exact_knn(X, 2, metric="euclidean")
    assert (ind != np.arange(len(X))[:, None]).all()
    np.testing.assert_allclose(dist, 0, atol=1e-6)


def test_knn_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        KNNGraph(2).fit(np.array([[0.0, np.nan], [1, 1], [2, 2]]))
    with pytest.raises(ParameterError, match=r"k must be an int in \[1, 2\] \(fewer than the 3 points\), got 5"):
        KNNGraph(5).fit(np.zeros((3, 2)))


# --------------------------------------------------------------------------- workspaces
@pytest.fixture(scope="module")
def eurosat_ws(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("eu") / "ws"
    ingest(EuroSATMS(shared_data / "eurosat-ms"), out, progress=False)
    return Workspace(out)


@pytest.fixture(scope="module")
def reben_ws(shared_data, tmp_path_factory):
    root = shared_data / "bigearthnet-v2-reben"
    tmp = tmp_path_factory.mktemp("rb")
    ids = {p.name for p in (root / "BigEarthNet-S2").glob("*/*")}
    md = pd.read_parquet(root / "metadata.parquet", filters=[("patch_id", "in", sorted(ids))])
    md.to_parquet(tmp / "metadata.parquet")
    ingest(ReBEN(root, metadata=[tmp / "metadata.parquet"]), tmp / "ws", progress=False)
    return Workspace(tmp / "ws")


@pytest.mark.parametrize("encoder", ["spectral", "random"])
def test_encoders_end_to_end_on_real_eurosat_and_reben(encoder, eurosat_ws, reben_ws):
    for ws in (eurosat_ws, reben_ws):
        card = embed(ws, make_encoder(encoder), progress=False)
        ids, X = load_embeddings(ws)
        assert list(ids) == list(ws.catalog["patch_id"])
        assert X.shape == (len(ws.catalog), card["dim"]) and np.isfinite(X).all()
        assert card["encoder"] == encoder and card["device"] == "cpu" and card["bands"]


def test_spectral_neighbours_share_labels_on_eurosat(eurosat_ws):
    """A curator's sanity check: real EuroSAT classes cluster far above chance (10 classes -> ~0.1)."""
    step_embed(eurosat_ws, "spectral", force=True, progress=False)
    step_knn(eurosat_ws, k=10, force=True)
    rep = step_report(eurosat_ws)
    assert rep["knn_label_agreement"] > 0.4 > 0.2 > rep["chance_label_agreement"]


# --------------------------------------------------------------------------- resume
def test_interrupted_embed_resumes_to_identical_output(eurosat_ws, monkeypatch):
    from mining.encoders.spectral import SpectralEncoder

    embed(eurosat_ws, SpectralEncoder(), chunk_size=40, progress=False)
    clean = (eurosat_ws.path / "embeddings.parquet").read_bytes()
    ids0, X0 = load_embeddings(eurosat_ws)

    calls = {"n": 0}
    real = SpectralEncoder.encode

    def flaky(self, batch):
        calls["n"] += 1
        if calls["n"] == 4:  # dies in the 4th batch, after 3 chunks of 40 were written
            raise KeyboardInterrupt
        return real(self, batch)

    (eurosat_ws.path / "embeddings.parquet").unlink()
    monkeypatch.setattr(SpectralEncoder, "encode", flaky)
    with pytest.raises(KeyboardInterrupt):
        embed(eurosat_ws, SpectralEncoder(), chunk_size=40, batch_size=40, progress=False)
    assert not (eurosat_ws.path / "embeddings.parquet").exists()
    assert len(list((eurosat_ws.path / "embeddings.partial").glob("part-*.npy"))) == 3
    calls["n"] = 100  # no more failures; count what the resumed run still has to encode
    embed(eurosat_ws, SpectralEncoder(), chunk_size=40, batch_size=40, progress=False)
    assert calls["n"] - 100 == 2  # only the 2 missing chunks (180 = 4*40 + 20) were encoded
    ids1, X1 = load_embeddings(eurosat_ws)
    assert list(ids1) == list(ids0)
    np.testing.assert_array_equal(X1, X0)
    assert (eurosat_ws.path / "embeddings.parquet").read_bytes() == clean
    assert not (eurosat_ws.path / "embeddings.partial").exists()


# --------------------------------------------------------------------------- import
def test_import_rejects_nan_rows_and_unknown_ids_naming_them(eurosat_ws, tmp_path):
    ids = list(eurosat_ws.catalog["patch_id"])
    X = np.random.default_rng(0).normal(size=(len(ids), 8)).astype(np.float32)
    X[5, 3] = np.nan
    X[7, 0] = np.inf
    bad_ids = ids[:-2] + ["Forest_9999", "NotAPatch_1"]
    f = tmp_path / "emb.parquet"
    pd.DataFrame({"patch_id": bad_ids, "embedding": list(X)}).to_parquet(f)
    with pytest.raises(DataError) as err:
        step_embed(eurosat_ws, "import", {"path": str(f)}, progress=False)
    msg = str(err.value)
    assert "Forest_9999" in msg and "NotAPatch_1" in msg and "2 unknown patch id" in msg
    assert ids[5] in msg and ids[7] in msg and "NaN/inf" in msg


def test_import_rejects_mixed_dimensions(eurosat_ws, tmp_path):
    ids = list(eurosat_ws.catalog["patch_id"])[:3]
    f = tmp_path / "emb.parquet"
    pd.DataFrame({"patch_id": ids, "embedding": [np.zeros(4), np.zeros(4), np.zeros(5)]}).to_parquet(f)
    with pytest.raises(DataError, match="different dimensions.*" + ids[2]):
        step_embed(eurosat_ws, "import", {"path": str(f)}, progress=False)


def test_import_npz_round_trip(eurosat_ws, tmp_path):
    ids = np.array(eurosat_ws.catalog["patch_id"], dtype=str)[::-1]  # any order
    X = np.random.default_rng(1).normal(size=(len(ids), 6)).astype(np.float32)
    np.savez(tmp_path / "e.npz", patch_id=ids, embedding=X)
    res = step_embed(eurosat_ws, "import", {"path": str(tmp_path / "e.npz")}, progress=False)
    got_ids, got = load_embeddings(eurosat_ws)
    assert res.card["encoder"] == "import" and got.shape == (180, 6)
    lookup = dict(zip(ids, X, strict=True))
    np.testing.assert_array_equal(got[0], lookup[got_ids[0]])
    np.savez(tmp_path / "obj.npz", patch_id=ids.astype(object), embedding=X)
    with pytest.raises(DataError, match="object array; save it as strings"):
        step_embed(eurosat_ws, "import", {"path": str(tmp_path / "obj.npz")}, progress=False)


def test_import_npz_closes_the_file(tmp_path, monkeypatch):
    """An .npz is a zip that np.load keeps open until closed: read_embedding_file closes it when done, error or
    not (not whenever the garbage collector gets to it)."""
    from mining.encoders.imported import read_embedding_file

    opened = []

    def load(*args, **kwargs):
        opened.append(real_load(*args, **kwargs))
        return opened[-1]

    real_load = np.load
    monkeypatch.setattr(np, "load", load)
    X = np.ones((3, 4), np.float32)
    np.savez(tmp_path / "e.npz", patch_id=np.array(["a", "b", "c"]), embedding=X)
    np.savez(tmp_path / "bad.npz", embedding=X)
    ids, got = read_embedding_file(tmp_path / "e.npz")
    assert ids.tolist() == ["a", "b", "c"] and got.shape == (3, 4)
    with pytest.raises(DataError, match="needs arrays 'patch_id'"):
        read_embedding_file(tmp_path / "bad.npz")
    assert len(opened) == 2 and all(z.zip is None for z in opened)  # NpzFile.close() drops its zip


# --------------------------------------------------------------------------- projection + cache
def test_umap_uses_the_stored_graph_and_no_second_search(eurosat_ws, monkeypatch):
    import pynndescent
    import umap.umap_ as umap_mod

    step_embed(eurosat_ws, "spectral", force=True, progress=False)
    step_knn(eurosat_ws, k=10, force=True)

    def forbidden(*a, **k):
        raise AssertionError("a second neighbour search ran")

    monkeypatch.setattr(umap_mod, "nearest_neighbors", forbidden)
    monkeypatch.setattr(pynndescent, "NNDescent", forbidden)
    r1 = step_project(eurosat_ws, method="umap", seed=3, n_epochs=50, force=True)
    p1 = pd.read_parquet(eurosat_ws.path / "projection.parquet")
    r2 = step_project(eurosat_ws, method="umap", seed=3, n_epochs=50, force=True)
    p2 = pd.read_parquet(eurosat_ws.path / "projection.parquet")
    assert not r1.skipped and not r2.skipped
    np.testing.assert_array_equal(p1[["x", "y"]].to_numpy(), p2[["x", "y"]].to_numpy())  # same seed, same layout
    assert list(p1["patch_id"]) == list(eurosat_ws.catalog["patch_id"])
    assert r1.card["knn_key"] == load_knn(eurosat_ws)[2]["key"]


def test_steps_are_skipped_until_inputs_change(eurosat_ws):
    step_embed(eurosat_ws, "spectral", force=True, progress=False)
    step_knn(eurosat_ws, k=10, force=True)
    step_project(eurosat_ws, method="pca", force=True)
    assert step_embed(eurosat_ws, "spectral", progress=False).skipped
    assert step_knn(eurosat_ws, k=10).skipped
    assert step_project(eurosat_ws, method="pca").skipped
    # new k -> new graph -> projection that depends on it is recomputed; embeddings stay
    assert not step_knn(eurosat_ws, k=8).skipped
    assert step_embed(eurosat_ws, "spectral", progress=False).skipped
    assert not step_project(eurosat_ws, method="umap", n_epochs=20).skipped
    assert step_project(eurosat_ws, method="umap", n_epochs=20).skipped
    # new embeddings (different encoder) invalidate the graph
    assert not step_embed(eurosat_ws, "random", progress=False).skipped
    assert not step_knn(eurosat_ws, k=8).skipped


def test_metadata_only_workspace_needs_import(tmp_path, shared_data):
    root = shared_data / "bigearthnet-v2-reben"
    md = pd.read_parquet(root / "metadata.parquet").head(50)
    md.to_parquet(tmp_path / "m.parquet")
    ingest(ReBEN(root, metadata=[tmp_path / "m.parquet"], metadata_only=True), tmp_path / "ws", progress=False)
    from mining.errors import WorkspaceError

    with pytest.raises(WorkspaceError, match="--encoder import"):
        step_embed(Workspace(tmp_path / "ws"), "spectral", progress=False)


def test_umap_is_reproducible_by_default_and_parallel_above_the_large_threshold(monkeypatch):
    from mining.projection import Projection

    X = _clusters(n=1500, d=16, c=6)
    ind, dist = exact_knn(X, 10)
    a = Projection("umap", seed=3).fit(X, (ind, dist))
    b = Projection("umap", seed=3).fit(X, (ind, dist))
    assert a.reproducible_ and a.init_ == "spectral"
    np.testing.assert_array_equal(a.embedding_, b.embedding_)  # same seed, same layout, bit for bit

    monkeypatch.setattr(Projection, "LARGE", 1000)  # pretend 1,500 points is a large dataset
    big = Projection("umap", seed=3).fit(X, (ind, dist))
    assert not big.reproducible_ and big.init_ == "pca"
    assert np.isfinite(big.embedding_).all() and big.embedding_.std(0).min() > 0
    forced = Projection("umap", seed=3, reproducible=True).fit(X, (ind, dist))
    assert forced.reproducible_ and forced.init_ == "pca"
    with pytest.raises(ValueError, match="init"):
        Projection("umap", init="random").fit(X, (ind, dist))


def test_label_agreement_leaves_unlabelled_patches_out():
    import numpy as np

    from mining.quality import knn_label_agreement, quality_report

    Y = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], bool)
    ind = np.array([[1, 3], [0, 3], [3, 0], [0, 1]])
    # pairs of labelled patches: 0-1 (1.0), 1-0 (1.0), 2-0 (0.0); patch 3 has no label and counts nowhere
    assert knn_label_agreement(Y, ind) == pytest.approx(2 / 3)
    empty = np.zeros((4, 2), bool)
    assert np.isnan(knn_label_agreement(empty, ind))
    rep = quality_report(np.eye(4, dtype=np.float32), empty, ind, k=2)
    assert rep["knn_label_agreement"] is None and rep["n_labelled"] == 0
