"""Shared fixtures: the real test data folder (``../shared/data`` beside this checkout or the one it was cloned
from, or ``$EOMINE_SHARED_DATA``), and a small demo workspace built from the embedded generator, so tests of the
app, the workspace and the command line run in a clone without any real data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mining.resources import shared_data_dir


@pytest.fixture(scope="session")
def shared_data():
    """Path of the real EO test data; skips the test (with the reason) when it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data not available: ../shared/data is absent beside this checkout and its origin "
                    "(set EOMINE_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def postgres_server():
    """The URL of a real PostgreSQL server (``$EOMINE_TEST_POSTGRES``, else a temporary cluster started and
    stopped here); skips the test with the reason when neither is possible."""
    sys.path.insert(0, str(Path(__file__).parent))
    from _postgres import server_url

    url, cluster, why = server_url()
    if url is None:
        pytest.skip(why)
    yield url
    if cluster is not None:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A PostgreSQL edit-log URL with a schema of this test's own."""
    from _postgres import with_schema

    return with_schema(postgres_server)


@pytest.fixture(scope="session")
def demo_ws(tmp_path_factory) -> Path:
    """A 1,500-patch demo workspace (generated, seed 1), embedded (spectral), with a k=15 graph and a UMAP
    layout. Shared by the session: tests that change it work on a copy (``copy_ws``)."""
    from mining.datasets.demo import DemoDataset
    from mining.ingest import ingest
    from mining.pipeline import step_embed, step_knn, step_project
    from mining.workspace import Workspace

    out = tmp_path_factory.mktemp("demo") / "ws"
    ingest(DemoDataset(n=1500, seed=1), out, progress=False)
    ws = Workspace(out)
    step_embed(ws, "spectral", progress=False)
    step_knn(ws, k=15)
    step_project(ws, method="umap", seed=0)
    return out


@pytest.fixture(scope="session")
def scene_ws(shared_data, tmp_path_factory) -> Path:
    """The real Sentinel-2 L2A tile 29RKH (decimated 10x by its publisher) cut into its 8,281 patches of 1,200 m
    (``eomine ingest --format scene``, about 6 s); not embedded. Skipped without the real data."""
    from mining.datasets import SceneDataset
    from mining.ingest import ingest

    out = tmp_path_factory.mktemp("scene") / "ws"
    item = shared_data / "scenes" / "s2-l2a-29RKH-20200219-100m" / "S2A_29RKH_20200219_0_L2A.json"
    ingest(SceneDataset(item), out, progress=False)
    return out


@pytest.fixture(scope="session")
def demo_scored(demo_ws, tmp_path_factory) -> Path:
    """A copy of :func:`demo_ws` with noise scores (``eomine score``)."""
    from mining.noise import score_workspace
    from mining.workspace import Workspace

    out = _copy(demo_ws, tmp_path_factory.mktemp("demo_scored") / "ws")
    score_workspace(Workspace(out))
    return out


@pytest.fixture
def pool_of(tmp_path):
    """``pool_of(src)``: a copy of a labelled workspace turned into an unlabelled pool, as
    ``eomine ingest --drop-labels`` makes one (labels moved to ``true_labels``; no edit log, no active state)."""
    def make(src: Path, name: str = "pool") -> Path:
        import shutil

        from mining.ingest import drop_catalog_labels
        from mining.workspace import Workspace, conform_catalog, write_parquet

        dst = tmp_path / name
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("edits.*", ".score.lock", "active"))
        ws = Workspace(dst)
        write_parquet(conform_catalog(drop_catalog_labels(ws.catalog)), ws.files.catalog)
        return dst
    return make


@pytest.fixture
def copy_ws(tmp_path):
    """``copy_ws(src)``: a copy of a workspace (without its edit log) in this test's tmp folder, to change."""
    return lambda src, name="ws": _copy(src, tmp_path / name)


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("edits.*", ".score.lock"))
    return dst
