"""Tour mode: walk through the dataset stop by stop (:mod:`mining.tours`), with the path on the scatter and map.

The tab holds the tour's parameters (strategy, class, start, stops, seed) and the player: the current stop's
patch large in the chosen composite, its labels, a caption (step i of N, labels gained / lost, distance
travelled, country), previous / play / next, speed, and a full-screen presentation view. The path is drawn on
the embedding scatter and on the map as two overlay traces (:func:`overlay_traces`, ``tour-path`` and
``tour-stop``) that the composition root passes to both figures; where they sit in each figure comes with the
layout (``TOUR_SLOTS``), and the scatter's and the map's own re-renders patch other traces only, so the path
stays when the view is zoomed. The tour's parameters go into the URL (``tour``, ``tstart``, ``tsteps``, ``tseed``,
``tlabel``, ``tby``), so a link replays the same stops. The current stop can be flagged or relabelled
through the curation log (hidden and refused in read-only mode). Keyboard arrows: ``assets/tour.js``.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlencode

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, Patch, State, callback, ctx, dcc, html, no_update

from mining.errors import EomineError
from mining.raster import image_uri
from mining.tours import STRATEGIES, Tour, TourGraph

from .. import ids
from ..access import EditRefused, commit_edits
from ..components import error_box, label_chips
from ..data import AppData, AppState, get_data, get_state
from ..figures import image_spec
from ..geo import map_xy
from ..routes import thumb_url
from ..views import full_view, render_points

#: names of the two traces drawn on the scatter and on the map
PATH_TRACE, STOP_TRACE = "tour-path", "tour-stop"
PATH_COLOUR = "#e4002b"
STRATEGY_NAMES = {"random": "Random walk", "grand": "Grand tour (one stop per class)",
                  "boundary": "Class borders", "class": "Within one class"}
SPEEDS = {"4000": "slow", "2000": "normal", "1000": "fast", "500": "very fast"}
URL_KEYS = {"tour": "strategy", "tstart": "start", "tsteps": "steps", "tseed": "seed", "tlabel": "label",
            "tby": "by"}
MAX_STEPS = 1000
IMG_SIZE = 384


# --------------------------------------------------------------------------- plain functions (tested directly)
def overlay_traces() -> list[go.Scatter]:
    """The two (empty) overlay traces a figure needs to show a tour: the path and the current stop."""
    return [go.Scatter(x=[], y=[], mode="lines+markers", hoverinfo="skip", showlegend=False, name=PATH_TRACE,
                       line={"color": PATH_COLOUR, "width": 2}, marker={"size": 5, "color": PATH_COLOUR},
                       opacity=0.75),
            go.Scatter(x=[], y=[], mode="markers", hoverinfo="skip", showlegend=False, name=STOP_TRACE,
                       marker={"size": 22, "symbol": "circle-open", "color": PATH_COLOUR, "line": {"width": 4}})]


def tour_graph(data: AppData) -> TourGraph:
    """The app's :class:`TourGraph` with the snapshot's labels and noise scores.

    The graph's static arrays are built once (the app's own arrays reused); each call gets a shallow copy with
    the labels and scores of ``data``, so tours computed at the same time never share mutable state.
    """
    def build():
        return TourGraph.from_workspace(data.ws, Y=data.labels.Y, xy=np.c_[data.px, data.py],
                                        knn=(data.knn, data.knn_dist, dict(data.knn_card or {})),
                                        suspicion=data.scores.score)

    g = data.caches.tour_graph.get(None, build)
    return dataclasses.replace(g, Y=data.labels.Y, suspicion=data.scores.score)


def clean_params(p: dict | None) -> dict:
    """Tour parameters from the controls or the URL, normalised (bad values raise :class:`EomineError`)."""
    from mining.errors import DataError

    p = dict(p or {})
    strategy = p.get("strategy") or "random"
    if strategy not in STRATEGIES:
        raise DataError(f"unknown tour strategy {strategy!r}")
    try:
        steps = int(p.get("steps") or 30)
        seed = int(p.get("seed") or 0)
    except (TypeError, ValueError):
        raise DataError("the number of stops and the seed must be whole numbers") from None
    if not 2 <= steps <= MAX_STEPS:
        raise DataError(f"a tour has 2 to {MAX_STEPS} stops, not {steps}")
    by = p.get("by") if p.get("by") in ("class", "cluster") else "class"
    return {"strategy": strategy, "start": p.get("start") or None, "steps": steps, "seed": seed,
            "label": p.get("label") or None, "by": by}


def compute_tour(data: AppData, params: dict) -> dict:
    """Compute a tour; returns the store's content ``{"params", "ids", "jumps", "ms"}``."""
    p = clean_params(params)
    g = tour_graph(data)
    t = Tour(p["strategy"], steps=p["steps"], start=p["start"], label=p["label"], seed=p["seed"],
             by=p["by"]).fit(g)
    return {"params": p, "ids": list(t.patch_ids_), "jumps": [bool(j) for j in t.jumps_],
            "stands_for": t.stands_for(), "ms": round(t.seconds_ * 1e3, 1)}


