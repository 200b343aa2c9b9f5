"""Split leakage of the REAL official splits: reBEN's (2025) against BigEarthNet v1's (2019), on the same patches.

reBEN's metadata (549,488 patches, ``.bench/reben549k``: the metadata-only ingest of the official files, with
footprints from the tile grid) gives every patch its reBEN split and its BigEarthNet v1 name (``s2v1_name``,
derived from the patch id as ``eomine export --format reben`` does); v1's official split lists
(``../shared/data/bigearthnet-v1/metadata/{train,val,test}.csv.bz2``) give the v1 split of those names. Both
splits are audited on the patches that have both (``mining.audit``: share of audited patches within 1 and 3
patch widths of a reference patch, median ground distance to the nearest one; the embedding part is left out:
this workspace's embeddings are generated from the labels). Prints a table; ``--json`` writes the numbers.

Usage: python bench/audit.py [--json .bench/audit.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import BENCH_DIR  # noqa: E402


def main() -> None:
    import numpy as np
    import pandas as pd

    from mining.audit import spatial_leakage
    from mining.export import _S2V1
    from mining.resources import shared_data_dir
    from mining.workspace import Workspace

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", type=Path, default=BENCH_DIR / "reben549k")
    ap.add_argument("--json", type=Path, default=None)
    opts = ap.parse_args()
    shared = shared_data_dir()
    if shared is None:
        sys.exit("bench/audit.py needs the real data in ../shared/data")
    if not opts.workspace.exists():
        sys.exit(f"{opts.workspace} missing: run python bench/make_reben_workspace.py --no-project")
    t0 = time.perf_counter()
    cat = Workspace(opts.workspace).catalog
    v1 = shared / "bigearthnet-v1" / "metadata"
    names = {}
    for f, s in (("train", "train"), ("val", "validation"), ("test", "test")):
        for n in pd.read_csv(v1 / f"{f}.csv.bz2", header=None)[0].astype(str):
            names[n] = s
    m = cat["patch_id"].str.extract(_S2V1)
    s2v1 = (m[0] + "_" + m[1]).where(m[0].notna(), None)
    v1_split = s2v1.map(names).to_numpy(object)
    both = np.array([isinstance(x, str) for x in v1_split]) & cat["split"].notna().to_numpy()
    c = cat[both]
    width_km = float(np.median((c["x_max"] - c["x_min"]).to_numpy(float))) / 1000
    out = {}
    for name, split in (("reBEN (2025)", c["split"].to_numpy(object)), ("BigEarthNet v1 (2019)", v1_split[both])):
        out[name] = spatial_leakage(c["lon"].to_numpy(float), c["lat"].to_numpy(float), split, width_km=width_km)
    dt = time.perf_counter() - t0
    print(f"\nbench/audit.py  {len(cat):,} reBEN patches, {int(both.sum()):,} with a BigEarthNet v1 split "
          f"(v1 lists: {len(names):,} names); patch width {width_km * 1000:,.0f} m; {dt:.1f} s")
    print(f"{'split':<22} {'reference -> audited':<24} {'patches':>9} {'same place':>10} {'within 1 w':>10} "
          f"{'within 3 w':>10} {'median km':>10} {'p10 km':>8}")
    for name, df in out.items():
        for r in df.itertuples():
            print(f"{name:<22} {r.reference + ' -> ' + r.audited:<24} {r.n:>9,} {r.same_place:>10.1%} {r.within_1w:>10.1%} "
                  f"{r.within_3w:>10.1%} {r.median_km:>10.2f} {r.p10_km:>8.2f}")
    print("within k w: the patch's centre is at most k x width x sqrt(2) from a patch of the reference split "
          "(k = 1: one of the 8 touching patches)")
    if opts.json:
        opts.json.write_text(json.dumps({k: v.to_dict(orient="records") for k, v in out.items()}, indent=1))


if __name__ == "__main__":
    main()
