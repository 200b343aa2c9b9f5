"""Edits and the pure fold of the curation log's events: no file, no database, no clock.

A log stores *batches* (``id, author, kind, target``: ``kind`` is ``edit``, or ``undo`` / ``redo`` of the
edit batch ``target``) and *events* (``id, batch, row, op, label``: ``row`` is the patch's catalog row,
``label`` one class for ``add`` / ``remove``, the JSON list of the new labels for ``set``, the split for ``split``
(None: no split), None otherwise).
Whatever stores them (:mod:`mining.curation.sqlite`, :mod:`mining.curation.postgres`) reads them back as frames and folds them here:

* :func:`active_batches`: the edit batches whose latest undo/redo is not an undo;
* :func:`undo_redo_stacks`: what an undo or a redo (of one author, or anyone's) would target;
* :func:`apply_events`: the labels and per-patch states after a sequence of events, the later event winning
  per patch and label (``set`` touches every label of its patch).

:func:`check_author`, :func:`as_batch` and :func:`encode_edits` validate edits before anything is written.
:class:`EditLogProtocol` is the contract a storage fulfils (:class:`mining.curation.EditLog` is one).

Examples
--------
>>> ev = pd.DataFrame({"id": [1, 2], "row": [0, 0], "op": ["add", "remove"], "label": ["b", "b"]})
>>> Y = np.zeros((1, 2), bool); f, e, c = (np.zeros(1, bool) for _ in range(3))
>>> apply_events(ev, Y, f, e, c, ["a", "b"]); Y.tolist()
[[False, False]]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from ..errors import DataError
from ..nomenclature import Nomenclature

__all__ = ["Edit", "CurrentLabels", "EditLogProtocol", "BatchInfo", "OpCount", "DuplicateRequest", "OPS",
           "LABEL_OPS", "OP_ALIASES", "MAX_BATCH", "MAX_REQUEST_ID", "check_author", "check_request_id", "as_batch",
           "encode_edits", "apply_events", "undo_redo_stacks", "active_batches", "op_name", "describe_ops", "SPLITS",
           "split_name"]

#: every edit operation, as stored (``keep`` is what people call *confirm*: a reviewer confirmed the labels)
OPS = ("add", "remove", "set", "flag", "unflag", "exclude", "restore", "keep", "split")
#: other names an edit may be given, and the stored op they mean
OP_ALIASES = {"confirm": "keep"}
#: the name people read for a stored op (history, exports, messages); the others read as stored
OP_NAMES = {"keep": "confirm"}
#: operations that change labels
LABEL_OPS = ("add", "remove", "set")
#: longest request id accepted (a client-generated id: a UUID is 36 characters)
MAX_REQUEST_ID = 200
#: the splits a ``split`` edit may assign (its label; None: the patch leaves every split)
SPLITS = ("train", "validation", "test")
#: other names of the splits
SPLIT_ALIASES = {"val": "validation", "valid": "validation", "training": "train", "testing": "test"}
#: largest batch accepted (the whole of reBEN fits; anything bigger is refused with a message)
MAX_BATCH = 2_000_000

#: an encoded event: (patch id, catalog row, op, label: a class, a JSON list for ``set``, or None)
EventRow = tuple[str, int, str, str | None]


@dataclass(frozen=True)
class Edit:
    """One edit of one patch.

    Parameters
    ----------
    patch_id : str
    op : str
        ``add`` / ``remove`` (one ``label``), ``set`` (the new label set in ``labels``), ``flag`` /
        ``unflag`` (doubtful), ``exclude`` / ``restore`` (out of / back into its split), ``confirm`` (a
        reviewer confirmed the current labels; stored as ``keep``, and ``keep`` is accepted too), ``split`` (assign
        the patch to the split ``label``: one of :data:`SPLITS`; None: to no split).
    label : str or None
        A class of the workspace nomenclature, for ``add`` / ``remove``; the split, for ``split``.
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
    decided : ndarray of bool, shape (n,)
        A person decided the patch's labels in an active batch (any label op or a confirmation): in an
        unlabelled pool, the patches labelled so far.
    split, split_original : ndarray of object, shape (n,)
        The split of each patch after the active ``split`` edits, and the catalog's (None: no split).
    """

    classes: list[str]
    Y: np.ndarray
    Y_original: np.ndarray
    flagged: np.ndarray
    excluded: np.ndarray
    confirmed: np.ndarray
    version: int = 0
    decided: np.ndarray | None = None
    split: np.ndarray | None = None
    split_original: np.ndarray | None = None
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
        from ..quality import label_lists

        return label_lists(self.Y, self.classes)

    def to_frame(self) -> pd.DataFrame:
        """``patch_id, labels, split, flagged, excluded, confirmed, changed`` (one row per patch)."""
        split = self.split if self.split is not None else np.full(len(self.Y), None, object)
        return pd.DataFrame({"patch_id": self.patch_ids, "labels": self.lists(), "split": split,
                             "flagged": self.flagged, "excluded": self.excluded, "confirmed": self.confirmed,
                             "changed": self.changed})

    def _index(self) -> pd.Index:
        return self._ids()[1]


class DuplicateRequest(DataError):
    """A batch with this request id is already in the log; nothing was written.

    A client gives every commit, undo and redo a request id of its own making; a second request with the same
    id (a double click, a retried request, two tabs replaying) is refused with this error, which names the
    batch the first one wrote, so the caller can answer with that batch's result.

    Attributes
    ----------
    request_id : str
    batch : int
        The id of the batch the request id already wrote.
    """

    def __init__(self, request_id: str, batch: int):
        self.request_id = request_id
        self.batch = int(batch)
        super().__init__(f"request {request_id!r} was already committed as batch {self.batch}; nothing was written")


@dataclass(frozen=True)
class OpCount:
    """The events of one op in a batch.

    Attributes
    ----------
    op : str
        As stored (``keep``, not ``confirm``; :func:`op_name` gives the name people read).
    n_patches : int
        Distinct patches with such an event.
    label : str or None
        When every event of the op carries the same label: the class (``add`` / ``remove``) or the JSON list of
        the new labels (``set``); None when they differ or the op takes none.
    """

    op: str
    n_patches: int
    label: str | None = None


@dataclass(frozen=True)
class BatchInfo:
    """What one batch of the log is: who made it, what it did, and for an undo / redo, what it reverted.

    Attributes
    ----------
    id, time, author, kind, target, note, source, n_events, request_id
        The batch's stored fields (``kind``: ``edit`` / ``undo`` / ``redo``; ``target``: the edit batch an undo
        or redo names, else None; ``request_id``: None when the commit gave none).
    n_patches : int
        Distinct patches its events touch.
    ops : tuple of OpCount
        Its events by op, in the order they first appear (undo / redo batches: one ``undo`` / ``redo`` entry).
    reverted : BatchInfo or None
        Undo / redo: the edit batch it undid / re-applied (``target``); None for an edit batch.

    Examples
    --------
    >>> add = BatchInfo(3, "", "ana", "edit", None, "", "app", 120, None, 120, (OpCount("add", 120, "Urban fabric"),))
    >>> add.summary()
    "Add label 'Urban fabric' to 120 patches"
    >>> BatchInfo(4, "", "bo", "undo", 3, "", "app", 120, None, 120, (OpCount("undo", 120),), add).message()
    "Undid batch 3 (Add label 'Urban fabric' to 120 patches, ana)"
    """

    id: int
    time: str
    author: str
    kind: str
    target: int | None
    note: str
    source: str
    n_events: int
    request_id: str | None
    n_patches: int
    ops: tuple[OpCount, ...] = ()
    reverted: BatchInfo | None = None

    def summary(self) -> str:
        """What the batch did, in words: ``Add label 'Urban fabric' to 120 patches``; an undo / redo says what
        it reverted (``Undo of batch 3 (...)``)."""
        if self.kind in ("undo", "redo"):
            what = self.reverted.title() if self.reverted is not None else f"batch {self.target}"
            return f"{self.kind.capitalize()} of {what}"
        return describe_ops(self.ops)

    def title(self) -> str:
        """``batch 3 (Add label 'Urban fabric' to 120 patches, ana)``."""
        return f"batch {self.id} ({self.summary()}, {self.author})"

    def message(self) -> str:
        """One line for the person who made the batch: ``Undid batch 3 (...)``, ``Redid batch 3 (...)``, or
        ``Committed batch 5 (...)``."""
        if self.kind in ("undo", "redo") and self.reverted is not None:
            return f"{'Undid' if self.kind == 'undo' else 'Redid'} {self.reverted.title()}"
        if self.kind in ("undo", "redo"):
            return f"{'Undid' if self.kind == 'undo' else 'Redid'} batch {self.target}"
        return f"Committed {self.title()}"

    def to_dict(self) -> dict:
        """JSON-ready: the fields, ``summary``, ``ops`` as ``[{op, name, n_patches, label}]`` and ``reverted``
        as a dict (or None)."""
        return {"batch": self.id, "time": self.time, "author": self.author, "kind": self.kind, "target": self.target,
                "note": self.note, "source": self.source, "n_events": self.n_events, "n_patches": self.n_patches,
                "request_id": self.request_id, "summary": self.summary(),
                "ops": [{"op": o.op, "name": op_name(o.op), "n_patches": o.n_patches, "label": o.label}
                        for o in self.ops],
                "reverted": self.reverted.to_dict() if self.reverted is not None else None}


def op_name(op: str) -> str:
    """The name people read for a stored op: ``keep`` -> ``confirm``; every other op as it is."""
    return OP_NAMES.get(op, op)


def describe_ops(ops: Sequence[OpCount]) -> str:
    """The ops of a batch in words, e.g. ``Add label 'Urban fabric' to 120 patches`` or
    ``Flag 3 patches; Confirm 1 patch``.

    Parameters
    ----------
    ops : sequence of OpCount

    Returns
    -------
    str
        ``"No edit"`` for an empty sequence.
    """
    parts = []
    for o in ops:
        n = f"{o.n_patches:,} patch{'es' if o.n_patches != 1 else ''}"
        if o.op in ("add", "remove"):
            if o.label is None:
                what = f"{o.op.capitalize()} labels {'to' if o.op == 'add' else 'from'} {n}"
            else:
                what = f"{o.op.capitalize()} label {o.label!r} {'to' if o.op == 'add' else 'from'} {n}"
        elif o.op == "set":
            if o.label is None:
                what = f"Set the labels of {n}"
            else:
                try:
                    labs = json.loads(o.label)
                except ValueError:
                    labs = [o.label]
                what = f"Set labels to {', '.join(map(repr, labs)) or '(none)'} on {n}"
        elif o.op == "split":
            what = f"Assign {n} to the {o.label} split" if o.label else f"Assign the splits of {n}"
        else:
            what = f"{op_name(o.op).capitalize()} {n}"
        parts.append(what)
    return "; ".join(parts) or "No edit"


@runtime_checkable
class EditLogProtocol(Protocol):
    """What every storage of the curation log offers (:class:`mining.curation.EditLog` on SQLite,
    :class:`mining.curation.PostgresEditLog` on PostgreSQL).

    A storage keeps batches and events append-only, serialises writers so that event ids give one total
    order, makes each batch all-or-nothing, and rebuilds the labels with :func:`apply_events` over the events
    of :func:`active_batches`. It validates with :func:`check_author`, :func:`as_batch` and
    :func:`encode_edits`, so every storage refuses the same edits with the same messages.
    """

    def commit(self, edits: Sequence[Edit], *, author: str, note: str = "", source: str = "app",
               request_id: str | None = None) -> int:
        """Append one batch in one transaction; return its id (:class:`DataError` on bad input, nothing
        written; :class:`DuplicateRequest` when ``request_id`` already wrote a batch)."""
        ...

    def undo(self, *, author: str | None = None, request_id: str | None = None) -> int | None:
        """Undo the latest active edit batch (of ``author``); the new batch's id, or None
        (:class:`DuplicateRequest` as for :meth:`commit`)."""
        ...

    def redo(self, *, author: str | None = None, request_id: str | None = None) -> int | None:
        """Redo the latest undone batch (of ``author``) unless an edit came since; the new id, or None."""
        ...

    def batch_info(self, batch: int) -> BatchInfo:
        """One batch: its fields, what its events do, and what an undo / redo reverted."""
        ...

    def current_labels(self) -> CurrentLabels:
        """Labels and states of every patch after the active edits."""
        ...

    def version(self) -> int:
        """The last batch id (0: no edits); changes on every commit, undo and redo."""
        ...

    def batches(self, *, up_to: int | None = None) -> pd.DataFrame:
        """``id, time, author, kind, target, note, source, n_events, request_id, active``, oldest first
        (``target`` of integer dtype, ``<NA>`` for edit batches)."""
        ...

    def events(self, *, patch_id: str | None = None) -> pd.DataFrame:
        """``id, time, author, batch, patch_id, op, label, note``, oldest first."""
        ...

    def close(self) -> None:
        """Release this thread's connection."""
        ...


