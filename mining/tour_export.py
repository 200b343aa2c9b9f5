"""Export a computed tour as one self-contained HTML file (and optionally an animated GIF).

The HTML file has everything inlined: each stop's patch image as a PNG data URI (rendered by
:class:`mining.composites.CompositeRenderer`, encoded by PIL), the 2-D layout as a small PNG, the country
outlines around the tour (Natural Earth, shipped in ``data/basemap``) as an SVG path, the stops and their
captions as JSON, and the player (``mining/templates/tour.html``: play / pause / previous / next, speed, a
step slider, keyboard arrows, full screen). It fetches nothing, so it plays from a ``file://`` URL offline.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import numpy as np

from ._internal.validation import Interval
from .errors import DataError, ParameterError
from .tours import TOUR_FORMAT_VERSION, Tour

__all__ = ["export_html", "export_gif", "tour_payload", "layout_image", "layout_png", "basemap_svg_path", "HTML_SIZE", "GIF_SIZE",
           "INTERVAL"]

#: patch image sizes (pixels) of the HTML player and of the GIF, and seconds per stop of the player
HTML_SIZE = Interval(int, 16, 768)
GIF_SIZE = Interval(int, 64, 512)
INTERVAL = Interval(float, 0.2, 60)

TEMPLATE = Path(__file__).resolve().parent / "templates" / "tour.html"
PANEL_W, PANEL_H = 360, 270
_PATH_COLOUR = (228, 0, 43)


def export_html(tour: Tour, ws, out, *, composite: str = "true_color", size: int = 384,
                interval: float = 2.0, title: str | None = None) -> Path:
    """Write the tour as a self-contained HTML player.

    Parameters
    ----------
    tour : Tour
        A fitted tour.
    ws : Workspace
        Its workspace (pixels, nomenclature colours).
    out : path-like
        The ``.html`` file to write (written atomically: a failed export leaves an existing file intact).
    composite : str
        Band composite of the patch images (see :mod:`mining.composites`).
    size : int
        Patch image size in pixels (16-768).
    interval : float
        Seconds per stop when playing (changeable in the player).

    Returns
    -------
    Path
    """
    from .workspace import atomic_write

    _check("interval", INTERVAL, interval, "export_html")
    payload = tour_payload(tour, ws, composite=composite, size=size, interval=interval, title=title)
    doc = TEMPLATE.read_text()
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    doc = doc.replace("__TITLE__", html.escape(payload["title"])).replace("/*__TOUR_DATA__*/null", data)
    out = Path(out)
    atomic_write(out, lambda tmp: tmp.write_text(doc, encoding="utf-8"))
    return out


def _check(name: str, constraint: Interval, value, owner: str) -> None:
    if not constraint.is_satisfied_by(value):
        raise ParameterError(name, str(constraint), value, owner=owner)


def tour_payload(tour: Tour, ws, *, composite: str = "true_color", size: int = 384, interval: float = 2.0,
                 title: str | None = None) -> dict:
    """Everything the player shows, JSON-serialisable (images as data URIs)."""
    if not hasattr(tour, "rows_"):
        raise DataError("the tour has not been computed yet (call Tour.fit first)")
    _check("size", HTML_SIZE, size, "export_html")
    g = tour.graph_
    stops = tour.stops()
    images = stop_images(ws, stops["patch_id"], composite=composite, size=size)
    nom = ws.nomenclature
    colours = dict(zip(nom.classes, nom.colors, strict=True))
    short = dict(zip(nom.classes, nom.short, strict=True))
    layout = None
    if g.xy is not None and np.isfinite(stops[["x", "y"]].to_numpy()).all():
        uri, extent = layout_png(g.xy, g.Y, list(nom.colors))
        layout = {"image": uri, "extent": extent}
    mp = None
    if np.isfinite(stops[["lon", "lat"]].to_numpy()).all():
        mp = basemap_svg_path(stops["lon"].to_numpy(), stops["lat"].to_numpy())

    def clean(v):
        return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v

    rows = []
    for r, img in zip(stops.itertuples(index=False), images, strict=True):
        rows.append({"id": r.patch_id, "labels": list(r.labels), "gained": list(r.gained), "lost": list(r.lost),
                     "km": round(float(r.km), 2), "km_total": round(float(r.km_total), 2),
                     "emb": clean(round(float(r.embedding), 4)) if np.isfinite(r.embedding) else None,
                     "jump": bool(r.jump), "country": clean(r.country) if isinstance(r.country, str) else None,
                     "lon": clean(float(r.lon)), "lat": clean(float(r.lat)),
                     "x": clean(float(r.x)), "y": clean(float(r.y)), "img": img})
    p = tour.get_params()
    default_title = f"{ws.name}: {_strategy_title(p)}"
    return {"format": "eomine-tour", "version": TOUR_FORMAT_VERSION, "title": title or default_title,
            "params": p, "knn_key": tour.knn_key_, "composite": composite, "interval": float(interval),
            "colours": colours, "short": short, "stops": rows, "layout": layout, "map": mp}


def _strategy_title(p: dict) -> str:
    if p["strategy"] == "class":
        return f"class tour of {p['label']}"
    if p["strategy"] == "grand":
        return f"grand tour (one stop per {p['by']})"
    return {"random": "random walk", "boundary": "boundary tour"}[p["strategy"]]


def stop_images(ws, patch_ids, *, composite: str = "true_color", size: int = 384) -> list[str | None]:
    """PNG data URIs of the patches (None for a patch without pixels)."""
    if not ws.has_pixels:
        return [None] * len(patch_ids)
    from .composites import COMPOSITES, CompositeRenderer

    renderer = CompositeRenderer().fit(ws.store)
    if composite not in renderer.composites_:
        known = ", ".join(renderer.composites_) or "none"
        what = "unknown composite" if composite not in COMPOSITES else "composite not available here"
        raise DataError(f"{what} {composite!r} (this workspace has: {known})")
    prow = ws.catalog["pixel_row"].to_numpy()[ws.rows_of(list(patch_ids))]
    out = []
    for r in prow.tolist():
        if r < 0:
            out.append(None)
            continue
        try:
            png = renderer.png(r, composite, upscale=int(size))
        except (DataError, ValueError):  # e.g. the s1 composite of a patch without an S1 partner
            out.append(None)
            continue
        out.append("data:image/png;base64," + base64.b64encode(png).decode("ascii"))
    return out


def layout_image(xy: np.ndarray, Y: np.ndarray, colours: list[str], *, width: int = PANEL_W * 2,
                 height: int = PANEL_H * 2, margin: float = 0.03) -> tuple[np.ndarray, list[float]]:
    """The 2-D layout, points coloured by first label (grey without one), drawn by the dashboard's renderer
    (:func:`mining.raster.render_categorical`).

    Returns
    -------
    rgba : ndarray of uint8, shape (height, width, 4)
    extent : [x0, x1, y0, y1]
    """
    from .raster import Viewport, render_categorical

    ok = np.isfinite(xy).all(1)
    P = xy[ok].astype(np.float64)
    x0, y0 = P.min(0)
    x1, y1 = P.max(0)
    dx, dy = max(x1 - x0, 1e-9) * margin, max(y1 - y0, 1e-9) * margin
    x0, x1, y0, y1 = x0 - dx, x1 + dx, y0 - dy, y1 + dy
    codes = np.where(Y.any(1), Y.argmax(1), len(colours)).astype(np.int16)
    rgba, _ = render_categorical(np.ascontiguousarray(xy[:, 0], np.float32), np.ascontiguousarray(xy[:, 1], np.float32),
                                 codes, [*colours, "#969696"], Viewport((x0, x1), (y0, y1), width, height))
    return rgba, [float(x0), float(x1), float(y0), float(y1)]


def layout_png(xy: np.ndarray, Y: np.ndarray, colours: list[str], *, width: int = PANEL_W * 2,
               height: int = PANEL_H * 2) -> tuple[str, list[float]]:
    """:func:`layout_image` as a PNG data URI, with its extent [x0, x1, y0, y1]."""
    from .raster import image_uri

    rgba, extent = layout_image(xy, Y, colours, width=width, height=height)
    return image_uri(rgba, "png"), extent


def basemap_svg_path(lon: np.ndarray, lat: np.ndarray, *, pad_deg: float = 2.0) -> dict:
    """Country outlines around the stops, as one SVG path in an equirectangular frame.

    Returns
    -------
    dict
        ``path`` (SVG path, x = lon·cos(lat0), y = -lat), ``box`` [x0, y0, w, h] (the SVG viewBox) and ``k``
        (cos of the mean latitude, to place the stops).
    """
    from .basemap import rings_near

    lon0, lon1 = float(np.min(lon)) - pad_deg, float(np.max(lon)) + pad_deg
    lat0, lat1 = float(np.min(lat)) - pad_deg, float(np.max(lat)) + pad_deg
    k = math.cos(math.radians((lat0 + lat1) / 2))
    # keep a 4:3 frame
    w, h = (lon1 - lon0) * k, lat1 - lat0
    if w / h < 4 / 3:
        extra = (h * 4 / 3 - w) / k / 2
        lon0, lon1 = lon0 - extra, lon1 + extra
    else:
        extra = (w * 3 / 4 - h) / 2
        lat0, lat1 = lat0 - extra, lat1 + extra
    parts = ["M" + "L".join(f"{x * k:.3f},{-y:.3f}" for x, y in r) + "Z" for r in rings_near(lon0, lat0, lon1, lat1)]
    return {"path": "".join(parts), "box": [lon0 * k, -lat1, (lon1 - lon0) * k, lat1 - lat0], "k": k}


# ------------------------------------------------------------------------------------------------ GIF
def export_gif(tour: Tour, ws, out, *, composite: str = "true_color", size: int = 256,
               interval: float = 1.5) -> Path:
    """An animated GIF of the tour: the patch, the path on the 2-D layout, and the caption, one frame a stop.

    Parameters
    ----------
    tour : Tour
        A fitted tour.
    ws : Workspace
    out : path-like
    composite : str
    size : int
        Patch image size (64-512).
    interval : float
        Seconds per frame.
    """
    from PIL import Image, ImageDraw, ImageFont

    from .workspace import atomic_write

    _check("size", GIF_SIZE, size, "export_gif")
    stops = tour.stops()
    images = stop_images(ws, stops["patch_id"], composite=composite, size=size)
    g = tour.graph_
    pw = size  # layout panel: square, as tall as the patch
    bg, ext = None, None
    if g.xy is not None and np.isfinite(stops[["x", "y"]].to_numpy()).all():
        rgba, ext = layout_image(g.xy, g.Y, list(ws.nomenclature.colors), width=pw, height=pw)
        bg = Image.fromarray(rgba, "RGBA")
    font = ImageFont.load_default(size=max(12, size // 18))
    cap_h = 4 * (max(12, size // 18) + 6) + 8
    W, H = size + (pw + 8 if bg is not None else 0), size + cap_h
    pts = None
    if ext is not None:
        x0, x1, y0, y1 = ext
        pts = [((x - x0) / (x1 - x0) * pw, (y1 - y) / (y1 - y0) * pw) for x, y in zip(stops["x"], stops["y"],
                                                                                      strict=True)]
    frames = []
    n = len(stops)
    for i, r in enumerate(stops.itertuples(index=False)):
        fr = Image.new("RGB", (W, H), "white")
        if images[i] is not None:
            im = Image.open(io.BytesIO(base64.b64decode(images[i].split(",", 1)[1]))).convert("RGBA")
            fr.paste(im, (0, 0), im)
        else:
            ImageDraw.Draw(fr).text((10, size // 2), "no pixels", fill="#666", font=font)
        if bg is not None:
            panel = Image.new("RGBA", (pw, pw), "white")
            panel.alpha_composite(bg)
            d = ImageDraw.Draw(panel)
            if i > 0:
                d.line(pts[: i + 1], fill=(*_PATH_COLOUR, 200), width=2)
            cx, cy = pts[i]
            d.ellipse((cx - 6, cy - 6, cx + 6, cy + 6), outline=_PATH_COLOUR, width=3)
            fr.paste(panel.convert("RGB"), (size + 8, 0))
        d = ImageDraw.Draw(fr)
        walk = tour.strategy in ("random", "boundary")
        for j, line in enumerate(caption_lines(r, i, n, show_jump=walk)):
            while len(line) > 4 and font.getlength(line) > W - 12:
                line = line[:-2].rstrip() + "…"
            d.text((6, size + 6 + j * (max(12, size // 18) + 6)), line, fill="#222", font=font)
        frames.append(fr.convert("P", palette=Image.Palette.ADAPTIVE, colors=255))
    if not frames:
        raise DataError("the tour has no stops")

    def write(tmp: Path) -> None:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                       duration=int(float(interval) * 1000), optimize=False)

    out = Path(out)
    atomic_write(out, write)
    return out


def caption_lines(r, i: int, n: int, *, show_jump: bool = True) -> list[str]:
    """The caption of one stop (a row of :func:`mining.tours.describe_stops`) as short lines of text."""
    head = f"Stop {i + 1} of {n}" + (f" · {r.country}" if isinstance(r.country, str) else "")
    lines = [head, str(r.patch_id), ", ".join(r.labels) or "(no label)"]
    moved = []
    if i > 0:
        if len(r.gained):
            moved.append("+" + ", ".join(r.gained))
        if len(r.lost):
            moved.append("-" + ", ".join(r.lost))
        if np.isfinite(r.km):
            moved.append(f"{r.km:,.1f} km" + (" (jump)" if r.jump and show_jump else ""))
    lines.append(" · ".join(moved) if moved else "start")
    return lines

