"""The map panel on the demo workspace (1,500 generated patches on real Sentinel-2 tile grids), without a browser.

The plain functions of :mod:`dashboard.panels.map_panel` are checked against the catalog; the callbacks are
called directly inside ``app.server.test_request_context()`` with a Dash callback context for ``ctx``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _helpers import patch_ops, run_callback, walk
from dash import no_update
from scipy.ndimage import binary_dilation

from dashboard import ids
from dashboard.geo import lat_of, merc_y
from dashboard.panels import map_panel as M
from dashboard.selection import selection_mask
from dashboard.views import nearest
from mining.raster import hex_to_rgb


def pixel_of(res: dict, lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Image (row, col) of lon/lat points, the way rasterize_categorical bins them."""
    H, W = res["layer"].shape[:2]
    (x0, x1), (y0, y1) = res["box"]["x"], res["box"]["y"]
    x = np.asarray(lon, np.float32).astype(np.float64)
    y = merc_y(lat).astype(np.float32).astype(np.float64)
    col = ((x - x0) * (W / (x1 - x0))).astype(int)
    row = H - 1 - ((y - y0) * (H / (y1 - y0))).astype(int)
    return row, col


def small_view(lon: float, lat: float, half: float = 0.02) -> dict:
    return {"x": [lon - half * 1.25, lon + half * 1.25], "y": [lat - half * 0.6, lat + half * 0.6]}


def box_around(data, q=(0.2, 0.7)) -> tuple[float, float, float, float]:
    lon0, lon1 = (float(v) for v in np.quantile(data.lon, q))
    lat0, lat1 = (float(v) for v in np.quantile(data.lat, q))
    return round(lon0, 3), round(lon1, 3), round(lat0, 3), round(lat1, 3)


# --------------------------------------------------------------------------- projection, basemap, figure
def test_figure_is_offline_and_layered(data):
    view = M.full_view(data)
    fig = M.figure(data, view).to_plotly_json()
    lay = fig["layout"]
    assert lay["dragmode"] == "select"
    assert lay["yaxis"]["scaleanchor"] == "x" and lay["yaxis"]["scaleratio"] == 1
    assert not lay.get("shapes")  # no vector basemap for the browser to lay out: it is in the image
    assert lay["images"][0]["layer"] == "below"  # raster over the basemap, under the markers
    assert all(t["type"] in ("heatmap", "scatter") for t in fig["data"])  # no geo / mapbox: nothing fetched
    assert [t["name"] for t in fig["data"]] == list(M.TRACES)  # in the declared order, found by name
    assert [fig["data"][i]["name"] for i in (M.T_NEIGHBOURS, M.T_FOCUS)] == ["neighbours", "focus"]
    # overlays passed in come last, after the figure's own traces
    over = M.figure(data, view, overlays=[{"type": "scatter", "name": "o1"}]).to_plotly_json()["data"]
    assert len(over) == len(M.TRACES) + 1 and over[-1]["name"] == "o1"
    assert any(t.endswith("N") for t in lay["yaxis"]["ticktext"])
    # the initial view holds every patch
    ok = np.isfinite(data.lon)
    assert ok.sum() == data.n == 1500
    assert (data.lon >= view["x"][0]).all() and (data.lon <= view["x"][1]).all()
    assert (data.lat >= view["y"][0]).all() and (data.lat <= view["y"][1]).all()


def test_axis_ticks_are_round_degrees():
    t = M.axis_ticks(M.to_plot({"x": [-10.0, 30.0], "y": [40.0, 60.0]}))
    assert t["xtext"][:3] == ["10°W", "0°", "10°E"]
    assert t["ytext"] == ["40°N", "45°N", "50°N", "55°N", "60°N"]
    assert np.allclose(lat_of(t["yvals"]), [40, 45, 50, 55, 60])
    t = M.axis_ticks(M.to_plot({"x": [2.95, 3.05], "y": [50.28, 50.33]}))
    assert "3.00°E" in t["xtext"] and "50.30°N" in t["ytext"]


