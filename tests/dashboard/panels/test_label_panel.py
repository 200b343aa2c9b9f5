"""The Label tab's logic without a browser: batches, answers -> one edit-log batch (source learn:r<round>:<strategy>),
unsure / removed honoured, the check set, the status and the stopping signal, the colour-by options, undo, and
read-only servers (no tab, edits refused)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dashboard import ids
from dashboard.access import undo_redo
from dashboard.app import build_layout, create_app
from dashboard.data import AppData, AppState
from dashboard.panels import label
from dashboard.views import legend_counts
from mining.labelling import load_predictions, oracle_labels


@pytest.fixture
def pool(pool_ws, copy_ws):
    """(state of an app on a fresh copy of the unlabelled pool, the oracle's labels by patch id)."""
    ws = copy_ws(pool_ws)
    state = AppState.load(ws)
    create_app(ws, state=state)  # registers the callbacks like a served app (and checks the layout builds)
    return state, oracle_labels(state.current.ws)


def _answer_all(batch: dict, truth) -> dict:
    answers = label.initial_answers(batch)
    for pid in batch["ids"]:
        answers[pid] = {"labels": list(truth[pid]), "mark": "", "done": True}
    return answers


def _ids_in(component) -> list:
    found = []

    def walk(c):
        if isinstance(c, (list, tuple)):
            for x in c:
                walk(x)
            return
        cid = getattr(c, "id", None)
        if cid is not None:
            found.append(cid)
        for attr in ("children",):
            walk(getattr(c, attr, None) or [])

    walk(component)
    return found


def test_a_round_answers_into_one_log_batch(pool):
    state, truth = pool
    b = label.next_round(state, strategy="random", batch_size=12)
    assert b["round"] == 1 and b["strategy"] == "random" and len(b["ids"]) == 12 == len(set(b["ids"]))
    assert len(b["predicted"]) == 12 and b["multi"] is False  # nothing labelled yet: single-label by default
    answers = _answer_all(b, truth)
    unsure, removed, undecided = b["ids"][0], b["ids"][1], b["ids"][2]
    answers[unsure]["mark"] = "unsure"
    answers[removed]["mark"] = "removed"
    answers[undecided]["done"] = False
    msg, version = label.submit(state, b, answers, author="ana")
    assert version is not None, msg
    assert "9 labelled, 1 unsure, 1 removed; 1 undecided left out" in msg
    data = state.sync()
    batches = data.edits.batches()
    assert len(batches) == 1 and batches["source"].iat[0] == "learn:r1:random" and batches["author"].iat[0] == "ana"
    ev = data.edits.events()
    by_op = ev.groupby("op")["patch_id"].apply(set).to_dict()
    assert by_op["flag"] == {unsure} and by_op["exclude"] == {removed}
    assert undecided not in set(ev["patch_id"])
    sets = ev[ev["op"] == "set"]
    assert len(sets) == 9
    for pid, lab in zip(sets["patch_id"], sets["label"], strict=True):
        assert json.loads(lab) == list(truth[pid])[:1]  # single-label: the first class
    assert int(data.labels.decided.sum()) == 9
    # the same answers again (a double click) write nothing more
    assert label.submit(state, b, answers, author="ana")[1] == version
    assert len(state.sync().edits.batches()) == 1
    # the next round never asks a labelled, removed or unsure patch again
    b2 = label.next_round(state, strategy="entropy", batch_size=12)
    assert b2["round"] == 2 and not set(b2["ids"]) & (set(b["ids"]) - {undecided})


def test_submit_refuses_without_a_name_or_a_decision(pool):
    state, _ = pool
    b = label.next_round(state, strategy="random", batch_size=5)
    msg, version = label.submit(state, b, label.initial_answers(b), author="  ")
    assert version is None and msg == label.NO_AUTHOR
    msg, version = label.submit(state, b, label.initial_answers(b), author="ana")
    assert version is None and msg.startswith("Nothing decided")
    assert not state.sync().edits.version()


def test_answers_payload_single_and_multi_label():
    classes = ("A", "B", "C")
    batch = {"ids": ["p1", "p2", "p3", "p4", "p5"], "multi": False}
    answers = {"p1": {"labels": ["B", "C"], "mark": "", "done": True},
               "p2": {"labels": [], "mark": "", "done": True},
               "p3": {"labels": ["A"], "mark": "", "done": False},
               "p4": {"labels": ["A", "Z"], "mark": "unsure", "done": True}}
    pay = label.answers_payload(batch, answers, classes)
    assert pay["labels"] == {"p1": ["B"]} and pay["empty"] == ["p2"] and pay["undecided"] == ["p3", "p5"]
    assert pay["unsure"] == ["p4"] and pay["removed"] == []
    pay = label.answers_payload({**batch, "multi": True}, answers, classes)
    assert pay["labels"] == {"p1": ["B", "C"]}


def test_check_set_curve_and_stopping_signal(pool):
    state, truth = pool
    first = label.check_round(state, batch_size=40)
    assert first["round"] == 0 and len(first["ids"]) == 40
    session = label.session_for(state.sync())
    assert set(first["ids"]) <= set(session.check_ids)
    msg, version = label.submit(state, first, _answer_all(first, truth), author="ana")
    assert version is not None, msg
    assert state.sync().edits.batches()["source"].iat[-1] == "learn:check"
    st = label.status(state.sync(), label.session_for(state.sync()))
    assert st["labels_given"] == 0 and st["check_left"] == st["check_size"] - 40  # check labels are not "given"
    for _ in range(2):
        b = label.next_round(state, strategy="random", batch_size=20)
        assert not set(b["ids"]) & set(session.check_ids)
        assert label.submit(state, b, _answer_all(b, truth), author="ana")[1] is not None
    b = label.next_round(state, strategy="random", batch_size=20)
    data = state.sync()
    st = label.status(data, label.session_for(data))
    assert st["round"] == 3 and st["labels_given"] == 40
    assert st["accuracy"] is not None and st["low"] <= st["accuracy"] <= st["high"] and st["n_check"] == 40
    assert st["signal"].startswith("Predictions changed on ")
    fig = label.curve_figure(st["curve"])
    assert list(fig.data[1].x) == [0, 20, 40]
    assert label.stability_words(None, None).startswith("The stopping signal needs two rounds")
    assert "changed on 4% of patches" in label.stability_words(0.96, 0.9) and "settling" in \
        label.stability_words(0.96, 0.9)
    assert "settled" in label.stability_words(0.995, 0.99)
    assert "No labels were given" in label.stability_words(1.0, 1.0, new_labels=0)


def test_colour_by_labelled_predicted_uncertainty(pool):
    state, truth = pool
    data = state.sync()
    assert set(np.unique(data.scheme("predicted").codes)) == {len(data.classes)}  # no predictions yet
    b = label.next_round(state, strategy="random", batch_size=15)
    label.submit(state, b, _answer_all(b, truth), author="ana")
    label.next_round(state, strategy="random", batch_size=15)  # refit on the answers: predictions rewritten
    data = state.sync()
    pred = load_predictions(data.ws)
    assert int(pred["labelled"].sum()) == 15
    lab = data.scheme("labelled")
    assert int((lab.codes == 2).sum()) == 15 and lab.names[2] == "labelled by a curator"
    p = data.scheme("predicted")
    assert (p.codes < len(data.classes)).mean() > 0.9
    u = data.scheme("uncertainty")
    assert int((u.codes == 1).sum()) == 15 and set(np.unique(u.codes)) - {1} <= {2, 3, 4}
    names = [n for n, _, _ in legend_counts(data, "labelled", None)]
    assert names[:2] == ["not labelled", "labelled by a curator"]
    # the predictions are read once per version of the file (the declared cache)
    assert data.predictions() is data.predictions()
    x, y = label.highlight_xy(data, "scatter")
    assert len(x) == len(y) == 15
    assert len(label.highlight_xy(data, "map")[0]) == 15


def test_undo_takes_the_labels_back(pool):
    state, truth = pool
    b = label.next_round(state, strategy="cold", batch_size=10)
    msg, version = label.submit(state, b, _answer_all(b, truth), author="ana")
    data = state.sync()
    assert label.status(data, label.session_for(data))["labels_given"] == 10
    res = undo_redo(state, "undo", author="ana")
    assert res["target"] is not None and "Undid batch" in res["message"]
    data = state.sync()
    assert label.status(data, label.session_for(data))["labels_given"] == 0
    assert not data.labels.decided.any()


def test_cards_render_the_answers(pool):
    state, _ = pool
    data = state.sync()
    assert "Start a round" in str(label.render_cards(data, None, None, 0, "true_color"))
    b = label.next_round(state, strategy="random", batch_size=6)
    answers = label.initial_answers(b)
    answers[b["ids"][1]] = {"labels": [], "mark": "removed", "done": True}
    cards = label.render_cards(state.sync(), b, answers, 1, "true_color")
    assert len(cards) == 6
    assert cards[1].className == "label-card is-removed focused" and cards[0].className == "label-card"
    assert cards[0].id == {"type": ids.LABEL_CARD, "index": b["ids"][0]}
    assert "/eomine/thumb/true_color/" in str(cards[0])


def test_read_only_has_no_label_tab_and_refuses(pool_ws, copy_ws):
    ws = copy_ws(pool_ws)
    data = AppData.load(ws, read_only=True)
    found = _ids_in(build_layout(data))
    assert ids.LABEL_PANEL not in found and ids.LABEL_SUBMIT not in found
    assert ids.PREDICTIONS_VERSION in found  # the scatter and the map listen to it
    state = AppState(data)
    batch = {"round": 1, "strategy": "random", "ids": [str(data.ids[0])], "predicted": [[]]}
    msg, version = label.submit(state, batch, {str(data.ids[0]): {"labels": [data.classes[0]], "done": True}},
                                author="ana")
    assert version is None and "read-only" in msg
    with pytest.raises(Exception, match="read-only"):
        label.next_round(state)
    assert not (ws / "active").exists()
    # a writable server shows the tab
    assert ids.LABEL_PANEL in _ids_in(build_layout(AppData.load(ws)))
