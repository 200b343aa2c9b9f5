"""Thumbnail grid: the patches of the current selection (AND the filters) as pages of 48 thumbnails.

What the grid shows
    With a selection (lasso / box on the embedding, box on the map): the selected patches that pass the filters.
    Without one: every patch passing the filters (the whole catalog when no filter is set).
Order
    A deterministic shuffle: patches are sorted by a 64-bit hash of their patch id (:func:`id_hash`), not
    by catalog order. Catalogs are grouped (EuroSAT by class folder, reBEN by tile and date), so
    catalog order would fill a page with one class or one tile; the hash order makes every page a fair sample
    of the set. It depends only on the ids, so it is the same on every run, after a re-ingest, and for any
    subset (narrowing a selection keeps the relative order of the patches that remain).
Paging
    48 per page. The page goes back to 0 whenever the filters or the selection change, except for the first
    filters value after the page loads, which is the one restored from the URL: the URL's ``page`` belongs to
    those filters and is kept (see :func:`next_page`).
Tiles
    An ``<img loading="lazy">`` from the thumbnail route in the chosen composite, the labels underneath as
    coloured chips (short names; full names in the tooltips), the patch in focus outlined. Patches without
    pixels (metadata-only workspaces, or no Sentinel-1 pair for the ``s1`` composite) get a placeholder tile
    with the id instead of a broken image. Clicking a tile puts that patch in focus (``SELECTED``).
"""

from __future__ import annotations

import json
import logging

import numpy as np
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update
from numba import njit

from .. import ids
from ..components import clicked_index, error_box, label_chip, thumb
from ..data import AppData, Filters, get_data
from ..selection import combined_mask, selection_mask

log = logging.getLogger(__name__)

PER_PAGE = 48


# --------------------------------------------------------------------------- plain functions (tested directly)
@njit(cache=True, nogil=True)
def _hash_spans(buf, starts, ends, out):  # pragma: no cover - numba
    for i in range(len(starts)):
        h = np.uint64(0xCBF29CE484222325)  # FNV-1a
        for k in range(starts[i], ends[i]):
            h ^= np.uint64(buf[k])
            h *= np.uint64(0x100000001B3)
        h ^= h >> np.uint64(33)  # murmur3 fmix64: every input bit moves every output bit
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xC4CEB9FE1A85EC53)
        h ^= h >> np.uint64(33)
        out[i] = h


def id_hash(ids) -> np.ndarray:
    """64-bit hash (FNV-1a + fmix64) of each patch id's UTF-8 bytes: the same on every machine and run.

    About 0.1 s for 549,488 ids (joined into one buffer, hashed by a numba loop).
    """
    ids = [str(p) for p in ids] if not isinstance(ids, np.ndarray) or ids.dtype != object else ids
    n = len(ids)
    out = np.zeros(n, np.uint64)
    if n == 0:
        return out
    buf = np.frombuffer("\x00".join(ids).encode("utf-8", "surrogatepass"), np.uint8)
    seps = np.flatnonzero(buf == 0)
    if len(seps) != n - 1:  # an id holds a NUL byte: slow path, one id at a time
        parts = [np.frombuffer(str(p).encode("utf-8", "surrogatepass"), np.uint8) for p in ids]
        lens = np.array([len(b) for b in parts], np.int64)
        buf = np.concatenate(parts) if lens.sum() else np.zeros(1, np.uint8)
        ends = np.cumsum(lens)
        starts = ends - lens
    else:
        starts = np.concatenate([[0], seps + 1]).astype(np.int64)
        ends = np.concatenate([seps, [len(buf)]]).astype(np.int64)
    _hash_spans(buf, starts, ends, out)
    return out


def display_order(data: AppData) -> np.ndarray:
    """Catalog rows in the grid's deterministic mixed order (sorted by a hash of the patch id; cached)."""
    def build():
        order = np.lexsort((np.arange(data.n), id_hash(data.ids))).astype(np.int64)  # ties by catalog row
        order.setflags(write=False)
        return order

    return data.caches.grid_order.get(None, build)


def grid_rows(data: AppData, filters: dict | None, sel: dict | None) -> np.ndarray:
    """Catalog rows of the grid's patch set (selection AND filters, or the filters alone), in display order."""
    order = display_order(data)
    m = combined_mask(data, filters, sel)
    return order if m is None else order[m[order]]


