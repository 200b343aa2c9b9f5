"""The composition root: :func:`create_app` assembles the eomine Dash app for one workspace; :func:`serve` runs it.

Nothing else lives here. The panels (``dashboard/panels/``) own their layout and callbacks and never import this
module or each other; what they share sits below them (components, figures, views, geo, routes, access,
data). Import-linter contracts in ``pyproject.toml`` keep it that way (``tools/test.sh`` runs them).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dash
from dash import dcc, html

from . import ids
from .access import register_access
from .data import AppData, AppState, Filters
from .panels import curate, detail, filters, find, grid, history, label, map_panel, review, scatter, tour
from .panels import help as help_panel
from .routes import register_routes

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def create_app(workspace, *, read_only: bool = False, state: AppState | None = None,
               credentials=None, confirm_above: int = 1000, log: str | None = None) -> dash.Dash:
    """Build the app for one workspace.

    Parameters
    ----------
    workspace : path-like
        A workspace (see :mod:`mining.workspace`), ideally with a projection and a kNN graph.
    read_only : bool
        Presentation mode (edit controls hidden, edits refused with HTTP 403).
    state : AppState, optional
        The server state, when the caller loaded it already (tests).
    credentials : dashboard.access.Credentials, optional
        When given, every request needs HTTP basic auth with them (``eomine serve --auth``).
    confirm_above : int
        Edits of more patches than this ask for confirmation first.
    log : str, optional
        The edit log: ``sqlite`` or a ``postgresql://`` URL (default: ``$EOMINE_LOG``, else ``WS/edits.sqlite``).
    """
    state = state or AppState.load(workspace, read_only=read_only, confirm_above=confirm_above, log=log)
    data = state.current
    app = dash.Dash(__name__, title=f"eomine: {data.ws.name}", assets_folder=str(ASSETS), update_title=None,
                    background_callback_manager=_job_manager())
    app.server.extensions["eomine"] = state
    register_routes(app.server, state)
    scatter.register_route(app.server)
    register_access(app.server, state, credentials=credentials)
    review.register_jobs(app, data)
    app.layout = lambda: build_layout(state.sync())
    # every component any callback names (the edit controls too, which a read-only page leaves out), so Dash
    # checks the callbacks against it instead of suppressing the errors of mistyped ids
    app.validation_layout = build_layout(dataclasses.replace(data, read_only=False))
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
    """The bottom-left work area: one tab per workflow (patch grid, tour, review queue, labelling, edit history);
    the Label tab only where edits are allowed."""
    slots = {"scatter": len(scatter.TRACES), "map": len(map_panel.TRACES)}  # where the tour's overlays sit
    n_tour = len(tour.overlay_traces())
    label_slots = {k: v + n_tour for k, v in slots.items()}  # the Label tab's highlight follows the tour's
    tabs = [
        dcc.Tab(label="Patches", value="grid", children=grid.layout(data), className="tab",
                selected_className="tab--selected"),
        dcc.Tab(label="Tour", value="tour", children=tour.layout(data, slots=slots), className="tab",
                selected_className="tab--selected"),
        dcc.Tab(label="Review", value="review", children=review.layout(data), className="tab",
                selected_className="tab--selected"),
    ]
    if not data.read_only:
        tabs.append(dcc.Tab(label="Label", value="label", children=label.layout(data, slots=label_slots),
                            className="tab", selected_className="tab--selected"))
    tabs.append(dcc.Tab(label="History", value="history", children=history.layout(data), className="tab",
                        selected_className="tab--selected"))
    return dcc.Tabs(id=ids.WORK_TABS, value="grid", children=tabs, className="work-tabs",
                    parent_className="work-tabs-parent", content_className="work-tabs-content")


def build_layout(data: AppData) -> html.Div:
    """The page: top bar (find, curator, help), sidebar (view, filters, selection), scatter and map, the curation
    toolbar right under them, work tabs and the patch detail; sized so that at 1366x768 the scatter, the map and
    every curation control are on screen together."""
    n_proj = int((data.px == data.px).sum())
    overlays = [*tour.overlay_traces(), *label.overlay_traces()]  # the tour's path, the labelled patches
    header = html.Header(className="topbar", children=[
        html.Div(className="topbar-left", children=[
            html.Span("eomine", className="brand"), html.Span(data.ws.name, className="ws-name"),
            html.Span(className="counts", title=f"{n_proj:,} of them in the embedding", children=[
                f"{data.n:,} patches · {len(data.classes)} classes",
                html.Span(" · read-only" if data.read_only else "", className="ro")])]),
        html.Div(className="topbar-right", children=[*find.layout(data), *curate.author_layout(data),
                                                     *help_panel.button()]),
    ])
    return html.Div(className="app", children=[
        dcc.Location(id=ids.URL, refresh=False),
        dcc.Store(id=ids.FILTERS, data=Filters().to_dict()),
        dcc.Store(id=ids.SELECTION, data=None),
        dcc.Store(id=ids.SELECTED, data=None),
        dcc.Store(id=ids.URL_READY, data=False),
        dcc.Store(id=ids.AUTHOR, storage_type="local"),
        dcc.Store(id=ids.EDITS_VERSION, data=data.labels.version),
        dcc.Store(id=ids.SCORES_VERSION, data=0),
        dcc.Store(id=ids.PREDICTIONS_VERSION, data=0),
        header,
        html.Div(id=ids.MESSAGE, className="message", role="status"),
        html.Div(className="body", children=[
            html.Aside(className="sidebar", children=filters.layout(data)),
            html.Main(className="main", children=[
                html.Div(className="row top", children=[scatter.layout(data, overlays=overlays),
                                                        map_panel.layout(data, overlays=overlays)]),
                *curate.layout(data),
                html.Div(className="row bottom", children=[work_tabs(data), detail.layout(data)]),
            ]),
        ]),
        *help_panel.layout(data),
    ])


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
          debug: bool = False, credentials=None, confirm_above: int = 1000, log: str | None = None) -> None:
    """Serve the app for ``workspace`` until interrupted.

    A production WSGI server (waitress, 8 worker threads) serves the app; ``debug=True`` uses Dash's
    development server with its reloader and in-browser error overlay instead.
    """
    app = create_app(workspace, read_only=read_only, credentials=credentials, confirm_above=confirm_above, log=log)
    _exit_on_sigterm()
    if debug:
        app.run(host=host, port=port, debug=True)
        return
    import waitress

    waitress.serve(app.server, host=host, port=port, threads=8, ident="eomine", _quiet=True)
