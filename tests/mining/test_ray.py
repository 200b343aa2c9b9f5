"""``--backend ray`` on a real Ray cluster (never mocked): the same embeddings, kNN graph and scores as the local
backend on the demo, an embed that survives a killed actor, a resumed embed that skips finished shards, and the
pixel store read through fsspec.

The cluster is the one ``tools/test.sh`` starts (``tools/services/ray.sh`` exports ``EOMINE_TEST_RAY``), or one
these tests start themselves (``ray start --head`` on 127.0.0.1, 2 CPUs) and stop at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mining.distributed import ray_available

pytestmark = pytest.mark.skipif(not ray_available(), reason="ray is not installed (pip install 'ray[data]')")

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict:
    env = dict(os.environ, RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO="0")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


@pytest.fixture(scope="session")
def ray_address():
    """``HOST:PORT`` of a running Ray cluster: ``$EOMINE_TEST_RAY``, or a head node started here (2 CPUs)."""
    given = os.environ.get("EOMINE_TEST_RAY")
    if given:
        yield given
        return
    ray_bin = Path(sys.executable).with_name("ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(ray_bin), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2",
           "--num-gpus", "0", "--object-store-memory", "300000000", "--include-dashboard=false",
           "--disable-usage-stats"]
    subprocess.run(cmd, check=True, capture_output=True, env=_env(), timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(ray_bin), "stop", "--force"], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def cluster(ray_address):
    """A connected :class:`RayCluster` (this process joins the test cluster once for the module)."""
    from mining.distributed import RayCluster

    with RayCluster(ray_address) as c:
        yield c


def _same_embeddings(a: Path, b: Path) -> None:
    from mining.embeddings import load_embeddings
    from mining.workspace import Workspace

    ids_a, Xa = load_embeddings(Workspace(a))
    ids_b, Xb = load_embeddings(Workspace(b))
    assert (ids_a == ids_b).all()
    assert Xa.dtype == Xb.dtype == np.float32 and Xa.shape == Xb.shape
    assert np.array_equal(Xa.view(np.uint32), Xb.view(np.uint32))  # bit for bit


def test_embed_on_ray_is_bit_identical_to_local(demo_ws, copy_ws, cluster):
    from mining.distributed.embed import embed_ray
    from mining.embeddings import load_embeddings_card
    from mining.encoders import make_encoder
    from mining.workspace import Workspace

    ws = Workspace(copy_ws(demo_ws))
    card = embed_ray(ws, make_encoder("spectral"), cluster, shard_rows=256, progress=False)
    _same_embeddings(ws.path, demo_ws)
    assert card == load_embeddings_card(ws)
    assert card["backend"] == "ray" and card["shards"] == {"n": 6, "rows": 256, "skipped": 0}
    assert card["cluster"]["address"] == cluster.address_ and card["cluster"]["cpus"] == 2
    assert card["key"] == load_embeddings_card(Workspace(demo_ws))["key"]  # the same run, whichever backend
    assert not ws.files.embeddings_shards.exists()


def test_resumed_embed_skips_finished_shards(demo_ws, copy_ws, cluster):
    from mining._internal.artifacts import write_card
    from mining.distributed.embed import embed_ray
    from mining.embeddings import embed_key, load_embeddings
    from mining.encoders import make_encoder
    from mining.workspace import Workspace

    ws = Workspace(copy_ws(demo_ws))
    enc = make_encoder("spectral").fit(ws, progress=False)
    # what a crashed run leaves: the shards card and two finished shards (planted with a marker value, so a
    # recomputed shard would show)
    ws.files.embeddings_shards.mkdir()
    write_card(ws.files.embeddings_shards_card, {"key": {"embed": embed_key(ws, enc), "shards": 256,
                                                         "batch_size": 256}})
    from mining.distributed.embed import _write_shard

    for start in (0, 512):
        _write_shard(ws.files.embeddings_shard(start), np.full((256, enc.dim_), 7.0, np.float32))
    card = embed_ray(ws, enc, cluster, shard_rows=256, progress=False, fit=False)
    assert card["shards"] == {"n": 6, "rows": 256, "skipped": 2}
    _, X = load_embeddings(ws)
    _, X_local = load_embeddings(Workspace(demo_ws))
    planted = np.r_[0:256, 512:768]
    assert (X[planted] == 7.0).all()
    rest = np.setdiff1d(np.arange(len(X)), planted)
    assert np.array_equal(X[rest], X_local[rest])


def _encoder_actor_pids() -> list[int]:
    import psutil

    pids = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if cmd.startswith("ray::") and "_Encode" in cmd:
            pids.append(p.info["pid"])
    return pids


@pytest.mark.slow
def test_killing_an_encoder_actor_mid_embed_still_gives_the_complete_result(demo_ws, copy_ws, ray_address):
    import signal

    ws = copy_ws(demo_ws)
    (ws / "embeddings.parquet").unlink()
    (ws / "embeddings.json").unlink()
    log_out, log_err = ws.parent / "embed.out", ws.parent / "embed.err"  # files: a full pipe would block it
    with open(log_out, "w") as fo, open(log_err, "w") as fe:
        proc = subprocess.Popen([sys.executable, "-m", "eomine.cli", "embed", str(ws), "--encoder", "spectral",
                                 "--backend", "ray", "--address", ray_address, "--shard-rows", "64",
                                 "--batch-size", "16"], cwd=ROOT, env=_env(), stdout=fo, stderr=fe, text=True)
    killed = None
    try:
        deadline = time.monotonic() + 120
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            pids = _encoder_actor_pids()
            shards = list((ws / "embeddings.shards").glob("shard-*.parquet"))
            if pids and shards:  # encoding has begun: some shards are written, others not
                os.kill(pids[0], signal.SIGKILL)
                killed = (pids[0], len(shards))
            time.sleep(0.05)
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out, err = log_out.read_text(), log_err.read_text()
    assert killed is not None, f"no encoder actor seen while the embed ran (exit {proc.returncode}): {err[-2000:]}"
    assert killed[1] < 24, killed  # 1,500 rows in 24 shards of 64: the kill came before the last shard
    assert proc.returncode == 0, err[-3000:]
    assert "Ray" in out
    _same_embeddings(ws, demo_ws)
    import json

    card = json.loads((ws / "embeddings.json").read_text())
    # the dead actor failed the pipeline once; the shards not yet written were resubmitted
    assert card["cluster"]["retries_used"] == 1 and "ActorDiedError" in card["cluster"]["failures"][0], card
    assert not (ws / "embeddings.shards").exists()


def test_knn_on_ray_equals_local_exact(demo_ws, cluster):
    from mining.distributed.knn import RayKNNGraph
    from mining.embeddings import load_embeddings
    from mining.knn import load_knn
    from mining.workspace import Workspace

    ind, dist, card = load_knn(Workspace(demo_ws))
    assert card["method"] == "exact"
    _, X = load_embeddings(Workspace(demo_ws))
    g = RayKNNGraph(15, cluster=cluster, method="exact", block_rows=512).fit(X)
    assert g.backend_card_["blocks"] == {"n": 3, "rows": 512}
    assert np.array_equal(g.indices_, ind) and np.array_equal(g.distances_.view(np.uint32), dist.view(np.uint32))


def test_faiss_on_ray_equals_local_faiss_and_measures_recall(demo_ws, cluster):
    from mining.distributed.knn import RayKNNGraph
    from mining.embeddings import load_embeddings
    from mining.knn import KNNGraph
    from mining.workspace import Workspace

    _, X = load_embeddings(Workspace(demo_ws))
    local = KNNGraph(15, method="faiss", nprobe=4, recall_sample=500).fit(X)
    ray_g = RayKNNGraph(15, cluster=cluster, method="faiss", nprobe=4, recall_sample=500, block_rows=512).fit(X)
    assert np.array_equal(local.indices_, ray_g.indices_) and np.array_equal(local.distances_, ray_g.distances_)
    assert local.recall_rows_ == 500 and 0.5 < local.recall_ <= 1.0 and local.recall_ == ray_g.recall_
    exact = KNNGraph(15, method="exact").fit(X)
    assert np.array_equal(KNNGraph(15, method="faiss", nprobe=10_000).fit(X).indices_[:, :5], exact.indices_[:, :5])


def test_score_on_ray_equals_local(demo_scored, copy_ws, cluster):
    import pandas as pd

    from mining.noise import load_scores, load_scores_card, score_workspace
    from mining.workspace import Workspace

    ws = Workspace(copy_ws(demo_scored))
    card, skipped = score_workspace(ws, force=True, cluster=cluster, shard_rows=500)
    assert not skipped and card["backend"] == "ray"
    assert card["shards"] == {"n": 3, "rows": 500} and card["fold_tasks"] == 5
    assert card["key"] == load_scores_card(Workspace(demo_scored))["key"]
    pd.testing.assert_frame_equal(load_scores(ws), load_scores(Workspace(demo_scored)), check_exact=True)


def test_cli_knn_and_score_on_ray(demo_scored, copy_ws, ray_address):
    ws = copy_ws(demo_scored)
    for args in (["knn", str(ws), "--k", "15", "--force"], ["score", str(ws), "--force"]):
        proc = subprocess.run([sys.executable, "-m", "eomine.cli", *args, "--backend", "ray", "--address",
                               ray_address, "--actors", "2"], cwd=ROOT, env=_env(), capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "done" in proc.stdout, proc.stdout
    import json

    import pandas as pd

    assert json.loads((ws / "knn" / "knn.json").read_text())["backend"] == "ray"
    for name in ("knn/indices.npy", "knn/distances.npy"):
        assert (ws / name).read_bytes() == (demo_scored / name).read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(ws / "scores.parquet"), pd.read_parquet(demo_scored / "scores.parquet"),
                                  check_exact=True)


@pytest.mark.parametrize("proto", ["file", "memory"])
def test_store_through_fsspec_reads_only_its_rows(demo_ws, proto):
    import fsspec

    from mining.store_fs import FsPixelStore, store_url_of
    from mining.workspace import Workspace

    store = Workspace(demo_ws).store
    if proto == "file":
        url = store_url_of(demo_ws / "pixels")
    else:
        fs = fsspec.filesystem("memory")
        url = f"memory://eomine-test-{os.getpid()}/pixels"
        for f in (demo_ws / "pixels").iterdir():
            fs.pipe(url + "/" + f.name, f.read_bytes())
    remote = FsPixelStore(url)
    assert remote.matches(store) and remote.stats == store.stats
    got, want = remote.rows(700, 733), store.rows(700, 733)
    for g in store.groups:
        assert got[g].shape == want[g].shape and np.array_equal(got[g], want[g], equal_nan=True)
        assert np.array_equal(remote.filled(g), store.filled(g))
    row_bytes = sum(int(np.prod(g.shape)) * np.dtype(g.dtype).itemsize for g in store.groups.values())
    assert remote.bytes_read == 33 * row_bytes  # the byte ranges of those rows, nothing else
    if proto == "memory":
        fsspec.filesystem("memory").rm(url.rsplit("/", 1)[0], recursive=True)


def test_store_url_of_another_store_is_refused(demo_ws, copy_ws, tmp_path, cluster):
    from mining.datasets.demo import DemoDataset
    from mining.distributed.embed import embed_ray
    from mining.encoders import make_encoder
    from mining.errors import WorkspaceError
    from mining.ingest import ingest
    from mining.store_fs import store_url_of
    from mining.workspace import Workspace

    other = tmp_path / "other"
    ingest(DemoDataset(n=40, seed=3), other, progress=False)
    ws = Workspace(copy_ws(demo_ws))
    with pytest.raises(WorkspaceError, match="not the pixel store of"):
        embed_ray(ws, make_encoder("spectral"), cluster, store_url=store_url_of(other / "pixels"), progress=False)
    shutil.rmtree(other)
