"""Copy a workspace's edit log between its storages (SQLite <-> PostgreSQL) without losing an event.

Every batch and every event is copied with its id, time, author, kind, undo / redo target, note, source,
request id, catalog row, op and label, in one transaction on the target; the counts and the last ids are then
read back from the target and compared. A target that already holds batches is refused unless ``overwrite``.
Events written by an eomine older than the catalog ``row`` get it from their patch id on the way.

Examples
--------
>>> migrate_log(ws, "sqlite", "postgresql://eomine@db.lan/eomine")     # doctest: +SKIP
{'batches': 12, 'events': 3456, 'version': 12, ...}
"""

from __future__ import annotations

from ..errors import DataError, WorkspaceError
from ..workspace import Workspace
from .logs import log_url, open_log
from .postgres import mask_url

__all__ = ["migrate_log"]


def migrate_log(workspace, source: str | None, target: str, *, overwrite: bool = False) -> dict:
    """Copy the edit log of ``workspace`` from ``source`` to ``target``.

    Parameters
    ----------
    workspace : Workspace or path-like
    source, target : str
        ``"sqlite"`` (``WS/edits.sqlite``) or a ``postgresql://`` URL; ``source`` None: ``$EOMINE_LOG``, else
        SQLite. They must differ.
    overwrite : bool
        Replace the batches a non-empty target holds (default: refuse).

    Returns
    -------
    dict
        ``source``, ``target`` (passwords masked), ``batches``, ``events``, ``version`` (the last batch id).

    Raises
    ------
    DataError
        The same location twice, a source without a log, a non-empty target without ``overwrite``.
    WorkspaceError
        A log that cannot be opened, or a copy whose counts do not match (nothing is kept then: the target's
        transaction is the whole copy).
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    src_url, dst_url = log_url(source), log_url(target)
    if src_url == dst_url:
        raise DataError(f"the source and the target of the migration are the same log ({mask_url(dst_url)})")
    src = open_log(ws, src_url, create=False)
    if not src.exists_:
        raise DataError(f"{ws.path} has no edit log in {mask_url(src_url)} to migrate")
    batches, events = src._dump()
    index = ws.index
    missing = [i for i, e in enumerate(events) if e[5] is None]
    if missing:  # an older log's events without their catalog row
        rows = index.get_indexer([events[i][4] for i in missing]).tolist()
        for i, r in zip(missing, rows, strict=True):
            events[i] = (*events[i][:5], int(r), *events[i][6:])
    dst = open_log(ws, dst_url, create=True)
    dst._load(batches, events, overwrite=overwrite)
    got_b, got_e = dst._dump()
    want = (len(batches), len(events), batches[-1][0] if batches else 0, events[-1][0] if events else 0)
    got = (len(got_b), len(got_e), got_b[-1][0] if got_b else 0, got_e[-1][0] if got_e else 0)
    if got != want:
        raise WorkspaceError(f"the copy to {mask_url(dst_url)} does not match its source (batches, events, last "
                             f"ids: {got} instead of {want})")
    for log in (src, dst):
        log.close()
    return {"source": mask_url(src_url), "target": mask_url(dst_url), "batches": len(batches),
            "events": len(events), "version": want[2]}
