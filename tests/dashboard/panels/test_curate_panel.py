"""The Curate panel's plain functions without a browser: what the buttons apply to, the edits they build, and
the labels after edits in every panel's snapshot."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from dash import no_update

from dashboard.app import create_app
from dashboard.data import Filters
from dashboard.panels import curate, grid
from mining.errors import DataError


@pytest.fixture
def app(demo_ws, copy_ws):
    return create_app(copy_ws(demo_ws))


# --------------------------------------------------------------------------------------------- plain functions
def test_relabel_the_selection_changes_labels_everywhere(app):
    state = app.server.extensions["eomine"]
    data = state.current
    sel = {"kind": "box", "range": [[float(np.nanmin(data.px)), float(np.nanmedian(data.px))],
                                    [float(np.nanmin(data.py)), float(np.nanmax(data.py))]]}
    rows = curate.target_rows(data, "selection", {}, sel, None)
    assert 0 < len(rows) < data.n
    urban = data.classes[0]
    res = curate.run_action(state, "selection", "set", author="ana", note="a town", labels=[urban], sel=sel,
                            filters={})
    msg, version = res["message"], res["version"]
    assert res["batch"] == 1  # the result offers Undo of exactly this batch
    assert version == 1 and msg.startswith("Batch 1: set labels to Urban fabric on") and f"{len(rows):,}" in msg
    # the app's next snapshot (scatter colours, filters, grid chips, detail) has the labels after the edit
    data = state.sync()
    assert data.Y[rows].sum(1).tolist() == [1] * len(rows) and data.Y[rows, 0].all()
    assert (data.labels.first[rows] == 0).all() and (data.scheme("label").codes[rows] == 0).all()
    assert data.labels.changed[rows].any() and data.labels.version == 1
    assert data.mask(Filters(labels=(urban,)))[rows].all()  # the label filter sees the new labels
    assert grid.label_summary(data, rows)[0] == (0, len(rows))
    h = data.edits.batches()
    assert h[["author", "note", "n_events"]].iloc[0].tolist() == ["ana", "a town", len(rows)]
    # undo by batch restores the catalog's labels
    res = curate.run_action(state, "log", "undo", author="ana")
    assert res["version"] == 2 and res["message"].startswith("Undid batch 1 (Set labels")
    data = state.sync()
    cat = pd.read_parquet(data.ws.catalog_path, columns=["labels"])
    assert [list(x) for x in cat["labels"].iloc[rows[:20]]] == [data.labels_of(int(r)) for r in rows[:20]]


def test_actions_need_an_author_and_a_target(app):
    state = app.server.extensions["eomine"]
    res = curate.run_action(state, "selection", "flag", author="", sel=None, filters={})
    msg, version = res["message"], res["version"]
    assert version is None and "name" in msg
    res = curate.run_action(state, "selection", "flag", author="ana", sel=None, filters={})
    msg, version = res["message"], res["version"]
    assert version is None and msg == curate.NO_TARGET
    res = curate.run_action(state, "focus", "flag", author="ana", selected=None)
    msg, version = res["message"], res["version"]
    assert version is None and "No patch in focus" in msg
    res = curate.run_action(state, "selection", "add", author="ana", filters={"splits": ["train"]})
    msg, version = res["message"], res["version"]
    assert version is None and "Choose a label" in msg
    assert state.current.edits.version() == 0


def test_add_skips_patches_that_already_have_the_label(app):
    data = app.server.extensions["eomine"].current
    j = int(np.argmax(data.Y.sum(0)))
    rows = np.arange(50)
    edits, skipped = curate.build_edits(data, rows, "add", label=data.classes[j])
    assert skipped == int(data.Y[rows, j].sum()) and len(edits) == 50 - skipped
    with pytest.raises(DataError, match="Unknown label"):
        curate.build_edits(data, rows, "set", labels=["Lava"])


def test_a_whole_dataset_action_is_one_batch_over_every_patch(app):
    """Every split selected = the whole dataset (its speed at 549,488 patches is bench/edits.py's job)."""
    state = app.server.extensions["eomine"]
    data = state.current
    res = curate.run_action(state, "selection", "flag", author="ana", filters={"splits": data.splits})
    msg, version = res["message"], res["version"]
    assert version == 1 and f"{data.n:,}" in msg
    assert state.sync().labels.flagged.all() and not data.labels.flagged.any()
    b = data.edits.batches()
    assert len(b) == 1 and int(b["n_events"].iat[0]) == data.n




def _act(app, target, op, *, author="ana", label=None, labels=None, filters=None, sel=None, rid="r1"):
    from _helpers import run_callback

    from dashboard import ids

    prop = json.dumps({"op": op, "target": target, "type": ids.CURATE_ACTION}) + ".n_clicks"
    return run_callback(app, curate.act, [1], author, "", label, labels, [], filters, sel, None, None, rid,
                        triggered=[{"prop_id": prop, "value": 1}])


def test_a_large_edit_asks_first_naming_the_count_and_what_selected_it(demo_ws, copy_ws):
    from _helpers import run_callback

    app = create_app(copy_ws(demo_ws), confirm_above=100)
    state = app.server.extensions["eomine"]
    everything = {"splits": ["train", "validation", "test"]}
    version, msg, note, shown, question, pending = _act(app, "selection", "flag", filters=everything)
    assert shown is True and pending["n"] == 1500 and version is no_update
    assert "Flagged 1,500 patches?" in question and "split train or validation or test" in question
    assert state.current.edits.version() == 0  # nothing committed yet
    # Cancel: nothing is committed
    out = run_callback(app, curate.confirm, None, 1, pending, "ana",
                       triggered=[{"prop_id": f"{curate.ids.CURATE_CONFIRM}.cancel_n_clicks", "value": 1}])
    assert "Cancelled" in str(out[1]) and state.current.edits.version() == 0
    # OK: exactly what was confirmed, once, under the request id of the click
    out = run_callback(app, curate.confirm, 1, None, pending, "ana",
                       triggered=[{"prop_id": f"{curate.ids.CURATE_CONFIRM}.submit_n_clicks", "value": 1}])
    assert out[0] == 1 and "Batch 1: flagged 1,500 patches" in str(out[1])
    again = run_callback(app, curate.confirm, 2, None, pending, "ana",  # a replayed confirmation
                         triggered=[{"prop_id": f"{curate.ids.CURATE_CONFIRM}.submit_n_clicks", "value": 2}])
    assert "already saved" in str(again[1]) and state.current.edits.version() == 1
    # small edits go straight through
    version, msg, *_ = _act(app, "selection", "unflag", filters={"splits": ["test"]}, sel=None, rid="r2")
    assert version is no_update  # 368 patches > 100: asks too
    app = create_app(state.current.ws.path)  # the default threshold, 1,000
    version, msg, *_ = _act(app, "selection", "unflag", filters={"splits": ["test"]}, rid="r3")
    assert version == 2 and "unflagged" in str(msg)


def test_the_same_request_id_commits_once(demo_ws, copy_ws):
    app = create_app(copy_ws(demo_ws))
    state = app.server.extensions["eomine"]
    f = {"splits": ["test"]}
    first = curate.run_action(state, "selection", "flag", author="ana", filters=f, request_id="dbl")
    second = curate.run_action(state, "selection", "flag", author="ana", filters=f, request_id="dbl")
    assert first["batch"] == second["batch"] == 1 and "already saved" in second["message"]
    assert len(state.current.edits.batches()) == 1
    words = curate.scope_words(state.sync(), {"labels": ["__no_label__", "Urban fabric"], "countries": ["Austria"]},
                               {"kind": "lasso", "points": [[0, 0], [1, 0], [1, 1]], "name": "towns"})
    assert words == "selection “towns” ∧ label no label or Urban fabric ∧ country Austria"


def test_a_repeated_click_is_one_intent_until_something_else_happens(demo_ws, copy_ws):
    app = create_app(copy_ws(demo_ws))
    state = app.server.extensions["eomine"]
    f = {"splits": ["test"]}
    label = state.current.classes[0]
    first = _act(app, "selection", "add", label=label, filters=f, rid="a")
    again = _act(app, "selection", "add", label=label, filters=f, rid="b")  # the first came back already
    assert first[0] == again[0] == 1 and "repeated click changed nothing" in str(again[1])
    assert len(state.current.edits.batches()) == 1
    from dashboard.access import undo_redo

    undo_redo(state, "undo", author="ana")
    third = _act(app, "selection", "add", label=label, filters=f, rid="c")  # after an undo: a new edit
    assert third[0] == 3 and "Batch 3" in str(third[1])


def test_assign_the_selection_to_a_split_and_undo_it(app):
    state = app.server.extensions["eomine"]
    data = state.current
    sel = {"kind": "box", "range": [[float(np.nanmin(data.px)), float(np.nanmedian(data.px))],
                                    [float(np.nanmin(data.py)), float(np.nanmax(data.py))]]}
    rows = curate.target_rows(data, "selection", {}, sel, None)
    before = data.labels.split[rows].copy()
    res = curate.run_action(state, "selection", "split", author="ana", label=None, sel=sel, filters={})
    assert res["version"] is None and "Choose the split" in res["message"]
    res = curate.run_action(state, "selection", "split", author="ana", label="test", sel=sel, filters={})
    n = int((before != "test").sum())
    assert res["batch"] == 1 and f"assigned split test to {n:,} patches" in res["message"], res
    new = state.sync()
    assert (new.labels.split[rows] == "test").all() and new.mask(Filters(splits=("test",)))[rows].all()
    res = curate.run_action(state, "selection", "split", author="ana", label="test", sel=sel, filters={})
    assert res["version"] is None and "already in it" in res["message"]
    curate.run_action(state, "log", "undo", author="ana")
    assert (state.sync().labels.split[rows] == before).all()
