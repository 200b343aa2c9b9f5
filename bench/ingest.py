"""Ingest throughput: GeoTIFF and LMDB sources (patches/s) and the metadata-only ingest of 549,488 patches.

Each measurement runs in a fresh subprocess (so its peak RSS is its own); the table shows the median of
``--runs`` runs and the ratio to a baseline measured in the same run:

* GeoTIFF / LMDB: the raw read floor (rasterio / lmdb+safetensors reading the same bands, no packing);
* metadata-only: ``pandas.read_parquet`` of the two official metadata files (the unavoidable part).

The pixel sources are the real reBEN sample patches, replicated under new grid positions (hard links /
copied LMDB values) so the loop runs long enough to time; the page cache is warm, as in a re-ingest.

Scene: a synthetic full-size Sentinel-2 tile (10,980 x 10,980 px at 10 m; the 20 m and 60 m bands and SCL at
their own resolutions; tiled, deflate-compressed COGs-like GeoTIFFs with smooth generated content) cut into
8,281 patches of 1,200 m by ``--format scene``; baseline: rasterio reading every band file whole, once.

Usage: python bench/ingest.py [--runs 3] [--copies 20] [--only geotiff,lmdb,metadata,scene]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mining.resources import shared_data_dir  # noqa: E402

WORK = ROOT / ".bench" / "ingest"


def build_inputs(shared: Path, copies: int) -> dict:
    """Replicate the 24 reBEN sample patches ``copies`` times as GeoTIFF tree + LMDB + small metadata."""
    import lmdb
    import pandas as pd

    reben = shared / "bigearthnet-v2-reben"
    tree = WORK / f"reben_x{copies}"
    meta_path = tree / "metadata.parquet"
    lmdb_dir = WORK / f"lmdb_x{copies}"
    if meta_path.is_file() and (lmdb_dir / "data.mdb").is_file():
        env = lmdb.open(str(lmdb_dir), readonly=True, lock=False)
        return {"tree": tree, "meta": meta_path, "lmdb": lmdb_dir, "n": len(pd.read_parquet(meta_path)),
                "n_lmdb": env.stat()["entries"]}
    shutil.rmtree(tree, ignore_errors=True)
    shutil.rmtree(lmdb_dir, ignore_errors=True)
    md = pd.read_parquet(reben / "metadata.parquet")
    src_dirs = {p.name: p for p in (reben / "BigEarthNet-S2").glob("*/*")}
    md = md[md["patch_id"].isin(src_dirs)].reset_index(drop=True)
    rows = []
    env_src = lmdb.open(str(reben / "lmdb" / "BigEarthNet-V2-LMDB"), readonly=True, lock=False)
    lmdb_dir.mkdir(parents=True)
    env = lmdb.open(str(lmdb_dir), map_size=2 << 30)
    with env_src.begin() as src_tx, env.begin(write=True) as tx:
        for k in range(copies):
            for r in md.itertuples():
                base, col, row = r.patch_id.rsplit("_", 2)
                pid = f"{base}_{col}_{int(row) + 100 * (k + 1)}"  # distinct, grid-consistent id
                d = tree / "BigEarthNet-S2" / src_dirs[r.patch_id].parent.name / pid
                d.mkdir(parents=True)
                for f in src_dirs[r.patch_id].glob("*.tif"):
                    os.link(f, d / f.name.replace(r.patch_id, pid))
                s1base, s1col, s1row = r.s1_name.rsplit("_", 2)
                rows.append({**r._asdict(), "patch_id": pid, "s1_name": f"{s1base}_{s1col}_{int(s1row) + 100 * (k + 1)}"})
                value = src_tx.get(r.patch_id.encode())
                if value is not None:
                    tx.put(pid.encode(), value)
    env.close()
    out = pd.DataFrame(rows).drop(columns=["Index"])
    out.to_parquet(meta_path)
    return build_inputs(shared, copies)


SNIPPETS = {
    "geotiff_ingest": """
        from mining.datasets import ReBEN; from mining.ingest import ingest
        ingest(ReBEN(A['tree'], metadata=[A['meta']]), A['out'], overwrite=True, progress=False)
    """,
    "geotiff_floor": """
        import rasterio, pandas as pd
        from pathlib import Path
        md = pd.read_parquet(A['meta'])
        dirs = {p.name: p for p in Path(A['tree']).glob('BigEarthNet-S2/*/*')}
        for pid in md['patch_id']:
            for f in dirs[pid].glob('*.tif'):
                with rasterio.open(f) as s: s.read()
    """,
    "lmdb_ingest": """
        from mining.datasets import ReBENLMDB; from mining.ingest import ingest
        ingest(ReBENLMDB(A['lmdb'], metadata=[A['meta']]), A['out'], overwrite=True, progress=False)
    """,
    "lmdb_floor": """
        import lmdb, pandas as pd
        from safetensors.numpy import load
        md = pd.read_parquet(A['meta'])
        env = lmdb.open(A['lmdb'], readonly=True, lock=False)
        with env.begin() as tx:
            for pid in md['patch_id']:
                v = tx.get(pid.encode())
                if v is not None:
                    load(v)
    """,
    "metadata_only_ingest": """
        from mining.datasets import ReBEN; from mining.ingest import ingest
        ingest(ReBEN(A['reben'], metadata_only=True), A['out'], overwrite=True, progress=False)
    """,
    "scene_ingest": """
        from mining.datasets import SceneDataset; from mining.ingest import ingest
        ingest(SceneDataset(A['scene']), A['out'], overwrite=True, progress=False)
    """,
    "scene_floor": """
        import rasterio
        from pathlib import Path
        for f in sorted(Path(A['scene']).glob('*.tif')):
            with rasterio.open(f) as s: s.read()
    """,
    "metadata_floor": """
        import pandas as pd
        for f in ('metadata.parquet', 'metadata_for_patches_with_snow_cloud_or_shadow.parquet'):
            pd.read_parquet(A['reben'] + '/' + f)
    """,
}


def build_scene(folder: Path) -> Path:
    """A synthetic full-size tile: one tiled, deflate GeoTIFF per band at its native resolution, plus SCL
    (generated once; smooth fields so the files compress like real ones, ~3 minutes on 2 cores)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    if (folder / "done").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    bands = {"B02": 10, "B03": 10, "B04": 10, "B08": 10, "B05": 20, "B06": 20, "B07": 20, "B8A": 20, "B11": 20,
             "B12": 20, "B01": 60, "B09": 60, "SCL": 20}
    for name, res in bands.items():
        n = 109_800 // res
        coarse = rng.normal(0, 1, (n // 60 + 2, n // 60 + 2))
        field = np.kron(coarse, np.ones((60, 60)))[:n, :n]  # blocky, smooth at patch scale
        noise = rng.integers(0, 50, (n, n), dtype=np.uint16)
        if name == "SCL":
            data = np.where(field > 1.5, 9, 5).astype(np.uint8)
        else:
            data = (np.clip(2000 + 800 * field, 1, 60000).astype(np.uint16) + noise)
        profile = {"driver": "GTiff", "width": n, "height": n, "count": 1, "dtype": data.dtype.name,
                   "crs": "EPSG:32633", "transform": from_origin(300000, 5000040, res, res), "nodata": 0,
                   "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate"}
        with rasterio.open(folder / f"{name}.tif", "w", **profile) as dst:
            dst.write(data, 1)
        del data, field, noise
    (folder / "done").write_text("ok")
    return folder


def measure(name: str, args: dict) -> tuple[float, float]:
    """Run one snippet in a fresh interpreter; return (seconds, peak RSS in MiB)."""
    code = textwrap.dedent(f"""
        import json, resource, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        A = json.loads({json.dumps(json.dumps(args))})
        t0 = time.perf_counter()
    """) + textwrap.dedent(SNIPPETS[name]) + textwrap.dedent("""
        dt = time.perf_counter() - t0
        print(json.dumps({"s": dt, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["s"], res["rss"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--only", default="geotiff,lmdb,metadata,scene")
    opts = ap.parse_args()
    only = set(opts.only.split(","))
    shared = shared_data_dir()
    if shared is None:
        sys.exit("bench/ingest.py needs the real data in ../shared/data")
    inp = build_inputs(shared, opts.copies)
    args = {"tree": str(inp["tree"]), "meta": str(inp["meta"]), "lmdb": str(inp["lmdb"]),
            "reben": str(shared / "bigearthnet-v2-reben"), "out": str(WORK / "ws")}
    if "scene" in only:
        args["scene"] = str(build_scene(WORK / "scene-10980"))
    n = inp["n"]
    rows = []
    parts = (("geotiff", "GeoTIFF -> workspace", "geotiff_ingest", "geotiff_floor", n),
             ("lmdb", "LMDB -> workspace", "lmdb_ingest", "lmdb_floor", inp["n_lmdb"]),
             ("metadata", "metadata-only, 549,488", "metadata_only_ingest", "metadata_floor", 549_488),
             ("scene", "scene 10,980 px -> 8,281", "scene_ingest", "scene_floor", 8281))
    for key, label, eomine, floor, count in parts:
        if key not in only:
            continue
        t_e, r_e, t_b = [], [], []
        for _ in range(opts.runs):
            s, rss = measure(eomine, args)
            t_e.append(s)
            r_e.append(rss)
            t_b.append(measure(floor, args)[0])
        me, mb = statistics.median(t_e), statistics.median(t_b)
        rows.append((label, count, me, count / me, mb, me / mb, max(r_e)))
    print(f"\nbench/ingest.py  runs={opts.runs}  cpus={os.cpu_count()}  python={sys.version.split()[0]}")
    print(f"{'source':<24} {'patches':>9} {'median s':>9} {'patches/s':>10} {'baseline s':>11} {'ratio':>6} "
          f"{'peak RSS MiB':>13}")
    for label, count, me, rate, mb, ratio, rss in rows:
        print(f"{label:<24} {count:>9,} {me:>9.2f} {rate:>10,.0f} {mb:>11.2f} {ratio:>6.1f} {rss:>13,.0f}")
    print("baseline = raw read of the same data without eomine (GeoTIFF: rasterio; LMDB: lmdb+safetensors; "
          "metadata: pandas.read_parquet)")


if __name__ == "__main__":
    main()
