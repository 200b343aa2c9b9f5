"""The map: patch centres (or, zoomed in, patch footprints) on an offline Natural Earth basemap.

Projection
    Web Mercator in degree units (:mod:`dashboard.geo`), with ``yaxis.scaleanchor="x"`` and ``scaleratio=1``,
    so shapes are right at every latitude (an equirectangular frame with ``scaleratio = 1/cos(lat)`` is only
    right at one latitude, and changing the ratio on every zoom makes plotly re-fit the ranges under the user's
    hands). The y ticks are placed at round latitudes and labelled in degrees. The ``MAP_VIEW`` store, the URL
    and the map's box selection stay in lon/lat degrees.

Layers, bottom to top
    one layout image (``layer="below"``) drawn on the server: water, land and borders of the basemap
    (:func:`dashboard.geo.basemap_image`, simplified for the zoom) with the patch raster composited over it ->
    the traces of :mod:`dashboard.figures` (hover grid, box-select helper, then this figure's footprint
    rectangles: ``FOOTPRINT_SLOTS`` ``fill="toself"`` traces, one per colour; kNN neighbours, the patch in
    focus; the overlays passed in). The browser lays out no vector basemap: a zoom costs one image swap.
    With *Scene view* on, the image is the basemap, the patches' own imagery and their outlines coloured by the
    scheme (:mod:`dashboard.scene`); the footprint traces stay empty.

Everything works offline: no tiles, no topojson, no fonts are fetched. Optional online tiles are not offered.
"""

from __future__ import annotations

import math
import time

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, Patch, State, callback, ctx, dcc, html, no_update

from mining.raster import Viewport, hex_to_rgb, image_uri, render_categorical

from .. import ids
from ..data import AppData, Filters, get_data
from ..figures import (
    FOCUS,
    HOVER,
    NEIGHBOURS,
    SELECT,
    base_trace_names,
    hover_xy,
    image_spec,
    only_autosize,
    raster_figure,
    relayout_ranges,
    trace_index,
)
from ..geo import (
    WATER,
    axis_ticks,
    basemap_image,
    footprint_bounds,
    from_plot,
    has_coordinates,
    lat_of,
    map_xy,
    merc_y,
    over,
    to_plot,
)
from ..scene import can_show_scene, is_scene, quicklook_composite, scene_image, scene_view
from ..selection import selection_mask
from ..urlstate import scene_from_search, search_with_scene
from ..views import GREY, nearest, raster_size, scheme_for

DENSITY_COLOR = "#d9480f"
EUROPE = {"x": [-25.0, 45.0], "y": [34.0, 72.0]}

IMG_LONG = 960         # raster pixels on the long side of the rendered box
ASPECT = 1.25          # width / height of the map panel's plot area, roughly (initial view only)
ASPECT_RANGE = (1.0, 1.6)  # the raster covers at least this range of aspects (plotly widens one axis to fit)
HOVER_SIZE = (192, 160)
#: the figure's margins (CSS px): the raster covers the plot area inside them
MARGIN = {"l": 44, "r": 8, "t": 8, "b": 26}
PLOT_PX = 480          # on-screen width of the plot area, roughly (click tolerance only)
CLICK_PX = 12.0
FOOTPRINT_MAX = 3000   # draw footprints when fewer patches than this touch the view
FOOTPRINT_MIN_PX = 3.0  # ... and when a typical footprint is at least this wide on screen
FOOTPRINT_SLOTS = 32   # footprint traces (one per colour); the rest share the last one
#: plotly config: a new box always starts a new selection (old outlines cannot be dragged)
CONFIG = {"scrollZoom": True, "displaylogo": False, "doubleClick": "reset", "editSelection": False,
          "modeBarButtonsToRemove": ["toImage", "autoScale2d", "lasso2d"]}