def start_for(data: AppData, mode: str, selected: str | None, label: str | None, seed: int) -> str | None:
    """The first stop's patch id: the selected patch, a seeded member of ``label``, or None (the seed picks)."""
    if mode == "selected" and data.find(selected) is not None:
        return selected
    if mode == "class" and label in data.classes:
        c = data.classes.index(label)
        members = np.flatnonzero(data.labels.Y[:, c] & (data.knn[:, 0] >= 0)) if data.knn is not None else []
        if len(members):
            return str(data.ids[members[np.random.default_rng(seed).integers(len(members))]])
    return None


def params_from_search(search: str | None) -> dict | None:
    """The tour parameters in a URL query, or None when it has no tour."""
    qs = parse_qs((search or "").lstrip("?"))
    if not qs.get("tour"):
        return None
    return {field: qs[key][0] for key, field in URL_KEYS.items() if qs.get(key)}


def search_with_tour(search: str | None, params: dict | None) -> str:
    """``search`` with its tour keys replaced by ``params`` (removed when None); other keys untouched."""
    qs = [(k, v) for k, v in _pairs(search) if k not in URL_KEYS]
    if params:
        for key, field in URL_KEYS.items():
            v = params.get(field)
            if v is not None and v != "" and not (field == "by" and params.get("strategy") != "grand"):
                qs.append((key, str(v)))
    return "?" + urlencode(qs) if qs else ""


def _pairs(search: str | None) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl((search or "").lstrip("?"), keep_blank_values=True)


def stop_info(data: AppData, tour: dict, step: int) -> dict:
    """What the caption of stop ``step`` says (plain values, tested directly)."""
    pids = tour["ids"]
    step = int(min(max(step, 0), len(pids) - 1))
    row = data.row(pids[step])
    labels = set(data.labels_of(row))
    stands = (tour.get("stands_for") or [None] * len(pids))[step]
    info = {"step": step, "n": len(pids), "patch_id": pids[step], "row": row, "stands_for": stands,
            "labels": data.labels_of(row), "gained": [], "lost": [], "km": 0.0, "jump": False,
            "country": data.cat["country"].iloc[row] if "country" in data.cat.columns else None}
    rows = [data.row(p) for p in pids[: step + 1]]
    lon = data.lon[rows].astype(np.float64)
    lat = data.lat[rows].astype(np.float64)
    from mining.walks import haversine_km

    km = haversine_km(lon[:-1], lat[:-1], lon[1:], lat[1:]) if step else np.zeros(0)
    info["km_total"] = float(np.nansum(km))
    if step:
        prev = set(data.labels_of(rows[-2]))
        info["gained"] = [c for c in data.classes if c in labels - prev]
        info["lost"] = [c for c in data.classes if c in prev - labels]
        info["km"] = float(km[-1]) if np.isfinite(km[-1]) else float("nan")
        # a walk's teleport is news; the grand and class tours jump at every stop by design
        walk = (tour.get("params") or {}).get("strategy") in ("random", "boundary")
        info["jump"] = bool(tour["jumps"][step]) and walk
    if not isinstance(info["country"], str):
        info["country"] = None
    return info