# --------------------------------------------------------------------------- raster
def test_raster_is_coloured_exactly_where_patches_are(data):
    view = M.full_view(data)
    res = M.render_map(data, view, "label")
    assert res["mode"] == "raster" and res["in_view"] == 1500 and res["selected"] is None
    rgba = res["layer"]
    row, col = pixel_of(res, data.lon, data.lat)
    H, W = rgba.shape[:2]
    assert ((row >= 0) & (row < H) & (col >= 0) & (col < W)).all()
    assert (rgba[row, col, 3] > 0).all()  # every patch is drawn
    at = np.zeros((H, W), bool)
    at[row, col] = True
    near = binary_dilation(at, np.ones((7, 7), bool))  # spread grows sparse points by up to 3 px
    drawn = rgba[..., 3] > 0
    assert not (drawn & ~near).any()  # nothing is drawn away from the patches
    assert drawn.mean() < 0.2
    # a pixel holding one patch has that patch's class colour
    sch = data.scheme("label")
    codes, pal = sch.codes, hex_to_rgb(list(sch.colors))
    cells = row * W + col
    uniq, counts = np.unique(cells, return_counts=True)
    single = np.flatnonzero(np.isin(cells, uniq[counts == 1]))
    assert len(single) > 50
    assert (rgba[row[single], col[single], :3] == pal[codes[single]]).all()


def test_density_colouring(data):
    res = M.render_map(data, M.full_view(data), "density")
    assert res["mode"] == "raster" and (res["layer"][..., 3] > 0).sum() > 0


# --------------------------------------------------------------------------- selection, filters
def test_map_box_selection_selects_exactly_the_patches_inside(data):
    lon0, lon1, lat0, lat1 = box_around(data)
    sel = M.selection_from_box({"points": [], "range": {"x": [lon1, lon0], "y": list(merc_y([lat0, lat1]))}})
    assert sel["kind"] == "map"
    assert sel["range"][0] == [lon0, lon1]
    assert sel["range"][1] == pytest.approx([lat0, lat1], abs=1e-6)
    m = selection_mask(data, sel)
    expected = (data.lon >= lon0) & (data.lon <= lon1) & (data.lat >= lat0) & (data.lat <= lat1)
    assert (m == expected).all() and 10 < m.sum() < 1400
    lon, lat = data.cat["lon"].to_numpy(), data.cat["lat"].to_numpy()  # catalog (float64) agrees
    assert ((lon > lon0) & (lon < lon1) & (lat > lat0) & (lat < lat1)).sum() == m.sum()
    # drawn: selected patches keep their colour, the others turn grey
    res = M.render_map(data, M.full_view(data), "label", sel=sel)
    assert res["selected"] == int(m.sum())
    row, col = pixel_of(res, data.lon, data.lat)
    grey = hex_to_rgb([M.GREY])[0]
    cells = row * res["layer"].shape[1] + col
    uniq, counts = np.unique(cells, return_counts=True)
    single = np.isin(cells, uniq[counts == 1])
    out = np.flatnonzero(single & ~m)
    inside = np.flatnonzero(single & m)
    assert len(out) and len(inside)
    assert (res["layer"][row[out], col[out], :3] == grey).all()
    assert not (res["layer"][row[inside], col[inside], :3] == grey).all(1).any()
    assert M.selection_from_box(None) is None and M.selection_from_box({"lassoPoints": {}}) is None


def test_filters_hide_patches_on_the_map(data):
    cls = data.classes[int(np.argmax(data.Y.sum(0)))]
    filters = {"labels": [cls]}
    forest = data.Y[:, data.classes.index(cls)]
    res = M.render_map(data, M.full_view(data), "label", filters)
    assert 0 < res["in_view"] == int(forest.sum()) < data.n
    row, col = pixel_of(res, data.lon, data.lat)
    H, W = res["layer"].shape[:2]
    at = np.zeros((H, W), bool)
    at[row[forest], col[forest]] = True
    drawn = res["layer"][..., 3] > 0
    assert not (drawn & ~binary_dilation(at, np.ones((7, 7), bool))).any()
    assert (res["layer"][row[forest], col[forest], 3] > 0).all()
    # zoomed onto a non-forest patch: nothing of it is drawn, not even its footprint
    r = int(np.flatnonzero(~forest)[0])
    z = M.render_map(data, small_view(float(data.lon[r]), float(data.lat[r])), "label", filters)
    assert all(r not in rows for _, rows in z["footprints"])
    assert z["layer"] is None or not (z["layer"][..., 3] > 0).any()


