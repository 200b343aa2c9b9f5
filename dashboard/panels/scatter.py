"""The embedding scatter: a datashader-style raster of all points, re-rendered for every viewport.

The figure holds one layout image (the raster of the current view), an invisible hover grid (plotly sends
hover/click positions, the server finds the nearest patch), and markers for the patch in focus and its
neighbours. Lasso and box selections are resolved on the server (:mod:`dashboard.selection`).
"""

from __future__ import annotations

import time

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, Patch, State, callback, ctx, dcc, html, no_update

from .. import ids
from ..data import AppData, Filters, get_data
from ..render import Viewport, hex_to_rgb, image_uri, rasterize_categorical, shade_density, spread
from ..selection import selection_mask

IMG_W, IMG_H = 960, 640
HOVER_W, HOVER_H = 192, 128
GREY = "#d0d4da"


# --------------------------------------------------------------------------- plain functions (tested directly)
def full_view(x: np.ndarray, y: np.ndarray, margin: float = 0.03) -> dict:
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return {"x": [0.0, 1.0], "y": [0.0, 1.0]}
    x0, x1 = float(x[ok].min()), float(x[ok].max())
    y0, y1 = float(y[ok].min()), float(y[ok].max())
    dx, dy = max(x1 - x0, 1e-6) * margin, max(y1 - y0, 1e-6) * margin
    return {"x": [x0 - dx, x1 + dx], "y": [y0 - dy, y1 + dy]}


def color_scheme(data: AppData, color: str) -> tuple[np.ndarray, list[str], list[str]]:
    """(codes (n,), colours, names) of a categorical colour-by."""
    key = color if color in data.codes else "label"
    return data.codes[key]


def render_points(data: AppData, x: np.ndarray, y: np.ndarray, view: dict, color: str, filters: dict | None,
                  sel: dict | None, *, width: int = IMG_W, height: int = IMG_H) -> tuple[np.ndarray, dict]:
    """Raster of the points in ``view`` coloured by ``color``; filtered-out points hidden, points outside the
    selection grey.

    Returns
    -------
    rgba : ndarray of uint8, shape (height, width, 4)
    info : dict
        ``in_view`` (points drawn), ``shown`` (points passing filters), ``selected``, ``ms`` render time.
    """
    t0 = time.perf_counter()
    vp = Viewport(view["x"], view["y"], width, height)
    fmask = data.mask(Filters.from_dict(filters))
    smask = selection_mask(data, sel)
    if color == "density":
        codes = np.zeros(data.n, np.int16)
        names, colors = ["patches"], ["#000000"]
    else:
        codes, colors, names = color_scheme(data, color)
    palette = hex_to_rgb(list(colors) + [GREY])
    if smask is not None:
        codes = np.where(smask, codes, len(colors)).astype(np.int16)
    rgba, cnt = rasterize_categorical(x, y, codes, palette, vp, sel=fmask)
    if color == "density":
        rgba = shade_density(cnt)
    in_view = int(cnt.sum())
    if in_view and (cnt > 0).mean() < 0.02:  # sparse (zoomed in): make single points visible
        rgba = spread(rgba, 3 if in_view < 1000 else 2 if in_view < 5000 else 1)
    shown = int(fmask.sum()) if fmask is not None else int(np.isfinite(x).sum())
    info = {"in_view": in_view, "shown": shown,
            "selected": int((smask & fmask).sum() if fmask is not None else smask.sum()) if smask is not None else None,
            "ms": round((time.perf_counter() - t0) * 1e3, 1)}
    return rgba, info