#: the figure's traces before its overlays
TRACES = base_trace_names([f"footprints {i}" for i in range(FOOTPRINT_SLOTS)])
T_HOVER, T_SELECT, T_FP = trace_index(TRACES, HOVER), trace_index(TRACES, SELECT), trace_index(TRACES, "footprints 0")
T_NEIGHBOURS, T_FOCUS = trace_index(TRACES, NEIGHBOURS), trace_index(TRACES, FOCUS)


# --------------------------------------------------------------------------- views
def full_view(data: AppData, margin: float = 0.05) -> dict:
    """lon/lat view of all patches with coordinates, footprints included (plus a margin, widened to the panel's
    aspect); Europe if none has coordinates."""
    lon, y = map_xy(data)
    ok = np.isfinite(lon) & np.isfinite(y)
    if not ok.any():
        return {k: list(v) for k, v in EUROPE.items()}
    b, has_b = footprint_bounds(data)
    x0, x1 = float(np.min(lon[ok], initial=np.min(b[0, has_b], initial=np.inf))), float(
        np.max(lon[ok], initial=np.max(b[2, has_b], initial=-np.inf)))
    y0, y1 = float(np.min(y[ok], initial=np.min(b[1, has_b], initial=np.inf))), float(
        np.max(y[ok], initial=np.max(b[3, has_b], initial=-np.inf)))
    span = max(x1 - x0, y1 - y0, 0.05)
    dx = (max(x1 - x0, 0.02 * span) + 2 * margin * span) / 2
    dy = (max(y1 - y0, 0.02 * span) + 2 * margin * span) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if dx < dy * ASPECT:
        dx = dy * ASPECT
    else:
        dy = dx / ASPECT
    dy = min(dy, 175.0)
    cy = float(np.clip(cy, -180 + dy, 180 - dy))
    return from_plot({"x": [cx - dx, cx + dx], "y": [cy - dy, cy + dy]})


def render_box(pview: dict, aspect: float | None = None) -> dict:
    """The plot-coordinate box the raster covers: ``pview`` widened (shorter side only) to the plot area's
    ``aspect`` (width / height; ``yaxis.scaleanchor`` makes plotly widen the view the same way), or, when the
    aspect is unknown, to one inside ``ASPECT_RANGE``; so the whole plot area is drawn."""
    (x0, x1), (y0, y1) = pview["x"], pview["y"]
    w, h = x1 - x0, y1 - y0
    lo, hi = ASPECT_RANGE if not aspect or aspect <= 0 else (aspect, aspect)
    if w < lo * h:
        cx, w = (x0 + x1) / 2, lo * h
        x0, x1 = cx - w / 2, cx + w / 2
    elif w > hi * h:
        cy, h = (y0 + y1) / 2, w / hi
        y0, y1 = cy - h / 2, cy + h / 2
    return {"x": [x0, x1], "y": [y0, y1]}


def image_size(box: dict, long_side: int = IMG_LONG) -> tuple[int, int]:
    w = box["x"][1] - box["x"][0]
    h = box["y"][1] - box["y"][0]
    if w >= h:
        return long_side, max(16, round(long_side * h / w))
    return max(16, round(long_side * w / h)), long_side


def view_from_relayout(relayout: dict | None, current: dict, full: dict) -> dict | None:
    """New lon/lat view from plotly's relayoutData (zoom / pan / reset), or None when the view did not change
    (``autosize`` on load or resize, drawing a selection, switching the drag mode)."""
    cur = to_plot(current)
    r = relayout_ranges(relayout, cur)
    if r == "reset":
        return full
    if r is None:
        return None
    x, y = r
    tol = 1e-9 * max(x[1] - x[0], y[1] - y[0])
    if np.allclose(x, cur["x"], rtol=0, atol=tol) and np.allclose(y, cur["y"], rtol=0, atol=tol):
        return None
    y = [float(np.clip(v, -180.0, 180.0)) for v in y]
    if y[1] <= y[0]:
        return None
    return from_plot({"x": x, "y": y})