# ---------------------------------------------------------------------- validation
def check_author(author: object) -> str:
    """The author name, stripped (:class:`DataError` when blank, not a string or over 200 characters)."""
    if not isinstance(author, str) or not author.strip():
        raise DataError("an edit needs an author: enter your name (author is blank)")
    author = author.strip()
    if len(author) > 200:
        raise DataError(f"author name too long ({len(author)} characters, at most 200)")
    return author


def check_request_id(request_id: object) -> str | None:
    """The request id of a commit, undo or redo: None (no idempotency), or a non-blank string of at most
    :data:`MAX_REQUEST_ID` characters, kept as given (:class:`DataError` otherwise)."""
    if request_id is None:
        return None
    if not isinstance(request_id, str) or not request_id.strip():
        raise DataError(f"a request id must be a non-blank string, got {request_id!r}")
    if len(request_id) > MAX_REQUEST_ID:
        raise DataError(f"request id too long ({len(request_id)} characters, at most {MAX_REQUEST_ID})")
    return request_id


def as_batch(edits: Edit | Sequence[Edit]) -> list[Edit]:
    """The edits of one batch as a list, length m (1 <= m <= :data:`MAX_BATCH`; :class:`DataError` else)."""
    if isinstance(edits, Edit):
        edits = [edits]
    edits = list(edits)
    if not edits:
        raise DataError("an edit batch needs at least one edit (the batch is empty)")
    if len(edits) > MAX_BATCH:
        raise DataError(f"an edit batch of {len(edits):,} edits is too large (at most {MAX_BATCH:,})")
    return edits


