"""Detail panel: the patch in focus (``SELECTED``) in every composite, its labels, its metadata and its
k = 10 nearest neighbours in the embedding (click one to move the focus there).

Composites come from the thumbnail route at 120 px (``s1`` only where the patch has Sentinel-1 pixels); the
neighbour strip uses the grid's composite (``COMPOSITE``) and thumbnail size, so it shares the browser cache.
Neighbours whose labels share nothing with the focus patch are marked (dashed border, count in the header): in a good embedding they are where
label errors (or confusable classes) show up first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from dash import Input, Output, callback, html

from mining.composites import COMPOSITES

from .. import ids
from ..components import (
    THUMB_SIZE,
    error_box,
    label_chips,
    lazy_img,
    patch_block,
    pixel_problem,
    thumb,
)
from ..data import AppData, get_data
from ..routes import thumb_url

K = 10
COMPOSITE_SIZE = 120
NEIGHBOUR_SIZE = THUMB_SIZE  # the grid's size: a neighbour already seen in the grid comes from the browser cache
HINT = "Click a point, a thumbnail or a map patch to see its details."
MISSING = "—"


# --------------------------------------------------------------------------- plain functions (tested directly)
def composite_caption(name: str) -> str:
    """Short caption of a composite ("True colour", "NDVI", "Sentinel-1")."""
    return COMPOSITES[name].title.split(" (")[0] if name in COMPOSITES else name


def _fmt(v) -> str:
    if v is None:
        return MISSING
    try:
        if pd.isna(v):
            return MISSING
    except (TypeError, ValueError):  # list-likes
        pass
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M %Z" if (v.hour or v.minute) else "%Y-%m-%d").strip()
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    s = str(v)
    return s if s else MISSING


def metadata(data: AppData, row: int) -> list[tuple[str, str]]:
    """(field, value) rows of the metadata table of catalog row ``row`` (missing values as "—")."""
    cat = data.cat

    def get(col):
        return cat[col].iat[row] if col in cat.columns else None

    def flag(col):
        v = get(col)
        return MISSING if v is None or pd.isna(v) else ("yes" if bool(v) else "no")

    s1 = _fmt(get("s1_id"))
    if s1 == MISSING:
        s1_text = "no Sentinel-1 pair"
    else:
        s1_text = f"{s1} · S1 pixels: {flag('has_s1')}"
    lon, lat = data.lon[row], data.lat[row]
    where = f"{lon:.5f}, {lat:.5f}" if np.isfinite(lon) and np.isfinite(lat) else MISSING
    return [
        ("Patch id", str(data.ids[row])),
        ("Dataset", _fmt(get("dataset"))),
        ("Tile", _fmt(get("tile"))),
        ("Acquired", _fmt(get("acquired"))),
        ("Season", _fmt(get("season"))),
        ("Country", _fmt(get("country"))),
        ("Split", _split_text(data, row)),
        ("Cloud / shadow", flag("cloud_or_shadow")),
        ("Seasonal snow", flag("seasonal_snow")),
        ("Sentinel-1", s1_text),
        ("Lon, lat", where),
    ]


def _split_text(data: AppData, row: int) -> str:
    """The current split, and the catalog's when an edit changed it (``test (catalog: train)``)."""
    now = data.labels.split[row]
    was = data.cat["split"].iat[row] if "split" in data.cat.columns else None
    was = was if isinstance(was, str) and was else None
    text = _fmt(now)
    return f"{text} (catalog: {_fmt(was)})" if now != was else text


def composites_of(data: AppData, row: int) -> list[tuple[str, str | None]]:
    """[(composite, problem)] of the composites drawn for ``row``: problem None = has an image, else why not
    (e.g. ``"no Sentinel-1 pair"`` for ``s1`` without a partner). Empty without pixels."""
    if data.renderer is None or int(data.pixel_row[row]) < 0:
        return []
    return [(c, pixel_problem(data, row, c)) for c in data.renderer.composites_]


def embedding_name(data: AppData) -> str:
    """e.g. "spectral embedding, cosine" (from the embeddings' and the kNN graph's cards; cached)."""
    def build():
        from mining.embeddings import load_embeddings_card
        from mining.errors import WorkspaceError

        parts = []
        try:
            card = load_embeddings_card(data.ws)
        except WorkspaceError:
            card = None
        if card and card.get("encoder"):
            parts.append(f"{card['encoder']} embedding")
        metric = ((data.knn_card or {}).get("params") or {}).get("metric")
        if metric:
            parts.append(metric)
        return ", ".join(parts)

    return data.caches.embedding_name.get(None, build)


