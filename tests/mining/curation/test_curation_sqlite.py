"""The curation log's SQLite storage (``mining.curation.sqlite.EditLog``): edits, undo/redo, conflicts,
validation, and reliability with real processes (kill -9 mid-batch, two concurrent writers, a deleted or
corrupted log, undo after a restart). The fold of the events alone: ``test_curation_events.py``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mining.curation import Edit, EditLog, EditLogProtocol
from mining.errors import DataError, WorkspaceError
from mining.nomenclature import load_nomenclature
from mining.workspace import Workspace, conform_catalog, write_parquet

NOM = load_nomenclature("ben19")
C = NOM.classes
ROOT = Path(__file__).resolve().parents[3]


def make_ws(path: Path, n: int, seed: int = 0) -> Path:
    """A catalog-only workspace of ``n`` patches with random BEN-19 labels (what the edit log reads)."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True)
    labels = [sorted({C[j] for j in rng.integers(0, len(C), rng.integers(1, 4))}, key=C.index) for _ in range(n)]
    df = pd.DataFrame({"patch_id": [f"P{i:06d}" for i in range(n)], "dataset": "test",
                       "split": rng.choice(["train", "validation", "test"], n), "labels": labels})
    write_parquet(conform_catalog(df), path / "catalog.parquet")
    meta = Workspace.describe(dataset="test", nomenclature=NOM, bands=[], n_patches=n, made_by={"test": True})
    (path / "workspace.json").write_text(json.dumps(meta))
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_ws(tmp_path_factory.mktemp("tpl") / "ws", 12_000)


@pytest.fixture
def ws(template, tmp_path) -> Path:
    out = tmp_path / "ws"
    shutil.copytree(template, out)
    return out


def base_labels(ws: Path, pid: str) -> list[str]:
    cat = pd.read_parquet(ws / "catalog.parquet")
    return list(cat.loc[cat["patch_id"] == pid, "labels"].iloc[0])


# --------------------------------------------------------------------------------------------- behaviour
def test_add_remove_set_change_current_labels(ws):
    log = EditLog(ws)
    before = log.current_labels()
    p0, p1, p2 = "P000000", "P000001", "P000002"
    missing = next(c for c in C if c not in base_labels(ws, p0))
    present = base_labels(ws, p1)[0]
    b = log.commit([Edit(p0, "add", missing), Edit(p1, "remove", present),
                    Edit(p2, "set", labels=(C[5], C[2]))], author="ana", note="fix three")
    cur = log.current_labels()
    assert missing in cur.labels_of(p0)
    assert present not in cur.labels_of(p1)
    assert cur.labels_of(p2) == [C[2], C[5]]  # official order
    assert cur.changed.sum() == 3 and before.changed.sum() == 0
    # untouched patches keep the catalog labels
    assert cur.labels_of("P000003") == base_labels(ws, "P000003")
    h = log.batches()
    assert h.loc[h["id"] == b, ["author", "note", "n_events", "active"]].iloc[0].tolist() == ["ana", "fix three", 3,
                                                                                             True]


def test_flag_exclude_keep_are_per_patch_states(ws):
    log = EditLog(ws)
    log.commit([Edit("P000010", "flag"), Edit("P000011", "exclude"), Edit("P000012", "keep")], author="bo")
    cur = log.current_labels()
    r = cur.rows(["P000010", "P000011", "P000012"])
    assert cur.flagged[r].tolist() == [True, False, False]
    assert cur.excluded[r].tolist() == [False, True, False]
    assert cur.confirmed[r].tolist() == [False, False, True]
    log.commit([Edit("P000010", "unflag"), Edit("P000011", "restore"), Edit("P000012", "add", C[0])], author="bo")
    cur = log.current_labels()
    assert not cur.flagged[r].any() and not cur.excluded[r].any()
    assert not cur.confirmed[r[2]]  # a label change after the "keep" supersedes the confirmation


