"""Tours on the 549,488-patch reBEN workspace: time to compute a 200-stop tour with each strategy.

The workspace is ``.bench/reben549k`` (built by bench/make_reben_workspace.py: the real reBEN catalog, generated
label-conditioned embeddings, a k=30 pynndescent graph and a UMAP layout). The graph is loaded once
(``TourGraph.from_workspace``, timed on its own); every tour row is the median / max of ``--runs`` runs with
seeds 0..runs-1, after one warm-up run, in this process.

Baseline, measured in the same run: **one full pass over the graph**, i.e. :func:`mining.tours.border_scores`
for all 549,488 patches (in chunks of 50,000), which is what a boundary tour would pay up front if it scored every
patch before walking instead of scoring only the neighbours it looks at. The ratio column is tour time /
baseline time (< 1: the tour costs less than touching every patch once). A second baseline row times a
naive random walk that finds its teleport candidates by scanning the unvisited mask (``np.flatnonzero``) at
every step, the O(n)-per-step design the tours avoid.

Target: a 200-stop tour in <= 1 s (every strategy).

Usage: python bench/tours.py [--runs 7] [--steps 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import BENCH_DIR, peak_rss_mib  # noqa: E402

REBEN = BENCH_DIR / "reben549k"
TARGET_S = 1.0


def naive_walk(ind, dist, start, steps, seed):
    """Random walk whose teleport candidates come from a full scan of the unvisited mask at every step."""
    rng = np.random.default_rng(seed)
    visited = np.zeros(len(ind), bool)
    rows = [start]
    visited[start] = True
    for _ in range(steps - 1):
        free = np.flatnonzero(~visited & (ind[:, 0] >= 0))  # O(n) every step
        nb = ind[rows[-1]]
        ok = (nb >= 0) & ~visited[np.maximum(nb, 0)]
        if ok.any():
            w = np.exp(-(dist[rows[-1]][ok] - dist[rows[-1]].min()))
            nxt = int(nb[ok][rng.choice(ok.sum(), p=w / w.sum())])
        else:
            nxt = int(free[rng.integers(len(free))])
        rows.append(nxt)
        visited[nxt] = True
    return rows


def timed(fn, runs):
    fn(0)  # warm-up
    ts = []
    for s in range(runs):
        t = time.perf_counter()
        out = fn(s)
        ts.append(time.perf_counter() - t)
    return ts, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--steps", type=int, default=200)
    opts = ap.parse_args()
    if not (REBEN / "knn" / "indices.npy").is_file():
        raise SystemExit(f"{REBEN} is missing: run bench/make_reben_workspace.py first")
    from mining.tours import Tour, TourGraph, border_scores

    t = time.perf_counter()
    g = TourGraph.from_workspace(REBEN)
    load_s = time.perf_counter() - t
    n, k = g.ind.shape
    big = g.classes[int(np.argmax(g.Y.sum(0)))]
    pool = np.flatnonzero(g.ind[:, 0] >= 0)

    def full_pass(_s):
        return [border_scores(g.ind, g.Y, np.arange(i, min(i + 50_000, n))) for i in range(0, n, 50_000)]

    base, _ = timed(full_pass, max(3, opts.runs // 2))
    base_med = statistics.median(base)
    cases = [
        ("random walk", dict(strategy="random")),
        ("boundary tour", dict(strategy="boundary")),
        (f"class tour ({big}, {int(g.Y[:, g.classes.index(big)].sum()):,} patches)", dict(strategy="class", label=big)),
        (f"grand tour by class ({len(g.classes)} stops)", dict(strategy="grand", by="class")),
        (f"grand tour by cluster ({opts.steps} clusters)", dict(strategy="grand", by="cluster")),
    ]
    rows = []
    for name, kw in cases:
        s = kw.pop("strategy")

        def run(seed, s=s, kw=kw):
            return Tour(s, steps=opts.steps, seed=seed, **kw).fit(g)

        ts, tour = timed(run, opts.runs)
        rows.append((name, len(tour.rows_), ts))
    ts, _ = timed(lambda seed: naive_walk(g.ind, g.dist, int(pool[seed]), opts.steps, seed), max(3, opts.runs // 2))
    rows.append(("baseline: naive random walk (O(n) scan per step)", opts.steps, ts))

    print(f"\nbench/tours.py  runs={opts.runs} (+1 warm-up)  steps={opts.steps}  cpus={os.cpu_count()}  "
          f"python={platform.python_version()}  numpy={np.__version__}  machine={platform.machine()}")
    print(f"workspace {REBEN.name}: {n:,} patches, k={k}; graph + labels + layout loaded in {load_s:.2f} s "
          f"(once per process / app); peak RSS {peak_rss_mib():,.0f} MiB")
    print(f"baseline (one full pass: border scores of all {n:,} patches): median {base_med * 1e3:,.0f} ms\n")
    print("| tour | stops | median ms | max ms | vs full pass | <= 1 s |")
    print("| --- | ---: | ---: | ---: | ---: | :---: |")
    for name, m, ts in rows:
        med = statistics.median(ts)
        ok = "yes" if max(ts) <= TARGET_S else ("median only" if med <= TARGET_S else "NO")
        print(f"| {name} | {m} | {med * 1e3:,.1f} | {max(ts) * 1e3:,.1f} | {med / base_med:.3f} | {ok} |")


if __name__ == "__main__":
    main()
