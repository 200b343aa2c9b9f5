"""Curation log bench: materialising the labels after 100,000 edit events on 549,488 patches, and committing
a 10,000-patch batch (and a whole-dataset 549,488-patch batch), each against a baseline measured in the same run.

Workspace: the catalog of ``.bench/reben549k`` (the 549,488 real reBEN patches, metadata only; built by
``bench/make_reben_workspace.py``), linked read-only into a scratch workspace under ``.bench/edits/`` where the
edit log is written. Without it, a catalog-only workspace with the real reBEN metadata labels is generated
(needs ../shared/data), or ``--synthetic`` generates random labels.

Rows:

* materialise, cold: a new ``EditLog`` (reads the catalog's labels) + ``current_labels()``;
* materialise, warm: ``current_labels()`` again after the log changed (the catalog's labels cached, as in the
  dashboard, which re-materialises after every commit);
  baseline for both: a plain Python replay of the same events over per-patch label sets (dict of sets);
* commit 10,000-patch batch (validation + one SQLite transaction, WAL, synchronous=FULL);
  baseline: the bare ``executemany`` of the same 10,000 rows into an indexed SQLite table, same pragmas
  (the floor: what SQLite alone costs);
* commit 549,488-patch batch (every patch relabelled at once: the "oversized selection").

Usage: ``python bench/edits.py [--runs 5] [--events 100000] [--synthetic]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DIR, ben19_classes  # noqa: E402

from mining.curation import Edit, EditLog  # noqa: E402

SCRATCH = BENCH_DIR / "edits"


def scratch_workspace(synthetic: bool) -> Path:
    """A scratch workspace whose catalog is the 549,488-patch one (linked, never written)."""
    ws = SCRATCH / "ws"
    if ws.exists():
        shutil.rmtree(ws)
    ws.mkdir(parents=True)
    src = BENCH_DIR / "reben549k"
    if not synthetic and (src / "catalog.parquet").is_file():
        shutil.copyfile(src / "workspace.json", ws / "workspace.json")
        os.symlink((src / "catalog.parquet").resolve(), ws / "catalog.parquet")
        return ws
    import pandas as pd

    from mining.nomenclature import load_nomenclature
    from mining.workspace import Workspace, conform_catalog, write_parquet

    nom = load_nomenclature("ben19")
    n = 549_488
    rng = np.random.default_rng(0)
    if synthetic:
        labels = [sorted({nom.classes[j] for j in rng.integers(0, 19, rng.integers(1, 5))}, key=nom.classes.index)
                  for _ in range(n)]
        ids = [f"P{i:07d}" for i in range(n)]
    else:
        from common import reben_root

        from mining.datasets.reben import METADATA_FILES, load_reben_metadata

        md = load_reben_metadata([reben_root() / f for f in METADATA_FILES])
        ids, labels = md["patch_id"].tolist(), [list(x) for x in md["labels"]]
    write_parquet(conform_catalog(pd.DataFrame({"patch_id": ids, "labels": labels, "dataset": "bench"})),
                  ws / "catalog.parquet")
    (ws / "workspace.json").write_text(json.dumps(Workspace.describe(
        dataset="bench", nomenclature=nom, bands=[], n_patches=n, made_by={"bench": "edits"})))
    return ws


def make_batches(ids: np.ndarray, classes, n_events: int, batch: int, rng) -> list[list[Edit]]:
    """``n_events`` edits in batches of ``batch``: 35 % add, 25 % remove, 25 % set, 15 % flag/exclude."""
    out = []
    for _ in range(n_events // batch):
        rows = rng.choice(len(ids), batch, replace=False)
        kinds = rng.random(batch)
        cls = rng.integers(0, len(classes), batch)
        eds = []
        for r, k, c in zip(rows, kinds, cls, strict=True):
            p = str(ids[r])
            if k < 0.35:
                eds.append(Edit(p, "add", classes[c]))
            elif k < 0.60:
                eds.append(Edit(p, "remove", classes[c]))
            elif k < 0.85:
                eds.append(Edit(p, "set", labels=(classes[c], classes[(c + 3) % len(classes)])))
            else:
                eds.append(Edit(p, "flag" if k < 0.93 else "exclude"))
        out.append(eds)
    return out


def python_replay(ws: Path, log: EditLog) -> list[set]:
    """Baseline: replay the active events in order over per-patch label sets (plain Python)."""
    import pyarrow.parquet as pq

    t = pq.read_table(ws / "catalog.parquet", columns=["patch_id", "labels"])
    ids = t.column("patch_id").to_pylist()
    labels = [set(x) for x in t.column("labels").to_pylist()]
    row = {p: i for i, p in enumerate(ids)}
    active = set(log.batches().query("active")["id"])
    con = sqlite3.connect(log.path_)
    for batch, pid, op, lab in con.execute("SELECT batch, patch_id, op, label FROM events ORDER BY id"):
        if batch not in active:
            continue
        s = labels[row[pid]]
        if op == "add":
            s.add(lab)
        elif op == "remove":
            s.discard(lab)
        elif op == "set":
            labels[row[pid]] = set(json.loads(lab))
    con.close()
    return labels


def bare_insert(path: Path, rows: list[tuple]) -> float:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT, author TEXT, "
                "batch INTEGER, patch_id TEXT, op TEXT, label TEXT, note TEXT)")
    con.execute("CREATE INDEX IF NOT EXISTS e_b ON events(batch)")
    con.execute("CREATE INDEX IF NOT EXISTS e_p ON events(patch_id)")
    t0 = time.perf_counter()
    con.execute("BEGIN IMMEDIATE")
    con.executemany("INSERT INTO events (time, author, batch, patch_id, op, label, note) VALUES (?,?,?,?,?,?,?)",
                    rows)
    con.execute("COMMIT")
    dt = time.perf_counter() - t0
    con.close()
    return dt


def med(xs) -> float:
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--synthetic", action="store_true", help="random labels instead of the reBEN catalog")
    opts = ap.parse_args()
    load0 = os.getloadavg()
    t_all = time.perf_counter()
    ws = scratch_workspace(opts.synthetic)
    rng = np.random.default_rng(0)
    classes = ben19_classes()
    log = EditLog(ws)
    ids = log.current_labels().patch_ids
    n = len(ids)

    # fill the log: events in 10,000-patch batches, one of them undone
    batches = make_batches(ids, classes, opts.events, 10_000, rng)
    commit_fill = []
    for i, b in enumerate(batches):
        t0 = time.perf_counter()
        log.commit(b, author=f"curator{i % 3}", note=f"bench batch {i}", source="bench")
        commit_fill.append(time.perf_counter() - t0)
    log.undo(author="curator0")
    ev = log.events()
    n_events = len(ev)
    n_undo = int(ev["op"].isin(["undo", "redo"]).sum())
    del ev

    cold, warm, base = [], [], []
    for _ in range(opts.runs):
        t0 = time.perf_counter()
        cur = EditLog(ws, create=False).current_labels()
        cold.append(time.perf_counter() - t0)
        log._cache = None  # as after a commit from another session: recompute, catalog labels cached
        t0 = time.perf_counter()
        cur = log.current_labels()
        warm.append(time.perf_counter() - t0)
    for _ in range(max(1, opts.runs // 2)):
        t0 = time.perf_counter()
        ref = python_replay(ws, log)
        base.append(time.perf_counter() - t0)
    # the two agree
    classes_l = list(classes)
    sample = rng.choice(n, 20_000, replace=False)
    mismatch = sum({classes_l[j] for j in np.flatnonzero(cur.Y[r])} != ref[r] for r in sample)
    assert mismatch == 0, f"{mismatch} patches differ between the log and the Python replay"

    # 10,000-patch batch commit vs the bare SQLite insert of the same rows
    commit10, bare10, refresh10 = [], [], []
    for i in range(opts.runs):
        b = make_batches(ids, classes, 10_000, 10_000, rng)[0]
        log.current_labels()
        t0 = time.perf_counter()
        log.commit(b, author="bench", note=f"timed {i}", source="bench")
        commit10.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        log.current_labels()  # what the dashboard does after the commit: only the new batch's events applied
        refresh10.append(time.perf_counter() - t0)
        rows = [("2026-01-01T00:00:00", "bench", i, e.patch_id, e.op, e.label, "") for e in b]
        bare10.append(bare_insert(SCRATCH / "bare.sqlite", rows))
    # the whole dataset in one batch (an "oversized selection")
    whole = []
    for i in range(2):
        b = [Edit(str(p), "flag" if i == 0 else "unflag") for p in ids]
        t0 = time.perf_counter()
        log.commit(b, author="bench", note="everything", source="bench")
        whole.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    log.current_labels()
    after_whole_inc = time.perf_counter() - t0
    t0 = time.perf_counter()
    log._cache = None
    log.current_labels()
    after_whole = time.perf_counter() - t0
    db_mib = sum(f.stat().st_size for f in ws.glob("edits.sqlite*")) / 2**20
    load1 = os.getloadavg()

    print(f"\nbench/edits.py  runs={opts.runs}  cpus={os.cpu_count()}  python={platform.python_version()}  "
          f"{platform.processor() or platform.machine()}  load avg {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f} at "
          f"start, {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f} at end  wall {time.perf_counter() - t_all:.0f} s")
    print(f"workspace: {n:,} patches ({'synthetic labels' if opts.synthetic else 'reBEN catalog'}), log: "
          f"{n_events - n_undo:,} edit events in {len(batches)} batches of 10,000 + one undo of a batch "
          f"({n_undo:,} undo events) before the timed rows; edits.sqlite (+WAL) {db_mib:.0f} MiB at the end\n")
    print(f"{'row':<58} {'eomine s':>9} {'baseline s':>11} {'ratio':>6} {'target':>8}  result")
    rows = [
        (f"materialise {n:,} + {n_events:,} events, cold", med(cold), med(base), 2.0),
        (f"materialise {n:,} + {n_events:,} events, warm", med(warm), med(base), 2.0),
        ("commit 10,000-patch batch", med(commit10), med(bare10), 1.0),
        ("refresh labels after that commit (incremental)", med(refresh10), None, None),
        (f"commit {n:,}-patch batch (whole dataset)", med(whole), None, None),
        ("refresh labels after the second one (incremental)", after_whole_inc, None, None),
        (f"materialise after it, full ({n_events + 2 * n + 10_000 * opts.runs:,} events)", after_whole, None, None),
    ]
    for name, v, b, target in rows:
        ratio = f"{b / v:6.1f}" if b else f"{'-':>6}"
        bs = f"{b:11.3f}" if b else f"{'-':>11}"
        tg = f"<={target:g} s" if target else "-"
        res = ("PASS" if v <= target else "MISS") if target else "-"
        print(f"{name:<58} {v:9.3f} {bs} {ratio} {tg:>8}  {res}")
    print("ratio = baseline / eomine (medians). materialise baseline: Python replay of the same active events over "
          "per-patch label sets\n(results checked equal on 20,000 patches); commit baseline: bare SQLite "
          "executemany of the same rows (WAL, synchronous=FULL, same indexes).")
    print(f"fill: {len(commit_fill)} commits of 10,000 edits, median {med(commit_fill):.3f} s, max "
          f"{max(commit_fill):.3f} s")
    shutil.rmtree(SCRATCH, ignore_errors=True)  # ~400 MiB of scratch log; rebuilt by every run


if __name__ == "__main__":
    main()
