"""Active learning (issue #15 part 5): learning curves of every query strategy with a simulated curator.

A simulated curator answers every query with the TRUE labels. Each run starts with no label; every round refits
:class:`mining.active.ActiveLearner` (classifier + label spreading over the stored kNN graph, the graph matrix
built once per data set with ``ActiveLearner.graph_matrix`` as the product does), asks its batch and labels it.

* **Test set:** a fixed random sample of patches (the same for every strategy and seed, ``--test-seed``) that is
  never asked (``askable`` excludes it) and never trained on; accuracy and macro-F1 are
  :func:`mining.active.evaluate` on it (single-label: top-1 accuracy; multi-label: mean per-patch Jaccard index
  of the predicted and true label sets).
* **Schedule** (labels given -> batch of the next round): 10 while < 50 labels, 25 while < 200, 100 while
  < 1,000, 250 from 1,000 on (23 rounds to 2,000), each batch cut so that every budget of ``--budgets`` is hit
  exactly. The model is evaluated after every round (10, 20, ..., 50, 75, ..., 200, 300, ..., 1,000, 1,250, ...),
  so "labels needed" is read at that resolution.
* **Seeds:** run ``s`` uses learner seed ``1000 s + round`` (the product uses ``seed + round``); mean +- sd over
  ``--seeds``.
* **Every pool label:** the same learner with every non-test patch labelled (``--full-seeds`` fits, default 1:
  the classifier and label spreading are deterministic, the seed is unused).
* **Reported per strategy:** accuracy and macro-F1 at each budget; labels needed to reach random sampling's mean
  accuracy at 1,000 labels and 95 % of the every-label accuracy (first round whose mean-over-seeds accuracy
  reaches it; ">B" = not within the largest budget B); AUC = the area under accuracy vs log10(labels) from
  the smallest to the largest budget (trapezoids over every round), divided by the width of that log range,
  i.e. the mean accuracy on a log scale of the budget (per seed, then mean +- sd).

Data sets (``--only``):

a. ``eurosat-rgb``: the 18,900 real EuroSAT RGB JPEGs (``../shared/data/eurosat-rgb``) ingested with
   ``--drop-labels`` (true labels in the catalog column ``true_labels``), ``galileo`` embeddings, kNN k=15
   (workspace ``.bench/active-eurosat-rgb``, built when missing); single-label, test set 3,000.
b. ``demo``: ``eomine demo --n 6000`` (galileo embeddings when its weights are found, k=30), multi-label, 19
   classes, truth = the ``gt_labels`` column (the demo's ``labels`` carry injected noise); test set 1,500.
c. ``reben``: the 549,488 reBEN label sets of ``.bench/reben549k`` (``python bench/make_reben_workspace.py
   --no-project``: generated label-conditioned embeddings, k=30), multi-label, 19 classes, truth = the catalog
   labels; test set 20,000. Plus the time of one round (refit + query, batch 50) at full scale, median of
   ``--repeats`` rounds, broken into learner.seconds_ (model / graph / query), and the cascade run.

Cascade run (reBEN; ``--no-cascade`` skips it): on whole Sentinel-2 tiles of reBEN (``--cascade-tiles``; every product of
those tiles), the patches' parent = the 4 x 4 block of the 1,200 m grid (4,800 m) of their product
(ids end with ``_<col>_<row>``). A curator looks at batches of 50; "looked at" = labelled patches. Reported: the
patches looked at until 90 % of the patches of ``--cascade-class`` in the pool were labelled, for ``cascade``
(groups = the blocks, target = that class), ``margin``, ``auto`` and ``random`` (random = a uniform order of the
pool: the same distribution as the random strategy's batches, without refitting a model it does not use).

Usage: python bench/active.py [--only eurosat-rgb,demo,reben] [--seeds 5] [--strategies auto,random,...]
                              [--budgets 10,20,50,100,200,500,1000,2000] [--reben-seeds 2]
                              [--reben-strategies random,auto,margin] [--repeats 5] [--no-cascade]
                              [--first-seed 0] [--threads 1] [--json-dir .bench/active] [--json PATH]
                              [--plot docs/active-curves.png] [--report] [--merge PART.json ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import BENCH_DIR, catalog_labels  # noqa: E402
from mining.active import STRATEGIES, ActiveLearner, evaluate  # noqa: E402

BUDGETS = (10, 20, 50, 100, 200, 500, 1000, 2000)
JSON_DIR = BENCH_DIR / "active"
PLOT = ROOT / "docs" / "active-curves.png"
TITLES = {"eurosat-rgb": "EuroSAT RGB 18,900 (galileo, single-label)",
          "demo": "demo 6,000 (galileo, multi-label)",
          "reben": "reBEN 549,488 (generated emb., multi-label)"}


# -------------------------------------------------------------------------------------------- data sets
class Data:
    def __init__(self, name, ids, X, Y, classes, W, single, test_size, test_seed, graph_seconds, ind=None):
        self.name, self.ids, self.X, self.Y, self.classes, self.W = name, ids, X, Y, list(classes), W
        self.single, self.graph_seconds, self.ind = single, graph_seconds, ind
        n = len(X)
        rng = np.random.default_rng(test_seed)
        self.test = np.sort(rng.choice(n, min(test_size, n // 4), replace=False))
        self.pool = np.ones(n, bool)
        self.pool[self.test] = False


def _eomine(*args):
    subprocess.run([sys.executable, "-m", "eomine.cli", *map(str, args)], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)


def _load(name, path, truth_column, single, test_size, test_seed, echo):
    from mining.embeddings import load_embeddings
    from mining.knn import load_knn
    from mining.quality import label_matrix
    from mining.workspace import Workspace

    ws = Workspace(path)
    ids, X = load_embeddings(ws)
    ind, dist, _ = load_knn(ws)
    classes = ws.nomenclature.classes
    if truth_column is None:
        cids, Y = catalog_labels(ws)
    else:
        import pyarrow.parquet as pq

        t = pq.read_table(ws.catalog_path, columns=["patch_id", truth_column])
        cids = t.column("patch_id").to_numpy(zero_copy_only=False).astype(object)
        Y = label_matrix(t.column(truth_column), classes)
    import pandas as pd

    Y = Y[pd.Index(cids).get_indexer(ids)]
    t0 = time.perf_counter()
    W = ActiveLearner.graph_matrix(ind, dist)
    gs = time.perf_counter() - t0
    echo(f"{name}: {len(X):,} patches, dim {X.shape[1]}, k={ind.shape[1]}, {len(classes)} classes, "
         f"{Y.sum(1).mean():.2f} labels/patch; graph matrix built once in {gs:.2f} s")
    return Data(name, np.asarray(ids, object), X, Y, classes, W, single, test_size, test_seed, gs, ind=ind)


def dataset_eurosat_rgb(echo, test_seed=0):
    out = BENCH_DIR / "active-eurosat-rgb"
    if not (out / "knn" / "knn.json").is_file():
        from mining.resources import shared_data_dir

        shared = shared_data_dir()
        if shared is None or not (shared / "eurosat-rgb").is_dir():
            raise SystemExit("the EuroSAT RGB part needs ../shared/data/eurosat-rgb")
        echo(f"building {out} (ingest --drop-labels, galileo embeddings on the CPU, kNN k=15)")
        _eomine("ingest", shared / "eurosat-rgb", "--format", "eurosat-rgb", "--out", out, "--drop-labels",
                "--overwrite")
        _eomine("embed", out, "--encoder", "galileo", "--device", "cpu", "--force")
        _eomine("knn", out, "--k", 15, "--force")
    return _load("eurosat-rgb", out, "true_labels", True, 3000, test_seed, echo)


def dataset_demo(echo, n=6000, test_seed=0):
    out = BENCH_DIR / "active-demo"
    if not (out / "knn" / "knn.json").is_file():
        echo(f"building {out} (eomine demo --n {n})")
        _eomine("demo", "--out", out, "--n", n)
    return _load("demo", out, "gt_labels", False, 1500, test_seed, echo)


def dataset_reben(echo, test_seed=0):
    out = BENCH_DIR / "reben549k"
    if not (out / "knn" / "knn.json").is_file():
        raise SystemExit("build the reBEN workspace first: python bench/make_reben_workspace.py --no-project")
    return _load("reben", out, None, False, 20000, test_seed, echo)


# -------------------------------------------------------------------------------------------- the curves
def schedule(n_lab: int, budgets) -> int:
    """Batch size of the next round with ``n_lab`` labels given, cut to hit the next budget exactly."""
    size = 10 if n_lab < 50 else 25 if n_lab < 200 else 100 if n_lab < 1000 else 250
    nxt = min((b for b in budgets if b > n_lab), default=n_lab + size)
    return min(size, nxt - n_lab)


def run_curve(d: Data, strategy: str, seed: int, budgets, echo=None) -> dict:
    """One simulated labelling run; accuracy / macro-F1 on the test set after every round."""
    n = len(d.X)
    labelled = np.zeros(n, bool)
    out = {"n": [], "accuracy": [], "macro_f1": [], "seconds": [], "strategy_used": []}
    top = max(budgets)
    rnd = 0
    while True:
        n_lab = int(labelled.sum())
        bs = schedule(n_lab, budgets) if n_lab < top else 1
        learner = ActiveLearner(strategy, bs, seed=1000 * seed + rnd).fit(
            d.X, d.Y, labelled, classes=d.classes, graph=d.W, askable=d.pool, single_label=d.single)
        if n_lab:
            m = evaluate(d.Y[d.test], learner.predicted_[d.test], single_label=d.single)
            out["n"].append(n_lab)
            out["accuracy"].append(m["accuracy"])
            out["macro_f1"].append(m["macro_f1"])
            out["seconds"].append(sum(learner.seconds_.values()))
            out["strategy_used"].append(learner.strategy_)
        if n_lab >= top:
            break
        batch = learner.batch_
        if len(batch) == 0:
            break
        if labelled[batch].any() or (~d.pool[batch]).any() or len(np.unique(batch)) != len(batch):
            raise AssertionError(f"{strategy}: batch repeats, holds a labelled or a test patch")
        labelled[batch] = True  # the simulated curator answers with the true labels (d.Y)
        rnd += 1
    if echo:
        acc = dict(zip(out["n"], out["accuracy"], strict=True))
        echo(f"  {d.name} {strategy:8s} seed {seed}: " + " ".join(f"{b}:{acc[b]:.3f}" for b in budgets if b in acc)
             + f"  ({sum(out['seconds']):.1f} s)")
    return out


def full_pool(d: Data, seed: int) -> dict:
    """The learner with every pool patch labelled: the ceiling of the curves."""
    learner = ActiveLearner("random", 1, seed=seed).fit(d.X, d.Y, d.pool, classes=d.classes, graph=d.W,
                                                        single_label=d.single)
    m = evaluate(d.Y[d.test], learner.predicted_[d.test], single_label=d.single)
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "seconds": sum(learner.seconds_.values())}


def auc(n, acc, lo, hi) -> float:
    """Mean accuracy over log10(labels) in [lo, hi] (trapezoids between the evaluated rounds)."""
    x, y = np.log10(np.asarray(n, float)), np.asarray(acc, float)
    keep = (x >= np.log10(lo) - 1e-9) & (x <= np.log10(hi) + 1e-9)
    x, y = x[keep], y[keep]
    return float(np.trapezoid(y, x) / (x[-1] - x[0])) if len(x) > 1 else float("nan")


def summarise(res: dict, budgets) -> dict:
    """Per strategy: mean / sd at each budget, labels to random's 1,000-label accuracy and to 95 % of every
    label, AUC."""
    lo, hi = min(budgets), max(budgets)
    full = np.array([f["accuracy"] for f in res["full"]])
    full_f1 = np.array([f["macro_f1"] for f in res["full"]])
    out = {"full_accuracy": [float(full.mean()), float(full.std())],
           "full_macro_f1": [float(full_f1.mean()), float(full_f1.std())], "strategies": {}}
    ref_b = 1000 if 1000 in budgets else hi
    ref = None
    if "random" in res["curves"]:
        r = res["curves"]["random"]
        ref = float(np.mean([dict(zip(c["n"], c["accuracy"], strict=True))[ref_b] for c in r]))
    out["random_ref"] = {"budget": ref_b, "accuracy": ref}
    for s, runs in res["curves"].items():
        grid = runs[0]["n"]
        A = np.array([c["accuracy"] for c in runs])
        F = np.array([c["macro_f1"] for c in runs])
        mean = A.mean(0)

        def needed(target, grid=grid, mean=mean):
            hit = np.flatnonzero(mean >= target - 1e-12)
            return int(grid[hit[0]]) if len(hit) else None

        aucs = [auc(c["n"], c["accuracy"], lo, hi) for c in runs]
        at = {}
        for b in budgets:
            if b in grid:
                i = grid.index(b)
                at[str(b)] = {"accuracy": [float(A[:, i].mean()), float(A[:, i].std())],
                         "macro_f1": [float(F[:, i].mean()), float(F[:, i].std())]}
        out["strategies"][s] = {
            "at": at, "auc": [float(np.mean(aucs)), float(np.std(aucs))],
            "to_random_ref": needed(ref) if ref is not None else None,
            "to_95_full": needed(0.95 * full.mean()),
            "seconds_per_run": float(np.mean([sum(c["seconds"]) for c in runs])),
            "seeds": len(runs)}
    return out


def _threads(n: int | None):
    """Limit the BLAS / OpenMP threads (None: no limit)."""
    import contextlib

    from threadpoolctl import threadpool_limits

    return threadpool_limits(n) if n else contextlib.nullcontext()


def run_dataset(d: Data, strategies, seeds: int, budgets, echo, *, full_seeds: int = 1, save=None,
                res: dict | None = None, threads: int | None = 1, first_seed: int = 0) -> dict:
    """Curves of every strategy; ``save(res)`` after each strategy (partial results survive a cut run)."""
    res = res if res is not None else {}
    with _threads(threads):
        return _run_dataset(d, strategies, seeds, budgets, echo, full_seeds, save, res, threads, first_seed)


def _run_dataset(d, strategies, seeds, budgets, echo, full_seeds, save, res, threads, first_seed=0) -> dict:
    res.update({"dataset": d.name, "threads": threads, "n": len(d.X), "test": len(d.test), "pool": int(d.pool.sum()),
                "single_label": d.single, "classes": d.classes, "budgets": list(budgets), "seeds": seeds,
                "graph_matrix_seconds": d.graph_seconds, "curves": {}, "full": []})
    t0 = time.perf_counter()
    for s in range(full_seeds):
        res["full"].append(full_pool(d, s))
    echo(f"  {d.name} every pool label ({res['pool']:,}): accuracy "
         f"{np.mean([f['accuracy'] for f in res['full']]):.3f} ({time.perf_counter() - t0:.1f} s for {full_seeds})")
    for strat in strategies:
        res["curves"][strat] = []
        for s in range(first_seed, first_seed + seeds):  # saved after every seed: a cut run keeps what it did
            res["curves"][strat].append({"seed": s, **run_curve(d, strat, s, budgets, echo)})
            res["summary"] = summarise(res, budgets)
            if save:
                save(res)
    return res


# -------------------------------------------------------------------------------------------- round time
def round_time(d: Data, repeats: int, echo, strategies=("auto", "random", "margin", "cold"), start: int = 1000) -> dict:
    """Refit + query (batch 50) at full scale: ``repeats`` consecutive rounds per strategy from ``start``
    random labels; median of learner.seconds_ parts."""
    out = {"n": len(d.X), "graph_matrix_seconds": d.graph_seconds, "start_labels": start, "strategies": {}}
    for strat in strategies:
        rng = np.random.default_rng(7)
        labelled = np.zeros(len(d.X), bool)
        labelled[rng.choice(np.flatnonzero(d.pool), start, replace=False)] = True
        rows = []
        for r in range(repeats):
            t0 = time.perf_counter()
            learner = ActiveLearner(strat, 50, seed=r).fit(d.X, d.Y, labelled, classes=d.classes, graph=d.W,
                                                           askable=d.pool, single_label=d.single)
            wall = time.perf_counter() - t0
            rows.append({**learner.seconds_, "total": sum(learner.seconds_.values()), "wall": wall,
                         "strategy_used": learner.strategy_})
            labelled[learner.batch_] = True
        med = {k: float(np.median([r[k] for r in rows])) for k in ("model", "graph", "query", "total", "wall")}
        out["strategies"][strat] = {"median": med, "rounds": rows, "strategy_used": rows[0]["strategy_used"]}
        echo(f"  round at {len(d.X):,}: {strat:8s} ({rows[0]['strategy_used']}) median total {med['total']:.2f} s "
             f"= model {med['model']:.2f} + graph {med['graph']:.2f} + query {med['query']:.2f} "
             f"(rounds: {_joined([r['total'] for r in rows], ' ')})")
    return out


# -------------------------------------------------------------------------------------------- cascade
def cascade_run(d: Data, tiles, target: str, seeds: int, echo, strategies=("cascade", "margin", "auto"),
                batch: int = 50, found_share: float = 0.9) -> dict:
    """Patches looked at (labelled) until ``found_share`` of the ``target`` patches of the pool were labelled."""
    import pandas as pd

    ids = pd.Series(d.ids)
    parts = ids.str.rsplit("_", n=2)
    prefix = parts.str[0]
    tile = prefix.str.extract(r"_(T\d{2}[A-Z]{3})", expand=False)
    sub = np.flatnonzero(tile.isin(tiles).to_numpy())
    col = parts.str[1].astype(int).to_numpy()[sub]
    row = parts.str[2].astype(int).to_numpy()[sub]
    block = prefix.to_numpy()[sub].astype(str) + "/" + (col // 4).astype(str) + "_" + (row // 4).astype(str)
    groups = pd.factorize(pd.Series(block))[0].astype(np.int64)
    X, Y = d.X[sub], d.Y[sub]
    # the stored graph restricted to the subset (neighbours outside it dropped)
    pos = np.full(len(d.X), -1, np.int64)
    pos[sub] = np.arange(len(sub))
    ind = d.ind[sub]
    ind = np.where(ind >= 0, pos[np.maximum(ind, 0)], -1)
    from mining.knn import load_knn
    from mining.workspace import Workspace

    _, dist, _ = load_knn(Workspace(BENCH_DIR / "reben549k"))
    W = ActiveLearner.graph_matrix(ind, np.asarray(dist)[sub])
    t = d.classes.index(target)
    pos_rows = Y[:, t]
    n_pos = int(pos_rows.sum())
    need = int(np.ceil(found_share * n_pos))
    res = {"tiles": list(tiles), "patches": len(sub), "blocks": int(groups.max()) + 1, "target": target,
           "target_patches": n_pos, "need": need, "batch": batch, "runs": {}}
    echo(f"  cascade: tiles {', '.join(tiles)}: {len(sub):,} patches, {res['blocks']:,} 4x4 blocks, "
         f"{n_pos} {target!r} patches (find {need})")
    cap = len(sub)
    for s in range(seeds):
        order = np.random.default_rng(5000 + s).permutation(len(sub))
        looked = int(np.flatnonzero(np.cumsum(pos_rows[order]) >= need)[0]) + 1
        res["runs"].setdefault("random", []).append({"looked": looked})
    echo(f"    random: {[r['looked'] for r in res['runs']['random']]}")
    for strat in strategies:
        for s in range(seeds):
            labelled = np.zeros(len(sub), bool)
            rnd, t0 = 0, time.perf_counter()
            while labelled.sum() < cap:
                learner = ActiveLearner(strat, batch, seed=1000 * s + rnd, target=target if strat == "cascade" else None
                                        ).fit(X, Y, labelled, classes=d.classes, graph=W,
                                              groups=groups if strat == "cascade" else None, single_label=False)
                labelled[learner.batch_] = True
                rnd += 1
                if (labelled & pos_rows).sum() >= need or len(learner.batch_) == 0:
                    break
            found = int((labelled & pos_rows).sum())
            res["runs"].setdefault(strat, []).append(
                {"looked": int(labelled.sum()) if found >= need else None, "found": found, "rounds": rnd,
                 "seconds": time.perf_counter() - t0})
        echo(f"    {strat}: {[r['looked'] for r in res['runs'][strat]]}")
    return res


# -------------------------------------------------------------------------------------------- output
def _joined(values, sep: str) -> str:
    return sep.join(f"{v:.2f}" for v in values)


def _pm(v, digits=3):
    return f"{v[0]:.{digits}f} ± {v[1]:.{digits}f}"


def table(res: dict) -> str:
    s = res["summary"]
    b = res["budgets"]
    lines = [f"**{TITLES.get(res['dataset'], res['dataset'])}** · {res['n']:,} patches, test {res['test']:,}, "
             f"pool {res['pool']:,}, {res['seeds']} seeds; every pool label: accuracy {_pm(s['full_accuracy'])}, "
             f"macro-F1 {_pm(s['full_macro_f1'])}; random at {s['random_ref']['budget']:,}: "
             + (f"{s['random_ref']['accuracy']:.3f}" if s['random_ref']['accuracy'] is not None else "n/a"),
             "",
             "| strategy | " + " | ".join(f"acc @{x:,}" for x in b) + " | labels to random@1,000 | labels to 95 % "
             "of every label | AUC (log labels) | macro-F1 @100 | macro-F1 @1,000 | s per run |",
             "| --- " * (len(b) + 7) + "|"]
    for st, v in s["strategies"].items():
        cells = [(_pm(v["at"][str(x)]["accuracy"]) if str(x) in v["at"] else "") for x in b]
        f1 = [(_pm(v["at"][str(x)]["macro_f1"]) if str(x) in v["at"] else "") for x in (100, 1000)]
        def lab(x):
            return f"{x:,}" if x is not None else f"> {max(b):,}"
        lines.append(f"| {st}" + (f" ({v['seeds']} seeds)" if v["seeds"] != res["seeds"] else "") + " | "
                     + " | ".join(cells) + f" | {lab(v['to_random_ref'])} | {lab(v['to_95_full'])} | "
                     f"{_pm(v['auc'])} | {f1[0]} | {f1[1]} | {v['seconds_per_run']:.0f} |")
    return "\n".join(lines)


def round_table(rt: dict) -> str:
    lines = [f"Round time at {rt['n']:,} patches (batch 50, from {rt['start_labels']:,} random labels, median of "
             f"{len(next(iter(rt['strategies'].values()))['rounds'])} consecutive rounds; graph matrix built once "
             f"in {rt['graph_matrix_seconds']:.1f} s):", "",
             "| strategy (resolved) | total s | model s | graph s | query s | rounds (total s) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for st, v in rt["strategies"].items():
        m = v["median"]
        lines.append(f"| {st} ({v['strategy_used']}) | {m['total']:.2f} | {m['model']:.2f} | {m['graph']:.2f} | "
                     f"{m['query']:.2f} | {_joined([r['total'] for r in v['rounds']], ' / ')} |")
    return "\n".join(lines)


def cascade_table(c: dict) -> str:
    lines = [f"Cascade: tiles {', '.join(c['tiles'])} of reBEN ({c['patches']:,} patches, {c['blocks']:,} parent "
             f"blocks of 4x4 patches), target {c['target']!r}: {c['target_patches']} patches, 90 % = "
             f"{c['need']}; batches of {c['batch']}", "",
             "| strategy | patches looked at to find 90 % (per seed) | mean | share of the patches |",
             "| --- | --- | --- | --- |"]
    for st, runs in c["runs"].items():
        lk = [r["looked"] for r in runs]
        ok = [x for x in lk if x is not None]
        mean = f"{np.mean(ok):,.0f}" if len(ok) == len(lk) else "n/a"
        share = f"{np.mean(ok) / c['patches']:.1%}" if len(ok) == len(lk) else ""
        lines.append(f"| {st} | {' / '.join(f'{x:,}' if x is not None else 'not reached' for x in lk)} | "
                     f"{mean} | {share} |")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"random": "#000000", "cold": "#1f77b4", "entropy": "#ff7f0e", "margin": "#2ca02c",
               "diverse": "#9467bd", "cascade": "#8c564b", "auto": "#d62728"}
    fig, axes = plt.subplots(1, len(results), figsize=(4.3 * len(results), 4.4), squeeze=False, dpi=130)
    for ax, res in zip(axes[0], results, strict=True):
        for st in STRATEGIES:
            runs = res["curves"].get(st)
            if not runs:
                continue
            A = np.array([c["accuracy"] for c in runs])
            n = np.array(runs[0]["n"])
            m, sd = A.mean(0), A.std(0)
            ax.plot(n, m, color=colours[st], lw=2.2 if st in ("auto", "random") else 1.4,
                    ls="--" if st == "random" else "-", label=f"{st} ({len(runs)})")
            ax.fill_between(n, m - sd, m + sd, color=colours[st], alpha=0.15, lw=0)
        full = res["summary"]["full_accuracy"][0]
        ax.axhline(full, color="grey", lw=1, ls=":", label=f"every label ({full:.3f})")
        ax.set_xscale("log")
        ax.set_xlabel("labels given")
        ax.set_ylabel("accuracy" + (" (mean Jaccard)" if not res["single_label"] else ""))
        ax.set_title(TITLES.get(res["dataset"], res["dataset"]), fontsize=10)
        ax.set_xticks(res["budgets"])
        ax.set_xticklabels([f"{b:,}" for b in res["budgets"]], fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7.5, loc="lower right", title="strategy (seeds)", title_fontsize=7.5)
    fig.suptitle("Active learning: test accuracy vs labels (mean ± sd over seeds)", fontsize=12)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _machine() -> dict:
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "mining"], cwd=ROOT, capture_output=True, text=True).stdout
    return {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "load_at_start": load, "commit": rev.strip(),
            "engine_dirty": bool(dirty.strip()), "time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="eurosat-rgb,demo,reben")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    ap.add_argument("--reben-seeds", type=int, default=2, help="seeds of the reBEN curves (scale: fewer)")
    ap.add_argument("--reben-strategies", default="random,auto,margin",
                    help="strategies of the reBEN curves (scale: fewer)")
    ap.add_argument("--reben-budgets", default=None, help="budgets of the reBEN curves (default: --budgets)")
    ap.add_argument("--repeats", type=int, default=5, help="rounds timed per strategy at 549,488 patches")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--full-seeds", type=int, default=1,
                    help="fits with every pool label (the learner is deterministic: lbfgs / newton-cholesky)")
    ap.add_argument("--round-strategies", default="auto,random,margin,cold",
                    help="strategies whose round is timed at 549,488 patches")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS/OpenMP threads of the curves and the cascade run (0: no limit); the round time at "
                         "549,488 patches always runs with the default threads. On a loaded 2-core machine two "
                         "BLAS threads made one refit 10-100x slower than one thread")
    ap.add_argument("--no-curves", action="store_true", help="reBEN: only the round time and the cascade")
    ap.add_argument("--no-cascade", action="store_true")
    ap.add_argument("--cascade-tiles", default="T29UNB,T34UDG")
    ap.add_argument("--cascade-class", default="Beaches, dunes, sands")
    ap.add_argument("--cascade-seeds", type=int, default=3)
    ap.add_argument("--json-dir", type=Path, default=JSON_DIR, help="one JSON per data set (the plot reads them)")
    ap.add_argument("--json", type=Path, default=None, help="also write this run's results here")
    ap.add_argument("--plot", type=Path, default=PLOT)
    ap.add_argument("--report", action="store_true", help="print the tables and draw the plot from --json-dir")
    ap.add_argument("--merge", type=Path, nargs="*", default=[],
                    help="data-set JSONs of runs that split the strategies over processes: their curves are added "
                         "to the one of the same data set in --json-dir (same test set, budgets, seeds)")
    opts = ap.parse_args(argv)
    echo = print
    only = opts.only.split(",")
    strategies = [s for s in opts.strategies.split(",") if s]
    bad = set(strategies) - set(STRATEGIES)
    if bad:
        raise SystemExit(f"unknown strategies {sorted(bad)}; one of {', '.join(STRATEGIES)}")
    budgets = tuple(int(b) for b in opts.budgets.split(","))
    opts.json_dir.mkdir(parents=True, exist_ok=True)
    run: dict = {"machine": _machine(), "argv": sys.argv[1:]}
    if not opts.report:
        echo(f"machine: {run['machine']}")
        for name in only:
            t0 = time.perf_counter()
            path = opts.json_dir / f"{name}.json"

            def save(res, path=path, t0=t0):
                res["machine"] = {**run["machine"], "load_at_end": os.getloadavg(),
                                  "wall_seconds": time.perf_counter() - t0, "argv": sys.argv[1:]}
                path.write_text(json.dumps(res, indent=1))

            kw = {"full_seeds": opts.full_seeds, "save": save, "threads": opts.threads, "first_seed": opts.first_seed}
            if name == "eurosat-rgb":
                res = run_dataset(dataset_eurosat_rgb(echo), strategies, opts.seeds, budgets, echo, **kw)
            elif name == "demo":
                res = run_dataset(dataset_demo(echo), strategies, opts.seeds, budgets, echo, **kw)
            elif name == "reben":
                d = dataset_reben(echo)
                # the parts (round time, cascade, curves) may run in separate invocations: merge into the stored JSON
                res = json.loads(path.read_text()) if path.is_file() else {"dataset": "reben"}
                if opts.repeats:
                    res["round_time"] = round_time(d, opts.repeats, echo, opts.round_strategies.split(","))
                    echo(round_table(res["round_time"]))
                    save(res)
                if not opts.no_cascade:
                    with _threads(opts.threads):
                        res["cascade"] = cascade_run(d, opts.cascade_tiles.split(","), opts.cascade_class,
                                                     opts.cascade_seeds, echo)
                    echo(cascade_table(res["cascade"]))
                    save(res)
                if not opts.no_curves:
                    rb = tuple(int(b) for b in opts.reben_budgets.split(",")) if opts.reben_budgets else budgets
                    run_dataset(d, opts.reben_strategies.split(","), opts.reben_seeds, rb, echo, res=res, **kw)
            else:
                raise SystemExit(f"unknown data set {name!r}")
            save(res)
            run[name] = res
            if "summary" in res:
                print()
                print(table(res))
                print()
        if opts.json:
            opts.json.write_text(json.dumps(run, indent=1))
    for extra in opts.merge:
        part = json.loads(extra.read_text())
        path = opts.json_dir / f"{part['dataset']}.json"
        base = json.loads(path.read_text())
        if (base["budgets"], base["test"]) != (part["budgets"], part["test"]):
            raise SystemExit(f"{extra} was run with other budgets or test set than {path}")
        for strat, runs in part["curves"].items():  # runs of the same strategy from other seeds are added
            have = {c.get("seed") for c in base["curves"].get(strat, [])}
            base["curves"].setdefault(strat, []).extend(c for c in runs if c.get("seed") not in have)
            base["curves"][strat].sort(key=lambda c: c.get("seed", 0))
        base["summary"] = summarise(base, base["budgets"])
        base.setdefault("merged", []).append({"from": str(extra), "strategies": list(part["curves"]),
                                              "machine": part.get("machine")})
        path.write_text(json.dumps(base, indent=1))
        echo(f"merged {', '.join(part['curves'])} of {extra} into {path}")
    # the report: every data set stored so far
    results = []
    for name in ("eurosat-rgb", "demo", "reben"):
        p = opts.json_dir / f"{name}.json"
        if p.is_file():
            results.append(json.loads(p.read_text()))
    for res in results:
        if opts.report:
            if "summary" in res:
                print(table(res) + "\n")
            if "round_time" in res:
                print(round_table(res["round_time"]) + "\n")
            if "cascade" in res:
                print(cascade_table(res["cascade"]) + "\n")
    curves = [r for r in results if "curves" in r]
    if curves:
        plot(curves, opts.plot)
        echo(f"plot: {opts.plot}")


if __name__ == "__main__":
    main()
