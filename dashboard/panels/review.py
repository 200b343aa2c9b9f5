"""Review queue: the patches whose labels look wrong (``scores.parquet`` of ``eomine score``), most suspicious
first, one at a time: thumbnail, current labels, suggested labels and the evidence in words, with
**Accept suggestion** (``a``), **Keep** (``k``) and **Skip** (``s``) (keys in ``assets/review.js``).

Accept commits ``Edit(patch, "set", labels=suggested)``, Keep commits ``Edit(patch, "keep")``, both through
:func:`dashboard.access.commit_edits` (the curation log; read-only refused on the server) and bump
``EDITS_VERSION``. A patch leaves the queue when a reviewer kept it or its labels no longer are the ones that
were scored (accepted or edited elsewhere); skips are remembered for this browser session. The queue filters
by class and by kind of suspicion. The suspects come from the snapshot's scores
(:class:`dashboard.snapshots.ReviewScores`), the same read that colours the scatter by suspicion.

**Re-score** runs :func:`mining.noise.score_workspace` on the labels after the edits as a Dash background
callback (its own process; its progress and errors come back as data, shown as they come; one scoring per
workspace at a time), then bumps ``SCORES_VERSION`` so the queue and the scatter redraw with the new scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from mining.curation import Edit
from mining.errors import EomineError, WorkspaceError
from mining.noise import KIND_TEXT, KINDS, explain

from .. import ids
from ..access import EditRefused, commit_edits
from ..components import chips, error_box, label_chip, lazy_img, pixel_problem, placeholder, short_id
from ..data import AppData, AppState, get_data, get_state
from ..routes import thumb_url
from ..snapshots import ReviewScores

CARD_SIZE = 160
NEXT_SHOWN = 8


# --------------------------------------------------------------------------- plain functions (tested directly)
def review_scores(data: AppData) -> ReviewScores:
    """The flagged patches of the snapshot's scores.

    Raises
    ------
    WorkspaceError
        No ``scores.parquet`` yet (the message says to run ``eomine score WS``).
    """
    if data.scores.review is None:
        raise WorkspaceError(f"{data.ws.path} has no noise scores yet: run `eomine score {data.ws.path}`")
    return data.scores.review


def queue(data: AppData, sc: ReviewScores, *, cls: str | None = None, kind: str | None = None,
          skipped=()) -> np.ndarray:
    """Positions (into ``sc``) of the suspects still to review, most suspicious first.

    A suspect is a flagged patch whose current labels are still the scored ones, that no reviewer kept, that
    this session did not skip, and that matches the class (current or suggested label) and kind filters.
    """
    cur = data.labels.Y[sc.rows]
    m = (cur == sc.labels).all(1) & ~data.labels.confirmed[sc.rows]
    if cls:
        if cls in data.classes:
            j = data.classes.index(cls)
            m &= cur[:, j] | sc.suggested[:, j]
        else:
            m[:] = False
    if kind:
        m &= sc.kind == kind
    if skipped:
        m &= ~np.isin(data.ids[sc.rows], np.asarray(list(skipped), dtype=object))
    return np.flatnonzero(m)


def evidence_words(data: AppData, sc: ReviewScores, pos: int) -> list[str]:
    """The evidence of suspect ``pos`` in sentences, from its stored components and its 10 neighbours."""
    row = sc.evidence(pos)
    nbs = [data.labels_of(r) for r in data.neighbours(int(sc.rows[pos]), 10)]
    return explain(row, nbs, short=dict(zip(data.classes, data.short, strict=True)))


def suggestion_edit(data: AppData, sc: ReviewScores, pos: int, op: str) -> Edit:
    """The edit of a decision: ``accept`` -> set the suggested labels; ``keep`` -> confirm the current ones."""
    pid = str(data.ids[sc.rows[pos]])
    if op == "accept":
        return Edit(pid, "set", labels=tuple(data.classes[j] for j in np.flatnonzero(sc.suggested[pos])))
    if op == "keep":
        return Edit(pid, "keep")
    raise ValueError(f"unknown review decision {op!r}")


def decide(state: AppState, patch_id: str, op: str, *, author: str | None) -> tuple[str, int | None]:
    """Commit a reviewer's decision on ``patch_id``.

    Returns
    -------
    message : str
    version : int or None
        The log version after the decision (the page's ``EDITS_VERSION``), None when nothing was committed.
    """
    if not author or not str(author).strip():
        return "Enter your name first (top right): every review decision names its reviewer.", None
    data = state.sync()
    try:
        sc = review_scores(data)
    except WorkspaceError as exc:
        return str(exc), None
    hit = np.flatnonzero(data.ids[sc.rows] == patch_id)
    if not len(hit):
        return f"Patch {patch_id} is not in the scores any more: run `eomine score` again.", None
    pos = int(hit[0])
    if op == "accept" and (sc.suggested[pos] == data.labels.Y[sc.rows[pos]]).all():
        return "Nothing to accept: the suggestion is the current label set (use Keep or Skip).", None
    edit = suggestion_edit(data, sc, pos, op)
    note = f"review queue: {op} (score {sc.score[pos]:.2f}, {KIND_TEXT.get(sc.kind[pos], sc.kind[pos])})"
    try:
        res = commit_edits(state, [edit], author=str(author).strip(), note=note, source="review")
    except EditRefused as exc:
        return str(exc), None
    what = "labels set to " + (", ".join(edit.labels) or "none") if op == "accept" else "labels kept"
    return f"Batch {res['batch']}: {patch_id} {what}. Undo (sidebar) reverts it.", res["version"]


# --------------------------------------------------------------------------- rendering
def _suggested(data: AppData, cur: np.ndarray, sug: np.ndarray) -> html.Div:
    """Suggested labels, with what would be added (+) and removed (strike-through)."""
    out = []
    for j in np.flatnonzero(cur | sug):
        if cur[j] and sug[j]:
            out.append(label_chip(data, int(j)))
        elif sug[j]:
            out.append(html.Span(["+ ", label_chip(data, int(j))], className="review-add", title="would be added"))
        else:
            out.append(html.Span(label_chip(data, int(j)), className="review-remove", title="would be removed"))
    return html.Div(out, className="chips")


def suspect_card(data: AppData, sc: ReviewScores, pos: int, composite: str | None, remaining: int) -> html.Div:
    row = int(sc.rows[pos])
    pid = str(data.ids[row])
    why = pixel_problem(data, row, composite)
    pic = (lazy_img(thumb_url(composite, pid, CARD_SIZE), alt=pid, className="review-img", width=CARD_SIZE,
                    height=CARD_SIZE) if why is None else
           placeholder(pid, why, "review-img"))
    cur, sug = data.labels.Y[row], sc.suggested[pos]
    same = bool((cur == sug).all())
    words = evidence_words(data, sc, pos)
    buttons = [
        html.Button("Accept suggestion (a)", id={"type": ids.REVIEW_ACTION, "op": "accept"}, n_clicks=0,
                    className="btn btn-primary", disabled=same or data.read_only, **{"data-key": "a"},
                    title="Set the labels to the suggestion (curation log)"),
        html.Button("Keep (k)", id={"type": ids.REVIEW_ACTION, "op": "keep"}, n_clicks=0, className="btn",
                    disabled=data.read_only, **{"data-key": "k"}, title="The labels are right (curation log)"),
        html.Button("Skip (s)", id={"type": ids.REVIEW_ACTION, "op": "skip"}, n_clicks=0, className="btn",
                    **{"data-key": "s"}, title="Decide later (this session)"),
    ]
    return html.Div(className="review-card", **{"data-patch": pid}, children=[
        html.Button(pic, id={"type": ids.REVIEW_ITEM, "index": pid}, n_clicks=0, className="review-pic",
                    title="Show this patch in the embedding, the map and the detail panel"),
        html.Div(className="review-body", children=[
            html.Div(className="review-title", children=[
                html.Strong(f"#{int(sc.rank[pos]):,}"), f" · score {sc.score[pos]:.2f} · ",
                html.Span(KIND_TEXT.get(sc.kind[pos], sc.kind[pos]), className=f"review-kind kind-{sc.kind[pos]}"),
                html.Span(f" · {remaining:,} to review", className="hint")]),
            html.Div(pid, className="review-id"),
            html.Div([html.Span("Current", className="review-label"), chips(data, np.flatnonzero(cur))],
                     className="review-row"),
            html.Div([html.Span("Suggested", className="review-label"),
                      _suggested(data, cur, sug) if not same else html.Span("no change (keep or skip)",
                                                                            className="hint")],
                     className="review-row review-suggested"),
            html.Ul([html.Li(w) for w in words], className="review-evidence"),
            html.Div(buttons, className="review-buttons"),
        ]),
    ])


def next_list(data: AppData, sc: ReviewScores, positions: np.ndarray) -> html.Ol:
    items = []
    for pos in positions:
        row = int(sc.rows[pos])
        pid = str(data.ids[row])
        items.append(html.Li(html.Button(
            [html.Span(f"#{int(sc.rank[pos]):,}", className="review-rank"),
             html.Span(short_id(pid), className="review-short"),
             html.Span(KIND_TEXT.get(sc.kind[pos], sc.kind[pos]), className=f"review-kind kind-{sc.kind[pos]}")],
            id={"type": ids.REVIEW_ITEM, "index": pid}, n_clicks=0, className="review-next-item",
            title=f"{pid}: score {sc.score[pos]:.2f}")))
    return html.Ol(items, className="review-next")


def render_queue(data: AppData, *, cls=None, kind=None, skipped=(), composite=None) -> tuple[list, str | None]:
    """(children of the review panel, patch id of the current suspect or None)."""
    try:
        sc = review_scores(data)
    except WorkspaceError:
        return [html.Div(className="empty", children=[
            "No noise scores yet. Run ", html.Code(f"eomine score {data.ws.path}"),
            " (or press Re-score) to rank the patches whose labels look wrong."])], None
    q = queue(data, sc, cls=cls, kind=kind, skipped=skipped)
    n_flagged = len(sc)
    if not len(q):
        what = "matching these filters " if (cls or kind) else ""
        return [html.Div(className="empty", children=[
            f"No suspect {what}left to review ({n_flagged:,} flagged of {sc.n_scored:,} scored"
            + (f", {len(skipped)} skipped this session" if skipped else "") + ")."])], None
    card = suspect_card(data, sc, int(q[0]), composite, len(q))
    rest = next_list(data, sc, q[1:1 + NEXT_SHOWN])
    children = [card] + ([html.Div("Next", className="review-label"), rest] if len(q) > 1 else [])
    return children, str(data.ids[sc.rows[q[0]]])


# --------------------------------------------------------------------------- layout + callbacks
def layout(data: AppData) -> html.Section:
    kinds = [{"label": KIND_TEXT[k].capitalize(), "value": k} for k in KINDS]
    return html.Section(className="panel review-panel", children=[
        html.Div(className="panel-head", children=[
            html.H2("Review queue"),
            html.Div(className="review-filters", children=[
                dcc.Dropdown(id=ids.REVIEW_CLASS, options=[{"label": s, "value": c} for c, s in
                                                           zip(data.classes, data.short, strict=True)],
                             placeholder="any class", clearable=True, className="review-dd"),
                dcc.Dropdown(id=ids.REVIEW_KIND, options=kinds, placeholder="any kind", clearable=True,
                             className="review-dd"),
            ]),
        ]),
        *([] if data.read_only else [html.Div(className="review-rescore", children=[
            html.Button("Re-score", id=ids.REVIEW_RESCORE, n_clicks=0, className="btn btn-sm",
                        title="Run the noise detection again on the current labels (after your edits)"),
            html.Span(id=ids.REVIEW_RESCORE_MSG, className="hint", role="status")])]),
        dcc.Store(id=ids.REVIEW_SKIPPED, data=[], storage_type="session"),
        dcc.Store(id=ids.REVIEW_CURRENT, data=None),
        html.Div(id=ids.REVIEW_MESSAGE, className="review-message", role="status"),
        dcc.Loading(html.Div(id=ids.REVIEW_BODY, className="review-body-wrap"), type="dot", delay_show=400),
    ])


@callback(Output(ids.REVIEW_BODY, "children"), Output(ids.REVIEW_CURRENT, "data"),
          Input(ids.REVIEW_CLASS, "value"), Input(ids.REVIEW_KIND, "value"), Input(ids.REVIEW_SKIPPED, "data"),
          Input(ids.EDITS_VERSION, "data"), Input(ids.WORK_TABS, "value"), Input(ids.SCORES_VERSION, "data"),
          State(ids.COMPOSITE, "value"))
def show_queue(cls, kind, skipped, _version, tab, _scores_version, composite):
    if tab != "review":
        return no_update, no_update
    data = get_data()
    try:
        return render_queue(data, cls=cls, kind=kind, skipped=skipped or (), composite=composite or "true_color")
    except Exception as exc:  # a readable message, never a blank panel
        return [error_box(exc, "the review queue")], None


@callback(Output(ids.EDITS_VERSION, "data", allow_duplicate=True), Output(ids.REVIEW_SKIPPED, "data"),
          Output(ids.REVIEW_MESSAGE, "children"),
          Input({"type": ids.REVIEW_ACTION, "op": ALL}, "n_clicks"),
          State(ids.REVIEW_CURRENT, "data"), State(ids.REVIEW_SKIPPED, "data"), State(ids.AUTHOR, "data"),
          prevent_initial_call=True)
def act(clicks, current, skipped, author):
    trig = ctx.triggered_id
    if not isinstance(trig, dict) or not any(t.get("value") for t in ctx.triggered or []) or not current:
        return no_update, no_update, no_update  # buttons re-created by a re-render, not clicked
    op = trig.get("op")
    if op == "skip":
        return no_update, list(skipped or []) + [current], html.Span(f"Skipped {current}.", className="ok")
    msg, version = decide(get_state(), current, op, author=author)
    box = html.Span(msg, className="ok" if version is not None else "warn")
    return (version if version is not None else no_update), no_update, box


@callback(Output(ids.SELECTED, "data", allow_duplicate=True),
          Input({"type": ids.REVIEW_ITEM, "index": ALL}, "n_clicks"), prevent_initial_call=True)
def focus(clicks):
    trig = ctx.triggered_id
    if not isinstance(trig, dict) or not any(t.get("value") for t in ctx.triggered or []):
        return no_update
    return trig.get("index")


# --------------------------------------------------------------------------- the re-score job
def rescore(ws_path: Path, on_progress=None) -> dict:
    """Score the workspace at ``ws_path`` again on the labels after the edits (:func:`mining.noise.score_workspace`).

    Runs in the background job's process. Progress and errors come back as data, never as parsed text.

    Parameters
    ----------
    on_progress : callable, optional
        Called with each :class:`mining.progress.Progress`.

    Returns
    -------
    dict
        ``ok`` (bool); then ``skipped`` (the scores already matched the labels), ``n``, ``n_flagged``,
        ``seconds``; or ``error`` (the message, e.g. another scoring of this workspace is running).
    """
    from mining.noise import score_workspace
    from mining.workspace import Workspace

    try:
        card, skipped = score_workspace(Workspace(ws_path), progress=on_progress)
    except EomineError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "skipped": skipped, "n": int(card.get("n", 0)), "n_flagged": int(card.get("n_flagged", 0)),
            "seconds": float(sum(card.get("seconds", {}).values()))}


def rescore_summary(result: dict) -> str:
    """One line for the curator on a finished :func:`rescore`."""
    if not result["ok"]:
        return result["error"]
    n, flagged = result["n"], result["n_flagged"]
    head = "Scores already match the current labels" if result["skipped"] else \
        f"Re-scored in {result['seconds']:.1f} s"
    return f"{head}: {flagged:,} of {n:,} patches flagged ({flagged / max(n, 1):.1%})."


def progress_view(p) -> list:
    """A :class:`mining.progress.Progress` as a progress bar and its line."""
    bar = html.Progress(value=str(p.fraction), max="1", className="job-progress") if p.fraction is not None else None
    return [html.Span([*([bar] if bar is not None else []), f" scoring… {p.message}"], className="spinner-text")]


def register_jobs(app, data: AppData) -> None:
    """The review panel's background callback (needs the app's background callback manager)."""
    if data.read_only:
        return  # no Re-score button; nothing that writes the workspace is registered
    ws_path = data.ws.path.resolve()  # the job's own process opens the workspace by path

    @app.callback(Output(ids.REVIEW_RESCORE_MSG, "children"), Output(ids.SCORES_VERSION, "data"),
                  Input(ids.REVIEW_RESCORE, "n_clicks"), State(ids.SCORES_VERSION, "data"),
                  background=True, prevent_initial_call=True,
                  running=[(Output(ids.REVIEW_RESCORE, "disabled"), True, False)],
                  progress=[Output(ids.REVIEW_RESCORE_MSG, "children")], progress_default=[""])
    def run_rescore(set_progress, n_clicks, version):
        if not n_clicks:
            return no_update, no_update
        set_progress([html.Span("scoring… ", className="spinner-text")])
        result = rescore(ws_path, on_progress=lambda p: set_progress(progress_view(p)))
        if not result["ok"]:
            return html.Span(rescore_summary(result), className="warn"), no_update
        return html.Span(rescore_summary(result), className="ok"), int(version or 0) + 1
