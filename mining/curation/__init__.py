"""The curation log: every label edit of a workspace, durable, multi-curator, undoable.

Current labels = the catalog's labels + the events of the *active* batches (an edit batch is active
unless its latest undo/redo is an undo), applied in event-id order: the later event wins per patch and
label (``add`` / ``remove`` touch one label; ``set`` touches every label of the patch). ``flag`` /
``unflag``, ``exclude`` / ``restore`` and ``keep`` (a reviewer confirmed the labels) are per-patch states,
the later event winning too.

Two parts:

* :mod:`mining.curation.events`: :class:`Edit`, :class:`CurrentLabels`, the validation of edits and the
  pure fold of events into labels, active batches and undo / redo stacks (numpy / pandas in and out, no
  I/O); and :class:`EditLogProtocol`, the contract of a log's storage;
* :mod:`mining.curation.sqlite`: :class:`EditLog`, that storage on ``WS/edits.sqlite`` (schema, WAL,
  transactions, crash and replacement checks).

Examples
--------
>>> log = EditLog(ws)                                              # doctest: +SKIP
>>> log.commit([Edit("P1", "add", "Urban fabric")], author="ana", note="town missing")   # doctest: +SKIP
>>> cur = log.current_labels(); cur.labels_of("P1")                # doctest: +SKIP
"""

from .events import LABEL_OPS, MAX_BATCH, OPS, CurrentLabels, Edit, EditLogProtocol
from .sqlite import EDITS_FORMAT_VERSION, EditLog

__all__ = ["Edit", "EditLog", "CurrentLabels", "EditLogProtocol", "OPS", "LABEL_OPS", "EDITS_FORMAT_VERSION",
           "MAX_BATCH"]
