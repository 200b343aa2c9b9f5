"""``eomine serve``: the dashboard for a workspace (the only command that imports :mod:`dashboard`)."""

from __future__ import annotations

import click

from mining.resources import default_workspace_dir

from ._options import PORT, Host, workspace_argument

__all__ = ["serve"]


@click.command()
@workspace_argument(required=False)
@click.option("--host", default="127.0.0.1", show_default=True, type=Host(),
              help="Interface to bind. Anything but a loopback address requires --auth.")
@click.option("--port", default=8050, show_default=True, type=PORT)
@click.option("--read-only", is_flag=True, help="Presentation mode: no edit controls, every edit refused (403).")
@click.option("--auth", "auth", metavar="env:VAR|file:PATH",
              help="HTTP basic auth on every request; user:password from an environment variable or a file.")
@click.option("--debug", is_flag=True, help="Dash's development server with reloader and error overlay (development only).")
def serve(workspace, host, port, read_only, auth, debug):
    """Serve the dashboard for WORKSPACE (default: the demo workspace) on http://HOST:PORT."""
    from dashboard.access import is_loopback, load_credentials
    from mining.workspace import Workspace

    ws = Workspace(workspace or default_workspace_dir() / "demo")
    credentials = load_credentials(auth) if auth else None
    if not is_loopback(host) and credentials is None:
        raise click.UsageError(f"refusing to bind {host} without authentication: pass --auth env:VAR or "
                               "--auth file:PATH (user:password), or serve on 127.0.0.1")
    from dashboard.app import serve as run_server

    mode = " read-only," if read_only else ""
    login = f" login {credentials.user}," if credentials else ""
    click.echo(f"eomine: {ws.name}, {ws.meta['n_patches']:,} patches,{mode}{login} -> http://{host}:{port}/  "
               "(Ctrl-C stops)")
    try:
        run_server(ws.path, host=host, port=port, read_only=read_only, debug=debug, credentials=credentials)
    except OSError as exc:  # the address is in use, or not one of this machine's, or the port is privileged
        raise click.ClickException(f"cannot serve on {host}:{port} (--host / --port): "
                                   f"{exc.strerror or exc}") from None