def neighbour_rows(data: AppData, row: int, k: int = K) -> list[int] | None:
    """Catalog rows of the ``k`` nearest neighbours (nearest first); None when there is no kNN graph."""
    if data.knn is None:
        return None
    return data.neighbours(row, k)


def _composite_figure(data: AppData, row: int, comp: str, problem: str | None) -> html.Figure:
    title = COMPOSITES[comp].title if comp in COMPOSITES else comp
    if problem is None:
        pic = lazy_img(thumb_url(comp, str(data.ids[row]), COMPOSITE_SIZE), alt=f"{data.ids[row]} {title}",
                       className="comp-img", width=COMPOSITE_SIZE, height=COMPOSITE_SIZE)
    else:
        pic = html.Div(problem, className="comp-img thumb-placeholder ph-why")
    return html.Figure(className="comp", title=title, children=[pic, html.Figcaption(composite_caption(comp))])


def neighbour_strip(data: AppData, row: int, composite: str | None) -> html.Div:
    nb = neighbour_rows(data, row)
    if nb is None:
        return html.Div(className="hint", children=[
            "No kNN graph in this workspace, so no neighbours. Run ", html.Code(f"eomine run {data.ws.path}"),
            " to compute it."])
    if not nb:
        return html.Div("This patch has no neighbours in the kNN graph (it has no embedding).", className="hint")
    own = set(np.flatnonzero(data.labels.Y[row]).tolist())
    comp = composite or "true_color"
    tiles, agree = [], 0
    for rank, r in enumerate(nb, 1):
        shared = bool(own & set(np.flatnonzero(data.labels.Y[r]).tolist())) or not own
        agree += shared
        tiles.append(thumb(data, r, comp, id_type=ids.NEIGHBOUR, size=NEIGHBOUR_SIZE,
                           extra_class="" if shared else "disagree",
                           note=f"neighbour #{rank}" + ("" if shared else " · no label in common")))
    what = embedding_name(data)
    head = html.Div(className="detail-sub", children=[
        html.H3(f"{len(nb)} nearest neighbours"), html.Span(f"{what} · " if what else "", className="hint"),
        html.Span(f"{agree} of {len(nb)} share a label" if own else "this patch has no label to compare",
                  className="hint" + ("" if agree == len(nb) else " warn"))])
    return html.Div([head, html.Div(tiles, className="thumbs strip")])


def render_detail(data: AppData, selected: str | None, composite: str | None = None) -> list:
    """Children of the detail panel for patch id ``selected`` (the hint when None)."""
    if not selected:
        return [html.Div(className="detail-empty", children=[html.H2("Patch"), html.P(HINT, className="hint")])]
    row = data.find(selected)
    if row is None:
        return [html.Div(className="detail-empty", children=[
            html.H2("Patch"), html.P(f"Patch {selected!r} is not in this workspace.", className="hint")])]
    labels = data.labels_of(row)
    comps = composites_of(data, row)
    if comps:
        pics = html.Div([_composite_figure(data, row, c, why) for c, why in comps], className="comps")
    else:
        pics = html.Div("No pixels for this patch in this workspace (metadata only).", className="hint")
    table = html.Table(className="meta", children=html.Tbody([
        html.Tr([html.Th(k), html.Td(v)]) for k, v in metadata(data, row)]))
    return [
        html.Div(className="panel-head", children=[
            html.H2(["Patch ", html.Span(str(selected), className="mono")]),
            html.Span(f"{len(labels)} label{'s' if len(labels) != 1 else ''}")]),
        label_chips(data, row),
        pics,
        patch_block(data, row),  # badges, edit controls (the Curate panel's callbacks), history
        table,
        neighbour_strip(data, row, composite),
    ]


# --------------------------------------------------------------------------- layout + callbacks
def layout(data: AppData) -> html.Section:
    return html.Section(className="panel detail-panel", children=[
        html.Div(id=ids.DETAIL, className="detail", children=render_detail(data, None))])


@callback(Output(ids.DETAIL, "children"), Input(ids.SELECTED, "data"), Input(ids.COMPOSITE, "value"),
          Input(ids.EDITS_VERSION, "data"))
def update_detail(selected, composite, _edits_version=None):
    try:
        return render_detail(get_data(), selected, composite)
    except Exception as exc:
        return [html.H2("Patch"), error_box(exc, f"patch {selected}")]
