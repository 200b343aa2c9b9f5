"""Label tab: build a labelled benchmark with active learning (:mod:`mining.labelling`).

The batch the model asks about (about 50 patches) is shown as large quicklooks in the chosen composite, each
pre-filled with the model's predicted labels. The curator works with the keyboard (``assets/label.js``): one card
has the focus; ``Enter`` / ``a`` accepts its labels, ``1``-``9``, ``0`` set the class (single-label) or toggle
it (multi-label), ``u`` marks it unsure, ``r`` removes it from training, ``Backspace`` restores the prediction,
arrows move the focus. The class chips above the cards do what the number keys do; a click on a card's chip
removes that label; a click on a quicklook focuses the card and puts the patch in focus (the detail panel shows
it in every composite).

The answers live in the browser (``LABEL_ANSWERS``, kept for the browser session) and are applied there by
clientside callbacks, so no keystroke waits for the server. **Submit batch & next** writes the decided cards as
one batch of the edit log (:meth:`mining.labelling.LabellingSession.answer`: source ``learn:r<round>:<strategy>``,
``learn:check`` for the check set; unsure = flag, removed = exclude; undoable like every edit), then refits
the model, chooses the next batch (:meth:`~mining.labelling.LabellingSession.next_batch`) and writes every
patch's predictions (:func:`mining.labelling.write_predictions`, read by the colour-by options *labelled*,
*predicted class* and *uncertainty*). Cards nobody decided are not written: they may be asked again.

While a refit + query runs the buttons are disabled and, past a second, a progress bar says so (the callback's
``running`` state; a plain callback, not a background job: the round needs the session's embeddings and graph
that the server keeps loaded).

The status column shows the round, the labels given, the learning curve on the check set (accuracy with its
95 % interval vs labels given) and the stopping signal in words. Hidden on read-only servers (the callbacks
that write output ``EDITS_VERSION`` and are refused there, and :func:`submit` refuses too).
"""

from __future__ import annotations

import uuid

import numpy as np
import plotly.graph_objects as go
from dash import (
    ALL,
    ClientsideFunction,
    Input,
    Output,
    Patch,
    State,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
    no_update,
)

from mining.active import STRATEGIES
from mining.errors import EomineError
from mining.labelling import Batch, LabellingSession, write_predictions

from .. import ids
from ..access import EditRefused, commit_edits
from ..components import error_box, lazy_img, pixel_problem, placeholder, short_id, text_color
from ..data import AppData, AppState, get_data, get_state
from ..geo import map_xy
from ..routes import thumb_url

CARD_PX = 224            # pixels asked from the thumbnail route (drawn at ~150 CSS px, sharp on HiDPI)
HIGHLIGHT_MAX = 5000     # labelled patches ringed on the scatter and the map at most
HIGHLIGHT = "labelled"   # name of the overlay trace
STRATEGY_TEXT = {"auto": "auto (cold start, then diverse)", "random": "random (baseline)",
                 "cold": "cold start (typical, diverse)", "entropy": "most uncertain (entropy)",
                 "margin": "most uncertain (margin)", "diverse": "uncertain and diverse",
                 "cascade": "cascade (coarse to fine)"}
NO_AUTHOR = "Enter your name first (top right): every label names its curator."


# --------------------------------------------------------------------------- plain functions (tested directly)
def state_stamp(ws) -> tuple | None:
    """(mtime_ns, size) of ``WS/active/state.json``, or None before the first round."""
    try:
        st = ws.files.active_state.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def session_for(data: AppData) -> LabellingSession:
    """The workspace's labelling session, from the declared cache (embeddings and graph loaded once); read again
    when ``state.json`` changed under it (another writer, e.g. ``eomine learn``)."""
    return data.caches.learning.get(state_stamp(data.ws), lambda: LabellingSession(data.ws))


def _remember(data: AppData, session: LabellingSession) -> None:
    """Keep ``session`` under the stamp of the state file it has just written."""
    data.caches.learning.put(state_stamp(data.ws), session)


