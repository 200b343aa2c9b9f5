"""Sidebar: colour-by, thumbnail composite, filters (labels, split, country, flags), selection, URL state."""

from __future__ import annotations

from dash import Input, Output, State, callback, dcc, html, no_update

from mining.composites import COMPOSITES

from .. import ids
from ..data import COLOR_BY, AppData, get_data
from ..selection import combined_mask, describe_selection, selection_mask
from ..urlstate import decode_state, encode_state, keep_other_keys

SELECTION_HINT = "Lasso or box on the embedding, or a box on the map, selects patches."
FLAG_OPTIONS = [{"label": "clear", "value": "clear"}, {"label": "cloud or shadow", "value": "cloud_or_shadow"},
                {"label": "seasonal snow", "value": "seasonal_snow"}]


def layout(data: AppData) -> list:
    comps = data.renderer.composites_ if data.renderer is not None else []
    return [
        html.H3("View"),
        html.Label("Colour by", htmlFor=ids.COLOR_BY),
        dcc.Dropdown(id=ids.COLOR_BY, options=[{"label": v, "value": k} for k, v in COLOR_BY.items()],
                     value="label", clearable=False),
        html.Label("Thumbnails", htmlFor=ids.COMPOSITE),
        dcc.Dropdown(id=ids.COMPOSITE, options=[{"label": COMPOSITES[c].title, "value": c} for c in comps],
                     value=comps[0] if comps else None, clearable=False, disabled=not comps),
        html.H3("Filters"),
        html.Label("Labels", htmlFor=ids.FILTER_LABELS),
        dcc.Dropdown(id=ids.FILTER_LABELS, multi=True, placeholder="any label",
                     options=[{"label": s, "value": c} for c, s in zip(data.classes, data.short, strict=True)]),
        dcc.RadioItems(id=ids.FILTER_LABEL_MODE, value="any", inline=True, className="radio",
                       options=[{"label": "any of them", "value": "any"}, {"label": "all of them", "value": "all"}]),
        html.Label("Split"),
        dcc.Checklist(id=ids.FILTER_SPLITS, options=list(data.splits), value=[], className="checklist"),
        html.Label("Country", htmlFor=ids.FILTER_COUNTRIES),
        dcc.Dropdown(id=ids.FILTER_COUNTRIES, options=list(data.countries), multi=True, placeholder="any country"),
        html.Label("Flags"),
        dcc.Checklist(id=ids.FILTER_FLAGS, options=FLAG_OPTIONS, value=[], className="checklist"),
        html.H3("Selection"),
        html.Div(id=ids.SELECTION_INFO, className="hint", children=SELECTION_HINT),
        html.Button("Clear selection", id=ids.CLEAR_SELECTION, n_clicks=0, className="btn"),
    ]


@callback(Output(ids.FILTERS, "data"),
          Input(ids.FILTER_LABELS, "value"), Input(ids.FILTER_LABEL_MODE, "value"), Input(ids.FILTER_SPLITS, "value"),
          Input(ids.FILTER_COUNTRIES, "value"), Input(ids.FILTER_FLAGS, "value"))
def update_filters(labels, mode, splits, countries, flags):
    return {"labels": labels or [], "label_mode": mode or "any", "splits": splits or [],
            "countries": countries or [], "flags": flags or []}


@callback(Output(ids.SELECTION, "data", allow_duplicate=True), Input(ids.CLEAR_SELECTION, "n_clicks"),
          prevent_initial_call=True)
def clear_selection(_):
    return None


@callback(Output(ids.SELECTION_INFO, "children"), Input(ids.SELECTION, "data"), Input(ids.FILTERS, "data"))
def selection_info(sel, filters):
    data = get_data()
    try:
        s = selection_mask(data, sel)
    except ValueError as exc:
        return f"Selection ignored: {exc}"
    if s is None:
        return SELECTION_HINT
    m = combined_mask(data, filters, sel)
    text = describe_selection(sel, int(s.sum()))
    if m is not None and int(m.sum()) != int(s.sum()):
        text += f" ({int(m.sum()):,} pass the filters)"
    return text


@callback(
    Output(ids.COLOR_BY, "value"), Output(ids.COMPOSITE, "value"), Output(ids.FILTER_LABELS, "value"),
    Output(ids.FILTER_LABEL_MODE, "value"), Output(ids.FILTER_SPLITS, "value"),
    Output(ids.FILTER_COUNTRIES, "value"), Output(ids.FILTER_FLAGS, "value"),
    Output(ids.SELECTED, "data", allow_duplicate=True), Output(ids.SCATTER_VIEW, "data", allow_duplicate=True),
    Output(ids.MAP_VIEW, "data", allow_duplicate=True), Output(ids.GRID_PAGE, "data", allow_duplicate=True),
    Output(ids.URL_READY, "data"),
    Input(ids.URL, "search"), State(ids.URL_READY, "data"), State(ids.COMPOSITE, "options"),
    prevent_initial_call="initial_duplicate")
def restore_from_url(search, ready, comp_options):
    """Apply the URL's state once, when the page loads (later URL writes come from the app itself)."""
    if ready:
        return (no_update,) * 11 + (True,)
    data = get_data()
    st = decode_state(search)
    f = st["filters"]
    comps = {o["value"] for o in comp_options or []}
    selected = st["selected"] if data.find(st["selected"]) is not None else None
    return (st["color"] if st["color"] in COLOR_BY else "label",
            st["composite"] if st["composite"] in comps else no_update,
            [lab for lab in f["labels"] if lab in data.classes], f["label_mode"],
            [s for s in f["splits"] if s in data.splits], [c for c in f["countries"] if c in data.countries],
            [x for x in f["flags"] if x in {o["value"] for o in FLAG_OPTIONS}],
            selected, st["scatter"] if st["scatter"].get("x") else no_update,
            st["map"] if st["map"].get("x") else no_update, st["page"], True)


@callback(Output(ids.URL, "search"),
          Input(ids.COLOR_BY, "value"), Input(ids.COMPOSITE, "value"), Input(ids.FILTERS, "data"),
          Input(ids.SELECTED, "data"), Input(ids.SCATTER_VIEW, "data"), Input(ids.MAP_VIEW, "data"),
          Input(ids.GRID_PAGE, "data"), State(ids.URL_READY, "data"), State(ids.URL, "search"),
          prevent_initial_call=True)
def write_url(color, composite, filters, selected, scatter_view, map_view, page, ready, current):
    if not ready:
        return no_update
    search = encode_state({"color": color, "composite": composite, "filters": filters, "selected": selected,
                           "scatter": scatter_view, "map": map_view, "page": page})
    search = keep_other_keys(search, current)  # keys other panels write themselves (e.g. the tour's)
    return search if search != current else no_update


