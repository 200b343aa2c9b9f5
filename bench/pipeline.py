"""Pipeline throughput: encoders (patches/s), kNN graph (time + recall) and UMAP with the stored graph.

Each measurement runs in a fresh subprocess (so its peak RSS is its own); tables show the median of the runs
and the ratio to a baseline measured in the same run:

* encoders: the raw read of the same pixel rows from the workspace's pixel store (the I/O floor). Measured
  on the demo workspace (``DemoDataset(n=6000)``, ingested once into ``.bench/demo``; 60 x 60 px patches)
  when ``mining/datasets/demo/`` exists, else on the real EuroSAT MS sample (180 patches, 64 x 64 px);
  ``ssl`` only when ``mining/encoders/ssl.py`` exists (trained from scratch each run: ``retrain=True``);
  CUDA rows only when torch sees a GPU.
* kNN (k=30, cosine): eomine ``KNNGraph(method="nndescent")`` (pynndescent, what ``eomine knn`` uses on the
  CPU above 20,000 points) vs scikit-learn ``NearestNeighbors(algorithm="brute")``; recall@30 of the graph
  against the exact neighbours of 2,000 random points.
* UMAP: eomine ``Projection("umap", seed=0)`` fed the stored graph vs umap-learn doing its own neighbour
  search (``umap.UMAP(n_neighbors=31)``, its default ``random_state=None``). umap-learn runs single-threaded
  when given a ``random_state``, which eomine does for reproducible layouts; where that misses a target, the
  same call with ``random_state=None`` (parallel, not reproducible) is measured too.

Points: subsets (seeded random, nested) of the 549,488 generated label-conditioned embeddings of the real reBEN
metadata (``bench/make_reben_workspace.py``, built on first use). Timings exclude the Python imports. numba
compiles pynndescent / umap-learn in every fresh process (tens of seconds here), so each kNN / UMAP process first
calls the same function on 2,000 points (5,000 for umap-learn): that is reported as ``JIT s``, and the timed call
after it as the time; targets are judged both ``warm`` (time) and ``cold`` (time + JIT, what a fresh
``eomine knn`` / ``eomine project`` process costs).

Usage: python bench/pipeline.py [--sizes 10k,50k,100k,549488] [--runs 3] [--runs-large 1]
                                [--parts encoders,knn,umap] [--parallel-umap auto|always|never]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import BENCH_DIR  # noqa: E402

WORK = BENCH_DIR / "pipeline"
DEMO_WS = BENCH_DIR / "demo"
EUROSAT_WS = BENCH_DIR / "eurosat"
K = 30
RECALL_QUERIES = 2000
FULL_N = 549_488
#: sizes at or above this use --runs-large
LARGE = 200_000

TARGETS = {
    "encoder": 2000.0,           # spectral, patches/s end to end (fit + encode + write)
    "knn": (FULL_N, 60.0, 0.95),  # n, seconds, recall
    "umap": {100_000: 60.0, FULL_N: 300.0},
}

# Each snippet: ``prep`` (untimed: imports, loading), optional ``warm`` (a first call on a small subset, timed
# separately as ``jit_s``: numba compiles pynndescent / umap-learn in every fresh process), then ``run``
# (timed as ``s``) and ``post`` (untimed). ``A`` = arguments, ``R`` = results.
SNIPPETS = {
    "encoder": dict(prep="""
        from mining.workspace import Workspace
        from mining.encoders import make_encoder
        from mining.embeddings import embed
        ws = Workspace(A['ws']); R['n'] = ws.store.n_rows
        enc = make_encoder(A['name'], **A['params'])
    """, run="""
        t1 = time.perf_counter()
        enc.fit(ws, device=A['device'], progress=False)
        R['fit_s'] = time.perf_counter() - t1
        t1 = time.perf_counter()
        embed(ws, enc, device=A['device'], fit=False, progress=False)
        R['encode_s'] = time.perf_counter() - t1
    """, post="""
        # embedding quality of this run: mean Jaccard of each patch's labels with its 10 nearest neighbours'
        from mining.embeddings import load_embeddings
        from mining.knn import exact_knn
        from mining.quality import knn_label_agreement, label_matrix
        ids, X = load_embeddings(ws)
        cat = ws.catalog.set_index('patch_id').loc[ids]
        Y = label_matrix(cat['labels'], ws.nomenclature.classes)
        R['agree'] = knn_label_agreement(Y, exact_knn(X, 10)[0])
    """),
    "read_floor": dict(prep="""
        from mining.workspace import Workspace
        import numpy as np
        from mining.store import read_rows
        ws = Workspace(A['ws']); store = ws.store; n = R['n'] = store.n_rows
    """, run="""
        for b in range(0, n, 256):
            for a in read_rows(store, b, min(b + 256, n)).values():
                np.array(a, copy=True)  # a memmap slice is lazy: make the bytes come in
    """),
    "knn_eomine": dict(prep="""
        import numpy as np
        from mining.knn import KNNGraph
        import pynndescent  # noqa: F401
        X = np.load(A['X'])
        def go(X):
            return KNNGraph(A['k'], metric='cosine', method='nndescent', seed=0).fit(X)
    """, warm="go(X[:A['warm']])", run="g = go(X)", post="""
        np.save(A['ind'], g.indices_); np.save(A['dist'], g.distances_)
    """),
    "knn_sklearn": dict(prep="""
        import numpy as np
        from sklearn.neighbors import NearestNeighbors
        X = np.load(A['X'])
        def go(X):
            return NearestNeighbors(n_neighbors=A['k'] + 1, metric='cosine', algorithm='brute',
                                    n_jobs=-1).fit(X).kneighbors(X)
    """, warm="go(X[:A['warm']])", run="go(X)"),
    "umap_eomine": dict(prep="""
        import numpy as np
        from mining.knn import exact_knn
        from mining.projection import Projection
        import umap  # noqa: F401
        X = np.load(A['X']); ind = np.load(A['ind']); dist = np.load(A['dist'])
        Xw = X[:A['warm']]; wi, wd = exact_knn(Xw, A['k'])
    """, warm="Projection('umap', seed=0).fit(Xw, (wi, wd))", run="Projection('umap', seed=0).fit(X, (ind, dist))"),
    "umap_parallel": dict(prep="""
        import numpy as np
        from mining.knn import exact_knn
        import umap  # noqa: F401
        X = np.load(A['X']); ind = np.load(A['ind']); dist = np.load(A['dist'])
        Xw = X[:A['warm']]; wi, wd = exact_knn(Xw, A['k'])
        from mining.projection import Projection
        def go(X, ind, dist):  # forced reproducible: umap-learn with random_state=0 (one thread), spectral init
            return Projection('umap', seed=0, reproducible=True, init='spectral').fit(X, (ind, dist))
    """, warm="go(Xw, wi, wd)", run="go(X, ind, dist)"),
    "umap_learn": dict(prep="""
        import warnings
        import numpy as np
        import umap
        X = np.load(A['X'])
        def go(X):
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                return umap.UMAP(n_neighbors=A['k'] + 1).fit_transform(X)
    """, warm="go(X[:max(A['warm'], 5000)])  # >= 4096 points: umap-learn's pynndescent path", run="go(X)"),
}

#: points of the warm-up call (``jit_s``)
WARM = 2000
#: mining.projection.Projection.LARGE (not imported: the bench parent process stays light)
UMAP_LARGE = 50_000


def measure(name: str, args: dict, timeout: float | None = None) -> dict:
    """Run one snippet in a fresh interpreter; return its results (``s``, ``jit_s`` seconds, ``rss`` MiB, ...)."""
    snip = SNIPPETS[name]
    args = {"warm": WARM, **args}
    code = textwrap.dedent(f"""
        import json, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from bench.common import peak_rss_mib
        A = json.loads({json.dumps(json.dumps(args))})
        R = {{}}
    """) + textwrap.dedent(snip["prep"])
    if "warm" in snip:
        code += f"\nt0 = time.perf_counter()\n{snip['warm']}\nR['jit_s'] = time.perf_counter() - t0\n"
    code += "\nt0 = time.perf_counter()\n" + textwrap.dedent(snip["run"]) + "\nR['s'] = time.perf_counter() - t0\n"
    code += textwrap.dedent(snip.get("post", "")) + textwrap.dedent("""
        R['rss'] = peak_rss_mib()
        print('RESULT ' + json.dumps(R))
    """)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"s": float("nan"), "rss": float("nan"), "error": f"timeout after {timeout:.0f} s"}
    if out.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{out.stderr[-3000:]}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def repeat(name: str, args: dict, runs: int, timeout: float | None = None) -> dict:
    """Median seconds and max peak RSS of ``runs`` fresh-process runs (plus the other fields' medians).

    A run killed at ``timeout`` stops the series: the result then has ``timeout`` and ``s`` = NaN.
    """
    res = []
    for _ in range(runs):
        res.append(measure(name, args, timeout))
        if "error" in res[-1]:
            return {"runs": len(res), "all_s": [r["s"] for r in res], "s": float("nan"), "jit_s": float("nan"),
                    "rss": float("nan"), "timeout": timeout, "error": res[-1]["error"]}
    out = {"runs": runs, "all_s": [r["s"] for r in res], "rss": max(r["rss"] for r in res)}
    for key in res[0]:
        if key != "rss" and isinstance(res[0][key], int | float):
            out[key] = statistics.median(r[key] for r in res)
    return out


# ------------------------------------------------------------------------------------------------ inputs
def parse_sizes(text: str) -> list[int]:
    sizes = []
    for tok in text.split(","):
        tok = tok.strip().lower().replace("_", "")
        if tok in ("all", "full"):
            sizes.append(FULL_N)
        elif tok.endswith("k"):
            sizes.append(int(float(tok[:-1]) * 1000))
        else:
            sizes.append(int(tok))
    return sizes


def prepare_points(sizes: list[int]) -> dict[int, Path]:
    """Nested random subsets of the 549k embeddings as ``.npy`` (rebuilt when the embeddings change)."""
    import numpy as np

    from bench.make_reben_workspace import build
    from mining.embeddings import embeddings_key, load_embeddings

    ws = build(project=False, echo=lambda *a: None)
    key = embeddings_key(ws)
    WORK.mkdir(parents=True, exist_ok=True)
    manifest = WORK / "manifest.json"
    paths = {n: WORK / f"X_{n}.npy" for n in sizes}
    old = json.loads(manifest.read_text()) if manifest.is_file() else {}
    if old.get("key") != key:
        for p in WORK.glob("*.npy"):
            p.unlink()
    if all(p.is_file() for p in paths.values()):
        return paths
    _, X = load_embeddings(ws)
    perm = np.random.default_rng(0).permutation(len(X))
    for n, p in paths.items():
        if n > len(X):
            raise SystemExit(f"size {n:,} > the {len(X):,} embeddings")
        if not p.is_file():
            sel = np.sort(perm[:n]) if n < len(X) else np.arange(len(X))
            np.save(p, np.ascontiguousarray(X[sel]))
    manifest.write_text(json.dumps({"key": key}))
    return paths


def knn_recall(X_path: Path, ind_path: Path, k: int = K, queries: int = RECALL_QUERIES) -> float:
    """Mean |approx ∩ exact| / k over ``queries`` random points (exact cosine by matrix product)."""
    import numpy as np

    X = np.load(X_path)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    ind = np.load(ind_path, mmap_mode="r")
    q = np.sort(np.random.default_rng(1).choice(len(X), size=min(queries, len(X)), replace=False))
    hits = 0
    for s in range(0, len(q), 200):
        qq = q[s:s + 200]
        sim = X[qq] @ X.T
        sim[np.arange(len(qq)), qq] = -np.inf  # self excluded, as in the graph
        exact = np.argpartition(-sim, k, axis=1)[:, :k]
        for a, e in zip(ind[qq, :k], exact, strict=True):
            hits += len(np.intersect1d(a, e, assume_unique=True))
    return hits / (len(q) * k)


def _wait_for_partial(path: Path, max_wait_s: float = 900) -> None:
    """Another process (another bench) may be ingesting into ``path`` right now: let it finish."""
    partial = path.with_name(path.name + ".partial")
    t0 = time.time()
    while partial.exists() and time.time() - partial.stat().st_mtime < 1800 and time.time() - t0 < max_wait_s:
        time.sleep(5)


def demo_workspace() -> tuple[Path, str]:
    """The encoder bench's workspace: demo (6,000 generated patches) or the real EuroSAT MS sample.

    The ingested workspace (``.bench/demo``, shared with other benches) is used through a view in
    ``.bench/pipeline/encoder_ws`` (symbolic links to its catalog, description and pixel store), so the
    embeddings and ssl checkpoints this bench writes never touch the shared workspace.
    """
    from mining.errors import WorkspaceError
    from mining.ingest import ingest
    from mining.workspace import Workspace

    if (ROOT / "mining" / "datasets" / "demo" / "__init__.py").is_file():
        from mining.datasets.demo import DemoDataset

        path, label, make = DEMO_WS, "demo dataset, 6,000 patches of 60x60 px", lambda: DemoDataset(n=6000)
    else:
        from mining.datasets import EuroSATMS
        from mining.resources import shared_data_dir

        shared = shared_data_dir()
        if shared is None:
            raise SystemExit("no demo dataset and no ../shared/data/eurosat-ms for the encoder bench")
        path, label = EUROSAT_WS, "real EuroSAT MS sample, 180 patches of 64x64 px"

        def make():
            return EuroSATMS(shared / "eurosat-ms")
    _wait_for_partial(path)
    try:
        Workspace(path)
    except WorkspaceError:
        t0 = time.perf_counter()
        ingest(make(), path, overwrite=True, progress=False)
        print(f"ingested the encoder workspace {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    view = WORK / "encoder_ws"
    view.mkdir(parents=True, exist_ok=True)
    for name in ("workspace.json", "catalog.parquet", "pixels"):
        link = view / name
        if link.is_symlink() and link.resolve() != (path / name).resolve():
            link.unlink()
        if not link.is_symlink():
            link.symlink_to((path / name).resolve())
    Workspace(view)
    return view, f"{label}, {path.relative_to(ROOT)}"


# ------------------------------------------------------------------------------------------------ report
def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("PASS" if ok else "MISS")


def fmt_s(r: dict | None, key: str = "s") -> str:
    if r is None:
        return "—"
    if "timeout" in r:
        return f"> {r['timeout']:.0f}" if key == "s" else "?"
    return f"{r[key]:.1f}"


def within(r: dict, limit: float, *, cold: bool = False) -> bool:
    """Time (plus the JIT warm-up when ``cold``) within ``limit``; a killed run is a miss."""
    if "timeout" in r:
        return False
    return r["s"] + (r.get("jit_s", 0.0) if cold else 0.0) <= limit


def bench_encoders(runs: int, echo) -> list[str]:
    import torch

    ws_path, label = demo_workspace()
    names = ["spectral", "random"]
    if (ROOT / "mining" / "encoders" / "ssl.py").is_file():
        names.append("ssl")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    floor = repeat("read_floor", {"ws": str(ws_path)}, runs)
    lines = [f"Encoders on the {label}; baseline = raw read of all pixel rows "
             f"from the pixel store ({floor['s']:.2f} s, {floor['n'] / floor['s']:,.0f} patches/s)",
             f"{'encoder':<9} {'device':<6} {'patches':>7} {'runs':>4} {'fit s':>7} {'encode s':>8} "
             f"{'encode/s':>9} {'total/s':>8} {'x floor':>7} {'RSS MiB':>8} {'agree@10':>8}  {'target':<11} result"]
    for dev in devices:
        for name in names:
            params = {"retrain": True} if name == "ssl" else {}
            r = repeat("encoder", {"ws": str(ws_path), "name": name, "params": params, "device": dev}, runs)
            n = int(r["n"])
            rate = n / r["s"]
            target = TARGETS["encoder"] if name == "spectral" else None
            lines.append(f"{name:<9} {dev:<6} {n:>7,} {runs:>4} {r['fit_s']:>7.2f} {r['encode_s']:>8.2f} "
                         f"{n / r['encode_s']:>9,.0f} {rate:>8,.0f} {r['encode_s'] / floor['s']:>7.1f} "
                         f"{r['rss']:>8,.0f} {r.get('agree', float('nan')):>8.3f}  "
                         f"{f'>= {target:,.0f}/s' if target else '—':<11} "
                         f"{verdict(rate >= target if target else None)}")
            echo(f"  encoder {name} on {dev}: {rate:,.0f} patches/s end to end, {n / r['encode_s']:,.0f} encode only "
                 f"(runs {[round(x, 2) for x in r['all_s']]} s)")
    lines.append("total/s = patches / (fit + encode + write): what `eomine embed` delivers (judged against the "
                 "target); encode/s leaves out the fit; x floor = encode time / raw read time. ssl: fit = SimCLR "
                 "training from scratch (retrain=True); agree@10 = kNN label agreement of the embeddings (mean "
                 "Jaccard of a patch's labels with its 10 exact nearest neighbours', median of the runs); random = the "
                 "random-projection baseline")
    return lines


def bench_knn(sizes, paths, runs_for, knn_baseline_max, echo) -> tuple[list[str], dict]:
    lines = [f"kNN graph, k={K}, cosine. eomine = KNNGraph(method='nndescent') (pynndescent, n_jobs=-1); "
             f"baseline = sklearn NearestNeighbors(algorithm='brute', n_jobs=-1); recall@{K} of the graph vs the "
             f"exact neighbours of {RECALL_QUERIES:,} random points",
             f"{'n':>9} {'runs':>4} {'eomine s':>9} {'JIT s':>6} {'recall':>7} {'RSS MiB':>8} {'sklearn s':>10} "
             f"{'ratio':>6} {'RSS MiB':>8}  {'target':<24} {'warm':<5} {'cold':<5}"]
    graphs = {}
    for n in sizes:
        runs = runs_for(n)
        ind, dist = WORK / f"knn_ind_{n}.npy", WORK / f"knn_dist_{n}.npy"
        args = {"X": str(paths[n]), "k": K, "ind": str(ind), "dist": str(dist)}
        e = repeat("knn_eomine", args, runs)
        graphs[n] = (ind, dist)
        rec = knn_recall(paths[n], ind)
        b = repeat("knn_sklearn", args, runs) if n <= knn_baseline_max else None
        tn, ts, tr = TARGETS["knn"]
        has_t = n == tn
        tgt = f"<= {ts:.0f} s, recall >= {tr}" if has_t else "—"
        ratio = f"{e['s'] / b['s']:.2f}" if b else "—"
        brss = f"{b['rss']:,.0f}" if b else "—"
        warm = verdict(e["s"] <= ts and rec >= tr) if has_t else "—"
        cold = verdict(e["s"] + e["jit_s"] <= ts and rec >= tr) if has_t else "—"
        lines.append(f"{n:>9,} {runs:>4} {e['s']:>9.1f} {e['jit_s']:>6.1f} {rec:>7.3f} {e['rss']:>8,.0f} "
                     f"{fmt_s(b):>10} {ratio:>6} {brss:>8}  {tgt:<24} {warm:<5} {cold:<5}")
        echo(f"  knn {n:,}: {e['s']:.1f} s + JIT {e['jit_s']:.1f} s (runs {[round(x, 1) for x in e['all_s']]}), "
             f"recall {rec:.3f}, sklearn {fmt_s(b)} s")
    lines.append(f"eomine s = the fit after a {WARM:,}-point warm-up call in the same process; JIT s = that warm-up "
                 "(numba compiling pynndescent: paid once by every fresh process, e.g. each `eomine knn`); "
                 "cold = judged on eomine s + JIT s")
    lines.append(f"sklearn brute force only up to n = {knn_baseline_max:,} (O(n^2) time; not run above)")
    return lines, graphs


def bench_umap(sizes, paths, graphs, runs_for, umap_baseline_max, parallel, timeout, which,
               echo) -> list[str]:
    lines = ["UMAP to 2-D, min_dist 0.1, umap-learn's default epochs (200 above 10,000 points). eomine = "
             "Projection('umap', seed=0) fed the stored graph; baseline = umap.UMAP(n_neighbors=31) doing its own "
             "neighbour search (random_state=None)",
             f"{'n':>9} {'variant':<42} {'runs':>4} {'median s':>9} {'JIT s':>6} {'RSS MiB':>8} {'ratio':>6}  "
             f"{'target':<9} {'warm':<5} {'cold':<5}"]
    for n in sizes:
        runs = runs_for(n)
        if n not in graphs:  # the kNN part was not run: compute the graph once, untimed
            ind, dist = WORK / f"knn_ind_{n}.npy", WORK / f"knn_dist_{n}.npy"
            if not (ind.is_file() and dist.is_file()):
                measure("knn_eomine", {"X": str(paths[n]), "k": K, "ind": str(ind), "dist": str(dist)})
            graphs[n] = (ind, dist)
        ind, dist = graphs[n]
        args = {"X": str(paths[n]), "k": K, "ind": str(ind), "dist": str(dist)}
        target = TARGETS["umap"].get(n)
        res, variants = {}, []
        if "seeded" in which:
            res["umap_eomine"] = repeat("umap_eomine", args, runs, timeout)
            variants.append(("eomine default (seed 0, auto)" if n <= UMAP_LARGE else "eomine default (PCA init, parallel)",
                             "umap_eomine"))
            echo(f"  umap {n:,} seeded: {fmt_s(res['umap_eomine'])} s "
                 f"(runs {[round(x, 1) for x in res['umap_eomine']['all_s']]})")
        # above LARGE the default is parallel (not bit-reproducible): also time --reproducible there
        if "parallel" in which and (parallel == "always" or (parallel == "auto" and n > UMAP_LARGE)):
            res["umap_parallel"] = repeat("umap_parallel", args, runs, timeout)
            variants.append(("eomine --reproducible (1 thread, spectral)", "umap_parallel"))
            echo(f"  umap {n:,} reproducible: {fmt_s(res['umap_parallel'])} s")
        b = None
        if "baseline" in which and n <= umap_baseline_max:
            b = res["umap_learn"] = repeat("umap_learn", args, runs, timeout)
            variants.append(("umap-learn own search (baseline)", "umap_learn"))
            echo(f"  umap {n:,} umap-learn: {fmt_s(b)} s")
            if "timeout" in b:
                b = None
        for label, key in variants:
            r = res[key]
            is_base = key == "umap_learn"
            ratio = f"{r['s'] / b['s']:.2f}" if b and not is_base and "timeout" not in r else "—"
            has_t = target is not None and not is_base
            warm = verdict(within(r, target)) if has_t else "—"
            cold = verdict(within(r, target, cold=True)) if has_t else "—"
            lines.append(f"{n:>9,} {label:<42} {r['runs']:>4} {fmt_s(r):>9} {fmt_s(r, 'jit_s'):>6} {r['rss']:>8,.0f} "
                         f"{ratio:>6}  {f'<= {target:.0f} s' if has_t else '—':<9} {warm:<5} {cold:<5}")
    lines.append(f"ratio = time / umap-learn baseline at the same n (< 1: faster). umap-learn baseline only up to "
                 f"n = {umap_baseline_max:,}: at 549,488 its own neighbour search + layout does not fit the bench's "
                 "time on this machine (not run)")
    lines.append(f"eomine default = Projection('umap', seed=0): up to {UMAP_LARGE:,} points bit-reproducible "
                 "(random_state=seed: umap-learn then optimises on one thread) with the spectral init; above, the "
                 "seeded PCA init and umap-learn's parallel optimiser (random_state=None: not bit-reproducible). "
                 "--reproducible forces the former at any size. "
                 f"JIT s = a {WARM:,}-point warm-up call in the same process (baseline: 5,000)")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10k,50k,100k,549488", help="comma-separated point counts (k suffix ok)")
    ap.add_argument("--runs", type=int, default=3, help=f"runs per measurement below {LARGE:,} points")
    ap.add_argument("--runs-large", type=int, default=1, help=f"runs per measurement at >= {LARGE:,} points")
    ap.add_argument("--encoder-runs", type=int, default=None, help="runs of the encoder part (default --runs)")
    ap.add_argument("--parts", default="encoders,knn,umap", help="which parts: encoders, knn, umap")
    ap.add_argument("--knn-baseline-max", type=int, default=50_000, help="largest n for the sklearn baseline")
    ap.add_argument("--umap-baseline-max", type=int, default=100_000, help="largest n for the umap-learn baseline")
    ap.add_argument("--parallel-umap", choices=("auto", "always", "never"), default="auto",
                    help="also time UMAP with random_state=None: auto = where the seeded run misses its target "
                         "(or was not run)")
    ap.add_argument("--umap-variants", default="seeded,parallel,baseline",
                    help="UMAP rows to measure: seeded (eomine), parallel (see --parallel-umap), baseline (umap-learn)")
    ap.add_argument("--umap-timeout", type=float, default=None,
                    help="kill a UMAP run after this many seconds (reported as '> N', a miss)")
    opts = ap.parse_args()
    parts = {p.strip() for p in opts.parts.split(",") if p.strip()}
    unknown = parts - {"encoders", "knn", "umap"}
    if unknown:
        ap.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    sizes = parse_sizes(opts.sizes)

    def runs_for(n: int) -> int:
        return opts.runs_large if n >= LARGE else opts.runs

    def echo(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    load0 = os.getloadavg()
    out: list[str] = []
    if "encoders" in parts:
        echo("encoders ...")
        out += bench_encoders(opts.encoder_runs or opts.runs, echo) + [""]
    if parts & {"knn", "umap"}:
        echo("preparing points ...")
        paths = prepare_points(sizes)
        graphs: dict = {}
        if "knn" in parts:
            lines, graphs = bench_knn(sizes, paths, runs_for, opts.knn_baseline_max, echo)
            out += lines + [""]
        if "umap" in parts:
            out += bench_umap(sizes, paths, graphs, runs_for, opts.umap_baseline_max, opts.parallel_umap,
                              opts.umap_timeout, set(opts.umap_variants.split(",")), echo)
            out += [""]
    load = os.getloadavg()
    header = (f"bench/pipeline.py  parts={','.join(sorted(parts))}  sizes={','.join(str(n) for n in sizes)}  "
              f"runs={opts.runs} (runs-large={opts.runs_large} at >= {LARGE:,})  cpus={os.cpu_count()}  "
              f"python={platform.python_version()}  load avg (1 min) start {load0[0]:.1f} / end {load[0]:.1f}  "
              f"wall {time.perf_counter() - t_start:.0f} s")
    print("\n" + header)
    print("\n".join(out))


if __name__ == "__main__":
    main()
