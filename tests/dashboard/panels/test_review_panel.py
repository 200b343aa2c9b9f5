"""Review queue: suspects in rank order with evidence, accept / keep through the edit log, filters, the
scatter's suspicion colouring; in Chromium on a COPY of the demo with its own server."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from _server import start_server

from dashboard.data import AppData, AppState
from dashboard.panels import review
from mining.curation import EditLog
from mining.noise import load_scores, score_workspace
from mining.workspace import Workspace


@pytest.fixture(scope="module")
def scored_copy(demo_ws, tmp_path_factory):
    """A copy of the demo workspace with noise scores (demo_ws itself is never written to)."""
    out = tmp_path_factory.mktemp("review") / "ws"
    shutil.copytree(demo_ws, out, ignore=shutil.ignore_patterns("edits.*", "scores.*"))
    score_workspace(Workspace(out), seed=0)
    return out


@pytest.fixture
def ws_copy(scored_copy, tmp_path):
    out = tmp_path / "ws"
    shutil.copytree(scored_copy, out, ignore=shutil.ignore_patterns("edits.*"))
    return out


def test_queue_in_rank_order_finds_the_demo_errors(ws_copy):
    data = AppData.load(ws_copy)
    sc = review.review_scores(data)
    q = review.queue(data, sc)
    assert len(q) == len(sc) == int(load_scores(data.ws)["flagged"].sum()) > 10
    ranks = sc.rank[q]
    assert (np.diff(ranks) > 0).all()
    # the top of the queue is mostly the demo's injected label errors (8 % of the patches)
    gt = data.cat["gt_label_error"].to_numpy(bool)
    top = sc.rows[q[:30]]
    assert gt[top].mean() >= 3 * gt.mean()
    # filters: by class (current or suggested label) and by kind
    cls = data.classes[int(np.argmax(data.Y[sc.rows[q]].sum(0)))]
    j = data.classes.index(cls)
    qc = review.queue(data, sc, cls=cls)
    assert 0 < len(qc) < len(q)
    assert (data.Y[sc.rows[qc], j] | sc.suggested[qc, j]).all()
    for kind in ("spurious", "missing"):
        qk = review.queue(data, sc, kind=kind)
        assert (sc.kind[qk] == kind).all()
    assert len(review.queue(data, sc, cls="not a class")) == 0
    skipped = [str(data.ids[sc.rows[q[0]]])]
    assert review.queue(data, sc, skipped=skipped)[0] == q[1]


def test_card_shows_labels_suggestion_and_evidence_in_words(ws_copy):
    data = AppData.load(ws_copy)
    children, current = review.render_queue(data, composite="true_color")
    sc = review.review_scores(data)
    pos = review.queue(data, sc)[0]
    assert current == str(data.ids[sc.rows[pos]])
    text = str(children[0])
    assert "/eomine/thumb/true_color/" in text and current in text
    words = review.evidence_words(data, sc, pos)
    assert words and re.search(r"\d+ of 10 nearest neighbours", " ".join(words))
    assert any(k in " ".join(words) for k in ("likely spurious", "likely missing", "outlier"))


def test_accept_and_keep_go_through_the_edit_log(ws_copy):
    state = AppState.load(ws_copy)
    data = state.sync()
    sc = review.review_scores(data)
    q = review.queue(data, sc)
    first, second = (str(data.ids[sc.rows[p]]) for p in q[:2])
    msg, version = review.decide(state, first, "accept", author="")
    assert version is None and "Enter your name" in msg
    msg, version = review.decide(state, first, "accept", author="rev")
    assert version == 1 and first in msg
    log = EditLog(ws_copy)
    suggested = [data.classes[j] for j in np.flatnonzero(sc.suggested[q[0]])]
    assert log.current_labels().labels_of(first) == suggested
    assert data.labels_of(data.row(first)) != suggested  # an old snapshot never changes ...
    data = state.sync()
    assert data.labels_of(data.row(first)) == suggested  # ... the next one has the labels after the edit
    q2 = review.queue(data, review.review_scores(data))
    assert str(data.ids[sc.rows[q2[0]]]) == second  # the next suspect comes up
    msg, version = review.decide(state, second, "keep", author="rev")
    assert version == 2
    assert log.current_labels().confirmed[data.row(second)]
    data = state.sync()
    assert second not in set(data.ids[sc.rows[review.queue(data, sc)]])
    batches = log.batches()
    assert list(batches["author"]) == ["rev", "rev"] and list(batches["source"]) == ["review", "review"]
    assert "review queue: accept" in batches["note"].iat[0]


def test_without_scores_the_tab_says_how_to_make_them(demo_ws, tmp_path):
    out = tmp_path / "ws"
    shutil.copytree(demo_ws, out, ignore=shutil.ignore_patterns("edits.*", "scores.*"))
    data = AppData.load(out)
    children, current = review.render_queue(data)
    assert current is None and f"eomine score {out}" in str(children[0])
    sch = data.scheme("suspicion")
    assert (sch.codes == 0).all() and sch.names[0] == "not scored"


def test_suspicion_colours_follow_a_rescore_without_restarting(demo_ws, tmp_path):
    """`eomine score` run while the app serves: the next request's colour-by shows the new scores."""
    out = tmp_path / "ws"
    shutil.copytree(demo_ws, out, ignore=shutil.ignore_patterns("edits.*", "scores.*"))
    from dashboard.panels.tour import tour_graph

    state = AppState.load(out)
    data = state.sync()
    assert (data.scheme("suspicion").codes == 0).all()  # not scored yet
    assert tour_graph(data).suspicion is None  # the "class borders" tour has no scores to lean on yet
    assert state.sync() is data  # nothing changed: the same snapshot
    score_workspace(Workspace(out), seed=0)
    new = state.sync()
    assert new is not data and new.labels is data.labels  # a new snapshot; only the scores were re-read
    codes = new.scheme("suspicion").codes
    assert (codes > 0).all() and (codes == 3).any()  # every patch scored, some flagged
    assert (data.scheme("suspicion").codes == 0).all()  # the old snapshot is untouched
    sus = tour_graph(new).suspicion  # the tours follow the new scores too
    assert sus is not None and np.isfinite(sus).all() and (sus[codes == 3] >= 0.5).all()