# --------------------------------------------------------------------------- zoom -> footprints
def test_zooming_in_switches_to_footprints_matching_the_catalog(data):
    r = 0
    lon, lat = float(data.lon[r]), float(data.lat[r])
    res = M.render_map(data, small_view(lon, lat), "label")
    assert res["mode"] == "footprints" and res["layer"] is None
    rows = np.concatenate([rows for _, rows in res["footprints"]])
    assert r in rows and res["in_view"] >= 1
    colour = next(c for c, rows in res["footprints"] if r in rows)
    sch = data.scheme("label")
    assert colour == sch.colors[sch.codes[r]]  # coloured like the raster
    xs, ys = M.footprint_xy(data, np.array([r]))
    c = data.cat.iloc[r]
    assert xs[:5] == pytest.approx([c.lon_min, c.lon_max, c.lon_max, c.lon_min, c.lon_min], abs=1e-6)
    assert lat_of(ys[:5]) == pytest.approx([c.lat_min, c.lat_min, c.lat_max, c.lat_max, c.lat_min], abs=1e-6)
    assert xs[5] is None and ys[5] is None
    # a demo patch is 60 px x 10 m: its footprint is ~600 m on a side
    assert (c.lat_max - c.lat_min) * 111.2e3 == pytest.approx(600, rel=0.05)
    # the figure patch puts the rectangle into a footprint slot
    ops = patch_ops(M.update_patch(data, small_view(lon, lat), res, None))
    slot = next(i for i in range(M.FOOTPRINT_SLOTS) if ops[("data", M.T_FP + i, "x")])
    assert ops[("data", M.T_FP + slot, "line", "color")] == colour
    assert ops[("layout", "images", 0)]["source"].startswith("data:image/webp")  # the basemap, no dots
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
    r = 5
    lon, y = float(data.lon[r]), float(merc_y(data.lat[r]))
    # views.nearest works on lon/lat ("map" coordinates)
    assert nearest(data, float(data.lon[r]), float(data.lat[r]), view, coords="map") == r
    assert M.nearest_patch(data, lon + 0.001, y + 0.001, view) == r
    assert M.nearest_patch(data, -20.0, float(merc_y(45.0)), view) is None  # open sea
    # inside a footprint: that patch, even zoomed in far
    c = data.cat.iloc[r]
    inner = (c.lon_min + 0.9 * (c.lon_max - c.lon_min), float(merc_y(c.lat_min + 0.1 * (c.lat_max - c.lat_min))))
    assert M.nearest_patch(data, *inner, small_view(lon, float(data.lat[r]), 0.005)) == r
    # filtered out: not pickable
    label = data.labels_of(r)[0]
    other = [c for c in data.classes if c != label][0]
    assert M.nearest_patch(data, lon, y, view, {"labels": [other]}) != r


def test_view_from_relayout(data):
    full = M.full_view(data)
    cur = {"x": [0.0, 10.0], "y": [45.0, 50.0]}
    ys = list(merc_y([46.0, 48.0]))
    v = M.view_from_relayout({"xaxis.range[0]": 2.0, "xaxis.range[1]": 4.0, "yaxis.range[0]": ys[0],
                              "yaxis.range[1]": ys[1]}, cur, full)
    assert v["x"] == [2.0, 4.0] and v["y"] == pytest.approx([46.0, 48.0], abs=1e-6)
    assert M.view_from_relayout({"autosize": True}, cur, full) is None
    assert M.view_from_relayout({"selections": [{"type": "rect"}]}, cur, full) is None
    assert M.view_from_relayout({"dragmode": "pan"}, cur, full) is None
    assert M.view_from_relayout({"xaxis.autorange": True, "yaxis.autorange": True}, cur, full) == full
    assert M.view_from_relayout({"xaxis.range[0]": "a", "xaxis.range[1]": 1}, cur, full) is None