def is_multi_label(data: AppData) -> bool:
    """Whether patches carry several labels: some current label set has more than one (else single-label)."""
    return bool((data.labels.Y.sum(1) > 1).any())


def batch_dict(data: AppData, batch: Batch, *, multi: bool) -> dict:
    """The batch as the browser keeps it (``LABEL_BATCH``): ``round, strategy, ids, predicted, confidence,
    multi, token`` (the request id of its answers) and ``classes`` (name, short, colour, text colour)."""
    return {"round": int(batch.round), "strategy": batch.strategy, "ids": list(batch.patch_ids),
            "predicted": [list(p) for p in batch.predicted],
            "confidence": [round(float(c), 3) for c in batch.confidence] or [None] * len(batch.patch_ids),
            "multi": bool(multi), "token": uuid.uuid4().hex,
            "classes": [{"name": c, "short": s or c, "color": col, "fg": text_color(col)}
                        for c, s, col in zip(data.classes, data.short, data.class_colors, strict=True)]}


def initial_answers(batch: dict) -> dict:
    """Every card undecided, pre-filled with the model's labels (single-label: its top class only)."""
    out = {}
    for pid, pred in zip(batch["ids"], batch["predicted"], strict=True):
        labels = list(pred) if batch.get("multi") else list(pred)[:1]
        out[pid] = {"labels": labels, "mark": "", "done": False}
    return out


def answers_payload(batch: dict, answers: dict | None, classes) -> dict:
    """What :meth:`~mining.labelling.LabellingSession.answer` gets from the cards.

    Returns
    -------
    dict
        ``labels`` ({patch id: [class, ...]} of the decided cards), ``unsure``, ``removed`` (patch ids),
        ``undecided`` (cards nobody decided: not written) and ``empty`` (decided without any label: not written).
    """
    known = set(classes)
    out = {"labels": {}, "unsure": [], "removed": [], "undecided": [], "empty": []}
    for pid in batch.get("ids", []):
        a = (answers or {}).get(pid) or {}
        mark = a.get("mark") or ""
        if mark == "removed":
            out["removed"].append(pid)
        elif mark == "unsure":
            out["unsure"].append(pid)
        elif not a.get("done"):
            out["undecided"].append(pid)
        else:
            labels = [c for c in a.get("labels") or [] if c in known]
            if not batch.get("multi"):
                labels = labels[:1]
            if labels:
                out["labels"][pid] = labels
            else:
                out["empty"].append(pid)
    return out


def _batch(batch: dict) -> Batch:
    return Batch(int(batch["round"]), str(batch["strategy"]), tuple(batch["ids"]),
                 tuple(tuple(p) for p in batch["predicted"]))


def submit(state: AppState, batch: dict, answers: dict | None, *, author: str | None) -> tuple[str, int | None]:
    """Write the decided cards of ``batch`` as one edit-log batch (read-only refused).

    Returns
    -------
    message : str
    version : int or None
        The log version after the batch, None when nothing was written (the message says why).
    """
    data = state.sync()
    if data.read_only:
        return "This server is read-only (presentation mode): edits are disabled.", None
    if not author or not str(author).strip():
        return NO_AUTHOR, None
    pay = answers_payload(batch, answers, data.classes)
    n = len(pay["labels"]) + len(pay["unsure"]) + len(pay["removed"])
    if not n:
        return ("Nothing decided in this batch yet: Enter (or a) accepts a card's labels, u marks it unsure, "
                "r removes it from training; or press Accept all remaining."), None
    session = session_for(data)
    edits, note, source = session.edits_for(_batch(batch), pay["labels"], unsure=pay["unsure"],
                                            removed=pay["removed"])
    try:  # the app's one edit path: read-only and size checked on the server, the login in the source
        res = commit_edits(state, edits, author=str(author).strip(), note=note, source=source,
                           request_id=f"label:{batch.get('token', '')}")
    except (EditRefused, EomineError) as exc:
        return str(exc), None
    log_batch = res["batch"]
    version = res["version"]
    what = "check set" if int(batch["round"]) == 0 else f"round {batch['round']}"
    parts = [f"{len(pay['labels'])} labelled"] + [f"{len(pay[k])} {k}" for k in ("unsure", "removed") if pay[k]]
    left = len(pay["undecided"]) + len(pay["empty"])
    tail = f"; {left} undecided left out (they may be asked again)" if left else ""
    return f"Batch {log_batch} ({what}): {', '.join(parts)}{tail}. Undo reverts it.", version


