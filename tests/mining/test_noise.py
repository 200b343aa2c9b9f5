"""Noisy-label detection: planted errors come first, agreeing patches and co-occurring pairs are not flagged,
scores are reproducible, ``eomine score`` runs end to end on the real EuroSAT sample."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mining.errors import DataError, WorkspaceError
from mining.knn import exact_knn
from mining.noise import NoiseScorer, explain, load_scores, score_workspace


def clusters(n_per: int, n_cls: int, dim: int = 8, spread: float = 0.25, seed: int = 0):
    """Well separated Gaussian clusters on the unit sphere; returns X, true class per row."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:n_cls] * 3.0
    y = np.repeat(np.arange(n_cls), n_per)
    X = centres[y] + rng.normal(scale=spread * 3.0, size=(len(y), dim))
    return X.astype(np.float32), y


def one_hot(y, n_cls):
    Y = np.zeros((len(y), n_cls), dtype=bool)
    Y[np.arange(len(y)), y] = True
    return Y


@pytest.fixture(scope="module")
def planted():
    X, y = clusters(40, 3)
    noisy = y.copy()
    bad = np.array([5, 47, 101])
    noisy[bad] = (y[bad] + 1) % 3
    ind, dist = exact_knn(X, 10)
    sc = NoiseScorer(seed=0).fit(X, one_hot(noisy, 3), ind, dist)
    return X, y, noisy, bad, ind, dist, sc


def test_planted_errors_rank_first_with_the_true_label_suggested(planted):
    X, y, noisy, bad, ind, dist, sc = planted
    top = np.argsort(sc.rank_)[:len(bad)]
    assert set(top) == set(bad)
    assert (sc.rank_[bad] <= 3).all()
    assert sc.single_label_
    # the suggestion is the true class, and the given one is called spurious
    assert (sc.suggested_[bad].argmax(1) == y[bad]).all()
    assert (sc.kind_[bad] == "spurious").all() or (sc.kind_[bad] == "missing").all()
    assert (sc.spurious_[bad, noisy[bad]] > 0.5).all()


def test_patches_whose_neighbours_agree_are_not_flagged(planted):
    X, y, noisy, bad, ind, dist, sc = planted
    assert set(np.flatnonzero(sc.flagged_)) == set(bad)
    clean = np.setdiff1d(np.arange(len(y)), bad)
    agree = clean[(noisy[ind[clean]] == noisy[clean, None]).all(1)]
    assert len(agree) > 50
    assert sc.scores_[agree].max() < 0.5 * sc.flag_threshold
    assert np.median(sc.scores_[agree]) < 0.05
    assert not sc.flagged_[agree].any()
    assert (sc.kind_[agree] == "none").mean() > 0.5


def test_cooccurring_pairs_are_not_flagged_as_each_others_noise():
    # cluster 0 = arable land; 40 % of its patches also carry complex cultivation (class 1), scattered at
    # random inside the cluster (the embedding cannot tell them apart); cluster 2 = forest. One forest patch
    # wrongly carries arable land.
    X, clus = clusters(60, 3, seed=1)
    rng = np.random.default_rng(1)
    Y = np.zeros((len(clus), 3), dtype=bool)
    Y[clus == 0, 0] = True
    Y[clus == 2, 2] = True
    arable = np.flatnonzero(clus == 0)
    pair = rng.choice(arable, size=24, replace=False)
    Y[pair, 1] = True
    Y[clus == 1, 1] = True
    planted = np.flatnonzero(clus == 2)[7]
    Y[planted, 0] = True
    ind, dist = exact_knn(X, 10)
    sc = NoiseScorer(seed=0).fit(X, Y, ind, dist)
    assert sc.rank_[planted] == 1
    assert sc.suggested_[planted].tolist() == [False, False, True]
    # neither the pair's complex cultivation nor the arable-only patches' "missing" complex cultivation is noise:
    # no suggestion splits a pair or completes one, and no arable-only patch is flagged
    alone = np.setdiff1d(arable, pair)
    assert sc.suggested_[pair, 1].all() and not sc.suggested_[alone, 1].any()
    assert (sc.spurious_[pair, 1] < sc.flag_threshold).all()
    assert (sc.missing_[alone, 1] < sc.flag_threshold).all()
    assert not sc.flagged_[alone].any()
    assert sc.flagged_[pair].sum() <= 1
    # the co-occurrence prior is what keeps the pair's evidence low
    no_prior = NoiseScorer(seed=0, prior_weight=0.0).fit(X, Y, ind, dist)
    assert sc.spurious_[pair, 1].sum() < no_prior.spurious_[pair, 1].sum()