def encode_edits(edits: Sequence[Edit], index: pd.Index, nomenclature: Nomenclature, *,
                 workspace: str) -> list[EventRow]:
    """Validate a batch and encode it as event rows.

    Parameters
    ----------
    edits : sequence of Edit, length m
    index : pandas.Index
        The catalog's patch ids (position = catalog row).
    nomenclature : Nomenclature
        The workspace's classes.
    workspace : str
        Named in the message of an unknown patch id.

    Returns
    -------
    list of (patch_id, row, op, label), length m
        ``label``: the class for ``add`` / ``remove``, the JSON list of the new labels in official order for
        ``set``, None for the per-patch states.

    Raises
    ------
    DataError
        A patch id that is not a string or not in ``index``, an unknown op or class, a label given to an op
        that takes none. The first problem is named.

    Notes
    -----
    An op given by another name (:data:`OP_ALIASES`: ``confirm``) is stored as the op it names (``keep``), and
    a class given by its short name or in another case (:meth:`Nomenclature.resolve`: ``"urban"``) as the
    class it names (``"Urban fabric"``).
    """
    pids = [e.patch_id for e in edits]
    bad_type = next((p for p in pids if not isinstance(p, str)), None)
    if bad_type is not None:
        raise DataError(f"patch id {bad_type!r} is not a string")
    prow = index.get_indexer(pids)
    missing = prow < 0
    if missing.any():
        raise DataError(f"patch {pids[int(np.argmax(missing))]!r} is not in workspace {workspace} "
                        f"({int(missing.sum())} unknown patch id(s) in the batch; nothing was saved)")
    nom = nomenclature
    resolved = {c: c for c in nom.classes}  # name given -> class (Nomenclature.resolve, once per distinct name)

    def cls(pid, op, label):
        if label not in resolved:
            try:
                resolved[label] = nom.resolve(label)
            except DataError:
                raise DataError(f"patch {pid}: {op} label {label!r} is not a class of the {nom.name} "
                                f"nomenclature ({nom.suggest(label) if isinstance(label, str) else 'not a string'})"
                                ) from None
        return resolved[label]

    rows: list[EventRow] = []
    for e, r in zip(edits, prow.tolist(), strict=True):
        op = OP_ALIASES.get(e.op, e.op)
        if op not in OPS:
            names = [op_name(o) for o in OPS]
            raise DataError(f"patch {e.patch_id}: unknown edit op {e.op!r} (one of {', '.join(names)})")
        if op in ("add", "remove"):
            rows.append((e.patch_id, r, op, cls(e.patch_id, e.op, e.label)))
        elif op == "set":
            labs = list(e.labels) if e.labels else ([] if e.label is None else [e.label])
            labs = [cls(e.patch_id, "set", lab) for lab in labs]
            rows.append((e.patch_id, r, "set", json.dumps(nom.validate(labs))))
        elif op == "split":
            if e.labels:
                raise DataError(f"patch {e.patch_id}: op 'split' takes one split in label, not labels")
            rows.append((e.patch_id, r, "split", split_name(e.label, where=f"patch {e.patch_id}: split")))
        else:
            if e.label is not None or e.labels:
                raise DataError(f"patch {e.patch_id}: op {e.op!r} takes no label")
            rows.append((e.patch_id, r, op, None))
    return rows


