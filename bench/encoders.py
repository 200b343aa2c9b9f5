"""Encoder quality and CPU throughput on the real data: ``random``, ``spectral``, ``ssl`` and ``galileo``.

The report (one table, rows data set x encoder) on EuroSAT RGB (18,900 real JPEGs), EuroSAT MS (180 real
13-band GeoTIFFs), the real reBEN sample (24 patches, 120 x 120 px, S2 + S1) and the demo (6,000 generated
patches, ``eomine demo --n 6000 --seed 0 --noise-rate 0``: clean labels):

* 10-NN label agreement: ``eomine report``'s measure (mean Jaccard of the label sets, = the fraction of same-label
  neighbours for single-label data) on the exact cosine kNN graph of the embeddings;
* linear probes: logistic regression on standardised embeddings, trained on 10 / 100 labelled patches per class
  and tested on all the others (mean ± sd over ``--probe-seeds`` draws), and with every label (5-fold stratified
  cross-validation); multi-label data (reBEN, demo) use each patch's first listed label;
* 2-D trustworthiness (k = 10, euclidean, as ``eomine report``) of eomine's UMAP layout (``Projection`` fed the
  k = 15 cosine graph) against the embeddings, on at most 5,000 random patches (sklearn's measure is O(n²) in
  memory);
* patches/s and peak RSS: ``eomine embed WS --encoder E --device cpu --force`` as a subprocess (the figure the
  CLI prints: end to end, the encoder's fit, ssl's training included), and that child's own peak RSS
  (``os.wait4``). ``ssl`` gets ``retrain=true`` so it trains every time.

The embeddings the timed runs write are kept (``.bench/encoders/emb/``) and the quality pass reads them, so each
encoder embeds each data set once. Also kept from the first version: leave-one-out 5-NN accuracy on EuroSAT MS
(with the Galileo architecture randomly initialised as an extra row) and galileo's steady encode rate on the
reBEN batches.

Run the timed part alone (``--skip-quality``, a short quiet window on a shared machine), then
``--skip-throughput``: the table merges the two (``.bench/encoders/throughput.json``, ``report.json``).

Usage: ``python bench/encoders.py [--skip-quality] [--skip-throughput] [--only eurosat-rgb,eurosat-ms,reben,demo]
[--encoders random,spectral,ssl,galileo] [--threads N] [--probe-seeds 5] [--reben-repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
from common import BENCH_DIR, ROOT

OUT = BENCH_DIR / "encoders"


def shared() -> Path:
    from mining.resources import shared_data_dir

    s = shared_data_dir()
    if s is None:
        raise SystemExit("this bench needs the real data in ../shared/data (or EOMINE_SHARED_DATA)")
    return s


def workspace(name: str, fmt: str, src: Path):
    from mining.datasets import FORMATS
    from mining.ingest import ingest
    from mining.workspace import Workspace

    path = OUT / name
    if not (path / "workspace.json").is_file():
        t0 = time.perf_counter()
        ingest(FORMATS[fmt](src), path, progress=False, overwrite=True)
        print(f"  ingested {name} in {time.perf_counter() - t0:.1f} s", flush=True)
    return Workspace(path)


def labels_by_row(ws) -> np.ndarray:
    cat = ws.catalog
    order = np.argsort(cat["pixel_row"].to_numpy())
    return np.array([labs[0] for labs in cat["labels"].to_numpy()[order]])


def loo_knn_accuracy(X: np.ndarray, y: np.ndarray, k: int = 5) -> float:
    from mining.knn import exact_knn

    ind, _ = exact_knn(X, k, metric="cosine")
    correct = 0
    for i, row in enumerate(ind):
        votes: dict[str, float] = {}
        for r, j in enumerate(row):
            votes[y[j]] = votes.get(y[j], 0) + 1 + 1e-3 * (k - r)  # ties go to the nearer neighbours
        correct += max(votes, key=votes.get) == y[i]
    return correct / len(y)


def random_init(enc, seed: int = 0):
    """Re-initialise ``enc.net_`` in place (seeded): the architecture without its pre-training."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in enc.net_.named_parameters():
            if name.endswith("bias") or "norm" in name or name == "pos_embed" or "channel_embed" in name:
                continue  # biases / LayerNorm as initialised; fixed sinusoid codes kept
            if p.dim() >= 2:
                bound = (6 / (p.shape[0] + p[0].numel())) ** 0.5  # Xavier-uniform
                p.copy_(torch.rand(p.shape, generator=g) * 2 * bound - bound)
        for name, p in enc.net_.named_parameters():
            if name.endswith("bias") or "channel_embed" in name:
                p.zero_()
            elif "norm" in name and name.endswith("weight"):
                p.fill_(1.0)
        enc._kernels = enc.net_.kernels(enc.patch_size_)
    return enc