def test_later_event_wins_per_patch_and_label_and_history_keeps_both(ws):
    a, b = EditLog(ws), EditLog(ws)  # two curators
    pid = "P000020"
    lab = next(c for c in C if c not in base_labels(ws, pid))
    other = next(c for c in C if c not in base_labels(ws, pid) and c != lab)
    a.commit([Edit(pid, "add", lab), Edit(pid, "add", other)], author="ana")
    b.commit([Edit(pid, "remove", lab)], author="bo")
    cur = a.current_labels()
    assert lab not in cur.labels_of(pid)  # bo's later removal wins for this label...
    assert other in cur.labels_of(pid)    # ...and ana's edit of another label stands
    ev = a.events(patch_id=pid)
    assert ev[["author", "op", "label"]].values.tolist() == [["ana", "add", lab], ["ana", "add", other],
                                                             ["bo", "remove", lab]]
    # a later "set" replaces every label of the patch, an earlier one is overridden per label
    b.commit([Edit(pid, "set", labels=(C[0],))], author="bo")
    a.commit([Edit(pid, "add", C[1])], author="ana")
    assert a.current_labels().labels_of(pid) == [C[0], C[1]]


def test_undo_redo_by_batch_and_author(ws):
    log = EditLog(ws)
    pid = "P000030"
    orig = base_labels(ws, pid)
    b1 = log.commit([Edit(pid, "set", labels=(C[3],))], author="ana")
    b2 = log.commit([Edit(pid, "add", C[4])], author="bo")
    assert log.current_labels().labels_of(pid) == [C[3], C[4]]
    u = log.undo(author="ana")  # ana's own last batch, not bo's later one
    assert u is not None and log.current_labels().labels_of(pid) == sorted(
        set(orig) | {C[4]}, key=C.index)
    assert log.undo(author="ana") is None  # nothing left for ana
    assert log.redo(author="ana") is not None
    assert log.current_labels().labels_of(pid) == [C[3], C[4]]
    log.undo()  # anyone's latest: the redone b1 is back on top of the stack
    assert log.current_labels().labels_of(pid) == sorted(set(orig) | {C[4]}, key=C.index)
    log.undo()  # then bo's
    assert log.current_labels().labels_of(pid) == orig
    h = log.batches()
    assert h["kind"].tolist() == ["edit", "edit", "undo", "redo", "undo", "undo"]
    assert h["target"].iloc[2:].tolist() == [b1, b1, b1, b2]
    assert h.set_index("id").loc[[b1, b2], "active"].tolist() == [False, False]
    # undo events name the patches they revert; nothing was deleted
    assert (log.events()["op"] == "undo").sum() == 3
    assert log.redo() is not None and log.current_labels().labels_of(pid) == sorted(set(orig) | {C[4]},
                                                                                       key=C.index)


def test_edit_log_fulfils_the_storage_contract(ws):
    assert isinstance(EditLog(ws), EditLogProtocol)


def test_redo_is_dropped_after_a_new_edit(ws):
    log = EditLog(ws)
    log.commit([Edit("P000040", "flag")], author="ana")
    log.undo(author="ana")
    log.commit([Edit("P000041", "flag")], author="ana")
    assert log.redo(author="ana") is None


def test_bad_input_is_refused_and_nothing_is_written(ws):
    log = EditLog(ws)
    with pytest.raises(DataError, match="NOPE"):
        log.commit([Edit("P000001", "flag"), Edit("NOPE", "flag")], author="ana")
    with pytest.raises(DataError, match="'Lava'.*BigEarthNet"):
        log.commit([Edit("P000001", "add", "Lava")], author="ana")
    with pytest.raises(DataError, match="'Lava'"):
        log.commit([Edit("P000001", "set", labels=(C[0], "Lava"))], author="ana")
    with pytest.raises(DataError, match="unknown edit op 'delete'"):
        log.commit([Edit("P000001", "delete")], author="ana")
    with pytest.raises(DataError, match="author"):
        log.commit([Edit("P000001", "flag")], author="  ")
    with pytest.raises(DataError, match="empty"):
        log.commit([], author="ana")
    assert log.version() == 0 and log.events().empty
    assert not log.current_labels().flagged.any()


