"""The pure fold of the curation log (``mining.curation.events``): events in, labels / states / stacks out, with
no database. The SQLite storage around it: ``test_curation_sqlite.py``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mining.curation import LABEL_OPS, MAX_BATCH, OPS, Edit
from mining.curation.events import (
    active_batches,
    apply_events,
    as_batch,
    check_author,
    encode_edits,
    undo_redo_stacks,
)
from mining.errors import DataError
from mining.nomenclature import load_nomenclature

CLASSES = ["a", "b", "c", "d"]
NOM = load_nomenclature("ben19")


def events(*rows: tuple[int, int, str, str | None]) -> pd.DataFrame:
    """An events frame from ``(id, row, op, label)`` tuples; a ``set``'s label is given as a list."""
    return pd.DataFrame([(i, r, op, json.dumps(lab) if op == "set" else lab) for i, r, op, lab in rows],
                        columns=["id", "row", "op", "label"])


def fold(ev: pd.DataFrame, n: int = 3, Y0: np.ndarray | None = None):
    """Apply ``ev`` to ``n`` patches starting from ``Y0`` (no labels) and no states; returns the four arrays."""
    Y = np.zeros((n, len(CLASSES)), bool) if Y0 is None else Y0.copy()
    flagged, excluded, confirmed = (np.zeros(n, bool) for _ in range(3))
    apply_events(ev, Y, flagged, excluded, confirmed, CLASSES)
    return Y, flagged, excluded, confirmed


def labels(Y: np.ndarray, r: int) -> list[str]:
    return [CLASSES[j] for j in np.flatnonzero(Y[r])]


def batches(*rows: tuple[int, str, str, int | None]) -> pd.DataFrame:
    """A batches frame from ``(id, author, kind, target)`` tuples, oldest first."""
    return pd.DataFrame(rows, columns=["id", "author", "kind", "target"])


# --------------------------------------------------------------------------------------------- apply_events
def test_later_event_wins_per_patch_and_label():
    Y, *_ = fold(events((1, 0, "add", "b"), (2, 0, "add", "c"), (3, 0, "remove", "b"), (4, 1, "add", "b")))
    assert labels(Y, 0) == ["c"]          # b added then removed; c untouched by the removal
    assert labels(Y, 1) == ["b"]          # the same label on another patch is another key
    assert labels(Y, 2) == []


def test_event_ids_not_frame_order_decide():
    ev = events((5, 0, "remove", "a"), (2, 0, "add", "a"), (7, 1, "unflag", None), (3, 1, "flag", None))
    Y, flagged, *_ = fold(ev, Y0=np.ones((3, 4), bool))
    assert labels(Y, 0) == ["b", "c", "d"] and not flagged[1]
    shuffled = fold(ev.iloc[::-1].reset_index(drop=True), Y0=np.ones((3, 4), bool))
    for x, y in zip(fold(ev, Y0=np.ones((3, 4), bool)), shuffled, strict=True):
        np.testing.assert_array_equal(x, y)


def test_set_overrides_earlier_adds_and_is_overridden_per_label():
    Y0 = np.zeros((3, 4), bool)
    Y0[0, [0, 3]] = True                  # the catalog says a, d
    ev = events((1, 0, "add", "b"), (2, 0, "add", "c"), (3, 0, "set", ["c"]), (4, 0, "add", "a"),
                (5, 1, "set", ["b", "d"]), (6, 2, "add", "a"), (7, 2, "set", []))
    Y, *_ = fold(ev, Y0=Y0)
    assert labels(Y, 0) == ["a", "c"]     # set {c} removed a, b, d; the later add of a stands
    assert labels(Y, 1) == ["b", "d"]
    assert labels(Y, 2) == []             # an empty set clears every label


def test_per_patch_states_take_the_latest_event():
    ev = events((1, 0, "flag", None), (2, 0, "unflag", None), (3, 0, "flag", None),
                (4, 1, "exclude", None), (5, 1, "restore", None), (6, 2, "exclude", None))
    _, flagged, excluded, confirmed = fold(ev)
    assert flagged.tolist() == [True, False, False]
    assert excluded.tolist() == [False, False, True]
    assert not confirmed.any()


@pytest.mark.parametrize("op", LABEL_OPS)
def test_keep_holds_until_a_later_label_op(op):
    label = ["a"] if op == "set" else "a"
    after = fold(events((1, 0, "keep", None), (2, 0, op, label), (3, 1, op, label), (4, 1, "keep", None)))[3]
    assert after.tolist() == [False, True, False]


def test_states_start_from_the_given_arrays():
    """An incremental refresh applies only new events to the previous result: states not touched stay."""
    Y = np.zeros((2, 4), bool)
    flagged, excluded, confirmed = np.array([True, False]), np.array([False, True]), np.array([True, True])
    apply_events(events((9, 1, "add", "d")), Y, flagged, excluded, confirmed, CLASSES)
    assert flagged.tolist() == [True, False] and excluded.tolist() == [False, True]
    assert confirmed.tolist() == [True, False] and labels(Y, 1) == ["d"]


def test_out_of_range_rows_unknown_classes_and_undo_events_are_ignored():
    ev = events((1, -1, "add", "a"), (2, 3, "flag", None), (3, 0, "add", "Lava"), (4, 0, "set", ["b", "Lava"]),
                (5, 1, "undo", None), (6, 1, "redo", None), (7, 2, "add", "c"))
    Y, flagged, excluded, confirmed = fold(ev)
    assert labels(Y, 0) == ["b"] and labels(Y, 1) == [] and labels(Y, 2) == ["c"]
    assert not flagged.any() and not excluded.any() and not confirmed.any()


