"""The embedding scatter: a server-side raster of all points, re-rendered for every viewport.

The figure (:mod:`dashboard.figures`) holds one layout image (the raster of the current view), an invisible
hover grid (plotly sends hover/click positions, the server finds the nearest patch), markers for the patch in
focus and its neighbours, and the overlays the composition root passes in (the tour's path). Lasso and box
selections are resolved on the server (:mod:`dashboard.selection`).

A zoom or a pan does not go through Dash: ``assets/plots.js`` posts the new view with the colouring, filters and
selection of the last render (``layout.meta``) to :data:`RENDER_ROUTE` and swaps the image and the hover grid in
place (one HTTP request; about 100 ms of Dash's renderer saved at each end). Every other change (colour-by,
filters, selection, edits) renders through :func:`update_scatter`.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, Patch, State, callback, ctx, dcc, html, no_update

from mining.raster import image_uri

from .. import ids
from ..data import COLOR_BY, AppData, get_data
from ..figures import (
    FOCUS,
    HOVER,
    NEIGHBOURS,
    base_trace_names,
    hover_xy,
    image_spec,
    only_autosize,
    raster_figure,
    relayout_ranges,
    trace_index,
)
from ..routes import thumb_url
from ..selection import selection_mask
from ..views import full_view, legend_counts, nearest, raster_size, render_points

HOVER_SIZE = (192, 128)
#: a view change's render, posted by assets/plots.js: {view, color, filters, sel, size} -> image, hover grid, text
RENDER_ROUTE = "/eomine/render/scatter"
#: the figure's margins (CSS px): the raster covers the plot area inside them
MARGIN = {"l": 40, "r": 10, "t": 10, "b": 30}
TRACES = base_trace_names()
#: plotly config: a new lasso / box always starts a new selection (old outlines cannot be dragged)
CONFIG = {"scrollZoom": True, "displaylogo": False, "doubleClick": "reset", "editSelection": False,
          "modeBarButtonsToRemove": ["toImage", "autoScale2d"]}


# --------------------------------------------------------------------------- plain functions (tested directly)
def figure(view: dict, image_uri: str | None, *, dragmode: str = "lasso", overlays=()) -> go.Figure:
    """The scatter figure for ``view``: traces in :data:`TRACES` order, then ``overlays``."""
    fig = raster_figure(view, hover_size=HOVER_SIZE, overlays=overlays)
    fig.update_layout(
        margin=MARGIN, dragmode=dragmode, plot_bgcolor="white", paper_bgcolor="white",
        xaxis={"range": view["x"], "showgrid": False, "zeroline": False, "title": None},
        yaxis={"range": view["y"], "showgrid": False, "zeroline": False, "title": None},
        images=[image_spec(view, image_uri)], uirevision="keep", hovermode="closest", showlegend=False,
    )
    return fig


def view_from_relayout(relayout: dict | None, current: dict, full: dict) -> dict | None:
    """New view from plotly's relayoutData (zoom / pan / autorange), or None when the view did not change."""
    r = relayout_ranges(relayout, current)
    if r == "reset":
        return full
    if r is None:
        return None
    x, y = r
    if x == list(current["x"]) and y == list(current["y"]):
        return None
    return {"x": x, "y": y}


def legend_items(data: AppData, color: str, filters: dict | None, limit: int = 24) -> list:
    if color == "density":
        return [html.Span("Density: darker = more patches (histogram-equalised)", className="hint")]
    return [html.Span(className="legend-item", title=name, children=[
        html.Span(className="swatch", style={"background": colour}), f"{name} ({count:,})"])
        for name, colour, count in legend_counts(data, color, filters, limit)]