# --------------------------------------------------------------------------- rendering
def _palette_codes(data: AppData, color: str, smask: np.ndarray | None):
    """(codes with the grey index for unselected rows, palette hex list incl. grey as the last entry)."""
    if color == "density":
        codes, colors = np.zeros(data.n, np.int16), [DENSITY_COLOR]
    else:
        sch = scheme_for(data, color)
        codes, colors = sch.codes, list(sch.colors)
    colors = [*colors, GREY]
    if smask is not None:
        codes = np.where(smask, codes, len(colors) - 1).astype(np.int16)
    return codes, colors


def render_map(data: AppData, view: dict, color: str = "label", filters: dict | None = None,
               sel: dict | None = None, *, long_side: int = IMG_LONG, aspect: float | None = None,
               footprint_max: int = FOOTPRINT_MAX, scene: bool = False, composite: str | None = None) -> dict:
    """Everything the map draws for a lon/lat ``view``.

    Filtered-out patches are hidden; patches outside the selection are grey. When fewer than
    ``footprint_max`` patches (passing the filters) touch the drawn box and a typical footprint is at least
    ``FOOTPRINT_MIN_PX`` wide on screen, their footprints replace the raster. ``scene``: the scene view (the
    patches' ``composite`` under their outlines, :func:`dashboard.scene.scene_view`) replaces both where it can
    be drawn.

    Returns
    -------
    dict
        ``box`` (plot-coordinate box the image and hover grid cover), ``rgba`` (uint8 (H, W, 4): the basemap with
        the patches over it), ``layer`` (the patches alone, transparent elsewhere; None when no patch is in the
        raster), ``footprints`` (list of (hex colour, rows), empty in raster mode),
        ``in_view`` (patches passing the filters whose centre is in ``view``), ``selected`` (selected patches
        passing the filters, or None), ``mode`` ("raster" | "footprints" | "scene"), ``scene`` (the scene view's
        ``image``, ``scale``, ``tile``... when the mode is "scene"; ``False`` when it was asked for and cannot be
        drawn here; None when not asked), ``ms`` (render time).
    """
    t0 = time.perf_counter()
    pview = to_plot(view)
    box = render_box(pview, aspect)
    W, H = image_size(box, long_side)
    vp = Viewport(box["x"], box["y"], W, H)
    lon, y = map_xy(data)
    fmask = data.mask(Filters.from_dict(filters))
    smask = selection_mask(data, sel)
    codes, colors = _palette_codes(data, color, smask)

    (vx0, vx1), (vy0, vy1) = pview["x"], pview["y"]
    (bx0, bx1), (by0, by1) = box["x"], box["y"]
    in_box = (lon >= bx0) & (lon <= bx1) & (y >= by0) & (y <= by1)
    if fmask is not None:
        in_box &= fmask
    idx = np.flatnonzero(in_box)  # rows drawn (centres in the box, passing the filters)
    in_view = int(((lon[idx] >= vx0) & (lon[idx] <= vx1) & (y[idx] >= vy0) & (y[idx] <= vy1)).sum())

    b, has_b = footprint_bounds(data)
    footprints, rows_fp = [], None
    sv = scene_view(data, vp, composite, codes, colors, fmask) if scene else None
    if sv is not None:  # the scene view stands for its patches: only the others stay dots
        has_b = sv["covers"]
    elif in_view <= footprint_max:  # only then can the footprints touching the (larger) box be few enough
        touch = (b[2] >= bx0) & (b[0] <= bx1) & (b[3] >= by0) & (b[1] <= by1)
        if fmask is not None:
            touch &= fmask
        rows_fp = np.flatnonzero(touch)
        if len(rows_fp) > footprint_max or not len(rows_fp):
            rows_fp = None
        else:  # too small to see at this zoom: dots in the raster say more
            width_px = float(np.median(b[2, rows_fp] - b[0, rows_fp])) / (vx1 - vx0) * PLOT_PX
            if not width_px >= FOOTPRINT_MIN_PX:
                rows_fp = None
    mode = "scene" if sv is not None else "footprints" if rows_fp is not None else "raster"

    rgba = None
    # (an empty raster is skipped: rasterize_categorical cannot shade zero points)
    if len(idx) and (mode == "raster" or not has_b[idx].all()):
        rsel = fmask
        if mode != "raster":  # only the patches without a footprint (or pixels, in the scene view) stay dots
            rsel = ~has_b if fmask is None else (fmask & ~has_b)
        rgba, cnt = render_categorical(lon, y, codes, colors, vp, sel=rsel,
                                       density=color == "density" and mode == "raster")
        if not cnt.any():
            rgba = None
    base = basemap_image(data, box, W, H)
    if sv is not None:
        base = over(sv["image"], base)
        rgba = sv["outlines"] if rgba is None else np.where(rgba[..., 3:] > 0, rgba, sv["outlines"])
    layer = rgba
    rgba = over(layer, base)
    if mode == "footprints" and len(rows_fp):
        footprints = _group_by_colour(codes[rows_fp], rows_fp, colors)
    selected = None
    if smask is not None:
        selected = int((smask & fmask).sum() if fmask is not None else smask.sum())
    return {"box": box, "rgba": rgba, "layer": layer, "footprints": footprints, "in_view": in_view,
            "selected": selected, "scene": sv if sv is not None else (False if scene else None),
            "mode": mode, "ms": round((time.perf_counter() - t0) * 1e3, 1)}


