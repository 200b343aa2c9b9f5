"""Curation controls: a toolbar under the scatter and the map that relabels / flags / excludes the current
selection (lasso, box, map box or filtered view), a note per batch, undo / redo by batch; the curator's name in
the top bar (entered once per browser).

Every edit is safe to click:

* each click carries a client-generated request id (``CURATE_RID``, renewed only once the server answered), so a
  double click, a retried request or a replayed tab commits one batch (the log refuses a second batch with the
  same id, :class:`mining.curation.DuplicateRequest`, and the page shows the first batch's result);
* the toolbar is disabled while a commit runs;
* an edit of more than ``AppData.confirm_above`` patches (default 1,000) asks first, naming the count and what
  they were selected by; Cancel commits nothing;
* the result names what changed and offers *Undo* of exactly that batch in place.

The detail panel shows the patch in focus with buttons of the same pattern-matching id
(:func:`dashboard.components.patch_block`), committed by this panel's callback. Every commit goes through
:func:`dashboard.access.commit_edits` (read-only enforced on the server) and bumps ``EDITS_VERSION`` so every
panel redraws with the labels after the edit. A poll picks up the edits other sessions commit. In
``--read-only`` mode none of the controls are in the page.
"""

from __future__ import annotations

import numpy as np
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from mining.curation import MAX_BATCH, SPLITS, Edit, split_name
from mining.errors import DataError

from .. import ids
from ..access import EditRefused, commit_edits, undo_redo
from ..components import action_button, batch_action, clicked
from ..data import NO_LABEL, AppData, AppState, Filters, get_data, get_state
from ..selection import combined_mask, describe_selection, selection_mask

#: ops offered for the selection (label: what the button says)
SELECTION_OPS = {"add": "Add label", "remove": "Remove label", "set": "Set labels", "flag": "Flag doubtful",
                 "unflag": "Unflag", "exclude": "Exclude", "restore": "Restore", "split": "Assign split"}
#: the split dropdown's "no split" value
NO_SPLIT_VALUE = "none"
POLL_MS = 4000
NO_TARGET = "Select patches (lasso or box on the embedding, a box on the map, or a filter) to edit them."


# --------------------------------------------------------------------------- plain functions (tested directly)
def target_rows(data: AppData, target: str, filters: dict | None, sel: dict | None,
                selected: str | None) -> np.ndarray:
    """Catalog rows an action applies to: the selection AND the filters, or the patch in focus.

    Raises
    ------
    DataError
        With a message for the curator when there is nothing to apply it to, or too much.
    """
    if target == "focus":
        row = data.find(selected)
        if row is None:
            raise DataError("No patch in focus: click a point, a thumbnail or a map patch first.")
        return np.array([row])
    if target != "selection":
        raise DataError(f"unknown edit target {target!r}")
    try:
        m = combined_mask(data, filters, sel)
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"The selection cannot be used: {exc}") from None
    if m is None:
        raise DataError(NO_TARGET)
    rows = np.flatnonzero(m)
    if not len(rows):
        raise DataError("No patch is in the selection (with the filters).")
    if len(rows) > MAX_BATCH:
        raise DataError(f"{len(rows):,} patches is more than one batch may hold ({MAX_BATCH:,}).")
    return rows


def build_edits(data: AppData, rows: np.ndarray, op: str, *, label: str | None = None,
                labels=()) -> tuple[list[Edit], int]:
    """Edits of ``op`` for ``rows``; ``add`` / ``remove`` skip patches where they change nothing.

    Returns
    -------
    edits : list of Edit
    skipped : int
        Patches left out because the edit would not change them.
    """
    if op in ("add", "remove"):
        if label not in data.classes:
            raise DataError(f"Choose a label to {op} first." if not label else f"Unknown label {label!r}.")
        has = data.labels.Y[rows, data.classes.index(label)]
        keep = rows[~has] if op == "add" else rows[has]
        return [Edit(str(data.ids[r]), op, label) for r in keep], len(rows) - len(keep)
    if op == "set":
        labels = tuple(labels or ())
        unknown = [x for x in labels if x not in data.classes]
        if unknown:
            raise DataError(f"Unknown label {unknown[0]!r}.")
        if not labels:
            raise DataError("Choose the labels to set (at least one).")
        return [Edit(str(data.ids[r]), "set", labels=labels) for r in rows], 0
    if op in ("flag", "unflag", "exclude", "restore", "keep"):
        return [Edit(str(data.ids[r]), op) for r in rows], 0
    if op == "split":
        if not label:
            raise DataError("Choose the split to assign first.")
        try:
            name = split_name(label, where="split")
        except DataError as exc:
            raise DataError(str(exc)) from None
        keep = rows[data.labels.split[rows] != name]
        return [Edit(str(data.ids[r]), "split", label=name) for r in keep], len(rows) - len(keep)
    raise DataError(f"unknown edit {op!r}")


