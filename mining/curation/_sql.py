"""The SQL of the curation log (:mod:`mining.curation.sqlite`, :mod:`mining.curation.postgres`): the schemas,
the additive upgrades of older SQLite logs, and the statements run inside a transaction. Private to the
storages; it owns no file and no server.

The statements shared by both databases take ``ph``, the driver's placeholder (``?`` for :mod:`sqlite3`, ``%s``
for psycopg); both drivers' connections offer ``execute(...).fetchall()`` / ``fetchone()``.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pandas as pd

from .events import BatchInfo, DuplicateRequest, OpCount

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    author TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('edit', 'undo', 'redo')),
    target INTEGER REFERENCES batches(id),
    note TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    n_events INTEGER NOT NULL,
    request_id TEXT                           -- client-generated id of the request (NULL: none given)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    author TEXT NOT NULL,
    batch INTEGER NOT NULL REFERENCES batches(id),
    patch_id TEXT NOT NULL,
    row INTEGER,                              -- the patch's catalog row (materialising needs no id lookup)
    op TEXT NOT NULL,
    label TEXT,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_batch ON events(batch);
CREATE INDEX IF NOT EXISTS events_patch ON events(patch_id);
CREATE UNIQUE INDEX IF NOT EXISTS batches_request ON batches(request_id) WHERE request_id IS NOT NULL;
"""
#: added to logs written before batches carried a request id (in one transaction, by a writer)
REQUEST_ID_UPGRADE = ("ALTER TABLE batches ADD COLUMN request_id TEXT",
                       "CREATE UNIQUE INDEX IF NOT EXISTS batches_request ON batches(request_id) "
                       "WHERE request_id IS NOT NULL")

NO_ROW = -2  # an event without its catalog row (-1 is "patch not in the catalog")


def batch_frame(rows, cols: list[str]) -> pd.DataFrame:
    """Batch rows as a frame whose ``target`` has an integer dtype (``Int64``, ``<NA>`` for edit batches).

    SQLite gives ints and NULLs; pandas alone would make that column float, and a float target printed as
    ``1.0`` reached the undo / redo notes. Every frame of batches is built here.
    """
    df = pd.DataFrame(rows, columns=cols)
    if "target" in df.columns:
        df["target"] = pd.array([None if t is None or pd.isna(t) else int(t) for t in df["target"].tolist()],
                                dtype="Int64")
    return df


def add_request_id_column(con: sqlite3.Connection) -> None:
    """Inside a write transaction: give ``batches`` its ``request_id`` column and unique index unless it has
    them."""
    if "request_id" not in {r[1] for r in con.execute("PRAGMA table_info(batches)")}:
        con.execute(REQUEST_ID_UPGRADE[0])
    con.execute(REQUEST_ID_UPGRADE[1])


def refuse_duplicate(con, request_id: str, *, ph: str = "?") -> None:
    """Inside the write transaction: :class:`DuplicateRequest` when ``request_id`` already wrote a batch."""
    hit = con.execute(f"SELECT id FROM batches WHERE request_id = {ph}", (request_id,)).fetchone()
    if hit is not None:
        raise DuplicateRequest(request_id, hit[0])


def read_batch_info(con, batch: int, *, request_id: str = "request_id", ph: str = "?") -> BatchInfo | None:
    """One batch and the summary of its events by op, read on ``con`` (None when there is no such batch).
    ``request_id``: the column's SQL (``NULL`` for a log without it)."""
    row = con.execute(f"SELECT id, time, author, kind, target, note, source, n_events, {request_id} "
                      f"FROM batches WHERE id = {ph}", (int(batch),)).fetchone()
    if row is None:
        return None
    ops = tuple(OpCount(op, int(n), lab if n_lab == 1 else None) for op, n, n_lab, lab in con.execute(
        "SELECT op, COUNT(DISTINCT patch_id), COUNT(DISTINCT COALESCE(label, '')), MIN(label) FROM events "
        f"WHERE batch = {ph} "
        "GROUP BY op ORDER BY MIN(id)", (int(batch),)))
    (n_patches,) = con.execute(f"SELECT COUNT(DISTINCT patch_id) FROM events WHERE batch = {ph}",
                               (int(batch),)).fetchone()
    bid, time, author, kind, target, note, source, n_events, rid = row
    return BatchInfo(int(bid), time, author, kind, None if target is None else int(target), note or "",
                     source or "", int(n_events), rid, int(n_patches), ops)


def undo_rows_and_note(con, kind: str, target: int, note: str, *, ph: str = "?") -> tuple[list, str]:
    """Inside the write transaction of an undo / redo of ``target``: its event rows (one per patch the target
    touched: ``(patch_id, row, kind, None)``) and its note (``note``, or by default what the target did and who
    made it: ``undo of batch 3 (Add label ... to 120 patches, ana)``)."""
    if not note:
        info = read_batch_info(con, target, request_id="NULL", ph=ph)
        note = f"{kind} of batch {target} ({info.summary() if info else '?'}, {info.author if info else '?'})"
    rows = [(p, r, kind, None) for p, r in
            con.execute(f"SELECT DISTINCT patch_id, row FROM events WHERE batch = {ph}", (target,)).fetchall()]
    return rows, note


def utc_now() -> str:
    """The current UTC time as ISO 8601 with milliseconds (the log's timestamps)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
