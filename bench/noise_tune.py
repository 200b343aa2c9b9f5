"""Tuning draws for the scorer on EuroSAT RGB (galileo): cache out-of-fold probabilities of noise draws that the
reported table never uses, then compare NoiseScorer settings against cleanlab on them (ΔAP per setting).

Usage: python bench/noise_tune.py [--first-seed 700] [--seeds 2] [--set outlier_weight=0.1 ...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import BENCH_DIR  # noqa: E402
from bench.noise import RATES, cleanlab_scores, dataset_eurosat_rgb, inject_single, metrics  # noqa: E402

CACHE = BENCH_DIR / "noise-tune"


def draws(X, Y, first_seed: int, seeds: int):
    """(kind, rate, seed, noisy Y, corrupted mask, out-of-fold P), P cached on disk."""
    from mining._internal.noise_model import oof_probabilities

    CACHE.mkdir(exist_ok=True)
    for kind, (i, rate), s in itertools.product(("symmetric", "class-dependent"), enumerate(RATES), range(seeds)):
        seed = first_seed + 1000 * s + i
        Yn, bad = inject_single(Y, rate, kind, seed=seed, X=X)
        f = CACHE / f"{kind}-{seed}.npy"
        if not f.is_file():
            np.save(f, oof_probabilities(X, Yn, seed=s))
        yield kind, rate, seed, Yn, bad, np.load(f)


def main() -> None:
    from mining.noise import NoiseScorer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--first-seed", type=int, default=700)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], help="a setting: NAME=VALUE[,NAME=VALUE] (JSON values)")
    opts = ap.parse_args()
    _, X, Y, ind, dist = dataset_eurosat_rgb(BENCH_DIR)
    settings = [{}] + [{k: json.loads(v) for k, v in (kv.split("=") for kv in s.split(","))} for s in opts.set]
    res: dict = {}
    for kind, rate, _seed, Yn, bad, P in draws(X, Y, opts.first_seed, opts.seeds):
        cl = metrics(cleanlab_scores(Yn, P, True)[0], bad, np.zeros(len(bad), bool))["ap"]
        for i, st in enumerate(settings):
            sc = NoiseScorer(seed=0, **st).fit(None, Yn, ind, dist, proba=P)
            ap_e = metrics(sc.scores_.astype(np.float64), bad, sc.flagged_)["ap"]
            res.setdefault((i, kind, rate), []).append(ap_e - cl)
    print("| setting | " + " | ".join(f"{k} {r:.0%}" for k in ("symmetric", "class-dependent") for r in RATES) + " |")
    for i, st in enumerate(settings):
        cells = [f"{np.mean(res[(i, k, r)]):+.3f}" for k in ("symmetric", "class-dependent") for r in RATES]
        print(f"| {st or 'defaults'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