def describe(op: str, n: int, *, label: str | None = None, labels=(), skipped: int = 0) -> str:
    """Human summary of a batch, e.g. ``added "Urban fabric" to 120 patches``."""
    what = {"add": f'added "{label}" to', "remove": f'removed "{label}" from',
            "set": f"set labels to {', '.join(labels)} on", "flag": "flagged", "unflag": "unflagged",
            "exclude": "excluded", "restore": "restored", "keep": "confirmed the labels of",
            "split": f"assigned split {label} to" if label != NO_SPLIT_VALUE else "removed the split of"}[op]
    text = f"{what} {n:,} patch{'es' if n != 1 else ''}"
    if skipped:
        text += (f" ({skipped:,} already {'had' if op == 'add' else 'lacked'} it)" if op != "split" else
                 f" ({skipped:,} already {'in it' if label != NO_SPLIT_VALUE else 'without one'})")
    return text


def scope_words(data: AppData, filters: dict | None, sel: dict | None) -> str:
    """What a selection-wide action applies to, in words: the selection and the filters that made it."""
    parts = []
    s = selection_mask(data, sel)
    if s is not None:
        name = (sel or {}).get("name")
        parts.append(f"selection “{name}”" if name else describe_selection(sel, int(s.sum())).split(" by ")[-1])
    f = Filters.from_dict(filters)
    if f.labels:
        names = [("no label" if x == NO_LABEL else x) for x in f.labels]
        parts.append("label " + (" and " if f.label_mode == "all" else " or ").join(names))
    if f.splits:
        parts.append("split " + " or ".join(f.splits))
    if f.countries:
        parts.append("country " + " or ".join(f.countries))
    if f.flags:
        parts.append("flags " + " or ".join(x.replace("_", " ") for x in f.flags))
    return " ∧ ".join(parts) if parts else "every patch"


def plan_action(state: AppState, target: str, op: str, *, author: str | None, label=None, labels=(),
                filters=None, sel=None, selected=None) -> dict:
    """Check an action and count what it would change, without committing.

    Returns
    -------
    dict
        ``ok`` False with ``message``; or ``ok`` True with ``n`` (edits), ``skipped``, ``what`` (the
        description), ``scope`` (what the patches were selected by).
    """
    if not author or not str(author).strip():
        return {"ok": False, "message": "Enter your name first (top right): every edit names its author."}
    data = state.sync()
    if data.read_only:
        return {"ok": False, "message": "this server is read-only (presentation mode): edits are disabled"}
    try:
        rows = target_rows(data, target, filters, sel, selected)
        edits, skipped = build_edits(data, rows, op, label=label, labels=labels)
    except DataError as exc:
        return {"ok": False, "message": str(exc)}
    what = describe(op, len(edits), label=label, labels=labels, skipped=skipped)
    if not edits:
        return {"ok": False, "message": "Nothing to change: " + describe(op, 0, label=label, labels=labels,
                                                                         skipped=skipped)}
    scope = scope_words(data, filters, sel) if target == "selection" else str(selected)
    return {"ok": True, "n": len(edits), "skipped": skipped, "what": what, "scope": scope}


def run_action(state: AppState, target: str, op: str, *, author: str | None, note: str = "", label=None,
               labels=(), filters=None, sel=None, selected=None, request_id: str | None = None) -> dict:
    """Do one action of the controls on the current snapshot of ``state``.

    Returns
    -------
    dict
        ``message`` (for the curator); ``version``: the log version after the action when it changed something
        (the page's ``EDITS_VERSION``), else None; ``batch``: the batch to offer *Undo* of, or None.
    """
    if not author or not str(author).strip():
        return {"message": "Enter your name first (top right): every edit names its author.", "version": None,
                "batch": None}
    author = str(author).strip()
    try:
        if target == "log":
            res = undo_redo(state, op, author=author, request_id=request_id)
            if res["batch"] is None:
                return {"message": f"Nothing to {op} for {author}.", "version": None, "batch": None}
            return {"message": res["message"], "version": res["version"], "batch": None}
        data = state.sync()
        rows = target_rows(data, target, filters, sel, selected)
        edits, skipped = build_edits(data, rows, op, label=label, labels=labels)
        if not edits:
            return {"message": "Nothing to change: " + describe(op, 0, label=label, labels=labels, skipped=skipped),
                    "version": None, "batch": None}
        what = describe(op, len(edits), label=label, labels=labels, skipped=skipped)
        res = commit_edits(state, edits, author=author, note=note or "", source="app", request_id=request_id)
    except (DataError, EditRefused) as exc:
        return {"message": str(exc), "version": None, "batch": None}
    again = " (this request was already saved)" if res.get("duplicate") else ""
    return {"message": f"Batch {res['batch']}: {what} by {author}{again}.", "version": res["version"],
            "batch": res["batch"]}