def caption(info: dict) -> list:
    moved = []
    if info["step"]:
        if info["gained"]:
            moved.append(html.Span("+ " + ", ".join(info["gained"]), className="tour-gained"))
        if info["lost"]:
            moved.append(html.Span("− " + ", ".join(info["lost"]), className="tour-lost"))
        if not info["gained"] and not info["lost"]:
            moved.append("same labels")
        if np.isfinite(info["km"]):
            moved.append(f"{info['km']:,.1f} km from the last stop")
        if info["jump"]:
            moved.append(html.Span("jump", className="tour-jump", title="not a kNN neighbour of the last stop"))
    else:
        moved.append("start")
    moved.append(f"{info['km_total']:,.0f} km travelled")
    parts = []
    for i, m in enumerate(moved):
        parts += ([" · "] if i else []) + [m]
    head = f"Stop {info['step'] + 1} of {info['n']}" + (f": {info['stands_for']}" if info.get("stands_for") else "") \
        + (f" · {info['country']}" if info["country"] else "")
    return [html.Div(head, className="tour-where", id="tour-where"),
            html.Div(info["patch_id"], className="tour-id"), html.Div(parts, className="tour-moved")]


def path_xy(data: AppData, tour: dict | None, step: int, coords: str) -> tuple[list, list, list, list]:
    """(path x, path y, stop x, stop y) in scatter or map plot coordinates.

    None breaks the path: at patches without coordinates, and (random walk, boundary tour) before each
    teleport, so lines follow kNN edges only. The grand and class tours keep their visiting order as lines.
    """
    if not tour or not tour.get("ids"):
        return [], [], [], []
    rows = data.ws.rows_of(tour["ids"])
    if (rows < 0).any():
        raise KeyError(f"patch {tour['ids'][int(np.argmax(rows < 0))]!r} is not in this workspace")
    if coords == "scatter":
        x, y = data.px[rows].astype(np.float64), data.py[rows].astype(np.float64)
    else:
        mx, my = map_xy(data)
        x, y = mx[rows].astype(np.float64), my[rows].astype(np.float64)
    step = int(min(max(step, 0), len(rows) - 1))

    def lst(a):
        return [None if not np.isfinite(v) else round(float(v), 6) for v in a]

    ok = np.isfinite(x[step]) and np.isfinite(y[step])
    sx, sy = (lst(x[step:step + 1]), lst(y[step:step + 1])) if ok else ([], [])
    if (tour.get("params") or {}).get("strategy") in ("random", "boundary"):
        # walks: lines only along kNN edges; a teleport starts a new segment (its long line would dominate)
        jumps = np.flatnonzero(np.asarray(tour.get("jumps") or [], bool))
        x, y = np.insert(x, jumps, np.nan), np.insert(y, jumps, np.nan)
    return lst(x), lst(y), sx, sy


def path_patch(data: AppData, tour: dict | None, step: int, coords: str, slots: dict | None):
    """The ``Patch`` that draws the tour on one figure; ``slots[coords]`` is the index of the first overlay trace
    in that figure (no_update without it)."""
    first = (slots or {}).get(coords)
    if first is None:
        return no_update
    px, py, sx, sy = path_xy(data, tour, step, coords)
    p = Patch()
    p["data"][first]["x"], p["data"][first]["y"] = px, py
    p["data"][first + 1]["x"], p["data"][first + 1]["y"] = sx, sy
    return p


def mini_figure(data: AppData, tour: dict | None, step: int) -> go.Figure:
    """The presentation view's small embedding: the whole layout faintly, the path and the current stop."""
    view = full_view(data.px, data.py)

    def build():
        rgba, _ = render_points(data, view, "label", None, None, width=480, height=360)
        return image_uri(rgba)

    uri = data.caches.tour_mini.get(data.labels.version, build)  # coloured by the labels of this version
    px, py, sx, sy = path_xy(data, tour, step, "scatter")
    fig = go.Figure(overlay_traces())
    fig.data[0].update(x=px, y=py)
    fig.data[1].update(x=sx, y=sy)
    fig.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}, plot_bgcolor="white", paper_bgcolor="white",
                      xaxis={"range": view["x"], "visible": False}, yaxis={"range": view["y"], "visible": False},
                      images=[image_spec(view, uri)], showlegend=False, dragmode=False)
    return fig


