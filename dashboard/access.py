"""Who may do what on the server: HTTP basic auth, read-only (presentation) mode, and the edit endpoints.

* ``--auth``: every request needs HTTP basic auth with the configured ``user:password`` (read from an
  environment variable or a file, never from the command line, where ``ps`` shows it).
* ``--read-only``: every edit is refused with HTTP 403: the ``/eomine/api/edits|undo|redo`` endpoints and any
  Dash callback request that outputs ``EDITS_VERSION`` (the convention for "this callback commits edits").
  The edit controls are not even in the page.
* Edits are validated (patch ids looked up in the catalog, labels against the nomenclature) by
  :class:`mining.curation.EditLog`; nothing from a request is ever joined into a path.

Endpoints (JSON)::

    POST /eomine/api/edits  {"author": str, "note": str, "edits": [{"patch_id", "op", "label"?, "labels"?}]}
                            -> {"batch": int, "version": int, "n": int}
    POST /eomine/api/undo   {"author": str}  -> {"batch": int | null, "version": int}
    POST /eomine/api/redo   {"author": str}  -> {"batch": int | null, "version": int}
    GET  /eomine/api/history                 -> {"batches": [...]}
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from mining.curation import MAX_BATCH, Edit
from mining.errors import DataError, EomineError

from . import ids
from .data import AppState

__all__ = ["Credentials", "load_credentials", "is_loopback", "EditRefused", "commit_edits", "undo_redo",
           "register_access", "API"]

API = "/eomine/api"
#: largest edit request body accepted (a 549,488-patch batch as JSON is ~40 MB)
MAX_BODY = 96 << 20


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str

    def check(self, header: str | None) -> str | None:
        """The user name when ``header`` (an ``Authorization`` value) carries these credentials, else None."""
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _, pw = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        ok = hmac.compare_digest(user.encode(), self.user.encode()) & hmac.compare_digest(pw.encode(),
                                                                                          self.password.encode())
        return user if ok else None


def load_credentials(spec: str) -> Credentials:
    """``env:VAR`` (the variable holds ``user:password``) or ``file:PATH`` / ``PATH`` (the file's first line).

    Raises
    ------
    DataError
        Naming the variable or file when it is missing, unreadable or not ``user:password``.
    """
    if spec.startswith("env:"):
        var = spec[4:]
        value = os.environ.get(var)
        if value is None:
            raise DataError(f"--auth {spec}: environment variable {var} is not set")
        where = f"environment variable {var}"
    else:
        path = Path(spec[5:] if spec.startswith("file:") else spec)
        try:
            value = path.read_text().splitlines()[0] if path.stat().st_size else ""
        except OSError as exc:
            raise DataError(f"--auth: cannot read {path}: {exc.strerror or exc}") from None
        where = str(path)
    user, sep, pw = value.strip().partition(":")
    if not sep or not user or not pw:
        raise DataError(f"--auth: {where} must hold user:password (a non-empty user and password)")
    return Credentials(user, pw)


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EditRefused(EomineError):
    """An edit request the server refuses; ``status`` is the HTTP status (403 read-only, 400 bad input,
    413 too large)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def commit_edits(state: AppState, edits: list[Edit], *, author: str, note: str = "", source: str = "app") -> dict:
    """Commit one batch for the app (read-only checked here, on the server), then swap in the snapshot with the
    labels after it. This is the app's one edit path: the panels and the HTTP API all come through here.

    Returns
    -------
    dict
        ``batch`` (id), ``version`` (the log version the app's snapshot now shows), ``n`` (edits written).
    """
    data = state.current
    if data.read_only:
        raise EditRefused("this server is read-only (presentation mode): edits are disabled", 403)
    if len(edits) > MAX_BATCH:
        raise EditRefused(f"{len(edits):,} edits in one batch is too many (at most {MAX_BATCH:,})", 413)
    try:
        batch = data.edits.commit(edits, author=author, note=note, source=_with_login(source))
    except DataError as exc:
        raise EditRefused(str(exc), 400) from None
    return {"batch": batch, "version": state.sync().labels.version, "n": len(edits)}


def undo_redo(state: AppState, which: str, *, author: str | None) -> dict:
    """Undo or redo the latest batch of ``author`` (read-only checked here); ``batch`` None = nothing to do."""
    data = state.current
    if data.read_only:
        raise EditRefused("this server is read-only (presentation mode): edits are disabled", 403)
    if which not in ("undo", "redo"):
        raise EditRefused(f"unknown action {which!r}", 400)
    try:
        batch = (data.edits.undo if which == "undo" else data.edits.redo)(author=author or None)
    except DataError as exc:
        raise EditRefused(str(exc), 400) from None
    return {"batch": batch, "version": state.sync().labels.version}


def _with_login(source: str) -> str:
    """``source`` plus the basic-auth login of the request, when there is one (provenance of app edits)."""
    try:
        from flask import g, has_request_context

        user = g.get("eomine_user") if has_request_context() else None
    except ImportError:  # pragma: no cover - flask is a dash dependency
        user = None
    return f"{source} (login {user})" if user and "(login " not in source else source


def edits_from_json(items) -> list[Edit]:
    """``[{"patch_id", "op", "label"?, "labels"?}]`` -> Edits (types checked; ids/labels by the log)."""
    if not isinstance(items, list):
        raise EditRefused("'edits' must be a list of {patch_id, op, label?, labels?}")
    out = []
    for i, e in enumerate(items):
        if not isinstance(e, dict) or not isinstance(e.get("patch_id"), str) or not isinstance(e.get("op"), str):
            raise EditRefused(f"edit #{i} must be an object with string patch_id and op")
        label, labels = e.get("label"), e.get("labels") or ()
        if label is not None and not isinstance(label, str):
            raise EditRefused(f"edit #{i} ({e['patch_id']}): label must be a string")
        if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
            raise EditRefused(f"edit #{i} ({e['patch_id']}): labels must be a list of strings")
        out.append(Edit(e["patch_id"], e["op"], label, tuple(labels)))
    return out


def register_access(server, state: AppState, *, credentials: Credentials | None = None) -> None:
    """Install basic auth (when ``credentials``), the read-only guard and the edit endpoints on Flask."""
    from flask import Response, g, jsonify, request

    data = state.current  # read_only and the log handle never change while serving

    @server.before_request
    def _guard():
        g.eomine_user = None
        if credentials is not None:
            user = credentials.check(request.headers.get("Authorization"))
            if user is None:
                return Response("eomine: log in with the user and password the server was started with\n", 401,
                                {"WWW-Authenticate": 'Basic realm="eomine", charset="UTF-8"'})
            g.eomine_user = user
        if data.read_only and request.method == "POST" and request.path.endswith("_dash-update-component"):
            body = request.get_json(silent=True) or {}
            if ids.EDITS_VERSION in str(body.get("output", "")):
                return jsonify(error="this server is read-only (presentation mode): edits are disabled"), 403
        return None

    def _payload() -> dict:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise EditRefused(f"request too large ({request.content_length:,} bytes; at most {MAX_BODY:,})", 413)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise EditRefused("expected a JSON object")
        return body

    def _source(body) -> str:
        src = str(body.get("source") or "api")[:40]
        return f"{src} (login {g.eomine_user})" if g.eomine_user else src

    @server.route(f"{API}/edits", methods=["POST"])
    def api_edits():
        try:
            if data.read_only:
                raise EditRefused("this server is read-only (presentation mode): edits are disabled", 403)
            body = _payload()
            res = commit_edits(state, edits_from_json(body.get("edits")), author=str(body.get("author") or ""),
                               note=str(body.get("note") or ""), source=_source(body))
        except EditRefused as exc:
            return jsonify(error=str(exc)), exc.status
        return jsonify(res)

    def _undo_redo(which):
        try:
            if data.read_only:
                raise EditRefused("this server is read-only (presentation mode): edits are disabled", 403)
            body = _payload()
            res = undo_redo(state, which, author=body.get("author") if isinstance(body.get("author"), str) else None)
        except EditRefused as exc:
            return jsonify(error=str(exc)), exc.status
        return jsonify(res)

    @server.route(f"{API}/undo", methods=["POST"])
    def api_undo():
        return _undo_redo("undo")

    @server.route(f"{API}/redo", methods=["POST"])
    def api_redo():
        return _undo_redo("redo")

    @server.route(f"{API}/history")
    def api_history():
        h = data.edits.batches()
        h["target"] = h["target"].astype(object).where(h["target"].notna(), None)
        return jsonify(batches=h.to_dict(orient="records"), version=data.edits.version())
