"""The view state in the URL (so a link reproduces what a curator sees) — plain functions, no Dash."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

__all__ = ["encode_state", "decode_state", "keep_other_keys"]

_LIST_SEP = "|"


def _fmt_range(r) -> str | None:
    if not r or len(r) != 2:
        return None
    return ",".join(f"{float(v):.6g}" for v in r)


def encode_state(state: dict) -> str:
    """``?color=..&labels=a|b&...`` from a state dict (keys: color, composite, filters, selected, scatter, map)."""
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
             "scatter": {"x": rng("sx"), "y": rng("sy")}, "map": {"x": rng("mx"), "y": rng("my")}}
    try:
        state["page"] = max(int(one("page") or 0), 0)
    except ValueError:
        state["page"] = 0
    return state


#: the keys :func:`encode_state` writes; other keys in the URL belong to panels that write them (tour)
OWN_KEYS = frozenset({"color", "comp", "labels", "split", "country", "flags", "lmode", "patch", "sx", "sy", "mx",
                      "my", "page"})


def keep_other_keys(search: str, current: str | None) -> str:
    """``search`` plus the keys of ``current`` that :func:`encode_state` does not own, in their order."""
    from urllib.parse import parse_qsl

    other = [(k, v) for k, v in parse_qsl((current or "").lstrip("?"), keep_blank_values=True) if k not in OWN_KEYS]
    if not other:
        return search
    mine = parse_qsl((search or "").lstrip("?"), keep_blank_values=True)
    return "?" + urlencode(mine + other)
