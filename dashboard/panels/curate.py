"""Curation controls: the curator's name (once per browser), relabel / flag / exclude the current selection
(lasso, box, map box or filtered view) or the patch in focus, a note per batch, undo / redo by batch.

The sidebar block (:func:`layout`) acts on the selection; the detail panel shows the patch in focus with buttons
of the same pattern-matching id (:func:`dashboard.components.patch_block`), committed by this panel's callback.
Every commit goes through :func:`dashboard.access.commit_edits` (read-only enforced on the server) and bumps
``EDITS_VERSION`` so every panel redraws with the labels after the edit. A poll picks up the edits other
sessions commit. In ``--read-only`` mode none of the controls are in the page.
"""

from __future__ import annotations

import numpy as np
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from mining.curation import MAX_BATCH, Edit
from mining.errors import DataError

from .. import ids
from ..access import EditRefused, commit_edits, undo_redo
from ..components import action_button
from ..data import AppData, AppState, get_data, get_state
from ..selection import combined_mask

#: ops offered for the selection (label: what the button says)
SELECTION_OPS = {"add": "Add label", "remove": "Remove label", "set": "Set labels", "flag": "Flag doubtful",
                 "unflag": "Unflag", "exclude": "Exclude", "restore": "Restore"}
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
    raise DataError(f"unknown edit {op!r}")


def describe(op: str, n: int, *, label: str | None = None, labels=(), skipped: int = 0) -> str:
    """Human summary of a batch, e.g. ``added "Urban fabric" to 120 patches``."""
    what = {"add": f'added "{label}" to', "remove": f'removed "{label}" from',
            "set": f"set labels to {', '.join(labels)} on", "flag": "flagged", "unflag": "unflagged",
            "exclude": "excluded", "restore": "restored", "keep": "confirmed"}[op]
    text = f"{what} {n:,} patch{'es' if n != 1 else ''}"
    if skipped:
        text += f" ({skipped:,} already {'had' if op == 'add' else 'lacked'} it)"
    return text


def run_action(state: AppState, target: str, op: str, *, author: str | None, note: str = "", label=None,
               labels=(), filters=None, sel=None, selected=None) -> tuple[str, int | None]:
    """Do one action of the controls on the current snapshot of ``state``.

    Returns
    -------
    message : str
        For the curator.
    version : int or None
        The log version after the action when it changed something (the page's ``EDITS_VERSION``), else None.
    """
    if not author or not str(author).strip():
        return "Enter your name first (top of the Curate section): every edit names its author.", None
    data = state.sync()
    try:
        if target == "log":
            res = undo_redo(state, op, author=author)
            if res["batch"] is None:
                return f"Nothing to {op} for {author}.", None
            return f"{op.capitalize()}: batch {res['batch']} ({op} of your latest batch).", res["version"]
        rows = target_rows(data, target, filters, sel, selected)
        edits, skipped = build_edits(data, rows, op, label=label, labels=labels)
        if not edits:
            return "Nothing to change: " + describe(op, 0, label=label, labels=labels, skipped=skipped), None
        res = commit_edits(state, edits, author=str(author).strip(), note=note or "", source="app")
    except (DataError, EditRefused) as exc:
        return str(exc), None
    return (f"Batch {res['batch']}: " + describe(op, len(edits), label=label, labels=labels, skipped=skipped)
            + f" by {str(author).strip()}. Undo reverts it."), res["version"]


