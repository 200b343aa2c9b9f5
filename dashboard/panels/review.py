"""Review queue: the patches whose labels look wrong (``scores.parquet`` of ``eomine score``), most suspicious
first, one at a time: thumbnail, current labels, suggested labels and the evidence in words, with
**Accept suggestion** (``a``), **Keep** (``k``) and **Skip** (``s``) (keys in ``assets/review.js``).

Accept commits ``Edit(patch, "set", labels=suggested)``, Keep commits ``Edit(patch, "keep")``, both through
:func:`dashboard.access.commit_edits` (the curation log; read-only refused on the server) and bump
``EDITS_VERSION``. A patch leaves the queue when a reviewer kept it or its labels no longer are the ones that
were scored (accepted or edited elsewhere); skips are remembered for this browser session. The queue filters
by class and by kind of suspicion. The scatter's "Noise suspicion" colouring comes from
:func:`dashboard.data.suspicion_codes`.

**Re-score** runs ``eomine score WS`` on the labels after the edits as a Dash background callback (its own
process; progress lines shown as they come; one scoring per workspace at a time), then bumps
``SCORES_VERSION`` so the queue and the scatter redraw with the new scores.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from mining.curation import Edit
from mining.errors import WorkspaceError
from mining.noise import KIND_TEXT, KINDS, explain, load_scores

from .. import ids
from ..access import EditRefused, commit_edits
from ..data import AppData, get_data
from .grid import error_box, label_chip, lazy_img, pixel_problem, short_id

CARD_SIZE = 160
NEXT_SHOWN = 8
_LOCK = threading.Lock()  # guards the one-time load of the scores onto AppData (not shared state)


# --------------------------------------------------------------------------- plain functions (tested directly)
class ReviewScores:
    """The flagged patches of ``scores.parquet``, aligned to the app's catalog rows.

    Attributes
    ----------
    n_scored : int
        Patches in ``scores.parquet``.
    rows : ndarray of int, shape (m,)
        Catalog row of each flagged patch, in rank order (most suspicious first).
    score, flagged, kind : ndarray, shape (m,)
    labels : ndarray of bool, shape (m, n_classes)
        The labels that were scored.
    suggested : ndarray of bool, shape (m, n_classes)
    frame : pandas.DataFrame
        The parquet rows in rank order (evidence lists for :func:`evidence_words`).
    card : dict
        ``scores.json``.
    """

    def __init__(self, data: AppData):
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        from mining._internal.artifacts import read_card
        from mining.quality import label_matrix

        load_scores(data.ws, columns=["patch_id"])  # checks the card's format version (readable message)
        table = pq.read_table(data.ws.path / "scores.parquet")
        self.n_scored = table.num_rows
        table = table.filter(pc.field("flagged"))  # only suspects: a few % of 549,488 rows become pandas
        df = table.to_pandas().sort_values("rank", kind="stable").reset_index(drop=True)
        self.card = read_card(data.ws.path / "scores.json") or {}
        rows = data.id_index.get_indexer(df["patch_id"])  # the app's id index (built once at start-up)
        keep = rows >= 0
        df = df[keep].reset_index(drop=True)
        self.frame = df
        self.rows = rows[keep]
        self.score = df["score"].to_numpy(np.float32)
        self.flagged = df["flagged"].to_numpy(bool)
        self.kind = df["kind"].to_numpy(object)
        self.labels = label_matrix(df["labels"], data.classes)
        self.suggested = label_matrix(df["suggested"], data.classes)
        self.mtime = (data.ws.path / "scores.parquet").stat().st_mtime


def review_scores(data: AppData) -> ReviewScores:
    """The scores of the app's workspace, loaded once (again when ``eomine score`` rewrote them).

    Raises
    ------
    WorkspaceError
        No ``scores.parquet`` yet (the message says to run ``eomine score WS``).
    """
    path = data.ws.path / "scores.parquet"
    cached = getattr(data, "review_scores_", None)
    mtime = path.stat().st_mtime if path.is_file() else None
    if cached is not None and cached.mtime == mtime:
        return cached
    with _LOCK:
        cached = getattr(data, "review_scores_", None)
        if cached is None or cached.mtime != mtime:
            cached = ReviewScores(data)
            data.review_scores_ = cached
    return cached


def queue(data: AppData, sc: ReviewScores, *, cls: str | None = None, kind: str | None = None,
          skipped=()) -> np.ndarray:
    """Positions (into ``sc``) of the suspects still to review, most suspicious first.

    A suspect is a flagged patch whose current labels are still the scored ones, that no reviewer kept, that
    this session did not skip, and that matches the class (current or suggested label) and kind filters.
    """
    cur = data.Y[sc.rows]
    m = sc.flagged & (cur == sc.labels).all(1)
    confirmed = _confirmed(data)
    if confirmed is not None:
        m &= ~confirmed[sc.rows]
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


def _confirmed(data: AppData) -> np.ndarray | None:
    edits = getattr(data, "edits", None)
    if edits is None or not edits.version():
        return None
    return edits.current_labels().confirmed


def evidence_words(data: AppData, sc: ReviewScores, pos: int) -> list[str]:
    """The evidence of suspect ``pos`` in sentences, from its stored components and its 10 neighbours."""
    row = sc.frame.iloc[pos]
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


def decide(data: AppData, sc: ReviewScores, patch_id: str, op: str, *, author: str | None) -> tuple[str, bool]:
    """Commit a reviewer's decision on ``patch_id``. Returns (message, whether the log changed)."""
    if not author or not str(author).strip():
        return "Enter your name first (sidebar, Curate): every review decision names its reviewer.", False
    hit = np.flatnonzero(data.ids[sc.rows] == patch_id)
    if not len(hit):
        return f"Patch {patch_id} is not in the scores any more: run `eomine score` again.", False
    pos = int(hit[0])
    if op == "accept" and (sc.suggested[pos] == data.Y[sc.rows[pos]]).all():
        return "Nothing to accept: the suggestion is the current label set (use Keep or Skip).", False
    edit = suggestion_edit(data, sc, pos, op)
    note = f"review queue: {op} (score {sc.score[pos]:.2f}, {KIND_TEXT.get(sc.kind[pos], sc.kind[pos])})"
    try:
        res = commit_edits(data, [edit], author=str(author).strip(), note=note, source="review")
    except EditRefused as exc:
        return str(exc), False
    what = "labels set to " + (", ".join(edit.labels) or "none") if op == "accept" else "labels kept"
    return f"Batch {res['batch']}: {patch_id} {what}. Undo (sidebar) reverts it.", True


