"""Find a patch by its id: a search box in the top bar that puts the patch in focus (scatter, map, detail).

An exact id focuses it; otherwise the ids containing the text (case-insensitive) are looked up: one match is
focused, several are listed (the first ones) so the curator can narrow the text, none is said.
"""

from __future__ import annotations

import numpy as np
from dash import Input, Output, State, callback, dcc, html, no_update

from .. import ids
from ..data import AppData, get_data

SHOWN = 5


def find_patch(data: AppData, text: str | None) -> tuple[str | None, str]:
    """(patch id to focus or None, a message for the curator)."""
    text = (text or "").strip()
    if not text:
        return None, ""
    if data.find(text) is not None:
        return text, f"Patch {text} is in focus."
    hits = np.flatnonzero(np.char.find(np.char.lower(data.ids.astype(str)), text.lower()) >= 0)
    if len(hits) == 1:
        pid = str(data.ids[hits[0]])
        return pid, f"Patch {pid} is in focus (the only id containing “{text}”)."
    if not len(hits):
        return None, f"No patch id contains “{text}”."
    first = ", ".join(str(data.ids[r]) for r in hits[:SHOWN])
    return None, f"{len(hits):,} patch ids contain “{text}” (e.g. {first}): type more of the id."


def layout(data: AppData) -> list:
    return [html.Div(className="find", children=[
        dcc.Input(id=ids.FIND_INPUT, type="search", placeholder="find patch id…", debounce=True,
                  className="find-input"),
        html.Span(id=ids.FIND_MESSAGE, className="find-message", role="status")])]


@callback(Output(ids.SELECTED, "data", allow_duplicate=True), Output(ids.FIND_MESSAGE, "children"),
          Input(ids.FIND_INPUT, "n_submit"), Input(ids.FIND_INPUT, "value"), State(ids.FIND_INPUT, "value"),
          prevent_initial_call=True)
def find(_submit, _value, text):
    pid, msg = find_patch(get_data(), text)
    return (pid if pid is not None else no_update), msg
