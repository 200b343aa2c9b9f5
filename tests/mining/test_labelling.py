"""Active learning on a workspace: an unlabelled pool, rounds, answers in the edit log (undo, kill -9), unsure and
removed patches, the check set and the stopping signal, predictions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mining.curation import EditLog
from mining.labelling import LabellingSession, load_predictions, oracle_labels, write_predictions
from mining.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pool(demo_ws, pool_of) -> Path:
    return pool_of(demo_ws)


def test_ingest_drop_labels_keeps_the_truth_aside(tmp_path):
    from mining.datasets.demo import DemoDataset
    from mining.ingest import ingest

    ingest(DemoDataset(n=120, seed=3), tmp_path / "ws", progress=False, drop_labels=True)
    ws = Workspace(tmp_path / "ws")
    cat = ws.catalog
    assert cat["labels"].map(len).eq(0).all()
    assert cat["true_labels"].map(len).gt(0).all()
    assert ws.meta["made_by"]["drop_labels"] is True
    assert EditLog(ws).current_labels().Y.sum() == 0


def test_a_round_asks_new_patches_and_the_answers_are_an_undoable_batch(pool):
    ws = Workspace(pool)
    log = EditLog(ws)
    session = LabellingSession(ws, check_size=60, seed=0)
    truth = oracle_labels(ws)
    assert truth.name == "gt_labels"  # the demo's ground truth, not its noisy labels
    batch = session.next_batch(log, strategy="auto", batch_size=30)
    assert batch.round == 1 and batch.strategy == "cold" and len(batch.patch_ids) == 30
    assert not set(batch.patch_ids) & set(session.check_ids)
    assert all(len(p) >= 1 for p in batch.predicted)
    bid = session.answer(log, batch, {p: truth[p] for p in batch.patch_ids}, author="ana")
    info = log.batch_info(bid)
    assert info.source == "learn:r1:cold" and info.author == "ana"
    cur = log.current_labels()
    rows = ws.rows_of(batch.patch_ids)
    assert cur.decided[rows].all() and cur.decided.sum() == 30
    assert [cur.labels_of(p) for p in batch.patch_ids[:3]] == [sorted(truth[p], key=ws.nomenclature.classes.index)
                                                              for p in batch.patch_ids[:3]]
    second = session.next_batch(log, strategy="random", batch_size=30)
    assert second.round == 2 and not set(second.patch_ids) & set(batch.patch_ids)
    assert session.rounds[-1]["labels_given"] == 30
    # undo: the patches are unlabelled again and may be asked again
    log.undo(author="ana")
    assert log.current_labels().decided.sum() == 0
    assert LabellingSession(ws).fit(log)[1]["labels_given"] == 0


def test_unsure_patches_wait_and_removed_ones_never_come_back(pool):
    ws = Workspace(pool)
    log = EditLog(ws)
    session = LabellingSession(ws, check_size=40, unsure_rounds=2, seed=0)
    truth = oracle_labels(ws)
    b1 = session.next_batch(log, strategy="margin", batch_size=20)
    unsure, removed = list(b1.patch_ids[:3]), list(b1.patch_ids[3:5])
    session.answer(log, b1, {p: truth[p] for p in b1.patch_ids}, author="ana", unsure=unsure, removed=removed)
    cur = log.current_labels()
    assert cur.flagged[ws.rows_of(unsure)].all() and cur.excluded[ws.rows_of(removed)].all()
    assert not cur.decided[ws.rows_of(unsure + removed)].any()  # no labels were written for them
    asked = []
    for _ in range(3):
        b = session.next_batch(log, strategy="margin", batch_size=20)
        asked.append(set(b.patch_ids))
        session.answer(log, b, {p: truth[p] for p in b.patch_ids}, author="ana")
    assert not (asked[0] | asked[1]) & set(unsure)   # not asked for 2 rounds
    assert not (asked[0] | asked[1] | asked[2]) & set(removed)  # removed from training: never asked


def test_check_set_learning_curve_and_stopping_signal(pool):
    ws = Workspace(pool)
    log = EditLog(ws)
    session = LabellingSession(ws, check_size=80, stability_size=300, seed=1)
    truth = oracle_labels(ws)
    check = session.check_batch(log)
    assert check.round == 0 and len(check.patch_ids) == 80 and check.source == "learn:check"
    session.answer(log, check, {p: truth[p] for p in check.patch_ids}, author="ana")
    assert session.check_batch(log).patch_ids == ()
    for _ in range(4):
        b = session.next_batch(log, strategy="auto", batch_size=40)
        session.answer(log, b, {p: truth[p] for p in b.patch_ids}, author="ana")
    curve = session.curve()
    assert curve["labels_given"].tolist() == [0, 40, 80, 120]  # the check set never counts as training labels
    assert (curve["n_check"] == 80).all()
    acc = curve["accuracy"].to_numpy()
    assert acc[-1] > acc[0] + 0.1 and (curve["low"] <= curve["accuracy"]).all()
    assert np.isnan(curve["agreement"].iloc[0]) and curve["agreement"].iloc[1:].between(0, 1).all()
    # the state survives a new session (another server process)
    again = LabellingSession(ws)
    assert again.rounds == session.rounds and again.check_ids == session.check_ids


def test_predictions_file(pool):
    ws = Workspace(pool)
    log = EditLog(ws)
    session = LabellingSession(ws, check_size=40, seed=0)
    truth = oracle_labels(ws)
    b = session.next_batch(log, batch_size=50)
    session.answer(log, b, {p: truth[p] for p in b.patch_ids}, author="ana")
    df = write_predictions(session, log)
    back = load_predictions(ws)
    assert len(back) == len(ws.ids) and back["labelled"].sum() == 50
    assert back["predicted"].map(len).gt(0).all()
    given = back.set_index("patch_id").loc[list(b.patch_ids)]
    assert [sorted(x) for x in given["predicted"]] == [sorted(truth[p]) for p in b.patch_ids]
    assert len(back["proba"].iloc[0]) == len(ws.nomenclature.classes)
    pd.testing.assert_series_equal(df["confidence"], back["confidence"], check_names=False)


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from mining.curation import EditLog
    from mining.labelling import LabellingSession, oracle_labels
    from mining.workspace import Workspace
    ws = Workspace({ws!r}); log = EditLog(ws)
    s = LabellingSession(ws, check_size=20, seed=0); truth = oracle_labels(ws)
    while True:
        b = s.next_batch(log, strategy="random", batch_size=25)
        s.answer(log, b, {{p: truth[p] for p in b.patch_ids}}, author="ana")
        print("answered", b.round, flush=True)
""")


def test_labels_given_survive_kill_9(pool):
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT), ws=str(pool))],
                            stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("answered 2"):
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    ws = Workspace(pool)
    log = EditLog(ws)
    decided = int(log.current_labels().decided.sum())
    assert decided >= 50 and decided % 25 == 0  # every answered batch whole, none half
    state = json.loads(ws.files.active_state.read_text())  # never a torn state file
    assert len(state["rounds"]) >= 2
    session = LabellingSession(ws)
    b = session.next_batch(log, strategy="random", batch_size=25)  # and the work goes on
    assert len(b.patch_ids) == 25
