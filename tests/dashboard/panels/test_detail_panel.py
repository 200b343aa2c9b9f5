"""The detail panel on the demo workspace (and real reBEN patches: S1 pairs, metadata only), without a browser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _helpers import run_callback, text_of, tile_labels, walk, with_id_type
from dash import html

from dashboard import ids
from dashboard.app import create_app
from dashboard.panels import detail
from dashboard.routes import thumb_url
from mining.datasets import ReBEN
from mining.ingest import ingest


@pytest.fixture(scope="module")
def eu(demo_ws):
    app = create_app(demo_ws)
    return app, app.server.extensions["eomine"].current


@pytest.fixture(scope="module")
def rb(shared_data, tmp_path_factory):
    """reBEN patches of the sample (with S1 where the sample has it); no embeddings."""
    root = shared_data / "bigearthnet-v2-reben"
    tmp = tmp_path_factory.mktemp("gd_rb")
    pids = sorted(p.name for p in (root / "BigEarthNet-S2").glob("*/*"))
    pd.read_parquet(root / "metadata.parquet", filters=[("patch_id", "in", pids)]).to_parquet(tmp / "m.parquet")
    ingest(ReBEN(root, metadata=[tmp / "m.parquet"]), tmp / "ws", progress=False)
    app = create_app(tmp / "ws")
    return app, app.server.extensions["eomine"].current


@pytest.fixture(scope="module")
def meta_only(shared_data, tmp_path_factory):
    root = shared_data / "bigearthnet-v2-reben"
    tmp = tmp_path_factory.mktemp("gd_meta")
    pd.read_parquet(root / "metadata.parquet").head(60).to_parquet(tmp / "m.parquet")
    ingest(ReBEN(root, metadata=[tmp / "m.parquet"], metadata_only=True), tmp / "ws", progress=False)
    app = create_app(tmp / "ws")
    return app, app.server.extensions["eomine"].current


def catalog_labels(data, row) -> list[str]:
    return list(data.cat["labels"].iat[row])


def knn_reference(ws_path, pid: str) -> list[str]:
    """The patch's neighbours straight from knn/indices.npy (rows of embeddings.parquet)."""
    emb_ids = pd.read_parquet(ws_path / "embeddings.parquet", columns=["patch_id"])["patch_id"].to_numpy()
    ind = np.load(ws_path / "knn" / "indices.npy")
    r = int(np.flatnonzero(emb_ids == pid)[0])
    return [str(emb_ids[j]) for j in ind[r]]


# --------------------------------------------------------------------------- detail
def test_detail_hint_without_selection(eu):
    _, data = eu
    assert "Click a point, a thumbnail or a map patch to see its details" in text_of(detail.render_detail(data, None))
    assert "not in this workspace" in text_of(detail.render_detail(data, "NoSuchPatch_9"))


def test_detail_demo_patch(eu):
    app, data = eu
    pid = str(data.ids[40])
    row = data.row(pid)
    tree = detail.render_detail(data, pid, "true_color")
    # composites: every one the workspace has (S1 included: demo patches have a partner), at ~120 px
    imgs = {n.src for n in walk(tree) if isinstance(n, html.Img) and "comp-img" in n.className}
    comps = data.renderer.composites_
    assert "s1" in comps
    assert imgs == {thumb_url(c, pid, detail.COMPOSITE_SIZE) for c in comps}
    assert detail.COMPOSITE_SIZE == 120
    # labels
    chips = [n.title for n in walk(tree[1]) if isinstance(n, html.Span)]
    assert chips == catalog_labels(data, row)
    # metadata table
    meta = {r.children[0].children: r.children[1].children
            for r in walk(tree) if isinstance(r, html.Tr)}
    cat = data.cat.iloc[row]
    assert meta["Patch id"] == pid
    assert meta["Dataset"] == "eomine-demo"
    assert meta["Country"] == cat["country"] and meta["Tile"] == cat["tile"] and meta["Split"] == cat["split"]
    assert meta["Acquired"].startswith(pd.Timestamp(cat["acquired"]).strftime("%Y-%m-%d"))
    assert meta["Cloud / shadow"] == ("yes" if cat["cloud_or_shadow"] else "no")
    assert meta["Sentinel-1"] == f"{cat['s1_id']} · S1 pixels: yes"
    lon, lat = (float(v) for v in meta["Lon, lat"].split(","))
    assert lon == pytest.approx(data.cat["lon"].iat[row], abs=1e-5)
    assert lat == pytest.approx(data.cat["lat"].iat[row], abs=1e-5)
    # exactly the 10 nearest of knn/indices.npy, nearest first, each with its catalog labels
    nbs = with_id_type(tree, ids.NEIGHBOUR)
    assert [n.id["index"] for n in nbs] == knn_reference(data.ws.path, pid)[:10]
    assert len(nbs) == 10 and pid not in [n.id["index"] for n in nbs]
    for n in nbs:
        assert tile_labels(n) == catalog_labels(data, data.row(n.id["index"]))
    assert "10 nearest neighbours" in text_of(tree) and "spectral embedding, cosine" in text_of(tree)


