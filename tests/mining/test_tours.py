"""Tours: determinism by seed, no revisits, coverage of the grand tour, disconnected graphs, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from mining.errors import DataError, ParameterError
from mining.tours import (
    Tour,
    TourGraph,
    border_scores,
    boundary_tour,
    class_tour,
    describe_stops,
    grand_tour,
    random_walk,
    short_path,
)


@pytest.fixture(scope="module")
def demo_graph(tmp_path_factory) -> TourGraph:
    """A 700-patch demo workspace: spectral embeddings, k=15 graph, PCA layout."""
    from mining.datasets.demo import DemoDataset
    from mining.ingest import ingest
    from mining.pipeline import step_embed, step_knn, step_project
    from mining.workspace import Workspace

    out = tmp_path_factory.mktemp("tours") / "ws"
    ingest(DemoDataset(n=700, seed=2), out, progress=False)
    ws = Workspace(out)
    step_embed(ws, "spectral", progress=False)
    step_knn(ws, k=15)
    step_project(ws, method="pca", seed=0)
    g = TourGraph.from_workspace(ws)
    g.ws_path = out
    return g


def two_islands(n_each: int = 40, k: int = 5, seed: int = 0):
    """A kNN graph of two disconnected islands (rows 0..n-1 and n..2n-1) plus three rows without a graph."""
    rng = np.random.default_rng(seed)
    n = 2 * n_each + 3
    ind = np.full((n, k), -1, np.int32)
    for base in (0, n_each):
        for i in range(n_each):
            others = np.setdiff1d(np.arange(n_each), [i])
            ind[base + i] = base + rng.choice(others, k, replace=False)
    dist = np.where(ind >= 0, rng.uniform(0.05, 0.6, ind.shape), np.inf).astype(np.float32)
    Y = np.zeros((n, 3), bool)
    Y[:n_each, 0] = True
    Y[n_each:2 * n_each, 1] = True
    Y[n_each - 5:n_each, 2] = True  # a few with a second label: a border inside island 0
    xy = np.c_[np.r_[rng.normal(0, 1, n_each), rng.normal(10, 1, n_each), [np.nan] * 3],
               rng.normal(0, 1, n)].astype(np.float32)
    return ind, dist, Y, xy


def is_edge(ind, a, b) -> bool:
    return bool((ind[a] == b).any())


# ------------------------------------------------------------------------------------------------ random walk
def test_random_walk_is_deterministic_by_seed_and_never_revisits(demo_graph):
    g = demo_graph
    a = Tour("random", steps=120, seed=7).fit(g)
    b = Tour("random", steps=120, seed=7).fit(g)
    c = Tour("random", steps=120, seed=8).fit(g)
    assert a.patch_ids_ == b.patch_ids_
    assert a.patch_ids_ != c.patch_ids_
    assert len(a.patch_ids_) == 120 and len(set(a.patch_ids_)) == 120
    # every non-jump step follows an edge of the stored graph
    for i in range(1, len(a.rows_)):
        if not a.jumps_[i]:
            assert is_edge(g.ind, a.rows_[i - 1], a.rows_[i])
    assert a.jumps_.mean() < 0.5  # mostly graph steps, not a sequence of teleports


def test_random_walk_prefers_similar_neighbours(demo_graph):
    """Weighted by similarity: over many steps the nearest neighbour is taken more often than the farthest."""
    g = demo_graph
    rel = []
    for seed in range(20):
        t = Tour("random", steps=40, seed=seed).fit(g)
        for i in np.flatnonzero(~t.jumps_):
            if i == 0:
                continue
            nb = g.ind[t.rows_[i - 1]]
            free = nb[~np.isin(nb, t.rows_[:i])]  # neighbours still unvisited, nearest first
            if len(free) > 1:
                rel.append(int(np.flatnonzero(free == t.rows_[i])[0]) / (len(free) - 1))
    assert np.mean(rel) < 0.4  # uniform choice among the free neighbours: 0.5


def test_random_walk_teleports_after_max_run_and_starts_where_asked(demo_graph):
    g = demo_graph
    start = str(g.patch_ids[123])
    t = Tour("random", steps=60, start=start, seed=1, max_run=5).fit(g)
    assert t.patch_ids_[0] == start
    runs = np.diff(np.r_[np.flatnonzero(t.jumps_), len(t.jumps_)])
    assert t.jumps_.sum() >= 60 // 6 - 1
    assert (runs <= 6).all()


def test_random_walk_crosses_a_disconnected_graph_by_teleporting():
    ind, dist, Y, xy = two_islands()
    w = random_walk(ind, dist, 0, 80, seed=3, max_run=1000)
    assert len(w.rows) == 80 and len(set(w.rows.tolist())) == 80  # both islands fully, nothing twice
    assert set(w.rows.tolist()) == set(range(80))                # never a patch without a graph
    assert w.jumps.any()
    w2 = random_walk(ind, dist, 0, 500, seed=3)  # more steps than reachable patches: stops, no error
    assert len(w2.rows) == 80


def test_random_walk_on_a_chain_restarts_two_hops_away():
    """A chain 0-1-2-...: at the end every neighbour is visited; the walk goes on without repeating."""
    n = 30
    ind = np.full((n, 2), -1, np.int32)
    for i in range(n):
        nb = [j for j in (i - 1, i + 1) if 0 <= j < n]
        ind[i, :len(nb)] = nb
    w = random_walk(ind, None, 15, n, seed=0)
    assert sorted(w.rows.tolist()) == list(range(n))


# ------------------------------------------------------------------------------------------------ grand tour
def test_grand_tour_by_class_covers_every_class_once(demo_graph):
    g = demo_graph
    t = Tour("grand", by="class", seed=0).fit(g)
    present = set(np.flatnonzero(g.Y[g.ind[:, 0] >= 0].any(0)).tolist())
    assert set(t.groups_.tolist()) == present
    assert len(t.groups_) == len(set(t.groups_.tolist()))
    for row, c in zip(t.rows_, t.groups_, strict=True):
        assert g.Y[row, c]  # each representative carries its class
    assert Tour("grand", by="class", seed=0).fit(g).patch_ids_ == t.patch_ids_


def test_grand_tour_by_cluster_covers_every_cluster_in_a_short_order(demo_graph):
    g = demo_graph
    t = Tour("grand", by="cluster", steps=25, seed=4).fit(g)
    assert sorted(t.groups_.tolist()) == list(range(25))
    assert len(set(t.patch_ids_)) == 25
    P = g.xy[t.rows_].astype(float)
    length = np.hypot(*np.diff(P, axis=0).T).sum()
    rng = np.random.default_rng(0)
    random_lengths = [np.hypot(*np.diff(P[rng.permutation(25)], axis=0).T).sum() for _ in range(50)]
    assert length < 0.5 * np.median(random_lengths)
    assert Tour("grand", by="cluster", steps=25, seed=4).fit(g).patch_ids_ == t.patch_ids_


def test_grand_tour_starts_at_the_given_patch(demo_graph):
    g = demo_graph
    start = str(g.patch_ids[42])
    t = Tour("grand", start=start).fit(g)
    assert t.patch_ids_[0] == start and len(set(t.patch_ids_)) == len(t.patch_ids_)


def test_grand_tour_on_a_disconnected_graph_visits_both_islands():
    ind, dist, Y, xy = two_islands()
    w, groups = grand_tour(ind, Y, xy, by="class")
    assert set(groups.tolist()) == {0, 1, 2}
    assert w.rows.max() < 80  # rows without a graph are never representatives


def test_short_path_beats_the_input_order():
    rng = np.random.default_rng(1)
    P = rng.uniform(0, 1, (60, 2))
    order = short_path(P, start=5)
    assert order[0] == 5 and sorted(order.tolist()) == list(range(60))
    length = np.hypot(*np.diff(P[order], axis=0).T).sum()
    assert length < 0.6 * np.hypot(*np.diff(P, axis=0).T).sum()
    # 2-opt leaves no improving reversal
    D = np.hypot(*(P[:, None] - P[None]).transpose(2, 0, 1))
    o = order
    for i in range(1, 59):
        for j in range(i + 1, 60):
            old = D[o[i - 1], o[i]] + (D[o[j], o[j + 1]] if j < 59 else 0)
            new = D[o[i - 1], o[j]] + (D[o[i], o[j + 1]] if j < 59 else 0)
            assert new >= old - 1e-9


# ------------------------------------------------------------------------------------------------ boundary
def test_boundary_tour_prefers_borders(demo_graph):
    g = demo_graph
    t = Tour("boundary", steps=80, seed=5).fit(g)
    assert t.patch_ids_ == Tour("boundary", steps=80, seed=5).fit(g).patch_ids_
    assert t.patch_ids_ != Tour("boundary", steps=80, seed=6).fit(g).patch_ids_
    assert len(set(t.patch_ids_)) == 80
    pool = np.flatnonzero(g.ind[:, 0] >= 0)
    overall = border_scores(g.ind, g.Y, pool).mean()
    on_tour = np.mean([border_scores(g.ind, g.Y, Tour("boundary", steps=80, seed=s).fit(g).rows_).mean()
                       for s in range(5)])
    rw = np.mean([border_scores(g.ind, g.Y, Tour("random", steps=80, seed=s).fit(g).rows_).mean()
                  for s in range(5)])
    assert on_tour > overall + 0.05 and on_tour > rw + 0.05


def test_boundary_tour_uses_noise_scores_when_present(demo_graph):
    g = demo_graph
    pool = np.flatnonzero(g.ind[:, 0] >= 0)
    sus = np.zeros(g.n, np.float32)
    hot = pool[::7]
    sus[hot] = 1.0
    with_scores = boundary_tour(g.ind, g.dist, g.Y, 80, seed=2, suspicion=sus).rows
    without = boundary_tour(g.ind, g.dist, g.Y, 80, seed=2).rows
    assert np.isin(with_scores, hot).mean() > np.isin(without, hot).mean()


def test_boundary_tour_on_a_disconnected_graph():
    ind, dist, Y, xy = two_islands()
    w = boundary_tour(ind, dist, Y, 80, seed=0)
    assert len(set(w.rows.tolist())) == len(w.rows) == 80
    assert w.rows[0] in range(n := 40) or w.rows[0] < 2 * n  # starts on a patch of the graph


def test_border_scores():
    ind = np.array([[1, 2], [0, 2], [0, 1], [-1, -1]], np.int32)
    Y = np.array([[1, 0], [1, 0], [0, 1], [1, 0]], bool)
    s = border_scores(ind, Y, np.arange(4))
    np.testing.assert_allclose(s, [0.5, 0.5, 1.0, 0.0])


# ------------------------------------------------------------------------------------------------ class tour
def test_class_tour_stays_in_the_class_and_spreads_out(demo_graph):
    g = demo_graph
    counts = g.Y.sum(0)
    label = g.classes[int(np.argmax(counts))]
    c = g.classes.index(label)
    t = Tour("class", label=label, steps=20, seed=3).fit(g)
    assert len(t.rows_) == 20 and len(set(t.patch_ids_)) == 20
    assert g.Y[t.rows_, c].all()
    assert t.patch_ids_ == Tour("class", label=label, steps=20, seed=3).fit(g).patch_ids_
    assert t.patch_ids_ != Tour("class", label=label, steps=20, seed=4).fit(g).patch_ids_
    # variety: farthest-point stops lie farther apart from each other than a random sample of the class does
    members = np.flatnonzero(g.Y[:, c] & (g.ind[:, 0] >= 0))

    def min_gap(rows):
        P = g.xy[rows].astype(float)
        D = np.hypot(*(P[:, None] - P[None]).transpose(2, 0, 1))
        return D[np.triu_indices(len(rows), 1)].min()

    rng = np.random.default_rng(0)
    assert min_gap(t.rows_) > 2 * np.median([min_gap(rng.choice(members, 20, replace=False)) for _ in range(20)])


def test_class_tour_on_a_disconnected_graph():
    ind, dist, Y, xy = two_islands()
    w = class_tour(ind, Y, xy, 1, 15, seed=0)
    assert Y[w.rows, 1].all() and len(set(w.rows.tolist())) == 15


# ------------------------------------------------------------------------------------------------ captions, errors
def test_describe_stops_reports_label_changes_and_distances(demo_graph):
    g = demo_graph
    t = Tour("random", steps=30, seed=0).fit(g)
    df = t.stops()
    assert list(df["patch_id"]) == t.patch_ids_
    assert df.loc[0, "gained"] == [] and df.loc[0, "km"] == 0
    for i in range(1, len(df)):
        prev, cur = set(df.loc[i - 1, "labels"]), set(df.loc[i, "labels"])
        assert set(df.loc[i, "gained"]) == cur - prev and set(df.loc[i, "lost"]) == prev - cur
        if not df.loc[i, "jump"]:
            j = int(np.flatnonzero(g.ind[t.rows_[i - 1]] == t.rows_[i])[0])
            assert df.loc[i, "embedding"] == pytest.approx(float(g.dist[t.rows_[i - 1], j]))
    assert (df["km"] >= 0).all() and df["km_total"].iloc[-1] == pytest.approx(df["km"].sum())
    one = describe_stops(g, t.rows_[:1])
    assert len(one) == 1


@pytest.mark.parametrize("kw, error, match", [
    ({"strategy": "spiral"}, ParameterError, "strategy must be one of 'random', 'grand'"),
    ({"strategy": "class"}, DataError, "needs a class"),
    ({"strategy": "class", "label": "Moon craters"}, DataError, "unknown class 'Moon craters'"),
    ({"strategy": "random", "start": "NOPE_1"}, DataError, "NOPE_1"),
    ({"strategy": "random", "steps": 0}, ParameterError, r"steps must be an int in \[1, 100000\], got 0"),
    ({"strategy": "grand", "by": "season"}, ParameterError, "by must be one of 'class', 'cluster'"),
])
def test_bad_tour_parameters_are_refused_with_a_readable_message(demo_graph, kw, error, match):
    strategy = kw.pop("strategy")
    with pytest.raises(error, match=match):
        Tour(strategy, **kw).fit(demo_graph)


# ------------------------------------------------------------------------------------------------ export + CLI
def _payload(html_text: str) -> dict:
    import json
    import re

    m = re.search(r"var T = (\{.*?\});\n", html_text, re.S)
    assert m, "tour data not found in the HTML"
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_cli_tour_exports_a_self_contained_html_and_gif(demo_graph, tmp_path):
    import re

    from click.testing import CliRunner
    from PIL import Image

    from eomine.cli import main

    ws_path = _ws_path(demo_graph)
    start = str(demo_graph.patch_ids[10])
    out, gif = tmp_path / "tour.html", tmp_path / "tour.gif"
    res = CliRunner().invoke(main, ["tour", str(ws_path), "--strategy", "random", "--start", start, "--steps", "12",
                                    "--seed", "4", "--export", str(out), "--gif", str(gif)])
    assert res.exit_code == 0, res.output
    assert "12 stops" in res.output
    text = out.read_text()
    # nothing is fetched: no external src/href, no http(s) URL anywhere except the SVG namespace
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", text)
    assert set(re.findall(r"https?://[^\s\"'<>)]+", text)) <= {"http://www.w3.org/2000/svg"}
    p = _payload(text)
    assert p["format"] == "eomine-tour" and p["version"] == 1
    assert p["params"]["seed"] == 4 and p["params"]["strategy"] == "random"
    ids = [s["id"] for s in p["stops"]]
    assert ids[0] == start and ids == Tour("random", steps=12, start=start, seed=4).fit(demo_graph).patch_ids_
    assert all(s["img"].startswith("data:image/png;base64,") for s in p["stops"])
    assert p["layout"]["image"].startswith("data:image/png;base64,") and p["map"]["path"].startswith("M")
    im = Image.open(gif)
    assert im.n_frames == 12


def test_cli_tour_bad_input_is_one_line_and_keeps_an_existing_export(demo_graph, tmp_path):
    from click.testing import CliRunner

    from eomine.cli import main

    out = tmp_path / "tour.html"
    out.write_text("previous export")
    for args, word in ((["--start", "NOT_A_PATCH"], "NOT_A_PATCH"), (["--strategy", "class"], "needs a class"),
                       (["-c", "infrared"], "infrared"), (["--size", "5"], "size")):
        res = CliRunner().invoke(main, ["tour", str(_ws_path(demo_graph)), "--export", str(out), *args])
        assert res.exit_code == 2, res.output
        assert "Traceback" not in res.output and word in res.output
        assert out.read_text() == "previous export"


def _ws_path(g: TourGraph):
    return g.ws_path
