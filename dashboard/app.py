"""The eomine Dash app: ``create_app(workspace)`` builds it; ``eomine serve`` runs it on 127.0.0.1."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dash
from dash import dcc, html

from . import ids
from .data import AppData

ASSETS = Path(__file__).resolve().parent.parent / "assets"
THUMB_ROUTE = "/eomine/thumb/<composite>/<patch_id>.png"


def create_app(workspace, *, read_only: bool = False, data: AppData | None = None,
               credentials=None) -> dash.Dash:
    """Build the app for one workspace.

    Parameters
    ----------
    workspace : path-like
        A workspace (see :mod:`mining.workspace`), ideally with a projection and a kNN graph.
    read_only : bool
        Presentation mode (edit controls hidden, edits refused with HTTP 403).
    credentials : dashboard.access.Credentials, optional
        When given, every request needs HTTP basic auth with them (``eomine serve --auth``).
    """
    # the panels register their @callback functions on import
    from .panels import curate, detail, filters, grid, map_panel, review, scatter, tour  # noqa: F401

    data = data or AppData.load(workspace, read_only=read_only)
    app = dash.Dash(__name__, title=f"eomine: {data.ws.name}", assets_folder=str(ASSETS),
                    suppress_callback_exceptions=True, update_title=None,
                    background_callback_manager=_job_manager())
    app.server.extensions["eomine"] = data
    _register_routes(app.server, data)
    from .access import register_access

    register_access(app.server, data, credentials=credentials)
    review.register_jobs(app, data)
    app.layout = lambda: build_layout(data)
    return app


def _job_manager():
    """Dash background callbacks (long jobs such as re-scoring) in their own processes, results in a diskcache
    that lives as long as this server (a fresh temporary folder, removed at exit)."""
    import atexit
    import shutil
    import tempfile

    import diskcache
    import multiprocess

    # spawn, not fork: a forked job would inherit the server's SQLite state (edit-log and job-cache connections,
    # and SQLite's mutexes, possibly held by another request thread at that instant) and could hang for ever
    multiprocess.set_start_method("spawn", force=True)
    folder = tempfile.mkdtemp(prefix="eomine-jobs-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return dash.DiskcacheManager(diskcache.Cache(folder))


def work_tabs(data: AppData) -> dcc.Tabs:
    """The bottom-left work area: one tab per workflow (patch grid, review queue, tour, ...).

    Each panel module contributes one ``dcc.Tab`` here; the grid stays the first and default tab.
    """
    from .panels import grid, review, tour

    tabs = [
        dcc.Tab(label="Patches", value="grid", children=grid.layout(data), className="tab",
                selected_className="tab--selected"),
        dcc.Tab(label="Tour", value="tour", children=tour.layout(data), className="tab",
                selected_className="tab--selected"),
        dcc.Tab(label="Review", value="review", children=review.layout(data), className="tab",
                selected_className="tab--selected"),
    ]
    return dcc.Tabs(id=ids.WORK_TABS, value="grid", children=tabs, className="work-tabs",
                    parent_className="work-tabs-parent", content_className="work-tabs-content")


def build_layout(data: AppData) -> html.Div:
    from .panels import curate, detail, filters, map_panel, scatter

    n_proj = int((data.px == data.px).sum())
    header = html.Header(className="topbar", children=[
        html.Div([html.Span("eomine", className="brand"), html.Span(data.ws.name, className="ws-name")]),
        html.Div(className="counts", children=[
            f"{data.n:,} patches · {len(data.classes)} classes · {n_proj:,} in the embedding",
            html.Span(" · read-only" if data.read_only else "", className="ro")]),
    ])
    return html.Div(className="app", children=[
        dcc.Location(id=ids.URL, refresh=False),
        dcc.Store(id=ids.FILTERS, data={}),
        dcc.Store(id=ids.SELECTION, data=None),
        dcc.Store(id=ids.SELECTED, data=None),
        dcc.Store(id=ids.URL_READY, data=False),
        dcc.Store(id=ids.AUTHOR, storage_type="local"),
        dcc.Store(id=ids.EDITS_VERSION, data=0),
        dcc.Store(id=ids.SCORES_VERSION, data=0),
        header,
        html.Div(id=ids.MESSAGE, className="message", role="status"),
        html.Div(className="body", children=[
            html.Aside(className="sidebar", children=filters.layout(data) + curate.layout(data)),
            html.Main(className="main", children=[
                html.Div(className="row top", children=[scatter.layout(data), map_panel.layout(data)]),
                html.Div(className="row bottom", children=[work_tabs(data), detail.layout(data)]),
            ]),
        ]),
    ])


def _register_routes(server, data: AppData) -> None:
    from flask import Response, abort, request

    from mining.composites import COMPOSITES

    stamp = data.ws.meta.get("created", "")

    @server.route(THUMB_ROUTE)
    def thumbnail(composite: str, patch_id: str):
        # the id is looked up in the catalog, never joined into a path: nothing outside the store is reachable
        if composite not in COMPOSITES:
            abort(404, f"unknown composite {composite!r}")
        row = data.row_of.get(patch_id)
        if row is None:
            abort(404, f"unknown patch {patch_id!r}")
        prow = int(data.pixel_row[row])
        if prow < 0 or data.renderer is None:
            abort(404, f"patch {patch_id} has no pixels in this workspace")
        try:
            size = min(max(int(request.args.get("size", 128)), 16), 512)
        except ValueError:
            abort(400, "size must be an integer")
        etag = hashlib.sha1(f"{stamp}|{patch_id}|{composite}|{size}".encode()).hexdigest()[:20]
        if request.if_none_match and etag in request.if_none_match:
            return Response(status=304, headers={"ETag": f'"{etag}"'})
        try:
            png = data.renderer.png(prow, composite, upscale=size)
        except Exception as exc:  # e.g. a patch without an S1 partner asked for the s1 composite
            abort(404, str(exc))
        return Response(png, mimetype="image/png",
                        headers={"Cache-Control": "public, max-age=86400", "ETag": f'"{etag}"'})


    @server.route("/eomine/thumb/<path:rest>")
    def thumbnail_bad_path(rest: str):
        # anything else under the thumbnail prefix (e.g. an encoded "../") is a 404, never the app page
        abort(404, "not a thumbnail URL")


def thumb_url(composite: str, patch_id: str, size: int = 128) -> str:
    from urllib.parse import quote

    return f"/eomine/thumb/{composite}/{quote(patch_id, safe='')}.png?size={size}"


def _exit_on_sigterm() -> None:
    """Let SIGTERM (``kill``, systemd, docker stop) end the server like Ctrl-C does, through ``sys.exit``, so the
    ``atexit`` clean-up runs (the background-job cache folder is removed) instead of the process dying where it
    stands."""
    import signal
    import sys
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))


def serve(workspace, *, host: str = "127.0.0.1", port: int = 8050, read_only: bool = False,
          debug: bool = False, credentials=None) -> None:
    """Serve the app for ``workspace`` until interrupted.

    A production WSGI server (waitress, 8 worker threads) serves the app; ``debug=True`` uses Dash's
    development server with its reloader and in-browser error overlay instead.
    """
    app = create_app(workspace, read_only=read_only, credentials=credentials)
    _exit_on_sigterm()
    if debug:
        app.run(host=host, port=port, debug=True)
        return
    import waitress

    waitress.serve(app.server, host=host, port=port, threads=8, ident="eomine", _quiet=True)
