"""Sidebar: colour-by, thumbnail composite, filters (labels incl. "no label", split, country, flags), the
selection (what it holds, a name for it, Clear), and the URL state that makes a link reproduce the view.

Filters a workspace has no values for (EuroSAT has no split or country) are left out rather than shown empty.
"""

from __future__ import annotations

from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from mining.composites import COMPOSITES

from .. import ids
from ..data import COLOR_BY, NO_LABEL, AppData, color_options, get_data
from ..selection import combined_mask, describe_selection, selection_mask
from ..urlstate import decode_state, encode_state, keep_other_keys

SELECTION_HINT = "Lasso or box on the embedding, or a box on the map, selects patches."
FLAG_OPTIONS = [{"label": "clear", "value": "clear"}, {"label": "cloud or shadow", "value": "cloud_or_shadow"},
                {"label": "seasonal snow", "value": "seasonal_snow"}]


def label_options(data: AppData) -> list[dict]:
    """The label filter's choices: every class (short name) and "(no label)"."""
    return [*({"label": s, "value": c} for c, s in zip(data.classes, data.short, strict=True)),
            {"label": "(no label)", "value": NO_LABEL}]


def layout(data: AppData) -> list:
    comps = data.renderer.composites_ if data.renderer is not None else []
    split = [html.Label("Split"),
             dcc.Checklist(id=ids.FILTER_SPLITS, options=list(data.splits), value=[], className="checklist")]
    country = [html.Label("Country", htmlFor=ids.FILTER_COUNTRIES),
               dcc.Dropdown(id=ids.FILTER_COUNTRIES, options=list(data.countries), multi=True,
                            placeholder="any country")]
    hidden = {"display": "none"}  # the controls stay (callbacks and the URL name them), out of sight when empty
    return [
        html.H3("View"),
        html.Label("Colour by", htmlFor=ids.COLOR_BY),
        dcc.Dropdown(id=ids.COLOR_BY, options=color_options(data),
                     value="label", clearable=False),
        html.Label("Thumbnails", htmlFor=ids.COMPOSITE),
        dcc.Dropdown(id=ids.COMPOSITE, options=[{"label": COMPOSITES[c].title, "value": c} for c in comps],
                     value=comps[0] if comps else None, clearable=False, disabled=not comps),
        html.H3("Filters"),
        html.Label("Labels", htmlFor=ids.FILTER_LABELS),
        dcc.Dropdown(id=ids.FILTER_LABELS, multi=True, placeholder="any label", options=label_options(data)),
        dcc.RadioItems(id=ids.FILTER_LABEL_MODE, value="any", inline=True, className="radio",
                       options=[{"label": "any of them", "value": "any"}, {"label": "all of them", "value": "all"}]),
        html.Div(split, style=None if data.has_splits else hidden),
        html.Div(country, style=None if data.countries else hidden),
        html.Label("Flags"),
        dcc.Checklist(id=ids.FILTER_FLAGS, options=FLAG_OPTIONS, value=[], className="checklist"),
        html.H3("Selection"),
        html.Div(id=ids.SELECTION_INFO, className="hint", children=SELECTION_HINT),
        dcc.Input(id=ids.SELECTION_NAME, type="text", placeholder="name this selection (kept in the link)",
                  maxLength=80, debounce=True, className="curate-input selection-name"),
        html.Button("Clear selection", id=ids.CLEAR_SELECTION, n_clicks=0, className="btn"),
    ]


# the filters store is written in the browser, and only when the filters really changed (the URL restore setting
# the controls to what they already were must not cost every panel a render)
clientside_callback(
    """function(labels, mode, splits, countries, flags, current) {
        const f = {labels: labels || [], label_mode: mode || 'any', splits: splits || [], countries: countries || [],
                   flags: flags || []};
        return JSON.stringify(f) === JSON.stringify(current) ? window.dash_clientside.no_update : f; }""",
    Output(ids.FILTERS, "data"),
    Input(ids.FILTER_LABELS, "value"), Input(ids.FILTER_LABEL_MODE, "value"), Input(ids.FILTER_SPLITS, "value"),
    Input(ids.FILTER_COUNTRIES, "value"), Input(ids.FILTER_FLAGS, "value"), State(ids.FILTERS, "data"))


# Clear selection empties the store and the name box (both figures drop their outlines when the store is empty)
clientside_callback("function(_n) { return [null, '']; }",
                    Output(ids.SELECTION, "data", allow_duplicate=True),
                    Output(ids.SELECTION_NAME, "value", allow_duplicate=True),
                    Input(ids.CLEAR_SELECTION, "n_clicks"), prevent_initial_call=True)