@pytest.mark.realdata
def test_detail_reben_metadata_and_s1(rb):
    _, data = rb
    has = data.cat["has_s1"].to_numpy(bool)
    with_s1, without = str(data.ids[np.flatnonzero(has)[0]]), str(data.ids[np.flatnonzero(~has)[0]])
    for pid, expect_s1 in ((with_s1, True), (without, False)):
        row = data.row(pid)
        tree = detail.render_detail(data, pid, "true_color")
        srcs = [n.src for n in walk(tree) if isinstance(n, html.Img) and "comp-img" in n.className]
        assert (thumb_url("s1", pid, 120) in srcs) is expect_s1
        if not expect_s1:
            assert "no Sentinel-1 pair" in text_of(tree)
        meta = {r.children[0].children: r.children[1].children for r in walk(tree) if isinstance(r, html.Tr)}
        cat = data.cat.iloc[row]
        assert meta["Tile"] == cat["tile"] and meta["Country"] == cat["country"]
        assert meta["Season"] == cat["season"] and meta["Split"] == cat["split"]
        assert meta["Acquired"].startswith(pd.Timestamp(cat["acquired"]).strftime("%Y-%m-%d"))
        assert meta["Sentinel-1"].startswith(str(cat["s1_id"]))
        assert meta["Sentinel-1"].endswith("S1 pixels: yes" if expect_s1 else "S1 pixels: no")
        # no embeddings in this workspace: said, not a broken strip
        assert "No kNN graph in this workspace" in text_of(tree) and not with_id_type(tree, ids.NEIGHBOUR)


@pytest.mark.realdata
def test_detail_metadata_only(meta_only):
    _, data = meta_only
    pid = str(data.ids[3])
    tree = detail.render_detail(data, pid)
    assert not [n for n in walk(tree) if isinstance(n, html.Img)]
    assert "No pixels for this patch" in text_of(tree) and "No kNN graph" in text_of(tree)



# --------------------------------------------------------------------------- callbacks
def test_detail_callbacks_in_a_request_context(eu):
    app, data = eu
    out = run_callback(app, detail.update_detail, str(data.ids[10]), "true_color")
    assert str(data.ids[10]) in text_of(out) and len(with_id_type(out, ids.NEIGHBOUR)) == 10


def test_detail_errors_become_messages_not_blank_panels(eu, monkeypatch):
    app, data = eu

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(detail, "render_detail", boom)
    out = run_callback(app, detail.update_detail, str(data.ids[0]), "true_color")
    assert "disk on fire" in text_of(out) and "Could not show" in text_of(out)


def test_an_unlabelled_patch_does_not_claim_its_neighbours_share_a_label(eu, demo_ws, pool_of):
    from dashboard.data import AppData

    pool = AppData.load(pool_of(demo_ws))  # the demo with every label dropped (an active-learning pool)
    text = text_of(detail.neighbour_strip(pool, 0, None))
    assert "this patch has no label to compare" in text and "share a label" not in text
    assert "share a label" in text_of(detail.neighbour_strip(eu[1], 0, None))
