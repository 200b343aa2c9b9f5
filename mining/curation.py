"""The curation log: every label edit of a workspace, durable, multi-curator, undoable.

::

    WS/
      edits.sqlite      SQLite (WAL): append-only ``events`` and ``batches`` tables
      edits.json        card: format + version of the log, when it was created (detects a deleted log)

An edit batch is one SQLite transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``): after a crash a batch is
entirely present or entirely absent. Events and batches are never changed or deleted (except the one-time
upgrade that fills in the catalog row of each event in logs written before events carried it): undo and
redo are new batches (``kind`` ``undo`` / ``redo`` with the batch they target) plus one event per patch they
touch, so the history keeps everything.

Current labels = the catalog's labels + the events of the *active* batches (an edit batch is active
unless its latest undo/redo is an undo), applied in event-id order: the later event wins per patch and
label (``add`` / ``remove`` touch one label; ``set`` touches every label of the patch). ``flag`` /
``unflag``, ``exclude`` / ``restore`` and ``keep`` (a reviewer confirmed the labels) are per-patch states,
the later event winning too. SQLite serialises writers, so event ids give one total order across
processes.

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
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ._internal.artifacts import read_card, write_card
from .errors import DataError, WorkspaceError
from .workspace import Workspace

__all__ = ["Edit", "EditLog", "CurrentLabels", "OPS", "LABEL_OPS", "EDITS_FORMAT_VERSION", "MAX_BATCH"]

EDITS_FORMAT_VERSION = 1
LOG_FILE = "edits.sqlite"
CARD_FILE = "edits.json"

#: every edit operation
OPS = ("add", "remove", "set", "flag", "unflag", "exclude", "restore", "keep")
#: operations that change labels
LABEL_OPS = ("add", "remove", "set")
#: largest batch accepted (the whole of reBEN fits; anything bigger is refused with a message)
MAX_BATCH = 2_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    author TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('edit', 'undo', 'redo')),
    target INTEGER REFERENCES batches(id),
    note TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    n_events INTEGER NOT NULL
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
"""


@dataclass(frozen=True)
class Edit:
    """One edit of one patch.

    Parameters
    ----------
    patch_id : str
    op : str
        ``add`` / ``remove`` (one ``label``), ``set`` (the new label set in ``labels``), ``flag`` /
        ``unflag`` (doubtful), ``exclude`` / ``restore`` (out of / back into its split), ``keep`` (a
        reviewer confirmed the current labels).
    label : str or None
        A class of the workspace nomenclature, for ``add`` / ``remove``.
    labels : tuple of str
        The new label set, for ``set`` (may be empty).
    """

    patch_id: str
    op: str
    label: str | None = None
    labels: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.labels, tuple):
            object.__setattr__(self, "labels", tuple(self.labels or ()))


@dataclass
class CurrentLabels:
    """Labels and states of every patch after the active edits (catalog order).

    Attributes
    ----------
    patch_ids : ndarray of object, shape (n,)
    classes : list of str
        The nomenclature's classes (columns of ``Y``).
    Y : ndarray of bool, shape (n, n_classes)
        Multi-hot current labels.
    Y_original : ndarray of bool, shape (n, n_classes)
        The catalog's labels (read-only view; do not modify).
    flagged, excluded, confirmed, changed : ndarray of bool, shape (n,)
        Flagged doubtful; excluded from its split; a reviewer's ``keep`` is the latest label decision;
        labels differ from the catalog's.
    version : int
        The log's last batch id these labels include (0: no edits).
    """

    classes: list[str]
    Y: np.ndarray
    Y_original: np.ndarray
    flagged: np.ndarray
    excluded: np.ndarray
    confirmed: np.ndarray
    version: int = 0
    _ids: Callable[[], tuple[np.ndarray, pd.Index]] | None = field(default=None, repr=False)

    @property
    def patch_ids(self) -> np.ndarray:
        """Patch ids in catalog order, shape (n,) (read from the catalog on first use)."""
        return self._ids()[0]

    @property
    def changed(self) -> np.ndarray:
        return (self.Y != self.Y_original).any(1)

    def row(self, patch_id: str) -> int:
        """Catalog row of ``patch_id`` (raises :class:`DataError` naming it)."""
        r = int(self._index().get_indexer([patch_id])[0])
        if r < 0:
            raise DataError(f"patch {patch_id!r} is not in the workspace")
        return r

    def rows(self, patch_ids: Sequence[str]) -> np.ndarray:
        """Catalog rows of several ids (-1 where unknown), shape (len(patch_ids),)."""
        return self._index().get_indexer(list(patch_ids))

    def labels_of(self, patch_id: str) -> list[str]:
        """The current labels of one patch, in the nomenclature's order."""
        return [self.classes[j] for j in np.flatnonzero(self.Y[self.row(patch_id)])]

    def lists(self) -> list[list[str]]:
        """Label lists of every patch (catalog order), shape (n,)."""
        cls = np.asarray(self.classes, dtype=object)
        rows, cols = np.nonzero(self.Y)
        split = np.searchsorted(rows, np.arange(1, len(self.Y)))
        return [list(x) for x in np.split(cls[cols], split)]

    def to_frame(self) -> pd.DataFrame:
        """``patch_id, labels, flagged, excluded, confirmed, changed`` (one row per patch)."""
        return pd.DataFrame({"patch_id": self.patch_ids, "labels": self.lists(), "flagged": self.flagged,
                             "excluded": self.excluded, "confirmed": self.confirmed, "changed": self.changed})

    def _index(self) -> pd.Index:
        return self._ids()[1]