def _group_by_colour(codes: np.ndarray, rows: np.ndarray, colors: list[str],
                     slots: int = FOOTPRINT_SLOTS) -> list[tuple[str, np.ndarray]]:
    """Rows grouped by colour, largest groups first; beyond ``slots`` groups the rest share the last one."""
    ok = codes >= 0
    codes, rows = codes[ok], rows[ok]
    uniq, counts = np.unique(codes, return_counts=True)
    order = uniq[np.argsort(-counts, kind="stable")]
    groups = [(colors[c], rows[codes == c]) for c in order[:slots - 1]]
    rest = order[slots - 1:]
    if len(rest):
        groups.append((colors[rest[0]], rows[np.isin(codes, rest)]))
    return groups


def footprint_xy(data: AppData, rows: np.ndarray) -> tuple[list, list]:
    """None-separated closed rectangles (plot coordinates) of the footprints of ``rows``, from the catalog's
    lon_min / lat_min / lon_max / lat_max."""
    if not len(rows):
        return [], []
    cat = data.cat
    x0 = cat["lon_min"].to_numpy(np.float64)[rows]
    x1 = cat["lon_max"].to_numpy(np.float64)[rows]
    y0 = merc_y(cat["lat_min"].to_numpy(np.float64)[rows])
    y1 = merc_y(cat["lat_max"].to_numpy(np.float64)[rows])
    nan = np.full(len(rows), np.nan)
    xs = np.round(np.c_[x0, x1, x1, x0, x0, nan], 7).ravel().tolist()
    ys = np.round(np.c_[y0, y0, y1, y1, y0, nan], 7).ravel().tolist()
    return [None if v != v else v for v in xs], [None if v != v else v for v in ys]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = hex_to_rgb([hex_color])[0]
    return f"rgba({r},{g},{b},{alpha})"


# --------------------------------------------------------------------------- figure
def focus_xy(data: AppData, selected: str | None) -> tuple[list, list, list, list]:
    """(focus x, focus y, neighbours x, neighbours y) in plot coordinates; empty when not on the map."""
    row = data.find(selected) if selected else None
    if row is None or not (np.isfinite(data.lon[row]) and np.isfinite(data.lat[row])):
        return [], [], [], []
    lon, y = map_xy(data)
    nb = [r for r in data.neighbours(row, 10) if np.isfinite(lon[r]) and np.isfinite(y[r])]
    return [float(lon[row])], [float(y[row])], lon[nb].tolist(), y[nb].tolist()


