"""``eomine serve``: the dashboard for a workspace (the only command that imports :mod:`dashboard`)."""

from __future__ import annotations

import click

from mining._internal.validation import Interval
from mining.resources import default_workspace_dir

from ._options import PORT, Host, Int, log_option, workspace_argument

__all__ = ["serve"]


@click.command()
@workspace_argument(required=False)
@click.option("--host", default="127.0.0.1", show_default=True, type=Host(),
              help="Interface to bind. Anything but a loopback address requires --auth.")
@click.option("--port", default=8050, show_default=True, type=PORT)
@click.option("--read-only", is_flag=True, help="Presentation mode: no edit controls, every edit refused (403).")
@click.option("--auth", "auth", metavar="env:VAR|file:PATH",
              help="HTTP basic auth on every request; user:password from an environment variable or a file.")
@click.option("--confirm-above", type=Int(Interval(int, 0, None)), default=1000, show_default=True,
              help="An edit of more patches than this asks for confirmation first (0: always ask).")
@click.option("--debug", is_flag=True, help="Dash's development server with reloader and error overlay (development only).")
@log_option
def serve(workspace, host, port, read_only, auth, confirm_above, debug, log_url):
    """Serve the dashboard for WORKSPACE (default: the demo workspace) on http://HOST:PORT.

    With --log postgresql://... several servers, on several hosts, share one edit history: each sees the
    others' edits within the app's poll interval (4 s)."""
    from dashboard.access import is_loopback, load_credentials
    from mining.curation.postgres import mask_url
    from mining.workspace import Workspace

    ws = Workspace(workspace or default_workspace_dir() / "demo")
    credentials = load_credentials(auth) if auth else None
    if not is_loopback(host) and credentials is None:
        raise click.UsageError(f"refusing to bind {host} without authentication: pass --auth env:VAR or "
                               "--auth file:PATH (user:password), or serve on 127.0.0.1")
    import os

    from dashboard.app import serve as run_server
    from mining.curation import LOG_ENV, open_log
    from mining.curation import log_url as resolve_log

    where = resolve_log(log_url)
    open_log(ws, where, create=False).close()  # an unreachable or foreign log: one error line before anything else
    if log_url is not None:  # the background jobs this server starts (re-scoring) read the same log
        os.environ[LOG_ENV] = log_url
    mode = " read-only," if read_only else ""
    login = f" login {credentials.user}," if credentials else ""
    shared = "" if where == "sqlite" else f" edit log {mask_url(where)},"
    click.echo(f"eomine: {ws.name}, {ws.meta['n_patches']:,} patches,{mode}{login}{shared} -> http://{host}:{port}/  "
               "(Ctrl-C stops)")
    try:
        run_server(ws.path, host=host, port=port, read_only=read_only, debug=debug, credentials=credentials,
                   confirm_above=confirm_above, log=where)
    except OSError as exc:  # the address is in use, or not one of this machine's, or the port is privileged
        raise click.ClickException(f"cannot serve on {host}:{port} (--host / --port): "
                                   f"{exc.strerror or exc}") from None