def next_round(state: AppState, *, strategy: str = "auto", batch_size: int = 50,
               multi: bool | None = None) -> dict:
    """Refit the model on the current labels, choose the next batch (recorded as a round in ``state.json``) and
    write every patch's predictions. Returns the :func:`batch_dict` (plus ``seconds``)."""
    import time

    data = state.sync()
    if data.read_only:
        raise EomineError("this server is read-only (presentation mode): labelling is disabled")
    t0 = time.perf_counter()
    session = session_for(data)
    b = session.next_batch(data.edits, strategy=strategy if strategy in STRATEGIES else "auto",
                           batch_size=int(min(max(batch_size or 50, 1), 500)),
                           single_label=None if multi is None else not multi)
    write_predictions(session, data.edits)
    _remember(data, session)
    if not _labels_given(data, session):  # a model without a single label guesses: nothing to pre-fill
        b = Batch(b.round, b.strategy, b.patch_ids, tuple(() for _ in b.patch_ids), b.confidence)
    out = batch_dict(data, b, multi=is_multi_label(data) if multi is None else multi)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def _labels_given(data: AppData, session: LabellingSession) -> int:
    """Patches labelled outside the check set (what the model learns from)."""
    labelled = data.labels.labelled.copy()
    rows = data.ws.rows_of(session.check_ids) if session.check_ids else np.zeros(0, np.int64)
    labelled[rows[rows >= 0]] = False
    return int(labelled.sum())


def check_left(data: AppData, session: LabellingSession) -> int:
    """Check-set patches nobody has labelled yet."""
    rows = data.ws.rows_of(session.check_ids)
    rows = rows[rows >= 0]
    return int((~data.labels.labelled[rows]).sum())


def check_round(state: AppState, *, batch_size: int = 50, multi: bool | None = None) -> dict | None:
    """The next ``batch_size`` unlabelled check-set patches as a batch (round 0), None when none is left."""
    data = state.sync()
    session = session_for(data)
    b = session.check_batch(data.edits, limit=int(min(max(batch_size or 50, 1), 500)))
    if not b.patch_ids:
        return None
    return batch_dict(data, b, multi=is_multi_label(data) if multi is None else multi)


def stability_words(agreement: float | None, kappa: float | None, *, new_labels: int | None = None) -> str:
    """The stopping signal for a curator: how much the predictions moved since the previous round
    (``new_labels``: labels given between the two rounds, when known)."""
    if new_labels == 0:
        return "No labels were given since the last round: the predictions had nothing to change on."
    if agreement is None or not np.isfinite(agreement):
        return "The stopping signal needs two rounds: it compares the predictions of one round with the next."
    changed = 1 - float(agreement)
    k = f" (κ = {kappa:.2f})" if kappa is not None and np.isfinite(kappa) else ""
    head = f"Predictions changed on {changed:.0%} of patches since the last round{k}"
    if changed <= 0.01:
        return head + ": the model has settled; more labels buy little (check the accuracy's interval)."
    if changed <= 0.05:
        return head + ": the model is settling."
    return head + ": the model is still learning."


