"""The scaffolding the raster figures share (the embedding scatter and the map): plain plotly, no callbacks.

A raster figure holds one layout image (the server's raster of the current view), then traces in a fixed
order, each found by name (:func:`trace_index`):

* ``hover``: an invisible heatmap grid over the view, so plotly reports hover and click positions anywhere
  (the server finds the patch there);
* ``select``: an invisible two-point trace spanning the view, which plotly's box and lasso tools need;
* the figure's own traces (the map's footprint slots);
* ``neighbours`` and ``focus``: the kNN neighbours and the patch in focus;
* overlays the composition root passes in (e.g. the tour's path and current stop), last, in the order given.

Callbacks update figures with ``dash.Patch`` by these indices, so a panel's re-render never touches another
panel's overlay traces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

__all__ = ["HOVER", "SELECT", "NEIGHBOURS", "FOCUS", "base_trace_names", "trace_index", "image_spec", "hover_xy",
           "raster_figure", "relayout_ranges", "only_autosize", "FOCUS_COLOR"]

HOVER, SELECT, NEIGHBOURS, FOCUS = "hover", "select", "neighbours", "focus"
FOCUS_COLOR = "#e4002b"


def base_trace_names(own: Sequence[str] = ()) -> tuple[str, ...]:
    """Names of a raster figure's traces before its overlays: hover, select, ``own``, neighbours, focus."""
    return (HOVER, SELECT, *own, NEIGHBOURS, FOCUS)


def trace_index(names: Sequence[str], name: str) -> int:
    """Index of the trace ``name`` in a figure whose traces are ``names`` (``ValueError`` if absent)."""
    return list(names).index(name)


def image_spec(box: dict, uri: str | None) -> dict:
    """The layout image covering ``box`` ({"x": [x0, x1], "y": [y0, y1]}, plot coordinates)."""
    return {"source": uri or "", "xref": "x", "yref": "y", "x": box["x"][0], "y": box["y"][1],
            "sizex": box["x"][1] - box["x"][0], "sizey": box["y"][1] - box["y"][0], "sizing": "stretch",
            "layer": "below"}


def hover_xy(box: dict, width: int, height: int) -> tuple[list, list]:
    """Grid coordinates of the invisible hover heatmap over ``box``."""
    return (np.linspace(box["x"][0], box["x"][1], width).tolist(),
            np.linspace(box["y"][0], box["y"][1], height).tolist())


def raster_figure(box: dict, *, hover_size: tuple[int, int], own: Sequence[go.Scatter] = (),
                  overlays: Sequence[go.Scatter] = ()) -> go.Figure:
    """A figure with the traces in the order of :func:`base_trace_names`, then ``overlays``; no layout image yet.

    Parameters
    ----------
    box : dict
        The plot-coordinate box the raster and the hover grid cover.
    hover_size : (int, int)
        Hover grid width and height.
    own : sequence of plotly traces
        The figure's own traces, between ``select`` and ``neighbours`` (each with a ``name``).
    overlays : sequence of plotly traces
        Traces other panels draw on this figure (patched by them only), last.
    """
    hx, hy = hover_xy(box, *hover_size)
    fig = go.Figure()
    fig.add_trace(go.Heatmap(x=hx, y=hy, z=np.zeros((hover_size[1], hover_size[0]), np.uint8), opacity=0,
                             showscale=False, hoverinfo="none", name=HOVER))
    fig.add_trace(go.Scatter(x=box["x"], y=box["y"], mode="markers", marker={"opacity": 0, "size": 1},
                             hoverinfo="skip", showlegend=False, name=SELECT))
    fig.add_traces(list(own))
    fig.add_trace(go.Scatter(x=[], y=[], mode="markers", hoverinfo="skip", showlegend=False, name=NEIGHBOURS,
                             marker={"size": 9, "color": "rgba(0,0,0,0)", "line": {"color": "#111", "width": 1.5}}))
    fig.add_trace(go.Scatter(x=[], y=[], mode="markers", hoverinfo="skip", showlegend=False, name=FOCUS,
                             marker={"size": 16, "symbol": "circle-open", "color": FOCUS_COLOR,
                                     "line": {"width": 3}}))
    fig.add_traces(list(overlays))
    return fig


def relayout_ranges(relayout: dict | None, current: dict) -> tuple[list[float], list[float]] | str | None:
    """The axis ranges in plotly's ``relayoutData`` (zoom, pan), completed from ``current``.

    Returns
    -------
    ``"reset"`` for a double-click reset (autorange), ``(x, y)`` sorted float ranges for a zoom or pan, or
    None when the event did not move the view (``autosize`` on load or resize, drawing a selection,
    switching the drag mode) or is malformed.
    """
    if not relayout:
        return None
    if relayout.get("xaxis.autorange") or relayout.get("yaxis.autorange"):
        return "reset"
    if "xaxis.range[0]" not in relayout and "xaxis.range" not in relayout and "yaxis.range[0]" not in relayout \
            and "yaxis.range" not in relayout:
        return None
    try:
        x = [relayout["xaxis.range[0]"], relayout["xaxis.range[1]"]] if "xaxis.range[0]" in relayout else \
            relayout.get("xaxis.range") or current["x"]
        y = [relayout["yaxis.range[0]"], relayout["yaxis.range[1]"]] if "yaxis.range[0]" in relayout else \
            relayout.get("yaxis.range") or current["y"]
        x, y = sorted(float(v) for v in x), sorted(float(v) for v in y)
    except (KeyError, TypeError, ValueError):
        return None
    if not (np.isfinite(x + y).all() and x[1] > x[0] and y[1] > y[0]):
        return None
    return x, y


def only_autosize(relayout) -> bool:
    """Whether ``relayoutData`` is plotly's first-layout ``autosize`` (which must redraw: Dash drops the still
    pending initial render when it arrives)."""
    return bool(relayout) and set(relayout) <= {"autosize"}