def test_full_view_defaults_to_europe_without_coordinates(data):
    nan = np.full(data.n, np.nan, np.float32)
    d = dataclasses.replace(data, lon=nan, lat=nan, caches=type(data.caches)())
    assert not M.has_coordinates(d)
    assert M.full_view(d) == M.EUROPE
    texts = [c for c in walk(M.layout(d)) if isinstance(c, str)]
    assert any("coordinates" in t for t in texts)  # a readable message, not a blank map
    out = M.map_update(d, False, None, "label", None, None, None, None)
    assert out[0] is no_update and "coordinates" in out[2]


# --------------------------------------------------------------------------- callbacks
#: edits version, scores version, URL applied, plot size on screen (assets/plots.js): what the first render waits for
READY = (0, 0, True, {"w": 960, "h": 640})


def test_update_map_callback_zoom_and_url_view(app, data):
    lon0, lon1, lat0, lat1 = box_around(data, (0.1, 0.6))
    ys = [float(v) for v in merc_y([lat0, lat1])]
    relayout = {"xaxis.range[0]": lon0, "xaxis.range[1]": lon1, "yaxis.range[0]": ys[0], "yaxis.range[1]": ys[1]}
    fig, view, info = run_callback(app, M.update_map, relayout, "label", None, None, None, M.full_view(data),
                                   *READY, triggered=[f"{ids.MAP_RELAYOUT}.data"])
    assert view["x"] == [lon0, lon1] and view["y"] == pytest.approx([lat0, lat1], abs=1e-6)
    ops = patch_ops(fig)
    assert ops[("layout", "images", 0)]["source"].startswith("data:image/webp;base64,")
    assert ops[("layout", "xaxis", "range")] == [lon0, lon1]
    n = int(((data.lon >= lon0) & (data.lon <= lon1) & (data.lat >= lat0) & (data.lat <= lat1)).sum())
    assert info.startswith(f"{n:,} patches in view")
    # a selection-drawing relayout changes nothing
    assert run_callback(app, M.update_map, {"selections": []}, "label", None, None, None, view, *READY,
                        triggered=[f"{ids.MAP_RELAYOUT}.data"]) == (no_update, no_update, no_update)
    # before the URL's state is applied, nothing is drawn (one render per page load, once it is)
    assert run_callback(app, M.update_map, None, "label", None, None, None, view, 0, 0, False, READY[3],
                        triggered=[f"{ids.FILTERS}.data"]) == (no_update, no_update, no_update)
    # nor before the plot has a size on screen
    assert run_callback(app, M.update_map, None, "label", None, None, None, view, 0, 0, True, None,
                        triggered=[f"{ids.FILTERS}.data"]) == (no_update, no_update, no_update)
    # a view set from the URL is applied (and not written back)
    url_view = {"x": [5.0, 7.0], "y": [45.0, 46.0]}
    fig, view, info = run_callback(app, M.update_map, None, "country", None, None, None, url_view, *READY,
                                   triggered=[f"{ids.MAP_VIEW}.data"])
    assert view is no_update
    ops = patch_ops(fig)
    assert ops[("layout", "yaxis", "range")] == pytest.approx(list(merc_y([45.0, 46.0])))


def test_update_map_callback_focus_neighbours_and_selection(app, data):
    r = 11
    pid = str(data.ids[r])
    lon0, lon1, lat0, lat1 = box_around(data)
    sel = {"kind": "map", "range": [[lon0, lon1], [lat0, lat1]]}
    fig, _, info = run_callback(app, M.update_map, None, "label", None, sel, pid, None, *READY,
                                triggered=[f"{ids.SELECTED}.data"])
    ops = patch_ops(fig)
    assert ops[("data", M.T_FOCUS, "x")] == [pytest.approx(float(data.lon[r]))]
    assert ops[("data", M.T_FOCUS, "y")] == [pytest.approx(float(merc_y(data.lat[r])), abs=1e-4)]
    nb = data.neighbours(r, 10)
    assert len(nb) == 10
    assert ops[("data", M.T_NEIGHBOURS, "x")] == pytest.approx(data.lon[nb].tolist())
    n_sel = int(selection_mask(data, sel).sum())
    assert f"{n_sel:,} selected" in info