def draw(data: AppData, view: dict, color: str, filters: dict | None, sel: dict | None, *,
         size: dict | None) -> dict:
    """The raster of ``view`` and what goes with it: ``image`` (the layout image), ``hover`` ({"x", "y"}: the hover
    grid over the view), ``hover_trace`` (its index) and ``text`` (the panel's caption). Raises ``ValueError``
    when the view cannot be drawn."""
    w, h = raster_size(size, margin=MARGIN)
    rgba, info = render_points(data, view, color, filters, sel, width=w, height=h)
    text = f"{info['in_view']:,} patches in view"
    if info["selected"] is not None:
        text += f" · {info['selected']:,} selected"
    hx, hy = hover_xy(view, *HOVER_SIZE)
    return {"image": image_spec(view, image_uri(rgba)), "hover": {"x": hx, "y": hy},
            "hover_trace": trace_index(TRACES, HOVER), "text": text}


def render_request(data: AppData, body) -> dict:
    """Answer of :data:`RENDER_ROUTE` to the JSON ``body`` {"view", "color", "filters", "sel", "size"}: what
    :func:`draw` returns, plus the ``view`` drawn. Raises ``ValueError`` naming the field that is wrong."""
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    view = body.get("view")
    try:
        view = {k: [float(view[k][0]), float(view[k][1])] for k in ("x", "y")}
    except (TypeError, KeyError, IndexError, ValueError):
        raise ValueError("'view' must be {\"x\": [x0, x1], \"y\": [y0, y1]}") from None
    if not all(np.isfinite(v).all() and v[0] < v[1] for v in view.values()):
        raise ValueError("'view' must have finite, increasing ranges")
    color = body.get("color") or "label"
    if color not in COLOR_BY:
        raise ValueError(f"'color' must be one of {', '.join(COLOR_BY)}")
    for key in ("filters", "sel", "size"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise ValueError(f"'{key}' must be an object or null")
    try:  # the mask is cached: the render below finds it
        selection_mask(data, body.get("sel"))
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"'sel' cannot be read: {exc}") from None
    try:
        drawn = draw(data, view, color, body.get("filters"), body.get("sel"), size=body.get("size"))
    except (TypeError, KeyError, IndexError) as exc:  # view, colour, size and selection are checked above
        raise ValueError(f"'filters' cannot be read: {exc}") from None
    return {**drawn, "view": view}


def register_route(server) -> None:
    """Install :data:`RENDER_ROUTE` on the Flask ``server`` (called by the composition root)."""
    from flask import jsonify, request

    @server.route(RENDER_ROUTE, methods=["POST"])
    def render_scatter():
        try:
            return jsonify(render_request(get_data(), request.get_json(silent=True)))
        except ValueError as exc:
            return jsonify(error=str(exc)), 400


