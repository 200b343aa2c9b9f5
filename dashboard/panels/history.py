"""The History tab: every batch of the edit log, newest first (author, time, kind, patches, what it did, note),
with *Undo* on each of your active batches and *Redo* on each of your undone ones.

Undo and redo are new batches of the log (nothing is deleted); they go through the app's one edit path
(:func:`dashboard.access.undo_redo`), so read-only servers refuse them.
"""

from __future__ import annotations

from dash import ALL, Input, Output, State, callback, dcc, html, no_update

from .. import ids
from ..components import batch_action, clicked, error_box
from ..data import AppData, get_data

SHOWN = 200


def history_rows(data: AppData, *, author: str | None = None, mine_only: bool = False) -> list[dict]:
    """The batches as plain rows, newest first (at most :data:`SHOWN`), as of the snapshot's log version.

    Each row: ``id``, ``time``, ``author``, ``kind`` ("edit", "undo of 3", "redo of 3"), ``patches``,
    ``state`` ("active" / "undone" for edits), ``what`` (the batch summarised from its events), ``note`` and
    ``can`` ("undo" / "redo" / None: what the current curator may do with it).
    """
    if data.edits is None or not data.labels.version:
        return []
    b = data.edits.batches(up_to=data.labels.version)
    if mine_only and author:
        b = b[b["author"] == author]
    rows = []
    for r in b.iloc[::-1].head(SHOWN).itertuples():
        kind = r.kind if r.kind == "edit" else f"{r.kind} of {int(r.target)}"
        state = ("active" if r.active else "undone") if r.kind == "edit" else ""
        can = None
        if r.kind == "edit" and author and r.author == author and not data.read_only:
            can = "undo" if r.active else "redo"
        rows.append({"id": int(r.id), "time": str(r.time)[:16].replace("T", " "), "author": r.author, "kind": kind,
                     "patches": int(r.n_events), "state": state, "what": data.edits.batch_info(int(r.id)).summary(),
                     "note": r.note if isinstance(r.note, str) and r.kind == "edit" else "", "can": can})
    return rows


def render_history(data: AppData, author: str | None, mine_only: bool) -> list:
    rows = history_rows(data, author=author, mine_only=mine_only)
    if not rows:
        return [html.Div("No edits yet." if not mine_only else "You have no edits yet.", className="empty")]
    head = html.Tr([html.Th(h) for h in ("batch", "time (UTC)", "author", "kind", "patches", "what", "note", "")])
    body = []
    for r in rows:
        action = ""
        if r["can"]:
            action = html.Button(r["can"].capitalize(), n_clicks=0, className="btn btn-sm",
                                 id={"type": ids.HISTORY_ACTION, "op": r["can"], "index": r["id"]},
                                 title=f"{r['can']} batch {r['id']}")
        body.append(html.Tr(className=f"hist-{r['state'] or 'meta'}", children=[
            html.Td(r["id"]), html.Td(r["time"]), html.Td(r["author"]),
            html.Td(r["kind"] + (f" ({r['state']})" if r["state"] == "undone" else "")),
            html.Td(f"{r['patches']:,}"), html.Td(r["what"]), html.Td(r["note"]), html.Td(action)]))
    return [html.Table(className="history-table", children=[html.Thead(head), html.Tbody(body)])]


def layout(data: AppData) -> html.Section:
    return html.Section(className="panel history-panel", children=[
        html.Div(className="panel-head", children=[
            html.H2("Edit history"),
            dcc.Checklist(id=ids.HISTORY_MINE, options=[{"label": "only my batches", "value": "mine"}], value=[],
                          className="checklist")]),
        html.Div(id=ids.HISTORY_MESSAGE, className="curate-message", role="status"),
        html.Div(id=ids.HISTORY_BODY, className="history-body"),
    ])


@callback(Output(ids.HISTORY_BODY, "children"), Input(ids.WORK_TABS, "value"), Input(ids.EDITS_VERSION, "data"),
          Input(ids.AUTHOR, "data"), Input(ids.HISTORY_MINE, "value"))
def show_history(tab, _version, author, mine):
    if tab != "history":
        return no_update
    try:
        return render_history(get_data(), author, "mine" in (mine or []))
    except Exception as exc:  # a readable message, never a blank panel
        return [error_box(exc, "the edit history")]


@callback(Output(ids.EDITS_VERSION, "data", allow_duplicate=True), Output(ids.HISTORY_MESSAGE, "children"),
          Input({"type": ids.HISTORY_ACTION, "op": ALL, "index": ALL}, "n_clicks"), State(ids.AUTHOR, "data"),
          prevent_initial_call=True)
def act(_clicks, author):
    trig = clicked()
    if trig is None:
        return no_update, no_update
    return batch_action(trig["op"], trig["index"], author,
                        refused=f"Batch {trig['index']} cannot take {trig['op']} now: it is not yours, or it is "
                        "already in that state.")
