"""Find a patch by id, and the History tab (every batch, undo / redo of any of your own)."""

from __future__ import annotations

import json

import pytest
from _helpers import run_callback, text_of

from dashboard import ids
from dashboard.access import commit_edits
from dashboard.app import create_app
from dashboard.panels import find, history
from mining.curation import Edit


@pytest.fixture
def app(demo_ws, copy_ws):
    return create_app(copy_ws(demo_ws))


def test_find_a_patch_by_its_id_or_a_unique_part(app):
    data = app.server.extensions["eomine"].current
    pid = str(data.ids[42])
    assert find.find_patch(data, pid) == (pid, f"Patch {pid} is in focus.")
    part = pid.split("_", 2)[-1]  # the end of the id, as a curator copies it from a file name
    hits = [p for p in data.ids if part.lower() in p.lower()]
    got, msg = find.find_patch(data, part)
    assert (got == pid) if len(hits) == 1 else (got is None and f"{len(hits):,} patch ids contain" in msg)
    assert find.find_patch(data, "no-such-thing-123") == (None, "No patch id contains “no-such-thing-123”.")
    assert find.find_patch(data, "  ") == (None, "")
    assert run_callback(app, find.find, 1, pid, pid) == (pid, f"Patch {pid} is in focus.")


def test_history_lists_batches_and_undoes_any_of_yours(app):
    state = app.server.extensions["eomine"]
    data = state.current
    p = [str(x) for x in data.ids[:3]]
    commit_edits(state, [Edit(p[0], "flag")], author="ana", note="first")
    commit_edits(state, [Edit(p[1], "add", data.classes[0])], author="bo")
    commit_edits(state, [Edit(p[2], "exclude")], author="ana", note="third")
    rows = history.history_rows(state.sync(), author="ana")
    assert [r["id"] for r in rows] == [3, 2, 1]  # newest first
    assert [r["can"] for r in rows] == ["undo", None, "undo"]  # only your own batches
    assert rows[0]["note"] == "third" and rows[0]["what"] and rows[1]["author"] == "bo"
    # undo an older batch of yours (not the latest): it alone is reverted
    prop = json.dumps({"index": 1, "op": "undo", "type": ids.HISTORY_ACTION}) + ".n_clicks"
    version, msg = run_callback(app, history.act, [1], "ana", triggered=[{"prop_id": prop, "value": 1}])
    assert version == 4 and "Undid batch 1" in text_of(msg)
    data = state.sync()
    assert not data.labels.flagged[0] and data.labels.excluded[2]  # batch 3 is still in force
    rows = history.history_rows(data, author="ana")
    assert [(r["id"], r["state"], r["can"]) for r in rows if r["kind"] == "edit"] == [
        (3, "active", "undo"), (2, "active", None), (1, "undone", "redo")]
    assert rows[0]["kind"] == "undo of 1"
    # someone else's batch cannot be undone from here
    prop = json.dumps({"index": 2, "op": "undo", "type": ids.HISTORY_ACTION}) + ".n_clicks"
    version, msg = run_callback(app, history.act, [1], "ana", triggered=[{"prop_id": prop, "value": 1}])
    assert version is None or "cannot" in text_of(msg)
    assert "ana" in text_of(history.render_history(state.sync(), "ana", mine_only=True))
