"""Geographic vs random splits on the REAL reBEN metadata (549,488 patches), against reBEN's official split.

For each split of the same patches (``.bench/reben549k``: the metadata-only ingest of the official files, footprints
from the tile grid, labels and split as published): the share of each split, the largest deviation of a split's
class distribution from the whole (percentage points of patches having the class), and the leakage of test into
train as ``eomine audit`` measures it (share of test patches within 1 and 3 patch widths of a training patch,
median distance to the nearest one). ``eomine split`` methods: ``geographic`` (the default blocks, blocks of 8
patch widths, a buffer of 3 widths) and ``random``; seconds are the median of ``--runs`` fits. Prints a table; ``--json`` writes the numbers.

Usage: python bench/split.py [--runs 3] [--json .bench/split.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import BENCH_DIR  # noqa: E402


def main() -> None:
    import numpy as np
    import pyarrow.parquet as pq

    from mining.audit import spatial_leakage
    from mining.quality import label_matrix
    from mining.splits import SpatialSplitter, class_deviation, patch_widths_km
    from mining.workspace import Workspace

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", type=Path, default=BENCH_DIR / "reben549k")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    opts = ap.parse_args()
    if not opts.workspace.exists():
        sys.exit(f"{opts.workspace} missing: run python bench/make_reben_workspace.py --no-project")
    ws = Workspace(opts.workspace)
    cat = ws.catalog
    Y = label_matrix(pq.read_table(ws.catalog_path, columns=["labels"]).column(0), ws.nomenclature.classes)
    lon, lat = cat["lon"].to_numpy(float), cat["lat"].to_numpy(float)
    widths = patch_widths_km(cat)
    width = float(np.nanmedian(widths))
    names = ("train", "validation", "test")
    rows = []

    def measure(name, split, seconds, extra=""):
        dev = class_deviation(Y, split, names)
        leak = spatial_leakage(lon, lat, split, width_km=width, pairs=(("train", "test"),)).iloc[0]
        rows.append({"split": name, "shares": [round(float(x), 4) for x in dev["share"]],
                     "max_class_deviation_pp": round(100 * float(dev["max_deviation"].max()), 2),
                     "test_within_1w": float(leak["within_1w"]), "test_within_3w": float(leak["within_3w"]),
                     "median_km": float(leak["median_km"]), "seconds": seconds, "note": extra})

    measure("reBEN official", cat["split"].to_numpy(object), None)
    for label, params in (("geographic (default)", {}),
                          ("geographic, blocks of 8 widths", {"block_widths": 8.0}),
                          ("geographic, default, buffer 3", {"buffer_widths": 3.0}),
                          ("random", {"method": "random"})):
        times = []
        for _ in range(opts.runs):
            t0 = time.perf_counter()
            sp = SpatialSplitter(ratios=(0.5, 0.25, 0.25), **params).fit(lon, lat, Y, widths_km=widths)
            times.append(time.perf_counter() - t0)
        extra = (f"{sp.n_blocks_:,} blocks of {sp.block_widths_:g} widths, {int(sp.buffer_.sum()):,} test patches "
                 f"moved to validation" if sp.n_blocks_ else "")
        measure(label, sp.split_, statistics.median(times), extra)
    print(f"\nbench/split.py  {len(cat):,} reBEN patches (real metadata), patch width {width * 1000:,.0f} m, "
          f"ratios 0.5/0.25/0.25; seconds: median of {opts.runs} fits on this machine")
    print(f"{'split':<32} {'train/val/test':>20} {'max class dev.':>15} {'test<1w':>8} {'test<3w':>8} "
          f"{'median km':>10} {'seconds':>8}  note")
    for r in rows:
        sh = "/".join(f"{100 * x:.1f}" for x in r["shares"])
        sec = "-" if r["seconds"] is None else f"{r['seconds']:.1f}"
        print(f"{r['split']:<32} {sh:>20} {r['max_class_deviation_pp']:>12.2f} pp {r['test_within_1w']:>8.1%} "
              f"{r['test_within_3w']:>8.1%} {r['median_km']:>10.2f} {sec:>8}  {r['note']}")
    print("test<kw: share of test patches whose centre is within k x width x sqrt(2) of a training patch's")
    if opts.json:
        opts.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