def figure(data: AppData, view: dict, image_uri: str | None = None, *, overlays=()) -> go.Figure:
    """The map figure for a lon/lat view (an image slot for the basemap and the patches, empty footprint slots,
    empty markers), traces in :data:`TRACES` order, then ``overlays``."""
    pview = to_plot(view)
    box = render_box(pview)
    own = [go.Scatter(x=[], y=[], mode="lines", fill="toself", hoverinfo="skip", showlegend=False,
                      name=f"footprints {i}", line={"width": 1, "color": GREY}, fillcolor=GREY)
           for i in range(FOOTPRINT_SLOTS)]
    fig = raster_figure(box, hover_size=HOVER_SIZE, own=own, overlays=overlays)
    t = axis_ticks(pview)
    axis = {"showgrid": False, "zeroline": False, "title": None, "tickmode": "array", "ticks": "outside",
            "ticklen": 3, "showline": True, "linecolor": "#b8c2cc", "mirror": True, "tickfont": {"size": 10}}
    fig.update_layout(
        margin=MARGIN, dragmode="select", plot_bgcolor=WATER, paper_bgcolor="white",
        xaxis={**axis, "range": pview["x"], "tickvals": t["xvals"], "ticktext": t["xtext"]},
        yaxis={**axis, "range": pview["y"], "tickvals": t["yvals"], "ticktext": t["ytext"], "scaleanchor": "x",
               "scaleratio": 1},
        images=[image_spec(box, image_uri)], uirevision="keep", hovermode="closest", showlegend=False,
        meta={"scene_scale": None},
    )
    return fig


def update_patch(data: AppData, view: dict, result: dict, selected: str | None, sel: dict | None = None, *,
                 geometry: bool = True, focus: bool = True) -> Patch:
    """The dash.Patch that brings the map figure to ``view`` and ``result`` (from :func:`render_map`).

    ``geometry`` False: the view and the plot's size did not change, so the ranges, ticks, hover grid and box
    are not sent again (new arrays make plotly recompute traces); footprints only when they are drawn.
    ``focus`` False: the patch in focus did not change (its markers are not sent)."""
    pview = to_plot(view)
    box = result["box"]
    p = Patch()
    p["layout"]["images"][0] = image_spec(box, image_uri(result["rgba"]))
    # the scale the scene view shows: a box drawn now selects that scale's patches (assets/plots.js)
    p["layout"]["meta"] = {"scene_scale": scene_scale(data, result)}
    if geometry:
        t = axis_ticks(pview)
        p["layout"]["xaxis"]["range"] = pview["x"]
        p["layout"]["yaxis"]["range"] = pview["y"]
        p["layout"]["xaxis"]["tickvals"], p["layout"]["xaxis"]["ticktext"] = t["xvals"], t["xtext"]
        p["layout"]["yaxis"]["tickvals"], p["layout"]["yaxis"]["ticktext"] = t["yvals"], t["ytext"]
        p["data"][T_HOVER]["x"], p["data"][T_HOVER]["y"] = hover_xy(box, *HOVER_SIZE)
        p["data"][T_SELECT]["x"], p["data"][T_SELECT]["y"] = box["x"], box["y"]
    groups = result["footprints"]
    for i in range(FOOTPRINT_SLOTS if geometry or groups else 0):
        if i < len(groups):
            colour, rows = groups[i]
            xs, ys = footprint_xy(data, rows)
            p["data"][T_FP + i]["x"], p["data"][T_FP + i]["y"] = xs, ys
            p["data"][T_FP + i]["fillcolor"] = _rgba(colour, 0.55)
            p["data"][T_FP + i]["line"]["color"] = colour
        else:
            p["data"][T_FP + i]["x"], p["data"][T_FP + i]["y"] = [], []
    if focus:
        fx, fy, nx, ny = focus_xy(data, selected)
        p["data"][T_NEIGHBOURS]["x"], p["data"][T_NEIGHBOURS]["y"] = nx, ny
        p["data"][T_FOCUS]["x"], p["data"][T_FOCUS]["y"] = fx, fy
    return p


