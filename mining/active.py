"""Active learning: which unlabelled patches a curator should label next, and what the model thinks of the rest.

The model (refitted after every batch, seconds even at 549,488 patches)
----------------------------------------------------------------------
* a **logistic regression** on the standardised embeddings of the labelled patches (multinomial softmax when
  every patch has one label; one binary model per class when patches carry several);
* **label spreading** over the stored kNN graph (Zhou et al. 2004; random-walk form on the symmetrised graph
  with the noise scorer's scale-free neighbour weights): a few labels label their neighbourhoods. Above
  200,000 patches (:data:`~mining._internal.active_kernels.SPREAD_LIMIT`) one hop of that graph (a weighted
  vote of the labelled neighbours, both directions) replaces the iterations, which keeps a round within
  seconds at reBEN's 549,488 patches;
* both combined per patch, ``P = (1 - b) * P_model + b * P_graph`` with ``b = propagation`` where some
  labelled mass reaches the patch over the graph and 0 where none does (on real EuroSAT RGB with galileo
  embeddings the blend is 1-2 points more accurate than either part alone at 100 to 1,000 labels).

The queries (``strategy``)
--------------------------
``random``
    Uniform among the patches that may be asked: the baseline every other strategy is measured against.
``cold``
    Typical, diverse patches for the first batches: k-means of the askable patches' embeddings (2 x batch
    clusters), the medoid of each cluster, the largest clusters with the fewest labelled members first.
``entropy`` / ``margin``
    The most uncertain patches (:func:`~mining._internal.active_kernels.uncertainty`; multi-label data:
    per-class uncertainty near each class's decision threshold, ``class_uncertainty_``).
``diverse``
    Uncertainty x diversity: the ``candidates`` x batch most uncertain patches (margin), clustered into
    ``batch`` k-means clusters, the most uncertain patch of each cluster.
``cascade``
    Coarse to fine (after Blanchart, Ferecatu and Datcu's cascaded active learning): patches belong to coarse
    regions (``groups``: the coarsest ancestor patch of a multiscale tiling, or on a single-scale workspace
    k-means clusters of the embedding). First one typical patch of every region not yet looked at (on a
    multiscale tiling: the region's coarsest patch); then only inside the regions that are kept: those where the
    class of interest (``target``) was seen or is predicted with at least ``reject_below`` (a region whose
    coarsest patch a curator labelled without the target is rejected whatever the model says), or, without a
    target, those whose patches the model is still unsure about; on a tiling the next finer scale comes before
    the finer ones. Regions the model rejects are pruned and not asked while others are left.
``auto`` (the default)
    ``cold`` while fewer than ``cold_until`` patches are labelled (default: 10 per class), then ``diverse``.

Every strategy skips the patches that may not be asked (labelled ones, removed from training, recently marked
unsure, the check set: ``askable``), keeps ``min_distance_km`` between the patches of one batch and from the
labelled ones (spatial autocorrelation), and with ``class_balance`` caps each predicted class at its share of
the batch, larger for the classes with the fewest labels.

Examples
--------
>>> learner = ActiveLearner(strategy="diverse", batch_size=50, seed=0).fit(X, Y, labelled)   # doctest: +SKIP
>>> learner.batch_            # rows to ask next                                                # doctest: +SKIP
"""

from __future__ import annotations

import time

import numpy as np

from ._internal.active_kernels import (
    class_uncertainty,
    fit_classifier,
    greedy_pick,
    kmeans,
    medoids,
    predicted_labels,
    propagation_matrix,
    spread,
    uncertainty,
)
from ._internal.validation import SEED, Boolean, Instance, Interval, Options, validate_params
from .errors import DataError

__all__ = ["ActiveLearner", "STRATEGIES", "evaluate", "agreement"]

#: the query strategies, in the order people are offered them
STRATEGIES = ("auto", "random", "cold", "entropy", "margin", "diverse", "cascade")