def test_rescore_scores_the_labels_after_the_edits_and_one_at_a_time(ws_copy, monkeypatch):
    """The Review tab's Re-score job: the engine's scoring, in process, on the curated labels, its progress and
    errors as data; a second scoring of the same workspace while one runs is refused with a message, and the
    saved scores stay."""
    from mining.noise import _score_lock
    from mining.progress import Progress

    state = AppState.load(ws_copy)
    data = state.sync()
    sc = review.review_scores(data)
    first = str(data.ids[sc.rows[review.queue(data, sc)[0]]])
    review.decide(state, first, "accept", author="rev")
    before = (ws_copy / "scores.parquet").read_bytes()
    with _score_lock(Workspace(ws_copy)):  # another scoring is running
        res = review.rescore(ws_copy)
    assert not res["ok"] and "another scoring of this workspace is running" in res["error"]
    assert review.rescore_summary(res) == res["error"]
    assert (ws_copy / "scores.parquet").read_bytes() == before
    steps = []
    res = review.rescore(ws_copy, on_progress=steps.append)
    assert res["ok"] and not res["skipped"] and res["n"] == data.n
    assert all(isinstance(p, Progress) for p in steps) and [p.stage for p in steps] == ["load", "fit", "write"]
    assert [p.fraction for p in steps] == sorted(p.fraction for p in steps) and steps[-1].fraction == 1.0
    df = load_scores(Workspace(ws_copy)).set_index("patch_id")
    assert list(df.at[first, "labels"]) == EditLog(ws_copy).current_labels().labels_of(first)  # accepted labels
    summary = review.rescore_summary(res)
    assert summary.startswith("Re-scored in") and f"of {len(df):,} patches flagged" in summary
    res = review.rescore(ws_copy)
    assert res["ok"] and res["skipped"]  # nothing changed since: nothing recomputed
    assert review.rescore_summary(res).startswith("Scores already match the current labels")
    # keeping a suspect's labels leaves every label as it was: still up to date; accepting one is not
    data = state.sync()
    sc = review.review_scores(data)
    suspects = [str(data.ids[sc.rows[i]]) for i in review.queue(data, sc, skipped=[first])]
    assert review.decide(state, suspects[0], "keep", author="rev")[1] is not None
    assert review.rescore(ws_copy)["skipped"]
    labels_before = EditLog(ws_copy).current_labels()
    accepted = next(p for p in suspects[1:] if review.decide(state, p, "accept", author="rev")[1] is not None)
    assert EditLog(ws_copy).current_labels().labels_of(accepted) != labels_before.labels_of(accepted)
    res = review.rescore(ws_copy)
    assert res["ok"] and not res["skipped"]
    monkeypatch.chdir(ws_copy.parent)  # a server started with a relative workspace path
    assert review.rescore(Path(ws_copy.name))["skipped"]


def test_read_only_has_no_rescore(ws_copy):
    from dashboard.app import create_app

    app = create_app(ws_copy, read_only=True)
    assert "review-rescore" not in str(review.layout(app.server.extensions["eomine"].current))
    assert not any("review-rescore" in k for k in app.callback_map)
    app = create_app(ws_copy)
    assert "review-rescore" in str(review.layout(app.server.extensions["eomine"].current))
    assert any("review-rescore-msg" in k for k in app.callback_map)


