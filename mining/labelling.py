"""Build a labelled benchmark with active learning: the rounds of one workspace, its check set, the answers.

The loop (the app's Label tab and ``eomine learn`` drive the same functions)::

    session = LabellingSession(ws)                 # WS/active/state.json, created on first use
    batch = session.next_batch(log, strategy="auto", batch_size=50)    # refit + query: round r
    session.answer(log, batch, {pid: labels, ...}, author="ana", unsure=[...], removed=[...])

Where things live
-----------------
* **Labels** go into the workspace's durable edit log (:class:`mining.curation.EditLog`) like every edit: one
  batch per answered round, ``set`` events with the curator's label set, source ``learn:r<round>:<strategy>``
  (``learn:check`` for the check set), undoable. A patch counts as *labelled* when the catalog gave it labels or
  a person decided its labels in an active batch (:attr:`CurrentLabels.decided`).
* **Unsure** is the log's ``flag`` (doubtful): such a patch is not asked again for ``unsure_rounds`` rounds.
  **Removed from training** is the log's ``exclude``: the model never learns from it, it is never asked, and it
  stays in the dataset.
* **The check set**: ``check_size`` patches drawn at random (seeded) from the unlabelled pool when the session
  is created. A curator labels them once (:meth:`LabellingSession.check_batch`); they are never asked in a
  round nor used for training, and every round reports the model's accuracy on the labelled ones with a 95 %
  interval (:func:`mining.active.evaluate`).
* **The stopping signal**: the predictions on a fixed random set of ``stability_size`` patches, compared with
  the previous round's (:func:`mining.active.agreement`: share identical, Cohen's kappa). Predictions that stop
  changing while the check accuracy's interval stops rising say that more labels buy little.
* ``WS/active/state.json`` (this module owns it; format version :data:`LEARN_FORMAT_VERSION`) holds the check
  and stability sets and one record per round; ``WS/active/predictions.parquet`` every patch's predicted
  labels, probabilities and whether a person labelled it (:func:`write_predictions`).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from ._internal.artifacts import load_card, write_card
from .active import STRATEGIES, ActiveLearner, agreement, evaluate
from .errors import DataError, WorkspaceError
from .workspace import Workspace, write_parquet

__all__ = ["LabellingSession", "Batch", "LEARN_FORMAT_VERSION", "oracle_labels", "load_predictions",
           "write_predictions", "SOURCE_PREFIX", "CHECK_SOURCE"]

LEARN_FORMAT_VERSION = 1
#: the edit-log source of labels given in a round is ``learn:r<round>:<strategy>``
SOURCE_PREFIX = "learn"
CHECK_SOURCE = "learn:check"


@dataclass(frozen=True)
class Batch:
    """One round's question to the curator.

    Attributes
    ----------
    round : int
        1, 2, ... (``0``: the check set).
    strategy : str
        The strategy that chose it (``auto`` resolved).
    patch_ids : tuple of str
        The patches to label, in the order to show them.
    predicted : tuple of tuple of str
        The model's labels for each, to pre-fill the answer.
    confidence : tuple of float
        The model's probability of its top class for each.
    """

    round: int
    strategy: str
    patch_ids: tuple[str, ...]
    predicted: tuple[tuple[str, ...], ...]
    confidence: tuple[float, ...] = ()

    @property
    def source(self) -> str:
        return CHECK_SOURCE if self.round == 0 else f"{SOURCE_PREFIX}:r{self.round}:{self.strategy}"


@dataclass
class _Arrays:
    """What a round reads from the workspace, in embedding order (cached per session; the kNN matrix is built
    once)."""

    ids: np.ndarray               # (n,) patch ids of the embedding rows
    cat_rows: np.ndarray          # (n,) their catalog rows
    X: np.ndarray                 # (n, d)
    W: object                     # label-spreading matrix (scipy CSR) or None
    coords: np.ndarray            # (n, 2) lon, lat
    groups: np.ndarray | None     # (n,) the coarsest ancestor per row (multiscale), or None
    key: tuple = field(default=())
    levels: np.ndarray | None = None  # (n,) scale of each row (multiscale), or None
    extra: dict = field(default_factory=dict)  # derived arrays computed once (cascade regions)


class LabellingSession:
    """The active-learning state of one workspace (owner of ``WS/active/``).

    Parameters
    ----------
    workspace : Workspace or path
    check_size : int
        Patches of the check set (drawn once, when the state is created).
    stability_size : int
        Patches whose predictions are compared between rounds.
    unsure_rounds : int
        Rounds a patch marked unsure is not asked again.
    seed : int
        Seeds the check and stability sets and every query.

    Attributes
    ----------
    state_ : dict
        ``version`` (the format), ``seed``, ``check_ids``, ``stability_ids``, ``rounds`` (one dict per round:
        ``round, strategy, batch_size, asked, labelled, labels_given, check, stability, seconds, time``).
    """

    def __init__(self, workspace, *, check_size: int = 200, stability_size: int = 1000, unsure_rounds: int = 3,
                 seed: int = 0):
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        self.check_size = int(check_size)
        self.stability_size = int(stability_size)
        self.unsure_rounds = int(unsure_rounds)
        self.seed = int(seed)
        self._lock = threading.RLock()
        self._arrays: _Arrays | None = None
        self._last: tuple[ActiveLearner, np.ndarray] | None = None
        self.state_ = self._load_or_create()

    # ------------------------------------------------------------------ state file
    def _load_or_create(self) -> dict:
        ws = self.workspace
        card = load_card(ws.files.active_state, version=LEARN_FORMAT_VERSION, what="active-learning state")
        if card is not None:
            return card
        rng = np.random.default_rng(self.seed)
        ids = ws.ids
        unlabelled = np.flatnonzero(~self._catalog_labelled())
        check = np.sort(rng.choice(unlabelled, min(self.check_size, len(unlabelled) // 4), replace=False))
        rest = np.setdiff1d(unlabelled, check)
        stab = np.sort(rng.choice(rest, min(self.stability_size, len(rest)), replace=False))
        return {"version": LEARN_FORMAT_VERSION, "seed": self.seed, "check_ids": ids[check].tolist(),
                "stability_ids": ids[stab].tolist(), "rounds": []}

    def _save(self) -> None:
        self.workspace.files.active.mkdir(exist_ok=True)
        write_card(self.workspace.files.active_state, self.state_)

    def _catalog_labelled(self) -> np.ndarray:
        lab = self.workspace.catalog["labels"]
        return lab.map(lambda v: v is not None and len(v) > 0).to_numpy(bool)

    @property
    def rounds(self) -> list[dict]:
        return list(self.state_["rounds"])

    @property
    def check_ids(self) -> list[str]:
        return list(self.state_["check_ids"])

    # ------------------------------------------------------------------ reading the workspace
    def _load_arrays(self) -> _Arrays:
        from .embeddings import embeddings_key, load_embeddings
        from .knn import has_knn, load_knn, load_knn_card

        ws = self.workspace
        if not ws.files.embeddings.is_file():
            raise WorkspaceError(f"{ws.path} has no embeddings yet: run `eomine embed {ws.path}` (and `eomine knn`)")
        key = (embeddings_key(ws), (load_knn_card(ws) or {}).get("embeddings_key"))
        if self._arrays is not None and self._arrays.key == key:
            return self._arrays
        ids, X = load_embeddings(ws)
        cat = ws.rows_of(ids)
        if (cat < 0).any():
            raise WorkspaceError(f"{ws.files.embeddings} holds patches that are not in the catalog; run "
                                 f"`eomine embed {ws.path} --force`")
        W = None
        if has_knn(ws):
            ind, dist, card = load_knn(ws)
            if card.get("embeddings_key") in (None, key[0]) and len(ind) == len(X):
                W = ActiveLearner.graph_matrix(ind, dist)
        catalog = ws.catalog
        coords = np.c_[catalog["lon"].to_numpy(float)[cat], catalog["lat"].to_numpy(float)[cat]]
        groups = levels = None
        if "parent_id" in catalog.columns and catalog["parent_id"].notna().any():
            groups, levels = _regions(catalog)
            groups, levels = groups[cat], levels[cat]
        self._arrays = _Arrays(ids, cat, X, W, coords, groups, key, levels)
        return self._arrays

    def _labels(self, log):
        """(current labels, labelled (catalog rows), removed, unsure) from the log."""
        cur = log.current_labels()
        labelled = cur.Y_original.any(1) | (cur.decided if cur.decided is not None else False)
        return cur, labelled, cur.excluded, cur.flagged

    # ------------------------------------------------------------------ a round
    def fit(self, log, *, strategy: str = "auto", batch_size: int = 50, single_label: bool | None = None,
            **params) -> tuple[ActiveLearner, dict]:
        """Refit the model on the labels in ``log`` and choose a batch (without recording a round).

        ``single_label``: one label per patch (softmax) or several (one model per class); None: as given in an
        earlier round, else guessed from the labels so far (a first multi-label batch whose patches happen to
        carry one label each would be taken for single-label data: say it).

        Returns
        -------
        learner : ActiveLearner
            Fitted; rows are embedding rows (``learner.batch_``).
        info : dict
            ``labels_given`` (patches a person labelled, check set excluded), ``check`` (metrics on the labelled
            check patches), ``stability`` (agreement with the previous round), ``predicted_stability`` (list of
            label-index lists of the stability patches).
        """
        if strategy not in STRATEGIES:
            raise DataError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
        with self._lock:
            A = self._load_arrays()
            cur, labelled_cat, removed_cat, unsure_cat = self._labels(log)
            rows = A.cat_rows
            labelled = labelled_cat[rows]
            ws = self.workspace
            check = np.zeros(len(ws.ids), bool)
            check[ws.rows_of(self.state_["check_ids"])] = True
            check_e = check[rows]
            recent = self._recently_asked()
            unsure_e = unsure_cat[rows] & np.isin(ws.ids[rows], list(recent)) if recent else np.zeros(len(rows), bool)
            askable = ~labelled & ~removed_cat[rows] & ~check_e & ~unsure_e
            trainable = ~removed_cat[rows] & ~check_e
            seed = self.seed + len(self.state_["rounds"])  # a new draw every round, the same for the same round
            if single_label is None:
                single_label = self.state_.get("single_label")
            else:
                self.state_["single_label"] = bool(single_label)
            groups = A.groups
            if groups is None and strategy == "cascade":
                groups = self._regions(A, params.get("n_groups"))
            learner = ActiveLearner(strategy, batch_size, seed=seed, **params).fit(
                A.X, cur.Y[rows], labelled, classes=cur.classes, graph=A.W, askable=askable, trainable=trainable,
                coords=A.coords, groups=groups, levels=A.levels, single_label=single_label)
            info = self._metrics(learner, cur, labelled, check_e, rows)
            self._last = (learner, rows, cur.version)
            return learner, info

    def _regions(self, A: _Arrays, n_groups: int | None) -> np.ndarray:
        """k-means regions of the embedding for ``cascade`` on a single-scale workspace: computed once per
        session (the same regions every round), seeded by the session's seed."""
        from ._internal.active_kernels import kmeans

        key = ("regions", n_groups)
        if A.extra.get(key) is None:
            k = n_groups or int(np.clip(np.sqrt(len(A.X)), 10, 500))
            A.extra[key] = kmeans(A.X, k, seed=self.seed)[0].astype(np.int64)
        return A.extra[key]

    def _recently_asked(self) -> set[str]:
        out: set[str] = set()
        for r in self.state_["rounds"][-self.unsure_rounds:] if self.unsure_rounds else []:
            out.update(r["asked"])
        return out

    def _metrics(self, learner, cur, labelled, check_e, rows) -> dict:
        single = learner.single_label_
        chk = np.flatnonzero(check_e & labelled)
        check = evaluate(cur.Y[rows][chk], learner.predicted_[chk], single_label=single)
        ws = self.workspace
        stab_cat = ws.rows_of(self.state_["stability_ids"])
        pos = pd.Index(rows).get_indexer(stab_cat)
        pos = pos[pos >= 0]
        pred = learner.predicted_[pos]
        enc = [np.flatnonzero(p).tolist() for p in pred]
        prev = self.state_["rounds"][-1].get("predicted_stability") if self.state_["rounds"] else None
        if prev is not None and len(prev) == len(enc):
            P0 = np.zeros(pred.shape, bool)
            for i, cs in enumerate(prev):
                P0[i, cs] = True
            stability = agreement(P0, pred)
        else:
            stability = {"agreement": None, "kappa": None}
        given = int((labelled & ~check_e).sum())
        return {"labels_given": given, "check_labelled": int(len(chk)), "check": check, "stability": stability,
                "predicted_stability": enc}

    def next_batch(self, log, *, strategy: str = "auto", batch_size: int = 50, single_label: bool | None = None,
                   **params) -> Batch:
        """Refit, choose the next batch and record the round (``state.json``).

        Parameters
        ----------
        log : EditLog
        strategy : str
            One of :data:`mining.active.STRATEGIES`.
        batch_size : int
        **params
            Other :class:`~mining.active.ActiveLearner` options (``min_distance_km``, ``class_balance``, ...).

        Returns
        -------
        Batch
        """
        t0 = time.perf_counter()
        with self._lock:
            learner, info = self.fit(log, strategy=strategy, batch_size=batch_size, single_label=single_label,
                                     **params)
            A = self._arrays
            rnd = len(self.state_["rounds"]) + 1
            classes = log.current_labels().classes
            b = learner.batch_
            pids = tuple(str(p) for p in A.ids[b])
            pred = tuple(tuple(classes[j] for j in np.flatnonzero(learner.predicted_[r])) for r in b)
            conf = tuple(float(x) for x in learner.proba_[b].max(1))
            record = {"round": rnd, "strategy": learner.strategy_, "asked_strategy": strategy,
                      "batch_size": int(batch_size), "asked": list(pids), "log_version": int(log.version()),
                      "params": {k: v for k, v in params.items()}, **info,
                      "seconds": {**{k: round(v, 3) for k, v in learner.seconds_.items()},
                                  "round": round(time.perf_counter() - t0, 3)},
                      "time": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")}
            self.state_["rounds"].append(record)
            self._save()
            return Batch(rnd, learner.strategy_, pids, pred, conf)

    def check_batch(self, log, *, limit: int | None = None) -> Batch:
        """The check-set patches nobody has labelled yet (round 0), pre-filled with the current model's labels
        when a round was fitted in this session."""
        cur, labelled, _, _ = self._labels(log)
        rows = self.workspace.rows_of(self.state_["check_ids"])
        todo = rows[~labelled[rows]][:limit]
        pids = tuple(str(p) for p in self.workspace.ids[todo])
        pred: tuple = tuple(() for _ in pids)
        conf: tuple = ()
        if self._last is not None:
            learner, erows, _ = self._last
            pos = pd.Index(erows).get_indexer(todo)
            pred = tuple(tuple(cur.classes[j] for j in np.flatnonzero(learner.predicted_[p])) if p >= 0 else ()
                         for p in pos)
            conf = tuple(float(learner.proba_[p].max()) if p >= 0 else 0.0 for p in pos)
        return Batch(0, "check", pids, pred, conf)

    # ------------------------------------------------------------------ answers
    def edits_for(self, batch: Batch, labels: dict, *, unsure=(), removed=()) -> tuple[list, str, str]:
        """The edits, note and source that answer ``batch`` (for a caller that commits through its own edit path,
        as the app does; :meth:`answer` commits them itself).

        Parameters
        ----------
        batch : Batch
        labels : dict of str -> sequence of str
            The label set of each answered patch.
        unsure, removed : sequence of str

        Returns
        -------
        edits : list of Edit
            ``set`` per labelled patch, ``flag`` per unsure one, ``exclude`` per removed one.
        note : str
        source : str
            ``learn:r<round>:<strategy>`` (``learn:check`` for the check set).
        """
        from .curation import Edit

        skip = set(unsure) | set(removed)
        edits = [Edit(pid, "set", labels=tuple(v)) for pid, v in labels.items() if pid not in skip]
        edits += [Edit(pid, "flag") for pid in unsure]
        edits += [Edit(pid, "exclude") for pid in removed]
        what = "check set" if batch.round == 0 else f"round {batch.round} ({batch.strategy})"
        n_lab = len([p for p in labels if p not in skip])
        note = f"active learning, {what}: {n_lab} labelled" + (f", {len(unsure)} unsure" if unsure else "") + (
            f", {len(removed)} removed" if removed else "")
        return edits, note, batch.source

    def answer(self, log, batch: Batch, labels: dict, *, author: str, unsure=(), removed=(),
               request_id: str | None = None, note: str = "") -> int | None:
        """Write a batch's answers to the edit log in one batch (undoable).

        Parameters
        ----------
        log : EditLog
        batch : Batch
            The question answered (its round and strategy become the edits' source).
        labels : dict of str -> sequence of str
            The label set of each answered patch (accepting the prediction = passing it back).
        author : str
        unsure : sequence of str
            Patches the curator could not decide: flagged, not asked again for ``unsure_rounds`` rounds.
        removed : sequence of str
            Patches removed from training: excluded (stay in the dataset).

        Returns
        -------
        int or None
            The log's batch id (None when there was nothing to write).
        """
        edits, auto_note, source = self.edits_for(batch, labels, unsure=unsure, removed=removed)
        if not edits:
            return None
        return log.commit(edits, author=author, note=note or auto_note, source=source, request_id=request_id)

    def curve(self) -> pd.DataFrame:
        """One row per round: ``round, strategy, labels_given, accuracy, low, high, macro_f1, n_check, agreement,
        kappa, seconds``: the learning curve on the check set and the stopping signal."""
        rows = []
        for r in self.state_["rounds"]:
            c, s = r.get("check", {}), r.get("stability", {})
            rows.append({"round": r["round"], "strategy": r["strategy"], "labels_given": r["labels_given"],
                         "accuracy": c.get("accuracy"), "low": c.get("low"), "high": c.get("high"),
                         "macro_f1": c.get("macro_f1"), "n_check": c.get("n", 0),
                         "agreement": s.get("agreement"), "kappa": s.get("kappa"),
                         "seconds": r.get("seconds", {}).get("round")})
        return pd.DataFrame(rows, columns=["round", "strategy", "labels_given", "accuracy", "low", "high",
                                           "macro_f1", "n_check", "agreement", "kappa", "seconds"])

    def predictions(self, log) -> pd.DataFrame:
        """Every patch's predicted labels from a model fitted on the current labels (catalog order).

        Returns
        -------
        DataFrame
            ``patch_id, predicted (list of str), confidence, uncertainty, labelled (bool: a person labelled it),
            labels (list of str: the labels given, empty when none), proba (float32 array, one per class)``.
            Patches without an embedding have empty predictions and NaN probabilities.
        """
        cur, labelled, _, _ = self._labels(log)
        last = self._last
        if last is not None and last[2] == cur.version:  # the model of the last round saw exactly these labels
            learner = last[0]
        else:
            learner, _ = self.fit(log, strategy="random", batch_size=1)
        from .quality import label_lists

        A = self._arrays
        n = len(self.workspace.ids)
        Yp = np.zeros((n, len(cur.classes)), bool)
        Yp[A.cat_rows] = learner.predicted_
        P = np.full((n, len(cur.classes)), np.nan, np.float32)
        P[A.cat_rows] = learner.proba_
        conf = np.full(n, np.nan, np.float32)
        unc = np.full(n, np.nan, np.float32)
        conf[A.cat_rows] = learner.proba_.max(1)
        unc[A.cat_rows] = learner.uncertainty_
        pred, proba = label_lists(Yp, cur.classes), list(P)
        return pd.DataFrame({"patch_id": self.workspace.ids, "predicted": pred, "confidence": conf,
                             "uncertainty": unc, "labelled": labelled, "labels": cur.lists(), "proba": proba})


def _regions(catalog: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(the coarsest ancestor of every catalog row as a code, each row's scale) from ``parent_id``."""
    from .splits import regions

    ids = catalog["patch_id"].to_numpy(object)
    levels = catalog["scale_m"].to_numpy(float) if "scale_m" in catalog.columns else np.ones(len(ids))
    return regions(catalog), levels


def write_predictions(session: LabellingSession, log) -> pd.DataFrame:
    """Write ``WS/active/predictions.parquet`` (:meth:`LabellingSession.predictions`, plus the classes and the
    log version in its schema metadata) and return the frame."""
    df = session.predictions(log)
    ws = session.workspace
    ws.files.active.mkdir(exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = {"format_version": str(LEARN_FORMAT_VERSION), "classes": json.dumps(list(ws.nomenclature.classes)),
            "edits_version": str(log.version())}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **{k.encode(): v.encode()
                                                                              for k, v in meta.items()}})
    write_parquet(table, ws.files.predictions)
    return df


def load_predictions(ws: Workspace) -> pd.DataFrame:
    """Read ``WS/active/predictions.parquet`` (raises :class:`WorkspaceError` naming the command to run)."""
    import pyarrow.parquet as pq

    path = ws.files.predictions
    if not path.is_file():
        raise WorkspaceError(f"{ws.path} has no predictions yet: run `eomine learn {ws.path}`")
    t = pq.read_table(path)
    version = int((t.schema.metadata or {}).get(b"format_version", b"0"))
    if version != LEARN_FORMAT_VERSION:
        raise WorkspaceError(f"{path} has format version {version}; this eomine reads {LEARN_FORMAT_VERSION}")
    return t.to_pandas()


def oracle_labels(ws: Workspace) -> pd.Series:
    """The true labels a simulated curator answers with (``eomine learn --oracle catalog``), by patch id.

    The demo's ground truth ``gt_labels`` when the catalog has it, else ``true_labels`` (kept aside by
    ``eomine ingest --drop-labels``), else the catalog's ``labels``.
    """
    cat = ws.catalog
    for col in ("gt_labels", "true_labels", "labels"):
        if col in cat.columns and cat[col].map(lambda v: v is not None and len(v) > 0).any():
            return pd.Series([list(v) if v is not None else [] for v in cat[col]], index=cat["patch_id"], name=col)
    raise DataError(f"{ws.path}: the catalog has no labels an oracle could answer with")



