"""Widgets several panels show: label chips, thumbnail tiles, error boxes, and the curation block of a patch.

Plain functions that build Dash components from a snapshot; no callbacks live here (the panels that own the
components' ids register those).
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
from dash import ctx, dcc, html, no_update

from mining.curation.events import OP_NAMES

from . import ids
from .access import EditRefused, undo_redo
from .data import AppData, get_state
from .routes import thumb_url

__all__ = ["text_color", "label_chip", "label_chips", "chips", "has_s1", "pixel_problem", "short_id", "lazy_img",
           "thumb", "error_box", "action_button", "patch_state", "patch_history",
           "patch_block", "clicked", "batch_action", "THUMB_SIZE"]

log = logging.getLogger(__name__)

THUMB_SIZE = 128  # pixels asked from the thumbnail route (drawn at ~100 CSS px, sharp on HiDPI)


def text_color(hex_color: str) -> str:
    """Black or white, whichever reads better on ``hex_color``."""
    try:
        r, g, b = (int(hex_color.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    except (ValueError, TypeError):
        return "#000"
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#fff"


def label_chip(data: AppData, j: int, text: str | None = None) -> html.Span:
    """A small chip in the colour of class ``j`` with its short name (full name in the tooltip)."""
    color = data.class_colors[j] if j < len(data.class_colors) else "#888888"
    short = data.short[j] if j < len(data.short) and data.short[j] else data.classes[j]
    return html.Span(text or short, className="chip", title=data.classes[j],
                     style={"background": color, "color": text_color(color)})


def chips(data: AppData, js, *, cls: str = "") -> html.Div:
    """Chips of the classes ``js`` ("no label" when empty)."""
    if not len(js):
        return html.Div(html.Span("no label", className="chip chip-none"), className="chips")
    return html.Div([label_chip(data, int(j)) for j in js], className=f"chips {cls}".strip())


def label_chips(data: AppData, row: int) -> html.Div:
    """Chips of the current labels of catalog row ``row``."""
    return chips(data, np.flatnonzero(data.labels.Y[row]))


def has_s1(data: AppData, row: int) -> bool:
    """Whether the workspace holds Sentinel-1 pixels for catalog row ``row`` (``cat.has_s1``)."""
    if "has_s1" not in data.cat.columns:
        return False
    v = data.cat["has_s1"].iat[row]
    return False if pd.isna(v) else bool(v)


def pixel_problem(data: AppData, row: int, composite: str | None) -> str | None:
    """Why patch ``row`` has no thumbnail in ``composite`` (None when it has one)."""
    if data.renderer is None:
        return "no pixels"
    if int(data.pixel_row[row]) < 0:
        return "no pixels"
    if not composite or composite not in data.renderer.composites_:
        return "no composite"
    if composite == "s1" and not has_s1(data, row):
        return "no Sentinel-1 pair"
    return None


def short_id(pid: str, n: int = 22) -> str:
    """The end of a long patch id ("…R022_T33UUP_27_59"): the part that tells neighbouring patches apart."""
    return pid if len(pid) <= n else "…" + pid[-(n - 1):]


def lazy_img(src: str, **kwargs) -> html.Img:
    """``html.Img`` with the browser's native lazy loading (``loading="lazy"``).

    Dash's ``html.Img`` has no ``loading`` prop, but its React component passes unknown props through to the
    ``<img>`` element, so the prop is added to this one instance.
    """
    img = html.Img(src=src, **kwargs)
    img._prop_names = [*img._prop_names, "loading"]
    img.loading = "lazy"
    return img


def placeholder(pid: str, why: str, cls: str) -> html.Div:
    """What stands in for a patch image that cannot be drawn: the end of its id and why."""
    return html.Div(className=f"{cls} thumb-placeholder", children=[
        html.Span(short_id(pid), className="ph-id"), html.Span(why, className="ph-why")])


def thumb(data: AppData, row: int, composite: str | None, *, focus: bool = False, id_type: str = ids.THUMB,
          size: int = THUMB_SIZE, extra_class: str = "", note: str | None = None) -> html.Button:
    """One clickable tile: image (or placeholder) + label chips; ``id = {"type": id_type, "index": patch_id}``."""
    pid = str(data.ids[row])
    labels = data.labels_of(row)
    why = pixel_problem(data, row, composite)
    if why is None:
        pic = lazy_img(thumb_url(composite, pid, size), alt=pid, className="thumb-img", width=size, height=size)
    else:
        pic = placeholder(pid, why, "thumb-img")
    title = f"{pid}\n{', '.join(labels) if labels else '(no label)'}" + (f"\n{note}" if note else "")
    cls = "thumb" + (" focus" if focus else "") + (f" {extra_class}" if extra_class else "")
    # a click puts the patch in focus through one listener in the browser (assets/keys.js reads data-patch):
    # 48 tiles as pattern-matching callback inputs made Dash's renderer work for a second per page of tiles
    return html.Button(id={"type": id_type, "index": pid}, className=cls, title=title,
                       children=[pic, label_chips(data, row)], **{"data-patch": pid})


def clicked() -> dict | None:
    """Inside a callback on pattern-matching buttons: the id of the button the user clicked, or None when the
    callback fired without a click (the buttons were re-rendered with ``n_clicks`` 0 or None)."""
    trig = ctx.triggered_id
    if not isinstance(trig, dict) or not any(t.get("value") for t in ctx.triggered or []):
        return None
    return trig


def batch_action(op: str, batch: int, author: str | None, *, refused: str, request_id: str | None = None):
    """Undo or redo the edit batch ``batch`` as ``author`` (a button's callback: Undo in place, History).

    Returns (the new edits version or ``no_update``, the message to show). ``refused`` is the message when the
    log leaves the batch as it is (not the author's, or already in that state)."""
    if not author:
        return no_update, html.Span("Enter your name first (top right).", className="warn")
    try:
        res = undo_redo(get_state(), op, author=author, target=int(batch), request_id=request_id)
    except EditRefused as exc:
        return no_update, html.Span(str(exc), className="warn")
    if res["batch"] is None:
        return no_update, html.Span(refused, className="warn")
    return res["version"], html.Span(res["message"], className="ok")


def error_box(exc: BaseException, what: str) -> html.Div:
    """A readable message in place of a panel's content (the traceback goes to the server log)."""
    log.error("%s failed", what, exc_info=exc)
    return html.Div(className="panel-error", role="alert", children=[
        html.Strong(f"Could not show {what}. "), f"{type(exc).__name__}: {exc}"])


# --------------------------------------------------------------------------- the curation block of one patch
def action_button(label: str, target: str, op: str, **kw) -> html.Button:
    """A curation button; ``id = {"type": CURATE_ACTION, "target": target, "op": op}`` (the Curate panel's
    callback commits it)."""
    return html.Button(label, id={"type": ids.CURATE_ACTION, "target": target, "op": op}, n_clicks=0,
                       className=kw.pop("className", "btn btn-sm"), **kw)


def patch_state(data: AppData, row: int) -> list[str]:
    """Curation badges of one patch: "confirmed" (a reviewer's Confirm / Keep is its latest label decision),
    "flagged", "excluded", "edited"."""
    lab = data.labels
    return [name for name, on in (("confirmed", lab.confirmed[row]), ("flagged", lab.flagged[row]),
                                  ("excluded", lab.excluded[row]), ("edited", lab.changed[row])) if on]


def patch_history(data: AppData, patch_id: str, limit: int = 5) -> list[str]:
    """The latest ``limit`` events of a patch as lines (newest first), undone batches marked (as of the
    snapshot's log version)."""
    if not data.labels.version or data.edits is None:
        return []
    ev = data.edits.events(patch_id=patch_id)
    ev = ev[ev["batch"] <= data.labels.version]
    if ev.empty:
        return []
    active = set(data.edits.batches(up_to=data.labels.version).query("active")["id"].tolist())
    lines = []
    for e in ev.iloc[::-1][:limit].itertuples():
        lab = e.label if isinstance(e.label, str) else ""  # None (NaN in the frame) for ops without a label
        if e.op == "set":
            lab = ", ".join(json.loads(lab or "[]")) or "(no label)"
        op = OP_NAMES.get(e.op, e.op)  # a reviewer's confirmation is stored as "keep", shown as "confirm"
        text = f"{e.time[:16].replace('T', ' ')} · {e.author} · {op}{' ' + lab if lab else ''}"
        if e.op not in ("undo", "redo") and e.batch not in active:
            text += " (undone)"
        note = e.note if isinstance(e.note, str) else ""
        lines.append(text + (f" · {note}" if note and e.op not in ("undo", "redo") else ""))
    return lines


def patch_block(data: AppData, row: int) -> html.Div:
    """Curation block of the detail panel: badges, relabel / flag / exclude the patch in focus, its history.

    The buttons carry the Curate panel's pattern-matching ids; in read-only mode only badges and history show.
    """
    pid = str(data.ids[row])
    badges = [html.Span(b, className=f"badge badge-{b}") for b in patch_state(data, row)]
    children = [html.Div(className="curate-badges", children=badges)] if badges else []
    if not data.read_only:
        opts = [{"label": s, "value": c} for c, s in zip(data.classes, data.short, strict=True)]
        flagged, excluded = bool(data.labels.flagged[row]), bool(data.labels.excluded[row])
        children.append(html.Div(className="curate-focus", children=[
            dcc.Dropdown(id={"type": ids.CURATE_FOCUS_LABELS, "index": pid}, options=opts, multi=True,
                         value=data.labels_of(row), placeholder="labels of this patch", className="focus-labels"),
            html.Div(className="curate-row", children=[
                action_button("Save labels", "focus", "set", className="btn btn-sm btn-primary"),
                action_button("Confirm", "focus", "keep", title="the labels are right (reviewed)"),
                action_button("Unflag" if flagged else "Flag", "focus", "unflag" if flagged else "flag"),
                action_button("Restore" if excluded else "Exclude", "focus", "restore" if excluded else "exclude")]),
        ]))
    hist = patch_history(data, pid)
    if hist:
        children.append(html.Details(className="curate-history", open=False, children=[
            html.Summary(f"Edit history ({len(hist)} latest)"), html.Ul([html.Li(h) for h in hist])]))
    return html.Div(className="curate-patch", children=children)