def test_a_dropped_label_is_found_as_missing():
    # cluster 0 carries classes 0 and 1 together, cluster 2 class 2; one cluster-0 patch lost class 1
    X, clus = clusters(60, 3, seed=2)
    Y = np.zeros((len(clus), 3), dtype=bool)
    Y[clus == 0, :2] = True
    Y[clus == 1, 1] = True
    Y[clus == 2, 2] = True
    dropped = np.flatnonzero(clus == 0)[5]
    Y[dropped, 1] = False
    ind, dist = exact_knn(X, 10)
    sc = NoiseScorer(seed=0).fit(X, Y, ind, dist)
    assert sc.rank_[dropped] == 1 and sc.kind_[dropped] == "missing"
    assert sc.suggested_[dropped].tolist() == [True, True, False]
    # the multi-label scale (start 0.7 t, gain 1.5) gives more "missing" evidence than start t, gain 1
    old = NoiseScorer(seed=0, missing_start=1.0, missing_gain=1.0).fit(X, Y, ind, dist)
    assert sc.missing_[dropped, 1] >= old.missing_[dropped, 1]
    q, t = sc.q_[dropped, 1], sc.thresholds_[1]
    m = 0.7 * t
    assert sc.missing_[dropped, 1] == pytest.approx(min(1.0, max(0.0, 1.5 * (q - m) / (1 - m))), abs=1e-5)


def test_deterministic_with_a_seed(planted):
    X, y, noisy, bad, ind, dist, sc = planted
    again = NoiseScorer(seed=0).fit(X, one_hot(noisy, 3), ind, dist)
    np.testing.assert_array_equal(again.scores_, sc.scores_)
    np.testing.assert_array_equal(again.rank_, sc.rank_)
    np.testing.assert_array_equal(again.proba_, sc.proba_)
    other = NoiseScorer(seed=1).fit(X, one_hot(noisy, 3), ind, dist)
    assert not np.array_equal(other.proba_, sc.proba_)  # the seed drives the folds


def test_given_probabilities_skip_the_classifier(planted):
    X, y, noisy, bad, ind, dist, sc = planted
    same = NoiseScorer(seed=0).fit(None, one_hot(noisy, 3), ind, dist, proba=sc.proba_)
    np.testing.assert_array_equal(same.scores_, sc.scores_)


@pytest.mark.parametrize("case, match", [
    ("graph", "does not match"), ("proba", "probabilities of shape"),
    ("weight", r"model_weight must be a float in \[0, 1\] or 'auto', got 1.5"), ("outside", "points at row"),
    ("folds", r"n_folds must be an int in \[2, inf\), got 1"),
    ("start", r"missing_start must be a float in \(0, 1\], got 1.2"),
    ("gain", r"missing_gain must be a float in \(0, inf\), got 0")])
def test_bad_input_is_named(planted, case, match):
    X, y, noisy, bad, ind, dist, sc = planted
    Y = one_hot(noisy, 3)
    kw = {}
    scorer = NoiseScorer()
    if case == "graph":
        ind, dist = ind[:-1], dist[:-1]
    elif case == "proba":
        kw["proba"] = np.zeros((3, 3))
    elif case == "weight":
        scorer = NoiseScorer(model_weight=1.5)
    elif case == "folds":
        scorer = NoiseScorer(n_folds=1)
    elif case == "start":
        scorer = NoiseScorer(missing_start=1.2)
    elif case == "gain":
        scorer = NoiseScorer(missing_gain=0)
    elif case == "outside":
        ind = ind.copy()
        ind[0, 0] = len(Y) + 3
    with pytest.raises((DataError, ValueError), match=match):
        scorer.fit(X, Y, ind, dist, **kw)


def test_a_patch_without_labels_gets_the_supported_one_suggested(planted):
    X, y, noisy, bad, ind, dist, sc = planted
    Y = one_hot(noisy, 3)
    lost = np.flatnonzero((noisy == y) & (y == 2))[3]
    Y[lost] = False
    s2 = NoiseScorer(seed=0).fit(X, Y, ind, dist)
    assert not s2.single_label_
    assert s2.kind_[lost] == "missing" and s2.flagged_[lost]
    assert s2.suggested_[lost].tolist() == [False, False, True]