def status(data: AppData, session: LabellingSession | None) -> dict:
    """The numbers the status column shows: ``round``, ``labels_given`` (now, check set excluded),
    ``check_left``, ``check_size``, ``accuracy``/``low``/``high`` (latest round), ``signal`` (words),
    ``curve`` (:meth:`~mining.labelling.LabellingSession.curve`)."""
    curve = session.curve() if session is not None else None
    check_ids = session.check_ids if session is not None else []
    crow = data.ws.rows_of(check_ids) if check_ids else np.zeros(0, np.int64)
    crow = crow[crow >= 0]
    given = _labels_given(data, session) if session is not None else int(data.labels.labelled.sum())
    out = {"round": 0, "labels_given": given, "check_size": len(crow),
           "check_left": int((~data.labels.labelled[crow]).sum()) if len(crow) else 0,
           "accuracy": None, "low": None, "high": None, "n_check": 0, "curve": curve,
           "signal": stability_words(None, None)}
    if curve is not None and len(curve):
        last = curve.iloc[-1]
        new = int(last["labels_given"] - curve.iloc[-2]["labels_given"]) if len(curve) > 1 else None
        out.update(round=int(last["round"]), n_check=int(last["n_check"] or 0),
                   signal=stability_words(last["agreement"], last["kappa"], new_labels=new))
        if last["accuracy"] is not None and np.isfinite(last["accuracy"]):
            out.update(accuracy=float(last["accuracy"]), low=float(last["low"]), high=float(last["high"]))
    return out


def curve_figure(curve) -> go.Figure:
    """Accuracy on the check set with its 95 % interval vs labels given (one point per round)."""
    fig = go.Figure()
    if curve is not None and len(curve):
        c = curve.dropna(subset=["accuracy"])
        x = c["labels_given"].tolist()
        fig.add_trace(go.Scatter(x=x + x[::-1], y=c["high"].tolist() + c["low"].tolist()[::-1], fill="toself",
                                 mode="lines",
                                 fillcolor="rgba(43,125,233,0.18)", line={"width": 0}, hoverinfo="skip",
                                 name="95 % interval"))
        fig.add_trace(go.Scatter(x=x, y=c["accuracy"].tolist(), mode="lines+markers", name="accuracy",
                                 line={"color": "#2b7de9", "width": 2}, marker={"size": 5},
                                 hovertemplate="%{x} labels: %{y:.1%}<extra></extra>"))
    fig.update_layout(height=150, margin={"l": 38, "r": 8, "t": 6, "b": 30}, showlegend=False,
                      paper_bgcolor="white", plot_bgcolor="white", font={"size": 10},
                      xaxis={"title": {"text": "labels given", "standoff": 2}, "gridcolor": "#eef1f4",
                             "rangemode": "tozero"},
                      yaxis={"tickformat": ".0%", "range": [0, 1.02], "gridcolor": "#eef1f4"})
    if curve is None or not len(curve) or curve["accuracy"].isna().all():
        fig.add_annotation(text="label the check set to see<br>the accuracy after each round", showarrow=False,
                           x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 11, "color": "#6b7785"})
    return fig


def status_view(st: dict) -> list:
    acc = ("no check labels yet" if st["accuracy"] is None else
           f"{st['accuracy']:.0%} (95 % interval {st['low']:.0%}–{st['high']:.0%}, {st['n_check']} check patches)")
    return [
        html.Div([html.Span("Round ", className="hint"), html.Strong(f"{st['round']}", id="label-round"),
                  html.Span(" · labels given ", className="hint"),
                  html.Strong(f"{st['labels_given']:,}", id="label-given")], className="label-stat"),
        html.Div([html.Span("Check accuracy ", className="hint"), acc], className="label-stat"),
        html.Div(st["signal"], className="label-signal", id="label-signal"),
    ]