def nearest(data: AppData, x: float, y: float, view: dict, *, coords: str = "scatter",
            max_px: float = 12.0, filters: dict | None = None, size: tuple[int, int] = (IMG_W, IMG_H)) -> int | None:
    """Catalog row of the patch nearest to (x, y) on screen, within ``max_px`` pixels; honours filters.

    One KD-tree per coordinate system (built on first use); candidates inside the search radius are ranked
    by their distance in screen pixels, so a stretched view (box zoom) still picks what the eye sees.
    """
    from scipy.spatial import cKDTree

    trees = data.__dict__.setdefault("_trees", {})
    if coords not in trees:
        xs, ys = (data.px, data.py) if coords == "scatter" else (data.lon, data.lat)
        ok = np.flatnonzero(np.isfinite(xs) & np.isfinite(ys))
        trees[coords] = (cKDTree(np.c_[xs[ok], ys[ok]]) if len(ok) else None, ok)
    tree, rows = trees[coords]
    if tree is None:
        return None
    sx = (view["x"][1] - view["x"][0]) / size[0]  # data units per pixel
    sy = (view["y"][1] - view["y"][0]) / size[1]
    cand = tree.query_ball_point([x, y], r=max_px * max(sx, sy))
    if not cand:
        return None
    cand = rows[np.asarray(cand)]
    fmask = data.mask(Filters.from_dict(filters))
    if fmask is not None:
        cand = cand[fmask[cand]]
    xs, ys = (data.px, data.py) if coords == "scatter" else (data.lon, data.lat)
    d = np.hypot((xs[cand] - x) / sx, (ys[cand] - y) / sy)
    best = int(np.argmin(d)) if len(d) else -1
    return int(cand[best]) if best >= 0 and d[best] <= max_px else None


def figure(view: dict, image_uri: str | None, *, dragmode: str = "lasso") -> go.Figure:
    fig = go.Figure()
    hx = np.linspace(view["x"][0], view["x"][1], HOVER_W)
    hy = np.linspace(view["y"][0], view["y"][1], HOVER_H)
    fig.add_trace(go.Heatmap(x=hx, y=hy, z=np.zeros((HOVER_H, HOVER_W), np.uint8), opacity=0, showscale=False,
                             hoverinfo="none", name="hover"))
    fig.add_trace(go.Scatter(x=view["x"], y=view["y"], mode="markers", marker={"opacity": 0, "size": 1},
                             hoverinfo="skip", showlegend=False, name="select"))
    fig.add_trace(go.Scatter(x=[], y=[], mode="markers", hoverinfo="skip", showlegend=False, name="neighbours",
                             marker={"size": 9, "color": "rgba(0,0,0,0)", "line": {"color": "#111", "width": 1.5}}))
    fig.add_trace(go.Scatter(x=[], y=[], mode="markers", hoverinfo="skip", showlegend=False, name="focus",
                             marker={"size": 16, "symbol": "circle-open", "color": "#e4002b",
                                     "line": {"width": 3}}))
    from .tour import path_traces  # the tour's path and current stop (patched by the tour panel only)

    fig.add_traces(path_traces())
    fig.update_layout(
        margin={"l": 40, "r": 10, "t": 10, "b": 30}, dragmode=dragmode, plot_bgcolor="white", paper_bgcolor="white",
        xaxis={"range": view["x"], "showgrid": False, "zeroline": False, "title": None},
        yaxis={"range": view["y"], "showgrid": False, "zeroline": False, "title": None},
        images=[_image_spec(view, image_uri)], uirevision="keep", hovermode="closest", showlegend=False,
    )
    return fig


def _image_spec(view: dict, uri: str | None) -> dict:
    return {"source": uri or "", "xref": "x", "yref": "y", "x": view["x"][0], "y": view["y"][1],
            "sizex": view["x"][1] - view["x"][0], "sizey": view["y"][1] - view["y"][0], "sizing": "stretch",
            "layer": "below"}


