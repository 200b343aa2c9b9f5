"""Fixtures for the dashboard tests: a real server on the demo workspace (``demo_ws``, tests/conftest.py) and a
headless Chromium."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def server(demo_ws):
    """``eomine serve`` in its own process (as a curator runs it); yields the base URL."""
    from _server import start_server

    proc, url = start_server(demo_ws)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def browser():
    if CHROMIUM is None:
        pytest.skip("browser tests need Debian chromium (tools/test.sh installs it when run as root)")
    pw = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1600, "height": 1050})
    pg = ctx.new_page()
    pg.set_default_timeout(45000)  # a loaded 2-core CI machine: generous, a hung app still fails
    pg.console_errors = []
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    pg.base = server
    yield pg
    ctx.close()


@pytest.fixture(scope="session")
def pool_ws(demo_ws, tmp_path_factory):
    """An unlabelled pool: a copy of the demo workspace (embeddings, graph, layout) whose labels were dropped as
    ``eomine ingest --drop-labels`` drops them (kept aside as ``true_labels``). Tests that label work on a copy
    (``copy_ws``)."""
    import shutil

    from mining.ingest import drop_catalog_labels
    from mining.workspace import Workspace, conform_catalog, write_parquet

    out = tmp_path_factory.mktemp("pool") / "ws"
    shutil.copytree(demo_ws, out, ignore=shutil.ignore_patterns("edits.*", ".score.lock", "active"))
    ws = Workspace(out)
    write_parquet(conform_catalog(drop_catalog_labels(ws.catalog)), ws.files.catalog)
    return out