def commit_edit(state: AppState, pid: str, op: str, labels, author: str | None) -> tuple[str, int | None]:
    """Flag or relabel the current stop through the curation log; (message, log version after it or None)."""
    from mining.curation import Edit

    data = state.current
    if data.read_only:
        return "Read-only: edits are switched off.", None
    if not author:
        return "Enter your name first (top right), so the edit log knows who made the change.", None
    if data.find(pid) is None:
        return f"Unknown patch {pid!r}.", None
    edit = Edit(pid, "flag") if op == "flag" else Edit(pid, "set", labels=tuple(labels or ()))
    try:  # the app's one edit path: read-only and size checked on the server, the login recorded
        res = commit_edits(state, [edit], author=author, note="tour", source="tour")
    except (EditRefused, EomineError) as exc:
        return f"Not saved: {exc}", None
    what = "flagged" if op == "flag" else "relabelled: " + (", ".join(labels) if labels else "(no label)")
    return f"{pid} {what} (batch {res['batch']}).", res["version"]


# --------------------------------------------------------------------------- layout
def layout(data: AppData, *, slots: dict | None = None) -> html.Div:
    """The Tour tab; ``slots`` says where :func:`overlay_traces` sit in the other figures
    (``{"scatter": index of the path trace, "map": ...}``), as the composition root placed them."""
    has_graph = data.knn is not None
    controls = html.Div(className="tour-controls", children=[
        html.Div([html.Label("Tour", htmlFor=ids.TOUR_STRATEGY),
                  dcc.Dropdown(id=ids.TOUR_STRATEGY, value="random", clearable=False,
                               options=[{"label": v, "value": k} for k, v in STRATEGY_NAMES.items()])],
                 className="tour-field tour-field-wide"),
        html.Div([html.Label("Class", htmlFor=ids.TOUR_LABEL),
                  dcc.Dropdown(id=ids.TOUR_LABEL, placeholder="class tour / start in class",
                               options=[{"label": s, "value": c} for c, s in
                                        zip(data.classes, data.short, strict=True)])],
                 className="tour-field tour-field-wide"),
        html.Div([html.Label("Start at"),
                  dcc.RadioItems(id=ids.TOUR_START_MODE, value="selected", inline=True, className="radio",
                                 options=[{"label": "patch in focus", "value": "selected"},
                                          {"label": "the class", "value": "class"},
                                          {"label": "random", "value": "seed"}])], className="tour-field"),
        html.Div([html.Label("Stops", htmlFor=ids.TOUR_STEPS),
                  dcc.Input(id=ids.TOUR_STEPS, type="number", min=2, max=MAX_STEPS, step=1, value=30,
                            className="tour-num")], className="tour-field"),
        html.Div([html.Label("Seed", htmlFor=ids.TOUR_SEED),
                  dcc.Input(id=ids.TOUR_SEED, type="number", min=0, step=1, value=0, className="tour-num")],
                 className="tour-field"),
        html.Button("Start tour", id=ids.TOUR_GO, n_clicks=0, className="btn btn-primary", disabled=not has_graph),
    ])
    edit_row = [] if data.read_only else [html.Div(className="tour-edit", children=[
        dcc.Dropdown(id=ids.TOUR_EDIT_LABELS, multi=True, placeholder="labels of this stop",
                     options=[{"label": s, "value": c} for c, s in zip(data.classes, data.short, strict=True)]),
        html.Button("Set labels", id=ids.TOUR_SET, n_clicks=0, className="btn btn-sm"),
        html.Button("Flag", id=ids.TOUR_FLAG, n_clicks=0, className="btn btn-sm",
                    title="mark this patch as doubtful in the edit log"),
        html.Span(id=ids.TOUR_EDIT_MSG, className="hint")])]
    player = html.Div(id=ids.TOUR_PLAYER, className="tour-player", children=[
        html.Div(className="tour-stage", children=[
            html.Div(id=ids.TOUR_VIEW, className="tour-view",
                     children=html.Div(className="empty", children=(
                         "Choose a tour and press Start: it walks through the kNN graph, stop by stop, and "
                         "draws its path on the embedding and the map." if has_graph else
                         "No kNN graph yet: run `eomine run` on this workspace first."))),
            dcc.Graph(id=ids.TOUR_MINI, className="tour-mini", config={"staticPlot": True},
                      figure=go.Figure(layout={"xaxis": {"visible": False}, "yaxis": {"visible": False},
                                               "margin": {"l": 0, "r": 0, "t": 0, "b": 0}})),
        ]),
        html.Div(className="tour-buttons", children=[
            html.Button("◀ Prev", id=ids.TOUR_PREV, n_clicks=0, className="btn btn-sm", title="previous stop (←)"),
            html.Button("▶ Play", id=ids.TOUR_PLAY, n_clicks=0, className="btn btn-sm btn-primary",
                        title="play / pause"),
            html.Button("Next ▶", id=ids.TOUR_NEXT, n_clicks=0, className="btn btn-sm", title="next stop (→)"),
            dcc.Dropdown(id=ids.TOUR_SPEED, value="2000", clearable=False, searchable=False, className="tour-speed",
                         options=[{"label": v, "value": k} for k, v in SPEEDS.items()]),
            html.Button("Present", id=ids.TOUR_PRESENT, n_clicks=0, className="btn btn-sm",
                        title="full-screen presentation view (Esc leaves it)"),
            html.Button(id=ids.TOUR_LEAVE, n_clicks=0, hidden=True),
            # computing a tour takes well under a second; the first one of a big workspace also loads the graph
            dcc.Loading(html.Span(id=ids.TOUR_INFO, className="hint"), type="dot", delay_show=300),
        ]),
        *edit_row,
    ])
    return html.Div(className="tour-panel", children=[
        dcc.Store(id=ids.TOUR, data=None), dcc.Store(id=ids.TOUR_STEP, data=0),
        dcc.Store(id=ids.TOUR_URL_DONE, data=False), dcc.Store(id=ids.TOUR_SLOTS, data=slots or {}),
        dcc.Interval(id=ids.TOUR_TIMER, interval=2000, disabled=True),
        controls, player])


