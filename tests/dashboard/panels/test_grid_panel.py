"""Thumbnail route, thumbnail grid and detail panel on real workspaces (no browser).

EuroSAT sample (180 patches) with spectral embeddings, a k=10 graph and a PCA layout; a 21-patch reBEN
sample (tiles, dates, countries, S1 pairs, three without S1 pixels) and a metadata-only reBEN workspace.
Panels are checked through their plain functions; callbacks are called directly (Dash 4's ``@callback`` returns
the function itself) inside ``app.server.test_request_context()``, with a Dash callback context for ``ctx``.
"""

from __future__ import annotations

import contextvars
import io
import json

import numpy as np
import pandas as pd
import pytest
from dash import html, no_update
from dash._callback_context import context_value
from dash._utils import AttributeDict
from PIL import Image

from dashboard import ids
from dashboard.app import create_app, thumb_url
from dashboard.panels import detail, grid
from mining.datasets import EuroSATMS, ReBEN
from mining.ingest import ingest
from mining.pipeline import step_embed, step_knn, step_project
from mining.workspace import Workspace

pytestmark = pytest.mark.realdata

PNG = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def eu(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("gd_eu") / "ws"
    ingest(EuroSATMS(shared_data / "eurosat-ms"), out, progress=False)
    ws = Workspace(out)
    step_embed(ws, "spectral", progress=False)
    step_knn(ws, k=10)
    step_project(ws, method="pca")
    app = create_app(out)
    return app, app.server.extensions["eomine"]


@pytest.fixture(scope="module")
def rb(shared_data, tmp_path_factory):
    """reBEN patches of the sample (with S1 where the sample has it); no embeddings."""
    root = shared_data / "bigearthnet-v2-reben"
    tmp = tmp_path_factory.mktemp("gd_rb")
    pids = sorted(p.name for p in (root / "BigEarthNet-S2").glob("*/*"))
    pd.read_parquet(root / "metadata.parquet", filters=[("patch_id", "in", pids)]).to_parquet(tmp / "m.parquet")
    ingest(ReBEN(root, metadata=[tmp / "m.parquet"]), tmp / "ws", progress=False)
    app = create_app(tmp / "ws")
    return app, app.server.extensions["eomine"]


@pytest.fixture(scope="module")
def meta_only(shared_data, tmp_path_factory):
    root = shared_data / "bigearthnet-v2-reben"
    tmp = tmp_path_factory.mktemp("gd_meta")
    pd.read_parquet(root / "metadata.parquet").head(60).to_parquet(tmp / "m.parquet")
    ingest(ReBEN(root, metadata=[tmp / "m.parquet"], metadata_only=True), tmp / "ws", progress=False)
    app = create_app(tmp / "ws")
    return app, app.server.extensions["eomine"]


# --------------------------------------------------------------------------- helpers
def walk(node):
    """Every component (and string) of a Dash component tree, depth first."""
    if isinstance(node, (list, tuple)):
        for n in node:
            yield from walk(n)
        return
    yield node
    children = getattr(node, "children", None)
    if children is not None:
        yield from walk(children)


def text_of(node) -> str:
    return " ".join(n for n in walk(node) if isinstance(n, str))


def with_id_type(tree, id_type: str) -> list:
    return [n for n in walk(tree) if isinstance(getattr(n, "id", None), dict) and n.id.get("type") == id_type]


def tile_labels(tile) -> list[str]:
    """Full class names of a tile's chips (chip tooltips)."""
    return [n.title for n in walk(tile) if isinstance(n, html.Span) and "chip" in (n.className or "").split()
            and "chip-none" not in (n.className or "")]


def run_callback(app, fn, *args, triggered=None):
    """Call a callback function in a request context with ``ctx.triggered`` = ``triggered``."""

    def call():
        context_value.set(AttributeDict(triggered_inputs=triggered or []))
        with app.server.test_request_context():
            return getattr(fn, "__wrapped__", fn)(*args)  # Dash 4's @callback returns the function itself

    return contextvars.copy_context().run(call)


def catalog_labels(data, row) -> list[str]:
    return list(data.cat["labels"].iat[row])


def knn_reference(ws_path, pid: str) -> list[str]:
    """The patch's neighbours straight from knn/indices.npy (rows of embeddings.parquet)."""
    emb_ids = pd.read_parquet(ws_path / "embeddings.parquet", columns=["patch_id"])["patch_id"].to_numpy()
    ind = np.load(ws_path / "knn" / "indices.npy")
    r = int(np.flatnonzero(emb_ids == pid)[0])
    return [str(emb_ids[j]) for j in ind[r]]


# --------------------------------------------------------------------------- thumbnail route
def test_thumbnail_route_serves_cached_pngs(eu):
    app, data = eu
    c = app.server.test_client()
    pid = str(data.ids[5])
    r = c.get(thumb_url("true_color", pid, 96))
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data.startswith(PNG)
    assert Image.open(io.BytesIO(r.data)).size == (96, 96)
    assert "max-age" in r.headers["Cache-Control"]
    etag = r.headers["ETag"]
    assert etag
    r2 = c.get(thumb_url("true_color", pid, 96), headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.data == b""
    # another size or composite is another image
    assert c.get(thumb_url("ndvi", pid, 96)).headers["ETag"] != etag
    assert c.get(thumb_url("true_color", pid, 64)).headers["ETag"] != etag


@pytest.mark.parametrize("path", [
    "/eomine/thumb/true_color/NoSuchPatch_1.png",
    "/eomine/thumb/no_such_composite/{pid}.png",
    "/eomine/thumb/s1/{pid}.png",  # EuroSAT has no Sentinel-1
    "/eomine/thumb/true_color/..%5C..%5Cetc%5Cpasswd.png",
])
def test_thumbnail_route_404_for_unknown_patch_or_composite(eu, path):
    app, data = eu
    r = app.server.test_client().get(path.format(pid=data.ids[0]) + "?size=64")
    assert r.status_code == 404
    assert not r.data.startswith(PNG) and b"root:" not in r.data


TRAVERSAL = [
    "/eomine/thumb/true_color/..%2F..%2Fetc%2Fpasswd.png",
    "/eomine/thumb/true_color/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/eomine/thumb/..%2F..%2Fetc/passwd.png",
    "/eomine/thumb/true_color/%2e%2e%2f%2e%2e%2fetc%2fpasswd.png",
    "/eomine/thumb/true_color/%2Fetc%2Fpasswd.png",
    "/eomine/thumb/true_color/../../../etc/passwd.png",
]


@pytest.mark.parametrize("path", TRAVERSAL)
def test_thumbnail_route_never_serves_a_file(eu, path):
    app, _ = eu
    r = app.server.test_client().get(path + "?size=64")
    assert not r.data.startswith(PNG)
    assert b"root:" not in r.data
    assert r.status_code == 404


@pytest.mark.parametrize("path", TRAVERSAL)
def test_thumbnail_route_traversal_is_404(eu, path):
    app, _ = eu
    assert app.server.test_client().get(path + "?size=64").status_code == 404


@pytest.mark.parametrize("size", ["abc", "1.5", "", "12px"])
def test_thumbnail_route_rejects_a_bad_size(eu, size):
    app, data = eu
    r = app.server.test_client().get(f"/eomine/thumb/true_color/{data.ids[0]}.png?size={size}")
    assert r.status_code == 400


# --------------------------------------------------------------------------- grid
def test_grid_first_page_all_patches(eu):
    _, data = eu
    g = grid.render_grid(data, {}, None, 0, "true_color", None)
    tiles = with_id_type(g["tiles"], ids.THUMB)
    assert len(tiles) == grid.PER_PAGE == 48
    assert g["total"] == data.n == 180 and g["pages"] == 4
    assert g["info"].startswith("page 1 of 4, 180 patches")
    assert g["prev_disabled"] and not g["next_disabled"]
    # every tile: a lazy thumbnail of its patch in the chosen composite, its catalog labels as chips
    for t in tiles:
        pid = t.id["index"]
        row = data.row_of[pid]
        img = [n for n in walk(t) if isinstance(n, html.Img)]
        assert len(img) == 1
        props = img[0].to_plotly_json()["props"]
        assert props["src"] == thumb_url("true_color", pid, grid.THUMB_SIZE)
        assert props["loading"] == "lazy"
        assert tile_labels(t) == catalog_labels(data, row) and tile_labels(t)
        assert "focus" not in t.className.split()
    # a mixed, deterministic order: not catalog order (EuroSAT's catalog is grouped by class)
    pids = [t.id["index"] for t in tiles]
    assert pids == [t.id["index"] for t in with_id_type(grid.render_grid(data, {}, None, 0, "true_color",
                                                                               None)["tiles"], ids.THUMB)]
    assert len({tuple(catalog_labels(data, data.row_of[p])) for p in pids}) >= 5


def test_grid_pages_cover_every_patch_once(eu):
    _, data = eu
    seen = []
    for p in range(4):
        g = grid.render_grid(data, None, None, p, "true_color", None)
        seen += [t.id["index"] for t in with_id_type(g["tiles"], ids.THUMB)]
        assert g["page"] == p
    assert len(seen) == len(set(seen)) == data.n
    last = grid.render_grid(data, None, None, 3, "true_color", None)
    assert len(last["rows"]) == 180 - 3 * 48 and last["next_disabled"] and not last["prev_disabled"]
    assert last["info"].startswith("page 4 of 4, 180 patches")
    # a page past the end (stale URL) shows the last page
    assert grid.render_grid(data, None, None, 99, "true_color", None)["page"] == 3
    assert grid.render_grid(data, None, None, "junk", "true_color", None)["page"] == 0


def test_grid_filter_narrows(eu):
    _, data = eu
    g = grid.render_grid(data, {"labels": ["Forest", "River"]}, None, 0, "false_color", None)
    tiles = with_id_type(g["tiles"], ids.THUMB)
    assert g["total"] == len(tiles) == 36 and g["pages"] == 1
    assert g["info"].startswith("page 1 of 1, 36 patches")
    assert all(set(tile_labels(t)) & {"Forest", "River"} for t in tiles)
    assert all("/false_color/" in n.src for t in tiles for n in walk(t) if isinstance(n, html.Img))
    # label summary: exactly the two labels with their counts
    assert grid.label_summary(data, g["rows"]) == [
        (data.classes.index("Forest"), 18), (data.classes.index("River"), 18)]
    # no match -> a readable message, no tiles
    g = grid.render_grid(data, {"flags": ["cloud_or_shadow"]}, None, 0, "true_color", None)
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
    assert len(top) == 5 and all(c == 18 for _, c in top)  # EuroSAT sample: 18 per class
    assert text_of(g["summary"]).startswith("Top labels")
    assert len([n for n in walk(g["summary"]) if getattr(n, "className", None) == "chip"]) == 5
    tiles = with_id_type(g["tiles"], ids.THUMB)
    focus_pid = tiles[7].id["index"]
    g = grid.render_grid(data, {}, None, 1, "true_color", focus_pid)
    focused = [t.id["index"] for t in with_id_type(g["tiles"], ids.THUMB) if "focus" in t.className.split()]
    assert focused == [focus_pid]


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
        assert "no pixels" in text_of(t) and grid.short_id(t.id["index"]) in text_of(t)
        assert tile_labels(t) == catalog_labels(mdata, mdata.row_of[t.id["index"]])


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
    assert grid.clicked_index([{"prop_id": prop, "value": 1}], ids.THUMB) == pid
    assert grid.clicked_index([{"prop_id": prop, "value": None}], ids.THUMB) is None
    assert grid.clicked_index([{"prop_id": prop, "value": 0}], ids.THUMB) is None
    assert grid.clicked_index([{"prop_id": prop, "value": 2}], ids.NEIGHBOUR) is None
    assert grid.clicked_index([{"prop_id": ".", "value": None}], ids.THUMB) is None
    assert grid.clicked_index([], ids.THUMB) is None


# --------------------------------------------------------------------------- detail
def test_detail_hint_without_selection(eu):
    _, data = eu
    assert "Click a point, a thumbnail or a map patch to see its details" in text_of(detail.render_detail(data, None))
    assert "not in this workspace" in text_of(detail.render_detail(data, "NoSuchPatch_9"))


def test_detail_eurosat_patch(eu):
    app, data = eu
    pid = "Forest_1" if "Forest_1" in data.row_of else str(data.ids[40])
    row = data.row_of[pid]
    tree = detail.render_detail(data, pid, "true_color")
    # composites: every EuroSAT one, from the thumbnail route at ~120 px; no Sentinel-1
    imgs = {n.src for n in walk(tree) if isinstance(n, html.Img) and "comp-img" in n.className}
    comps = data.renderer.composites_
    assert "s1" not in comps
    assert imgs == {thumb_url(c, pid, detail.COMPOSITE_SIZE) for c in comps}
    assert detail.COMPOSITE_SIZE == 120
    assert "Sentinel-1 (" not in text_of(tree) and all("/s1/" not in s for s in imgs)
    # labels
    chips = [n.title for n in walk(tree[1]) if isinstance(n, html.Span)]
    assert chips == catalog_labels(data, row)
    # metadata table
    meta = {r.children[0].children: r.children[1].children
            for r in walk(tree) if isinstance(r, html.Tr)}
    assert meta["Patch id"] == pid
    assert meta["Dataset"] == "EuroSAT-MS"
    assert meta["Country"] == meta["Tile"] == meta["Acquired"] == "—"  # not in EuroSAT
    assert meta["Cloud / shadow"] == "no" and meta["Seasonal snow"] == "no"
    assert meta["Sentinel-1"] == "no Sentinel-1 pair"
    lon, lat = (float(v) for v in meta["Lon, lat"].split(","))
    assert lon == pytest.approx(data.cat["lon"].iat[row], abs=1e-5)
    assert lat == pytest.approx(data.cat["lat"].iat[row], abs=1e-5)
    # exactly the 10 neighbours of knn/indices.npy, nearest first, each with its catalog labels
    nbs = with_id_type(tree, ids.NEIGHBOUR)
    assert [n.id["index"] for n in nbs] == knn_reference(data.ws.path, pid)
    assert len(nbs) == 10 and pid not in [n.id["index"] for n in nbs]
    for n in nbs:
        assert tile_labels(n) == catalog_labels(data, data.row_of[n.id["index"]])
    assert "10 nearest neighbours" in text_of(tree)


def test_detail_reben_metadata_and_s1(rb):
    _, data = rb
    has = data.cat["has_s1"].to_numpy(bool)
    with_s1, without = str(data.ids[np.flatnonzero(has)[0]]), str(data.ids[np.flatnonzero(~has)[0]])
    for pid, expect_s1 in ((with_s1, True), (without, False)):
        row = data.row_of[pid]
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


def test_detail_metadata_only(meta_only):
    _, data = meta_only
    pid = str(data.ids[3])
    tree = detail.render_detail(data, pid)
    assert not [n for n in walk(tree) if isinstance(n, html.Img)]
    assert "No pixels for this patch" in text_of(tree) and "No kNN graph" in text_of(tree)


# --------------------------------------------------------------------------- callbacks
def test_callbacks_in_a_request_context(eu):
    app, data = eu
    tiles, info, summary, prev_dis, next_dis = run_callback(app, grid.update_grid, {}, None, 1, "true_color", None)
    assert len(with_id_type(tiles, ids.THUMB)) == 48 and info.startswith("page 2 of 4") and not prev_dis
    out = run_callback(app, detail.update_detail, str(data.ids[10]), "true_color")
    assert str(data.ids[10]) in text_of(out) and len(with_id_type(out, ids.NEIGHBOUR)) == 10
    # clicks
    pid = str(data.ids[7])
    prop = json.dumps({"index": pid, "type": ids.THUMB}) + ".n_clicks"
    assert run_callback(app, grid.click_thumb, [0, 1], triggered=[{"prop_id": prop, "value": 1}]) == pid
    assert run_callback(app, grid.click_thumb, [None], triggered=[{"prop_id": prop, "value": None}]) is no_update
    nprop = json.dumps({"index": pid, "type": ids.NEIGHBOUR}) + ".n_clicks"
    assert run_callback(app, detail.click_neighbour, [1], triggered=[{"prop_id": nprop, "value": 1}]) == pid
    # paging: next from page 1; a filter change after the load resets to 0
    key = grid.state_key({}, None)
    args = (0, 1, {}, None, True, 1, key, [], "any", [], [], [])
    assert run_callback(app, grid.change_page, *args, triggered=[{"prop_id": f"{ids.GRID_NEXT}.n_clicks",
                                                                   "value": 1}]) == (2, no_update)
    f = {"labels": ["Forest"], "label_mode": "any", "splits": [], "countries": [], "flags": []}
    args = (0, 0, f, None, True, 2, key, ["Forest"], "any", [], [], [])
    page, new_key = run_callback(app, grid.change_page, *args, triggered=[{"prop_id": f"{ids.FILTERS}.data",
                                                                           "value": f}])
    assert page == 0 and new_key == grid.state_key(f, None)


def test_errors_become_messages_not_blank_panels(eu, monkeypatch):
    app, data = eu
    bad_sel = {"kind": "lasso", "points": [[0, 0]]}  # too few points
    tiles, info, summary, prev_dis, next_dis = run_callback(app, grid.update_grid, {}, bad_sel, 0, "true_color",
                                                            None)
    assert "Could not show the patches" in text_of(tiles) and "lasso" in text_of(tiles)
    assert prev_dis and next_dis

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(detail, "render_detail", boom)
    out = run_callback(app, detail.update_detail, str(data.ids[0]), "true_color")
    assert "disk on fire" in text_of(out) and "Could not show" in text_of(out)
