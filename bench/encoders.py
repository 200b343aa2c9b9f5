"""Encoder quality and CPU throughput on the real data: ``galileo`` against ``spectral`` (and baselines).

Quality (all with cosine distance, exact neighbours):

* EuroSAT MS, the 180 real 13-band patches: leave-one-out 5-NN accuracy (majority of the 5 nearest other
  patches, ties to the nearer) of ``galileo``, the same architecture randomly initialised (seeded), and
  ``spectral``;
* EuroSAT RGB, the 18,900 real JPEGs: 10-NN label agreement (what ``eomine report`` prints) and a linear probe
  with 100 labelled patches per class (logistic regression on standardised embeddings, tested on all the other
  patches; mean and spread over ``--probe-seeds`` draws).

Throughput: ``eomine embed WS --encoder E --device cpu --force`` run as a subprocess on the EuroSAT RGB workspace
(the card's patches/s: end to end, fit included), and ``galileo`` on the real reBEN patches (120 x 120 px, all
S2 bands + S1 VV/VH; 24 patches, 21 paired with S1), as the steady encode rate of the pixel-store batches
(``--reben-repeats`` passes, after one warm-up) and as the CLI's end-to-end figure.

Workspaces are built once under ``.bench/encoders/`` (ingest of the shared data). The machine's load average is
printed with the timings: on a shared machine they are provisional, rerun on a quiet one.

Usage: ``python bench/encoders.py [--skip-rgb] [--skip-quality] [--skip-throughput] [--threads N] [--probe-seeds 5] [--reben-repeats 20]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
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


def embed_all(ws, enc, *, batch: int = 256) -> np.ndarray:
    """Fit ``enc`` on ``ws`` and embed every pixel row in store order (no files written)."""
    from mining.store import read_rows

    enc.fit(ws, device="cpu", progress=False)
    n = ws.store.n_rows
    kw = {"rows": None}
    out = []
    for s in range(0, n, batch):
        b = read_rows(ws.store, s, min(s + batch, n))
        kw["rows"] = (s, min(s + batch, n))
        out.append(enc.encode(b, **kw) if getattr(enc, "uses_rows", False) else enc.encode(b))
    return np.concatenate(out)


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


def knn_agreement(X: np.ndarray, y: np.ndarray, k: int = 10) -> float:
    from mining.knn import exact_knn
    from mining.quality import knn_label_agreement

    ind, _ = exact_knn(X, k, metric="cosine")
    classes = sorted(set(y))
    Y = np.zeros((len(y), len(classes)), bool)
    Y[np.arange(len(y)), [classes.index(v) for v in y]] = True
    return knn_label_agreement(Y, ind, k)


def linear_probe(X: np.ndarray, y: np.ndarray, per_class: int, seeds: int) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    accs = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        train = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)])
        test = np.setdiff1d(np.arange(len(y)), train)
        sc = StandardScaler().fit(X[train])
        clf = LogisticRegression(max_iter=2000, C=1.0).fit(sc.transform(X[train]), y[train])
        accs.append(float((clf.predict(sc.transform(X[test])) == y[test]).mean()))
    return float(np.mean(accs)), float(np.std(accs))


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


def cli_embed(ws_path: Path, encoder: str, threads: int | None) -> tuple[float, str]:
    """patches/s reported by ``eomine embed --force`` (subprocess), and its device line."""
    cmd = [sys.executable, "-m", "eomine.cli", "embed", str(ws_path), "--encoder", encoder, "--device", "cpu",
           "--force"]
    if threads and encoder in ("galileo", "ssl"):
        cmd += ["--param", f"threads={threads}"]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}")
    m = re.search(r"([\d,.]+) patches/s", res.stdout)
    card = json.loads((ws_path / "embeddings.json").read_text())
    return (float(m.group(1).replace(",", "")) if m else float("nan")), f"{card.get('seconds')} s"


def main() -> None:
    from mining.encoders import make_encoder

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-rgb", action="store_true", help="only EuroSAT MS and reBEN")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-quality", action="store_true", help="only the throughput")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: auto, the free cores)")
    ap.add_argument("--probe-seeds", type=int, default=5)
    ap.add_argument("--reben-repeats", type=int, default=20)
    args = ap.parse_args()
    data = shared()
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores", flush=True)
    gal = {"threads": args.threads}
    rows = []

    # ---------------------------------------------------------------- EuroSAT MS 180: LOO 5-NN
    ms = workspace("eurosat-ms", "eurosat", data / "eurosat-ms")
    y = labels_by_row(ms)
    for label, enc in () if args.skip_quality else (("galileo", make_encoder("galileo", **gal)),
                       ("galileo, random init", None),
                       ("spectral", make_encoder("spectral"))):
        if enc is None:
            enc = make_encoder("galileo", **gal)
            enc.fit(ms, device="cpu", progress=False)
            random_init(enc)
            X = embed_all_fitted(ms, enc)
        else:
            X = embed_all(ms, enc)
        rows.append(("EuroSAT MS 180", label, "LOO 5-NN accuracy", f"{loo_knn_accuracy(X, y):.3f}"))
        print("  ", *rows[-1], flush=True)

    # ---------------------------------------------------------------- EuroSAT RGB 18,900
    if not args.skip_rgb:
        rgb = workspace("eurosat-rgb", "eurosat-rgb", data / "eurosat-rgb")
        y = labels_by_row(rgb)
        for label in () if args.skip_quality else ("galileo", "spectral"):
            t0 = time.perf_counter()
            X = embed_all(rgb, make_encoder(label, **(gal if label == "galileo" else {})))
            secs = time.perf_counter() - t0
            agree = knn_agreement(X, y, 10)
            acc, sd = linear_probe(X, y, 100, args.probe_seeds)
            rows.append(("EuroSAT RGB 18,900", label, "10-NN label agreement", f"{agree:.3f}"))
            print("  ", *rows[-1], f"(embedded in {secs:.0f} s)", flush=True)
            rows.append(("EuroSAT RGB 18,900", label, f"linear probe, 100/class ({args.probe_seeds} draws)",
                         f"{acc:.3f} ± {sd:.3f}"))
            print("  ", *rows[-1], flush=True)

    # ---------------------------------------------------------------- throughput
    if not args.skip_throughput:
        if not args.skip_rgb:
            for enc in ("galileo", "spectral"):
                rate, secs = cli_embed(OUT / "eurosat-rgb", enc, args.threads)
                rows.append(("EuroSAT RGB 18,900", enc, "eomine embed --device cpu, patches/s (end to end)",
                             f"{rate:,.0f} ({secs}, load {os.getloadavg()[0]:.1f})"))
                print("  ", *rows[-1], flush=True)
        reben = workspace("reben", "reben", data / "bigearthnet-v2-reben")
        enc = make_encoder("galileo", **gal)
        enc.fit(reben, device="cpu", progress=False)
        from mining.store import read_rows

        n = reben.store.n_rows
        batch = read_rows(reben.store, 0, n)
        enc.encode(batch, rows=(0, n))  # warm-up
        t0 = time.perf_counter()
        for _ in range(args.reben_repeats):
            enc.encode(batch, rows=(0, n))
        rate = args.reben_repeats * n / (time.perf_counter() - t0)
        s1 = int(reben.catalog["has_s1"].sum())
        rows.append((f"reBEN {n} (120 px, {s1} with S1)", "galileo",
                     f"encode patches/s ({len(enc.groups_)} groups, patch {enc.patch_size_}, "
                     f"{enc.tokens_}x{enc.tokens_} tokens, {enc._threads} threads)",
                     f"{rate:,.1f} (load {os.getloadavg()[0]:.1f})"))
        print("  ", *rows[-1], flush=True)
        rate, secs = cli_embed(reben.path, "galileo", args.threads)
        rows.append((f"reBEN {n}", "galileo", "eomine embed --device cpu, patches/s (end to end)",
                     f"{rate:,.1f} ({secs})"))
        print("  ", *rows[-1], flush=True)

    print(f"\nload average at end: {os.getloadavg()[0]:.2f}\n")
    print("| data | encoder | measure | value |\n| --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def embed_all_fitted(ws, enc, *, batch: int = 256) -> np.ndarray:
    """Embed every pixel row with an already fitted encoder."""
    from mining.store import read_rows

    n = ws.store.n_rows
    return np.concatenate([enc.encode(read_rows(ws.store, s, min(s + batch, n)), rows=(s, min(s + batch, n)))
                           for s in range(0, n, batch)])


if __name__ == "__main__":
    main()