def update(data: AppData, relayout, color, filters, sel, selected, view, *, from_relayout: bool,
           size: dict | None = None, only_relayout: bool | None = None, set_range: bool = True,
           focus: bool = True) -> tuple:
    """Body of the scatter callback: (figure Patch, new view, info text, legend), ``no_update`` where unchanged.

    ``from_relayout``: the relayout store is among the triggers (its view is applied); ``only_relayout`` (default:
    ``from_relayout``): it is the only one, so a relayout that does not move the view draws nothing.
    ``set_range``: the patch sets the axes' ranges to the view (False: the axes stay where the user has them
    now, which may be ahead of ``view`` when a zoom was drawn through :data:`RENDER_ROUTE` meanwhile; the image
    is placed at its own view and assets/plots.js redraws it for the axes; the hover grid is left as it is, too).
    ``focus``: the focus and neighbour markers are (re)set (False: the patch in focus did not change)."""
    full = full_view(data.px, data.py)
    view = view if view and view.get("x") and view.get("y") else full
    new_view = view_from_relayout(relayout, view, full) if from_relayout else None
    only_relayout = from_relayout if only_relayout is None else only_relayout
    if only_relayout and new_view is None and not only_autosize(relayout):
        return no_update, no_update, no_update, no_update  # selection drawing, drag-mode switch...
    view = new_view or view
    try:
        drawn = draw(data, view, color or "label", filters, sel, size=size)
    except ValueError as exc:
        return no_update, no_update, f"Cannot draw this view: {exc}", no_update
    p = Patch()
    p["layout"]["images"][0] = drawn["image"]
    if set_range:
        p["layout"]["xaxis"]["range"] = view["x"]
        p["layout"]["yaxis"]["range"] = view["y"]
    # what assets/plots.js posts with a zoom or pan to RENDER_ROUTE
    p["layout"]["meta"] = {"color": color or "label", "filters": filters, "sel": sel}
    # new arrays make plotly recompute a trace: the hover grid is sent only with a new view, the focus rings only
    # when the patch in focus may have changed
    if set_range:
        h = drawn["hover_trace"]
        p["data"][h]["x"], p["data"][h]["y"] = drawn["hover"]["x"], drawn["hover"]["y"]
    if focus:
        fx, fy, nx, ny = [], [], [], []
        row = data.find(selected) if selected else None
        if row is not None and np.isfinite(data.px[row]):
            fx, fy = [float(data.px[row])], [float(data.py[row])]
            nb = data.neighbours(row, 10)
            nx, ny = data.px[nb].tolist(), data.py[nb].tolist()
        i_nb, i_focus = trace_index(TRACES, NEIGHBOURS), trace_index(TRACES, FOCUS)
        p["data"][i_nb]["x"], p["data"][i_nb]["y"] = nx, ny
        p["data"][i_focus]["x"], p["data"][i_focus]["y"] = fx, fy
    text = drawn["text"]
    # the view store is written only when the user moved the view: echoing an unchanged (possibly stale) view back
    # could overwrite one restored from a shared URL while this render was in flight
    return p, (view if new_view is not None else no_update), text, legend_items(data, color or "label", filters)


def selection_from_event(selected_data: dict | None) -> dict | None:
    """plotly's selectedData of a lasso / box on the scatter -> the selection store's value (None: ignore)."""
    if not selected_data:
        return None
    if selected_data.get("lassoPoints"):
        lp = selected_data["lassoPoints"]
        return {"kind": "lasso", "points": [[float(a), float(b)] for a, b in zip(lp["x"], lp["y"], strict=True)]}
    if selected_data.get("range"):
        r = selected_data["range"]
        return {"kind": "box", "range": [[float(v) for v in r["x"]], [float(v) for v in r["y"]]]}
    return None


# --------------------------------------------------------------------------- layout + callbacks
def layout(data: AppData, *, overlays=()) -> html.Section:
    """The panel; ``overlays`` are other panels' traces drawn on the scatter (see :mod:`dashboard.figures`)."""
    view = full_view(data.px, data.py)
    if not data.has_projection:
        body = html.Div([html.Div(className="empty", children=[
            "No 2-D layout yet. Run ", html.Code(f"eomine run {data.ws.path}"), " to compute embeddings, the kNN "
            "graph and the projection."]),
            dcc.Graph(id=ids.SCATTER, figure=figure(view, None, overlays=overlays), style={"display": "none"})])
    else:
        body = dcc.Graph(id=ids.SCATTER, figure=figure(view, None, overlays=overlays), className="graph",
                         clear_on_unhover=True, config=CONFIG)
    return html.Section(className="panel scatter-panel", children=[
        html.Div(className="panel-head", children=[html.H2("Embedding"), html.Span(id=ids.SCATTER_INFO)]),
        # the spinner layer lets the mouse through (assets/eomine.css): a curator can keep zooming or lasso while
        # a render is on its way
        dcc.Loading(body, id=ids.SCATTER_LOADING, type="dot", delay_show=400,
                    overlay_style={"visibility": "visible", "opacity": 0.6}),
        dcc.Tooltip(id=ids.SCATTER_TIP, direction="right"),
        dcc.Store(id=ids.SCATTER_VIEW, data=view),
        dcc.Store(id=ids.SCATTER_RELAYOUT, data=None),
        dcc.Store(id=ids.SCATTER_SIZE, data=None),
        html.Div(id=ids.SCATTER_LEGEND, className="legend"),
    ])