def test_no_events_change_nothing():
    Y0 = np.eye(3, 4, dtype=bool)
    Y, flagged, *_ = fold(events(), Y0=Y0)
    np.testing.assert_array_equal(Y, Y0)
    assert not flagged.any()


def test_fold_equals_a_plain_replay():
    """Random events over few patches and classes (many collisions) against an event-by-event Python replay."""
    rng = np.random.default_rng(11)
    n = 6
    for _ in range(20):
        rows = []
        for i in rng.permutation(np.arange(1, 61)):
            op = OPS[rng.integers(len(OPS))]
            lab = (list(rng.choice(CLASSES, rng.integers(0, 3), replace=False)) if op == "set"
                   else CLASSES[rng.integers(len(CLASSES))] if op in ("add", "remove") else None)
            rows.append((int(i), int(rng.integers(n)), op, lab))
        Y0 = rng.random((n, len(CLASSES))) < 0.3
        got = fold(events(*rows), n=n, Y0=Y0)
        Y, st = Y0.copy(), {"flag": np.zeros(n, bool), "exclude": np.zeros(n, bool), "keep": np.zeros(n, bool)}
        for _, r, op, lab in sorted(rows):
            if op in ("add", "remove"):
                Y[r, CLASSES.index(lab)] = op == "add"
            elif op == "set":
                Y[r] = [c in lab for c in CLASSES]
            elif op in ("flag", "unflag"):
                st["flag"][r] = op == "flag"
            elif op in ("exclude", "restore"):
                st["exclude"][r] = op == "exclude"
            st["keep"][r] = op == "keep" or (st["keep"][r] and op not in LABEL_OPS)
        for x, y in zip(got, (Y, st["flag"], st["exclude"], st["keep"]), strict=True):
            np.testing.assert_array_equal(x, y)


# --------------------------------------------------------------------------------------------- batches
def test_active_batches_follow_the_latest_undo_or_redo():
    b = batches((1, "ana", "edit", None), (2, "bo", "edit", None), (3, "ana", "undo", 1), (4, "ana", "redo", 1),
                (5, "bo", "undo", 2), (6, "ana", "edit", None), (7, "ana", "undo", 6))
    assert active_batches(b) == {1}
    assert active_batches(b.iloc[:3]) == {2}
    assert active_batches(batches()) == set()


def test_undo_redo_stacks_per_author():
    b = batches((1, "ana", "edit", None), (2, "bo", "edit", None), (3, "ana", "edit", None),
                (4, "ana", "undo", 3), (5, "bo", "undo", 2))
    assert undo_redo_stacks(b, "ana") == ([1], [3])
    assert undo_redo_stacks(b, "bo") == ([], [2])
    assert undo_redo_stacks(b, None) == ([1], [3, 2])   # anyone's: bo's undo came last
    # a redo puts the batch back on top of the undo stack
    b = pd.concat([b, batches((6, "ana", "redo", 3))], ignore_index=True)
    assert undo_redo_stacks(b, "ana") == ([1, 3], [])
    assert undo_redo_stacks(b, None) == ([1, 3], [2])


def test_a_new_edit_clears_the_redo_stack_of_its_author_only():
    b = batches((1, "ana", "edit", None), (2, "bo", "edit", None), (3, "ana", "undo", 1), (4, "bo", "undo", 2),
                (5, "bo", "edit", None))
    assert undo_redo_stacks(b, "ana") == ([], [1])      # bo's new edit leaves ana's redo alone
    assert undo_redo_stacks(b, "bo") == ([5], [])       # bo's own new edit drops bo's redo
    assert undo_redo_stacks(b, None) == ([5], [])       # for everyone, any new edit does
    b = pd.concat([b, batches((6, "ana", "edit", None))], ignore_index=True)
    assert undo_redo_stacks(b, "ana") == ([6], [])


# --------------------------------------------------------------------------------------------- validation
def test_check_author():
    assert check_author("  ana ") == "ana"
    for bad in ("", "   ", None, 3):
        with pytest.raises(DataError, match="author is blank"):
            check_author(bad)
    with pytest.raises(DataError, match="too long"):
        check_author("x" * 201)


def test_as_batch():
    e = Edit("P1", "flag")
    assert as_batch(e) == [e] and as_batch((e, e)) == [e, e]
    with pytest.raises(DataError, match="empty"):
        as_batch([])
    with pytest.raises(DataError, match="too large"):
        as_batch([e] * (MAX_BATCH + 1))


def test_encode_edits():
    index = pd.Index(["P0", "P1", "P2"])
    C = NOM.classes
    rows = encode_edits([Edit("P2", "add", C[3]), Edit("P0", "set", labels=(C[5], C[1], C[5])),
                         Edit("P1", "set", label=C[4]), Edit("P1", "keep")], index, NOM, workspace="WS")
    assert rows == [("P2", 2, "add", C[3]), ("P0", 0, "set", json.dumps([C[1], C[5]])),
                    ("P1", 1, "set", json.dumps([C[4]])), ("P1", 1, "keep", None)]
    for edit, msg in [(Edit("P9", "flag"), r"patch 'P9' is not in workspace WS \(1 unknown"),
                      (Edit(7, "flag"), "patch id 7 is not a string"),
                      (Edit("P1", "delete"), "unknown edit op 'delete'"),
                      (Edit("P1", "remove", "Lava"), "remove label 'Lava' is not a class of the BigEarthNet"),
                      (Edit("P1", "set", labels=(C[0], "Lava")), "set label 'Lava'"),
                      (Edit("P1", "flag", C[0]), "op 'flag' takes no label")]:
        with pytest.raises(DataError, match=msg):
            encode_edits([Edit("P0", "flag"), edit], index, NOM, workspace="WS")