def test_read_without_creating(template, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(template, ws)
    log = EditLog(ws, create=False)
    assert log.version() == 0 and not log.current_labels().changed.any()
    assert not (ws / "edits.sqlite").exists()
    with pytest.raises(WorkspaceError, match="create=False"):
        log.commit([Edit("P000001", "flag")], author="ana")
    # another process creates the log later: a reader opened before picks it up
    EditLog(ws).commit([Edit("P000001", "flag")], author="ana")
    assert log.current_labels().flagged.sum() == 1


# --------------------------------------------------------------------------------------------- damage
def test_deleted_log_is_a_clear_error_never_a_reset(ws):
    EditLog(ws).commit([Edit("P000001", "flag")], author="ana")
    for f in ws.glob("edits.sqlite*"):
        f.unlink()
    with pytest.raises(WorkspaceError, match=r"edits\.sqlite is missing"):
        EditLog(ws)
    with pytest.raises(WorkspaceError, match=r"edits\.sqlite"):
        EditLog(ws, create=False)
    assert not (ws / "edits.sqlite").exists()  # nothing silently recreated


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated"])
def test_corrupted_log_is_a_clear_error(ws, damage):
    log = EditLog(ws)
    for i in range(20):
        log.commit([Edit(f"P{j:06d}", "flag") for j in range(i * 100, i * 100 + 100)], author="ana")
    log.close()
    del log
    _checkpoint(ws / "edits.sqlite")
    db = ws / "edits.sqlite"
    if damage == "garbage":
        db.write_bytes(b"this is not a database" * 100)
    elif damage == "empty":
        db.write_bytes(b"")
    else:
        data = db.read_bytes()
        db.write_bytes(data[:100] + b"\0" * (len(data) - 100))  # header kept, pages wiped
    size = db.stat().st_size
    with pytest.raises(WorkspaceError, match=r"edits\.sqlite"):
        EditLog(ws).current_labels()
    assert db.stat().st_size == size  # left as it was, for recovery


def test_a_log_replaced_or_deleted_while_in_use_refuses_instead_of_losing_edits(ws, tmp_path):
    """A backup restored (or the workspace re-ingested) under a running server: its open connections would
    write into the old file and the commit would be lost. It is refused with a message, the restored log is
    left as it was, and a new thread never recreates a deleted log as an empty database."""
    import threading

    log = EditLog(ws)
    log.commit([Edit("P000001", "flag")], author="ana")
    with sqlite3.connect(ws / "edits.sqlite") as src, sqlite3.connect(tmp_path / "backup.sqlite") as dst:
        src.backup(dst)  # the curator's backup
    log.commit([Edit("P000002", "flag")], author="ana")
    os.replace(tmp_path / "backup.sqlite", ws / "edits.sqlite")  # restored while the server runs
    for suffix in ("-wal", "-shm"):  # (a restore drops the old write-ahead log, or SQLite would replay it)
        Path(f"{ws / 'edits.sqlite'}{suffix}").unlink(missing_ok=True)
    with pytest.raises(WorkspaceError, match="replaced while in use"):
        log.commit([Edit("P000003", "flag")], author="ana")
    with pytest.raises(WorkspaceError, match="replaced while in use"):
        log.current_labels()
    fresh = EditLog(ws)  # a restarted server works on the restored log, which nothing wrote to
    assert fresh.version() == 1 and fresh.current_labels().flagged.sum() == 1
    for f in ws.glob("edits.sqlite*"):
        f.unlink()
    errors = []

    def other_thread():  # a server thread with no connection yet
        try:
            fresh.commit([Edit("P000004", "flag")], author="ana")
        except WorkspaceError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert errors and "deleted while in use" in errors[0]
    assert not (ws / "edits.sqlite").exists()  # not silently recreated empty


def test_one_huge_batch_does_not_leave_a_huge_write_ahead_log(ws):
    """After a batch far larger than usual, the next commit cuts edits.sqlite-wal back to 16 MiB instead of
    keeping it at the batch's size for good."""
    log = EditLog(ws)
    log.commit([Edit(f"P{i:06d}", "set", labels=tuple(C[:15])) for i in range(12_000)], author="ana",
               note="a long note " * 200)
    wal = ws / "edits.sqlite-wal"
    assert wal.stat().st_size > 30 << 20
    log.commit([Edit("P000001", "flag")], author="ana")
    assert wal.stat().st_size <= 16 << 20
    assert log.version() == 2 and EditLog(ws).current_labels().flagged.sum() == 1


def test_concurrent_first_edits_on_a_fresh_workspace_all_land(template, tmp_path):
    """Several curators' first edits reach a freshly served workspace at once, on different server threads:
    every one is committed (none fails on another thread's half-written edits.json)."""
    import threading

    for r in range(8):
        ws = tmp_path / f"ws{r}"
        shutil.copytree(template, ws)
        log = EditLog(ws, create="on_write")
        start = threading.Barrier(8)
        failures, batches = [], []

        def first_edit(i, log=log, start=start, failures=failures, batches=batches):
            start.wait()
            try:
                batches.append(log.commit([Edit(f"P{i:06d}", "flag")], author=f"curator{i}"))
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                failures.append(repr(exc))

        threads = [threading.Thread(target=first_edit, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures
        assert sorted(batches) == list(range(1, 9))
        assert json.loads((ws / "edits.json").read_text())["format"] == "eomine-edits"
        assert not list(ws.glob(".edits.json.tmp-*"))


def test_opening_a_log_keeps_the_locks_of_connections_already_open(ws):
    """A server keeps one connection per thread and opens new EditLog objects as it goes, while other processes
    (``eomine score``, a second server) read the log. Opening a log must not drop the POSIX locks of the
    connections already open in this process (closing any descriptor of the file does): when it did, a
    batch committed here vanished from the other process's view and the next query failed with
    "disk I/O error"."""
    reader = [sys.executable, "-c", textwrap.dedent(f"""
        from mining.curation import EditLog
        print(EditLog({str(ws)!r}, create=False).current_labels().version)
        """)]
    log = EditLog(ws)
    for i in range(5):
        log.commit([Edit(f"P{i:06d}", "flag")], author="ana")
        log.current_labels()
        seen = subprocess.run(reader, check=True, cwd=ROOT, capture_output=True, text=True).stdout
        assert int(seen) == log.version() == 2 * i + 1
        assert EditLog(ws).current_labels().version == log.version()
        log.commit([Edit(f"P{100 + i:06d}", "flag")], author="ana")
    assert EditLog(ws).version() == 10
    assert EditLog(ws).current_labels().flagged.sum() == 10


def test_undo_after_restart(ws):
    script = textwrap.dedent(f"""
        import sys
        from mining.curation import Edit, EditLog
        log = EditLog({str(ws)!r})
        if sys.argv[1] == "edit":
            log.commit([Edit("P000050", "set", labels=({C[7]!r},))], author="ana", note="before restart")
        else:
            print(log.undo(author="ana"))
        """)
    run = [sys.executable, "-c", script]
    subprocess.run([*run, "edit"], check=True, cwd=ROOT)
    assert EditLog(ws).current_labels().labels_of("P000050") == [C[7]]
    out = subprocess.run([*run, "undo"], check=True, cwd=ROOT, capture_output=True, text=True).stdout
    assert out.strip() == "2"
    assert EditLog(ws).current_labels().labels_of("P000050") == base_labels(ws, "P000050")


# --------------------------------------------------------------------------------------------- real processes
WRITER = """
import sys, time
from mining.curation import Edit, EditLog
ws, mode = sys.argv[1], sys.argv[2]
log = EditLog(ws)
if mode == "big":  # 10,000-patch batches, forever, until killed
    ids = [f"P{i:06d}" for i in range(10_000)]
    i = 0
    while True:
        print("begin", i, flush=True)
        log.commit([Edit(p, "set", labels=(sys.argv[3 + i % 2],)) for p in ids], author="big", note=f"b{i}")
        print("done", i, flush=True)
        i += 1
else:  # n one-edit batches, numbered
    n = int(sys.argv[3])
    for i in range(n):
        log.commit([Edit(f"P{(i * 7) % 12000:06d}", "flag" if i % 2 else "unflag")], author=mode, note=str(i))
    print("ok", flush=True)
"""


@pytest.mark.parametrize("delay", [0.0, 0.03, 0.08, 0.15])
def test_kill_9_during_a_10000_patch_batch_is_all_or_nothing(ws, tmp_path, delay):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(ws), "big", C[0], C[1]], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        for line in proc.stdout:  # let two batches commit, then kill while the third is being written
            if line.startswith("begin 2"):
                time.sleep(delay)
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    log = EditLog(ws)  # "restart": a new process opens the log, SQLite recovers from the WAL
    h = log.batches()
    ev = log.events()
    counts = ev.groupby("batch").size()
    assert len(h) in (2, 3), "the first two batches were committed before the kill"
    assert (counts.reindex(h["id"]).to_numpy() == 10_000).all(), "a partial batch is visible"
    assert (h["n_events"] == 10_000).all()
    last = C[(len(h) - 1) % 2]
    cur = log.current_labels()
    Y = cur.Y[cur.rows([f"P{i:06d}" for i in range(10_000)])]
    assert Y[:, C.index(last)].all() and Y.sum(1).max() == 1, "every patch carries the last batch's label"
    # the log is still usable after the kill
    log.commit([Edit("P000001", "flag")], author="after")
    assert log.current_labels().flagged.sum() == 1


def test_two_processes_writing_1000_batches_each(ws, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, str(script), str(ws), name, "1000"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for name in ("one", "two")]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert out.strip() == "ok"
    h = EditLog(ws).batches()
    assert len(h) == 2000 and h["id"].is_monotonic_increasing
    for name in ("one", "two"):
        mine = h[h["author"] == name]
        assert mine["note"].astype(int).tolist() == list(range(1000)), f"{name}'s batches out of order or lost"
    # the two writers interleaved (they really ran at the same time)
    assert (h["author"] != h["author"].shift()).sum() > 2


def _checkpoint(db: Path) -> None:
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)


def test_incremental_refresh_equals_a_full_replay(ws):
    """The cached labels updated with only the new batches' events match a fresh log's full replay, through
    random commits, undos and redos (mixed ops on overlapping patches)."""
    rng = np.random.default_rng(5)
    log = EditLog(ws)
    ops = ["add", "remove", "set", "flag", "unflag", "exclude", "restore", "keep"]
    for step in range(25):
        r = rng.random()
        if r < 0.15:
            log.undo(author="ana" if step % 2 else None)
        elif r < 0.22:
            log.redo()
        else:
            edits = []
            for p in rng.choice(300, 40, replace=False):
                op = ops[rng.integers(len(ops))]
                if op in ("add", "remove"):
                    edits.append(Edit(f"P{p:06d}", op, C[rng.integers(len(C))]))
                elif op == "set":
                    edits.append(Edit(f"P{p:06d}", op, labels=tuple(C[j] for j in rng.integers(0, len(C), 2))))
                else:
                    edits.append(Edit(f"P{p:06d}", op))
            log.commit(edits, author="ana" if step % 3 else "bo")
        inc = log.current_labels()  # refreshed from the previous cached result where possible
        full = EditLog(ws).current_labels()
        assert inc.version == full.version
        for a in ("Y", "flagged", "excluded", "confirmed"):
            assert np.array_equal(getattr(inc, a), getattr(full, a)), (step, a)


def test_a_log_without_catalog_rows_is_upgraded_in_place(ws):
    log = EditLog(ws)
    log.commit([Edit("P000007", "set", labels=(C[9],)), Edit("P000008", "flag")], author="ana")
    log.close()
    con = sqlite3.connect(ws / "edits.sqlite")
    con.execute("DROP INDEX IF EXISTS events_patch")
    con.execute("ALTER TABLE events DROP COLUMN row")  # as written before events carried the row
    con.execute("CREATE INDEX events_patch ON events(patch_id)")
    con.commit()
    con.close()
    # a reader (create=False: `serve --read-only`, `export`) reads it right and writes nothing
    cur = EditLog(ws, create=False).current_labels()
    assert cur.labels_of("P000007") == [C[9]] and cur.flagged[cur.row("P000008")]
    cols = {r[1] for r in sqlite3.connect(ws / "edits.sqlite").execute("PRAGMA table_info(events)")}
    assert "row" not in cols
    # a writer upgrades it
    cur = EditLog(ws).current_labels()
    assert cur.labels_of("P000007") == [C[9]] and cur.flagged[cur.row("P000008")]
    rows = sqlite3.connect(ws / "edits.sqlite").execute("SELECT row FROM events ORDER BY id").fetchall()
    assert rows == [(7,), (8,)]


def test_an_event_without_its_row_still_counts(ws):
    """An older eomine still running next to this one writes events without the catalog row."""
    log = EditLog(ws)
    log.commit([Edit("P000003", "set", labels=(C[2],))], author="ana")
    log.commit([Edit("P000004", "set", labels=(C[5],))], author="ana")
    log.close()
    con = sqlite3.connect(ws / "edits.sqlite")
    con.execute("UPDATE events SET row = NULL WHERE patch_id = 'P000004'")
    con.commit()
    con.close()
    cur = EditLog(ws, create=False).current_labels()
    assert cur.labels_of("P000003") == [C[2]] and cur.labels_of("P000004") == [C[5]]


def test_a_log_of_another_build_of_the_workspace_is_refused(ws):
    EditLog(ws).commit([Edit("P000001", "flag")], author="ana")
    meta = json.loads((ws / "workspace.json").read_text())
    meta["created"] = "2030-01-01T00:00:00+00:00"  # re-ingested: rows may differ
    (ws / "workspace.json").write_text(json.dumps(meta))
    with pytest.raises(WorkspaceError, match="another build"):
        EditLog(ws)