def card(data: AppData, batch: dict, i: int, answer: dict | None, composite: str, *, focused: bool) -> html.Div:
    """One quicklook of the batch: image, the answer's label chips, the model's confidence."""
    pid = batch["ids"][i]
    row = data.find(pid)
    why = "not in this workspace" if row is None else pixel_problem(data, row, composite)
    pic = (lazy_img(thumb_url(composite, pid, CARD_PX), alt=pid, className="label-img") if why is None else
           placeholder(pid, why, "label-img"))
    a = answer or {"labels": batch["predicted"][i], "mark": "", "done": False}
    conf = batch["confidence"][i] if i < len(batch.get("confidence") or []) else None
    pred = ", ".join(batch["predicted"][i]) or "nothing"
    return html.Div(id={"type": ids.LABEL_CARD, "index": pid}, className=card_class(a, focused),
                    **{"data-i": str(i), "data-patch": pid}, children=[
        html.Button(pic, className="label-pic", title=f"{pid}\nthe model predicts {pred}\n"
                    "click: focus this card and show the patch in every composite (detail panel)",
                    **{"data-i": str(i), "data-patch": pid}),
        html.Div(chip_spans(batch, a), id={"type": ids.LABEL_CHIPS, "index": pid}, className="label-chips"),
        html.Div(className="label-meta", children=[
            html.Span(short_id(pid, 16), className="label-pid"),
            html.Span("" if conf is None else f"{conf:.0%}", className="label-conf",
                      title="the model's probability of its top class")]),
    ])


def card_class(a: dict, focused: bool) -> str:
    """The card's classes: focused, decided, unsure, removed (assets/label.js computes the same)."""
    cls = "label-card"
    if a.get("mark"):
        cls += f" is-{a['mark']}"
    elif a.get("done"):
        cls += " is-done"
    return cls + (" focused" if focused else "")


def chip_spans(batch: dict, a: dict) -> list:
    """Chips of an answer's labels (assets/label.js renders the same from the browser's answers)."""
    info = {c["name"]: (j, c) for j, c in enumerate(batch["classes"])}
    if a.get("mark") == "removed":
        return [html.Span("removed from training", className="chip chip-none")]
    if a.get("mark") == "unsure":
        return [html.Span("unsure", className="chip chip-none")]
    out = []
    for name in a.get("labels") or []:
        if name in info:
            j, c = info[name]
            out.append(html.Span(c["short"], className="chip", title=f"{name} (click to remove)",
                                 style={"background": c["color"], "color": c["fg"]}, **{"data-cls": str(j)}))
    return out or [html.Span("no label", className="chip chip-none")]


def palette(batch: dict | None, data: AppData) -> list:
    """The class chips with their keys (1-9, 0 for the first ten): a click acts on the focused card."""
    out = []
    for j, (c, s, col) in enumerate(zip(data.classes, data.short, data.class_colors, strict=True)):
        key = str((j + 1) % 10) if j < 10 else ""
        out.append(html.Button([html.Kbd(key) if key else None, s or c], className="chip label-class",
                               title=c, style={"background": col, "color": text_color(col)},
                               **{"data-cls": str(j)}))
    return out


def render_cards(data: AppData, batch: dict | None, answers: dict | None, focus: int | None,
                 composite: str) -> list:
    if not batch or not batch.get("ids"):
        return [html.Div(className="empty", children=[
            "No batch on screen. Press ", html.Strong("Start a round"), " to let the model choose the patches "
            "that teach it most, or ", html.Strong("Check set"), " to label the fixed sample its accuracy is "
            "measured on (once, before or between rounds)."])]
    f = int(focus or 0)
    return [card(data, batch, i, (answers or {}).get(pid), composite, focused=i == f)
            for i, pid in enumerate(batch["ids"])]


def highlight_xy(data: AppData, coords: str, limit: int = HIGHLIGHT_MAX) -> tuple[list, list]:
    """Coordinates of the labelled patches (a person decided their labels first, then the catalog's), at most
    ``limit``, in scatter or map plot coordinates."""
    lab = data.labels
    rows = np.concatenate([np.flatnonzero(lab.decided), np.flatnonzero(lab.catalog_labelled & ~lab.decided)])
    rows = rows[:limit]
    if coords == "scatter":
        x, y = data.px[rows], data.py[rows]
    else:
        mx, my = map_xy(data)
        x, y = mx[rows], my[rows]
    ok = np.isfinite(x) & np.isfinite(y)
    return np.round(x[ok].astype(float), 6).tolist(), np.round(y[ok].astype(float), 6).tolist()