def test_a_colour_change_sends_the_map_image_alone(app, data):
    # the view and the patch in focus did not change: ranges, ticks, hover grid and markers are not sent again
    # (new arrays make plotly recompute the traces)
    fig, view, info = run_callback(app, M.update_map, None, "country", None, None, None, M.full_view(data),
                                   *READY, triggered=[f"{ids.COLOR_BY}.value"])
    ops = patch_ops(fig)
    assert ops[("layout", "images", 0)]["source"].startswith("data:image/webp;base64,")
    assert not [k for k in ops if k[:2] in (("layout", "xaxis"), ("layout", "yaxis")) or k[0] == "data"]
    assert view is no_update and "in view" in info


def test_click_callback(app, data):
    r = 11
    click = {"points": [{"x": float(data.lon[r]), "y": float(merc_y(data.lat[r]))}]}
    assert run_callback(app, M.map_click, click, M.full_view(data), None) == str(data.ids[r])
    assert run_callback(app, M.map_click, {"points": [{"x": -20.0, "y": 50.0}]}, M.full_view(data), None) \
        is no_update
    assert run_callback(app, M.map_click, None, None, None) is no_update


def test_the_image_is_the_basemap_with_the_patches_over_it(data):
    from dashboard.geo import basemap_image

    res = M.render_map(data, M.full_view(data), "label")
    H, W = res["rgba"].shape[:2]
    base = basemap_image(data, res["box"], W, H)
    drawn = res["layer"][..., 3] > 0
    assert (res["rgba"][..., 3] == 255).all()  # opaque: land and sea come with it
    assert (res["rgba"][~drawn] == base[~drawn]).all()
    assert (res["rgba"][drawn][:, :3] != base[drawn][:, :3]).any(1).mean() > 0.9


def test_layout_holds_graph_and_view_store(data):
    found = {c.id: c for c in walk(M.layout(data)) if getattr(c, "id", None)}
    assert {ids.MAP, ids.MAP_INFO, ids.MAP_VIEW} <= set(found)
    assert found[ids.MAP_VIEW].data == M.full_view(data)
    assert found[ids.MAP].config["scrollZoom"]


def test_the_raster_covers_the_whole_plot_area_plotly_shows(app, data):
    """yaxis.scaleanchor makes plotly widen the view to the plot area's shape; the raster is drawn for that."""
    pview = {"x": [0.0, 10.0], "y": [40.0, 50.0]}
    assert M.render_box(pview, 0.5) == {"x": [0.0, 10.0], "y": [35.0, 55.0]}  # a tall panel: more latitude
    assert M.render_box(pview, 2.0) == {"x": [-5.0, 15.0], "y": [40.0, 50.0]}
    assert M.render_box(pview) == {"x": [0.0, 10.0], "y": [40.0, 50.0]}  # size unknown: aspects 1 to 1.6
    # a tall panel, 520 x 560 CSS px at 2 device pixels per CSS pixel
    size = {"w": 1040, "h": 1120, "dpr": 2}
    fig, _, _ = run_callback(app, M.update_map, None, "label", None, None, None, M.full_view(data), 0, 0, True, size,
                             triggered=[f"{ids.URL_READY}.data"])
    img = patch_ops(fig)[("layout", "images", 0)]
    w_px = 1040 - (M.MARGIN["l"] + M.MARGIN["r"]) * 2
    h_px = 1120 - (M.MARGIN["t"] + M.MARGIN["b"]) * 2
    assert img["sizex"] / img["sizey"] == pytest.approx(w_px / h_px, rel=1e-6)
    import base64
    import io

    from PIL import Image
    pic = Image.open(io.BytesIO(base64.b64decode(img["source"].split(",", 1)[1])))
    assert max(pic.size) == max(w_px, h_px)  # one image pixel per device pixel
    # on page load Dash lists the empty relayout store among the triggers: the map is drawn all the same
    fig, _, info = run_callback(app, M.update_map, None, "label", None, None, None, None, 0, 0, True, size,
                                triggered=[f"{ids.MAP_RELAYOUT}.data", f"{ids.URL_READY}.data"])
    assert fig is not no_update and "in view" in info
