"""The active learner on generated clusters: every strategy's batch, seeds, constraints, multi-label uncertainty,
and that asking well beats asking at random."""

from __future__ import annotations

import numpy as np
import pytest

from mining.active import STRATEGIES, ActiveLearner, agreement, evaluate
from mining.errors import DataError, ParameterError
from mining.knn import exact_knn


def blobs(n=1200, n_cls=4, dim=8, seed=0, spread=1.0):
    """Gaussian clusters, one class each, overlapping a little; plus lon/lat on a 1 km grid."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (n_cls, dim))
    y = rng.integers(0, n_cls, n)
    X = (centres[y] + rng.normal(0, spread, (n, dim))).astype(np.float32)
    Y = np.zeros((n, n_cls), bool)
    Y[np.arange(n), y] = True
    side = int(np.ceil(np.sqrt(n)))
    coords = np.c_[10 + (np.arange(n) % side) * 0.0125, 45 + (np.arange(n) // side) * 0.009]  # ~1 km steps
    return X, Y, coords


@pytest.fixture(scope="module")
def data():
    X, Y, coords = blobs()
    ind, dist = exact_knn(X, 10)
    return X, Y, coords, ActiveLearner.graph_matrix(ind, dist)


def labelled_mask(n, rows):
    m = np.zeros(n, bool)
    m[list(rows)] = True
    return m


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_asks_a_full_batch_of_new_patches(data, strategy):
    X, Y, coords, W = data
    lab = labelled_mask(len(X), range(0, 60, 3))
    learner = ActiveLearner(strategy, 25, seed=1).fit(X, Y, lab, graph=W)
    b = learner.batch_
    assert len(b) == 25
    assert len(np.unique(b)) == 25
    assert not lab[b].any()
    assert learner.strategy_ in STRATEGIES and learner.strategy_ != "auto"
    again = ActiveLearner(strategy, 25, seed=1).fit(X, Y, lab, graph=W).batch_
    assert (again == b).all()  # same seed, same batch


def test_another_seed_gives_another_random_batch(data):
    X, Y, _, W = data
    lab = labelled_mask(len(X), range(20))
    a = ActiveLearner("random", 30, seed=1).fit(X, Y, lab).batch_
    b = ActiveLearner("random", 30, seed=2).fit(X, Y, lab).batch_
    assert set(a) != set(b)


def test_patches_that_may_not_be_asked_are_never_asked(data):
    X, Y, _, W = data
    n = len(X)
    lab = labelled_mask(n, range(30))
    askable = np.ones(n, bool)
    askable[100:700] = False  # removed from training, unsure, the check set ...
    for strategy in STRATEGIES:
        b = ActiveLearner(strategy, 40, seed=0).fit(X, Y, lab, graph=W, askable=askable).batch_
        assert askable[b].all() and not lab[b].any(), strategy


def test_removed_patches_do_not_train_the_model(data):
    X, Y, _, _ = data
    n = len(X)
    lab = labelled_mask(n, range(200))
    wrong = Y.copy()
    wrong[:200] = np.roll(Y[:200], 1, axis=1)  # 200 labelled patches, every label wrong
    trainable = np.ones(n, bool)
    fooled = ActiveLearner("random", 10, propagation=0).fit(X, wrong, lab).model_proba_
    honest = labelled_mask(n, range(200, 260))
    lab2 = lab | honest
    wrong[200:260] = Y[200:260]
    trainable[:200] = False  # the curator removed the wrong ones from training
    clean = ActiveLearner("random", 10, propagation=0).fit(X, wrong, lab2, trainable=trainable).model_proba_
    test = np.arange(300, n)
    acc = lambda P: (P[test].argmax(1) == Y[test].argmax(1)).mean()  # noqa: E731
    assert acc(fooled) < 0.3 < 0.8 < acc(clean)


def test_min_distance_keeps_the_batch_apart_on_the_ground(data):
    from mining.walks import haversine_km

    X, Y, coords, W = data
    lab = labelled_mask(len(X), range(10))
    b = ActiveLearner("entropy", 15, min_distance_km=5.0, seed=0).fit(X, Y, lab, graph=W, coords=coords).batch_
    assert len(b) == 15
    for i in range(len(b)):
        d = haversine_km(coords[b[i], 0], coords[b[i], 1], coords[b, 0], coords[b, 1])
        assert (np.delete(d, i) >= 5.0).all()
        d_lab = haversine_km(coords[b[i], 0], coords[b[i], 1], coords[lab, 0], coords[lab, 1])
        assert (d_lab >= 5.0).all()


def test_class_balance_spreads_the_batch_over_predicted_classes(data):
    X, Y, _, W = data
    lab = labelled_mask(len(X), np.flatnonzero(Y[:, 0])[:30].tolist() + np.flatnonzero(Y[:, 1])[:3].tolist()
                        + np.flatnonzero(Y[:, 2])[:3].tolist() + np.flatnonzero(Y[:, 3])[:3].tolist())
    learner = ActiveLearner("entropy", 20, class_balance=True, seed=0).fit(X, Y, lab, graph=W)
    pred = learner.proba_[learner.batch_].argmax(1)
    counts = np.bincount(pred, minlength=4)
    assert len(learner.batch_) == 20
    assert counts[0] <= 2  # the well-labelled class gives way: its share is the smallest
    assert (counts[1:] >= 4).all()


def test_multi_label_uncertainty_is_per_class():
    rng = np.random.default_rng(0)
    n, dim = 3000, 6
    X = rng.normal(0, 1, (n, dim)).astype(np.float32)
    Y = np.c_[X[:, 0] > 0, X[:, 1] > 0.5, X[:, 2] > -0.5]  # three independent classes
    lab = labelled_mask(n, range(150))
    learner = ActiveLearner("margin", 20, seed=0).fit(X, Y, lab)
    assert not learner.single_label_
    U = learner.class_uncertainty_
    assert U.shape == (n, 3)
    # near a class's decision boundary that class is uncertain, and only that one
    near0 = np.flatnonzero((np.abs(X[:, 0]) < 0.05) & (np.abs(X[:, 1] - 0.5) > 1.0) & (np.abs(X[:, 2] + 0.5) > 1.0))
    assert len(near0) >= 5
    assert np.median(U[near0, 0]) > 0.6 and np.median(U[near0, 1]) < 0.4 and np.median(U[near0, 2]) < 0.4
    # margin queries go to patches with a class near its threshold
    assert np.median(U[learner.batch_].max(1)) > 0.8


def test_asking_wisely_beats_asking_at_random(data):
    """On overlapping clusters, 60 labels chosen by `auto` give a more accurate model than 60 at random."""
    X, Y, _, W = data
    n = len(X)
    test = np.arange(n - 400, n)
    askable = np.ones(n, bool)
    askable[test] = False

    def run(strategy, seed):
        lab = np.zeros(n, bool)
        while lab.sum() < 60:
            learner = ActiveLearner(strategy, 10, seed=seed, cold_until=20).fit(X, Y, lab, graph=W, askable=askable)
            lab[learner.batch_] = True
        learner = ActiveLearner(strategy, 10, seed=seed).fit(X, Y, lab, graph=W, askable=askable)
        return (learner.predicted_[test].argmax(1) == Y[test].argmax(1)).mean()

    smart = np.mean([run("auto", s) for s in range(3)])
    rand = np.mean([run("random", s) for s in range(3)])
    assert smart >= rand


def test_cascade_prunes_rejected_regions_and_finds_the_target():
    rng = np.random.default_rng(3)
    n_groups, per = 40, 25
    g = np.repeat(np.arange(n_groups), per)
    has_target = np.isin(np.arange(n_groups), [3, 17, 29])  # 3 regions hold the rare class
    X = rng.normal(0, 1, (len(g), 5)).astype(np.float32)
    X[:, 0] += np.where(has_target[g], 3.0, 0.0)
    Y = np.zeros((len(g), 2), bool)
    Y[:, 1] = has_target[g] & (rng.random(len(g)) < 0.6)
    Y[:, 0] = ~Y[:, 1]
    lab = np.zeros(len(g), bool)
    first = ActiveLearner("cascade", 40, target="1", seed=0).fit(X, Y, lab, classes=["0", "1"], groups=g)
    assert len(np.unique(g[first.batch_])) == 40  # the coarse level: one patch of every region
    lab[first.batch_] = True
    second = ActiveLearner("cascade", 20, target="1", seed=0).fit(X, Y, lab, classes=["0", "1"], groups=g)
    assert len(second.rejected_groups_) > 20  # most regions show no sign of the class: pruned
    assert has_target[g[second.batch_]].mean() >= 0.75  # the next questions go where the class is (7.5 % of regions)


def test_bad_input_is_a_clear_error(data):
    X, Y, _, _ = data
    lab = np.zeros(len(X), bool)
    with pytest.raises(ParameterError, match="batch_size"):
        ActiveLearner("random", 0).fit(X, Y, lab)
    with pytest.raises(ParameterError, match="strategy"):
        ActiveLearner("greedy").fit(X, Y, lab)
    with pytest.raises(DataError, match="labelled mask"):
        ActiveLearner().fit(X, Y, lab[:-1])
    with pytest.raises(DataError, match="target class 'nope'"):
        ActiveLearner("cascade", target="nope").fit(X, Y, lab, classes=list("abcd"))


def test_evaluate_and_agreement():
    Yt = np.eye(3, dtype=bool)[[0, 1, 2, 0]]
    Yp = np.eye(3, dtype=bool)[[0, 1, 1, 0]]
    m = evaluate(Yt, Yp, single_label=True)
    assert m["accuracy"] == 0.75 and m["low"] < 0.75 < m["high"] and m["n"] == 4
    same = agreement(Yp, Yp)
    assert same == {"agreement": 1.0, "kappa": 1.0}
    assert agreement(Yt, Yp)["agreement"] == 0.75
    multi = evaluate(np.array([[1, 1, 0]], bool), np.array([[1, 0, 0]], bool), single_label=False)
    assert multi["accuracy"] == 0.5  # Jaccard of {a, b} and {a}


def test_cascade_on_a_multiscale_tiling_goes_coarse_to_fine():
    """Regions of one coarse patch, 4 middle and 16 fine ones: the coarse patches first, then inside the kept
    regions the middle scale before the fine one."""
    rng = np.random.default_rng(5)
    n_reg = 12
    lv = np.tile(np.r_[4800.0, [2400.0] * 4, [1200.0] * 16], n_reg)
    g = np.repeat(np.arange(n_reg), 21)
    has = np.isin(np.arange(n_reg), [2, 7])
    X = rng.normal(0, 1, (len(g), 4)).astype(np.float32)
    X[:, 0] += np.where(has[g], 4.0, 0.0)
    Y = np.zeros((len(g), 2), bool)
    Y[:, 1] = has[g]
    Y[:, 0] = ~Y[:, 1]
    lab = np.zeros(len(g), bool)
    a = ActiveLearner("cascade", n_reg, target="1", seed=0).fit(X, Y, lab, classes=["0", "1"], groups=g, levels=lv)
    assert (lv[a.batch_] == 4800).all() and len(np.unique(g[a.batch_])) == n_reg
    lab[a.batch_] = True
    b = ActiveLearner("cascade", 8, target="1", seed=0).fit(X, Y, lab, classes=["0", "1"], groups=g, levels=lv)
    assert has[g[b.batch_]].all() and (lv[b.batch_] == 2400).all()