def overlay_traces() -> list[go.Scatter]:
    """The (empty) trace that rings the labelled patches on a figure (*highlight labelled*)."""
    return [go.Scatter(x=[], y=[], mode="markers", name=HIGHLIGHT, hoverinfo="skip", showlegend=False,
                       marker={"size": 7, "symbol": "circle-open", "color": "#111111", "line": {"width": 1.4}})]


# --------------------------------------------------------------------------- layout + callbacks
def layout(data: AppData, *, slots: dict | None = None) -> html.Section:
    """The Label tab; ``slots`` says where :func:`overlay_traces` sit in the scatter and the map."""
    strategies = [{"label": STRATEGY_TEXT.get(s, s), "value": s} for s in STRATEGIES]
    multi = is_multi_label(data)
    return html.Section(id=ids.LABEL_PANEL, className="panel label-panel", children=[
        html.Div(className="panel-head label-head", children=[
            html.H2("Label"),
            dcc.Dropdown(id=ids.LABEL_STRATEGY, options=strategies, value="auto", clearable=False,
                         className="label-dd", searchable=False),
            html.Label(["batch ", dcc.Input(id=ids.LABEL_SIZE, type="number", min=1, max=500, step=1, value=50,
                                            className="label-size", debounce=True)], className="hint"),
            dcc.Checklist(id=ids.LABEL_MULTI, options=[{"label": " several labels per patch", "value": "multi"}],
                          value=["multi"] if multi else [], className="label-toggle", inline=True),
            dcc.Checklist(id=ids.LABEL_HIGHLIGHT, options=[{"label": " highlight labelled", "value": "on"}],
                          value=[], className="label-toggle", inline=True),
        ]),
        html.Div(className="label-bar", children=[
            html.Button("Start a round", id=ids.LABEL_START, n_clicks=0, className="btn",
                        title="Refit the model and show the batch it asks about (answers on screen are dropped)"),
            html.Button("Check set", id=ids.LABEL_CHECK, n_clicks=0, className="btn",
                        title="Label the fixed random sample the accuracy is measured on (never used to train)"),
            html.Button("Accept all remaining", id=ids.LABEL_ACCEPT_ALL, n_clicks=0, className="btn",
                        title="Accept the labels shown on every card not decided yet"),
            html.Button("Submit batch & next", id=ids.LABEL_SUBMIT, n_clicks=0, className="btn btn-primary",
                        title="Write the decided cards to the edit log (one undoable batch), refit, next batch"),
            html.Span(id=ids.LABEL_COUNTER, className="label-counter", role="status"),
        ]),
        html.Div(id=ids.LABEL_MESSAGE, className="review-message", role="status"),
        html.Div(className="label-main", children=[
            html.Div(className="label-work", children=[
                html.Div(palette(None, data), id=ids.LABEL_PALETTE, className="label-palette"),
                # shown while a refit + query runs, after a second (assets/eomine.css delays it)
                html.Div(id=ids.LABEL_PROGRESS, className="label-busy", hidden=True, role="status", children=[
                    html.Progress(className="job-progress"), " refitting the model and choosing the next batch…"]),
                html.Div(id=ids.LABEL_BODY, className="label-cards"),
            ]),
            html.Aside(className="label-side", children=[
                html.Div(id=ids.LABEL_STATUS, className="label-status"),
                dcc.Graph(id=ids.LABEL_CURVE, figure=curve_figure(None), config={"displayModeBar": False},
                          className="label-curve"),
                html.Div("Keys: Enter/a accept · 1–9, 0 class · u unsure · r remove · ⌫ reset · arrows move",
                         className="hint label-keys"),
            ]),
        ]),
        dcc.Store(id=ids.LABEL_BATCH, data=None, storage_type="session"),
        dcc.Store(id=ids.LABEL_ANSWERS, data={}, storage_type="session"),
        dcc.Store(id=ids.LABEL_FOCUS, data=0),
        dcc.Store(id=ids.LABEL_KEY, data=None),
        dcc.Store(id=ids.LABEL_SLOTS, data=slots or {}),
    ])


