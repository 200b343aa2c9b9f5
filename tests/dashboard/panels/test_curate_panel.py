"""The Curate panel's plain functions without a browser: what the buttons apply to, the edits they build, and
the labels after edits in every panel's snapshot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
    msg, version = curate.run_action(state, "selection", "set", author="ana", note="a town", labels=[urban],
                                     sel=sel, filters={})
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
    msg, version = curate.run_action(state, "log", "undo", author="ana")
    assert version == 2 and "Undo" in msg
    data = state.sync()
    cat = pd.read_parquet(data.ws.catalog_path, columns=["labels"])
    assert [list(x) for x in cat["labels"].iloc[rows[:20]]] == [data.labels_of(int(r)) for r in rows[:20]]


def test_actions_need_an_author_and_a_target(app):
    state = app.server.extensions["eomine"]
    msg, version = curate.run_action(state, "selection", "flag", author="", sel=None, filters={})
    assert version is None and "name" in msg
    msg, version = curate.run_action(state, "selection", "flag", author="ana", sel=None, filters={})
    assert version is None and msg == curate.NO_TARGET
    msg, version = curate.run_action(state, "focus", "flag", author="ana", selected=None)
    assert version is None and "No patch in focus" in msg
    msg, version = curate.run_action(state, "selection", "add", author="ana", filters={"splits": ["train"]})
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
    msg, version = curate.run_action(state, "selection", "flag", author="ana", filters={"splits": data.splits})
    assert version == 1 and f"{data.n:,}" in msg
    assert state.sync().labels.flagged.all() and not data.labels.flagged.any()
    b = data.edits.batches()
    assert len(b) == 1 and int(b["n_events"].iat[0]) == data.n