def page_count(total: int, per_page: int = PER_PAGE) -> int:
    return max(1, -(-int(total) // per_page))


def clamp_page(page, total: int, per_page: int = PER_PAGE) -> int:
    try:
        p = int(page or 0)
    except (TypeError, ValueError):
        p = 0
    return min(max(p, 0), page_count(total, per_page) - 1)


def state_key(filters: dict | None, sel: dict | None) -> str:
    """Canonical text of (filters, selection): the page is valid while this does not change."""
    f = Filters.from_dict(filters).to_dict()
    f = {k: sorted(v) if isinstance(v, list) else v for k, v in f.items()}
    s = {k: v for k, v in (sel or {}).items() if k != "n"} or None
    return json.dumps({"f": f, "s": s}, sort_keys=True, default=str)


def next_page(trigger, page, key: str | None, new_key: str, total: int, *, ready: bool = True,
              shown_key: str | None = None) -> tuple:
    """New (page, key) of the grid; ``None`` for either means "leave it".

    Parameters
    ----------
    trigger
        ``ids.GRID_PREV`` / ``ids.GRID_NEXT``, or anything else for "the filters or the selection changed".
    page : int
        The current page (``GRID_PAGE``).
    key : str or None
        :func:`state_key` of the filters + selection the current page belongs to; None until the page load
        has settled.
    new_key : str
        :func:`state_key` of the filters store + selection now.
    total : int
        Patches in the grid now (for prev / next).
    ready : bool
        Whether the URL state has been applied (``URL_READY``).
    shown_key : str, optional
        :func:`state_key` of what the filter controls show now. On page load the filters store can lag
        behind the controls (the URL restore sets the controls; the store follows a round trip later), so
        a store value that differs from the controls is a stale one and is ignored while ``key`` is None.

    The first settled value after the page loads is the one restored from the URL: the URL's page belongs
    to it and is kept. After that, any change of the filters or the selection goes back to page 0.
    """
    if trigger in (ids.GRID_PREV, ids.GRID_NEXT):
        p = clamp_page(page, total) + (1 if trigger == ids.GRID_NEXT else -1)
        p = min(max(p, 0), page_count(total) - 1)
        return (p if p != page else None), None
    if key is None:
        if not ready or (shown_key is not None and shown_key != new_key):
            return None, None  # the load has not settled yet
        return None, new_key
    if new_key == key:
        return None, None
    return 0, new_key


def label_summary(data: AppData, rows: np.ndarray, top: int = 5) -> list[tuple[int, int]]:
    """[(class index, patches with that label)] of the ``top`` most frequent labels in ``rows``."""
    if not len(rows):
        return []
    counts = data.labels.Y[rows].sum(0) if len(rows) < data.n else data.labels.Y.sum(0)
    order = np.argsort(-counts, kind="stable")[:top]
    return [(int(j), int(counts[j])) for j in order if counts[j] > 0]


def summary_line(data: AppData, rows: np.ndarray) -> list:
    items = label_summary(data, rows)
    if not items:
        return []
    return [html.Span("Top labels", className="sum-title"),
            *[html.Span(className="sum-item", children=[label_chip(data, j), f"{c:,}"]) for j, c in items]]


def scope_text(data: AppData, filters: dict | None, sel: dict | None) -> str:
    has_sel = selection_mask(data, sel) is not None
    has_f = Filters.from_dict(filters).active
    if has_sel and has_f:
        return "selection ∧ filters"
    if has_sel:
        return "selection"
    return "filtered" if has_f else "all patches"


def render_grid(data: AppData, filters: dict | None, sel: dict | None, page, composite: str | None,
                selected: str | None) -> dict:
    """Everything the grid panel shows.

    Returns
    -------
    dict
        ``tiles`` (children of the grid), ``info`` (header text), ``summary`` (label summary children),
        ``page`` (the clamped page shown), ``pages``, ``total``, ``rows`` (catalog rows on the page),
        ``prev_disabled``, ``next_disabled``.
    """
    rows = grid_rows(data, filters, sel)
    total = len(rows)
    pages = page_count(total)
    p = clamp_page(page, total)
    on_page = rows[p * PER_PAGE:(p + 1) * PER_PAGE]
    if total == 0:
        what = "the filters and the selection" if selection_mask(data, sel) is not None else "the filters"
        tiles = [html.Div(className="empty", children=[
            html.Div(f"No patch matches {what}."),
            html.Div("Widen the filters or clear the selection.", className="hint")])]
        info = "0 patches"
    else:
        tiles = [thumb(data, int(r), composite, focus=(str(data.ids[r]) == selected)) for r in on_page]
        info = f"page {p + 1} of {pages}, {total:,} patches ({scope_text(data, filters, sel)})"
    return {"tiles": tiles, "info": info, "summary": summary_line(data, rows), "page": p, "pages": pages,
            "total": total, "rows": on_page, "prev_disabled": p <= 0, "next_disabled": p >= pages - 1}


# --------------------------------------------------------------------------- layout + callbacks
def layout(data: AppData) -> html.Section:
    return html.Section(className="panel grid-panel", children=[
        html.Div(className="panel-head", children=[
            html.H2("Patches"),
            html.Div(className="pager", children=[
                html.Button("‹ Prev", id=ids.GRID_PREV, n_clicks=0, className="btn btn-sm", disabled=True,
                            title="Previous page"),
                html.Span(id=ids.GRID_INFO, className="grid-info"),
                html.Button("Next ›", id=ids.GRID_NEXT, n_clicks=0, className="btn btn-sm", disabled=True,
                            title="Next page"),
            ]),
        ]),
        html.Div(id=ids.GRID_SUMMARY, className="grid-summary"),
        dcc.Loading(html.Div(id=ids.GRID, className="thumbs"), type="dot", delay_show=400,
                    overlay_style={"visibility": "visible", "opacity": 0.6}),
        dcc.Store(id=ids.GRID_PAGE, data=0),
        dcc.Store(id=ids.GRID_KEY, data=None),
    ])


@callback(Output(ids.GRID_PAGE, "data", allow_duplicate=True), Output(ids.GRID_KEY, "data"),
          Input(ids.GRID_PREV, "n_clicks"), Input(ids.GRID_NEXT, "n_clicks"),
          Input(ids.FILTERS, "data"), Input(ids.SELECTION, "data"), Input(ids.URL_READY, "data"),
          State(ids.GRID_PAGE, "data"), State(ids.GRID_KEY, "data"),
          State(ids.FILTER_LABELS, "value"), State(ids.FILTER_LABEL_MODE, "value"), State(ids.FILTER_SPLITS, "value"),
          State(ids.FILTER_COUNTRIES, "value"), State(ids.FILTER_FLAGS, "value"),
          prevent_initial_call=True)
def change_page(_prev, _next, filters, sel, ready, page, key, labels, mode, splits, countries, flags):
    """Prev / next, and back to page 0 when the filters or the selection change (not on the URL restore:
    see :func:`next_page`; on load Dash may deliver a stale filters value before the restored one)."""
    try:
        data = get_data()
        new_key = state_key(filters, sel)
        shown = state_key({"labels": labels, "label_mode": mode, "splits": splits, "countries": countries,
                           "flags": flags}, sel)
        total = len(grid_rows(data, filters, sel)) if ctx.triggered_id in (ids.GRID_PREV, ids.GRID_NEXT) else 0
        p, k = next_page(ctx.triggered_id, page, key, new_key, total, ready=bool(ready), shown_key=shown)
    except Exception:  # a broken selection: the grid callback reports it; keep the page
        log.exception("grid paging failed")
        return no_update, no_update
    return (no_update if p is None else p), (no_update if k is None else k)


@callback(Output(ids.GRID, "children"), Output(ids.GRID_INFO, "children"), Output(ids.GRID_SUMMARY, "children"),
          Output(ids.GRID_PREV, "disabled"), Output(ids.GRID_NEXT, "disabled"),
          Input(ids.FILTERS, "data"), Input(ids.SELECTION, "data"), Input(ids.GRID_PAGE, "data"),
          Input(ids.COMPOSITE, "value"), Input(ids.SELECTED, "data"), Input(ids.EDITS_VERSION, "data"))
def update_grid(filters, sel, page, composite, selected, _edits_version=None):
    try:
        g = render_grid(get_data(), filters, sel, page, composite, selected)
    except Exception as exc:
        return error_box(exc, "the patches"), "", [], True, True
    return g["tiles"], g["info"], g["summary"], g["prev_disabled"], g["next_disabled"]


@callback(Output(ids.SELECTED, "data", allow_duplicate=True), Input({"type": ids.THUMB, "index": ALL}, "n_clicks"),
          prevent_initial_call=True)
def click_thumb(_clicks):
    pid = clicked_index(ctx.triggered, ids.THUMB)
    return pid if pid is not None and get_data().find(pid) is not None else no_update
