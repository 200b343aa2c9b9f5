"""The embedding scatter panel on the demo workspace, without a browser: its callbacks called directly."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from _helpers import patch_ops, run_callback
from dash import no_update
from PIL import Image

from dashboard import ids
from dashboard.panels import scatter as S
from dashboard.views import full_view, raster_size

#: edits version, scores version, URL applied: what every render after the first page load has
READY = (0, 0, True)
SIZE = {"w": 704, "h": 480}


def _image(ops: dict) -> Image.Image:
    uri = ops[("layout", "images", 0)]["source"]
    assert uri.startswith("data:image/webp;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def _render(app, view, *, relayout=None, trig=ids.URL_READY, color="label", filters=None, sel=None,
            selected=None, size=SIZE):
    return run_callback(app, S.update_scatter, relayout, color, filters, sel, selected, *READY, size, view,
                        triggered=[f"{trig}.data"])


def test_the_raster_has_one_pixel_per_screen_pixel_of_the_plot(app, data):
    fig, view, info, legend = _render(app, full_view(data.px, data.py))
    m = S.MARGIN  # the plot area is the graph's box less the margins
    assert _image(patch_ops(fig)).size == (704 - m["l"] - m["r"], 480 - m["t"] - m["b"])
    assert info.startswith(f"{int(np.isfinite(data.px).sum()):,} patches in view")
    assert legend  # one entry per label in view
    # a high-density screen: two image pixels per CSS pixel, margins included
    fig, *_ = _render(app, full_view(data.px, data.py), size={"w": 1408, "h": 960, "dpr": 2})
    assert _image(patch_ops(fig)).size == (1408 - 2 * (m["l"] + m["r"]), 960 - 2 * (m["t"] + m["b"]))
    # a laptop's smaller plot gets a smaller raster; an absurd size is clamped, an unknown one falls back
    fig, *_ = _render(app, full_view(data.px, data.py), size={"w": 370, "h": 264})
    assert _image(patch_ops(fig)).size == (320, 224)
    assert raster_size({"w": 10**6, "h": 2}) == (1600, 64)
    assert raster_size(None) == raster_size({"w": "x"}) == raster_size({"w": 800, "h": 600, "dpr": 9})


def test_nothing_is_drawn_before_the_url_is_applied_and_the_plot_has_a_size(app, data):
    view = full_view(data.px, data.py)
    nothing = (no_update,) * 4
    assert run_callback(app, S.update_scatter, None, "label", None, None, None, 0, 0, False, SIZE, view,
                        triggered=[f"{ids.URL_READY}.data"]) == nothing
    assert run_callback(app, S.update_scatter, None, "label", None, None, None, 0, 0, True, None, view,
                        triggered=[f"{ids.URL_READY}.data"]) == nothing


def test_a_zoom_draws_the_new_view_and_stores_it(app, data):
    full = full_view(data.px, data.py)
    x0, x1 = np.nanpercentile(data.px, [20, 60]).tolist()
    y0, y1 = np.nanpercentile(data.py, [20, 60]).tolist()
    relayout = {"xaxis.range[0]": x0, "xaxis.range[1]": x1, "yaxis.range[0]": y0, "yaxis.range[1]": y1}
    fig, view, info, _ = _render(app, full, relayout=relayout, trig=ids.SCATTER_RELAYOUT)
    assert view == {"x": [x0, x1], "y": [y0, y1]}
    assert patch_ops(fig)[("layout", "xaxis", "range")] == [x0, x1]
    inside = (data.px >= x0) & (data.px <= x1) & (data.py >= y0) & (data.py <= y1)
    assert info.startswith(f"{int(inside.sum()):,} patches in view")
    # a double click resets to the whole layout; drawing a selection or switching drag mode draws nothing
    _, view, _, _ = _render(app, view, relayout={"xaxis.autorange": True, "yaxis.autorange": True},
                            trig=ids.SCATTER_RELAYOUT)
    assert view == full
    assert _render(app, full, relayout={"dragmode": "pan"}, trig=ids.SCATTER_RELAYOUT) == (no_update,) * 4


def test_a_view_from_the_url_is_drawn_and_not_written_back(app, data):
    x0, x1 = np.nanpercentile(data.px, [10, 30]).tolist()
    y0, y1 = np.nanpercentile(data.py, [10, 30]).tolist()
    fig, view, _, _ = _render(app, {"x": [x0, x1], "y": [y0, y1]})
    assert view is no_update
    assert patch_ops(fig)[("layout", "yaxis", "range")] == [y0, y1]


def test_focus_rings_the_patch_and_its_neighbours_and_selection_counts(app, data):
    r = int(np.flatnonzero(np.isfinite(data.px))[7])
    lo = [float(np.nanmin(data.px)), float(np.nanmedian(data.px))]
    sel = {"kind": "box", "range": [lo, [float(np.nanmin(data.py)), float(np.nanmax(data.py))]]}
    fig, _, info, _ = _render(app, full_view(data.px, data.py), selected=str(data.ids[r]), sel=sel)
    ops = patch_ops(fig)
    i_focus = S.trace_index(S.TRACES, S.FOCUS)
    assert ops[("data", i_focus, "x")] == [pytest.approx(float(data.px[r]))]
    n_sel = int(((data.px >= lo[0]) & (data.px <= lo[1])).sum())
    assert f"{n_sel:,} selected" in info


def test_a_click_puts_the_nearest_patch_in_focus(app, data):
    r = int(np.flatnonzero(np.isfinite(data.px))[3])
    view = full_view(data.px, data.py)
    click = {"points": [{"x": float(data.px[r]), "y": float(data.py[r])}]}
    pid = run_callback(app, S.click, click, view, None, SIZE)
    row = data.find(pid)
    # the nearest patch to the click: the clicked one, or one drawn on the same pixel
    assert np.hypot(data.px[row] - data.px[r], data.py[row] - data.py[r]) <= \
        (view["x"][1] - view["x"][0]) / SIZE["w"] * 3
    assert run_callback(app, S.click, None, view, None, SIZE) is no_update


def test_a_zoom_posted_to_the_render_route_draws_that_view_with_the_last_colouring(app, data):
    x0, x1 = np.nanpercentile(data.px, [20, 60]).tolist()
    y0, y1 = np.nanpercentile(data.py, [20, 60]).tolist()
    view = {"x": [x0, x1], "y": [y0, y1]}
    # what plots.js posts: the new view and the meta of the last render (colour, filters, selection)
    fig, *_ = _render(app, full_view(data.px, data.py), color="split")
    meta = patch_ops(fig)[("layout", "meta")]
    assert meta == {"color": "split", "filters": None, "sel": None}
    client = app.server.test_client()
    res = client.post(S.RENDER_ROUTE, json={"view": view, **meta, "size": SIZE})
    assert res.status_code == 200, res.get_data(as_text=True)
    out = res.get_json()
    assert out["view"] == view
    assert out["image"]["x"] == x0 and out["image"]["y"] == y1
    assert out["image"]["sizex"] == pytest.approx(x1 - x0) and out["image"]["sizey"] == pytest.approx(y1 - y0)
    w, h = raster_size(SIZE, margin=S.MARGIN)
    img = Image.open(io.BytesIO(base64.b64decode(out["image"]["source"].split(",", 1)[1])))
    assert img.size == (w, h)
    assert out["hover_trace"] == S.trace_index(S.TRACES, S.HOVER)
    assert out["hover"]["x"][0] == x0 and out["hover"]["x"][-1] == pytest.approx(x1)
    inside = (data.px >= x0) & (data.px <= x1) & (data.py >= y0) & (data.py <= y1)
    assert out["text"].startswith(f"{int(inside.sum()):,} patches in view")
    # the same view through the Dash callback gives the same picture
    fig, *_ = _render(app, full_view(data.px, data.py), relayout={
        "xaxis.range[0]": x0, "xaxis.range[1]": x1, "yaxis.range[0]": y0, "yaxis.range[1]": y1},
        trig=ids.SCATTER_RELAYOUT, color="split")
    assert np.array_equal(np.asarray(_image(patch_ops(fig))), np.asarray(img))


@pytest.mark.parametrize(("body", "field"), [
    ({"view": {"x": [1, 0], "y": [0, 1]}}, "'view'"),
    ({"view": {"x": [0, 1]}}, "'view'"),
    ({"view": {"x": [0, "nan"], "y": [0, 1]}}, "'view'"),
    ({"view": {"x": [0, 1], "y": [0, 1]}, "color": "nope"}, "'color'"),
    ({"view": {"x": [0, 1], "y": [0, 1]}, "filters": [1]}, "'filters'"),
    ({"view": {"x": [0, 1], "y": [0, 1]}, "filters": {"labels": 5}}, "'filters'"),
    ({"view": {"x": [0, 1], "y": [0, 1]}, "sel": {"kind": "lasso", "points": "x"}}, "'sel'"),
    ({"view": {"x": [0, 1], "y": [0, 1]}, "sel": {"kind": "box", "range": [[0]]}}, "'sel'"),
    ([1, 2], "JSON object"),
])
def test_the_render_route_refuses_a_bad_request_naming_the_field(app, body, field):
    res = app.server.test_client().post(S.RENDER_ROUTE, json=body)
    assert res.status_code == 400
    assert field in res.get_json()["error"]


def test_a_colour_change_leaves_the_axes_where_the_user_has_them(app, data):
    # the axes may already be ahead of the view store (a zoom drawn through the render route): only a view from
    # the URL or from the relayout store moves them
    fig, *_ = _render(app, full_view(data.px, data.py), trig=ids.COLOR_BY, color="split")
    ops = patch_ops(fig)
    assert ("layout", "xaxis", "range") not in ops and ("layout", "images", 0) in ops
    # nor are the hover grid and the focus rings sent again (new arrays make plotly recompute their traces)
    h, i_focus = S.trace_index(S.TRACES, S.HOVER), S.trace_index(S.TRACES, S.FOCUS)
    assert ("data", h, "x") not in ops and ("data", i_focus, "x") not in ops
    # a click on a patch moves the rings, without touching the axes
    r = int(np.flatnonzero(np.isfinite(data.px))[5])
    fig, *_ = _render(app, full_view(data.px, data.py), trig=ids.SELECTED, selected=str(data.ids[r]))
    ops = patch_ops(fig)
    assert ops[("data", i_focus, "x")] == [pytest.approx(float(data.px[r]))]
    assert ("layout", "xaxis", "range") not in ops