# --------------------------------------------------------------------------- rendering
def _chips(data: AppData, js, *, cls: str = "") -> html.Div:
    if not len(js):
        return html.Div(html.Span("no label", className="chip chip-none"), className="chips")
    return html.Div([label_chip(data, int(j)) for j in js], className=f"chips {cls}".strip())


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
    from ..app import thumb_url

    row = int(sc.rows[pos])
    pid = str(data.ids[row])
    why = pixel_problem(data, row, composite)
    pic = (lazy_img(thumb_url(composite, pid, CARD_SIZE), alt=pid, className="review-img", width=CARD_SIZE,
                    height=CARD_SIZE) if why is None else
           html.Div(className="review-img thumb-placeholder", children=[html.Span(short_id(pid), className="ph-id"),
                                                                         html.Span(why, className="ph-why")]))
    cur, sug = data.Y[row], sc.suggested[pos]
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
                html.Strong(f"#{int(sc.frame['rank'].iat[pos]):,}"), f" · score {sc.score[pos]:.2f} · ",
                html.Span(KIND_TEXT.get(sc.kind[pos], sc.kind[pos]), className=f"review-kind kind-{sc.kind[pos]}"),
                html.Span(f" · {remaining:,} to review", className="hint")]),
            html.Div(pid, className="review-id"),
            html.Div([html.Span("Current", className="review-label"), _chips(data, np.flatnonzero(cur))],
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
            [html.Span(f"#{int(sc.frame['rank'].iat[pos]):,}", className="review-rank"),
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
    n_flagged = int(sc.flagged.sum())
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
    data = get_data()
    try:
        msg, changed = decide(data, review_scores(data), current, op, author=author)
    except WorkspaceError as exc:
        msg, changed = str(exc), False
    box = html.Span(msg, className="ok" if changed else "warn")
    return (data.edits_version if changed else no_update), no_update, box


@callback(Output(ids.SELECTED, "data", allow_duplicate=True),
          Input({"type": ids.REVIEW_ITEM, "index": ALL}, "n_clicks"), prevent_initial_call=True)
def focus(clicks):
    trig = ctx.triggered_id
    if not isinstance(trig, dict) or not any(t.get("value") for t in ctx.triggered or []):
        return no_update
    return trig.get("index")


# --------------------------------------------------------------------------- the re-score job
def rescore(ws_path: Path, say=None) -> tuple[bool, str]:
    """Run ``eomine score WS`` in a child process, passing each progress line to ``say``.

    A child process keeps the server's own state (numba threads, torch) out of it, and is what the CLI runs.

    Returns
    -------
    ok : bool
    message : str
        The command's last line: its summary, or the error (e.g. another scoring of this workspace is running).
    """
    proc = subprocess.Popen([sys.executable, "-m", "eomine.cli", "score", str(Path(ws_path).resolve())],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    last = "no output"
    for line in proc.stdout:
        line = " ".join(line.split())
        if line:
            last = line
            if say is not None:
                say(line)
    ok = proc.wait() == 0
    return ok, last.removeprefix("Error: ")


def register_jobs(app, data: AppData) -> None:
    """The review panel's background callback (needs the app's background callback manager)."""
    if data.read_only:
        return  # no Re-score button; nothing that writes the workspace is registered
    ws_path = data.ws.path

    @app.callback(Output(ids.REVIEW_RESCORE_MSG, "children"), Output(ids.SCORES_VERSION, "data"),
                  Input(ids.REVIEW_RESCORE, "n_clicks"), State(ids.SCORES_VERSION, "data"),
                  background=True, prevent_initial_call=True,
                  running=[(Output(ids.REVIEW_RESCORE, "disabled"), True, False)],
                  progress=[Output(ids.REVIEW_RESCORE_MSG, "children")], progress_default=[""])
    def run_rescore(set_progress, n_clicks, version):
        if not n_clicks:
            return no_update, no_update
        set_progress([html.Span("scoring… ", className="spinner-text")])
        ok, msg = rescore(ws_path, say=lambda line: set_progress([html.Span(f"scoring… {line}")]))
        if not ok:
            return html.Span(msg, className="warn"), no_update
        return html.Span(rescore_summary(ws_path, up_to_date="up to date" in msg), className="ok"), \
            int(version or 0) + 1


def rescore_summary(ws_path: Path, *, up_to_date: bool = False) -> str:
    """One line on the stored scores (``scores.json``) after a re-score."""
    from mining._internal.artifacts import read_card

    card = read_card(Path(ws_path) / "scores.json") or {}
    n, flagged = int(card.get("n", 0)), int(card.get("n_flagged", 0))
    took = sum(card.get("seconds", {}).values())
    head = "Scores already match the current labels" if up_to_date else f"Re-scored in {took:.1f} s"
    return f"{head}: {flagged:,} of {n:,} patches flagged ({flagged / max(n, 1):.1%})."