def message_view(res: dict) -> html.Span:
    """The result line under the toolbar, with *Undo* of the batch just committed."""
    ok = res.get("version") is not None
    children = [res["message"]]
    if res.get("batch") is not None:
        children += [" ", html.Button("Undo", id={"type": ids.CURATE_UNDO_BATCH, "index": int(res["batch"])},
                                      n_clicks=0, className="btn btn-sm btn-link", title="undo exactly this batch")]
    return html.Span(children, className="ok" if ok else "warn")


# --------------------------------------------------------------------------- layout
def author_layout(data: AppData) -> list:
    """The curator's name, in the top bar (nothing in read-only mode)."""
    if data.read_only:
        return []
    return [html.Div(className="author", children=[
        html.Label("Curator", htmlFor=ids.CURATE_AUTHOR_INPUT),
        dcc.Input(id=ids.CURATE_AUTHOR_INPUT, type="text", placeholder="your name", debounce=True, maxLength=100,
                  className="author-input"),
        html.Button("Save", id=ids.CURATE_AUTHOR_SAVE, n_clicks=0, className="btn btn-sm"),
        html.Span(id=ids.CURATE_AUTHOR_INFO, className="author-info")])]


def layout(data: AppData) -> list:
    """The curation toolbar (nothing in read-only mode: no edit control at all)."""
    if data.read_only:
        return []
    opts = [{"label": s, "value": c} for c, s in zip(data.classes, data.short, strict=True)]
    return [html.Section(id=ids.CURATE_BAR, className="curate-bar", **{"aria-label": "Curate"}, children=[
        html.Div(className="curate-line", children=[
            html.Strong("Curate", className="curate-title"),
            html.Span(id=ids.CURATE_TARGET_INFO, className="curate-target", children=NO_TARGET),
        ]),
        html.Div(className="curate-line", children=[
            dcc.Dropdown(id=ids.CURATE_LABEL, options=opts, placeholder="label to add / remove",
                         className="curate-dd"),
            action_button("Add label", "selection", "add"), action_button("Remove label", "selection", "remove"),
            html.Span(className="sep"),
            dcc.Dropdown(id=ids.CURATE_SET_LABELS, options=opts, multi=True, placeholder="new label set",
                         className="curate-dd curate-dd-wide"),
            action_button("Set labels", "selection", "set"),
        ]),
        html.Div(className="curate-line", children=[
            action_button("Flag doubtful", "selection", "flag"), action_button("Unflag", "selection", "unflag"),
            action_button("Exclude", "selection", "exclude", title="exclude from its split"),
            action_button("Restore", "selection", "restore", title="restore to its split"),
            html.Span(className="sep"),
            dcc.Dropdown(id=ids.CURATE_SPLIT, className="curate-dd curate-dd-narrow", placeholder="split",
                         options=[*({"label": s, "value": s} for s in SPLITS),
                                  {"label": "(no split)", "value": NO_SPLIT_VALUE}]),
            action_button("Assign split", "selection", "split",
                          title="move the selection to this split (one batch of the edit log: Undo reverts it)"),
            html.Span(className="sep"),
            dcc.Input(id=ids.CURATE_NOTE, type="text", placeholder="note for the next batch (why)", maxLength=500,
                      className="curate-input"),
            action_button("↶ Undo", "log", "undo", title="undo your latest batch (Ctrl+Z)"),
            action_button("↷ Redo", "log", "redo", title="redo your latest undone batch (Ctrl+Shift+Z)"),
        ]),
        html.Div(id=ids.CURATE_MESSAGE, className="curate-message", role="status"),
        dcc.ConfirmDialog(id=ids.CURATE_CONFIRM),
        dcc.Store(id=ids.CURATE_PENDING, data=None),
        dcc.Store(id=ids.CURATE_RID, data=None),
        dcc.Interval(id=ids.CURATE_POLL, interval=POLL_MS),
    ])]