class EditLog:
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
    """

    def __init__(self, workspace, *, create: bool | str = True, busy_timeout: float = 60.0):
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        self.create = create
        self.busy_timeout = busy_timeout
        self.path_ = self.workspace.path / LOG_FILE
        self.card_path_ = self.workspace.path / CARD_FILE
        self._local = threading.local()
        self._base = None
        self._id_index = None
        self._lock = threading.RLock()
        self._cache: CurrentLabels | None = None
        self._file_id: tuple[int, int] | None = None  # (device, inode) of the edits.sqlite this log works on
        self.exists_ = False
        self.exists_ = self._open_or_create()

    # ------------------------------------------------------------------ public API
    def commit(self, edits: Sequence[Edit], *, author: str, note: str = "", source: str = "app") -> int:
        """Append one batch of edits in one transaction.

        Parameters
        ----------
        edits : sequence of Edit, length m (1 <= m <= MAX_BATCH)
        author : str
            Who made the batch (required, non-blank).
        note : str
            Why (stored with the batch and each event).
        source : str
            Where it came from: ``app``, ``review``, ``tour``, ``cli``, ...

        Returns
        -------
        int
            The batch id.

        Raises
        ------
        DataError
            An unknown patch id or class, an unknown op, a blank author, an empty or oversized batch. Nothing
            is written then.
        """
        author = self._check_author(author)
        rows = self._validate(edits)
        now = _now()
        note = str(note or "")
        return self._write("edit", None, author, note, source, rows, now)

    def undo(self, *, author: str | None = None) -> int | None:
        """Undo the latest active edit batch (of ``author`` when given).

        Returns the id of the new ``undo`` batch, or None when there is nothing to undo.
        """
        return self._undo_redo("undo", author)

    def redo(self, *, author: str | None = None) -> int | None:
        """Redo the latest undone batch (of ``author`` when given), unless an edit was made since.

        Returns the id of the new ``redo`` batch, or None when there is nothing to redo.
        """
        return self._undo_redo("redo", author)

    def current_labels(self) -> CurrentLabels:
        """Labels after the active edits for every patch (see :class:`CurrentLabels`).

        Vectorised: one SQL read of the events, then numpy over (patch, label) keys. The catalog's labels are
        read once per :class:`EditLog`; the result is cached until the log changes. When only new edit batches
        were committed since the cached result (no undo / redo), just their events are applied on top of it:
        they are later than every cached event, so this equals a full replay.
        """
        ver = self.version()
        with self._lock:
            cached = self._cache
        if cached is not None and cached.version == ver:
            return cached
        Y0 = self._base_labels()
        ev, ver, incremental = self._active_events(since=cached)
        if incremental:
            Y, flagged = cached.Y.copy(), cached.flagged.copy()
            excluded, confirmed = cached.excluded.copy(), cached.confirmed.copy()
        else:
            n = len(Y0)
            Y, flagged, excluded, confirmed = Y0.copy(), np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
        self._apply(ev, Y, flagged, excluded, confirmed)
        cur = CurrentLabels(list(self.workspace.nomenclature.classes), Y, Y0, flagged, excluded, confirmed, ver,
                            self._ids)
        with self._lock:
            if self._cache is None or self._cache.version <= ver:
                self._cache = cur
        return cur

    def _apply(self, ev: pd.DataFrame, Y: np.ndarray, flagged: np.ndarray, excluded: np.ndarray,
               confirmed: np.ndarray) -> None:
        """Apply events (ordered by id) to the state arrays in place: the later event wins per patch and label."""
        if not len(ev):
            return
        c = Y.shape[1]
        rows = ev["row"].to_numpy(np.int64)
        ops = ev["op"].to_numpy(object)
        eid = ev["id"].to_numpy(np.int64)
        labels = ev["label"].to_numpy(object)
        ok = (rows >= 0) & (rows < len(Y))
        classes = pd.Index(self.workspace.nomenclature.classes)
        # label ops -> (row, class, value, event id) entries; "set" touches every class of its patch
        is_one = ok & np.isin(ops, ["add", "remove"])
        r1 = rows[is_one]
        c1 = classes.get_indexer(labels[is_one])
        v1 = ops[is_one] == "add"
        e1 = eid[is_one]
        is_set = ok & (ops == "set")
        rs = rows[is_set]
        es = eid[is_set]
        # a few distinct label sets: parse each once, then gather
        codes, uniq = pd.factorize(labels[is_set], use_na_sentinel=False)
        cidx = {name: j for j, name in enumerate(classes)}
        U = np.zeros((len(uniq), c), bool)
        for i, s in enumerate(uniq):
            for name in (json.loads(s) if s else []):
                if name in cidx:
                    U[i, cidx[name]] = True
        Yset = U[codes]
        rr = np.concatenate([r1, np.repeat(rs, c)])
        cc = np.concatenate([c1, np.tile(np.arange(c), len(rs))])
        vv = np.concatenate([v1, Yset.ravel()])
        ee = np.concatenate([e1, np.repeat(es, c)])
        good = cc >= 0
        rr, cc, vv, ee = rr[good], cc[good], vv[good], ee[good]
        if len(rr):
            key = rr.astype(np.int64) * c + cc
            order = np.lexsort((ee, key))          # by key, then by event id: the last of a key wins
            key_s = key[order]
            last = np.r_[key_s[1:] != key_s[:-1], True]
            win = order[last]
            Y[rr[win], cc[win]] = vv[win]
        for on, off, out in (("flag", "unflag", flagged), ("exclude", "restore", excluded),
                             ("keep", None, confirmed)):
            sel = ok & np.isin(ops, [on] + ([off] if off else []) + (list(LABEL_OPS) if off is None else []))
            _last_state(rows[sel], eid[sel], ops[sel] == on, out)

    def version(self) -> int:
        """The last batch id (0 when there are no edits): cheap; changes on every commit, undo and redo."""
        if not self.exists_:
            if not self._recheck():
                return 0
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM batches")[0][0])

    def batches(self, *, up_to: int | None = None) -> pd.DataFrame:
        """Every batch: ``id, time, author, kind, target, note, source, n_events, active`` (oldest first).

        ``up_to``: only the batches up to that log version, ``active`` as it was then (later undos ignored).
        """
        cols = ["id", "time", "author", "kind", "target", "note", "source", "n_events"]
        if not self.exists_ and not self._recheck():
            return pd.DataFrame(columns=[*cols, "active"])
        where, args = ("WHERE id <= ?", (int(up_to),)) if up_to is not None else ("", ())
        df = pd.DataFrame(self._query(f"SELECT {', '.join(cols)} FROM batches {where} ORDER BY id", args),
                          columns=cols)
        active = _active_set(df)
        df["active"] = df["id"].isin(active) & (df["kind"] == "edit")
        df["target"] = df["target"].astype("Int64")
        return df

    def events(self, *, patch_id: str | None = None) -> pd.DataFrame:
        """Every event (or one patch's): ``id, time, author, batch, patch_id, op, label, note`` (oldest first)."""
        cols = ["id", "time", "author", "batch", "patch_id", "op", "label", "note"]
        if not self.exists_ and not self._recheck():
            return pd.DataFrame(columns=cols)
        if patch_id is None:
            rows = self._query(f"SELECT {', '.join(cols)} FROM events ORDER BY id")
        else:
            rows = self._query(f"SELECT {', '.join(cols)} FROM events WHERE patch_id = ? ORDER BY id", (patch_id,))
        return pd.DataFrame(rows, columns=cols)

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
        # logs of eomine before events carried the catalog row: upgraded by a writer; a reader (create=False,
        # e.g. `serve --read-only`) never writes and looks the rows up from the patch ids instead
        self._has_row = "row" in {r[1] for r in self._query("PRAGMA table_info(events)")}
        if not self._has_row and self.create:
            self._add_row_column()
            self._has_row = True
        if card is None and self.create:  # created, card not written yet (crash in between): a writer writes it
            self._write_card(meta.get("created", _now()))
        return True

    def _add_row_column(self) -> None:
        """Logs written before events carried the catalog row: add it and fill it in, in one transaction."""
        _, index = self._ids()
        with self._transaction("could not upgrade") as con:
            if "row" not in {r[1] for r in con.execute("PRAGMA table_info(events)")}:
                con.execute("ALTER TABLE events ADD COLUMN row INTEGER")
                pids = [p for (p,) in con.execute("SELECT DISTINCT patch_id FROM events")]
                con.executemany("UPDATE events SET row = ? WHERE patch_id = ?",
                                zip(index.get_indexer(pids).tolist(), pids, strict=True))

    def _create(self) -> bool:
        """Build the empty log under a temporary name and link it into place (atomic: another process that
        creates it at the same time either wins or loses the link, and nobody ever sees a half-made file)."""
        import os

        now = _now()
        made_for = str(self.workspace.meta.get("created", ""))
        try:
            on_disk = str(json.loads((self.workspace.path / "workspace.json").read_text()).get("created", ""))
        except (OSError, ValueError):
            on_disk = None
        if on_disk != made_for:
            raise WorkspaceError(f"{self.workspace.path} was rebuilt while in use (workspace.json now says created "
                                 f"{on_disk}, this process opened the build of {made_for}): restart eomine; "
                                 "nothing was written")
        tmp = self.path_.with_name(f".{LOG_FILE}.tmp-{os.getpid()}-{threading.get_ident()}")
        try:
            con = sqlite3.connect(tmp, isolation_level=None)
            try:
                con.execute("PRAGMA journal_mode=WAL")
                for stmt in _SCHEMA.strip().split(";"):
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

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

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
               rows: list[tuple[str, int, str, str | None]], now: str, *, precheck=None) -> int:
        if not self.exists_ and not self._recheck():
            if not self.create:
                raise WorkspaceError(f"{self.workspace.path} has no edit log ({LOG_FILE}) and this EditLog was "
                                     "opened with create=False")
            self.exists_ = self._create()
        with self._transaction("could not write to") as con:
            if precheck is not None:
                target = precheck(con)
                if target is None:  # nothing to undo / redo
                    con.execute("ROLLBACK")
                    return None
                note = note or f"{kind} of batch {target}"
                rows = [(p, r, kind, None) for p, r in
                        con.execute("SELECT DISTINCT patch_id, row FROM events WHERE batch = ?", (target,))]
            cur = con.execute("INSERT INTO batches (time, author, kind, target, note, source, n_events) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?)", (now, author, kind, target, note, source, len(rows)))
            batch = cur.lastrowid
            con.executemany("INSERT INTO events (time, author, batch, patch_id, row, op, label, note) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            ((now, author, batch, p, r, op, lab, note) for p, r, op, lab in rows))
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

    def _undo_redo(self, kind: str, author: str | None) -> int | None:
        who = self._check_author(author) if author is not None else None

        def pick(con):
            df = pd.DataFrame(con.execute("SELECT id, author, kind, target FROM batches ORDER BY id").fetchall(),
                              columns=["id", "author", "kind", "target"])
            undo_stack, redo_stack = _stacks(df, who)
            stack = undo_stack if kind == "undo" else redo_stack
            return stack[-1] if stack else None

        return self._write(kind, None, who or "(anonymous)", "", "app", [], _now(), precheck=pick)

    def _check_author(self, author) -> str:
        if not isinstance(author, str) or not author.strip():
            raise DataError("an edit needs an author: enter your name (author is blank)")
        author = author.strip()
        if len(author) > 200:
            raise DataError(f"author name too long ({len(author)} characters, at most 200)")
        return author

    def _validate(self, edits: Sequence[Edit]) -> list[tuple[str, int, str, str | None]]:
        if isinstance(edits, Edit):
            edits = [edits]
        edits = list(edits)
        if not edits:
            raise DataError("an edit batch needs at least one edit (the batch is empty)")
        if len(edits) > MAX_BATCH:
            raise DataError(f"an edit batch of {len(edits):,} edits is too large (at most {MAX_BATCH:,})")
        _, index = self._ids()
        pids = [e.patch_id for e in edits]
        bad_type = next((p for p in pids if not isinstance(p, str)), None)
        if bad_type is not None:
            raise DataError(f"patch id {bad_type!r} is not a string")
        prow = index.get_indexer(pids)
        missing = prow < 0
        if missing.any():
            raise DataError(f"patch {pids[int(np.argmax(missing))]!r} is not in workspace {self.workspace.path} "
                            f"({int(missing.sum())} unknown patch id(s) in the batch; nothing was saved)")
        nom = self.workspace.nomenclature
        known = set(nom.classes)
        rows = []
        for e, r in zip(edits, prow.tolist(), strict=True):
            if e.op not in OPS:
                raise DataError(f"patch {e.patch_id}: unknown edit op {e.op!r} (one of {', '.join(OPS)})")
            if e.op in ("add", "remove"):
                if e.label not in known:
                    raise DataError(f"patch {e.patch_id}: {e.op} label {e.label!r} is not a class of the "
                                    f"{nom.name} nomenclature")
                rows.append((e.patch_id, r, e.op, e.label))
            elif e.op == "set":
                labs = list(e.labels) if e.labels else ([] if e.label is None else [e.label])
                bad = [lab for lab in labs if lab not in known]
                if bad:
                    raise DataError(f"patch {e.patch_id}: set label {bad[0]!r} is not a class of the "
                                    f"{nom.name} nomenclature")
                rows.append((e.patch_id, r, "set", json.dumps(nom.validate(labs))))
            else:
                if e.label is not None or e.labels:
                    raise DataError(f"patch {e.patch_id}: op {e.op!r} takes no label")
                rows.append((e.patch_id, r, e.op, None))
        return rows

    # ------------------------------------------------------------------ reading
    def _base_labels(self) -> np.ndarray:
        """The catalog's labels, multi-hot, shape (n, n_classes) (read once; only the ``labels`` column)."""
        with self._lock:
            if self._base is None:
                from .quality import label_matrix

                col = pq.read_table(self.workspace.catalog_path, columns=["labels"]).column(0)
                Y0 = label_matrix(col.to_pandas(types_mapper=pd.ArrowDtype), self.workspace.nomenclature.classes)
                Y0.setflags(write=False)
                self._base = Y0
            return self._base

    def _ids(self) -> tuple[np.ndarray, pd.Index]:
        """Patch ids in catalog order and their hash index (read once, on first use: commits and lookups)."""
        with self._lock:
            if self._id_index is None:
                col = pq.read_table(self.workspace.catalog_path, columns=["patch_id"]).column(0)
                ids = col.to_numpy(zero_copy_only=False).astype(object)
                index = pd.Index(ids)
                index.get_indexer(ids[:1])  # build the hash table once
                self._id_index = (ids, index)
            return self._id_index

    def _active_events(self, since: CurrentLabels | None = None) -> tuple[pd.DataFrame, int, bool]:
        """(events to apply ordered by id, the log version they make up, whether they are only the events after
        ``since``). Incremental when every batch after ``since.version`` is a new edit batch."""
        cols = ["id", "batch", "row", "op", "label"]
        if not self.exists_ and not self._recheck():
            return pd.DataFrame(columns=cols), 0, False
        # a missing row (an event written by an older eomine, or a log not upgraded) reads as _NO_ROW and is
        # looked up from its patch id below
        row = "COALESCE(row, ?)" if getattr(self, "_has_row", True) else "?"
        sel = f"SELECT id, batch, {row}, op, label FROM events"
        ev, ver, incremental = self._read_events(sel, cols, since)
        if len(ev) and (ev["row"] == _NO_ROW).any():
            _, index = self._ids()
            miss = ev["row"] == _NO_ROW
            pids = dict(self._query("SELECT id, patch_id FROM events WHERE id IN (SELECT value FROM json_each(?))",
                                    (json.dumps(ev.loc[miss, "id"].astype(int).tolist()),)))
            ev.loc[miss, "row"] = index.get_indexer([pids[int(i)] for i in ev.loc[miss, "id"]])
        return ev, ver, incremental

    def _read_events(self, sel: str, cols: list[str], since: CurrentLabels | None) -> tuple[pd.DataFrame, int, bool]:
        con = self._connect()
        try:
            con.execute("BEGIN")  # one snapshot for every read below
            try:
                b = pd.DataFrame(con.execute("SELECT id, author, kind, target FROM batches ORDER BY id").fetchall(),
                                 columns=["id", "author", "kind", "target"])
                ver = int(b["id"].max()) if len(b) else 0
                newer = b[b["id"] > since.version] if since is not None else b.iloc[:0]
                if since is not None and 0 < since.version <= ver and (newer["kind"] == "edit").all():
                    rows = con.execute(f"{sel} WHERE batch > ? ORDER BY id", (_NO_ROW, since.version)).fetchall()
                    return pd.DataFrame(rows, columns=cols), ver, True
                active = sorted(_active_set(b))
                if len(active) == len(b[b["kind"] == "edit"]):
                    rows = con.execute(f"{sel} WHERE op NOT IN ('undo', 'redo') ORDER BY id", (_NO_ROW,)).fetchall()
                else:
                    con.execute("CREATE TEMP TABLE IF NOT EXISTS _active (id INTEGER PRIMARY KEY)")
                    con.execute("DELETE FROM _active")
                    con.executemany("INSERT INTO _active VALUES (?)", ((int(i),) for i in active))
                    rows = con.execute(f"{sel} WHERE batch IN (SELECT id FROM _active) ORDER BY id",
                                       (_NO_ROW,)).fetchall()
            finally:
                con.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"{self.path_} is corrupt or unreadable: {exc}") from None
        return pd.DataFrame(rows, columns=cols), ver, False