def test_explain_in_words():
    row = {"ev_class": ["Arable land", "Marine waters"], "ev_present": [True, False],
           "ev_spurious": [0.9, 0.0], "ev_missing": [0.0, 0.7], "ev_outlier": [0.0, 0.0],
           "ev_support": [0.02, 0.8], "ev_proba": [0.1, 0.9], "ev_prior": [0.0, 0.0]}
    nbs = [["Marine waters"]] * 7 + [["Beaches, dunes, sands"]] * 3 + [["Arable land"]] * 5
    words = explain(row, nbs)
    assert words[0].startswith("7 of 10 nearest neighbours are Marine waters; none carries Arable land")
    assert "likely spurious" in words[0]
    assert words[1].startswith("7 of 10 nearest neighbours carry Marine waters, which this patch lacks")
    calm = {**row, "ev_spurious": [0.0, 0.0], "ev_missing": [0.0, 0.0]}
    assert explain(calm, nbs) == ["its neighbours and the classifier agree with its labels."]


# ------------------------------------------------------------------------------ real EuroSAT, end to end
@pytest.fixture(scope="module")
def eurosat_ws(shared_data, tmp_path_factory):
    from mining.datasets import EuroSATMS
    from mining.ingest import ingest
    from mining.pipeline import step_embed, step_knn
    from mining.workspace import Workspace

    out = tmp_path_factory.mktemp("noise") / "eurosat"
    ingest(EuroSATMS(shared_data / "eurosat-ms"), out, progress=False)
    ws = Workspace(out)
    step_embed(ws, "spectral", progress=False)
    step_knn(ws, k=10)
    return ws


@pytest.mark.realdata
def test_no_scores_says_how_to_make_them_and_a_euclidean_graph_is_refused(eurosat_ws, tmp_path):
    import shutil

    from mining.pipeline import step_knn
    from mining.workspace import Workspace

    shutil.copytree(eurosat_ws.path, tmp_path / "ws", ignore=shutil.ignore_patterns("scores.*", "edits.*"))
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(WorkspaceError, match="eomine score"):
        load_scores(ws)
    step_knn(ws, k=10, metric="euclidean", force=True)
    with pytest.raises(WorkspaceError, match=r"knn\.json: noise scoring needs a cosine kNN graph"):
        score_workspace(ws)
    assert not (ws.path / "scores.parquet").exists()


@pytest.mark.realdata
def test_score_real_eurosat_end_to_end(eurosat_ws):
    from click.testing import CliRunner

    from eomine.cli import main

    ws = eurosat_ws
    res = CliRunner().invoke(main, ["score", str(ws.path), "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert "patches flagged" in res.output
    card = json.loads((ws.path / "scores.json").read_text())
    assert card["format"] == "eomine-scores" and card["version"] == 1
    assert card["params"]["seed"] == 3 and card["n"] == 180 and card["k"] == 10 and card["single_label"]
    df = load_scores(ws)
    assert len(df) == 180 and df["patch_id"].is_unique
    assert sorted(df["rank"]) == list(range(1, 181))
    assert df["score"].between(0, 1).all()
    # scores follow the catalog's labels, and the suggestion is one EuroSAT class
    cat = ws.catalog.set_index("patch_id")
    assert all(list(df["labels"].iat[i]) == list(cat.at[df["patch_id"].iat[i], "labels"]) for i in range(180))
    assert (df["suggested"].map(len) == 1).all()
    # real EuroSAT labels are clean: a minority is flagged, and the evidence lists each patch's label
    assert 0 < df["flagged"].mean() < 0.35
    assert all(lab in list(ev) for lab, ev in zip(df["labels"].map(lambda v: v[0]), df["ev_class"], strict=True))
    # up to date: second run is skipped; a different parameter recomputes
    again = CliRunner().invoke(main, ["score", str(ws.path), "--seed", "3"])
    assert "up to date" in again.output
    before = pd.read_parquet(ws.path / "scores.parquet")["score"].to_numpy()
    card2, skipped = score_workspace(ws, seed=3, prior_weight=0.0)
    assert not skipped and card2["params"]["prior_weight"] == 0.0
    bad = CliRunner().invoke(main, ["score", str(ws.path), "--model-weight", "2"])
    assert bad.exit_code == 2 and "--model-weight must be 'auto' or a float in [0, 1]" in bad.output
    bad = CliRunner().invoke(main, ["score", str(ws.path), "--missing-gain", "0"])
    assert bad.exit_code == 2 and "--missing-gain" in bad.output
    tuned = CliRunner().invoke(main, ["score", str(ws.path), "--seed", "3", "--refine", "0", "--outlier-weight",
                                      "0.1"])
    assert tuned.exit_code == 0, tuned.output
    params = json.loads((ws.path / "scores.json").read_text())["params"]
    assert params["refine"] == 0 and params["outlier_weight"] == 0.1  # the options reach the scorer
    # the failed run left the saved scores alone
    assert len(pd.read_parquet(ws.path / "scores.parquet")) == 180
    assert before.shape == (180,)