# --------------------------------------------------------------------------- callbacks
@callback(Output(ids.AUTHOR, "data"), Input(ids.CURATE_AUTHOR_SAVE, "n_clicks"),
          Input(ids.CURATE_AUTHOR_INPUT, "n_submit"), State(ids.CURATE_AUTHOR_INPUT, "value"),
          prevent_initial_call=True)
def save_author(_n, _submit, name):
    name = (name or "").strip()
    return name[:100] if name else no_update


@callback(Output(ids.CURATE_AUTHOR_INFO, "children"), Output(ids.CURATE_AUTHOR_INPUT, "value"),
          Input(ids.AUTHOR, "data"))
def show_author(author):
    if not author:
        return "needed to edit (saved in this browser)", no_update
    return "", author


@callback(Output(ids.CURATE_TARGET_INFO, "children"), Input(ids.SELECTION, "data"), Input(ids.FILTERS, "data"),
          Input(ids.EDITS_VERSION, "data"), Input(ids.SELECTION_NAME, "value"))
def show_target(sel, filters, _version, name=None):
    data = get_data()
    if sel and name:
        sel = {**sel, "name": name}
    try:
        m = combined_mask(data, filters, sel)
    except (ValueError, KeyError, TypeError) as exc:
        return f"Selection ignored: {exc}"
    if m is None:
        return NO_TARGET
    return f"applies to {int(m.sum()):,} patches: {scope_words(data, filters, sel)}"


# a request id per intent: made in the browser, renewed only when the server answered, so every click made while
# a commit is on its way (a double click) carries the same id and the log keeps one batch
clientside_callback(
    """function(_msg, _pending) { return (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
        : String(Date.now()) + '-' + Math.random().toString(16).slice(2); }""",
    Output(ids.CURATE_RID, "data"), Input(ids.CURATE_MESSAGE, "children"), Input(ids.CURATE_PENDING, "data"))


@callback(Output(ids.EDITS_VERSION, "data", allow_duplicate=True), Output(ids.CURATE_MESSAGE, "children"),
          Output(ids.CURATE_NOTE, "value"), Output(ids.CURATE_CONFIRM, "displayed"),
          Output(ids.CURATE_CONFIRM, "message"), Output(ids.CURATE_PENDING, "data"),
          Input({"type": ids.CURATE_ACTION, "target": ALL, "op": ALL}, "n_clicks"),
          State(ids.AUTHOR, "data"), State(ids.CURATE_NOTE, "value"), State(ids.CURATE_LABEL, "value"),
          State(ids.CURATE_SET_LABELS, "value"), State({"type": ids.CURATE_FOCUS_LABELS, "index": ALL}, "value"),
          State(ids.FILTERS, "data"), State(ids.SELECTION, "data"), State(ids.SELECTION_NAME, "value"),
          State(ids.SELECTED, "data"), State(ids.CURATE_RID, "data"), State(ids.CURATE_SPLIT, "value"),
          running=[(Output(ids.CURATE_BAR, "className"), "curate-bar busy", "curate-bar")],
          prevent_initial_call=True)
def act(clicks, author, note, label, set_labels, focus_labels, filters, sel, sel_name, selected, rid, split=None):
    trig = clicked()
    if trig is None:
        return (no_update,) * 6  # buttons (re)created by a re-render, not clicked
    target, op = trig.get("target"), trig.get("op")
    if op == "split":
        label = split
    labels = set_labels
    if target == "focus" and op == "set":
        labels = focus_labels[0] if focus_labels else []
    if sel and sel_name:
        sel = {**sel, "name": sel_name}
    state = get_state()
    action = {"target": target, "op": op, "label": label, "labels": list(labels or ()), "note": note or "",
              "filters": filters, "sel": sel, "selected": selected, "rid": rid}
    repeat = _repeat(state, action, author) if target != "log" else None
    if repeat is not None:
        return repeat
    if target == "selection":
        plan = plan_action(state, target, op, author=author, label=label, labels=labels or (), filters=filters,
                           sel=sel, selected=selected)
        if not plan["ok"]:
            return no_update, html.Span(plan["message"], className="warn"), no_update, False, no_update, None
        if plan["n"] > state.current.confirm_above:
            question = (f"{plan['what'][0].upper()}{plan['what'][1:]}?\n\nSelected by: {plan['scope']}.\n\n"
                        "This is one batch in the edit log (Undo reverts it).")
            return no_update, no_update, no_update, True, question, {**action, "n": plan["n"]}
    return _commit(state, action, author)


