"""The curation log: every label edit of a workspace, durable, multi-curator, undoable.

Current labels = the catalog's labels + the events of the *active* batches (an edit batch is active
unless its latest undo/redo is an undo), applied in event-id order: the later event wins per patch and
label (``add`` / ``remove`` touch one label; ``set`` touches every label of the patch). ``flag`` /
``unflag``, ``exclude`` / ``restore`` and ``keep`` are per-patch states, the later event winning too.
``keep`` is the *confirm* decision (a reviewer confirmed the labels): stored as ``keep``, shown to people as
"confirm" (:func:`op_name`), and accepted under both names (``Edit(pid, "confirm")``).

A commit, undo or redo may carry a client-generated ``request_id``: the log writes one batch per id and
refuses a repeat with :class:`DuplicateRequest` (naming the batch the first one wrote).
:meth:`EditLog.batch_info` says what a batch did, and for an undo / redo which batch it reverted
(:class:`BatchInfo`: "Undid batch 3 (Add label 'Urban fabric' to 120 patches, ana)").

Two parts:

* :mod:`mining.curation.events`: :class:`Edit`, :class:`CurrentLabels`, the validation of edits and the
  pure fold of events into labels, active batches and undo / redo stacks (numpy / pandas in and out, no
  I/O); and :class:`EditLogProtocol`, the contract of a log's storage;
* :mod:`mining.curation.sqlite`: :class:`EditLog`, that storage on ``WS/edits.sqlite`` (schema, WAL,
  transactions, crash and replacement checks), the default;
* :mod:`mining.curation.postgres`: :class:`PostgresEditLog`, the same contract in a PostgreSQL database that
  several app servers on several hosts share;
* :func:`open_log` opens either (``--log URL`` / ``$EOMINE_LOG``), :func:`migrate_log` copies a log from one to
  the other.

Examples
--------
>>> log = EditLog(ws)                                              # doctest: +SKIP
>>> log.commit([Edit("P1", "add", "Urban fabric")], author="ana", note="town missing")   # doctest: +SKIP
>>> cur = log.current_labels(); cur.labels_of("P1")                # doctest: +SKIP
"""

from .events import (
    LABEL_OPS,
    MAX_BATCH,
    OP_ALIASES,
    OPS,
    SPLITS,
    BatchInfo,
    CurrentLabels,
    DuplicateRequest,
    Edit,
    EditLogProtocol,
    OpCount,
    describe_ops,
    op_name,
    split_name,
)
from .logs import LOG_ENV, log_url, open_log
from .migrate import migrate_log
from .postgres import PostgresEditLog
from .sqlite import EDITS_FORMAT_VERSION, EditLog

__all__ = ["Edit", "EditLog", "CurrentLabels", "EditLogProtocol", "BatchInfo", "OpCount", "DuplicateRequest", "OPS",
           "LABEL_OPS", "OP_ALIASES", "EDITS_FORMAT_VERSION", "MAX_BATCH", "op_name", "describe_ops",
           "SPLITS", "split_name", "PostgresEditLog", "open_log", "log_url", "migrate_log", "LOG_ENV"]