def scene_scale(data: AppData, result: dict) -> float | None:
    """The patch size (m) the scene view shows when the workspace has several (``--scales``), else None."""
    sv = result.get("scene")
    if not sv or not np.isfinite(sv.get("scale", np.nan)) or "scale_m" not in data.cat.columns:
        return None
    return float(sv["scale"]) if data.cat["scale_m"].nunique() > 1 else None


def info_text(data: AppData, result: dict) -> str:
    n = result["in_view"]
    text = f"{n:,} patch{'' if n == 1 else 'es'} in view"
    if result["mode"] == "footprints":
        text += " (footprints)"
    sv = result.get("scene")
    if sv:
        text += " · scene" + (f" {sv['scale']:,.0f} m" if np.isfinite(sv["scale"]) else "")
    elif sv is False:
        text += " · zoom in for the scene view"
    if result["selected"] is not None:
        text += f" · {result['selected']:,} selected"
    missing = int((~(np.isfinite(data.lon) & np.isfinite(data.lat))).sum())
    if missing:
        text += f" · {missing:,} without coordinates"
    return text


def map_update(data: AppData, from_relayout: bool, relayout, color, filters, sel, selected, view,
               size: dict | None = None, *, only_relayout: bool | None = None, geometry: bool = True,
               focus: bool = True, scene: bool = False, composite: str | None = None):
    """Body of the map callback: (figure Patch | no_update, new view | no_update, info text | no_update).

    ``from_relayout``: the relayout store is among the triggers (its view is applied); ``only_relayout`` (default:
    ``from_relayout``): it is the only one, so a relayout that does not move the view draws nothing.
    ``geometry`` / ``focus``: see :func:`update_patch`. ``scene`` / ``composite``: see :func:`render_map`."""
    if not has_coordinates(data):
        return no_update, no_update, "no patch has coordinates"
    full = full_view(data)
    view = view if view and view.get("x") and view.get("y") else full
    new_view = view_from_relayout(relayout, view, full) if from_relayout else None
    only_relayout = from_relayout if only_relayout is None else only_relayout
    if only_relayout and new_view is None and not only_autosize(relayout):
        return no_update, no_update, no_update  # selection drawing, drag-mode switch...: nothing to redraw
    view = new_view or view
    try:
        area = raster_size(size, None, margin=MARGIN)  # the plot area in device pixels, when known
        result = render_map(data, view, color or "label", filters, sel, long_side=max(area or (IMG_LONG,)),
                            aspect=area[0] / area[1] if area else None, scene=scene, composite=composite)
    except ValueError as exc:
        return no_update, no_update, f"Cannot draw this view: {exc}"
    return (update_patch(data, view, result, selected, sel, geometry=geometry or new_view is not None, focus=focus),
            (new_view or no_update), info_text(data, result))