# --------------------------------------------------------------------------- callbacks
@callback(Output(ids.TOUR, "data"), Output(ids.TOUR_STEP, "data"), Output(ids.TOUR_INFO, "children"),
          Output(ids.TOUR_TIMER, "disabled"),
          Input(ids.TOUR_GO, "n_clicks"), State(ids.TOUR_STRATEGY, "value"), State(ids.TOUR_LABEL, "value"),
          State(ids.TOUR_START_MODE, "value"), State(ids.TOUR_STEPS, "value"), State(ids.TOUR_SEED, "value"),
          State(ids.SELECTED, "data"), prevent_initial_call=True)
def start_tour(_n, strategy, label, mode, steps, seed, selected):
    data = get_data()
    try:
        seed_i = int(seed or 0)
        start = start_for(data, mode, selected, label, seed_i) if strategy != "grand" or mode == "selected" else None
        tour = compute_tour(data, {"strategy": strategy, "label": label, "steps": steps, "seed": seed_i,
                                   "start": start, "by": "class"})
    except EomineError as exc:
        return no_update, no_update, html.Span(f"Cannot start this tour: {exc}", className="warn"), True
    return tour, 0, f"{len(tour['ids'])} stops computed in {tour['ms']:.0f} ms", True


@callback(Output(ids.TOUR, "data", allow_duplicate=True), Output(ids.TOUR_STEP, "data", allow_duplicate=True),
          Output(ids.TOUR_URL_DONE, "data"), Output(ids.WORK_TABS, "value", allow_duplicate=True),
          Output(ids.TOUR_STRATEGY, "value"), Output(ids.TOUR_LABEL, "value"), Output(ids.TOUR_STEPS, "value"),
          Output(ids.TOUR_SEED, "value"), Output(ids.TOUR_INFO, "children", allow_duplicate=True),
          Input(ids.URL, "pathname"), State(ids.URL, "search"), State(ids.TOUR_URL_DONE, "data"),
          prevent_initial_call="initial_duplicate")
