"""The SQLite storage of the curation log: ``WS/edits.sqlite``, durable, multi-curator, undoable.

::

    WS/
      edits.sqlite      SQLite (WAL): append-only ``events`` and ``batches`` tables
      edits.json        card: format + version of the log, when it was created (detects a deleted log)

An edit batch is one SQLite transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``): after a crash a batch is
entirely present or entirely absent. Events and batches are never changed or deleted (except the one-time
upgrade that fills in the catalog row of each event in logs written before events carried it): undo and
redo are new batches (``kind`` ``undo`` / ``redo`` with the batch they target) plus one event per patch they
touch, so the history keeps everything. SQLite serialises writers, so event ids give one total order across
processes.

**Request ids.** A commit, undo or redo may carry a client-generated ``request_id``; it is stored with its
batch (``batches.request_id``, unique where not NULL). A second request with an id already in the log writes
nothing and raises :class:`~mining.curation.events.DuplicateRequest` naming the first one's batch: the lookup
and the insert happen in the same ``BEGIN IMMEDIATE`` transaction, so threads or processes racing with one id
make exactly one batch, and the unique index refuses a second one even if that were ever skipped.

**Upgrades of older logs** happen in place, each in one transaction, and only by a writer (an
:class:`EditLog` opened with ``create`` true, or one that writes a request id): the catalog ``row`` of each
event, and the ``request_id`` column with its unique index (``ALTER TABLE ... ADD COLUMN``; old rows read
NULL). A reader (``create=False``: ``serve --read-only``, ``export``, ``history``) never writes and reads an
old log as it is. Both are additive, so the format stays version 1: an older eomine still opens, reads and
writes an upgraded log (it names its columns; its batches simply have no request id).

This module stores and reads; what the events mean (current labels, active batches, undo / redo stacks,
validation) is the pure fold of :mod:`mining.curation.events`. :class:`EditLog` fulfils
:class:`~mining.curation.events.EditLogProtocol`, the contract another storage would fulfil too.

Examples
--------
>>> log = EditLog(ws)                                              # doctest: +SKIP
>>> log.commit([Edit("P1", "add", "Urban fabric")], author="ana", note="town missing")   # doctest: +SKIP
>>> cur = log.current_labels(); cur.labels_of("P1")                # doctest: +SKIP
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from .._internal.artifacts import read_card, write_card
from ..errors import DataError, WorkspaceError
from ..layout import EDIT_LOG_FILES
from ._core import STACK_SQL, LogCore, check_build, plan_read
from ._sql import (
    NO_ROW,
    SCHEMA,
    add_request_id_column,
    batch_frame,
    read_batch_info,
    refuse_duplicate,
    undo_rows_and_note,
    utc_now,
)
from .events import BatchInfo, CurrentLabels, EventRow, active_batches

__all__ = ["EditLog", "EDITS_FORMAT_VERSION", "LOG_FILE", "CARD_FILE"]

EDITS_FORMAT_VERSION = 1
LOG_FILE = EDIT_LOG_FILES[0]   # edits.sqlite (mining.layout names the files)
CARD_FILE = EDIT_LOG_FILES[3]  # edits.json

class EditLog(LogCore):
    """The edit log of a workspace (``WS/edits.sqlite``).

    Parameters
    ----------
    workspace : Workspace or path-like
    create : bool or "on_write"
        Create the log when the workspace has none: now (True), at the first commit (``"on_write"``, what the
        dashboard uses), or never (False: a workspace without a log reads as "no edits" and :meth:`commit`
        raises).
    busy_timeout : float
        Seconds a writer waits for another process's transaction before giving up.

    Raises
    ------
    WorkspaceError
        The log is missing although ``edits.json`` says one was created (deleted), is not an SQLite file,
        is corrupt, or has an unknown format version. The message names ``edits.sqlite``; nothing is reset.

    Attributes
    ----------
    path_ : Path
        ``WS/edits.sqlite``.

    Notes
    -----
    Fulfils :class:`~mining.curation.events.EditLogProtocol` (``commit``, ``undo``, ``redo``,
    ``current_labels``, ``version``, ``batches``, ``events``, ``close``); validation and the fold of the events
    are the storage-free functions of :mod:`mining.curation.events`.
    """

    def __init__(self, workspace, *, create: bool | str = True, busy_timeout: float = 60.0):
        self._init_core(workspace)
        self.create = create
        self.busy_timeout = busy_timeout
        self.path_ = self.workspace.files.edits
        self.card_path_ = self.workspace.files.edits_card
        self._local = threading.local()
        self._file_id: tuple[int, int] | None = None  # (device, inode) of the edits.sqlite this log works on
        self._has_request_id = False  # batches.request_id exists (False: not seen yet; looked up again when needed)
        self.exists_ = False
        self.exists_ = self._open_or_create()

    # ------------------------------------------------------------------ public API (the rest: LogCore)
    def version(self) -> int:
        """The last batch id (0 when there are no edits): cheap; changes on every commit, undo and redo."""
        if not self.exists_:
            if not self._recheck():
                return 0
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM batches")[0][0])

    def batches(self, *, up_to: int | None = None) -> pd.DataFrame:
        """Every batch: ``id, time, author, kind, target, note, source, n_events, request_id, active`` (oldest
        first). ``target`` (the edit batch of an undo / redo) is of integer dtype, ``<NA>`` for edit batches.

        ``up_to``: only the batches up to that log version, ``active`` as it was then (later undos ignored).
        """
        cols = ["id", "time", "author", "kind", "target", "note", "source", "n_events", "request_id"]
        if not self.exists_ and not self._recheck():
            return batch_frame([], [*cols, "active"])
        where, args = ("WHERE id <= ?", (int(up_to),)) if up_to is not None else ("", ())
        sel = ", ".join(cols[:-1] + [self._request_id_column()])
        df = batch_frame(self._query(f"SELECT {sel} FROM batches {where} ORDER BY id", args), cols)
        active = active_batches(df)
        df["active"] = df["id"].isin(active) & (df["kind"] == "edit")
        return df

    def check(self) -> None:
        """Full integrity check of the SQLite file (``PRAGMA integrity_check``); raises WorkspaceError."""
        if not self.exists_ and not self._recheck():
            return
        res = self._query("PRAGMA integrity_check")
        if res[0][0] != "ok":
            raise WorkspaceError(f"{self.path_} is corrupt: {res[0][0]}")

    # ------------------------------------------------------------------ opening
    def _open_or_create(self) -> bool:
        had_card = self.card_path_.exists()  # before reading: the card is written by rename, so it reads whole
        card = read_card(self.card_path_)
        if had_card and card is None:
            raise WorkspaceError(f"{self.card_path_} (the card of {self.path_.name}) is not valid JSON")
        if card is not None and card.get("version") != EDITS_FORMAT_VERSION:
            raise WorkspaceError(f"{self.path_}: edit log format version {card.get('version')!r} is not supported "
                                 f"(this eomine reads version {EDITS_FORMAT_VERSION})")
        if not self.path_.exists():
            if card is not None:
                raise WorkspaceError(
                    f"{self.path_} is missing, but {self.card_path_.name} says an edit log was created on "
                    f"{card.get('created')}: restore edits.sqlite from a backup (the edits would be lost "
                    f"otherwise; delete {self.card_path_.name} only to start an empty log on purpose)")
            if self.create is not True:
                return False
            return self._create()
        self._check_header()
        tables = {r[0] for r in self._query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"meta", "batches", "events"} <= tables:
            raise WorkspaceError(f"{self.path_} is not an eomine edit log (tables {sorted(tables)}): "
                                 "it is corrupt or was replaced; restore it from a backup")
        meta = dict(self._query("SELECT key, value FROM meta"))
        if meta.get("format") != "eomine-edits" or meta.get("version") != str(EDITS_FORMAT_VERSION):
            raise WorkspaceError(f"{self.path_}: not an eomine edit log of version {EDITS_FORMAT_VERSION} "
                                 f"(meta {meta})")
        made_for = str(self.workspace.meta.get("created", ""))
        if meta.get("workspace", made_for) != made_for:
            raise WorkspaceError(f"{self.path_} belongs to another build of this workspace (log made for the one "
                                 f"created {meta.get('workspace')}, workspace.json says {made_for}): its patch rows "
                                 "would not match; move it away to start a new log")
        # logs of eomine before events carried the catalog row, or batches a request id: upgraded by a writer;
        # a reader (create=False, e.g. `serve --read-only`) never writes, looks the rows up from the patch ids
        # and reads no request id (NULL) instead
        self._has_row = "row" in {r[1] for r in self._query("PRAGMA table_info(events)")}
        self._has_request_id = "request_id" in {r[1] for r in self._query("PRAGMA table_info(batches)")}
        if not (self._has_row and self._has_request_id) and self.create:
            self._upgrade()
            self._has_row = self._has_request_id = True
        if card is None and self.create:  # created, card not written yet (crash in between): a writer writes it
            self._write_card(meta.get("created", utc_now()))
        return True

    def _upgrade(self) -> None:
        """An older log, in one transaction: events without the catalog row get it (added and filled in), and
        batches without a request id get the column and its unique index. Each part is skipped when another
        process did it first (checked holding the write lock)."""
        with self._transaction("could not upgrade") as con:
            if "row" not in {r[1] for r in con.execute("PRAGMA table_info(events)")}:
                _, index = self._ids()
                con.execute("ALTER TABLE events ADD COLUMN row INTEGER")
                pids = [p for (p,) in con.execute("SELECT DISTINCT patch_id FROM events")]
                con.executemany("UPDATE events SET row = ? WHERE patch_id = ?",
                                zip(index.get_indexer(pids).tolist(), pids, strict=True))
            add_request_id_column(con)

    def _request_id_column(self) -> str:
        """``request_id``, or ``NULL`` for a log whose batches have no such column (an old log a reader opened;
        looked up again each time until it appears, since a writer in another process may add it)."""
        if not self._has_request_id:
            cols = {r[1] for r in self._query("PRAGMA table_info(batches)")}
            self._has_request_id = "request_id" in cols
        return "request_id" if self._has_request_id else "NULL"

    def _create(self) -> bool:
        """Build the empty log under a temporary name and link it into place (atomic: another process that
        creates it at the same time either wins or loses the link, and nobody ever sees a half-made file)."""
        import os

        now = utc_now()
        check_build(self.workspace)
        tmp = self.path_.with_name(f".{LOG_FILE}.tmp-{os.getpid()}-{threading.get_ident()}")
        try:
            con = sqlite3.connect(tmp, isolation_level=None)
            try:
                con.execute("PRAGMA journal_mode=WAL")
                for stmt in SCHEMA.strip().split(";"):
                    if stmt.strip():
                        con.execute(stmt)
                con.executemany("INSERT INTO meta VALUES (?, ?)",
                                [("format", "eomine-edits"), ("version", str(EDITS_FORMAT_VERSION)),
                                 ("created", now), ("workspace", str(self.workspace.meta.get("created", "")))])
            finally:
                con.close()
            try:
                os.link(tmp, self.path_)
            except FileExistsError:
                pass  # another process created it first: use theirs
        except (sqlite3.DatabaseError, OSError) as exc:
            raise WorkspaceError(f"cannot create {self.path_}: {exc}") from None
        finally:
            for f in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                f.unlink(missing_ok=True)
        self.exists_ = True
        self._write_card(dict(self._query("SELECT key, value FROM meta")).get("created", now))
        return True

    def _write_card(self, created: str) -> None:
        write_card(self.card_path_, {"format": "eomine-edits", "version": EDITS_FORMAT_VERSION, "file": LOG_FILE,
                                     "created": created, "params": {"journal_mode": "wal", "synchronous": "full",
                                                                    "journal_size_limit": 16 << 20,
                                                                    "busy_timeout_s": self.busy_timeout}})

    def _recheck(self) -> bool:
        """A log may have been created by another process since we opened: pick it up."""
        if self.path_.exists() or self.card_path_.exists():
            self.exists_ = self._open_or_create()
        return self.exists_

    def _check_header(self) -> None:
        """Refuse an empty file (SQLite would take it for a new, empty database); other damage shows as SQLite's
        own error on the first query.

        The file is never opened here with plain file I/O: closing ANY descriptor of a file drops every POSIX
        lock this process holds on it, including those of the SQLite connections other threads (or other
        EditLog objects) have open, which SQLite documents as a way to corrupt a database.
        """
        try:
            size = self.path_.stat().st_size
        except OSError as exc:
            raise WorkspaceError(f"cannot read {self.path_}: {exc}") from None
        if size == 0:
            raise WorkspaceError(f"{self.path_} is corrupt (not an SQLite database, empty file); "
                                 "restore it from a backup")

    def _connect(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is not None:
            return con
        from urllib.parse import quote

        self._check_same_file()  # deleted or replaced since this log opened it: say so, not SQLite's "unable to open"
        try:
            # mode=rw: a missing file is an error, never silently recreated as an empty database
            con = sqlite3.connect(f"file:{quote(str(self.path_))}?mode=rw", uri=True, timeout=self.busy_timeout,
                                  isolation_level=None, check_same_thread=False)
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"{self.path_} cannot be opened: {exc}") from None
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            # after a checkpoint, cut the write-ahead log back to 16 MiB: one whole-dataset batch would otherwise
            # leave it at that batch's size (100+ MB at 549,488 patches) for good
            con.execute(f"PRAGMA journal_size_limit={16 << 20}")
            con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        except BaseException as exc:
            con.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise WorkspaceError(f"{self.path_} cannot be opened: {exc}") from None
            raise
        self._local.con = con
        return con

    def _check_same_file(self) -> None:
        """Refuse to go on when edits.sqlite was deleted or replaced since this log first opened it (a backup
        restored, or ``ingest --overwrite`` while a server runs): the connections would read and write a file
        that is no longer the workspace's log, and commits would be lost."""
        import os

        try:
            st = os.stat(self.path_)
        except FileNotFoundError:
            raise WorkspaceError(f"{self.path_} was deleted while in use: stop eomine, restore it from a backup "
                                 "(without the old edits.sqlite-wal / -shm files), then restart") from None
        ident = (st.st_dev, st.st_ino)
        if self._file_id is None:
            self._file_id = ident
        elif ident != self._file_id:
            raise WorkspaceError(f"{self.path_} was replaced while in use (a backup restored, or the workspace "
                                 "re-ingested): restart eomine to work on the new log; nothing was written")

    def _query(self, sql: str, args=()) -> list[tuple]:
        if self.exists_:
            self._check_same_file()
        try:
            return self._connect().execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"{self.path_} is corrupt or unreadable: {exc}") from None

    # ------------------------------------------------------------------ writing
    def _write(self, kind: str, target: int | None, author: str, note: str, source: str,
               rows: list[EventRow], now: str, *, precheck=None, request_id: str | None = None) -> int | None:
        if not self.exists_ and not self._recheck():
            if not self.create:
                raise WorkspaceError(f"{self.workspace.path} has no edit log ({LOG_FILE}) and this EditLog was "
                                     "opened with create=False")
            self.exists_ = self._create()
        added_column = False
        with self._transaction("could not write to") as con:
            # holding the write lock from here on: no other writer can add the same request id before we do
            if request_id is not None:
                if not self._has_request_id and "request_id" not in {
                        r[1] for r in con.execute("PRAGMA table_info(batches)")}:
                    add_request_id_column(con)  # an old log written to by create=False: upgraded with the write
                    added_column = True
                refuse_duplicate(con, request_id)
            if precheck is not None:
                target = precheck(con)
                if target is None:  # nothing to undo / redo
                    con.execute("ROLLBACK")
                    return None
                rows, note = undo_rows_and_note(con, kind, target, note)
            cols, vals = "time, author, kind, target, note, source, n_events", [now, author, kind, target, note,
                                                                                 source, len(rows)]
            if request_id is not None:
                cols += ", request_id"
                vals.append(request_id)
            try:
                cur = con.execute(f"INSERT INTO batches ({cols}) VALUES ({', '.join('?' * len(vals))})", vals)
            except sqlite3.IntegrityError:
                if request_id is not None:  # the unique index: only reachable if the lookup above were skipped
                    refuse_duplicate(con, request_id)
                raise
            batch = cur.lastrowid
            con.executemany("INSERT INTO events (time, author, batch, patch_id, row, op, label, note) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            ((now, author, batch, p, r, op, lab, note) for p, r, op, lab in rows))
        if added_column:
            self._has_request_id = True  # only once committed: a rolled-back ALTER leaves no column
        return int(batch)

    @contextmanager
    def _transaction(self, failure: str):
        """One write transaction (``BEGIN IMMEDIATE``): committed when the block ends (unless it rolled back
        itself), rolled back on any exception; SQLite errors become a :class:`WorkspaceError` starting with
        ``failure`` and naming the file."""
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                self._check_same_file()  # holding the write lock: the file we write is the workspace's log
                yield con
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            if con.in_transaction:
                con.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"{failure} {self.path_}: {exc}") from None

    def _batch_info(self, batch: int) -> BatchInfo:
        if not self.exists_ and not self._recheck():
            raise DataError(f"no batch {batch} in {self.path_} (the workspace has no edits)")
        con = self._connect()
        self._check_same_file()
        try:
            con.execute("BEGIN")  # one snapshot for the batch and its events
            try:
                info = read_batch_info(con, batch, request_id=self._request_id_column())
            finally:
                con.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"{self.path_} is corrupt or unreadable: {exc}") from None
        if info is None:
            raise DataError(f"no batch {batch} in {self.path_}")
        return info

    # ------------------------------------------------------------------ reading
    def _active_events(self, since: CurrentLabels | None = None) -> tuple[pd.DataFrame, int, bool]:
        """(events to apply ordered by id, the log version they make up, whether they are only the events after
        ``since``). Incremental when every batch after ``since.version`` is a new edit batch."""
        cols = ["id", "batch", "row", "op", "label"]
        if not self.exists_ and not self._recheck():
            return pd.DataFrame(columns=cols), 0, False
        # a missing row (an event written by an older eomine, or a log not upgraded) reads as NO_ROW and is
        # looked up from its patch id below
        row = "COALESCE(row, ?)" if getattr(self, "_has_row", True) else "?"
        sel = f"SELECT id, batch, {row}, op, label FROM events"
        ev, ver, incremental = self._read_events(sel, cols, since)
        if len(ev) and (ev["row"] == NO_ROW).any():
            _, index = self._ids()
            miss = ev["row"] == NO_ROW
            pids = dict(self._query("SELECT id, patch_id FROM events WHERE id IN (SELECT value FROM json_each(?))",
                                    (json.dumps(ev.loc[miss, "id"].astype(int).tolist()),)))
            ev.loc[miss, "row"] = index.get_indexer([pids[int(i)] for i in ev.loc[miss, "id"]])
        return ev, ver, incremental

    def _read_events(self, sel: str, cols: list[str], since: CurrentLabels | None) -> tuple[pd.DataFrame, int, bool]:
        con = self._connect()
        try:
            con.execute("BEGIN")  # one snapshot for every read below
            try:
                b = batch_frame(con.execute(STACK_SQL).fetchall(), ["id", "author", "kind", "target"])
                ver, mode, arg = plan_read(b, since)
                if mode == "since":
                    rows = con.execute(f"{sel} WHERE batch > ? ORDER BY id", (NO_ROW, arg)).fetchall()
                    return pd.DataFrame(rows, columns=cols), ver, True
                if mode == "all":
                    rows = con.execute(f"{sel} WHERE op NOT IN ('undo', 'redo') ORDER BY id", (NO_ROW,)).fetchall()
                else:
                    con.execute("CREATE TEMP TABLE IF NOT EXISTS _active (id INTEGER PRIMARY KEY)")
                    con.execute("DELETE FROM _active")
                    con.executemany("INSERT INTO _active VALUES (?)", ((int(i),) for i in arg))
                    rows = con.execute(f"{sel} WHERE batch IN (SELECT id FROM _active) ORDER BY id",
                                       (NO_ROW,)).fetchall()
            finally:
                con.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"{self.path_} is corrupt or unreadable: {exc}") from None
        return pd.DataFrame(rows, columns=cols), ver, False

    # ------------------------------------------------------------------ migration (mining.curation.migrate)
    def _dump(self) -> tuple[list[tuple], list[tuple]]:
        """Every batch and event as stored (``id, time, author, kind, target, note, source, n_events,
        request_id`` and ``id, time, author, batch, patch_id, row, op, label, note``), in one snapshot; a
        missing ``row`` (an older log) reads as None."""
        if not self.exists_ and not self._recheck():
            return [], []
        rid = self._request_id_column()
        row = "row" if getattr(self, "_has_row", True) else "NULL"
        con = self._connect()
        try:
            con.execute("BEGIN")
            try:
                b = con.execute("SELECT id, time, author, kind, target, note, source, n_events, "
                                f"{rid} FROM batches ORDER BY id").fetchall()
                e = con.execute(f"SELECT id, time, author, batch, patch_id, {row}, op, label, note FROM events "
                                "ORDER BY id").fetchall()
            finally:
                con.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"{self.path_} is corrupt or unreadable: {exc}") from None
        return b, e

    def _load(self, batches: list[tuple], events: list[tuple], *, overwrite: bool) -> None:
        """Write ``batches`` and ``events`` (as :meth:`_dump` gives them) with their ids in one transaction; the
        log must be empty unless ``overwrite`` (then its batches and events are replaced)."""
        if not self.exists_ and not self._recheck():
            self.exists_ = self._create()
        with self._transaction("could not write to") as con:
            (n,) = con.execute("SELECT COUNT(*) FROM batches").fetchone()
            if n and not overwrite:
                raise DataError(f"{self.path_} already holds {n:,} batches; pass --overwrite to replace them")
            con.execute("DELETE FROM events")
            con.execute("DELETE FROM batches")
            con.execute("UPDATE sqlite_sequence SET seq = 0 WHERE name IN ('batches', 'events')")
            con.executemany("INSERT INTO batches (id, time, author, kind, target, note, source, n_events, "
                            "request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batches)
            con.executemany("INSERT INTO events (id, time, author, batch, patch_id, row, op, label, note) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", events)
        with self._lock:
            self._cache = None