DATASETS = {  # key -> (table name, ingest format, source folder under the shared data; None: generated)
    "eurosat-rgb": ("EuroSAT RGB 18,900", "eurosat-rgb", "eurosat-rgb"),
    "eurosat-ms": ("EuroSAT MS 180", "eurosat", "eurosat-ms"),
    "reben": ("reBEN sample 24", "reben", "bigearthnet-v2-reben"),
    "demo": ("demo 6,000", None, None),
}
ENCODER_NAMES = ("random", "spectral", "ssl", "galileo")


def dataset_workspace(key: str, data: Path):
    """The bench's workspace of data set ``key`` (ingested once under ``.bench/encoders/``)."""
    _, fmt, src = DATASETS[key]
    if fmt is not None:
        return workspace(key, fmt, data / src)
    from mining.datasets.demo import DemoDataset
    from mining.ingest import ingest
    from mining.workspace import Workspace

    path = OUT / key
    if not (path / "workspace.json").is_file():
        t0 = time.perf_counter()
        ingest(DemoDataset(n=6000, seed=0, noise_rate=0), path, overwrite=True, progress=False)
        print(f"  generated the demo in {time.perf_counter() - t0:.1f} s", flush=True)
    return Workspace(path)


def cli_embed(ws_path: Path, encoder: str, threads: int | None) -> dict:
    """``eomine embed --force`` as a subprocess: the patches/s it prints, its wall time and peak RSS, its card."""
    from encoder_metrics import run_measured

    cmd = [sys.executable, "-m", "eomine.cli", "embed", str(ws_path), "--encoder", encoder, "--device", "cpu",
           "--force"]
    if threads and encoder in ("galileo", "ssl"):
        cmd += ["--param", f"threads={threads}"]
    if encoder == "ssl":
        cmd += ["--param", "retrain=true"]  # train every time (it would reuse WS/encoders/ssl-<key>.pt)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    load = os.getloadavg()[0]
    rc, out, err, wall, rss = run_measured(cmd, cwd=ROOT, env=env)
    if rc != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out}\n{err}")
    m = re.search(r"([\d,.]+) patches/s", out)
    card = json.loads((ws_path / "embeddings.json").read_text())
    rate = card.get("patches_per_s") or (float(m.group(1).replace(",", "")) if m else float("nan"))
    return {"patches_per_s": rate, "n": card.get("n"), "wall_s": wall,
            "card_seconds": card.get("seconds"), "peak_rss_mib": rss, "load_before": load,
            "threads": card.get("threads") or (card.get("training") or {}).get("threads")
            or (card.get("params") or {}).get("threads"), "dim": card.get("dim")}


def save_embeddings(ws, key: str, encoder: str) -> None:
    from mining.embeddings import load_embeddings

    ids, X = load_embeddings(ws)
    (OUT / "emb").mkdir(exist_ok=True)
    np.save(OUT / "emb" / f"{key}-{encoder}.npy", X)
    np.save(OUT / "emb" / f"{key}-{encoder}.ids.npy", np.asarray(ids, dtype=str))