@callback(Output(ids.SCATTER, "figure"), Output(ids.SCATTER_VIEW, "data", allow_duplicate=True),
          Output(ids.SCATTER_INFO, "children"), Output(ids.SCATTER_LEGEND, "children"),
          Input(ids.SCATTER_RELAYOUT, "data"), Input(ids.COLOR_BY, "value"), Input(ids.FILTERS, "data"),
          Input(ids.SELECTION, "data"), Input(ids.SELECTED, "data"),
          Input(ids.EDITS_VERSION, "data"), Input(ids.SCORES_VERSION, "data"), Input(ids.URL_READY, "data"),
          Input(ids.SCATTER_SIZE, "data"), State(ids.SCATTER_VIEW, "data"), Input(ids.PREDICTIONS_VERSION, "data"),
          prevent_initial_call=True)
def update_scatter(relayout, color, filters, sel, selected, _edits_version=None, _scores_version=None,
                   ready=True, size=None, view=None, _predictions_version=None):
    # the view store is a State: zooms and pans drawn through RENDER_ROUTE write it (for the URL, hover and
    # clicks) without a second render here; the URL's view arrives with URL_READY, which is an Input
    if not ready or not size:
        # the first render waits for the URL's view, colour and filters and for the plot's size on screen
        # (assets/plots.js): one render per page load
        return no_update, no_update, no_update, no_update
    # on page load Dash may list the (empty) relayout store among the triggers: the render must still happen
    trig = set(ctx.triggered_prop_ids or ())
    key = f"{ids.SCATTER_RELAYOUT}.data"
    from_relayout = key in trig and relayout is not None
    page_load = f"{ids.URL_READY}.data" in trig or not trig
    return update(get_data(), relayout, color, filters, sel, selected, view, from_relayout=from_relayout,
                  size=size, only_relayout=trig == {key}, set_range=from_relayout or page_load,
                  focus=page_load or f"{ids.SELECTED}.data" in trig)


def _row_text(data: AppData, row: int) -> list:
    labels = data.labels_of(row)
    return [html.Div(str(data.ids[row]), className="tip-id"),
            html.Div(", ".join(labels) if labels else "(no label)", className="tip-labels")]


@callback(Output(ids.SCATTER_TIP, "show"), Output(ids.SCATTER_TIP, "bbox"), Output(ids.SCATTER_TIP, "children"),
          Input(ids.SCATTER, "hoverData"), State(ids.SCATTER_VIEW, "data"), State(ids.FILTERS, "data"),
          State(ids.SCATTER_SIZE, "data"), prevent_initial_call=True)
def hover(hover_data, view, filters, size=None):
    if not hover_data or not hover_data.get("points"):
        return False, no_update, no_update
    pt = hover_data["points"][0]
    data = get_data()
    row = nearest(data, pt["x"], pt["y"], view, filters=filters, size=raster_size(size, margin=MARGIN))
    if row is None:
        return False, no_update, no_update
    children = _row_text(data, row)
    if data.renderer is not None and data.pixel_row[row] >= 0:
        children = [html.Img(src=thumb_url("true_color", data.ids[row], 96), className="tip-img"), *children]
    return True, pt.get("bbox"), children




@callback(Output(ids.SELECTED, "data", allow_duplicate=True), Input(ids.SCATTER, "clickData"),
          State(ids.SCATTER_VIEW, "data"), State(ids.FILTERS, "data"), State(ids.SCATTER_SIZE, "data"),
          prevent_initial_call=True)
def click(click_data, view, filters, size=None):
    if not click_data or not click_data.get("points"):
        return no_update
    pt = click_data["points"][0]
    data = get_data()
    row = nearest(data, pt["x"], pt["y"], view, filters=filters, size=raster_size(size, margin=MARGIN))
    return data.ids[row] if row is not None else no_update