def split_name(name: object, *, where: str = "split") -> str | None:
    """The stored name of a split: one of :data:`SPLITS` (any case, or an alias such as ``val``), or None for
    no split (None, ``""`` or ``"none"``).

    Raises
    ------
    DataError
        Any other name, with ``where`` in the message.
    """
    if name is None:
        return None
    if not isinstance(name, str):
        raise DataError(f"{where} {name!r} is not a string (one of {', '.join(SPLITS)}, or none)")
    key = name.strip().lower()
    if key in ("", "none"):
        return None
    key = SPLIT_ALIASES.get(key, key)
    if key not in SPLITS:
        raise DataError(f"{where} {name!r} is not a split (one of {', '.join(SPLITS)}, or none)")
    return key


# ---------------------------------------------------------------------- the fold
def apply_events(events: pd.DataFrame, Y: np.ndarray, flagged: np.ndarray, excluded: np.ndarray,
                 confirmed: np.ndarray, classes: Sequence[str], *, decided: np.ndarray | None = None,
                 split: np.ndarray | None = None) -> None:
    """Apply events to the label and state arrays, in place: the later event wins per patch and label.

    Vectorised over (patch, class) keys: no loop over events.

    Parameters
    ----------
    events : DataFrame, m rows
        ``id`` (int, the total order: a larger id is later), ``row`` (int, catalog row; rows outside
        ``[0, n)`` are ignored), ``op`` (str; ``undo`` / ``redo`` events are ignored), ``label`` (a class for
        ``add`` / ``remove``, the JSON list of the new labels for ``set``; unknown classes are ignored).
    Y : ndarray of bool, shape (n, n_classes)
        Labels before the events (modified).
    flagged, excluded, confirmed : ndarray of bool, shape (n,)
        States before the events (modified): the latest ``flag`` / ``unflag``, ``exclude`` / ``restore``;
        ``confirmed`` is True where a ``keep`` is later than every label op of the patch.
    classes : sequence of str, length n_classes
        The columns of ``Y``.
    decided : ndarray of bool, shape (n,), optional
        Set True (in place) where an event decides the patch's labels: a label op or a ``keep`` (a person
        gave, changed or confirmed its labels).
    split : ndarray of object, shape (n,), optional
        Splits before the events (modified): each patch's latest ``split`` event sets it (None: no split).
    """
    ev = events
    if not len(ev):
        return
    c = Y.shape[1]
    rows = ev["row"].to_numpy(np.int64)
    ops = ev["op"].to_numpy(object)
    eid = ev["id"].to_numpy(np.int64)
    labels = ev["label"].to_numpy(object)
    ok = (rows >= 0) & (rows < len(Y))
    if decided is not None:
        decided[rows[ok & np.isin(ops, [*LABEL_OPS, "keep"])]] = True
    classes = pd.Index(classes)
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
    if split is not None:
        sel = ok & (ops == "split")
        vals = np.array([v if isinstance(v, str) else None for v in labels[sel]], dtype=object)
        _last_state(rows[sel], eid[sel], vals, split)


