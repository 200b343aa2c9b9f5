"""GPU throughput: ``ssl`` CNN embedding end to end from the packed pixel store, and exact kNN on the GPU.

Run on a machine where torch sees a CUDA GPU (CI has none; this is run by hand on a lent H100/H200)::

    python bench/gpu.py --ws WS_WITH_PIXELS [--n 100000] [--runs 3] [--knn-n 549488] [--knn-d 512]

* **Embedding.** The source workspace (e.g. the 24 real reBEN S2+S1 patches ingested from ``../shared/data``) is
  tiled to ``--n`` rows in a scratch workspace (same bands, grids and dtypes as reBEN: 120 x 120 px at 10 m,
  ``uint16`` S2, ``float32`` S1), so the read volume per patch is the real one (~273 kB). The ``ssl`` encoder is
  trained briefly on the GPU (``gpu_pairs=--train-pairs``; training speed is not what is measured), then
  ``mining.embeddings.embed`` runs end to end: memory-mapped store -> read-ahead threads into pinned host memory
  -> raw ``uint16`` to the GPU -> nodata mask, area resampling and normalisation on the GPU -> bf16
  channels_last CNN -> ``embeddings.parquet``. Baselines measured in the same run: the raw read of the same rows
  (the I/O floor of this machine) and the CPU normalisation the encoders used to do (``stack_bands`` to float32,
  one thread), which caps a CPU-side input pipeline.
* **kNN.** ``--knn-n`` x ``--knn-d`` float32 points (a seeded mixture of 2,000 Gaussian clusters, L2-normalised),
  k=30 cosine: ``mining.knn.exact_knn(device="cuda")`` (fp16 ranking + fp32 re-scoring of 46 candidates) vs the
  plain fp32 ``matmul + topk`` on the same GPU; recall@30 of eomine's graph against the fp32 result.

Timings exclude imports and are the median of ``--runs`` runs after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

K = 30


def tile_workspace(src: Path, dst: Path, n: int) -> None:
    """Scratch workspace with ``n`` rows: the source's catalog and pixel rows repeated."""
    import pandas as pd

    from mining.workspace import Workspace, conform_catalog, write_parquet

    ws = Workspace(src)
    cat = ws.catalog
    cat = cat[cat["pixel_row"] >= 0].sort_values("pixel_row").reset_index(drop=True)
    m = len(cat)
    reps = -(-n // m)
    big = pd.concat([cat] * reps, ignore_index=True).iloc[:n].copy()
    big["patch_id"] = [f"{p}#{i // m}" for i, p in enumerate(big["patch_id"])]
    big["pixel_row"] = np.arange(n, dtype=np.int32)
    shutil.rmtree(dst, ignore_errors=True)
    (dst / "pixels").mkdir(parents=True)
    write_parquet(conform_catalog(big), dst / "catalog.parquet")
    store = json.loads((src / "pixels" / "store.json").read_text())
    for g in store["groups"]:
        a = np.load(src / "pixels" / f"{g['name']}.npy", mmap_mode="r")
        out = np.lib.format.open_memmap(dst / "pixels" / f"{g['name']}.npy", mode="w+", dtype=a.dtype,
                                        shape=(n, *a.shape[1:]))
        block = np.concatenate([np.asarray(a)] * max(1, 4096 // m))
        for s in range(0, n, len(block)):
            out[s:s + len(block)] = block[: n - s]
        out.flush()
        del out
    for f in (src / "pixels").glob("*.filled.npy"):
        a = np.load(f)
        np.save(dst / "pixels" / f.name, np.resize(a, n))
    store["n_rows"] = n
    (dst / "pixels" / "store.json").write_text(json.dumps(store, indent=1))
    if (src / "pixels" / "stats.json").exists():
        shutil.copy(src / "pixels" / "stats.json", dst / "pixels" / "stats.json")
    doc = json.loads((src / "workspace.json").read_text())
    doc["n_patches"] = n
    (dst / "workspace.json").write_text(json.dumps(doc, indent=1))


def bench_embed(ws_path: Path, runs: int, batch_size: int, train_pairs: int) -> list[str]:
    import torch

    from mining.embeddings import _groups_needed, embed, prefetch_rows
    from mining.encoders.ssl import SSLEncoder
    from mining.store import stack_bands
    from mining.workspace import Workspace

    ws = Workspace(ws_path)
    store = ws.store
    n = store.n_rows
    enc = SSLEncoder(gpu_pairs=train_pairs, max_patches=20_000, retrain=True)
    t = time.perf_counter()
    enc.fit(ws, device="cuda", progress=False)
    t_fit = time.perf_counter() - t
    groups = _groups_needed(enc, store)
    spans = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    bytes_per = sum(int(np.prod(store.groups[g].shape)) * np.dtype(store.groups[g].dtype).itemsize for g in groups)

    def read_all():
        t = time.perf_counter()
        for _ in prefetch_rows(store, spans, groups, pinned=False):
            pass
        return time.perf_counter() - t

    read_all()  # page cache warm-up (the store was just written; this makes runs comparable)
    t_read = statistics.median(read_all() for _ in range(runs))

    bands = [b for b in ("B02", "B03", "B04", "B08", "B05", "B06", "B07", "B8A", "B11", "B12")
             if b in store.band_group]
    torch.set_num_threads(1)
    sub = spans[: max(1, 8192 // batch_size)]
    t = time.perf_counter()
    m = 0
    for (b0, b1), batch in zip(sub, prefetch_rows(store, sub, groups), strict=True):
        stack_bands(store, batch, bands, 24)
        m += b1 - b0
    cpu_norm = m / (time.perf_counter() - t)

    embed(ws, enc, device="cuda", fit=False, batch_size=batch_size, progress=False)  # warm-up (cuDNN autotune)
    times = []
    for _ in range(runs):
        torch.cuda.synchronize()
        t = time.perf_counter()
        card = embed(ws, enc, device="cuda", fit=False, batch_size=batch_size, progress=False)
        times.append(time.perf_counter() - t)
    t_emb = statistics.median(times)
    gpu_mem = torch.cuda.max_memory_allocated() / 2**30
    rows = [
        f"Embedding, {n:,} patches (rows of the source workspace repeated) ({bytes_per / 1e3:.0f} kB of raw pixels per "
        f"patch), batch {batch_size}; ssl fit: {t_fit:.1f} s ({enc.train_log_.get('steps')} steps, not measured)",
        f"{'what':<52} {'runs':>4} {'median s':>9} {'patches/s':>10} {'GB/s':>6} {'vs read':>8}  target       result",
        f"{'raw read of the store rows (I/O floor, baseline)':<52} {runs:>4} {t_read:>9.2f} {n / t_read:>10,.0f} "
        f"{n * bytes_per / t_read / 1e9:>6.1f} {'1.00':>8}",
        f"{'CPU normalisation to float32 (stack_bands, 1 thread)':<52} {1:>4} {m / cpu_norm:>9.2f} "
        f"{cpu_norm:>10,.0f} {cpu_norm * bytes_per / 1e9:>6.1f} {'—':>8}",
        f"{'eomine embed, ssl on cuda, end to end (' + '+'.join(groups) + ')':<52} {runs:>4} {t_emb:>9.2f} {n / t_emb:>10,.0f} "
        f"{n * bytes_per / t_emb / 1e9:>6.1f} {t_emb / t_read:>8.2f}  >= 20,000/s  "
        f"{'PASS' if n / t_emb >= 20_000 else 'MISS'}",
        f"(runs {[round(x, 2) for x in times]}; GPU memory peak {gpu_mem:.1f} GiB; card says "
        f"{card['patches_per_s']:,.0f} patches/s; dim {card['dim']})",
    ]
    return rows


def bench_knn(n: int, d: int, runs: int) -> list[str]:
    import torch

    from mining.knn import exact_knn

    g = torch.Generator(device="cuda").manual_seed(0)
    centres = torch.randn(2000, d, device="cuda", generator=g)
    lab = torch.randint(0, 2000, (n,), device="cuda", generator=g)
    X = centres[lab] + 0.6 * torch.randn(n, d, device="cuda", generator=g)
    X = torch.nn.functional.normalize(X, dim=1).cpu().numpy()

    def plain():
        xt = torch.from_numpy(X).cuda()
        ind = torch.empty((n, K + 1), dtype=torch.int64, device="cuda")
        with torch.inference_mode():
            for s in range(0, n, 4096):
                _, ind[s:s + 4096] = (xt[s:s + 4096] @ xt.T).topk(K + 1, dim=1)
        return ind.cpu().numpy()

    exact_knn(X[:20_000], K, device="cuda")
    plain_t, ours_t = [], []
    for _ in range(runs):
        torch.cuda.synchronize()
        t = time.perf_counter()
        ref = plain()
        plain_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        ind, _ = exact_knn(X, K, device="cuda")
        ours_t.append(time.perf_counter() - t)
    q = np.random.default_rng(0).choice(n, 2000, replace=False)
    refq = [set(r[r != i][:K]) for r, i in zip(ref[q], q, strict=True)]
    recall = np.mean([len(refq[j] & set(ind[i])) / K for j, i in enumerate(q)])
    tp, to = statistics.median(plain_t), statistics.median(ours_t)
    return [
        f"Exact kNN on the GPU, {n:,} x {d} float32, k={K}, cosine (host arrays in and out, transfers included)",
        f"{'what':<52} {'runs':>4} {'median s':>9} {'ratio':>6} {'recall@30':>10}  target   result",
        f"{'fp32 matmul + topk (baseline)':<52} {runs:>4} {tp:>9.2f} {'1.00':>6} {'1.000':>10}",
        f"{'eomine exact_knn (fp16 rank, fp32 re-score)':<52} {runs:>4} {to:>9.2f} {to / tp:>6.2f} "
        f"{recall:>10.3f}  <= 5 s   {'PASS' if to <= 5 else 'MISS'}",
        f"(runs: baseline {[round(x, 2) for x in plain_t]}, eomine {[round(x, 2) for x in ours_t]})",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ws", type=Path, required=True, help="source workspace with pixels (tiled to --n rows)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/eomine-gpu-bench"))
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--train-pairs", type=int, default=200_000)
    ap.add_argument("--knn-n", type=int, default=549_488)
    ap.add_argument("--knn-d", type=int, default=512)
    ap.add_argument("--parts", default="embed,knn")
    a = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("bench/gpu.py needs a CUDA GPU (torch.cuda.is_available() is False)")
    t0 = time.perf_counter()
    out = [f"bench/gpu.py  device={torch.cuda.get_device_name()}  torch={torch.__version__}  "
           f"cpus={len(__import__('os').sched_getaffinity(0))}  python={platform.python_version()}"]
    if "embed" in a.parts:
        dst = a.work / "tiled"
        t = time.perf_counter()
        tile_workspace(a.ws, dst, a.n)
        print(f"tiled workspace: {time.perf_counter() - t:.1f} s", flush=True)
        out += [""] + bench_embed(dst, a.runs, a.batch_size, a.train_pairs)
        print("\n".join(out[-7:]), flush=True)
    if "knn" in a.parts:
        out += [""] + bench_knn(a.knn_n, a.knn_d, a.runs)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out += ["", f"peak RSS {rss:,.0f} MiB; wall {time.perf_counter() - t0:.0f} s"]
    print("\n".join(out), flush=True)


if __name__ == "__main__":
    main()
