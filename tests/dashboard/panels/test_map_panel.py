"""The map panel on the real EuroSAT MS sample (180 georeferenced patches across Europe), without a browser.

The plain functions of :mod:`dashboard.panels.map_panel` are checked against the catalog; the callbacks are
called directly inside ``app.server.test_request_context()`` with a Dash callback context for ``ctx``.
"""

from __future__ import annotations

import contextvars

import numpy as np
import pytest
from dash import Patch, no_update
from dash._callback_context import context_value
from dash._utils import AttributeDict
from scipy.ndimage import binary_dilation

from dashboard import ids
from dashboard.app import create_app
from dashboard.data import AppData
from dashboard.panels import map_panel as M
from dashboard.panels.scatter import nearest
from dashboard.render import hex_to_rgb, spread
from dashboard.selection import points_in_polygon, selection_mask
from mining.datasets import EuroSATMS
from mining.ingest import ingest

pytestmark = pytest.mark.realdata

K = 10


# --------------------------------------------------------------------------- fixtures / helpers
@pytest.fixture(scope="module")
def ws(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("map_eu") / "ws"
    ingest(EuroSATMS(shared_data / "eurosat-ms"), out, progress=False)
    return out


@pytest.fixture(scope="module")
def data(ws):
    d = AppData.load(ws)
    assert d.knn is None  # no embeddings in this workspace: give it a known graph
    d.knn = ((np.arange(d.n)[:, None] + np.arange(1, K + 1)[None, :]) % d.n).astype(np.int32)
    return d


@pytest.fixture(scope="module")
def app(ws, data):
    return create_app(ws, data=data)


def run_callback(app, fn, *args, triggered=None):
    """Call a callback in a request context with ``ctx.triggered`` = ``triggered`` (list of prop ids)."""

    def call():
        context_value.set(AttributeDict(triggered_inputs=[{"prop_id": t, "value": None} for t in triggered or []]))
        with app.server.test_request_context():
            return getattr(fn, "__wrapped__", fn)(*args)

    return contextvars.copy_context().run(call)


def patch_ops(p: Patch) -> dict:
    """{location tuple: assigned value} of a dash.Patch."""
    return {tuple(op["location"]): op["params"].get("value") for op in p.to_plotly_json()["operations"]
            if op["operation"] == "Assign"}


def pixel_of(res: dict, lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Image (row, col) of lon/lat points, the way rasterize_categorical bins them."""
    H, W = res["rgba"].shape[:2]
    (x0, x1), (y0, y1) = res["box"]["x"], res["box"]["y"]
    x = np.asarray(lon, np.float32).astype(np.float64)
    y = M.merc_y(lat).astype(np.float32).astype(np.float64)
    col = ((x - x0) * (W / (x1 - x0))).astype(int)
    row = H - 1 - ((y - y0) * (H / (y1 - y0))).astype(int)
    return row, col


def walk(c):
    """Every component and string of a layout tree."""
    yield c
    ch = getattr(c, "children", None)
    for x in ch if isinstance(ch, list | tuple) else [] if ch is None else [ch]:
        yield from walk(x)


def small_view(lon: float, lat: float, half: float = 0.02) -> dict:
    return {"x": [lon - half * 1.25, lon + half * 1.25], "y": [lat - half * 0.6, lat + half * 0.6]}


# --------------------------------------------------------------------------- projection, basemap, figure
def test_mercator_round_trip():
    lat = np.array([-80.0, -33.3, 0.0, 45.0, 60.0, 71.2])
    assert np.allclose(M.lat_of(M.merc_y(lat)), lat, atol=1e-9)
    assert M.merc_y(0.0) == 0.0
    # conformal: at 60 deg N one degree of latitude is twice as long on screen as one degree of longitude
    assert M.merc_y(60.5) - M.merc_y(59.5) == pytest.approx(2.0, rel=1e-3)
    view = {"x": [-10.0, 30.0], "y": [40.0, 60.0]}
    back = M.from_plot(M.to_plot(view))
    assert back["x"] == view["x"] and back["y"] == pytest.approx(view["y"], abs=1e-7)


def test_basemap_covers_europe(data):
    bm = M.basemap(data)
    assert M.basemap(data) is bm  # loaded once per app
    names = {name for name, _ in bm["rings"]}
    assert {"Portugal", "Finland", "Austria", "Spain", "Norway", "Greece"} <= names

    def on_land(lon, lat, country=None):
        return any(points_in_polygon(np.array([lon]), np.array([lat]), r)[0]
                   for n, r in bm["rings"] if country is None or n == country)

    assert on_land(16.37, 48.21, "Austria")     # Vienna
    assert on_land(-8.61, 41.15, "Portugal")    # Porto
    assert on_land(24.94, 60.17) and on_land(25.7, 66.5, "Finland")  # Helsinki, Rovaniemi
    assert not on_land(-20.0, 45.0)             # Atlantic
    assert not on_land(18.0, 35.0)              # Ionian Sea
    assert not on_land(19.5, 58.0)              # Baltic
    # the antimeridian-crossing ring (Russia) is unwrapped: no edge jumps across the map
    assert all(np.abs(np.diff(r[:, 0])).max() < 180 for _, r in bm["rings"])
    assert bm["path"].startswith("M") and bm["path"].count("Z") == bm["path"].count("M")


def test_figure_is_offline_and_layered(data):
    view = M.full_view(data)
    fig = M.figure(data, view).to_plotly_json()
    lay = fig["layout"]
    assert lay["dragmode"] == "select"
    assert lay["yaxis"]["scaleanchor"] == "x" and lay["yaxis"]["scaleratio"] == 1
    assert lay["shapes"][0]["layer"] == "below" and lay["shapes"][0]["path"] == M.basemap(data)["path"]
    assert lay["images"][0]["layer"] == "below"  # raster over the basemap, under the markers
    assert all(t["type"] in ("heatmap", "scatter") for t in fig["data"])  # no geo / mapbox: nothing fetched
    assert len(fig["data"]) == M.T_FOCUS + 3  # + the tour's path and current stop, on top
    assert [t["name"] for t in fig["data"][M.T_FOCUS + 1:]] == ["tour-path", "tour-stop"]
    assert [fig["data"][i]["name"] for i in (M.T_NEIGHBOURS, M.T_FOCUS)] == ["neighbours", "focus"]
    assert any(t.endswith("N") for t in lay["yaxis"]["ticktext"])
    # the initial view holds every patch
    ok = np.isfinite(data.lon)
    assert ok.sum() == data.n == 180
    assert (data.lon >= view["x"][0]).all() and (data.lon <= view["x"][1]).all()
    assert (data.lat >= view["y"][0]).all() and (data.lat <= view["y"][1]).all()


def test_axis_ticks_are_round_degrees():
    t = M.axis_ticks(M.to_plot({"x": [-10.0, 30.0], "y": [40.0, 60.0]}))
    assert t["xtext"][:3] == ["10°W", "0°", "10°E"]
    assert t["ytext"] == ["40°N", "45°N", "50°N", "55°N", "60°N"]
    assert np.allclose(M.lat_of(t["yvals"]), [40, 45, 50, 55, 60])
    t = M.axis_ticks(M.to_plot({"x": [2.95, 3.05], "y": [50.28, 50.33]}))
    assert "3.00°E" in t["xtext"] and "50.30°N" in t["ytext"]


# --------------------------------------------------------------------------- raster
def test_raster_is_coloured_exactly_where_patches_are(data):
    view = M.full_view(data)
    res = M.render_map(data, view, "label")
    assert res["mode"] == "raster" and res["in_view"] == 180 and res["selected"] is None
    rgba = res["rgba"]
    row, col = pixel_of(res, data.lon, data.lat)
    H, W = rgba.shape[:2]
    assert ((row >= 0) & (row < H) & (col >= 0) & (col < W)).all()
    assert (rgba[row, col, 3] > 0).all()  # every patch is drawn
    at = np.zeros((H, W), bool)
    at[row, col] = True
    near = binary_dilation(at, np.ones((7, 7), bool))  # spread grows sparse points by up to 3 px
    drawn = rgba[..., 3] > 0
    assert not (drawn & ~near).any()  # nothing is drawn away from the patches
    assert drawn.mean() < 0.05
    # a pixel holding one patch has that patch's class colour
    codes, colors, _ = data.codes["label"]
    pal = hex_to_rgb(colors)
    cells = row * W + col
    uniq, counts = np.unique(cells, return_counts=True)
    single = np.flatnonzero(np.isin(cells, uniq[counts == 1]))
    assert len(single) > 100
    assert (rgba[row[single], col[single], :3] == pal[codes[single]]).all()


def test_spread_grows_isolated_points_without_wrapping():
    img = np.zeros((50, 60, 4), np.uint8)
    img[25, 30] = (10, 20, 30, 255)
    img[0, 0] = (200, 0, 0, 255)  # at the corner: must not wrap to the other edges
    for px in (1, 2, 3):
        out = spread(img, px)
        side = 2 * px + 1
        assert (out[25 - px:26 + px, 30 - px:31 + px, 3] == 255).all()
        assert (out[..., 3] > 0).sum() == side * side + (px + 1) ** 2
        assert (out[-1, :, 3] == 0).all() and (out[:, -1, 3] == 0).all()
        assert tuple(out[25, 30]) == (10, 20, 30, 255)  # drawn pixels keep their colour


def test_density_colouring(data):
    res = M.render_map(data, M.full_view(data), "density")
    assert res["mode"] == "raster" and (res["rgba"][..., 3] > 0).sum() > 0


# --------------------------------------------------------------------------- selection, filters
def test_map_box_selection_selects_exactly_the_patches_inside(data):
    lon0, lon1, lat0, lat1 = -5.0, 12.5, 42.0, 52.0
    sel = M.selection_from_box({"points": [], "range": {"x": [lon1, lon0], "y": list(M.merc_y([lat0, lat1]))}})
    assert sel["kind"] == "mapbox"
    assert sel["range"][0] == [lon0, lon1]
    assert sel["range"][1] == pytest.approx([lat0, lat1], abs=1e-6)
    m = selection_mask(data, sel)
    expected = (data.lon >= lon0) & (data.lon <= lon1) & (data.lat >= lat0) & (data.lat <= lat1)
    assert (m == expected).all() and 10 < m.sum() < 170
    lon, lat = data.cat["lon"].to_numpy(), data.cat["lat"].to_numpy()  # catalog (float64) agrees
    assert ((lon > lon0) & (lon < lon1) & (lat > lat0) & (lat < lat1)).sum() == m.sum()
    # drawn: selected patches keep their colour, the others turn grey
    res = M.render_map(data, M.full_view(data), "label", sel=sel)
    assert res["selected"] == int(m.sum())
    row, col = pixel_of(res, data.lon, data.lat)
    grey = hex_to_rgb([M.GREY])[0]
    cells = row * res["rgba"].shape[1] + col
    uniq, counts = np.unique(cells, return_counts=True)
    single = np.isin(cells, uniq[counts == 1])
    out = np.flatnonzero(single & ~m)
    inside = np.flatnonzero(single & m)
    assert len(out) and len(inside)
    assert (res["rgba"][row[out], col[out], :3] == grey).all()
    assert not (res["rgba"][row[inside], col[inside], :3] == grey).all(1).any()
    assert M.selection_from_box(None) is None and M.selection_from_box({"lassoPoints": {}}) is None


def test_filters_hide_patches_on_the_map(data):
    filters = {"labels": ["Forest"]}
    forest = data.Y[:, data.classes.index("Forest")]
    res = M.render_map(data, M.full_view(data), "label", filters)
    assert res["in_view"] == int(forest.sum()) == 18
    row, col = pixel_of(res, data.lon, data.lat)
    H, W = res["rgba"].shape[:2]
    at = np.zeros((H, W), bool)
    at[row[forest], col[forest]] = True
    drawn = res["rgba"][..., 3] > 0
    assert not (drawn & ~binary_dilation(at, np.ones((7, 7), bool))).any()
    assert (res["rgba"][row[forest], col[forest], 3] > 0).all()
    # zoomed onto a non-forest patch: nothing of it is drawn, not even its footprint
    r = int(np.flatnonzero(~forest)[0])
    z = M.render_map(data, small_view(float(data.lon[r]), float(data.lat[r])), "label", filters)
    assert all(r not in rows for _, rows in z["footprints"])
    assert z["rgba"] is None or not (z["rgba"][..., 3] > 0).any()


# --------------------------------------------------------------------------- zoom -> footprints
def test_zooming_in_switches_to_footprints_matching_the_catalog(data):
    r = int(data.row_of["AnnualCrop_11"])
    lon, lat = float(data.lon[r]), float(data.lat[r])
    res = M.render_map(data, small_view(lon, lat), "label")
    assert res["mode"] == "footprints" and res["rgba"] is None
    rows = np.concatenate([rows for _, rows in res["footprints"]])
    assert r in rows and res["in_view"] >= 1
    colour = next(c for c, rows in res["footprints"] if r in rows)
    codes, colors, _ = data.codes["label"]
    assert colour == colors[codes[r]]  # coloured like the raster
    xs, ys = M.footprint_xy(data, np.array([r]))
    c = data.cat.iloc[r]
    assert xs[:5] == pytest.approx([c.lon_min, c.lon_max, c.lon_max, c.lon_min, c.lon_min], abs=1e-6)
    assert M.lat_of(ys[:5]) == pytest.approx([c.lat_min, c.lat_min, c.lat_max, c.lat_max, c.lat_min], abs=1e-6)
    assert xs[5] is None and ys[5] is None
    # a EuroSAT patch is 64 px x 10 m: its footprint is ~640 m on a side
    assert (c.lat_max - c.lat_min) * 111.2e3 == pytest.approx(640, rel=0.05)
    # the figure patch puts the rectangle into a footprint slot
    ops = patch_ops(M.update_patch(data, small_view(lon, lat), res, None))
    slot = next(i for i in range(M.FOOTPRINT_SLOTS) if ops[("data", M.T_FP + i, "x")])
    assert ops[("data", M.T_FP + slot, "line", "color")] == colour
    assert ops[("layout", "images", 0)]["source"] == ""
    # zoomed out again: the raster is back
    assert M.render_map(data, M.full_view(data), "label")["mode"] == "raster"


def test_footprint_colours_share_slots_beyond_the_limit():
    codes = np.arange(40, dtype=np.int16).repeat(2)
    rows = np.arange(80)
    groups = M._group_by_colour(codes, rows, [f"#{i:06x}" for i in range(40)], slots=8)
    assert len(groups) == 8
    assert sorted(np.concatenate([g for _, g in groups]).tolist()) == rows.tolist()


# --------------------------------------------------------------------------- click, views
def test_click_picks_the_nearest_patch(data):
    view = M.full_view(data)
    r = int(data.row_of["Forest_3"]) if "Forest_3" in data.row_of else 5
    lon, y = float(data.lon[r]), float(M.merc_y(data.lat[r]))
    # scatter.nearest works on lon/lat ("map" coordinates)
    assert nearest(data, float(data.lon[r]), float(data.lat[r]), view, coords="map") == r
    assert M.nearest_patch(data, lon + 0.01, y + 0.01, view) == r
    assert M.nearest_patch(data, -20.0, float(M.merc_y(45.0)), view) is None  # open sea
    # inside a footprint: that patch, even zoomed in far
    c = data.cat.iloc[r]
    inner = (c.lon_min + 0.9 * (c.lon_max - c.lon_min), float(M.merc_y(c.lat_min + 0.1 * (c.lat_max - c.lat_min))))
    assert M.nearest_patch(data, *inner, small_view(lon, float(data.lat[r]), 0.005)) == r
    # filtered out: not pickable
    label = data.labels_of(r)[0]
    other = [c for c in data.classes if c != label][0]
    assert M.nearest_patch(data, lon, y, view, {"labels": [other]}) != r


def test_view_from_relayout(data):
    full = M.full_view(data)
    cur = {"x": [0.0, 10.0], "y": [45.0, 50.0]}
    ys = list(M.merc_y([46.0, 48.0]))
    v = M.view_from_relayout({"xaxis.range[0]": 2.0, "xaxis.range[1]": 4.0, "yaxis.range[0]": ys[0],
                              "yaxis.range[1]": ys[1]}, cur, full)
    assert v["x"] == [2.0, 4.0] and v["y"] == pytest.approx([46.0, 48.0], abs=1e-6)
    assert M.view_from_relayout({"autosize": True}, cur, full) is None
    assert M.view_from_relayout({"selections": [{"type": "rect"}]}, cur, full) is None
    assert M.view_from_relayout({"dragmode": "pan"}, cur, full) is None
    assert M.view_from_relayout({"xaxis.autorange": True, "yaxis.autorange": True}, cur, full) == full
    assert M.view_from_relayout({"xaxis.range[0]": "a", "xaxis.range[1]": 1}, cur, full) is None


def test_full_view_defaults_to_europe_without_coordinates(ws):
    d = AppData.load(ws)
    d.lon[:] = np.nan
    d.lat[:] = np.nan
    assert not M.has_coordinates(d)
    assert M.full_view(d) == M.EUROPE
    texts = [c for c in walk(M.layout(d)) if isinstance(c, str)]
    assert any("coordinates" in t for t in texts)  # a readable message, not a blank map
    out = M.map_update(d, False, None, "label", None, None, None, None)
    assert out[0] is no_update and "coordinates" in out[2]


# --------------------------------------------------------------------------- callbacks
def test_update_map_callback_zoom_and_url_view(app, data):
    ys = [float(v) for v in M.merc_y([44.0, 52.0])]
    relayout = {"xaxis.range[0]": -2.0, "xaxis.range[1]": 12.0, "yaxis.range[0]": ys[0], "yaxis.range[1]": ys[1]}
    fig, view, info = run_callback(app, M.update_map, relayout, "label", None, None, None, M.full_view(data),
                                   triggered=[f"{ids.MAP}.relayoutData"])
    assert view["x"] == [-2.0, 12.0] and view["y"] == pytest.approx([44.0, 52.0], abs=1e-6)
    ops = patch_ops(fig)
    assert ops[("layout", "images", 0)]["source"].startswith("data:image/webp;base64,")
    assert ops[("layout", "xaxis", "range")] == [-2.0, 12.0]
    n = int(((data.lon >= -2) & (data.lon <= 12) & (data.lat >= 44) & (data.lat <= 52)).sum())
    assert info.startswith(f"{n:,} patches in view")
    # a selection-drawing relayout changes nothing
    assert run_callback(app, M.update_map, {"selections": []}, "label", None, None, None, view,
                        triggered=[f"{ids.MAP}.relayoutData"]) == (no_update, no_update, no_update)
    # autosize (the graph's first layout) redraws the same view: Dash may have dropped the initial render
    fig, v2, info2 = run_callback(app, M.update_map, {"autosize": True}, "label", None, None, None, view,
                                  triggered=[f"{ids.MAP}.relayoutData"])
    assert v2 is no_update and info2 == info and patch_ops(fig)[("layout", "xaxis", "range")] == [-2.0, 12.0]
    # a view set from the URL is applied (and not written back)
    url_view = {"x": [5.0, 7.0], "y": [45.0, 46.0]}
    fig, view, info = run_callback(app, M.update_map, None, "country", None, None, None, url_view,
                                   triggered=[f"{ids.MAP_VIEW}.data"])
    assert view is no_update
    ops = patch_ops(fig)
    assert ops[("layout", "yaxis", "range")] == pytest.approx(list(M.merc_y([45.0, 46.0])))


def test_update_map_callback_focus_neighbours_and_selection(app, data):
    pid = "AnnualCrop_11"
    r = data.row_of[pid]
    sel = {"kind": "mapbox", "range": [[-5.0, 12.5], [42.0, 52.0]]}
    fig, _, info = run_callback(app, M.update_map, None, "label", None, sel, pid, None,
                                triggered=[f"{ids.SELECTED}.data"])
    ops = patch_ops(fig)
    assert ops[("data", M.T_FOCUS, "x")] == [pytest.approx(float(data.lon[r]))]
    assert ops[("data", M.T_FOCUS, "y")] == [pytest.approx(float(M.merc_y(data.lat[r])), abs=1e-4)]
    nb = data.neighbours(r, 10)
    assert len(nb) == 10
    assert ops[("data", M.T_NEIGHBOURS, "x")] == pytest.approx(data.lon[nb].tolist())
    n_sel = int(selection_mask(data, sel).sum())
    assert f"{n_sel:,} selected" in info


def test_select_and_click_callbacks(app, data):
    out = run_callback(app, M.map_select, {"points": [], "range": {"x": [-5.0, 12.5],
                                                                  "y": list(M.merc_y([42.0, 52.0]))}})
    assert out["kind"] == "mapbox" and out["range"][0] == [-5.0, 12.5]
    assert run_callback(app, M.map_select, None) is no_update
    r = data.row_of["AnnualCrop_11"]
    click = {"points": [{"x": float(data.lon[r]), "y": float(M.merc_y(data.lat[r]))}]}
    assert run_callback(app, M.map_click, click, M.full_view(data), None) == "AnnualCrop_11"
    assert run_callback(app, M.map_click, {"points": [{"x": -20.0, "y": 50.0}]}, M.full_view(data), None) \
        is no_update
    assert run_callback(app, M.map_click, None, None, None) is no_update


def test_layout_holds_graph_and_view_store(data):
    found = {c.id: c for c in walk(M.layout(data)) if getattr(c, "id", None)}
    assert {ids.MAP, ids.MAP_INFO, ids.MAP_VIEW} <= set(found)
    assert found[ids.MAP_VIEW].data == M.full_view(data)
    assert found[ids.MAP].config["scrollZoom"]