def undo_redo_stacks(batches: pd.DataFrame, author: str | None) -> tuple[list[int], list[int]]:
    """Replay batches into the undo and the redo stack of edit batch ids, for one author or everyone.

    An edit pushes onto the undo stack and clears the redo stack; an undo moves its target onto the redo
    stack, a redo moves it back. Only ``author``'s edit batches (every edit batch when ``author`` is None or
    empty) and the undos / redos targeting them count.

    Parameters
    ----------
    batches : DataFrame, b rows, oldest first
        ``id``, ``author``, ``kind`` (``edit`` / ``undo`` / ``redo``), ``target`` (edit batch id, for undo /
        redo).
    author : str or None

    Returns
    -------
    undo_stack, redo_stack : list of int
        Edit batch ids (Python ints, whatever the dtype of ``target``), the next one to undo / redo last.
    """
    b = batches
    mine = set(b.loc[(b["kind"] == "edit") & ((b["author"] == author) if author else True), "id"].tolist())
    undo_stack: list[int] = []
    redo_stack: list[int] = []
    for bid, kind, target in zip(b["id"].tolist(), b["kind"].tolist(), _targets(b), strict=True):
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


def active_batches(batches: pd.DataFrame) -> set[int]:
    """Edit batch ids whose latest undo/redo is not an undo.

    Parameters
    ----------
    batches : DataFrame, b rows, oldest first
        ``id``, ``kind``, ``target``.

    Returns
    -------
    set of int
    """
    b = batches
    active = set(b.loc[b["kind"] == "edit", "id"].tolist())
    for kind, target in zip(b["kind"].tolist(), _targets(b), strict=True):
        if kind == "undo":
            active.discard(target)
        elif kind == "redo":
            active.add(target)
    return active


def _targets(batches: pd.DataFrame) -> list[int | None]:
    """The ``target`` column as Python ints (None where missing), whatever its dtype: a nullable integer
    column read through pandas may arrive as float (``1.0``), which must never reach a stack or a message."""
    return [None if pd.isna(t) else int(t) for t in batches["target"].tolist()]


def _last_state(rows: np.ndarray, eid: np.ndarray, on: np.ndarray, out: np.ndarray) -> None:
    """``out[row] = on`` of each row's latest event (by event id); arrays of shape (m,), ``out`` (n,)."""
    if not len(rows):
        return
    order = np.lexsort((eid, rows))
    rs = rows[order]
    last = np.r_[rs[1:] != rs[:-1], True]
    out[rs[last]] = on[order][last]