def replay_from_url(_path, search, done):
    """A link with a tour replays it once, when the page loads (later URL writes come from the app)."""
    if done:
        return (no_update,) * 9
    params = params_from_search(search)
    if params is None:
        return no_update, no_update, True, no_update, no_update, no_update, no_update, no_update, no_update
    data = get_data()
    try:
        tour = compute_tour(data, params)
    except EomineError as exc:
        return (no_update, no_update, True, "tour", no_update, no_update, no_update, no_update,
                html.Span(f"The tour in this link cannot be replayed: {exc}", className="warn"))
    p = tour["params"]
    return (tour, 0, True, "tour", p["strategy"], p["label"], p["steps"], p["seed"],
            f"{len(tour['ids'])} stops (from the link)")


@callback(Output(ids.URL, "search", allow_duplicate=True), Input(ids.TOUR, "data"), State(ids.URL, "search"),
          State(ids.URL_READY, "data"), prevent_initial_call=True)
def tour_to_url(tour, search, ready):
    new = search_with_tour(search, tour["params"] if tour else None)
    return new if new != (search or "") else no_update


@callback(Output(ids.TOUR_STEP, "data", allow_duplicate=True), Output(ids.TOUR_TIMER, "disabled",
                                                                       allow_duplicate=True),
          Input(ids.TOUR_PREV, "n_clicks"), Input(ids.TOUR_NEXT, "n_clicks"), Input(ids.TOUR_TIMER, "n_intervals"),
          State(ids.TOUR_STEP, "data"), State(ids.TOUR, "data"), prevent_initial_call=True)
def move(_p, _n, _t, step, tour):
    if not tour:
        return no_update, no_update
    return step_after(ctx.triggered_id, int(step or 0), len(tour["ids"]))


def step_after(trigger: str | None, step: int, n: int) -> tuple:
    """(next stop, timer ``disabled``) after Prev, Next or a timer tick; ``no_update`` where nothing changes.

    Prev / Next stop playing. A tick never writes "playing" back: one in flight when the curator presses
    Pause would otherwise switch the timer on again.
    """
    if trigger == ids.TOUR_PREV:
        return max(step - 1, 0), True
    if trigger == ids.TOUR_NEXT:
        return min(step + 1, n - 1), True
    if step >= n - 1:  # timer at the last stop: stop playing
        return no_update, True
    return step + 1, (True if step + 1 >= n - 1 else no_update)


@callback(Output(ids.TOUR_TIMER, "disabled", allow_duplicate=True), Output(ids.TOUR_STEP, "data",
                                                                            allow_duplicate=True),
          Input(ids.TOUR_PLAY, "n_clicks"), State(ids.TOUR_TIMER, "disabled"), State(ids.TOUR_STEP, "data"),
          State(ids.TOUR, "data"), prevent_initial_call=True)
def play_pause(_n, disabled, step, tour):
    if not tour:
        return True, no_update
    if disabled and int(step or 0) >= len(tour["ids"]) - 1:  # play at the end: from the start again
        return False, 0
    return not disabled, no_update


@callback(Output(ids.TOUR_PLAY, "children"), Input(ids.TOUR_TIMER, "disabled"))
def play_label(disabled):
    return "▶ Play" if disabled else "❚❚ Pause"


@callback(Output(ids.TOUR_TIMER, "interval"), Input(ids.TOUR_SPEED, "value"))
def speed(ms):
    try:
        return int(ms)
    except (TypeError, ValueError):
        return 2000


