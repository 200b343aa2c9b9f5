"""Noisy-label detection: which labels look wrong, how suspicious each patch is, and why.

The rule (multi-label from the start; single-label data is the special case of one label per patch)
-------------------------------------------------------------------------------------------------------
For every patch ``i`` and class ``c`` the scorer combines three pieces of evidence into a class probability

* **neighbour support** ``S[i, c]``: the similarity-weighted share of the patch's k stored neighbours
  (``knn/``; never a second search) that carry ``c``; weights are the cosine similarities ``1 - d``, and
  the share is smoothed towards the class frequency with ``smoothing`` pseudo-neighbours;
* **model probability** ``P[i, c]``: out-of-fold probability of a logistic regression trained on the
  embeddings (``n_folds``-fold; one-vs-rest for multi-label data);
* ``q[i, c] = (1 - w[c]) * S[i, c] + w[c] * P[i, c]``, with ``w[c]`` = ``model_weight``, or with
  ``model_weight="auto"`` (the default) the value on the grid 0, 0.1, ..., 1 whose ``q[:, c]`` has the least
  log-loss against the given labels (on at most 100,000 random rows).

Confident learning then sets one threshold per class, ``t[c]`` = the mean of ``q[:, c]`` over the patches
labelled ``c`` (how confident the evidence typically is for a true member of ``c``), and turns ``q`` into
evidence against the given labels:

* **likely spurious** (``c`` present): ``spurious = clip(1 - q / t[c], 0, 1) * (1 - prior_weight * prior)``
  where ``prior[i, c]`` = max over the patch's other labels ``a`` of ``P(c | a)`` in the dataset
  (label co-occurrence): a label that usually comes with the patch's other labels (arable land with complex
  cultivation patterns) needs stronger evidence before it is called spurious;
* **likely missing** (``c`` absent):
  ``missing = clip(missing_gain * (q - m[c]) / (1 - m[c]), 0, 1)`` with ``m[c] = missing_start * t[c]``: the
  evidence starts below a typical member's (``missing_start`` 0.7) and rises ``missing_gain`` (1.5) times
  faster, which puts "missing" on the same scale as "spurious" (a dropped label rarely reaches a typical
  member's evidence, since the neighbours and the model saw the patch without it). This scale is for
  multi-label data. Single-label data uses start ``t[c]`` and slope 1, because there a wrong label always
  shows as "spurious" on the given one. For a patch without any label, ``missing = clip(q / t[c], 0, 1)``;
* **outlier** (``c`` present): the class-conditional kNN distance (mean distance to the 3 nearest
  neighbours carrying ``c``) as a robust z-score among the members of ``c``,
  ``outlier = clip((z - 2) / 4, 0, 1)``; it counts with weight ``outlier_weight``.

**Patch score** = the largest of the patch's evidence values (spurious, missing and
``outlier_weight * outlier``): one strong piece of evidence suffices, and a patch with many labels is not
suspicious just for having many weak ones. Patches are ranked by it (rank 1 = most suspicious); ``score >= flag_threshold`` flags a patch.
**Suggested labels** (flagged patches; the others keep their labels): single-label data: the class of
highest ``suggest_q``; multi-label data: the given labels without the spurious ones (``spurious >= 0.5``) plus
the missing ones (``missing >= 0.5``), never empty (the class of highest ``suggest_q`` when they would be).
``suggest_q`` is ``q`` built from the evidence a reviewer is shown: the neighbour support of the neighbours'
*given* labels (never of other suspects' suggestions, see the refinement below), weighted towards the nearest
neighbours (:func:`neighbour_weights`: ``exp(-(d - d_1) / mean(d - d_1))``, scale-free), blended with ``P``
by per-class weights chosen as for ``q``. The score keeps ``S`` and ``q`` as above: the class to suggest is
the one the patch is most like, the nearest neighbours first, while the suspicion of a label is judged on the
whole neighbourhood. (With ``1 - d`` weights the 30th of 30 neighbours weighs about 0.99 of the first on
compact embeddings, so a suggestion from ``q`` was a flat vote of all k, partly of other suspects' guesses:
on real EuroSAT it named a land class for a lake whose 10 nearest neighbours are mostly water.)
**Refinement** (``refine`` passes, default 1): the neighbour support is computed again with every flagged
neighbour voting with the labels ``q`` would suggest it (as above, the class of highest ``q`` rather than of
``suggest_q``) instead of its given ones, and everything above is redone (the model probabilities, the prior
and the outlier evidence are kept), so wrong labels in one neighbourhood do not hide each other. The
refinement only sharpens the score: the suggestion is never built on these votes.

Every component is kept (``scores.parquet``) so the app can explain a flag in words (:func:`explain`).
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

from ._internal.artifacts import file_hash, load_card, params_hash, write_card
from ._internal.validation import SEED, Interval, Options, validate_params
from .errors import DataError, WorkspaceError
from .progress import ProgressCallback, report
from .workspace import Workspace, atomic_write

__all__ = ["NoiseScorer", "score_workspace", "load_scores", "load_scores_card", "scores_stamp", "explain", "KINDS",
           "SCORES_FORMAT_VERSION", "neighbour_weights"]

SCORES_FORMAT_VERSION = 1
#: revision of the scoring rule, part of the stored scores' key: scores of an earlier rule are recomputed by
#: the next `eomine score` (the file format is unchanged). 2: suggestions from the given labels' evidence,
#: nearest neighbours first (``suggest_q_``)
SCORER_METHOD = 2
#: kinds of suspicion, in the order the review queue offers them
KINDS = ("spurious", "missing", "outlier")
KIND_TEXT = {"spurious": "likely spurious label", "missing": "likely missing label", "outlier": "outlier",
             "none": "no suspicion"}


class NoiseScorer:
    """Rank patches by how likely their labels are wrong, from the kNN graph, a classifier and label priors.

    Parameters
    ----------
    model_weight : float or "auto"
        Weight of the out-of-fold model probability against the neighbour support in ``q`` (0: neighbours
        only, 1: model only); ``"auto"`` picks it per class (least log-loss against the given labels).
    prior_weight : float
        How much a frequent co-occurrence of a label with the patch's other labels discounts its
        "spurious" evidence (0: no prior).
    outlier_weight : float
        Weight of the class-conditional distance evidence in the patch score.
    smoothing : float
        Pseudo-neighbours (total weight) pulling the neighbour support towards the class frequency.
    n_folds : int
        Folds of the out-of-fold classifier.
    C : float
        Inverse regularisation of the logistic regression.
    max_train : int or None
        Rows per fold the classifier trains on (a random subset; None = all).
    flag_threshold : float
        ``score >= flag_threshold`` flags a patch.
    missing_start : float
        Where the "missing" evidence of an absent class starts, as a fraction of the class threshold ``t``
        (multi-label data; single-label data uses 1).
    missing_gain : float
        Slope multiplier of the "missing" evidence (multi-label data; single-label data uses 1).
    refine : int
        Extra passes in which the neighbour support is recomputed with the flagged neighbours voting with
        their suggested labels instead of their given ones (0: one pass).
    seed : int
        Seeds the folds and subsamples: same inputs and seed give identical scores.

    Attributes
    ----------
    support_ : ndarray of float32, shape (n, C)
        Smoothed similarity-weighted neighbour support ``S``.
    proba_ : ndarray of float32, shape (n, C)
        Out-of-fold model probabilities ``P`` (given or computed).
    model_weights_ : ndarray of float32, shape (C,)
        Weight ``w[c]`` of ``P`` in ``q`` per class.
    q_ : ndarray of float32, shape (n, C)
        Combined class probability.
    thresholds_ : ndarray of float32, shape (C,)
        Per-class confident-learning thresholds ``t``.
    prior_ : ndarray of float32, shape (n, C)
        Co-occurrence prior of each class given the patch's other labels.
    cooccurrence_ : ndarray of float32, shape (C, C)
        ``P(c | a)`` in the given labels.
    class_distance_ : ndarray of float32, shape (n, C)
        Mean distance to the 3 nearest neighbours carrying each class.
    spurious_, missing_, outlier_ : ndarray of float32, shape (n, C)
        Evidence per (patch, class), 0 where it does not apply.
    scores_ : ndarray of float32, shape (n,)
        Patch suspicion in [0, 1].
    rank_ : ndarray of int32, shape (n,)
        1 = most suspicious (ties broken by row order).
    kind_ : ndarray of str, shape (n,)
        Dominant kind of evidence: ``spurious``, ``missing``, ``outlier`` or ``none``.
    suggested_ : ndarray of bool, shape (n, C)
        Suggested label set (the given one for patches that are not flagged).
    suggest_support_ : ndarray of float32, shape (n, C)
        Neighbour support of the given labels weighted towards the nearest neighbours
        (:func:`neighbour_weights`), smoothed as ``S``.
    suggest_weights_ : ndarray of float32, shape (C,)
        Model weight per class in ``suggest_q_`` (chosen as ``model_weights_``).
    suggest_q_ : ndarray of float32, shape (n, C)
        The evidence the suggestion picks a class by.
    flagged_ : ndarray of bool, shape (n,)
    single_label_ : bool
        Every patch carries exactly one label.
    seconds_ : dict
        Time of each part (``neighbours``, ``model``, ``combine``).
    """

    _parameter_constraints = {
        "model_weight": [Interval(float, 0, 1), Options(("auto",))],
        "prior_weight": [Interval(float, 0, 1)],
        "outlier_weight": [Interval(float, 0, 1)],
        "smoothing": [Interval(float, 0, None)],
        "n_folds": [Interval(int, 2, None)],
        "C": [Interval(float, 0, None, closed="neither")],
        "max_train": [Interval(int, 1, None), None],
        "flag_threshold": [Interval(float, 0, 1, closed="right")],  # 0 would flag every patch
        "missing_start": [Interval(float, 0, 1, closed="right")],
        "missing_gain": [Interval(float, 0, None, closed="neither")],
        "refine": [Interval(int, 0, None)],
        "seed": [SEED],
    }

    def __init__(self, *, model_weight: float | str = "auto", prior_weight: float = 0.75, outlier_weight: float = 0.3,
                 smoothing: float = 1.0, n_folds: int = 5, C: float = 1.0, max_train: int | None = 10000,
                 flag_threshold: float = 0.6, missing_start: float = 0.7, missing_gain: float = 1.5,
                 refine: int = 1, seed: int = 0):
        self.model_weight = model_weight
        self.prior_weight = prior_weight
        self.outlier_weight = outlier_weight
        self.smoothing = smoothing
        self.n_folds = n_folds
        self.C = C
        self.max_train = max_train
        self.flag_threshold = flag_threshold
        self.missing_start = missing_start
        self.missing_gain = missing_gain
        self.refine = refine
        self.seed = seed

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in ("model_weight", "prior_weight", "outlier_weight", "smoothing",
                                              "n_folds", "C", "max_train", "flag_threshold", "missing_start",
                                              "missing_gain", "refine", "seed")}

    def _validate(self, X, Y, indices, distances, proba):
        Y = np.asarray(Y, dtype=bool)
        if Y.ndim != 2 or Y.shape[1] < 2:
            raise DataError(f"labels must be a multi-hot matrix (n, >= 2 classes), got shape {Y.shape}")
        n = len(Y)
        indices = np.asarray(indices)
        distances = np.asarray(distances, dtype=np.float32)
        if indices.shape != distances.shape or indices.ndim != 2 or len(indices) != n:
            raise DataError(f"kNN graph of shape {indices.shape} / {distances.shape} does not match {n} patches")
        if indices.size and (indices.max() >= n):
            raise DataError(f"kNN graph points at row {int(indices.max())} but there are only {n} patches")
        if X is not None:
            X = np.asarray(X, dtype=np.float32)
            if X.ndim != 2 or len(X) != n:
                raise DataError(f"embeddings of shape {X.shape} do not match {n} patches")
        if proba is not None:
            proba = np.asarray(proba, dtype=np.float32)
            if proba.shape != Y.shape:
                raise DataError(f"probabilities of shape {proba.shape} do not match labels {Y.shape}")
        elif X is None:
            raise ValueError("give the embeddings X (for the out-of-fold model) or precomputed proba")
        return X, Y, indices, distances, proba

    def fit(self, X: np.ndarray | None, Y: np.ndarray, indices: np.ndarray, distances: np.ndarray, *,
            proba: np.ndarray | None = None) -> NoiseScorer:
        """Score every row.

        Parameters
        ----------
        X : ndarray, shape (n, d), or None
            Embeddings the classifier is trained on (None when ``proba`` is given).
        Y : ndarray of bool, shape (n, C)
            Given (possibly noisy) labels. A patch without any label can only get "missing" evidence.
        indices : ndarray of int, shape (n, k)
            Stored kNN graph (rows of X, self excluded, nearest first).
        distances : ndarray of float, shape (n, k)
            Cosine distances of the graph.
        proba : ndarray, shape (n, C), optional
            Precomputed out-of-fold probabilities (skips the classifier; used to give eomine and cleanlab
            the very same probabilities).

        Returns
        -------
        self
        """
        from ._internal.noise_kernels import cooccurrence_prior

        validate_params(self)
        X, Y, indices, distances, proba = self._validate(X, Y, indices, distances, proba)
        self.single_label_ = bool((Y.sum(1) == 1).all())
        t0 = time.perf_counter()
        w = np.clip(1.0 - distances, 1e-3, None).astype(np.float32)
        raw, wsum, cdist = self._evidence(indices, distances, w, Y)
        self.class_distance_ = cdist
        # the suggestion's neighbour evidence: the given labels, the nearest neighbours weighing most
        s_raw, s_wsum, _ = self._evidence(indices, distances, neighbour_weights(distances, indices), Y)
        t1 = time.perf_counter()
        if proba is None:
            proba = self._oof(X, Y)
        self.proba_ = proba
        t2 = time.perf_counter()
        self.suggest_support_ = self._smooth(Y, s_raw, s_wsum)
        self.suggest_weights_ = self._blend_weights(Y, self.suggest_support_, proba)
        mw = self.suggest_weights_[None, :]
        self.suggest_q_ = ((1 - mw) * self.suggest_support_ + mw * proba).astype(np.float32)
        co = (Y.T.astype(np.float32) @ Y.astype(np.float32))
        self.cooccurrence_ = (co / np.maximum(np.diag(co), 1)[:, None]).astype(np.float32)
        self.prior_ = cooccurrence_prior(Y, self.cooccurrence_)
        self.outlier_ = _class_outliers(cdist, Y)
        self._combine(Y, raw, wsum)
        t_nb = t1 - t0
        for _ in range(self.refine):
            # the neighbours' labels as the previous pass would fix them: flagged neighbours vote with their
            # suggested labels, so a few wrong labels in a neighbourhood do not hide each other
            t3 = time.perf_counter()
            voted = np.where(self.flagged_[:, None], self._votes, Y)
            raw, wsum, _ = self._evidence(indices, distances, w, voted)
            t_nb += time.perf_counter() - t3
            self._combine(Y, raw, wsum)
        self.seconds_ = {"neighbours": round(t_nb, 3), "model": round(t2 - t1, 3),
                         "combine": round(time.perf_counter() - t2 - (t_nb - (t1 - t0)), 3)}
        return self

    def _evidence(self, indices, distances, w, Y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Neighbour support, weight sums and class distances of every row (the Ray backend: per shard)."""
        from ._internal.noise_kernels import neighbour_evidence

        return neighbour_evidence(indices, distances, w, Y)

    def _oof(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Out-of-fold model probabilities (the Ray backend: one task per fold)."""
        from ._internal.noise_model import oof_probabilities

        return oof_probabilities(X, Y, n_folds=self.n_folds, C=self.C, max_train=self.max_train, seed=self.seed)

    def _combine(self, Y: np.ndarray, raw: np.ndarray, wsum: np.ndarray) -> None:
        """Support, ``q``, thresholds, evidence, scores, ranks, kinds, flags and suggestions of one pass."""
        n = len(Y)
        self.support_ = self._smooth(Y, raw, wsum)
        proba = self.proba_
        self.model_weights_ = self._blend_weights(Y, self.support_, proba)
        mw = self.model_weights_[None, :]
        q = ((1 - mw) * self.support_ + mw * proba).astype(np.float32)
        self.q_ = q
        counts = np.maximum(Y.sum(0), 1)
        t = ((q * Y).sum(0) / counts).astype(np.float32)
        t = np.where(Y.any(0), t, np.float32(1.0))
        t = np.clip(t, 1e-3, 1 - 1e-3)
        self.thresholds_ = t
        sp = np.clip(1 - q / t, 0, 1) * (1 - np.float32(self.prior_weight) * self.prior_)
        self.spurious_ = np.where(Y, sp, 0).astype(np.float32)
        # single-label data: a wrong label always shows as "spurious" on the given one, the old scale stays
        start, gain = (1.0, 1.0) if self.single_label_ else (self.missing_start, self.missing_gain)
        m = np.float32(start) * t
        self.missing_ = np.where(Y, 0, np.clip(np.float32(gain) * (q - m) / (1 - m), 0, 1)).astype(np.float32)
        empty = ~Y.any(1)
        if empty.any():  # no label at all: every class is missing as much as its evidence reaches a member's
            self.missing_[empty] = np.clip(q[empty] / t, 0, 1)
        ow = np.float32(self.outlier_weight)
        self.scores_ = np.maximum(np.maximum(self.spurious_.max(1), self.missing_.max(1)),
                                  ow * self.outlier_.max(1)).astype(np.float32)
        order = np.lexsort((np.arange(n), -self.scores_))
        self.rank_ = np.empty(n, dtype=np.int32)
        self.rank_[order] = np.arange(1, n + 1, dtype=np.int32)
        strength = np.stack([self.spurious_.max(1), self.missing_.max(1), ow * self.outlier_.max(1)], axis=1)
        kind = np.array(KINDS, dtype=object)[strength.argmax(1)]
        kind[strength.max(1) <= 0] = "none"
        self.kind_ = kind
        self.flagged_ = self.scores_ >= self.flag_threshold
        self.suggested_ = self._suggest(Y, self.suggest_q_)
        # what a flagged patch votes with in the next refinement pass: picked by q, as the score's own evidence
        self._votes = self._suggest(Y, q)

    def _smooth(self, Y: np.ndarray, raw: np.ndarray, wsum: np.ndarray) -> np.ndarray:
        """Neighbour support: weighted class shares pulled towards the class frequency by ``smoothing``."""
        freq = Y.mean(0).astype(np.float32)
        a = np.float32(self.smoothing)
        return ((raw + a * freq) / (wsum[:, None] + a)).astype(np.float32)

    def _blend_weights(self, Y: np.ndarray, S: np.ndarray, P: np.ndarray) -> np.ndarray:
        """Per-class model weight: the given one, or (``"auto"``) the grid value of least log-loss vs Y."""
        C = Y.shape[1]
        if self.model_weight != "auto":
            return np.full(C, float(self.model_weight), dtype=np.float32)
        grid = np.linspace(0, 1, 11, dtype=np.float32)
        if len(Y) > 100_000:  # the weights are 19 numbers: a random 100,000 rows decide them as well as all
            rows = np.sort(np.random.default_rng(self.seed).choice(len(Y), 100_000, replace=False))
            Y, S, P = Y[rows], S[rows], P[rows]
        Yf = Y.astype(np.float32)
        loss = np.empty((len(grid), C), dtype=np.float64)
        for g, wg in enumerate(grid):
            q = np.clip((1 - wg) * S + wg * P, 1e-4, 1 - 1e-4)
            loss[g] = -(Yf * np.log(q) + (1 - Yf) * np.log1p(-q)).mean(0)
        return grid[loss.argmin(0)]

    def _suggest(self, Y: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Suggested label sets: a change only for flagged patches, the given labels for the others. ``q``
        ranks the classes where one is picked (single-label data; a multi-label set that would be empty):
        :attr:`suggest_q_`."""
        n, C = Y.shape
        best = np.zeros((n, C), dtype=bool)
        best[np.arange(n), q.argmax(1)] = True
        if self.single_label_:
            s = best
        else:
            s = (Y & (self.spurious_ < 0.5)) | (self.missing_ >= 0.5)
            empty = ~s.any(1)
            s[empty] = best[empty]
        return np.where(self.flagged_[:, None], s, Y)


def neighbour_weights(distances: np.ndarray, indices: np.ndarray | None = None) -> np.ndarray:
    """The weight of each stored neighbour in the neighbour support, from its distance relative to the
    patch's own neighbourhood.

    ``w[i, j] = exp(-(d[i, j] - d[i, 1]) / mean_j(d[i, j] - d[i, 1]))``, rescaled so that each row sums to its
    number of neighbours: scale-free (an embedding whose cosine distances are all about 0.01 is weighted as
    one whose distances are about 0.3), the nearest neighbour counts most, and the ``smoothing``
    pseudo-neighbours keep the weight of one neighbour each. A row whose neighbours are all equally far gets
    equal weights; missing neighbours (index < 0, or a non-finite distance) weigh 0.

    Parameters
    ----------
    distances : ndarray of float, shape (n, k)
        Distances of the stored kNN graph, nearest first.
    indices : ndarray of int, shape (n, k), optional
        The neighbours (negative: none).

    Returns
    -------
    ndarray of float32, shape (n, k)
    """
    D = np.asarray(distances, dtype=np.float32)
    ok = np.isfinite(D)
    if indices is not None:
        ok &= np.asarray(indices) >= 0
    n_ok = ok.sum(1, keepdims=True, dtype=np.float32)
    if ok.all():  # the usual graph: every patch has its k neighbours (float32, in place: 549,488 x 30 in ~0.5 s)
        gap = D - D.min(1, keepdims=True)
    else:
        nearest = np.where(ok, D, np.inf).min(1, keepdims=True) if D.size else np.zeros((len(D), 1), np.float32)
        gap = np.where(ok, D - np.where(np.isfinite(nearest), nearest, 0), 0).astype(np.float32)
    scale = gap.sum(1, keepdims=True) / np.maximum(n_ok, 1)
    gap /= np.where(scale > 0, scale, 1)
    w = np.exp(-gap, out=gap)
    if not ok.all():
        w[~ok] = 0
    w *= n_ok / np.maximum(w.sum(1, keepdims=True), np.float32(1e-12))
    return w


def _class_outliers(cdist: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Robust z-score of the class-conditional distance among the class's members, mapped to [0, 1]."""
    out = np.zeros(Y.shape, dtype=np.float32)
    for c in range(Y.shape[1]):
        members = Y[:, c]
        if members.sum() < 5:
            continue
        d = cdist[members, c]
        med = np.median(d)
        mad = 1.4826 * np.median(np.abs(d - med)) + 1e-6
        out[members, c] = np.clip(((d - med) / mad - 2.0) / 4.0, 0, 1)
    return out


# ----------------------------------------------------------------------------------------------- workspace
def _current_labels(ws: Workspace, catalog_hash: str):
    """The catalog's labels after the curation log's edits, and a hash of their content (``catalog_hash``:
    :func:`file_hash` of the catalog, which the caller also records).

    The hash (not the log's version) keys the stored scores, so decisions that leave every label as it was
    (keep, flag, exclude) do not make the scores stale.
    """
    import hashlib

    from .curation import open_log

    log = open_log(ws, create=False)
    try:
        cur = log.current_labels()
    finally:
        log.close()
    h = hashlib.blake2b(digest_size=8)
    h.update(catalog_hash.encode())
    h.update("\x1f".join(ws.nomenclature.classes).encode())
    h.update(np.packbits(np.ascontiguousarray(cur.Y, dtype=bool), axis=None).tobytes())
    return cur, h.hexdigest()


def _scored_labels(cur, ids: np.ndarray, ws: Workspace) -> np.ndarray:
    """Labels of the embedded patches after the curation log's edits (the catalog's when there are none)."""
    rows = ws.rows_of(ids)
    if (rows < 0).any():
        raise WorkspaceError(f"{ws.path}/embeddings.parquet: patch {ids[int(np.argmax(rows < 0))]!r} "
                             f"is not in the catalog")
    return cur.Y[rows]


def score_workspace(ws: Workspace, *, force: bool = False, progress: ProgressCallback | None = None,
                    cluster=None, **params) -> tuple[dict, bool]:
    """Score a workspace and write ``scores.parquet`` + ``scores.json``; skipped when up to date.

    Parameters
    ----------
    ws : Workspace
        With embeddings and the kNN graph.
    force : bool
        Recompute even when the card's key matches.
    progress : callable, optional
        Called with a :class:`mining.progress.Progress` after each part (load, fit, write).
    cluster : mining.distributed.RayCluster, optional
        Entered: score on Ray (:class:`mining.distributed.score.RayNoiseScorer`; the same scores, so the same
        key: scores made by either backend are up to date for the other).
    **params
        :class:`NoiseScorer` parameters.

    Returns
    -------
    card : dict
        The ``scores.json`` card.
    skipped : bool
        True when the stored scores were up to date.

    Raises
    ------
    WorkspaceError
        Another scoring of the same workspace is running, or an input artifact is missing or stale.
    """
    with _score_lock(ws):
        return _score_workspace(ws, force=force, progress=progress, cluster=cluster, **params)


@contextmanager
def _score_lock(ws: Workspace):
    """One scoring per workspace at a time (CLI and dashboard alike): a second one is refused, not queued."""
    import fcntl

    path = ws.files.score_lock
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceError(f"{ws.path}: another scoring of this workspace is running (lock {path.name}); "
                                 "wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _score_workspace(ws: Workspace, *, force: bool, progress: ProgressCallback | None, cluster=None,
                     **params) -> tuple[dict, bool]:
    from .embeddings import embeddings_key, load_embeddings
    from .knn import load_knn

    if cluster is None:
        scorer = NoiseScorer(**params)
    else:
        from .distributed.score import RayNoiseScorer

        scorer = RayNoiseScorer(cluster=cluster, **params)
    ind, dist, kcard = load_knn(ws)
    metric = kcard.get("params", {}).get("metric", "cosine")
    if metric != "cosine":  # neighbour weights are 1 - cosine distance
        raise WorkspaceError(f"{ws.files.knn_card}: noise scoring needs a cosine kNN graph, this one is "
                             f"{metric}: run `eomine knn {ws.path} --metric cosine --force`")
    catalog_hash = file_hash(ws.catalog_path)
    cur, labels_hash = _current_labels(ws, catalog_hash)
    labels_src = f"{catalog_hash}+{cur.version}"  # the log version those labels were read at
    key = params_hash({"params": scorer.get_params(), "knn_key": kcard.get("key"),
                       "embeddings_key": embeddings_key(ws), "labels": labels_hash, "method": SCORER_METHOD})
    card = load_scores_card(ws)
    if not force and card and card.get("key") == key and ws.files.scores.is_file():
        return card, True
    t0 = time.perf_counter()
    ids, X = load_embeddings(ws)
    if len(ids) != len(ind):
        raise WorkspaceError(f"{ws.path}/knn has {len(ind)} rows but embeddings.parquet {len(ids)}: "
                             f"run `eomine knn {ws.path} --force`")
    Y = _scored_labels(cur, ids, ws)
    t_load = time.perf_counter() - t0
    report(progress, "load", f"loaded {len(ids):,} patches in {time.perf_counter() - t0:.1f} s", 0.2)
    scorer.fit(X, Y, ind, dist)
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in scorer.seconds_.items())
    report(progress, "fit", f"scored in {sum(scorer.seconds_.values()):.1f} s ({parts})", 0.9)
    t1 = time.perf_counter()
    _write_scores(ws, ids, Y, scorer)
    classes = ws.nomenclature.classes
    card = {"format": "eomine-scores", "version": SCORES_FORMAT_VERSION, "params": scorer.get_params(),
            "knn_key": kcard.get("key"), "k": int(ind.shape[1]), "embeddings_key": embeddings_key(ws),
            "labels": labels_src, "labels_hash": labels_hash, "method": SCORER_METHOD, "n": int(len(ids)),
            "n_flagged": int(scorer.flagged_.sum()),
            "single_label": scorer.single_label_,
            "thresholds": {c: round(float(v), 4) for c, v in zip(classes, scorer.thresholds_, strict=True)},
            "seconds": {"load": round(t_load, 3), **scorer.seconds_, "write": round(time.perf_counter() - t1, 3)},
            "key": key, **getattr(scorer, "backend_card_", {})}
    write_card(ws.files.scores_card, card)
    report(progress, "write", f"wrote {ws.files.scores.name}", 1.0)
    return card, False


def _write_scores(ws: Workspace, ids: np.ndarray, Y: np.ndarray, s: NoiseScorer) -> None:
    """``scores.parquet``: one row per patch, the per-label evidence in aligned list columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    classes = np.array(ws.nomenclature.classes, dtype=object)
    n, C = Y.shape
    ev = Y | (s.missing_ > 0) | s.suggested_
    rows, cols = np.nonzero(ev)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    off = pa.array(offsets)
    cls_dict = pa.DictionaryArray.from_arrays(pa.array(cols.astype(np.int32)), pa.array(list(classes)))

    def lst(values):
        return pa.ListArray.from_arrays(off, values)

    def lab(mask):
        r, c = np.nonzero(mask)
        o = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(r, minlength=n), out=o[1:])
        return pa.ListArray.from_arrays(pa.array(o), pa.array(classes[c], type=pa.string()))

    f32 = lambda a: pa.array(a[rows, cols].astype(np.float32))  # noqa: E731
    table = pa.table({
        "patch_id": pa.array(ids, type=pa.string()),
        "score": pa.array(s.scores_), "rank": pa.array(s.rank_), "flagged": pa.array(s.flagged_),
        "kind": pa.array(s.kind_.astype(str)),
        "labels": lab(Y), "suggested": lab(s.suggested_),
        "changed": pa.array((s.suggested_ != Y).any(1)),
        "ev_class": lst(cls_dict.cast(pa.string())), "ev_present": lst(pa.array(Y[rows, cols])),
        "ev_support": lst(f32(s.support_)), "ev_proba": lst(f32(s.proba_)), "ev_q": lst(f32(s.q_)),
        "ev_prior": lst(f32(s.prior_)), "ev_spurious": lst(f32(s.spurious_)),
        "ev_missing": lst(f32(s.missing_)), "ev_outlier": lst(f32(s.outlier_)),
    })
    atomic_write(ws.files.scores, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def load_scores_card(ws: Workspace) -> dict | None:
    """``scores.json`` (format version checked), or None before the first scoring."""
    return load_card(ws.files.scores_card, version=SCORES_FORMAT_VERSION, what="noise scores")


def scores_stamp(ws: Workspace) -> tuple[int, int] | None:
    """Identity of the stored scores as (modification time in ns, size) of ``scores.parquet``; None without
    scores. Cheap (one ``stat``): readers compare it to know when a re-score rewrote them."""
    try:
        st = ws.files.scores.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


def load_scores(ws: Workspace, columns: list[str] | None = None, *, flagged_only: bool = False):
    """Read ``scores.parquet`` after checking its card's format version.

    Parameters
    ----------
    columns : list of str, optional
        Only these columns.
    flagged_only : bool
        Only the flagged patches, as an Arrow table sorted by rank (the review queue: a few % of the rows).

    Returns
    -------
    pandas.DataFrame, or pyarrow.Table with ``flagged_only``

    Raises
    ------
    WorkspaceError
        No scores yet (says how to make them), or an unsupported format version.
    """
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    card = load_scores_card(ws)
    if card is None or not ws.files.scores.is_file():
        raise WorkspaceError(f"{ws.path} has no noise scores yet: run `eomine score {ws.path}`")
    if not flagged_only:
        return pd.read_parquet(ws.files.scores, columns=columns)
    table = pq.read_table(ws.files.scores, columns=columns, filters=pc.field("flagged"))
    return table.sort_by("rank")


def explain(row, neighbour_labels, *, n_show: int = 10, short=None) -> list[str]:
    """A flag in words, one sentence per piece of evidence, strongest first.

    Parameters
    ----------
    row : mapping
        One row of ``scores.parquet`` (``ev_*`` lists aligned with ``ev_class``).
    neighbour_labels : sequence of sequences of str
        Label lists of the patch's nearest neighbours, nearest first.
    n_show : int
        Neighbours the sentences count (the first ``n_show``).
    short : mapping, optional
        Class name -> display name.

    Returns
    -------
    list of str
        E.g. ``["7 of 10 nearest neighbours are Marine waters; none carries Arable land (likely spurious)."]``.
        A suggested class the patch lacks is always named with its evidence (``"Suggested River: 6 of 10
        nearest neighbours carry it; the classifier gives it 3%."``), so the card never suggests a class it
        does not explain.
    """
    from collections import Counter

    name = (lambda c: short.get(c, c)) if short else (lambda c: c)
    nbs = [set(x) for x in list(neighbour_labels)[:n_show]]
    m = len(nbs)
    counts = Counter(c for s in nbs for c in s)
    top = counts.most_common(1)
    lead = f"{top[0][1]} of {m} nearest neighbours are {name(top[0][0])}" if top else "no neighbours"

    def carried(c):
        k = counts.get(c, 0)
        return "none carries" if k == 0 else ("only 1 carries" if k == 1 else f"only {k} carry")

    sug = row.get("suggested") if hasattr(row, "get") else None  # a row of scores.parquet has it
    suggested = set() if sug is None else {str(c) for c in sug}
    items = []
    for i, c in enumerate(row["ev_class"]):
        sp, mi, ou = float(row["ev_spurious"][i]), float(row["ev_missing"][i]), float(row["ev_outlier"][i])
        sup, pr, prior = float(row["ev_support"][i]), float(row["ev_proba"][i]), float(row["ev_prior"][i])
        if row["ev_present"][i] and sp > 0.05:
            # the counts are the nearest neighbours' labels; the support is over all k neighbours, suspected
            # ones counted by their suggestion: when the two disagree, say both
            txt = f"{lead}; {carried(c)} {name(c)}" if top and top[0][0] != c else \
                f"{counts.get(c, 0)} of {m} nearest neighbours carry {name(c)}, but its support over the whole " \
                f"neighbourhood is weak ({sup:.0%})"
            txt += f" — the classifier gives {name(c)} {pr:.0%} (likely spurious)."
            if prior >= 0.3:
                txt += f" {name(c)} often comes with the other labels ({prior:.0%}), which lowers the suspicion."
            items.append((sp, txt))
        elif not row["ev_present"][i] and mi > 0.05:
            k = counts.get(c, 0)
            items.append((mi, f"{k} of {m} nearest neighbours carry {name(c)}, which this patch lacks; "
                              f"the classifier gives it {pr:.0%} (likely missing)."))
        if row["ev_present"][i] and ou > 0.05:
            items.append((0.5 * ou, f"far from the other {name(c)} patches (outlier of its class)."))
        if c in suggested and not row["ev_present"][i] and mi <= 0.05:
            items.append((0.0, f"Suggested {name(c)}: {counts.get(c, 0)} of {m} nearest neighbours carry it; "
                               f"the classifier gives it {pr:.0%}."))
    items.sort(key=lambda t: -t[0])
    return [t for _, t in items] or ["its neighbours and the classifier agree with its labels."]
