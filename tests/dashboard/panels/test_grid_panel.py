"""The thumbnail grid on the demo workspace (and real reBEN patches for S1 and metadata-only placeholders),
without a browser: plain functions, and callbacks called in a request context."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _helpers import run_callback, text_of, tile_labels, walk, with_id_type
from dash import html, no_update

from dashboard import ids
from dashboard.app import create_app
from dashboard.components import THUMB_SIZE, clicked_index, short_id
from dashboard.panels import grid
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


# --------------------------------------------------------------------------- grid
def test_grid_first_page_all_patches(eu):
    _, data = eu
    g = grid.render_grid(data, {}, None, 0, "true_color", None)
    tiles = with_id_type(g["tiles"], ids.THUMB)
    assert len(tiles) == grid.PER_PAGE == 48
    assert g["total"] == data.n == 1500 and g["pages"] == 32
    assert g["info"].startswith("page 1 of 32, 1,500 patches")
    assert g["prev_disabled"] and not g["next_disabled"]
    # every tile: a lazy thumbnail of its patch in the chosen composite, its catalog labels as chips
    for t in tiles:
        pid = t.id["index"]
        row = data.row(pid)
        img = [n for n in walk(t) if isinstance(n, html.Img)]
        assert len(img) == 1
        props = img[0].to_plotly_json()["props"]
        assert props["src"] == thumb_url("true_color", pid, THUMB_SIZE)
        assert props["loading"] == "lazy"
        assert tile_labels(t) == catalog_labels(data, row) and tile_labels(t)
        assert "focus" not in t.className.split()
    # a mixed, deterministic order: not catalog order (catalogs are grouped by class or tile)
    pids = [t.id["index"] for t in tiles]
    assert pids == [t.id["index"] for t in with_id_type(grid.render_grid(data, {}, None, 0, "true_color",
                                                                               None)["tiles"], ids.THUMB)]
    assert len({tuple(catalog_labels(data, data.row(p))) for p in pids}) >= 5
    assert [data.row(p) for p in pids] != sorted(data.row(p) for p in pids)


def test_grid_pages_cover_every_patch_once(eu):
    _, data = eu
    seen = []
    for p in range(32):
        g = grid.render_grid(data, None, None, p, "true_color", None)
        seen += [t.id["index"] for t in with_id_type(g["tiles"], ids.THUMB)]
        assert g["page"] == p
    assert len(seen) == len(set(seen)) == data.n
    last = grid.render_grid(data, None, None, 31, "true_color", None)
    assert len(last["rows"]) == 1500 - 31 * 48 and last["next_disabled"] and not last["prev_disabled"]
    assert last["info"].startswith("page 32 of 32, 1,500 patches")
    # a page past the end (stale URL) shows the last page
    assert grid.render_grid(data, None, None, 99, "true_color", None)["page"] == 31
    assert grid.render_grid(data, None, None, "junk", "true_color", None)["page"] == 0


def test_grid_filter_narrows(eu):
    _, data = eu
    counts = data.Y.sum(0)
    a, b = [data.classes[j] for j in np.argsort(counts) if counts[j] > 0][:2]  # two rare labels: a few pages
    g = grid.render_grid(data, {"labels": [a, b]}, None, 0, "false_color", None)
    tiles = with_id_type(g["tiles"], ids.THUMB)
    has = data.Y[:, data.classes.index(a)] | data.Y[:, data.classes.index(b)]
    assert g["total"] == int(has.sum()) and len(tiles) == min(48, g["total"]) and g["total"] < data.n
    assert g["info"].startswith(f"page 1 of {-(-g['total'] // 48)}, {g['total']:,} patches")
    assert all(set(tile_labels(t)) & {a, b} for t in tiles)
    assert all("/false_color/" in n.src for t in tiles for n in walk(t) if isinstance(n, html.Img))
    # label summary: the five most frequent labels of the set, with their counts
    rows = grid.grid_rows(data, {"labels": [a, b]}, None)
    sums = data.Y[rows].sum(0)
    assert grid.label_summary(data, rows) == [(int(j), int(sums[j])) for j in np.argsort(-sums, kind="stable")[:5]
                                              if sums[j]]
    # no match -> a readable message, no tiles
    g = grid.render_grid(data, {"splits": ["no such split"]}, None, 0, "true_color", None)
    assert g["total"] == 0 and not with_id_type(g["tiles"], ids.THUMB)
    assert "No patch matches the filters" in text_of(g["tiles"])
    assert g["prev_disabled"] and g["next_disabled"]


def test_grid_selection_narrows_and_combines_with_filters(eu):
    _, data = eu
    x0, x1 = np.nanquantile(data.px, [0.2, 0.8])
    y0, y1 = np.nanquantile(data.py, [0.1, 0.9])
    sel = {"kind": "box", "range": [[float(x0), float(x1)], [float(y0), float(y1)]]}
    inside = (data.px >= x0) & (data.px <= x1) & (data.py >= y0) & (data.py <= y1)
    g = grid.render_grid(data, {}, sel, 0, "true_color", None)
    assert 0 < g["total"] == int(inside.sum()) < data.n
    assert f"{g['total']} patches (selection)" in g["info"]
    all_rows = grid.grid_rows(data, {}, sel)
    assert set(all_rows.tolist()) == set(np.flatnonzero(inside).tolist())
    lab = data.classes[int(np.argmax(data.Y[inside].sum(0)))]
    both = grid.grid_rows(data, {"labels": [lab]}, sel)
    assert set(both.tolist()) == set(np.flatnonzero(inside & data.Y[:, data.classes.index(lab)]).tolist())
    # narrowing keeps the relative order
    pos = {r: i for i, r in enumerate(all_rows.tolist())}
    assert [pos[r] for r in both.tolist()] == sorted(pos[r] for r in both.tolist())
    # an empty selection
    g = grid.render_grid(data, {}, {"kind": "box", "range": [[1e6, 2e6], [1e6, 2e6]]}, 0, "true_color", None)
    assert "No patch matches the filters and the selection" in text_of(g["tiles"])


def test_grid_label_summary_and_focus(eu):
    _, data = eu
    g = grid.render_grid(data, {}, None, 1, "true_color", str(data.ids[0]))
    top = grid.label_summary(data, grid.grid_rows(data, {}, None))
    assert len(top) == 5 and [c for _, c in top] == sorted(data.Y.sum(0).tolist(), reverse=True)[:5]
    assert text_of(g["summary"]).startswith("Top labels")
    assert len([n for n in walk(g["summary"]) if getattr(n, "className", None) == "chip"]) == 5
    tiles = with_id_type(g["tiles"], ids.THUMB)
    focus_pid = tiles[7].id["index"]
    g = grid.render_grid(data, {}, None, 1, "true_color", focus_pid)
    focused = [t.id["index"] for t in with_id_type(g["tiles"], ids.THUMB) if "focus" in t.className.split()]
    assert focused == [focus_pid]


@pytest.mark.realdata
def test_grid_s1_and_metadata_only_placeholders(rb, meta_only):
    _, data = rb
    assert "s1" in data.renderer.composites_
    no_s1 = set(data.ids[~data.cat["has_s1"].to_numpy(bool)])
    assert no_s1  # the sample has patches without an S1 partner
    g = grid.render_grid(data, {}, None, 0, "s1", None)
    for t in with_id_type(g["tiles"], ids.THUMB):
        imgs = [n for n in walk(t) if isinstance(n, html.Img)]
        if t.id["index"] in no_s1:
            assert not imgs and "no Sentinel-1 pair" in text_of(t)
        else:
            assert len(imgs) == 1 and "/s1/" in imgs[0].src
    _, mdata = meta_only
    assert mdata.renderer is None
    g = grid.render_grid(mdata, {}, None, 0, None, None)
    tiles = with_id_type(g["tiles"], ids.THUMB)
    assert len(tiles) == 48 and g["total"] == 60
    for t in tiles:
        assert not [n for n in walk(t) if isinstance(n, html.Img)]
        assert "no pixels" in text_of(t) and short_id(t.id["index"]) in text_of(t)
        assert tile_labels(t) == catalog_labels(mdata, mdata.row(t.id["index"]))


def test_display_order_is_a_stable_hash_of_the_ids():
    ids_ = np.array(["Forest_1", "é_2", "", "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57"], dtype=object)
    h = grid.id_hash(ids_)
    assert h[0] == np.uint64(5441825546464799252)  # fixed: the grid order never changes between runs / machines
    assert len(set(h.tolist())) == 4
    assert (grid.id_hash(list(ids_)) == h).all()
    # the slow path (an id with a NUL byte) hashes the other ids identically
    h2 = grid.id_hash(np.array([*ids_, "a\x00b"], dtype=object))
    assert (h2[:4] == h).all()
    assert len(grid.id_hash(np.array([], dtype=object))) == 0


def test_next_page_keeps_the_url_page_on_load_then_resets():
    k_empty = grid.state_key({}, None)
    k_url = grid.state_key({"labels": ["Forest", "River"]}, None)
    # load: the URL restore has not run yet -> ignore
    assert grid.next_page(ids.FILTERS, 2, None, k_empty, 0, ready=False) == (None, None)
    # restored, but the store still holds the stale initial filters (the controls show the URL's) -> ignore
    assert grid.next_page(ids.SELECTION, 2, None, k_empty, 0, ready=True, shown_key=k_url) == (None, None)
    # the restored filters arrive: the URL's page is kept and the key recorded
    assert grid.next_page(ids.FILTERS, 2, None, k_url, 0, ready=True, shown_key=k_url) == (None, k_url)
    # same filters again (e.g. re-emitted): nothing
    assert grid.next_page(ids.FILTERS, 2, k_url, k_url, 0) == (None, None)
    # a real change: back to page 0
    assert grid.next_page(ids.FILTERS, 2, k_url, k_empty, 0) == (0, k_empty)
    sel_key = grid.state_key({}, {"kind": "box", "range": [[0, 1], [0, 1]]})
    assert grid.next_page(ids.SELECTION, 1, k_empty, sel_key, 0) == (0, sel_key)
    # prev / next, clamped to the pages of `total` patches
    assert grid.next_page(ids.GRID_NEXT, 0, k_empty, k_empty, 100) == (1, None)
    assert grid.next_page(ids.GRID_NEXT, 2, k_empty, k_empty, 100) == (None, None)  # 3 pages: stay on the last
    assert grid.next_page(ids.GRID_PREV, 0, k_empty, k_empty, 100) == (None, None)
    assert grid.next_page(ids.GRID_PREV, 7, k_empty, k_empty, 100) == (1, None)  # stale page: from the last
    # the key ignores list order and the selection's cached count
    assert grid.state_key({"labels": ["b", "a"]}, {"kind": "box", "range": [[0, 1], [0, 1]], "n": 3}) == \
        grid.state_key({"labels": ["a", "b"]}, {"kind": "box", "range": [[0, 1], [0, 1]]})


def test_clicked_index_ignores_unclicked_tiles():
    pid = "S2A_x_1"
    prop = json.dumps({"index": pid, "type": ids.THUMB}, separators=(",", ":")) + ".n_clicks"
    assert clicked_index([{"prop_id": prop, "value": 1}], ids.THUMB) == pid
    assert clicked_index([{"prop_id": prop, "value": None}], ids.THUMB) is None
    assert clicked_index([{"prop_id": prop, "value": 0}], ids.THUMB) is None
    assert clicked_index([{"prop_id": prop, "value": 2}], ids.NEIGHBOUR) is None
    assert clicked_index([{"prop_id": ".", "value": None}], ids.THUMB) is None
    assert clicked_index([], ids.THUMB) is None




def test_grid_callbacks_in_a_request_context(eu):
    app, data = eu
    tiles, info, summary, prev_dis, next_dis = run_callback(app, grid.update_grid, {}, None, 1, "true_color", None)
    assert len(with_id_type(tiles, ids.THUMB)) == 48 and info.startswith("page 2 of 32") and not prev_dis
    pid = str(data.ids[7])
    prop = json.dumps({"index": pid, "type": ids.THUMB}) + ".n_clicks"
    assert run_callback(app, grid.click_thumb, [0, 1], triggered=[{"prop_id": prop, "value": 1}]) == pid
    assert run_callback(app, grid.click_thumb, [None], triggered=[{"prop_id": prop, "value": None}]) is no_update
    # paging: next from page 1; a filter change after the load resets to 0
    key = grid.state_key({}, None)
    args = (0, 1, {}, None, True, 1, key, [], "any", [], [], [])
    assert run_callback(app, grid.change_page, *args, triggered=[{"prop_id": f"{ids.GRID_NEXT}.n_clicks",
                                                                   "value": 1}]) == (2, no_update)
    lab = data.classes[int(np.argmax(data.Y.sum(0)))]
    f = {"labels": [lab], "label_mode": "any", "splits": [], "countries": [], "flags": []}
    args = (0, 0, f, None, True, 2, key, [lab], "any", [], [], [])
    page, new_key = run_callback(app, grid.change_page, *args, triggered=[{"prop_id": f"{ids.FILTERS}.data",
                                                                           "value": f}])
    assert page == 0 and new_key == grid.state_key(f, None)


def test_grid_errors_become_messages_not_blank_panels(eu):
    app, _ = eu
    bad_sel = {"kind": "lasso", "points": [[0, 0]]}  # too few points
    tiles, info, summary, prev_dis, next_dis = run_callback(app, grid.update_grid, {}, bad_sel, 0, "true_color",
                                                            None)
    assert "Could not show the patches" in text_of(tiles) and "lasso" in text_of(tiles)
    assert prev_dis and next_dis