class ActiveLearner:
    """Fit the model on the labelled patches and choose the next batch to ask.

    Parameters
    ----------
    strategy : str
        One of :data:`STRATEGIES` (see the module docstring).
    batch_size : int
        Patches per batch.
    propagation : float
        Largest weight of label spreading in the combined probability (0: the classifier alone).
    alpha : float in [0, 1)
        How far labels spread over the kNN graph.
    n_iter : int
        Label-spreading iterations.
    C : float
        Inverse regularisation of the logistic regression.
    min_distance_km : float
        Least ground distance between two patches of one batch and from a labelled patch (0: none; patches
        without coordinates are never too close).
    class_balance : bool
        Cap the patches of one predicted class per batch at a share that is larger for the classes with fewer
        labels (``ceil(batch * w_c / sum(w))``, ``w_c = 1 / (1 + labels of c)``); the batch is filled from the
        ranking when the caps leave it short.
    cold_until : int or None
        ``auto`` asks ``cold`` batches while fewer patches are labelled (None: 10 per class).
    candidates : int
        ``diverse``: uncertain candidates per patch of the batch.
    n_groups : int or None
        ``cascade`` on a workspace without parent patches: k-means regions of the embedding (None: ~ sqrt(n),
        between 10 and 500).
    target : str or None
        ``cascade``: the class of interest (None: every class).
    reject_below : float
        ``cascade`` with a target: a region is pruned when no labelled patch of it carries the target and the
        90th percentile of its patches' predicted target probability is below this.
    seed : int
        Same inputs and seed give the same batch.

    Attributes
    ----------
    proba_ : ndarray of float32, shape (n, n_classes)
        Combined class probabilities of every patch.
    model_proba_, graph_proba_ : ndarray of float32, shape (n, n_classes)
        The classifier's and label spreading's probabilities.
    graph_mass_ : ndarray of float32, shape (n,)
        Labelled mass reaching each patch over the graph (0 without a graph).
    predicted_ : ndarray of bool, shape (n, n_classes)
        Predicted label sets (the patches the model learnt from keep their labels).
    uncertainty_ : ndarray of float32, shape (n,)
        Uncertainty in [0, 1]: the margin (``entropy`` strategy: the normalised entropy).
    class_uncertainty_ : ndarray of float32, shape (n, n_classes) or None
        Multi-label data: per-class uncertainty near the 0.5 threshold.
    single_label_ : bool
    strategy_ : str
        The strategy the batch was chosen by (``auto`` resolved).
    batch_ : ndarray of int64, shape (<= batch_size,)
        Rows to ask next, in the order to show them. Shorter than ``batch_size`` only when fewer patches may be
        asked or ``min_distance_km`` leaves too few.
    groups_ : ndarray of int, shape (n,) or None
        ``cascade``: the region of every patch.
    rejected_groups_ : ndarray of int or None
        ``cascade``: the regions pruned this round.
    seconds_ : dict
        ``model``, ``graph``, ``query`` times.
    """

    _parameter_constraints = {
        "strategy": [Options(STRATEGIES)],
        "batch_size": [Interval(int, 1, None)],
        "propagation": [Interval(float, 0, 1)],
        "alpha": [Interval(float, 0, 1, closed="left")],
        "n_iter": [Interval(int, 1, None)],
        "C": [Interval(float, 0, None, closed="neither")],
        "min_distance_km": [Interval(float, 0, None)],
        "class_balance": [Boolean()],
        "cold_until": [Interval(int, 0, None), None],
        "candidates": [Interval(int, 1, None)],
        "n_groups": [Interval(int, 2, None), None],
        "target": [Instance(str), None],
        "reject_below": [Interval(float, 0, 1)],
        "seed": [SEED],
    }

    def __init__(self, strategy: str = "auto", batch_size: int = 50, *, propagation: float = 0.5,
                 alpha: float = 0.9, n_iter: int = 10, C: float = 1.0, min_distance_km: float = 0.0,
                 class_balance: bool = False, cold_until: int | None = None, candidates: int = 10,
                 n_groups: int | None = None, target: str | None = None, reject_below: float = 0.1,
                 seed: int = 0):
        self.strategy = strategy
        self.batch_size = batch_size
        self.propagation = propagation
        self.alpha = alpha
        self.n_iter = n_iter
        self.C = C
        self.min_distance_km = min_distance_km
        self.class_balance = class_balance
        self.cold_until = cold_until
        self.candidates = candidates
        self.n_groups = n_groups
        self.target = target
        self.reject_below = reject_below
        self.seed = seed

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in self._parameter_constraints}

    # ------------------------------------------------------------------ fit
    def fit(self, X: np.ndarray, Y: np.ndarray, labelled: np.ndarray, *, classes=None,
            graph=None, askable: np.ndarray | None = None, trainable: np.ndarray | None = None,
            coords: np.ndarray | None = None, groups: np.ndarray | None = None,
            levels: np.ndarray | None = None, single_label: bool | None = None) -> ActiveLearner:
        """Fit the model on the labelled patches, predict every patch, and choose the next batch.

        Parameters
        ----------
        X : ndarray, shape (n, d)
            Embeddings.
        Y : ndarray of bool, shape (n, n_classes)
            Labels; read on the ``labelled`` rows only.
        labelled : ndarray of bool, shape (n,)
            Patches whose labels a person gave (or the dataset had).
        classes : sequence of str, optional
            Names of the columns of Y (needed for ``target``).
        graph : tuple (indices, distances) of ndarrays of shape (n, k), or a prepared matrix, optional
            The stored kNN graph (rows of X; negative index = no neighbour). Without it, no label spreading.
            :meth:`graph_matrix` prepares the matrix once for many rounds.
        askable : ndarray of bool, shape (n,), optional
            Patches that may be asked (default: every unlabelled one). Labelled patches are never asked.
        trainable : ndarray of bool, shape (n,), optional
            Labelled patches the model may learn from (default: all; False: removed from training, the check
            set).
        coords : ndarray of float, shape (n, 2), optional
            lon, lat (for ``min_distance_km``).
        groups : ndarray of int, shape (n,), optional
            ``cascade``: the coarse region (parent patch) of each patch; -1 or absent: k-means regions.
        levels : ndarray of float, shape (n,), optional
            ``cascade`` on a multiscale tiling: each patch's scale (larger = coarser; ``groups`` then names the
            coarsest ancestor). A region's coarsest patch is asked first, then, inside the kept regions, the
            patches of the next finer scale before the finer ones.
        single_label : bool, optional
            Default: True when every labelled patch has exactly one label (and some are labelled).

        Returns
        -------
        self
        """
        validate_params(self)
        t0 = time.perf_counter()
        X = np.asarray(X, dtype=np.float32)
        Y = np.asarray(Y, dtype=bool)
        labelled = np.asarray(labelled, dtype=bool)
        n = len(X)
        if Y.ndim != 2 or len(Y) != n or Y.shape[1] < 2:
            raise DataError(f"labels of shape {Y.shape} do not match {n} embeddings and >= 2 classes")
        if labelled.shape != (n,):
            raise DataError(f"labelled mask of shape {labelled.shape} does not match {n} patches")
        for name, m in (("askable", askable), ("trainable", trainable)):
            if m is not None and np.shape(m) != (n,):
                raise DataError(f"{name} mask of shape {np.shape(m)} does not match {n} patches")
        classes = list(classes) if classes is not None else [str(i) for i in range(Y.shape[1])]
        if self.target is not None and self.target not in classes:
            raise DataError(f"target class {self.target!r} is not in the nomenclature")
        train = np.flatnonzero(labelled & (np.asarray(trainable, bool) if trainable is not None else True))
        if single_label is None:
            single_label = bool(len(train) == 0 or (Y[train].sum(1) == 1).all())
        self.single_label_ = single_label
        self.model_proba_ = fit_classifier(X, Y, train, single=single_label, C=self.C, seed=self.seed)
        t1 = time.perf_counter()
        n_cls = Y.shape[1]
        if graph is not None and len(train) and self.propagation > 0:
            W = graph if not isinstance(graph, tuple) else self.graph_matrix(*graph)
            if W.shape != (n, n):
                raise DataError(f"kNN graph of shape {W.shape} does not match {n} patches")
            self.graph_proba_, self.graph_mass_ = spread(W, Y, train, alpha=self.alpha, n_iter=self.n_iter)
        else:
            self.graph_proba_ = np.full((n, n_cls), 0.5, np.float32)
            self.graph_mass_ = np.zeros(n, np.float32)
        b = np.where(self.graph_mass_ > 0, np.float32(self.propagation), np.float32(0))[:, None]
        P = (1 - b) * self.model_proba_ + b * self.graph_proba_
        if single_label:
            P /= P.sum(1, keepdims=True)
        self.proba_ = P.astype(np.float32)
        self.predicted_ = predicted_labels(self.proba_, single=single_label)
        self.predicted_[train] = Y[train]  # the check set (labelled, not trainable) keeps the model's prediction
        kind = "entropy" if self.strategy == "entropy" else "margin"
        self.class_uncertainty_ = None if single_label else class_uncertainty(self.proba_)
        if single_label or kind == "entropy":
            self.uncertainty_ = uncertainty(self.proba_, single=single_label, kind=kind)
        else:  # multi-label margin: the class nearest its threshold (computed once)
            self.uncertainty_ = self.class_uncertainty_.max(1)
        t2 = time.perf_counter()
        ask = ~labelled if askable is None else (np.asarray(askable, bool) & ~labelled)
        trained = np.zeros(n, bool)
        trained[train] = True
        self._levels = None if levels is None else np.asarray(levels, np.float64)
        self._query(X, Y, trained, ask, classes, coords, groups)
        self.seconds_ = {"model": t1 - t0, "graph": t2 - t1, "query": time.perf_counter() - t2}
        return self

    @staticmethod
    def graph_matrix(indices: np.ndarray, distances: np.ndarray):
        """The label-spreading matrix of a stored kNN graph (scipy CSR, shape (n, n); a one-hop vote above 200,000
        patches); pass it as ``graph`` to reuse it across rounds."""
        indices = np.asarray(indices)
        distances = np.asarray(distances, dtype=np.float32)
        if indices.shape != distances.shape or indices.ndim != 2:
            raise DataError(f"kNN graph indices {indices.shape} and distances {distances.shape} do not match")
        return propagation_matrix(indices, distances)

    # ------------------------------------------------------------------ queries
    def _query(self, X, Y, labelled, ask, classes, coords, groups) -> None:
        rng = np.random.default_rng(self.seed)
        n_lab = int(labelled.sum())
        strategy = self.strategy
        if strategy == "auto":
            until = self.cold_until if self.cold_until is not None else max(10, 10 * Y.shape[1])
            strategy = "cold" if n_lab < until else "diverse"
        self.strategy_ = strategy
        self.groups_ = self.rejected_groups_ = None
        cand = np.flatnonzero(ask)
        k = self.batch_size
        if len(cand) == 0:
            self.batch_ = np.empty(0, np.int64)
            return
        tie = rng.random(len(cand))  # random tie-breaks: same seed, same batch
        if strategy == "random":
            order = rng.permutation(cand)
        elif strategy in ("entropy", "margin"):
            order = cand[np.lexsort((tie, -self.uncertainty_[cand]))]
        elif strategy == "cold":
            order = self._cold(X, labelled, cand, k)
        elif strategy == "diverse":
            order = self._diverse(X, cand, tie, k)
        else:
            order = self._cascade(X, Y, labelled, cand, tie, classes, groups, k)
        self.batch_ = self._pick(order, k, labelled, coords, Y)

    def _pick(self, order, k, labelled, coords, Y) -> np.ndarray:
        groups = quota = None
        if self.class_balance:
            # a share of the batch per predicted class, larger for the classes with fewer labels so far
            groups = self.proba_.argmax(1)
            need = 1.0 / (1.0 + Y[labelled].sum(0))
            quota = np.maximum(1, np.ceil(k * need / need.sum())).astype(np.int64)
        avoid = np.flatnonzero(labelled) if coords is not None and self.min_distance_km > 0 else None
        return greedy_pick(order, k, coords=None if coords is None else np.asarray(coords, float),
                           min_km=self.min_distance_km, avoid=avoid, groups=groups, quota=quota)

    def _cold(self, X, labelled, cand, k, *, max_fit: int = 20000) -> np.ndarray:
        """Medoids of 2k k-means clusters of the askable patches, big clusters with few labels first (on a random
        sample of ``max_fit`` askable patches in a large pool: typical patches are typical of the sample too)."""
        if len(cand) > max_fit:
            rng = np.random.default_rng(self.seed + 1)
            cand = np.sort(rng.choice(cand, max_fit, replace=False))
        n_clu = min(2 * k, len(cand))
        lab_rows = np.flatnonzero(labelled)
        pts = np.r_[cand, lab_rows]
        lab, centres = kmeans(X[pts], n_clu, seed=self.seed)
        lc, ll = lab[: len(cand)], lab[len(cand):]
        size = np.bincount(lc, minlength=n_clu)
        covered = np.bincount(ll, minlength=n_clu)
        med = medoids(X[cand], lc, centres)
        score = size / (1.0 + 4.0 * covered)
        clusters = [c for c in np.argsort(-score, kind="stable") if med[c] >= 0]
        first = cand[med[clusters]]
        rest = np.setdiff1d(cand, first, assume_unique=False)
        return np.r_[first, rest[np.argsort(-self.uncertainty_[rest], kind="stable")]]

    def _diverse(self, X, cand, tie, k) -> np.ndarray:
        """The most uncertain patch of each of k clusters of the most uncertain candidates."""
        ranked = cand[np.lexsort((tie, -self.uncertainty_[cand]))]
        top = ranked[: max(k, self.candidates * k)]
        if len(top) <= k:
            return ranked
        lab, _ = kmeans(X[top], k, seed=self.seed, weights=self.uncertainty_[top] + 1e-3)
        # `top` is sorted by uncertainty: the first row of each cluster is its most uncertain one
        _, first = np.unique(lab, return_index=True)
        heads = top[np.sort(first)]
        return np.r_[heads, _without(ranked, heads)]

    def _cascade(self, X, Y, labelled, cand, tie, classes, groups, k) -> np.ndarray:
        n = len(X)
        g = np.full(n, -1, np.int64) if groups is None else np.asarray(groups, np.int64).copy()
        if (g < 0).any():  # no parent patch: k-means regions of the embedding
            free = np.flatnonzero(g < 0)
            n_groups = self.n_groups or int(np.clip(np.sqrt(n), 10, 500))
            lab, _ = kmeans(X[free], n_groups, seed=0)  # not the round's seed: the same regions every round
            g[free] = lab + (g.max() + 1 if (g >= 0).any() else 0)
        self.groups_ = g
        n_g = int(g.max()) + 1
        seen = np.bincount(g[labelled], minlength=n_g) > 0
        # coarse level: one typical patch of every region nobody has looked at yet, the largest regions first
        unseen = cand[~seen[g[cand]]]
        if len(unseen):
            size = np.bincount(g[unseen], minlength=n_g)
            centres = np.zeros((n_g, X.shape[1]), np.float32)
            np.add.at(centres, g[unseen], X[unseen])
            centres /= np.maximum(size, 1)[:, None]
            med = medoids(X[unseen], g[unseen], centres)
            if self._levels is not None:  # a multiscale tiling: the region's coarsest patch stands for it
                lv = self._levels[unseen]
                top = np.lexsort((-lv, g[unseen]))  # by region, coarsest first
                first = np.r_[True, g[unseen][top][1:] != g[unseen][top][:-1]]
                med = np.full(n_g, -1, np.int64)
                med[g[unseen][top][first]] = top[first]
            regions = [r for r in np.argsort(-size, kind="stable") if med[r] >= 0]
            coarse = unseen[med[regions]]
        else:
            coarse = np.empty(0, np.int64)
        # fine level: only inside the kept regions
        if self.target is not None:
            t = classes.index(self.target)
            hit = np.bincount(g[labelled & Y[:, t]], minlength=n_g) > 0
            import pandas as pd

            # a region's evidence: the 90th percentile of its patches' target probability (one stray patch
            # does not keep a region; a region where a tenth of the patches look like the target is kept)
            top = pd.Series(self.proba_[:, t]).groupby(g).quantile(0.9)
            best = np.zeros(n_g, np.float32)
            best[top.index.to_numpy()] = top.to_numpy()
            keep = seen & (hit | (best >= self.reject_below))
            if self._levels is not None:
                # a multiscale tiling: a coarse patch holds its children, so a curator's "no target here" on a
                # region's coarsest patch rejects the whole region
                lv = self._levels
                top_lv = np.zeros(n_g)
                np.maximum.at(top_lv, g, lv)
                root_no = labelled & (lv == top_lv[g]) & ~Y[:, t]
                keep &= ~(np.bincount(g[root_no], minlength=n_g) > 0) | hit
            score = self.proba_[:, t] * (0.5 + 0.5 * self.uncertainty_)  # likely targets, the unsure ones first
        else:
            mean_u = np.bincount(g, weights=self.uncertainty_, minlength=n_g) / np.maximum(np.bincount(g, minlength=n_g), 1)
            keep = seen & (mean_u >= np.median(mean_u[seen])) if seen.any() else seen
            score = self.uncertainty_
        self.rejected_groups_ = np.flatnonzero(seen & ~keep)
        fine = cand[keep[g[cand]]]
        if self._levels is not None:  # coarse to fine: the next scale down inside the kept regions first
            fine = fine[np.lexsort((tie[np.searchsorted(cand, fine)], -score[fine], -self._levels[fine]))]
        else:
            fine = fine[np.lexsort((tie[np.searchsorted(cand, fine)], -score[fine]))]
        rest = _without(cand[np.lexsort((tie, -score[cand]))], np.r_[coarse, fine])
        return np.r_[coarse, fine, rest] if len(coarse) < k else np.r_[coarse, fine]


