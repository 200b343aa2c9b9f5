"""Helpers of the dashboard tests (imported as ``_helpers``): walking layouts, calling callbacks without a
browser, reading ``dash.Patch`` operations."""

from __future__ import annotations

import contextvars

from dash import html
from dash._callback_context import context_value
from dash._utils import AttributeDict


def walk(node):
    """Every component (and string) of a Dash component tree, depth first."""
    if isinstance(node, (list, tuple)):
        for n in node:
            yield from walk(n)
        return
    yield node
    children = getattr(node, "children", None)
    if children is not None:
        yield from walk(children)


def text_of(node) -> str:
    return " ".join(n for n in walk(node) if isinstance(n, str))


def with_id_type(tree, id_type: str) -> list:
    return [n for n in walk(tree) if isinstance(getattr(n, "id", None), dict) and n.id.get("type") == id_type]


def by_id(tree) -> dict:
    """{id: component} of every component with a string id."""
    return {n.id: n for n in walk(tree) if isinstance(getattr(n, "id", None), str)}


def tile_labels(tile) -> list[str]:
    """Full class names of a tile's chips (chip tooltips)."""
    return [n.title for n in walk(tile) if isinstance(n, html.Span) and "chip" in (n.className or "").split()
            and "chip-none" not in (n.className or "")]


def run_callback(app, fn, *args, triggered=None):
    """Call a callback function in a request context with ``ctx.triggered`` = ``triggered`` (a list of prop id
    strings, or of ``{"prop_id", "value"}`` dicts)."""
    trig = [t if isinstance(t, dict) else {"prop_id": t, "value": None} for t in triggered or []]

    def call():
        context_value.set(AttributeDict(triggered_inputs=trig))
        with app.server.test_request_context():
            return getattr(fn, "__wrapped__", fn)(*args)  # Dash 4's @callback returns the function itself

    return contextvars.copy_context().run(call)


def patch_ops(p) -> dict:
    """{location tuple: assigned value} of a dash.Patch."""
    return {tuple(op["location"]): op["params"].get("value") for op in p.to_plotly_json()["operations"]
            if op["operation"] == "Assign"}