# --------------------------------------------------------------------------- layout
def layout(data: AppData) -> list:
    """The sidebar's Curate section (empty in read-only mode: no edit control at all)."""
    if data.read_only:
        return []
    opts = [{"label": s, "value": c} for c, s in zip(data.classes, data.short, strict=True)]
    return [
        html.H3("Curate", className="curate-head"),
        html.Div(className="curate", children=[
            html.Label("Your name", htmlFor=ids.CURATE_AUTHOR_INPUT),
            html.Div(className="curate-row", children=[
                dcc.Input(id=ids.CURATE_AUTHOR_INPUT, type="text", placeholder="curator name", debounce=True,
                          maxLength=100, className="curate-input"),
                html.Button("Save", id=ids.CURATE_AUTHOR_SAVE, n_clicks=0, className="btn btn-sm")]),
            html.Div(id=ids.CURATE_AUTHOR_INFO, className="hint"),
            html.Div(id=ids.CURATE_TARGET_INFO, className="hint curate-target", children=NO_TARGET),
            html.Label("Label", htmlFor=ids.CURATE_LABEL),
            dcc.Dropdown(id=ids.CURATE_LABEL, options=opts, placeholder="a label to add or remove"),
            html.Div(className="curate-row", children=[
                action_button("Add label", "selection", "add"), action_button("Remove label", "selection", "remove")]),
            html.Label("Labels", htmlFor=ids.CURATE_SET_LABELS),
            dcc.Dropdown(id=ids.CURATE_SET_LABELS, options=opts, multi=True, placeholder="the new label set"),
            action_button("Set labels", "selection", "set"),
            html.Div(className="curate-row", children=[
                action_button("Flag doubtful", "selection", "flag"), action_button("Unflag", "selection", "unflag")]),
            html.Div(className="curate-row", children=[
                action_button("Exclude", "selection", "exclude", title="exclude from its split"),
                action_button("Restore", "selection", "restore", title="restore to its split")]),
            html.Label("Note for the next batch", htmlFor=ids.CURATE_NOTE),
            dcc.Input(id=ids.CURATE_NOTE, type="text", placeholder="why (optional)", maxLength=500,
                      className="curate-input"),
            html.Div(className="curate-row", children=[
                action_button("↶ Undo", "log", "undo", title="undo your latest batch"),
                action_button("↷ Redo", "log", "redo", title="redo your latest undone batch")]),
            dcc.Loading(html.Div(id=ids.CURATE_MESSAGE, className="curate-message", role="status"), type="dot",
                        delay_show=300),
            dcc.Interval(id=ids.CURATE_POLL, interval=POLL_MS),
        ]),
    ]


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
        return "Enter your name once: it is saved in this browser and recorded with every edit.", no_update
    return f"Editing as {author}.", author


@callback(Output(ids.CURATE_TARGET_INFO, "children"), Input(ids.SELECTION, "data"), Input(ids.FILTERS, "data"),
          Input(ids.EDITS_VERSION, "data"))
def show_target(sel, filters, _version):
    data = get_data()
    try:
        m = combined_mask(data, filters, sel)
    except (ValueError, KeyError, TypeError) as exc:
        return f"Selection ignored: {exc}"
    if m is None:
        return NO_TARGET
    return f"The buttons below apply to the {int(m.sum()):,} selected patches (selection and filters)."


@callback(Output(ids.EDITS_VERSION, "data", allow_duplicate=True), Output(ids.CURATE_MESSAGE, "children"),
          Output(ids.CURATE_NOTE, "value"),
          Input({"type": ids.CURATE_ACTION, "target": ALL, "op": ALL}, "n_clicks"),
          State(ids.AUTHOR, "data"), State(ids.CURATE_NOTE, "value"), State(ids.CURATE_LABEL, "value"),
          State(ids.CURATE_SET_LABELS, "value"), State({"type": ids.CURATE_FOCUS_LABELS, "index": ALL}, "value"),
          State(ids.FILTERS, "data"), State(ids.SELECTION, "data"), State(ids.SELECTED, "data"),
          prevent_initial_call=True)
def act(clicks, author, note, label, set_labels, focus_labels, filters, sel, selected):
    trig = ctx.triggered_id
    if not isinstance(trig, dict) or not any(t.get("value") for t in ctx.triggered or []):
        return no_update, no_update, no_update  # buttons (re)created by a re-render, not clicked
    target, op = trig.get("target"), trig.get("op")
    labels = set_labels
    if target == "focus" and op == "set":
        labels = focus_labels[0] if focus_labels else []
    msg, version = run_action(get_state(), target, op, author=author, note=note, label=label, labels=labels or (),
                              filters=filters, sel=sel, selected=selected)
    box = html.Span(msg, className="ok" if version is not None else "warn")
    return (version if version is not None else no_update), box, ("" if version is not None else no_update)


@callback(Output(ids.EDITS_VERSION, "data", allow_duplicate=True), Input(ids.CURATE_POLL, "n_intervals"),
          State(ids.EDITS_VERSION, "data"), prevent_initial_call=True)
def poll(_n, shown):
    """Other curators' edits: bump the version this page shows when the log moved on."""
    data = get_data()  # syncs the labels
    return data.edits_version if data.edits_version != (shown or 0) else no_update