#: seconds within which the same action by the same curator is one intent (a double click)
REPEAT_S = 2.0


def _action_key(action: dict, author) -> tuple:
    import json

    return (str(author or "").strip(), json.dumps({k: v for k, v in action.items() if k not in ("rid", "n")},
                                                  sort_keys=True, default=str))


def _repeat(state: AppState, action: dict, author) -> tuple | None:
    """The outputs of the same action by the same curator a moment ago (a double click), or None."""
    import time

    prev = state.current.caches.recent_actions.peek(_action_key(action, author))
    if prev is None or time.monotonic() - prev[0] >= REPEAT_S or prev[1]["batch"] is None:
        return None
    if state.sync().labels.version != prev[1]["version"]:  # anything happened since (an undo): a new intent
        return None
    res = {**prev[1], "message": prev[1]["message"].rstrip(".") + " (the repeated click changed nothing)."}
    return res["version"], message_view(res), "", False, no_update, None


def _commit(state: AppState, action: dict, author) -> tuple:
    import time

    res = run_action(state, action["target"], action["op"], author=author, note=action["note"],
                     label=action["label"], labels=tuple(action["labels"]), filters=action["filters"],
                     sel=action["sel"], selected=action["selected"], request_id=action["rid"])
    if res["batch"] is not None:
        state.current.caches.recent_actions.put(_action_key(action, author), (time.monotonic(), res))
    done = res["version"] is not None
    return ((res["version"] if done else no_update), message_view(res), ("" if done else no_update), False,
            no_update, None)


@callback(Output(ids.EDITS_VERSION, "data", allow_duplicate=True), Output(ids.CURATE_MESSAGE, "children",
                                                                           allow_duplicate=True),
          Output(ids.CURATE_NOTE, "value", allow_duplicate=True), Output(ids.CURATE_PENDING, "data",
                                                                          allow_duplicate=True),
          Input(ids.CURATE_CONFIRM, "submit_n_clicks"), Input(ids.CURATE_CONFIRM, "cancel_n_clicks"),
          State(ids.CURATE_PENDING, "data"), State(ids.AUTHOR, "data"),
          running=[(Output(ids.CURATE_BAR, "className"), "curate-bar busy", "curate-bar")],
          prevent_initial_call=True)
def confirm(_ok, _cancel, pending, author):
    """The answer to the confirmation of a large edit: commit exactly what was asked (if it still counts the
    same), or nothing."""
    if not pending:
        return no_update, no_update, no_update, None
    if ctx.triggered_id and "cancel" in str(ctx.triggered[0].get("prop_id", "")):
        return no_update, html.Span("Cancelled: nothing was changed.", className="warn"), no_update, None
    state = get_state()
    plan = plan_action(state, pending["target"], pending["op"], author=author, label=pending["label"],
                       labels=tuple(pending["labels"]), filters=pending["filters"], sel=pending["sel"],
                       selected=pending["selected"])
    if plan["ok"] and plan["n"] != pending["n"]:
        return no_update, html.Span(f"Not saved: the selection now holds {plan['n']:,} edits, not the "
                                    f"{pending['n']:,} you confirmed (labels changed meanwhile). Press again.",
                                    className="warn"), no_update, None
    version, msg, note, _, _, _ = _commit(state, pending, author)
    return version, msg, note, None


@callback(Output(ids.EDITS_VERSION, "data", allow_duplicate=True), Output(ids.CURATE_MESSAGE, "children",
                                                                           allow_duplicate=True),
          Input({"type": ids.CURATE_UNDO_BATCH, "index": ALL}, "n_clicks"), State(ids.AUTHOR, "data"),
          State(ids.CURATE_RID, "data"), prevent_initial_call=True)
def undo_batch(clicks, author, rid):
    """*Undo* in place: revert exactly the batch the message names."""
    trig = clicked()
    if trig is None:
        return no_update, no_update
    return batch_action("undo", trig["index"], author, request_id=rid,
                        refused=f"Batch {trig['index']} is not yours to undo, or already undone.")


@callback(Output(ids.EDITS_VERSION, "data", allow_duplicate=True), Input(ids.CURATE_POLL, "n_intervals"),
          State(ids.EDITS_VERSION, "data"), prevent_initial_call=True)
def poll(_n, shown):
    """Other curators' edits: bump the version this page shows when the log moved on."""
    data = get_data()  # syncs the labels
    return data.edits_version if data.edits_version != (shown or 0) else no_update
