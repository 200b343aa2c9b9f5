"""Shared widgets of the app (:mod:`dashboard.components`) that are not a panel's own."""

from __future__ import annotations

import shutil

import pytest

from dashboard.access import commit_edits
from dashboard.components import patch_state
from dashboard.data import AppState
from mining.curation import Edit


@pytest.fixture
def state(demo_ws, tmp_path):
    out = tmp_path / "ws"
    shutil.copytree(demo_ws, out, ignore=shutil.ignore_patterns("edits.*"))
    return AppState.load(out)


def test_patch_state_badges_include_confirmed(state):
    data = state.sync()
    pid = str(data.ids[4])
    assert patch_state(data, 4) == []
    commit_edits(state, [Edit(pid, "confirm")], author="rev")  # the detail panel's Confirm, the queue's Keep
    assert patch_state(state.sync(), 4) == ["confirmed"]
    commit_edits(state, [Edit(pid, "flag")], author="rev")  # a state change keeps the confirmation
    assert patch_state(state.sync(), 4) == ["confirmed", "flagged"]
    commit_edits(state, [Edit(pid, "add", data.classes[0] if data.classes[0] not in data.labels_of(4)
                              else data.classes[1])], author="rev")  # a label change supersedes it
    assert patch_state(state.sync(), 4) == ["flagged", "edited"]