# on a new selection, in the browser: its outline stays only on the figure that drew it (a cleared selection, or
# one made on the other figure, removes it at once, never later, when a render in flight could remove a new one);
# and it starts unnamed (one restored from a link brings its name; the name lives in its input box, so naming a
# selection redraws nothing)
clientside_callback(
    """function(sel) {
        const clear = (id, own) => {
            const gd = document.querySelector('#' + id + ' .js-plotly-plot');
            if (gd && window.Plotly && (!sel || !own.includes(sel.kind)) && (gd.layout.selections || []).length) {
                window.Plotly.relayout(gd, {selections: []});
            }
        };
        clear('scatter-graph', ['lasso', 'box']);
        clear('map-graph', ['map']);
        return (sel && sel.name) ? sel.name : ''; }""",
    Output(ids.SELECTION_NAME, "value"), Input(ids.SELECTION, "data"), prevent_initial_call=True)


@callback(Output(ids.SELECTION_INFO, "children"), Input(ids.SELECTION, "data"), Input(ids.FILTERS, "data"),
          Input(ids.SELECTION_NAME, "value"))
def selection_info(sel, filters, name=None):
    data = get_data()
    try:
        s = selection_mask(data, sel)
    except ValueError as exc:
        return f"Selection ignored: {exc}"
    if s is None:
        return SELECTION_HINT
    m = combined_mask(data, filters, sel)
    text = describe_selection(sel, int(s.sum()))
    if name:
        text = f"“{name}”: " + text
    if m is not None and int(m.sum()) != int(s.sum()):
        text += f" ({int(m.sum()):,} pass the filters)"
    return text


@callback(
    Output(ids.COLOR_BY, "value"), Output(ids.COMPOSITE, "value"), Output(ids.FILTER_LABELS, "value"),
    Output(ids.FILTER_LABEL_MODE, "value"), Output(ids.FILTER_SPLITS, "value"),
    Output(ids.FILTER_COUNTRIES, "value"), Output(ids.FILTER_FLAGS, "value"),
    Output(ids.SELECTED, "data", allow_duplicate=True), Output(ids.SCATTER_VIEW, "data", allow_duplicate=True),
    Output(ids.MAP_VIEW, "data", allow_duplicate=True), Output(ids.GRID_PAGE, "data", allow_duplicate=True),
    Output(ids.SELECTION, "data", allow_duplicate=True), Output(ids.MESSAGE, "children", allow_duplicate=True),
    Output(ids.URL_READY, "data"),
    Input(ids.URL, "pathname"), State(ids.URL, "search"), State(ids.URL_READY, "data"),
    State(ids.COMPOSITE, "options"), prevent_initial_call="initial_duplicate")
def restore_from_url(_path, search, ready, comp_options):
    """Apply the URL's state once, when the page loads (the pathname is set then and never again: the app's own
    URL writes change only the search); say what of it could not be applied."""
    if ready:
        return (no_update,) * 13 + (True,)
    data = get_data()
    st = decode_state(search)
    f = st["filters"]
    comps = {o["value"] for o in comp_options or []}
    selected = st["selected"] if data.find(st["selected"]) is not None else None
    notes = []
    if st["selected"] and selected is None:
        notes.append(f"The link's patch “{st['selected']}” is not in this workspace.")
    labels = [lab for lab in f["labels"] if lab in data.classes or lab == NO_LABEL]
    if len(labels) < len(f["labels"]):
        notes.append("Unknown labels in the link were left out: "
                     + ", ".join(x for x in f["labels"] if x not in labels) + ".")
    sel = st["selection"]
    if sel is not None:
        try:
            selection_mask(data, sel)
        except ValueError:
            notes.append("The link's selection could not be read and was left out.")
            sel = None
    return (st["color"] if st["color"] in COLOR_BY else "label",
            st["composite"] if st["composite"] in comps else no_update,
            labels, f["label_mode"],
            [s for s in f["splits"] if s in data.splits], [c for c in f["countries"] if c in data.countries],
            [x for x in f["flags"] if x in {o["value"] for o in FLAG_OPTIONS}],
            selected, st["scatter"] if st["scatter"].get("x") else no_update,
            st["map"] if st["map"].get("x") else no_update, st["page"],
            sel if sel is not None else no_update, (" ".join(notes) if notes else no_update), True)


@callback(Output(ids.URL, "search"),
          Input(ids.COLOR_BY, "value"), Input(ids.COMPOSITE, "value"), Input(ids.FILTERS, "data"),
          Input(ids.SELECTED, "data"), Input(ids.SCATTER_VIEW, "data"), Input(ids.MAP_VIEW, "data"),
          Input(ids.GRID_PAGE, "data"), Input(ids.SELECTION, "data"), Input(ids.SELECTION_NAME, "value"),
          State(ids.URL_READY, "data"), State(ids.URL, "search"), prevent_initial_call=True)
def write_url(color, composite, filters, selected, scatter_view, map_view, page, sel, name, ready, current):
    if not ready:
        return no_update
    sel = {**sel, "name": name} if sel and name else sel
    search = encode_state({"color": color, "composite": composite, "filters": filters, "selected": selected,
                           "scatter": scatter_view, "map": map_view, "page": page, "selection": sel})
    search = keep_other_keys(search, current)  # keys other panels write themselves (e.g. the tour's)
    return search if search != current else no_update
