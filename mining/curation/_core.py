"""What every storage of the curation log shares: the public commit / undo / redo / batch-info / current-labels
methods, the catalog's labels they start from, and the cached, incremental fold of the events.

A storage (:class:`mining.curation.sqlite.EditLog`, :class:`mining.curation.postgres.PostgresEditLog`)
subclasses :class:`LogCore` and supplies four hooks, each on its own database:

* ``version()``: the last batch id;
* ``_write(kind, target, author, note, source, rows, now, precheck=, request_id=)``: one batch in one
  transaction, writers serialised so that ids follow commit order (``precheck(con)`` picks the target of an undo
  / redo inside that transaction, None: nothing to write);
* ``_active_events(since)``: the events to fold (planned by :func:`plan_read`), the version they make up and
  whether they are only those after ``since``;
* ``_batch_info(batch)``: one batch's stored fields and ops (:func:`mining.curation._sql.read_batch_info`).

Private to :mod:`mining.curation`.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..errors import WorkspaceError
from ..workspace import Workspace
from ._sql import batch_frame, utc_now
from .events import (
    BatchInfo,
    CurrentLabels,
    Edit,
    EventRow,
    active_batches,
    apply_events,
    as_batch,
    check_author,
    check_request_id,
    encode_edits,
    undo_redo_stacks,
)

__all__ = ["LogCore", "plan_read", "check_build"]

#: the SQL every storage runs for the undo / redo stacks (no parameters: the same text on every database)
STACK_SQL = "SELECT id, author, kind, target FROM batches ORDER BY id"


def plan_read(b: pd.DataFrame, since: CurrentLabels | None) -> tuple[int, str, list[int] | int | None]:
    """Which events the fold needs, from the batches read in the same snapshot.

    Parameters
    ----------
    b : DataFrame
        ``id, author, kind, target`` of every batch, oldest first.
    since : CurrentLabels or None
        The cached labels, if any.

    Returns
    -------
    version : int
        The last batch id of ``b`` (0: none).
    mode : {"since", "all", "batches"}
        ``since``: only the events of batches after ``arg`` (every newer batch is an edit: applying them on top
        of the cached labels equals a full replay); ``all``: every event but undo / redo (every edit batch is
        active); ``batches``: the events of the active edit batches ``arg`` (sorted list).
    arg : int, list of int or None
    """
    ver = int(b["id"].max()) if len(b) else 0
    if since is not None and 0 < since.version <= ver and (b.loc[b["id"] > since.version, "kind"] == "edit").all():
        return ver, "since", int(since.version)
    active = sorted(active_batches(b))
    if len(active) == int((b["kind"] == "edit").sum()):
        return ver, "all", None
    return ver, "batches", active


def check_build(ws: Workspace) -> str:
    """The workspace build (``workspace.json``'s ``created``) a new log is made for; :class:`WorkspaceError`
    when the file on disk no longer says what this process opened (rebuilt while in use)."""
    made_for = str(ws.meta.get("created", ""))
    try:
        on_disk = str(json.loads(ws.files.workspace_card.read_text()).get("created", ""))
    except (OSError, ValueError):
        on_disk = None
    if on_disk != made_for:
        raise WorkspaceError(f"{ws.path} was rebuilt while in use (workspace.json now says created {on_disk}, "
                             f"this process opened the build of {made_for}): restart eomine; nothing was written")
    return made_for


class LogCore:
    """The storage-independent half of an edit log (see the module docstring for the hooks).

    Subclasses call :meth:`_init_core` first in their ``__init__``.
    """

    workspace: Workspace
    exists_: bool
    _local: threading.local  # per-thread connections (``con``), made by the storage
    #: the driver's query placeholder (``?`` for sqlite3, ``%s`` for psycopg)
    _PH = "?"

    def _init_core(self, workspace) -> None:
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        self._base = None
        self._base_split_ = None
        self._lock = threading.RLock()
        self._cache: CurrentLabels | None = None

    # ------------------------------------------------------------------ public API
    def commit(self, edits: Sequence[Edit], *, author: str, note: str = "", source: str = "app",
               request_id: str | None = None) -> int:
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
        request_id : str or None
            A client-generated id of this request (at most 200 characters). A batch is written once per id:
            committing an id already in the log writes nothing and raises :class:`DuplicateRequest`.

        Returns
        -------
        int
            The batch id.

        Raises
        ------
        DuplicateRequest
            ``request_id`` already wrote a batch (its id is the error's ``batch``). Nothing is written.
        DataError
            An unknown patch id or class, an unknown op, a blank author, an empty or oversized batch, a blank
            or too long request id. Nothing is written then.
        """
        author = check_author(author)
        request_id = check_request_id(request_id)
        rows = self._validate(edits)
        return self._write("edit", None, author, str(note or ""), source, rows, utc_now(), request_id=request_id)

    def undo(self, *, author: str | None = None, request_id: str | None = None,
             target: int | None = None) -> int | None:
        """Undo the latest active edit batch (of ``author`` when given), or the active edit batch ``target``.

        Returns the id of the new ``undo`` batch, or None when there is nothing to undo (``target`` is not an
        active edit batch of ``author``: nothing is written then, and ``request_id`` is not recorded).
        :meth:`batch_info` of the new batch says which batch it undid (``reverted``). A ``request_id`` already
        in the log raises :class:`DuplicateRequest`, as for :meth:`commit`: the same request undoes once.
        Undoing a batch that is not the latest leaves the later batches' events as they are (later events win).
        """
        return self._undo_redo("undo", author, request_id, target)

    def redo(self, *, author: str | None = None, request_id: str | None = None,
             target: int | None = None) -> int | None:
        """Redo the latest undone batch (of ``author`` when given), or the undone batch ``target``, unless an
        edit was made since.

        Returns the id of the new ``redo`` batch, or None when there is nothing to redo; ``request_id`` as for
        :meth:`undo`.
        """
        return self._undo_redo("redo", author, request_id, target)

    def batch_info(self, batch: int) -> BatchInfo:
        """One batch: its stored fields, what its events do (by op), and for an undo / redo the edit batch it
        reverted (``reverted``, itself a :class:`BatchInfo`).

        Batches never change once written, so this may be asked at any time after the commit.

        Raises
        ------
        DataError
            No batch ``batch`` in the log.
        """
        info = self._batch_info(int(batch))
        if info.kind in ("undo", "redo") and info.target is not None:
            info = dataclasses.replace(info, reverted=self._batch_info(info.target))
        return info

    def current_labels(self) -> CurrentLabels:
        """Labels after the active edits for every patch (see :class:`CurrentLabels`).

        Vectorised: one read of the events, then numpy over (patch, label) keys. The catalog's labels are read
        once per log object; the result is cached until the log changes. When only new edit batches were
        committed since the cached result (no undo / redo), just their events are applied on top of it: they
        are later than every cached event, so this equals a full replay.
        """
        ver = self.version()
        with self._lock:
            cached = self._cache
        if cached is not None and cached.version == ver:
            return cached
        Y0 = self._base_labels()
        split0 = self._base_split()
        ev, ver, incremental = self._active_events(since=cached)
        if incremental:
            Y, flagged = cached.Y.copy(), cached.flagged.copy()
            excluded, confirmed, decided = cached.excluded.copy(), cached.confirmed.copy(), cached.decided.copy()
            split = cached.split.copy()
        else:
            n = len(Y0)
            Y, flagged, excluded, confirmed, decided = Y0.copy(), *(np.zeros(n, bool) for _ in range(4))
            split = split0.copy()
        apply_events(ev, Y, flagged, excluded, confirmed, self.workspace.nomenclature.classes, decided=decided,
                     split=split)
        cur = CurrentLabels(list(self.workspace.nomenclature.classes), Y, Y0, flagged, excluded, confirmed, ver,
                            decided=decided, split=split, split_original=split0, _ids=self._ids)
        with self._lock:
            if self._cache is None or self._cache.version <= ver:
                self._cache = cur
        return cur

    # ------------------------------------------------------------------ hooks (each storage)
    def events(self, *, patch_id: str | None = None) -> pd.DataFrame:
        """Every event (or one patch's): ``id, time, author, batch, patch_id, op, label, note`` (oldest first)."""
        cols = ["id", "time", "author", "batch", "patch_id", "op", "label", "note"]
        if not self.exists_ and not self._recheck():
            return pd.DataFrame(columns=cols)
        if patch_id is None:
            rows = self._query(f"SELECT {', '.join(cols)} FROM events ORDER BY id")
        else:
            rows = self._query(f"SELECT {', '.join(cols)} FROM events WHERE patch_id = {self._PH} ORDER BY id",
                               (patch_id,))
        return pd.DataFrame(rows, columns=cols)

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    def version(self) -> int:  # pragma: no cover - every storage defines it
        raise NotImplementedError

    def _write(self, kind: str, target: int | None, author: str, note: str, source: str, rows: list[EventRow],
               now: str, *, precheck: Callable | None = None, request_id: str | None = None) -> int | None:
        raise NotImplementedError  # pragma: no cover

    def _active_events(self, since: CurrentLabels | None = None) -> tuple[pd.DataFrame, int, bool]:
        raise NotImplementedError  # pragma: no cover

    def _batch_info(self, batch: int) -> BatchInfo:
        raise NotImplementedError  # pragma: no cover

    # ------------------------------------------------------------------ shared helpers
    def _undo_redo(self, kind: str, author: str | None, request_id: str | None = None,
                   target: int | None = None) -> int | None:
        who = check_author(author) if author is not None else None
        request_id = check_request_id(request_id)

        def pick(con):
            df = batch_frame(con.execute(STACK_SQL).fetchall(), ["id", "author", "kind", "target"])
            undo_stack, redo_stack = undo_redo_stacks(df, who)
            stack = undo_stack if kind == "undo" else redo_stack
            if target is not None:
                return int(target) if int(target) in stack else None
            return stack[-1] if stack else None

        return self._write(kind, None, who or "(anonymous)", "", "app", [], utc_now(), precheck=pick,
                           request_id=request_id)

    def _validate(self, edits: Sequence[Edit]) -> list[EventRow]:
        edits = as_batch(edits)
        _, index = self._ids()
        return encode_edits(edits, index, self.workspace.nomenclature, workspace=str(self.workspace.path))

    def _base_labels(self) -> np.ndarray:
        """The catalog's labels, multi-hot, shape (n, n_classes) (read once; only the ``labels`` column)."""
        with self._lock:
            if self._base is None:
                from ..quality import label_matrix

                col = pq.read_table(self.workspace.catalog_path, columns=["labels"]).column(0)
                Y0 = label_matrix(col.to_pandas(types_mapper=pd.ArrowDtype), self.workspace.nomenclature.classes)
                Y0.setflags(write=False)
                self._base = Y0
            return self._base

    def _base_split(self) -> np.ndarray:
        """The catalog's splits, shape (n,), object (None: no split; read once; only the ``split`` column)."""
        with self._lock:
            if self._base_split_ is None:
                col = pq.read_table(self.workspace.catalog_path, columns=["split"]).column(0).to_pylist()
                s = np.array([v if isinstance(v, str) and v else None for v in col], dtype=object)
                s.setflags(write=False)
                self._base_split_ = s
            return self._base_split_

    def _ids(self) -> tuple[np.ndarray, pd.Index]:
        """Patch ids in catalog order and their hash index: the workspace's one index (read on first use)."""
        return self.workspace.ids, self.workspace.index