def nearest_patch(data: AppData, lon: float, y: float, view: dict, filters: dict | None = None, *,
                  shown: np.ndarray | None = None) -> int | None:
    """Catalog row of the patch clicked at plot position (lon, Mercator y): the one whose footprint contains
    the point (nearest centre first; among the ``shown`` rows first, the scene view's scale), else the nearest
    centre within ``CLICK_PX`` screen pixels (:func:`dashboard.views.nearest` on lon/lat)."""
    fmask = data.mask(Filters.from_dict(filters))
    b, _ = footprint_bounds(data)
    hit = (b[0] <= lon) & (b[2] >= lon) & (b[1] <= y) & (b[3] >= y)
    if fmask is not None:
        hit &= fmask
    rows = np.flatnonzero(hit)
    if shown is not None and np.isin(rows, shown).any():
        rows = rows[np.isin(rows, shown)]
    if len(rows):
        cx, cy = map_xy(data)
        return int(rows[np.argmin(np.hypot(cx[rows] - lon, cy[rows] - y))])
    lat = float(lat_of(y))
    # a local lon/lat window with the screen's scale around the click (Mercator: dlat = cos(lat) dY)
    deg_px = (view["x"][1] - view["x"][0]) / PLOT_PX
    half = PLOT_PX / 2 * deg_px
    local = {"x": [lon - half, lon + half],
             "y": [lat - half * math.cos(math.radians(lat)), lat + half * math.cos(math.radians(lat))]}
    return nearest(data, lon, lat, local, coords="map", max_px=CLICK_PX, filters=filters, size=(PLOT_PX, PLOT_PX))


def selection_from_box(selected_data: dict | None) -> dict | None:
    """plotly's selectedData of a box on the map -> ``{"kind": "map", "range": [[lon0, lon1], [lat0, lat1]]}``."""
    if not selected_data or not selected_data.get("range"):
        return None
    r = selected_data["range"]
    try:
        xs = sorted(float(v) for v in r["x"])
        ys = sorted(float(v) for v in lat_of([float(v) for v in r["y"]]))
    except (KeyError, TypeError, ValueError):
        return None
    return {"kind": "map", "range": [[round(v, 7) for v in xs], [round(v, 7) for v in ys]]}


# --------------------------------------------------------------------------- layout + callbacks
def layout(data: AppData, *, overlays=()) -> html.Section:
    """The panel; ``overlays`` are other panels' traces drawn on the map (see :mod:`dashboard.figures`)."""
    view = full_view(data)
    config = CONFIG
    if has_coordinates(data):
        body = dcc.Graph(id=ids.MAP, figure=figure(data, view, overlays=overlays), className="graph", config=config)
    else:
        body = html.Div([
            html.Div(className="empty", children=[
                "No patch in this workspace has coordinates (EuroSAT RGB JPEGs carry no georeference), so "
                "there is nothing to put on the map."]),
            dcc.Graph(id=ids.MAP, figure=go.Figure(), style={"display": "none"}, config=config),
        ])
    toggle = dcc.Checklist(id=ids.MAP_SCENE, options=[{"label": "Scene view", "value": "on"}],
                           value=["on"] if is_scene(data) else [], inline=True, className="checklist scene-toggle",
                           style=None if can_show_scene(data) else {"display": "none"})
    return html.Section(className="panel map-panel", children=[
        html.Div(className="panel-head", children=[html.H2("Map"), html.Span(id=ids.MAP_INFO), toggle]),
        dcc.Loading(body, id=ids.MAP_LOADING, type="dot", delay_show=400,
                    overlay_style={"visibility": "visible", "opacity": 0.6}),
        dcc.Store(id=ids.MAP_VIEW, data=view),
        dcc.Store(id=ids.MAP_RELAYOUT, data=None),
        dcc.Store(id=ids.MAP_SIZE, data=None),
    ])




@callback(Output(ids.MAP, "figure"), Output(ids.MAP_VIEW, "data", allow_duplicate=True),
          Output(ids.MAP_INFO, "children"),
          Input(ids.MAP_RELAYOUT, "data"), Input(ids.COLOR_BY, "value"), Input(ids.FILTERS, "data"),
          Input(ids.SELECTION, "data"), Input(ids.SELECTED, "data"), Input(ids.MAP_VIEW, "data"),
          Input(ids.EDITS_VERSION, "data"), Input(ids.SCORES_VERSION, "data"), Input(ids.URL_READY, "data"),
          Input(ids.MAP_SIZE, "data"), Input(ids.PREDICTIONS_VERSION, "data"), Input(ids.MAP_SCENE, "value"),
          Input(ids.COMPOSITE, "value"), prevent_initial_call=True)
