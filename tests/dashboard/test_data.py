"""The server state (:mod:`dashboard.data`, :mod:`dashboard.snapshots`): immutable snapshots swapped whole,
declared caches, and what concurrent readers see while edits are committed."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from dashboard.access import commit_edits
from dashboard.data import AppData, AppState
from dashboard.snapshots import Caches, Memo
from mining.curation import Edit


@pytest.fixture
def state(demo_ws, copy_ws) -> AppState:
    return AppState.load(copy_ws(demo_ws))


def test_a_snapshot_is_immutable_and_declares_every_attribute(state):
    data = state.current
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.labels = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.my_cache = {}  # no ad-hoc attributes: a cache is declared in Caches
    for arr in (data.labels.Y, data.labels.flagged, data.labels.first, data.px, data.lon, data.scores.codes):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = arr[0]
    assert {f.name for f in dataclasses.fields(Caches)} >= {"kdtree", "grid_order", "basemap", "tour_graph"}
    assert all(isinstance(getattr(data.caches, f.name), Memo) for f in dataclasses.fields(Caches))


def test_sync_swaps_in_a_new_snapshot_only_when_the_log_changed(state):
    data = state.sync()
    assert state.sync() is data  # nothing changed: the same object, nothing rebuilt
    pid = str(data.ids[0])
    res = commit_edits(state, [Edit(pid, "flag")], author="ana")
    new = state.current
    assert res["version"] == new.labels.version == 1 and new is not data
    assert new.labels.flagged[0] and not data.labels.flagged[0]  # the old snapshot is untouched
    assert new.scores is data.scores and new.caches is data.caches  # what did not change is shared
    # an edit from another process (another server, the CLI) is picked up by the next sync
    from mining.curation import EditLog

    EditLog(data.ws).commit([Edit(pid, "unflag")], author="bo")
    assert not state.sync().labels.flagged[0] and state.current.labels.version == 2


def test_memo_builds_once_per_key_and_keeps_the_newest():
    m = Memo("test", size=2)
    calls = []

    def build(k):
        calls.append(k)
        return object()

    a = m.get("a", lambda: build("a"))
    assert m.get("a", lambda: build("a")) is a and calls == ["a"]
    m.get("b", lambda: build("b"))
    m.get("c", lambda: build("c"))
    assert m.get("a", lambda: build("a")) is not a and calls == ["a", "b", "c", "a"]  # "a" was dropped


def test_readers_never_see_labels_of_one_version_with_flags_of_another(state):
    """One writer commits batches that change a patch's label AND its flag together; readers running at the same
    time (syncing, as every callback does) must always see the pair of one version."""
    data = state.current
    pid = str(data.ids[0])
    classes = data.classes
    n_batches = 40

    def expected(version: int) -> tuple[int, bool]:
        return version % len(classes), version % 2 == 1  # batch v sets class v % C and flags iff v is odd

    errors, seen = [], set()
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            d = state.sync()
            lab = d.labels
            v = lab.version
            if v == 0:
                continue
            cls, flagged = expected(v)
            got = (int(np.flatnonzero(lab.Y[0])[0]) if lab.Y[0].any() else -1, bool(lab.flagged[0]))
            if got != (cls, flagged) or int(lab.first[0]) != cls or d.labels_of(0) != [classes[cls]]:
                errors.append((v, got))
            seen.add(v)

    def writer():
        try:
            for v in range(1, n_batches + 1):
                cls, flagged = expected(v)
                batch = state.current.edits.commit(
                    [Edit(pid, "set", labels=(classes[cls],)), Edit(pid, "flag" if flagged else "unflag")],
                    author="w")
                assert batch == v
                deadline = time.monotonic() + 2
                while v not in seen and time.monotonic() < deadline:  # let the readers see (and sync) it
                    time.sleep(0.002)
                time.sleep(0.005)
        finally:
            stop.set()

    threads = [threading.Thread(target=reader) for _ in range(3)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]
    assert len(seen) >= n_batches // 2  # the readers did see the labels move through the versions
    assert state.sync().labels.version == n_batches


def test_load_reads_the_labels_after_the_edits(state):
    data = state.current
    pid = str(data.ids[1])
    commit_edits(state, [Edit(pid, "set", labels=(data.classes[3],))], author="ana")
    again = AppData.load(data.ws.path)  # a server started after the edit
    assert again.labels.version == 1 and again.labels_of(1) == [data.classes[3]] and again.labels.changed[1]


def test_the_split_is_an_edit_the_colours_filters_detail_and_leakage_follow(state):
    from dashboard.data import Filters
    from dashboard.panels.detail import metadata
    from mining.audit import LEAKAGE_NAMES

    data = state.current
    was = data.cat["split"].iat[0]
    to = "test" if was != "test" else "train"
    sch = data.scheme("split")
    assert sch.names[sch.codes[0]] == was
    n_to = int(data.mask(Filters(splits=(to,))).sum())
    leak = data.scheme("leakage")
    assert leak.names == LEAKAGE_NAMES and len(leak.codes) == data.n
    commit_edits(state, [Edit(str(data.ids[0]), "split", label=to)], author="ana")
    new = state.current
    sch = new.scheme("split")
    assert sch.names[sch.codes[0]] == to and data.scheme("split").codes[0] != sch.codes[0]
    assert int(new.mask(Filters(splits=(to,))).sum()) == n_to + 1 and new.mask(Filters(splits=(to,)))[0]
    assert dict(metadata(new, 0))["Split"] == f"{to} (catalog: {was})"
    # the leakage layer is recomputed for the new version: patch 0 is now audited (or a reference)
    codes = new.scheme("leakage").codes
    assert (codes[0] == 0) == (to == "train") and new.caches.leakage.peek(new.labels.version) is not None


def test_a_missing_catalog_split_reads_as_no_split():
    import pandas as pd

    from dashboard.snapshots import Labels

    col = pd.Series(["train", None, "test"], dtype="str").to_numpy(object)  # pandas gives NaN for the missing one
    lab = Labels.build(np.zeros((3, 2), bool), split=col)
    assert lab.split.tolist() == ["train", None, "test"]
    assert [lab.split_names[c] for c in lab.split_codes] == ["train", "(none)", "test"]
