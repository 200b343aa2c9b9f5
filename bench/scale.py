"""Scale-out (issue #17): the local backend vs Ray on the same machine, in one run.

    python bench/scale.py [--n 6000] [--galileo-n 300] [--runs 3] [--cpus 2]

Builds a demo workspace of ``--n`` patches (60 x 60 px, S2 + S1) in ``.bench/scale``, then times, median of
``--runs`` after one warm-up, each step with ``--backend local`` and ``--backend ray`` on one local Ray cluster
(``--cpus`` CPUs, started once; its start-up is timed on its own):

* embed ``spectral`` (all patches) and ``galileo`` (the first ``--galileo-n`` patches, CPU);
* kNN exact (k 30);
* score (noise scores on the demo's labels);
* the store's reading rate: sequential rows from the memory-mapped store and through fsspec (``file://``).

Every Ray result is checked against the local one (bit for bit for spectral, the kNN graph and the scores; the
largest difference for galileo). With CUDA, a GPU section embeds with 1 GPU locally and through Ray (one actor
on that GPU). ratio = Ray / local: the engine's overhead on one machine (Ray does not add CPUs here).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time

import numpy as np
from common import BENCH_DIR, ROOT, peak_rss_mib  # noqa: F401  (ROOT puts the checkout on sys.path)


def timed(fn, runs: int) -> tuple[float, list[float], object]:
    fn()  # warm-up (JIT, imports, page cache)
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def subset_workspace(src, dst, n: int):
    """A copy of the first ``n`` patches of a demo workspace (fresh ingest of the same generator)."""
    from mining.datasets.demo import DemoDataset
    from mining.ingest import ingest

    if not (dst / "workspace.json").is_file():
        ingest(DemoDataset(n=n, seed=1), dst, progress=False)
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=6000)
    ap.add_argument("--galileo-n", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args()

    import torch

    from mining.datasets.demo import DemoDataset
    from mining.distributed import RayCluster
    from mining.distributed.embed import embed_ray
    from mining.distributed.knn import RayKNNGraph
    from mining.embeddings import embed, embeddings_key, load_embeddings
    from mining.encoders import make_encoder
    from mining.ingest import ingest
    from mining.knn import KNNGraph, save_knn
    from mining.noise import load_scores, score_workspace
    from mining.store_fs import FsPixelStore, store_url_of
    from mining.workspace import Workspace

    base = BENCH_DIR / "scale"
    ws_path = base / f"demo{args.n}"
    if not (ws_path / "workspace.json").is_file():
        shutil.rmtree(ws_path, ignore_errors=True)
        ingest(DemoDataset(n=args.n, seed=1), ws_path, progress=False)
    gal_path = subset_workspace(ws_path, base / f"demo{args.galileo_n}", args.galileo_n)
    ws, gws = Workspace(ws_path), Workspace(gal_path)
    rows = []

    def row(what, n, local, ray_, check):
        rows.append((what, n, local, ray_, check))
        print(f"  {what}: local {local[0]:.2f} s, ray {ray_[0]:.2f} s ({check})", flush=True)

    # ---- reading rate of the store (the embedding's I/O floor)
    store = ws.store
    row_bytes = sum(int(np.prod(g.shape)) * np.dtype(g.dtype).itemsize for g in store.groups.values())

    def read_all(s):
        for b0 in range(0, store.n_rows, 256):
            {g: np.array(a) for g, a in s.rows(b0, min(b0 + 256, store.n_rows)).items()}

    t_mm = timed(lambda: read_all(store), args.runs)
    fss = FsPixelStore(store_url_of(ws.files.pixels))
    t_fs = timed(lambda: read_all(fss), args.runs)

    print(f"bench/scale.py n={args.n} galileo_n={args.galileo_n} runs={args.runs} cpus={args.cpus} "
          f"torch threads={torch.get_num_threads()} load={os.getloadavg()[0]:.1f}", flush=True)
    t0 = time.perf_counter()
    with RayCluster(num_cpus=args.cpus, object_store_memory=500_000_000) as cluster:
        t_start = time.perf_counter() - t0
        print(f"  ray local cluster started in {t_start:.1f} s ({cluster.n_actors} actor(s))", flush=True)
        # ---- embed spectral
        loc = timed(lambda: embed(ws, make_encoder("spectral"), progress=False), args.runs)
        _, X_loc = load_embeddings(ws)
        ray_ = timed(lambda: embed_ray(ws, make_encoder("spectral"), cluster, shard_rows=2048, progress=False),
                     args.runs)
        _, X_ray = load_embeddings(ws)
        row("embed spectral", args.n, loc, ray_, "bit-identical" if np.array_equal(X_loc, X_ray) else "DIFFERENT")
        # ---- embed galileo (CPU)
        loc = timed(lambda: embed(gws, make_encoder("galileo"), device="cpu", progress=False), args.runs)
        _, G_loc = load_embeddings(gws)
        ray_ = timed(lambda: embed_ray(gws, make_encoder("galileo"), cluster, device="cpu", shard_rows=256,
                                       progress=False), args.runs)
        _, G_ray = load_embeddings(gws)
        diff = float(np.abs(G_loc - G_ray).max())
        row("embed galileo (cpu)", args.galileo_n, loc, ray_,
            "bit-identical" if np.array_equal(G_loc, G_ray) else f"max |diff| {diff:.2e}")
        # ---- kNN exact
        loc = timed(lambda: KNNGraph(30, method="exact", device="cpu").fit(X_loc), args.runs)
        ray_ = timed(lambda: RayKNNGraph(30, cluster=cluster, method="exact", device="cpu",
                                         block_rows=4096).fit(X_loc), args.runs)
        same = np.array_equal(loc[2].indices_, ray_[2].indices_) and np.array_equal(loc[2].distances_,
                                                                                      ray_[2].distances_)
        row("kNN exact k=30", args.n, loc, ray_, "identical graph" if same else "DIFFERENT")
        save_knn(ws, loc[2], embeddings_key=embeddings_key(ws))
        # ---- score
        loc = timed(lambda: score_workspace(ws, force=True), args.runs)
        S_loc = load_scores(ws)
        ray_ = timed(lambda: score_workspace(ws, force=True, cluster=cluster, shard_rows=2048), args.runs)
        S_ray = load_scores(ws)
        row("score", args.n, loc, ray_, "identical scores" if S_loc.equals(S_ray) else "DIFFERENT")
        # ---- GPU
        if torch.cuda.is_available():
            loc = timed(lambda: embed(ws, make_encoder("galileo"), device="cuda", progress=False), args.runs)
            ray_ = timed(lambda: embed_ray(ws, make_encoder("galileo"), cluster, device="cuda", progress=False),
                         args.runs)
            row("GPU: embed galileo, 1 GPU", args.n, loc, ray_, "")
        else:
            print("  GPU section skipped: torch sees no CUDA device", flush=True)

    print()
    print(f"store reading rate ({row_bytes / 1e3:.0f} kB of raw pixels per patch, {args.n:,} patches, batches of 256):")
    for name, t in (("memory-mapped store (local backend)", t_mm), ("fsspec file:// ranged reads (Ray workers)", t_fs)):
        print(f"  {name:<44} {t[0]:6.3f} s  {args.n / t[0]:>10,.0f} patches/s  "
              f"{args.n * row_bytes / t[0] / 1e9:5.2f} GB/s")
    print()
    print(f"{'step':<26} {'patches':>8} {'local s':>8} {'ray s':>8} {'ratio':>6}  "
          f"{'local /s':>9} {'ray /s':>9}  check")
    for what, n, loc, ray_, check in rows:
        print(f"{what:<26} {n:>8,} {loc[0]:>8.2f} {ray_[0]:>8.2f} {ray_[0] / loc[0]:>6.2f}  "
              f"{n / loc[0]:>9,.0f} {n / ray_[0]:>9,.0f}  {check}")
    print("(runs: " + "; ".join(f"{w}: local {[round(x, 2) for x in lo[1]]}, ray {[round(x, 2) for x in ra[1]]}"
                                 for w, _, lo, ra, _ in rows) + ")")
    print(f"ray cluster start (once per command without --address): {t_start:.1f} s; peak RSS "
          f"{peak_rss_mib():,.0f} MiB; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