def test_scatter_colour_by_suspicion(ws_copy):
    from dashboard.panels.scatter import legend_items
    from dashboard.views import full_view, render_points
    from mining.raster import hex_to_rgb

    data = AppData.load(ws_copy)
    df = load_scores(data.ws)
    sch = data.scheme("suspicion")
    codes, colors, names = sch.codes, sch.colors, sch.names
    flagged = data.ws.rows_of(df.loc[df["flagged"], "patch_id"].to_numpy(object))
    assert (codes[flagged] == 3).all() and (codes == 3).sum() == len(flagged)
    # the legend's bins quote the flag threshold the scores were made with (0.6 by default)
    assert names == ("not scored", "no suspicion (< 0.25)", "some (0.25–0.6)", "flagged (≥ 0.6)")
    score = df["score"].to_numpy()
    assert (codes[data.ws.rows_of(df["patch_id"].to_numpy(object))] == np.where(
        df["flagged"], 3, np.where(score < 0.25, 1, 2))).all()
    legend = str(legend_items(data, "suspicion", None))
    assert f"flagged (≥ 0.6) ({len(flagged):,})" in legend
    rgba, info = render_points(data, full_view(data.px, data.py), "suspicion", None, None)
    red = np.array(hex_to_rgb([colors[3]])[0][:3])
    px = rgba[..., :3].reshape(-1, 3).astype(int)
    assert (np.abs(px - red).sum(1) < 30).sum() > 20  # flagged points are drawn in the flag colour


# --------------------------------------------------------------------------------------------- browser
@pytest.mark.browser
def test_review_queue_in_the_browser(scored_copy, browser, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(scored_copy, ws, ignore=shutil.ignore_patterns("edits.*"))
    proc, url = start_server(ws)
    ctx = browser.new_context(viewport={"width": 1600, "height": 1050})
    try:
        page = ctx.new_page()
        page.set_default_timeout(45000)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/?color=suspicion")
        page.wait_for_selector("#scatter-graph .main-svg")
        page.wait_for_function("/in view/.test(document.querySelector('#scatter-info').innerText)")
        # the scatter is coloured by suspicion: its legend counts the flagged patches
        n_flagged = int(load_scores(Workspace(ws))["flagged"].sum())
        page.wait_for_function("document.querySelector('#scatter-legend').innerText.includes('flagged')")
        assert f"flagged (≥ 0.6) ({n_flagged:,})" in page.inner_text("#scatter-legend")
        page.fill("#curate-author-input", "rev")
        page.click("#curate-author-save")
        page.wait_for_function("document.querySelector('#curate-author-info').innerText.includes('rev')")
        page.get_by_text("Review", exact=True).click()
        page.wait_for_selector(".review-card")
        first = page.get_attribute(".review-card", "data-patch")
        assert "score" in page.inner_text(".review-card") and "nearest neighbours" in page.inner_text(".review-card")
        # accept with the keyboard shortcut: the next suspect appears, the log holds the suggestion
        page.locator("body").press("a")
        page.wait_for_function(f"document.querySelector('.review-card') && "
                               f"document.querySelector('.review-card').dataset.patch !== {first!r}")
        second = page.get_attribute(".review-card", "data-patch")
        assert second != first
        page.wait_for_function("document.querySelector('#review-message').innerText.includes('Batch')")
        cur = EditLog(ws).current_labels()
        assert cur.changed[cur.row(first)]
        # skip: the third suspect comes up, nothing is written
        # (a background refresh of the queue can re-create the buttons as the click lands: click again, as a
        # curator would, if the card did not move on)
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        moved = f"document.querySelector('.review-card').dataset.patch !== {second!r}"
        for attempt in range(3):
            page.click("button[data-key='s']")
            try:
                page.wait_for_function(moved, timeout=15000 if attempt < 2 else 45000)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
        assert len(EditLog(ws).batches()) == 1
        # re-score on the curated labels, in the background: progress, then the result; the queue redraws
        labels_before = json.loads((ws / "scores.json").read_text())["labels"]
        page.click("#review-rescore")
        page.wait_for_function("document.querySelector('#review-rescore-msg').innerText.startsWith('Re-scored')",
                               timeout=120000)
        assert "patches flagged" in page.inner_text("#review-rescore-msg")
        assert json.loads((ws / "scores.json").read_text())["labels"] != labels_before  # the edit was scored
        page.wait_for_selector(".review-card")
        assert not page.is_disabled("#review-rescore")
        assert not errors, errors
    finally:
        ctx.close()
        proc.terminate()
        proc.wait(10)