def view_from_relayout(relayout: dict | None, current: dict, full: dict) -> dict | None:
    """New view from plotly's relayoutData (zoom / pan / autorange), or None when the view did not change."""
    if not relayout:
        return None
    if relayout.get("xaxis.autorange"):
        return full
    if "xaxis.range[0]" not in relayout and "xaxis.range" not in relayout and "yaxis.range[0]" not in relayout:
        return None  # autosize, selection drawing, dragmode changes...: the view is unchanged
    try:
        x = [relayout["xaxis.range[0]"], relayout["xaxis.range[1]"]] if "xaxis.range[0]" in relayout else \
            relayout.get("xaxis.range") or current["x"]
        y = [relayout["yaxis.range[0]"], relayout["yaxis.range[1]"]] if "yaxis.range[0]" in relayout else \
            relayout.get("yaxis.range") or current["y"]
    except (KeyError, TypeError):
        return None
    x, y = [float(v) for v in x], [float(v) for v in y]
    if x == current["x"] and y == current["y"]:
        return None
    return {"x": sorted(x), "y": sorted(y)}


def legend_items(data: AppData, color: str, filters: dict | None, limit: int = 24) -> list:
    if color == "density":
        return [html.Span("Density: darker = more patches (histogram-equalised)", className="hint")]
    codes, colors, names = color_scheme(data, color)
    fmask = data.mask(Filters.from_dict(filters))
    c = codes if fmask is None else codes[fmask]
    counts = np.bincount(c[c >= 0], minlength=len(names))
    order = np.argsort(-counts)[:limit]
    return [html.Span(className="legend-item", title=names[i], children=[
        html.Span(className="swatch", style={"background": colors[i]}), f"{names[i]} ({counts[i]:,})"])
        for i in order if counts[i] > 0]


# --------------------------------------------------------------------------- layout + callbacks
def layout(data: AppData) -> html.Section:
    view = full_view(data.px, data.py)
    if not data.has_projection:
        body = html.Div([html.Div(className="empty", children=[
            "No 2-D layout yet. Run ", html.Code(f"eomine run {data.ws.path}"), " to compute embeddings, the kNN "
            "graph and the projection."]),
            dcc.Graph(id=ids.SCATTER, figure=figure(view, None), style={"display": "none"})])
    else:
        body = dcc.Graph(id=ids.SCATTER, figure=figure(view, None), className="graph", clear_on_unhover=True,
                         config={"scrollZoom": True, "displaylogo": False, "doubleClick": "reset",
                                 "modeBarButtonsToRemove": ["toImage", "autoScale2d"]})
    return html.Section(className="panel scatter-panel", children=[
        html.Div(className="panel-head", children=[html.H2("Embedding"), html.Span(id=ids.SCATTER_INFO)]),
        # the spinner layer lets the mouse through (assets/eomine.css): a curator can keep zooming or lasso while
        # a render is on its way
        dcc.Loading(body, id=ids.SCATTER_LOADING, type="dot", delay_show=400,
                    overlay_style={"visibility": "visible", "opacity": 0.6}),
        dcc.Tooltip(id=ids.SCATTER_TIP, direction="right"),
        dcc.Store(id=ids.SCATTER_VIEW, data=view),
        html.Div(id="scatter-legend", className="legend"),
    ])


@callback(Output(ids.SCATTER, "figure"), Output(ids.SCATTER_VIEW, "data", allow_duplicate=True),
          Output(ids.SCATTER_INFO, "children"), Output("scatter-legend", "children"),
          Input(ids.SCATTER, "relayoutData"), Input(ids.COLOR_BY, "value"), Input(ids.FILTERS, "data"),
          Input(ids.SELECTION, "data"), Input(ids.SELECTED, "data"), Input(ids.SCATTER_VIEW, "data"),
          Input(ids.EDITS_VERSION, "data"), Input(ids.SCORES_VERSION, "data"),
          prevent_initial_call="initial_duplicate")