def _without(order: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """``order`` without the rows in ``drop``, order kept."""
    return order[~np.isin(order, drop)]


# ---------------------------------------------------------------------- evaluation
def evaluate(Y_true: np.ndarray, Y_pred: np.ndarray, *, single_label: bool) -> dict:
    """Accuracy and macro-F1 of predicted label sets, with a 95 % confidence interval of the accuracy.

    Parameters
    ----------
    Y_true, Y_pred : ndarray of bool, shape (m, n_classes)
    single_label : bool
        Accuracy is top-1 agreement (single-label, Wilson interval) or the mean per-patch Jaccard index of the
        label sets (multi-label, normal interval).

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``low``, ``high``, ``macro_f1`` (over the classes present in ``Y_true``).
    """
    Y_true = np.asarray(Y_true, bool)
    Y_pred = np.asarray(Y_pred, bool)
    m = len(Y_true)
    if m == 0:
        return {"n": 0, "accuracy": float("nan"), "low": float("nan"), "high": float("nan"),
                "macro_f1": float("nan")}
    z = 1.959964
    if single_label:
        hits = (Y_true.argmax(1) == Y_pred.argmax(1)).astype(float)
        p = hits.mean()
        den = 1 + z * z / m
        mid = (p + z * z / (2 * m)) / den
        half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / den
        low, high = mid - half, mid + half
    else:
        inter = (Y_true & Y_pred).sum(1)
        union = (Y_true | Y_pred).sum(1)
        hits = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        p = hits.mean()
        half = z * hits.std(ddof=1) / np.sqrt(m) if m > 1 else 1.0
        low, high = max(0.0, p - half), min(1.0, p + half)
    tp = (Y_true & Y_pred).sum(0)
    fp = (~Y_true & Y_pred).sum(0)
    fn = (Y_true & ~Y_pred).sum(0)
    present = Y_true.any(0)
    f1 = np.where(present, 2 * tp / np.maximum(2 * tp + fp + fn, 1), np.nan)
    return {"n": int(m), "accuracy": float(p), "low": float(low), "high": float(high),
            "macro_f1": float(np.nanmean(f1)) if present.any() else float("nan")}


def agreement(Y_a: np.ndarray, Y_b: np.ndarray) -> dict:
    """How much two rounds' predictions on the same patches agree: the stopping signal.

    Parameters
    ----------
    Y_a, Y_b : ndarray of bool, shape (m, n_classes)

    Returns
    -------
    dict
        ``agreement`` (share of patches whose predicted label set is identical) and ``kappa`` (Cohen's kappa
        of the (patch, class) decisions: 1 = identical, 0 = as by chance).
    """
    Y_a = np.asarray(Y_a, bool)
    Y_b = np.asarray(Y_b, bool)
    if len(Y_a) == 0:
        return {"agreement": float("nan"), "kappa": float("nan")}
    same = float((Y_a == Y_b).all(1).mean())
    a, b = Y_a.ravel(), Y_b.ravel()
    po = float((a == b).mean())
    pa, pb = a.mean(), b.mean()
    pe = float(pa * pb + (1 - pa) * (1 - pb))
    kappa = 1.0 if pe >= 1.0 else (po - pe) / (1 - pe)
    return {"agreement": same, "kappa": float(kappa)}
