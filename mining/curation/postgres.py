"""The PostgreSQL storage of the curation log: one history shared by several app servers on several hosts.

::

    postgresql://USER:PASSWORD@HOST:PORT/DATABASE[?schema=NAME]
      schema eomine_<dataset>   (default; or NAME)
        meta       format, version, created, workspace (the build the log is made for), dataset
        batches    id, time, author, kind, target, note, source, n_events, request_id
        events     id, time, author, batch, patch_id, row, op, label, note

The same tables and columns as ``WS/edits.sqlite`` (:mod:`mining.curation.sqlite`), in a schema of their own,
so one database holds the logs of several workspaces. The schema is named after the workspace's dataset
(``workspace.json``: the same on every copy of the workspace, on every host); ``?schema=NAME`` in the URL names
another one (two workspaces of one dataset in one database). The log records the workspace build it was made
for and refuses any other build, as the SQLite log does.

**Order and atomicity.** A batch is one PostgreSQL transaction. Writers take ``LOCK TABLE batches IN
EXCLUSIVE MODE`` (readers are never blocked: plain reads take ``ACCESS SHARE``), then number the batch and its
events ``MAX(id) + 1`` onwards: ids are dense and follow commit order across every process on every host, so a
reader that sees batch *k* sees every batch before it, and the incremental refresh of the cached labels stays
a full replay. The request-id lookup happens under the same lock (one batch per request id; a unique index
backs it up). A client killed mid-batch leaves an aborted transaction: nothing of it is visible, ever.

**Reads** run in ``REPEATABLE READ READ ONLY`` transactions: the batches and the events of one refresh come
from one snapshot. Each thread keeps its own connection (reconnected after a broken one).

This module stores and reads; what the events mean is the fold of :mod:`mining.curation.events`, and
:class:`PostgresEditLog` shares commit / undo / redo / current labels with the SQLite log
(:class:`mining.curation._core.LogCore`).

Examples
--------
>>> log = PostgresEditLog(ws, "postgresql://eomine@db.example.org/eomine")      # doctest: +SKIP
>>> log.commit([Edit("P1", "flag")], author="ana")                              # doctest: +SKIP
1
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd

from ..errors import DataError, WorkspaceError
from ._core import STACK_SQL, LogCore, check_build, plan_read
from ._sql import batch_frame, read_batch_info, refuse_duplicate, undo_rows_and_note, utc_now
from .events import BatchInfo, CurrentLabels, EventRow, active_batches
from .sqlite import EDITS_FORMAT_VERSION

__all__ = ["PostgresEditLog", "PG_SCHEMA", "parse_url", "mask_url", "is_postgres_url", "schema_for"]

#: the tables of one log (a schema of its own); ``row`` is the patch's catalog row
PG_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE batches (
    id BIGINT PRIMARY KEY,
    time TEXT NOT NULL,
    author TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('edit', 'undo', 'redo')),
    target BIGINT,
    note TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    n_events INTEGER NOT NULL,
    request_id TEXT
);
CREATE TABLE events (
    id BIGINT PRIMARY KEY,
    time TEXT NOT NULL,
    author TEXT NOT NULL,
    batch BIGINT NOT NULL,
    patch_id TEXT NOT NULL,
    row INTEGER,
    op TEXT NOT NULL,
    label TEXT,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_batch ON events(batch);
CREATE INDEX events_patch ON events(patch_id);
CREATE UNIQUE INDEX batches_request ON batches(request_id) WHERE request_id IS NOT NULL;
"""
BATCH_COLS = ["id", "time", "author", "kind", "target", "note", "source", "n_events", "request_id"]
EVENT_COLS = ["id", "time", "author", "batch", "patch_id", "row", "op", "label", "note"]
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def is_postgres_url(url: object) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return isinstance(url, str) and url.split("://", 1)[0].lower() in ("postgresql", "postgres") and "://" in url


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def parse_url(url: str) -> tuple[str, str | None]:
    """Split an edit-log URL into the libpq connection URL and the ``schema`` it names (None: the default).

    Raises
    ------
    DataError
        Not a ``postgresql://`` URL, no database named, or a schema that is not a lower-case SQL name; the
        message names the URL (password masked).
    """
    if not is_postgres_url(url):
        raise DataError(f"edit log URL {mask_url(str(url))!r} is not a postgresql:// URL "
                        "(postgresql://USER:PASSWORD@HOST:PORT/DATABASE)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise DataError(f"edit log URL {mask_url(url)!r} is malformed: {exc}") from None
    if not parts.hostname or not parts.path.strip("/"):
        raise DataError(f"edit log URL {mask_url(url)!r} must name a host and a database "
                        "(postgresql://USER:PASSWORD@HOST:PORT/DATABASE)")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = None
    rest = []
    for k, v in query:
        if k == "schema":
            if not _SCHEMA_NAME.fullmatch(v):
                raise DataError(f"edit log URL {mask_url(url)!r}: schema {v!r} must be a lower-case SQL name "
                                "(letters, digits, _; at most 63 characters)")
            schema = v
        else:
            rest.append((k, v))
    return urlunsplit(parts._replace(query=urlencode(rest))), schema


def schema_for(dataset: str) -> str:
    """The default schema of a workspace's log: ``eomine_`` + its dataset name as a lower-case SQL name."""
    slug = re.sub(r"[^a-z0-9_]+", "_", str(dataset).lower()).strip("_") or "workspace"
    return f"eomine_{slug}"[:63]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class PostgresEditLog(LogCore):
    """The edit log of a workspace in a PostgreSQL database (see the module docstring).

    Parameters
    ----------
    workspace : Workspace or path-like
    url : str
        ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``, optionally ``?schema=NAME`` (default schema:
        ``eomine_<dataset>``); any other libpq parameter (``sslmode=require`` ...) is passed on.
    create : bool or "on_write"
        Create the log's schema when the database has none: now (True), at the first commit (``"on_write"``),
        or never (False: no log reads as "no edits" and :meth:`commit` raises).
    connect_timeout : int
        Seconds to wait for the server when connecting.

    Raises
    ------
    DataError
        A malformed URL.
    WorkspaceError
        The server cannot be reached or refuses the login; the schema holds no eomine log, a log of another
        format version, or the log of another build of the workspace. The message names the URL (password
        masked) and the schema.

    Attributes
    ----------
    url_ : str
        The URL, password masked.
    schema_ : str
        The schema of this workspace's log.
    exists_ : bool
        The log exists (False until created with ``create="on_write"`` / ``False``).

    Notes
    -----
    Fulfils :class:`~mining.curation.events.EditLogProtocol` exactly as :class:`mining.curation.EditLog` does
    (the same methods, results and errors).
    """

    _PH = "%s"

    def __init__(self, workspace, url: str, *, create: bool | str = True, connect_timeout: int = 10):
        if create not in (True, False, "on_write"):
            raise DataError(f"create must be True, False or 'on_write', got {create!r}")
        if not isinstance(connect_timeout, int) or isinstance(connect_timeout, bool) or connect_timeout < 1:
            raise DataError(f"connect_timeout must be an int >= 1 (seconds), got {connect_timeout!r}")
        self._conninfo, schema = parse_url(url)
        self._init_core(workspace)
        self.url_ = mask_url(url)
        self.schema_ = schema or schema_for(self.workspace.name)
        self.create = create
        self.connect_timeout = connect_timeout
        self._local = threading.local()
        self.exists_ = False
        self.exists_ = self._open_or_create()

    @property
    def where_(self) -> str:
        """``postgresql://ana:***@host/db (schema eomine_x)``: how messages name this log."""
        return f"{self.url_} (schema {self.schema_})"

    # ------------------------------------------------------------------ public API (the rest: LogCore)
    def version(self) -> int:
        """The last batch id (0 when there are no edits): cheap; changes on every commit, undo and redo."""
        if not self.exists_ and not self._recheck():
            return 0
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM batches")[0][0])

    def batches(self, *, up_to: int | None = None) -> pd.DataFrame:
        """Every batch: ``id, time, author, kind, target, note, source, n_events, request_id, active`` (oldest
        first). ``target`` (the edit batch of an undo / redo) is of integer dtype, ``<NA>`` for edit batches.

        ``up_to``: only the batches up to that log version, ``active`` as it was then (later undos ignored).
        """
        if not self.exists_ and not self._recheck():
            return batch_frame([], [*BATCH_COLS, "active"])
        where, args = ("WHERE id <= %s", (int(up_to),)) if up_to is not None else ("", ())
        df = batch_frame(self._query(f"SELECT {', '.join(BATCH_COLS)} FROM batches {where} ORDER BY id", args),
                         BATCH_COLS)
        df["active"] = df["id"].isin(active_batches(df)) & (df["kind"] == "edit")
        return df

    # ------------------------------------------------------------------ connections
    def _connect(self):
        con = getattr(self._local, "con", None)
        if con is not None and not con.closed and not con.broken:
            return con
        import psycopg
        from psycopg import sql

        try:
            con = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=self.connect_timeout,
                                  application_name="eomine")
        except psycopg.Error as exc:
            raise WorkspaceError(f"cannot reach the edit log {self.url_}: {_first_line(exc)}") from None
        con.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema_)))
        self._local.con = con
        return con

    @contextmanager
    def _txn(self, begin: str, failure: str) -> Iterator:
        """One transaction (``begin``): committed when the block ends, rolled back on any exception (or by the
        block itself); a PostgreSQL error becomes a :class:`WorkspaceError` starting with ``failure`` and naming
        the log."""
        import psycopg

        con = self._connect()
        try:
            if begin:  # (none: one statement in autocommit)
                con.execute(begin)
            try:
                yield con
            except BaseException:
                if not con.closed and con.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    con.execute("ROLLBACK")
                raise
            if con.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                con.execute("COMMIT")
        except psycopg.errors.UndefinedTable:
            raise WorkspaceError(f"the edit log {self.where_} was deleted while in use: restore it from a "
                                 "backup (or migrate it back), then restart eomine; nothing was written") from None
        except psycopg.Error as exc:
            raise WorkspaceError(f"{failure} {self.where_}: {_first_line(exc)}") from None

    def _snapshot(self):
        """A read-only transaction on one snapshot."""
        return self._txn("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "cannot read the edit log")

    def _query(self, query: str, args=()) -> list[tuple]:
        with self._txn("", "cannot read the edit log") as con:
            return con.execute(query, args).fetchall()

    # ------------------------------------------------------------------ opening
    def _exists(self, con) -> bool:
        # a scan of the catalog with this statement's snapshot (to_regclass would read the cache of this backend,
        # which may not yet know the schema another creator committed while we waited for the lock)
        return con.execute("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = %s "
                           "AND tablename = 'meta')", (self.schema_,)).fetchone()[0]

    def _open_or_create(self) -> bool:
        with self._txn("BEGIN READ ONLY", "cannot open the edit log") as con:
            found = self._exists(con)
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall()) if found else None
        if meta is None:
            return self._create() if self.create is True else False
        self._check_meta(meta)
        return True

    def _check_meta(self, meta: dict) -> None:
        if meta.get("format") != "eomine-edits":
            raise WorkspaceError(f"{self.where_} is not an eomine edit log (meta {meta})")
        if meta.get("version") != str(EDITS_FORMAT_VERSION):
            raise WorkspaceError(f"{self.where_}: edit log format version {meta.get('version')!r} is not supported "
                                 f"(this eomine reads version {EDITS_FORMAT_VERSION})")
        made_for = str(self.workspace.meta.get("created", ""))
        if meta.get("workspace", made_for) != made_for:
            raise WorkspaceError(f"{self.where_} belongs to another build of this workspace (log made for the one "
                                 f"created {meta.get('workspace')}, workspace.json says {made_for}): its patch rows "
                                 "would not match; give this build a log of its own (?schema=NAME in the URL)")

    def _create(self) -> bool:
        """Create the schema, its tables and its meta in one transaction (an advisory lock on the schema name
        makes concurrent creators wait; the later one finds the log and uses it)."""
        from psycopg import sql

        made_for = check_build(self.workspace)
        with self._txn("BEGIN", "cannot create the edit log") as con:
            con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"eomine:{self.schema_}",))
            if not self._exists(con):
                con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema_)))
                for stmt in PG_SCHEMA.strip().split(";"):
                    if stmt.strip():
                        con.execute(stmt)
                with con.cursor() as cur:
                    cur.executemany("INSERT INTO meta VALUES (%s, %s)",
                                    [("format", "eomine-edits"), ("version", str(EDITS_FORMAT_VERSION)),
                                     ("created", utc_now()), ("workspace", made_for),
                                     ("dataset", str(self.workspace.name))])
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        self._check_meta(meta)
        return True

    def _recheck(self) -> bool:
        """Another server may have created the log since we opened: pick it up."""
        self.exists_ = self._open_or_create()
        return self.exists_

    # ------------------------------------------------------------------ writing
    def _write(self, kind: str, target: int | None, author: str, note: str, source: str,
               rows: list[EventRow], now: str, *, precheck: Callable | None = None,
               request_id: str | None = None) -> int | None:
        if not self.exists_ and not self._recheck():
            if not self.create:
                raise WorkspaceError(f"{self.where_} holds no edit log of {self.workspace.path} and this log was "
                                     "opened with create=False")
            self.exists_ = self._create()
        with self._txn("BEGIN", "could not write to") as con:
            # every writer, on every host, takes this lock first: ids follow commit order
            con.execute("LOCK TABLE batches IN EXCLUSIVE MODE")
            if request_id is not None:
                refuse_duplicate(con, request_id, ph="%s")
            if precheck is not None:
                target = precheck(con)
                if target is None:  # nothing to undo / redo
                    con.execute("ROLLBACK")
                    return None
                rows, note = undo_rows_and_note(con, kind, target, note, ph="%s")
            batch = int(con.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM batches").fetchone()[0])
            con.execute(f"INSERT INTO batches ({', '.join(BATCH_COLS)}) VALUES ({', '.join(['%s'] * 9)})",
                        (batch, now, author, kind, target, note, source, len(rows), request_id))
            first = int(con.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM events").fetchone()[0])
            with con.cursor().copy(f"COPY events ({', '.join(EVENT_COLS)}) FROM STDIN") as copy:
                for i, (p, r, op, lab) in enumerate(rows):
                    copy.write_row((first + i, now, author, batch, p, r, op, lab, note))
        return batch

    # ------------------------------------------------------------------ reading
    def _batch_info(self, batch: int) -> BatchInfo:
        if not self.exists_ and not self._recheck():
            raise DataError(f"no batch {batch} in {self.where_} (the workspace has no edits)")
        with self._snapshot() as con:
            info = read_batch_info(con, batch, ph="%s")
        if info is None:
            raise DataError(f"no batch {batch} in {self.where_}")
        return info

    def _active_events(self, since: CurrentLabels | None = None) -> tuple[pd.DataFrame, int, bool]:
        cols = ["id", "batch", "row", "op", "label"]
        if not self.exists_ and not self._recheck():
            return pd.DataFrame(columns=cols), 0, False
        sel = "SELECT id, batch, row, op, label FROM events"
        with self._snapshot() as con:
            b = batch_frame(con.execute(STACK_SQL).fetchall(), ["id", "author", "kind", "target"])
            ver, mode, arg = plan_read(b, since)
            if mode == "since":
                rows = con.execute(f"{sel} WHERE batch > %s ORDER BY id", (arg,)).fetchall()
            elif mode == "all":
                rows = con.execute(f"{sel} WHERE op NOT IN ('undo', 'redo') ORDER BY id").fetchall()
            else:
                rows = con.execute(f"{sel} WHERE batch = ANY(%s) ORDER BY id", (arg,)).fetchall()
        return pd.DataFrame(rows, columns=cols), ver, mode == "since"

    # ------------------------------------------------------------------ migration (mining.curation.migrate)
    def _dump(self) -> tuple[list[tuple], list[tuple]]:
        """Every batch and event as stored (:data:`BATCH_COLS`, :data:`EVENT_COLS`), in one snapshot."""
        if not self.exists_ and not self._recheck():
            return [], []
        with self._snapshot() as con:
            b = con.execute(f"SELECT {', '.join(BATCH_COLS)} FROM batches ORDER BY id").fetchall()
            e = con.execute(f"SELECT {', '.join(EVENT_COLS)} FROM events ORDER BY id").fetchall()
        return b, e

    def _load(self, batches: list[tuple], events: list[tuple], *, overwrite: bool) -> None:
        """Write ``batches`` and ``events`` with their ids in one transaction (the log must be empty unless
        ``overwrite``: then its batches and events are replaced)."""
        if not self.exists_:
            self.exists_ = self._create()
        with self._txn("BEGIN", "could not write to") as con:
            con.execute("LOCK TABLE batches IN EXCLUSIVE MODE")
            n = con.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
            if n and not overwrite:
                raise DataError(f"{self.where_} already holds {n:,} batches; pass --overwrite to replace them")
            if n:  # (DELETE, not TRUNCATE: a reader's snapshot keeps seeing the old rows)
                con.execute("DELETE FROM events")
                con.execute("DELETE FROM batches")
            for table, cols, rows in (("batches", BATCH_COLS, batches), ("events", EVENT_COLS, events)):
                with con.cursor().copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row(r)
        with self._lock:
            self._cache = None