def update_map(relayout, color, filters, sel, selected, view, _edits_version=None, _scores_version=None,
               ready=True, size=None, _predictions_version=None, scene=None, composite=None):
    if not ready or not size:  # the first render waits for the URL's state and the plot's size: one per load
        return no_update, no_update, no_update
    # on page load Dash may list the (empty) relayout store among the triggers: the render must still happen
    trig = set(ctx.triggered_prop_ids or ())
    if trig == {f"{ids.COMPOSITE}.value"} and not scene:  # the composite is drawn only in the scene view
        return no_update, no_update, no_update
    key = f"{ids.MAP_RELAYOUT}.data"
    # a change of colour, composite, filters, selection, edits or scores keeps the view: only the image is sent
    # again (the scene toggle sends everything: it switches the footprint traces on or off)
    keeps_view = {f"{i}.data" for i in (ids.FILTERS, ids.SELECTION, ids.SELECTED, ids.EDITS_VERSION,
                                        ids.SCORES_VERSION, ids.PREDICTIONS_VERSION)} | {
        f"{i}.value" for i in (ids.COLOR_BY, ids.COMPOSITE)}
    return map_update(get_data(), key in trig and relayout is not None, relayout, color, filters, sel, selected,
                      view, size, only_relayout=trig == {key}, geometry=not trig or not trig <= keeps_view,
                      focus=not trig or not trig <= keeps_view - {f"{ids.SELECTED}.data"},
                      scene=bool(scene), composite=composite)




@callback(Output(ids.SELECTED, "data", allow_duplicate=True), Input(ids.MAP, "clickData"),
          State(ids.MAP_VIEW, "data"), State(ids.FILTERS, "data"), State(ids.MAP_SCENE, "value"),
          State(ids.MAP_SIZE, "data"), State(ids.COMPOSITE, "value"), prevent_initial_call=True)
def map_click(click_data, view, filters, scene=None, size=None, composite=None):
    if not click_data or not click_data.get("points"):
        return no_update
    pt = click_data["points"][0]
    data = get_data()
    if not has_coordinates(data) or pt.get("x") is None or pt.get("y") is None:
        return no_update
    view = view or full_view(data)
    shown, comp = None, quicklook_composite(data, composite)
    if scene and comp:  # the patches of the scale the scene view shows (its cached imagery of this view says which)
        area = raster_size(size, None, margin=MARGIN)
        box = render_box(to_plot(view), area[0] / area[1] if area else None)
        img = scene_image(data, Viewport(box["x"], box["y"], *image_size(box, max(area or (IMG_LONG,)))), comp)
        shown = img["rows"] if img else None
    row = nearest_patch(data, float(pt["x"]), float(pt["y"]), view, filters, shown=shown)
    return data.ids[row] if row is not None else no_update


# --------------------------------------------------------------------------- the scene view in the link
@callback(Output(ids.MAP_SCENE, "value", allow_duplicate=True), Input(ids.URL, "pathname"),
          State(ids.URL, "search"), prevent_initial_call="initial_duplicate")
def scene_from_url(_path, search):
    """A link's ``scene=0`` / ``scene=1`` switches the scene view when the page loads."""
    data = get_data()
    if not can_show_scene(data):
        return no_update
    default = is_scene(data)
    on = scene_from_search(search, default)
    return no_update if on == default else (["on"] if on else [])


@callback(Output(ids.URL, "search", allow_duplicate=True), Input(ids.MAP_SCENE, "value"),
          State(ids.URL, "search"), State(ids.URL_READY, "data"), prevent_initial_call=True)
def scene_to_url(value, search, ready):
    """The scene view's state in the link (only when it differs from the workspace's default)."""
    if not ready:
        return no_update
    new = search_with_scene(search, bool(value), is_scene(get_data()))
    return new if new != (search or "") else no_update