def update_scatter(relayout, color, filters, sel, selected, view, _edits_version=None, _scores_version=None):
    data = get_data()
    full = full_view(data.px, data.py)
    view = view if view and view.get("x") and view.get("y") else full
    new_view = view_from_relayout(relayout, view, full) if ctx.triggered_id == ids.SCATTER else None
    if ctx.triggered_id == ids.SCATTER and new_view is None and not (relayout and set(relayout) <= {"autosize"}):
        # selection drawing, drag-mode switch...: nothing to redraw. (autosize, sent once the graph is first
        # laid out, DOES redraw: Dash drops the still-pending initial render when it arrives.)
        return no_update, no_update, no_update, no_update
    view = new_view or view
    try:
        rgba, info = render_points(data, data.px, data.py, view, color or "label", filters, sel)
    except ValueError as exc:
        return no_update, no_update, f"Cannot draw this view: {exc}", no_update
    p = Patch()
    p["layout"]["images"][0] = _image_spec(view, image_uri(rgba))
    p["layout"]["xaxis"]["range"] = view["x"]
    p["layout"]["yaxis"]["range"] = view["y"]
    p["data"][0]["x"] = np.linspace(view["x"][0], view["x"][1], HOVER_W).tolist()
    p["data"][0]["y"] = np.linspace(view["y"][0], view["y"][1], HOVER_H).tolist()
    fx, fy, nx, ny = [], [], [], []
    row = data.row_of.get(selected) if selected else None
    if row is not None and np.isfinite(data.px[row]):
        fx, fy = [float(data.px[row])], [float(data.py[row])]
        nb = data.neighbours(row, 10)
        nx, ny = data.px[nb].tolist(), data.py[nb].tolist()
    p["data"][2]["x"], p["data"][2]["y"] = nx, ny
    p["data"][3]["x"], p["data"][3]["y"] = fx, fy
    text = f"{info['in_view']:,} patches in view"
    if info["selected"] is not None:
        text += f" · {info['selected']:,} selected"
    # the view store is written only when the user moved the view: echoing an unchanged (possibly stale) view back
    # could overwrite one restored from a shared URL while this render was in flight
    return p, (view if new_view is not None else no_update), text, legend_items(data, color or "label", filters)


def _row_text(data: AppData, row: int) -> list:
    labels = data.labels_of(row)
    return [html.Div(str(data.ids[row]), className="tip-id"),
            html.Div(", ".join(labels) if labels else "(no label)", className="tip-labels")]


@callback(Output(ids.SCATTER_TIP, "show"), Output(ids.SCATTER_TIP, "bbox"), Output(ids.SCATTER_TIP, "children"),
          Input(ids.SCATTER, "hoverData"), State(ids.SCATTER_VIEW, "data"), State(ids.FILTERS, "data"),
          prevent_initial_call=True)
def hover(hover_data, view, filters):
    if not hover_data or not hover_data.get("points"):
        return False, no_update, no_update
    pt = hover_data["points"][0]
    data = get_data()
    row = nearest(data, pt["x"], pt["y"], view, filters=filters)
    if row is None:
        return False, no_update, no_update
    children = _row_text(data, row)
    if data.renderer is not None and data.pixel_row[row] >= 0:
        from ..app import thumb_url

        children = [html.Img(src=thumb_url("true_color", data.ids[row], 96), className="tip-img"), *children]
    return True, pt.get("bbox"), children


@callback(Output(ids.SELECTION, "data", allow_duplicate=True), Input(ids.SCATTER, "selectedData"),
          prevent_initial_call=True)
def select(selected_data):
    if not selected_data:
        return no_update
    if selected_data.get("lassoPoints"):
        lp = selected_data["lassoPoints"]
        return {"kind": "lasso", "points": [[float(a), float(b)] for a, b in zip(lp["x"], lp["y"], strict=True)]}
    if selected_data.get("range"):
        r = selected_data["range"]
        return {"kind": "box", "range": [[float(v) for v in r["x"]], [float(v) for v in r["y"]]]}
    return no_update


@callback(Output(ids.SELECTED, "data", allow_duplicate=True), Input(ids.SCATTER, "clickData"),
          State(ids.SCATTER_VIEW, "data"), State(ids.FILTERS, "data"), prevent_initial_call=True)
def click(click_data, view, filters):
    if not click_data or not click_data.get("points"):
        return no_update
    pt = click_data["points"][0]
    data = get_data()
    row = nearest(data, pt["x"], pt["y"], view, filters=filters)
    return data.ids[row] if row is not None else no_update


