"""Open a workspace's edit log wherever it is stored: ``WS/edits.sqlite`` (the default) or a PostgreSQL
database shared by several app servers (``postgresql://...``).

The location is, first found: the ``url`` given (``eomine ... --log URL``), the environment variable
``EOMINE_LOG``, else the workspace's own SQLite file. ``sqlite`` names that file explicitly (and overrides
``EOMINE_LOG``).

Examples
--------
>>> log = open_log(ws)                                                   # doctest: +SKIP
>>> log = open_log(ws, "postgresql://eomine:secret@db.lan/eomine")       # doctest: +SKIP
>>> log.commit([Edit("P1", "flag")], author="ana")                       # doctest: +SKIP
"""

from __future__ import annotations

import os

from ..errors import DataError
from .events import EditLogProtocol
from .postgres import is_postgres_url, mask_url, parse_url

__all__ = ["open_log", "log_url", "LOG_ENV", "SQLITE"]

#: the environment variable naming the edit log of every command (``--log`` overrides it)
LOG_ENV = "EOMINE_LOG"
#: the ``--log`` value naming the workspace's own SQLite log
SQLITE = "sqlite"


def log_url(url: str | None = None) -> str:
    """The location a log is opened from: ``url``, else ``$EOMINE_LOG``, else ``"sqlite"``.

    Raises
    ------
    DataError
        Neither ``sqlite`` nor a ``postgresql://`` URL (the message names it, password masked, and where it
        came from).
    """
    source = ""
    if url is None or (isinstance(url, str) and not url.strip()):
        url, source = os.environ.get(LOG_ENV, "").strip() or SQLITE, f" (from {LOG_ENV})"
    if not isinstance(url, str):
        raise DataError(f"edit log location must be a string ('sqlite' or postgresql://...), got {url!r}")
    url = url.strip()
    if url.lower() == SQLITE:
        return SQLITE
    if not is_postgres_url(url):
        raise DataError(f"edit log {mask_url(url)!r}{source} is neither 'sqlite' nor a postgresql:// URL "
                        "(postgresql://USER:PASSWORD@HOST:PORT/DATABASE)")
    try:
        parse_url(url)
    except DataError as exc:
        raise DataError(f"{exc}{source}") from None
    return url


def open_log(workspace, url: str | None = None, *, create: bool | str = True) -> EditLogProtocol:
    """The edit log of ``workspace``: SQLite (``WS/edits.sqlite``) or PostgreSQL, by :func:`log_url`.

    Parameters
    ----------
    workspace : Workspace or path-like
    url : str or None
        ``"sqlite"``, ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE[?schema=NAME]``, or None
        (``$EOMINE_LOG``, else SQLite).
    create : bool or "on_write"
        As for :class:`~mining.curation.EditLog`: create the log now, at the first commit, or never.

    Returns
    -------
    EditLog or PostgresEditLog
        Either fulfils :class:`~mining.curation.EditLogProtocol`.

    Raises
    ------
    DataError
        A malformed location.
    WorkspaceError
        The log cannot be opened (an unreachable server, another build's log, a damaged file ...).
    """
    url = log_url(url)
    if url == SQLITE:
        from .sqlite import EditLog

        return EditLog(workspace, create=create)
    from .postgres import PostgresEditLog

    return PostgresEditLog(workspace, url, create=create)