@callback(Output(ids.LABEL_BATCH, "data"), Output(ids.LABEL_ANSWERS, "data"), Output(ids.LABEL_FOCUS, "data"),
          Output(ids.LABEL_MESSAGE, "children"), Output(ids.EDITS_VERSION, "data", allow_duplicate=True),
          Output(ids.PREDICTIONS_VERSION, "data"),
          Input(ids.LABEL_START, "n_clicks"), Input(ids.LABEL_SUBMIT, "n_clicks"), Input(ids.LABEL_CHECK, "n_clicks"),
          State(ids.LABEL_BATCH, "data"), State(ids.LABEL_ANSWERS, "data"), State(ids.AUTHOR, "data"),
          State(ids.LABEL_STRATEGY, "value"), State(ids.LABEL_SIZE, "value"), State(ids.LABEL_MULTI, "value"),
          State(ids.PREDICTIONS_VERSION, "data"), prevent_initial_call=True,
          running=[(Output(ids.LABEL_PANEL, "className"), "panel label-panel busy", "panel label-panel"),
                   (Output(ids.LABEL_PROGRESS, "hidden"), False, True),
                   (Output(ids.LABEL_SUBMIT, "disabled"), True, False),
                   (Output(ids.LABEL_START, "disabled"), True, False)])
def run_round(_start, _submit, _check, batch, answers, author, strategy, size, multi, pversion):
    trig = ctx.triggered_id
    if not any(t.get("value") for t in ctx.triggered or []):
        return (no_update,) * 6
    state = get_state()
    multi_on = "multi" in (multi or [])
    version = no_update
    notes = []
    try:
        if trig == ids.LABEL_SUBMIT:
            if not batch or not batch.get("ids"):
                return (no_update, no_update, no_update, html.Span(
                    "No batch on screen: press Start a round.", className="warn"), no_update, no_update)
            msg, v = submit(state, batch, answers, author=author)
            if v is None:
                return no_update, no_update, no_update, html.Span(msg, className="warn"), no_update, no_update
            version, notes = v, [msg]
        elif not author or not str(author).strip():
            return no_update, no_update, no_update, html.Span(NO_AUTHOR, className="warn"), no_update, no_update
        nxt = None
        if trig == ids.LABEL_CHECK or (trig == ids.LABEL_SUBMIT and int(batch.get("round", 1)) == 0):
            nxt = check_round(state, batch_size=int(size or 50), multi=multi_on)
            if nxt is not None:
                notes.append(f"Check set: {len(nxt['ids'])} patches to label (never used for training).")
            elif trig == ids.LABEL_CHECK:
                notes.append("The check set is labelled already.")
        if nxt is None:
            nxt = next_round(state, strategy=strategy or "auto", batch_size=int(size or 50), multi=multi_on)
            notes.append(f"Round {nxt['round']} ({nxt['strategy']}): {len(nxt['ids'])} patches, "
                         f"refit + query in {nxt['seconds']:.1f} s.")
            pversion = int(pversion or 0) + 1
        else:
            pversion = no_update
    except Exception as exc:  # a readable message, never a dead button
        box = error_box(exc, "the next batch")
        return no_update, no_update, no_update, box, version, no_update
    return nxt, initial_answers(nxt), 0, html.Span(" ".join(notes), className="ok"), version, pversion


@callback(Output(ids.LABEL_BODY, "children"), Output(ids.LABEL_PALETTE, "className"),
          Input(ids.LABEL_BATCH, "data"), Input(ids.COMPOSITE, "value"), Input(ids.WORK_TABS, "value"),
          State(ids.LABEL_ANSWERS, "data"), State(ids.LABEL_FOCUS, "data"))