def presenting_after(trigger: str | None, player_class: str | None) -> bool:
    """Whether the presentation view is on after ``trigger`` (the Present toggle or the leave button)."""
    return trigger != ids.TOUR_LEAVE and "tour-presenting" not in (player_class or "")


@callback(Output(ids.TOUR_PLAYER, "className"), Output(ids.TOUR_PRESENT, "children"),
          Input(ids.TOUR_PRESENT, "n_clicks"), Input(ids.TOUR_LEAVE, "n_clicks"), State(ids.TOUR_PLAYER, "className"),
          prevent_initial_call=True)
def present(_n, _leave, cls):
    """Present toggles; the hidden leave button (Esc, leaving real full screen) only ever turns it off.

    Esc in full screen can fire both a keydown and a ``fullscreenchange``: two toggles would re-enter.
    """
    on = presenting_after(ctx.triggered_id, cls)
    return ("tour-player tour-presenting" if on else "tour-player"), ("Leave presentation" if on else "Present")


@callback(Output(ids.TOUR_VIEW, "children"), Output(ids.SCATTER, "figure", allow_duplicate=True),
          Output(ids.MAP, "figure", allow_duplicate=True), Output(ids.TOUR_MINI, "figure"),
          Input(ids.TOUR, "data"), Input(ids.TOUR_STEP, "data"), Input(ids.COMPOSITE, "value"),
          Input(ids.EDITS_VERSION, "data"), State(ids.TOUR_SLOTS, "data"), prevent_initial_call=True)
def show_stop(tour, step, composite, _edits_version, slots):
    data = get_data()
    if not tour or not tour.get("ids"):
        return no_update, no_update, no_update, no_update
    try:
        info = stop_info(data, tour, int(step or 0))
        view = render_stop(data, info, composite)
        return (view, path_patch(data, tour, info["step"], "scatter", slots),
                path_patch(data, tour, info["step"], "map", slots), mini_figure(data, tour, info["step"]))
    except Exception as exc:  # a readable message, never a blank panel
        return error_box(exc, f"tour stop {step}"), no_update, no_update, no_update


def render_stop(data: AppData, info: dict, composite: str | None) -> list:
    row = info["row"]
    if data.renderer is not None and data.pixel_row[row] >= 0 and composite:
        img = html.Img(src=thumb_url(composite, info["patch_id"], IMG_SIZE), className="tour-img",
                       id="tour-img", alt=info["patch_id"])
    else:
        img = html.Div("no pixels for this patch", className="tour-img tour-noimg")
    return [img, html.Div(className="tour-text", children=[*caption(info), label_chips(data, row)])]


@callback(Output(ids.TOUR_EDIT_LABELS, "value"), Input(ids.TOUR, "data"), Input(ids.TOUR_STEP, "data"),
          Input(ids.EDITS_VERSION, "data"), prevent_initial_call=True)
def edit_labels_value(tour, step, _v):
    if not tour:
        return no_update
    data = get_data()
    return stop_info(data, tour, int(step or 0))["labels"]


@callback(Output(ids.EDITS_VERSION, "data", allow_duplicate=True), Output(ids.TOUR_EDIT_MSG, "children"),
          Input(ids.TOUR_FLAG, "n_clicks"), Input(ids.TOUR_SET, "n_clicks"), State(ids.TOUR, "data"),
          State(ids.TOUR_STEP, "data"), State(ids.TOUR_EDIT_LABELS, "value"), State(ids.AUTHOR, "data"),
          State(ids.EDITS_VERSION, "data"), prevent_initial_call=True)
def edit_stop(n_flag, n_set, tour, step, labels, author, version):
    if not tour or not (n_flag or n_set):
        return no_update, no_update
    state = get_state()
    pid = stop_info(state.sync(), tour, int(step or 0))["patch_id"]
    op = "flag" if ctx.triggered_id == ids.TOUR_FLAG else "set"
    msg, version = commit_edit(state, pid, op, labels, author)
    ok = version is not None
    return (version if ok else no_update), html.Span(msg, className="ok" if ok else "warn")
