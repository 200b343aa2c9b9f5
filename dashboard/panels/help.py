"""The keyboard help overlay: ``?`` (or the top bar's button) shows every shortcut; Esc or a click closes it.

The shortcuts themselves live in ``assets/keys.js`` (undo / redo, help, find), ``assets/review.js`` and
``assets/tour.js`` and ``assets/label.js``; this module only lays out the overlay, which the script toggles.
"""

from __future__ import annotations

from dash import Input, Output, State, clientside_callback, html

from .. import ids
from ..data import AppData

SHORTCUTS = [
    ("Anywhere (not while typing)", [
        ("?", "show / hide this help"),
        ("/", "find a patch by its id"),
        ("Ctrl+Z", "undo your latest batch"),
        ("Ctrl+Shift+Z", "redo your latest undone batch"),
        ("Esc", "close this help; leave the tour's presentation view"),
    ]),
    ("Review tab", [("a", "accept the suggestion"), ("k", "keep the labels (confirm)"), ("s", "skip")]),
    ("Label tab", [("Enter / a", "accept the focused card's labels"),
                   ("1–9, 0", "set the class (single-label) or toggle it (multi-label)"),
                   ("u", "unsure (not asked again for a few rounds)"), ("r", "remove from training"),
                   ("Backspace", "restore the model's prediction"), ("← → ↑ ↓", "move the focus")]),
    ("Tour tab", [("← →", "previous / next stop")]),
    ("Embedding and map", [
        ("drag", "lasso (embedding) or box (map): a new selection each time"),
        ("wheel", "zoom; double-click resets the view"),
        ("click", "put the patch under the mouse in focus"),
    ]),
]


def button() -> list:
    return [html.Button("?", id=ids.HELP_BUTTON, n_clicks=0, className="btn btn-sm help-button",
                        title="keyboard shortcuts (?)")]


def layout(data: AppData) -> list:
    sections = []
    for title, keys in SHORTCUTS:
        if data.read_only and title == "Review tab":
            keys = [k for k in keys if k[0] == "s"]
        if data.read_only and title == "Label tab":
            continue
        rows = [html.Tr([html.Td(html.Kbd(k)), html.Td(what)]) for k, what in keys
                if not (data.read_only and k.startswith("Ctrl"))]
        sections += [html.H3(title), html.Table(html.Tbody(rows), className="help-keys")]
    return [html.Button(id=ids.HELP_CLOSE, n_clicks=0, hidden=True),
            html.Div(id=ids.HELP_OVERLAY, className="help-overlay", hidden=True, children=[
        html.Div(className="help-box", role="dialog", **{"aria-label": "keyboard shortcuts"}, children=[
            html.Div(className="panel-head", children=[html.H2("Keyboard shortcuts"),
                                                       html.Span("Esc closes", className="hint")]),
            *sections])])]


clientside_callback(
    """function(_open, _close, hidden) {
        const t = (window.dash_clientside.callback_context.triggered[0] || {}).prop_id || '';
        return t.startsWith('help-close') ? true : !hidden; }""",
    Output(ids.HELP_OVERLAY, "hidden"), Input(ids.HELP_BUTTON, "n_clicks"), Input(ids.HELP_CLOSE, "n_clicks"),
    State(ids.HELP_OVERLAY, "hidden"), prevent_initial_call=True)