def show_cards(batch, composite, tab, answers, focus):
    if tab != "label":
        return no_update, no_update
    try:
        pal = "label-palette" + (" multi" if batch and batch.get("multi") else "")
        return render_cards(get_data(), batch, answers, focus, composite or "true_color"), pal
    except Exception as exc:  # a readable message, never a blank panel
        return [error_box(exc, "the batch")], no_update


@callback(Output(ids.LABEL_STATUS, "children"), Output(ids.LABEL_CURVE, "figure"),
          Output(ids.LABEL_CHECK, "children"),
          Input(ids.EDITS_VERSION, "data"), Input(ids.WORK_TABS, "value"), Input(ids.PREDICTIONS_VERSION, "data"))
def show_status(_version, tab, _pversion):
    if tab != "label":
        return no_update, no_update, no_update
    data = get_data()
    try:
        session = session_for(data) if not data.read_only else None
        st = status(data, session)
    except Exception as exc:  # a readable message, never a blank panel
        return [error_box(exc, "the labelling status")], no_update, no_update
    check = f"Check set · {st['check_left']} left" if st["check_size"] else "Check set"
    return status_view(st), curve_figure(st["curve"]), check


@callback(Output(ids.SCATTER, "figure", allow_duplicate=True), Output(ids.MAP, "figure", allow_duplicate=True),
          Input(ids.LABEL_HIGHLIGHT, "value"), Input(ids.EDITS_VERSION, "data"), State(ids.LABEL_SLOTS, "data"),
          prevent_initial_call=True)
def highlight(on, _version, slots):
    if not slots or (not on and ctx.triggered_id != ids.LABEL_HIGHLIGHT):
        return no_update, no_update
    data = get_data()
    out = []
    for coords in ("scatter", "map"):
        i = slots.get(coords)
        if i is None:
            out.append(no_update)
            continue
        x, y = highlight_xy(data, coords) if on else ([], [])
        p = Patch()
        p["data"][i]["x"], p["data"][i]["y"] = x, y
        out.append(p)
    return tuple(out)


# the keys, the chips and the cards' looks run in the browser (assets/label.js): no keystroke waits for the server
clientside_callback(ClientsideFunction(namespace="eomine_label", function_name="apply"),
                    Output(ids.LABEL_ANSWERS, "data", allow_duplicate=True),
                    Output(ids.LABEL_FOCUS, "data", allow_duplicate=True),
                    Input(ids.LABEL_KEY, "data"), State(ids.LABEL_BATCH, "data"), State(ids.LABEL_ANSWERS, "data"),
                    State(ids.LABEL_FOCUS, "data"), prevent_initial_call=True)

clientside_callback(ClientsideFunction(namespace="eomine_label", function_name="render"),
                    Output({"type": ids.LABEL_CARD, "index": ALL}, "className"),
                    Output({"type": ids.LABEL_CHIPS, "index": ALL}, "children"),
                    Output(ids.LABEL_COUNTER, "children"),
                    Input(ids.LABEL_ANSWERS, "data"), Input(ids.LABEL_FOCUS, "data"), State(ids.LABEL_BATCH, "data"))

clientside_callback(ClientsideFunction(namespace="eomine_label", function_name="accept_all"),
                    Output(ids.LABEL_ANSWERS, "data", allow_duplicate=True),
                    Input(ids.LABEL_ACCEPT_ALL, "n_clicks"), State(ids.LABEL_BATCH, "data"),
                    State(ids.LABEL_ANSWERS, "data"), prevent_initial_call=True)

__all__ = ["layout", "overlay_traces", "submit", "next_round", "check_round", "answers_payload", "status",
           "stability_words", "batch_dict", "initial_answers", "render_cards", "highlight_xy", "curve_figure",
           "session_for"]
