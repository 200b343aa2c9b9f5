"""Fixtures for the command-line tests: a small demo workspace built here (no real data needed)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def small_ws(tmp_path_factory) -> Path:
    """A 60-patch demo workspace with spectral embeddings and a k=10 kNN graph (no layout)."""
    from mining.datasets.demo import DemoDataset
    from mining.ingest import ingest
    from mining.pipeline import step_embed, step_knn
    from mining.workspace import Workspace

    out = tmp_path_factory.mktemp("eomine") / "ws"
    ingest(DemoDataset(n=60, seed=2), out, progress=False)
    ws = Workspace(out)
    step_embed(ws, "spectral", progress=False)
    step_knn(ws, k=10, method="exact", device="cpu")
    return out
