"""The sidebar (:mod:`dashboard.panels.filters`): "no label" as a first-class value, filters without values left
out, and the URL restore saying what it could not apply."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _helpers import by_id, run_callback

from dashboard import ids
from dashboard.app import create_app
from dashboard.data import NO_LABEL, AppState, Filters
from dashboard.panels import filters
from dashboard.views import legend_counts
from mining.curation import Edit


@pytest.fixture
def state(demo_ws, copy_ws):
    return AppState.load(copy_ws(demo_ws))


def test_no_label_is_drawn_counted_and_filterable(state):
    data = state.current
    pids = [str(p) for p in data.ids[:4]]
    state.current.edits.commit([Edit(p, "set", labels=()) for p in pids], author="ana")
    data = state.sync()
    sch = data.scheme("label")
    assert sch.names[-1] == "(no label)" and (sch.codes[:4] == len(data.classes)).all()
    assert (sch.codes >= 0).all()  # every patch is drawn
    counts = {name: n for name, _, n in legend_counts(data, "label", None, limit=40)}
    assert counts["(no label)"] == 4 and sum(counts.values()) == data.n
    m = data.mask(Filters(labels=(NO_LABEL,)))
    assert np.flatnonzero(m).tolist() == [0, 1, 2, 3]
    cls = data.classes[int(np.argmax(data.Y.sum(0)))]
    m = data.mask(Filters(labels=(NO_LABEL, cls)))  # any of them: the unlabelled ones or the class
    assert m.sum() == 4 + data.Y[:, data.classes.index(cls)].sum()
    assert not data.mask(Filters(labels=(NO_LABEL, cls), label_mode="all")).any()
    assert data.mask(Filters(labels=(NO_LABEL,), label_mode="all")).sum() == 4
    assert {"label": "(no label)", "value": NO_LABEL} in filters.label_options(data)


def test_filters_without_values_are_left_out(state):
    data = state.current
    shown = by_id(filters.layout(data))
    assert shown[ids.FILTER_SPLITS].options == list(data.splits)
    from dashboard.snapshots import Labels

    # EuroSAT: no patch has a split (until a split edit gives some one), no country
    bare = dataclasses.replace(data, labels=Labels.build(data.Y), countries=())
    assert not bare.has_splits and data.has_splits
    tree = filters.layout(bare)
    hidden = [c for c in tree if getattr(c, "style", None) == {"display": "none"}]
    assert {c.id for h in hidden for c in h.children if getattr(c, "id", None)} == {ids.FILTER_SPLITS,
                                                                                  ids.FILTER_COUNTRIES}


def test_the_url_restore_says_what_it_could_not_apply(demo_ws, copy_ws):
    app = create_app(copy_ws(demo_ws))
    data = app.server.extensions["eomine"].current
    out = run_callback(app, filters.restore_from_url, "/", "?patch=NOPE_1&labels=Lava|Urban%20fabric&sel=box%3A0%2C1%2C0%2C1",
                       False, [{"value": "true_color"}])
    color, comp, labels, mode, splits, countries, flags, selected, sv, mv, page, sel, message, ready = out
    assert selected is None and labels == ["Urban fabric"] and ready is True
    assert "NOPE_1" in message and "Lava" in message
    assert sel == {"kind": "box", "range": [[0.0, 1.0], [0.0, 1.0]]}
    pid = str(data.ids[3])
    out = run_callback(app, filters.restore_from_url, "/", f"?patch={pid}&seln=x", False, [])
    assert out[7] == pid and out[12] is not None and out[11] is not None  # no selection in the link: left alone
