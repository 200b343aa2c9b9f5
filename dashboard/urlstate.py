"""The view state in the URL (so a link reproduces what a curator sees) — plain functions, no Dash."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

__all__ = ["encode_state", "decode_state", "keep_other_keys", "encode_selection", "decode_selection",
           "search_with_scene", "scene_from_search", "SCENE_KEY"]

_LIST_SEP = "|"


def _fmt_range(r) -> str | None:
    if not r or len(r) != 2:
        return None
    return ",".join(f"{float(v):.6g}" for v in r)


def encode_selection(sel: dict | None) -> str | None:
    """A selection as URL text: ``lasso:x,y;x,y;...``, ``box:x0,x1,y0,y1`` or ``map:lon0,lon1,lat0,lat1``
    (6 significant digits: a link selects what its author saw)."""
    if not sel or sel.get("kind") not in ("lasso", "box", "map"):
        return None
    if sel["kind"] == "lasso":
        return "lasso:" + ";".join(f"{float(x):.6g},{float(y):.6g}" for x, y in sel.get("points") or [])
    (x0, x1), (y0, y1) = sel["range"]
    text = f"{sel['kind']}:" + ",".join(f"{float(v):.6g}" for v in (x0, x1, y0, y1))
    if sel["kind"] == "map" and sel.get("scale"):
        text += f"@{float(sel['scale']):g}"  # a box on one scale of a multiscale scene view
    return text


def decode_selection(text: str | None, name: str | None = None) -> dict | None:
    """Inverse of :func:`encode_selection` (None for anything malformed, never an exception)."""
    if not text or ":" not in text:
        return None
    kind, _, body = text.partition(":")
    try:
        if kind == "lasso":
            pts = [[float(a) for a in p.split(",")] for p in body.split(";") if p]
            if len(pts) < 3 or any(len(p) != 2 for p in pts):
                return None
            sel = {"kind": "lasso", "points": pts}
        elif kind in ("box", "map"):
            body, _, scale = body.partition("@") if kind == "map" else (body, "", "")
            x0, x1, y0, y1 = (float(v) for v in body.split(","))
            sel = {"kind": kind, "range": [[x0, x1], [y0, y1]]}
            if scale:
                if not float(scale) > 0:
                    return None
                sel["scale"] = float(scale)
        else:
            return None
    except ValueError:
        return None
    if name:
        sel["name"] = name[:80]
    return sel


def encode_state(state: dict) -> str:
    """``?color=..&labels=a|b&...`` from a state dict (keys: color, composite, filters, selected, scatter, map,
    page, selection)."""
    q: dict[str, str] = {}
    if state.get("color"):
        q["color"] = state["color"]
    if state.get("composite"):
        q["comp"] = state["composite"]
    f = state.get("filters") or {}
    for key, short in (("labels", "labels"), ("splits", "split"), ("countries", "country"), ("flags", "flags")):
        if f.get(key):
            q[short] = _LIST_SEP.join(f[key])
    if f.get("label_mode") == "all":
        q["lmode"] = "all"
    if state.get("selected"):
        q["patch"] = state["selected"]
    for key, prefix in (("scatter", "s"), ("map", "m")):
        v = state.get(key) or {}
        for axis in ("x", "y"):
            r = _fmt_range(v.get(axis))
            if r:
                q[f"{prefix}{axis}"] = r
    if state.get("page"):
        q["page"] = str(int(state["page"]))
    sel = encode_selection(state.get("selection"))
    if sel:
        q["sel"] = sel
        if (state.get("selection") or {}).get("name"):
            q["seln"] = state["selection"]["name"]
    return "?" + urlencode(q) if q else ""


def decode_state(search: str | None) -> dict:
    """Inverse of :func:`encode_state`; unknown or malformed values are dropped, never raised."""
    qs = parse_qs((search or "").lstrip("?"))

    def one(k):
        return qs.get(k, [None])[0]

    def lst(k):
        v = one(k)
        return [s for s in v.split(_LIST_SEP) if s] if v else []

    def rng(k):
        v = one(k)
        try:
            a, b = (float(s) for s in v.split(","))
            return [a, b] if a < b else None
        except (AttributeError, ValueError):
            return None

    state = {"color": one("color"), "composite": one("comp"), "selected": one("patch"),
             "filters": {"labels": lst("labels"), "splits": lst("split"), "countries": lst("country"),
                         "flags": lst("flags"), "label_mode": "all" if one("lmode") == "all" else "any"},
             "scatter": {"x": rng("sx"), "y": rng("sy")}, "map": {"x": rng("mx"), "y": rng("my")},
             "selection": decode_selection(one("sel"), one("seln"))}
    try:
        state["page"] = max(int(one("page") or 0), 0)
    except ValueError:
        state["page"] = 0
    return state


#: the keys :func:`encode_state` writes; other keys in the URL belong to panels that write them (tour)
OWN_KEYS = frozenset({"color", "comp", "labels", "split", "country", "flags", "lmode", "patch", "sx", "sy", "mx",
                      "my", "page", "sel", "seln"})


def keep_other_keys(search: str, current: str | None) -> str:
    """``search`` plus the keys of ``current`` that :func:`encode_state` does not own, in their order."""
    from urllib.parse import parse_qsl

    other = [(k, v) for k, v in parse_qsl((current or "").lstrip("?"), keep_blank_values=True) if k not in OWN_KEYS]
    if not other:
        return search
    mine = parse_qsl((search or "").lstrip("?"), keep_blank_values=True)
    return "?" + urlencode(mine + other)


#: the map's scene view in the link: ``scene=1`` / ``scene=0``, written only when it differs from the workspace's
#: default (on for scenes), so a link made before the toggle existed keeps meaning the default
SCENE_KEY = "scene"


def search_with_scene(search: str | None, on: bool, default: bool) -> str:
    """``search`` with its ``scene`` key set to ``on`` (removed when ``on`` is the default); other keys kept."""
    from urllib.parse import parse_qsl

    qs = [(k, v) for k, v in parse_qsl((search or "").lstrip("?"), keep_blank_values=True) if k != SCENE_KEY]
    if bool(on) != bool(default):
        qs.append((SCENE_KEY, "1" if on else "0"))
    return "?" + urlencode(qs) if qs else ""


def scene_from_search(search: str | None, default: bool) -> bool:
    """The scene view a link asks for (``scene=1`` / ``0``; anything else: ``default``)."""
    v = parse_qs((search or "").lstrip("?")).get(SCENE_KEY, [None])[0]
    return {"1": True, "0": False}.get(v, bool(default))