# ---------------------------------------------------------------------- helpers
_NO_ROW = -2  # an event without its catalog row (-1 is "patch not in the catalog")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _stacks(b: pd.DataFrame, author: str | None) -> tuple[list[int], list[int]]:
    """Replay batches into (undo stack, redo stack) of edit batch ids, for one author or everyone."""
    mine = set(b.loc[(b["kind"] == "edit") & ((b["author"] == author) if author else True), "id"].tolist())
    undo_stack: list[int] = []
    redo_stack: list[int] = []
    for bid, kind, target in zip(b["id"].tolist(), b["kind"].tolist(), b["target"].tolist(), strict=True):
        if kind == "edit":
            if bid in mine:
                undo_stack.append(bid)
                redo_stack.clear()
        elif target in mine:
            src, dst = (undo_stack, redo_stack) if kind == "undo" else (redo_stack, undo_stack)
            if target in src:
                src.remove(target)
            dst.append(target)
    return undo_stack, redo_stack


def _active_set(b: pd.DataFrame) -> set[int]:
    """Edit batch ids whose latest undo/redo is not an undo."""
    active = set(b.loc[b["kind"] == "edit", "id"].tolist())
    for kind, target in zip(b["kind"].tolist(), b["target"].tolist(), strict=True):
        if kind == "undo":
            active.discard(target)
        elif kind == "redo":
            active.add(target)
    return active


def _last_state(rows: np.ndarray, eid: np.ndarray, on: np.ndarray, out: np.ndarray) -> None:
    """``out[row] = on`` of each row's latest event (by event id)."""
    if not len(rows):
        return
    order = np.lexsort((eid, rows))
    rs = rows[order]
    last = np.r_[rs[1:] != rs[:-1], True]
    out[rs[last]] = on[order][last]