def saved_embeddings(ws, key: str, encoder: str, threads: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The embeddings of the timed run (embedded now, untimed, when there was none)."""
    f = OUT / "emb" / f"{key}-{encoder}.npy"
    if not f.is_file():
        cli_embed(ws.path, encoder, threads)
        save_embeddings(ws, key, encoder)
    return np.load(f), np.load(f.with_suffix(".ids.npy"))


def throughput(keys, encoders, data: Path, args) -> dict:
    """The timed part: every (data set, encoder) through the CLI; galileo's steady reBEN encode rate."""
    res: dict = {"load_start": os.getloadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "runs": {}}
    for key in keys:
        ws = dataset_workspace(key, data)
        for enc in encoders:
            r = cli_embed(ws.path, enc, args.threads)
            save_embeddings(ws, key, enc)
            res["runs"][f"{key}/{enc}"] = r
            print(f"  {key:<12} {enc:<9} {r['patches_per_s']:>9,.1f} patches/s  {r['peak_rss_mib']:6.0f} MiB  "
                  f"wall {r['wall_s']:.1f} s  threads {r['threads']}  load {r['load_before']:.1f}", flush=True)
    if "reben" in keys and "galileo" in encoders and args.reben_repeats > 0:
        from mining.encoders import make_encoder
        from mining.store import read_rows

        reben = dataset_workspace("reben", data)
        enc = make_encoder("galileo", threads=args.threads)
        enc.fit(reben, device="cpu", progress=False)
        n = reben.store.n_rows
        batch = read_rows(reben.store, 0, n)
        enc.encode(batch, rows=(0, n))  # warm-up
        t0 = time.perf_counter()
        for _ in range(args.reben_repeats):
            enc.encode(batch, rows=(0, n))
        rate = args.reben_repeats * n / (time.perf_counter() - t0)
        res["reben_encode"] = {"patches_per_s": rate, "groups": len(enc.groups_), "patch": enc.patch_size_,
                               "tokens": enc.tokens_, "threads": enc._threads, "repeats": args.reben_repeats,
                               "s1": int(reben.catalog["has_s1"].sum()), "load": os.getloadavg()[0]}
        print(f"  reben galileo steady encode {rate:.2f} patches/s ({enc._threads} threads)", flush=True)
    res["load_end"] = os.getloadavg()
    res["ended"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return res


def quality(keys, encoders, data: Path, args) -> dict:
    """The untimed part: agreement, probes and trustworthiness of each (data set, encoder)."""
    from encoder_metrics import (
        agreement,
        knn_graph,
        labels_for,
        probe_all,
        probe_per_class,
        trustworthiness_2d,
    )

    out: dict = {}
    for key in keys:
        ws = dataset_workspace(key, data)
        for enc in encoders:
            t0 = time.perf_counter()
            X, ids = saved_embeddings(ws, key, enc, args.threads)
            Y, y = labels_for(ws, ids)
            ind, dist = knn_graph(X, 15)
            r = {"n": len(X), "dim": int(X.shape[1]), "agreement": agreement(Y, ind, 10)}
            for per in (10, 100):
                r[f"probe_{per}"] = probe_per_class(X, y, per, args.probe_seeds)
            r["probe_all"] = probe_all(X, y)
            r["trust"] = trustworthiness_2d(X, ind, dist, sample=5000)
            if key == "eurosat-ms":
                r["loo5"] = loo_knn_accuracy(X, y)
            r["seconds"] = time.perf_counter() - t0
            out[f"{key}/{enc}"] = r
            print(f"  {key:<12} {enc:<9} agreement {r['agreement']:.3f}  probe all {r['probe_all'][0]:.3f}  "
                  f"trust {r['trust'][0]:.3f}  ({r['seconds']:.0f} s)", flush=True)
    if "eurosat-ms" in keys:
        from mining.encoders import make_encoder

        ms = dataset_workspace("eurosat-ms", data)
        enc = make_encoder("galileo", threads=args.threads)
        enc.fit(ms, device="cpu", progress=False)
        random_init(enc)
        X = embed_all_fitted(ms, enc)
        out["eurosat-ms/galileo, random init"] = {"loo5": loo_knn_accuracy(X, labels_by_row(ms))}
    return out


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, tuple | list):
        return f"{v[0]:.3f} ± {v[1]:.3f}" + (f" ({v[2]})" if len(v) > 2 and v[2] else "")
    return f"{v:.3f}"


def table(q: dict, t: dict) -> str:
    lines = ["| data set | encoder | 10-NN agreement | probe 10/class | probe 100/class | probe all (5-fold) "
             "| trustworthiness (2-D) | patches/s | peak RSS MiB |", "|" + " --- |" * 9]
    for key, (name, *_) in DATASETS.items():
        for enc in ENCODER_NAMES:
            r, s = q.get(f"{key}/{enc}"), t.get("runs", {}).get(f"{key}/{enc}")
            if r is None and s is None:
                continue
            cells = ["", "", "", "", ""] if r is None else [
                _fmt(r["agreement"]), _fmt(r["probe_10"]), _fmt(r["probe_100"]), _fmt(r["probe_all"][:2]),
                f"{r['trust'][0]:.3f}" + (f" (n {r['trust'][1]:,})" if r["trust"][1] < r["n"] else "")]
            if s is not None and s.get("card_seconds"):  # the card's n / seconds: the CLI rounds small rates
                s = dict(s, patches_per_s=(s.get("n") or (r or {}).get("n")) / s["card_seconds"])
            speed = ["", ""] if s is None else [f"{s['patches_per_s']:,.0f}" if s["patches_per_s"] >= 100
                                               else f"{s['patches_per_s']:,.1f}", f"{s['peak_rss_mib']:,.0f}"]
            lines.append(f"| {name} | {enc} | " + " | ".join(cells + speed) + " |")
    loo = {k.split("/", 1)[1]: v["loo5"] for k, v in q.items() if k.startswith("eurosat-ms/") and "loo5" in v}
    if loo:
        lines += ["", "EuroSAT MS 180, leave-one-out 5-NN accuracy: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in loo.items())]
    if t.get("reben_encode"):
        e = t["reben_encode"]
        lines += ["", f"reBEN sample ({e['s1']} of 24 with S1), galileo steady encode rate: "
                  f"{e['patches_per_s']:.2f} patches/s ({e['groups']} groups, patch {e['patch']}, "
                  f"{e['tokens']}x{e['tokens']} tokens, {e['threads']} threads, {e['repeats']} passes, "
                  f"load {e['load']:.1f})"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(DATASETS), help="data sets, comma-separated")
    ap.add_argument("--encoders", default=",".join(ENCODER_NAMES))
    ap.add_argument("--skip-throughput", action="store_true", help="only quality (reads the last timed run)")
    ap.add_argument("--skip-quality", action="store_true", help="only the timed part")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: auto, the free cores)")
    ap.add_argument("--probe-seeds", type=int, default=5)
    ap.add_argument("--reben-repeats", type=int, default=3)
    args = ap.parse_args()
    keys = [k for k in DATASETS if k in args.only.split(",")]
    encoders = [e for e in ENCODER_NAMES if e in args.encoders.split(",")]
    data = shared()
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores", flush=True)
    tfile = OUT / "throughput.json"
    if not args.skip_throughput:
        t = throughput(keys, encoders, data, args)
        tfile.write_text(json.dumps(t, indent=1))
    else:
        t = json.loads(tfile.read_text()) if tfile.is_file() else {}
    q = {} if args.skip_quality else quality(keys, encoders, data, args)
    rep = OUT / "report.json"
    if q:
        rep.write_text(json.dumps({"quality": q, "throughput": t, "ended": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                                   "load_end": os.getloadavg()}, indent=1, default=str))
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}\n")
    print(table(q, t))


def embed_all_fitted(ws, enc, *, batch: int = 256) -> np.ndarray:
    """Embed every pixel row with an already fitted encoder."""
    from mining.store import read_rows

    n = ws.store.n_rows
    return np.concatenate([enc.encode(read_rows(ws.store, s, min(s + batch, n)), rows=(s, min(s + batch, n)))
                           for s in range(0, n, batch)])


if __name__ == "__main__":
    main()
