"""Dashboard server-side latency and memory: viewport renders, lasso, thumbnail grid, map, start-up, RSS.

Every timed row is the median and the 95th percentile (``numpy.percentile``, linear) of ``--runs`` runs
after ``--warmup`` warm-up runs, all in this process, one at a time. Ratios are against a baseline measured
in the same run:

1. Scatter viewport, categorical colour-by ``label`` (the first of the 19 BigEarthNet classes), 960x640:
   eomine's ``render_points`` (numba colour-mixing kernel + spread) then ``image_uri`` (lossless WebP +
   base64) vs datashader's stock categorical path ``cvs.points(df, 'x', 'y', ds.by('c', ds.count()))`` +
   ``tf.shade(agg, color_key=...)`` encoded the same way. Point sets: the 549,488 points of the real reBEN
   workspace's UMAP layout (``.bench/reben549k``, built by bench/make_reben_workspace.py), and that layout
   RESAMPLED WITH JITTER to 1,000,000 and 10,000,000 points (the 549,488 originals plus points drawn
   uniformly from them, moved by a Gaussian of 0.25 % of the layout's span per axis, keeping their class).
   Views: the full layout and a zoom (1/8 of each axis around the densest cell).
2. Lasso -> row ids at 549,488 (a 60-vertex wobbly lasso holding ~15 % of the points):
   ``dashboard.selection.points_in_polygon`` vs ``matplotlib.path.Path.contains_points`` when matplotlib
   is importable, else a vectorised pure-numpy ray casting over all points (one pass per polygon edge).
3. Thumbnail grid: the 48 thumbnails of a page through the real Flask route (``app.server.test_client()``)
   on the pixel demo workspace ``.bench/demo`` (DemoDataset n=6000, built if missing); cold (a new page each
   run, no If-None-Match) and the 304 path (the same page again with the ETags). Baseline: the 48
   ``CompositeRenderer.png`` calls alone (no Flask).
4. Map (``render_map`` + ``image_uri``) at 549,488: the full view and a 3 x 2 degree zoom on the densest area.
5. Start-up: ``create_app('.bench/reben549k')`` + ``GET /_dash-layout`` in a fresh interpreter (from the
   spawn, so interpreter start and imports count), ``--startup-runs`` subprocesses.
6. Server RSS: peak ``ru_maxrss`` of those subprocesses after start-up plus a session: scatter and map
   renders of several views and colourings, hover look-ups (KD-trees), a lasso, renders with the lasso,
   the grid of the lasso.

Usage: python bench/dashboard.py [--runs 15] [--warmup 2] [--startup-runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import BENCH_DIR, peak_rss_mib  # noqa: E402

REBEN = BENCH_DIR / "reben549k"
DEMO = BENCH_DIR / "demo"
IMG_W, IMG_H = 960, 640
JITTER = 0.0025  # of the layout's span, per axis, for the resampled point sets

TARGET_RENDER_MS = {549_488: 100.0, 1_000_000: 150.0, 10_000_000: 300.0}
TARGET_LASSO_MS = 50.0
TARGET_GRID_MS = 300.0
TARGET_STARTUP_S = 10.0
TARGET_RSS_MIB = 2048.0


# --------------------------------------------------------------------------- timing helpers
def timed(fn, runs: int, warmup: int) -> np.ndarray:
    """Run ``fn`` (which returns a tuple of stage durations in seconds) ``warmup + runs`` times.

    Returns
    -------
    ndarray, shape (runs, n_stages), milliseconds
    """
    for _ in range(warmup):
        fn()
    return np.array([fn() for _ in range(runs)], dtype=np.float64) * 1e3


def timed_pair(fa, fb, runs: int, warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`timed` of two functions, their runs interleaved (a, b, a, b, ...), so that a burst of load from
    other processes on the machine hits both sides of a ratio alike."""
    for _ in range(warmup):
        fa()
        fb()
    ta, tb = [], []
    for _ in range(runs):
        ta.append(fa())
        tb.append(fb())
    return np.array(ta, dtype=np.float64) * 1e3, np.array(tb, dtype=np.float64) * 1e3


def med_p95(t: np.ndarray) -> tuple[float, float]:
    return float(np.median(t)), float(np.percentile(t, 95))


def fmt(t: np.ndarray) -> str:
    m, p = med_p95(t)
    return f"{m:7.1f} / {p:7.1f}"


def verdict(value: float, target: float | None) -> str:
    if target is None:
        return "-"
    return "PASS" if value <= target else f"MISS (+{100 * (value / target - 1):.0f} %)"


# --------------------------------------------------------------------------- point sets and views
def resample(x: np.ndarray, y: np.ndarray, codes: np.ndarray, n: int, seed: int = 0):
    """The originals plus ``n - len(x)`` points drawn from them with Gaussian jitter (``JITTER`` of the span)."""
    m = len(x)
    if n <= m:
        return x[:n], y[:n], codes[:n]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, m, n - m)
    sx = JITTER * float(np.nanmax(x) - np.nanmin(x))
    sy = JITTER * float(np.nanmax(y) - np.nanmin(y))
    xs = np.concatenate([x, (x[idx] + rng.normal(0, sx, n - m)).astype(np.float32)])
    ys = np.concatenate([y, (y[idx] + rng.normal(0, sy, n - m)).astype(np.float32)])
    return xs, ys, np.concatenate([codes, codes[idx]])


def zoom_view(x: np.ndarray, y: np.ndarray, full: dict, frac: float = 1 / 8, bins: int = 64) -> dict:
    """A view ``frac`` of the full view's span per axis, centred on the densest cell of a bins x bins grid."""
    ok = np.isfinite(x) & np.isfinite(y)
    h, xe, ye = np.histogram2d(x[ok], y[ok], bins=bins, range=[full["x"], full["y"]])
    i, j = np.unravel_index(np.argmax(h), h.shape)
    cx, cy = (xe[i] + xe[i + 1]) / 2, (ye[j] + ye[j + 1]) / 2
    hw = (full["x"][1] - full["x"][0]) * frac / 2
    hh = (full["y"][1] - full["y"][0]) * frac / 2
    return {"x": [float(cx - hw), float(cx + hw)], "y": [float(cy - hh), float(cy + hh)]}


def make_lasso(x: np.ndarray, y: np.ndarray, target: float = 0.15, m: int = 60, seed: int = 1) -> list:
    """A hand-drawn-looking closed lasso of ``m`` vertices around a dense area holding ~``target`` of the points.

    The shape is a wobbly ellipse (two harmonics plus jitter) whose size is bisected until the fraction of the
    points inside is ``target`` +- 1 %.
    """
    from dashboard.selection import points_in_polygon

    rng = np.random.default_rng(seed)
    ok = np.isfinite(x) & np.isfinite(y)
    xo, yo = x[ok], y[ok]
    # centre: the middle of the densest of 8x8 cells (off the layout's centre, like a user's target)
    h, xe, ye = np.histogram2d(xo, yo, bins=8)
    i, j = np.unravel_index(np.argmax(h), h.shape)
    cx, cy = (xe[i] + xe[i + 1]) / 2, (ye[j] + ye[j + 1]) / 2
    sx, sy = float(xo.max() - xo.min()), float(yo.max() - yo.min())
    th = np.linspace(0, 2 * np.pi, m, endpoint=False)
    wobble = (1 + 0.18 * np.sin(2 * th + rng.uniform(0, 6.3)) + 0.08 * np.sin(5 * th + rng.uniform(0, 6.3))
              + 0.03 * rng.standard_normal(m))
    lo, hi = 0.0, 1.0
    poly = None
    for _ in range(40):
        r = (lo + hi) / 2
        poly = np.c_[cx + r * sx * 0.5 * wobble * np.cos(th), cy + r * sy * 0.4 * wobble * np.sin(th)]
        f = float(points_in_polygon(xo, yo, poly).mean())
        if abs(f - target) < 0.01:
            break
        lo, hi = (r, hi) if f < target else (lo, r)
    return poly.tolist()


def pip_numpy(x: np.ndarray, y: np.ndarray, poly) -> np.ndarray:
    """Pure-numpy even-odd ray casting over all points, one vectorised pass per polygon edge."""
    poly = np.asarray(poly, np.float64)
    px, py = poly[:, 0], poly[:, 1]
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    inside = np.zeros(len(x), bool)
    j = len(poly) - 1
    for k in range(len(poly)):
        cross = np.flatnonzero((py[k] > y) != (py[j] > y))
        yc = y[cross]
        xc = (px[j] - px[k]) * (yc - py[k]) / (py[j] - py[k]) + px[k]
        flip = cross[x[cross] < xc]
        inside[flip] = ~inside[flip]
        j = k
    return inside


# --------------------------------------------------------------------------- 1. viewport renders
def bench_scatter(data, sizes, runs, warmup):
    import datashader as ds
    import datashader.transfer_functions as tf
    import pandas as pd

    from dashboard.data import Filters, Scheme
    from dashboard.views import full_view, render_points
    from mining.raster import image_uri

    sch0 = data.scheme("label")
    codes0, colors, names = sch0.codes, list(sch0.colors), list(sch0.names)
    x0, y0 = data.px, data.py
    full = full_view(x0, y0)
    views = {"full": full, "zoom": zoom_view(x0, y0, full)}
    out = []
    assert not data.mask(Filters()), "no filter is active"
    for n in sizes:
        x, y, codes = resample(x0, y0, codes0, n)
        sch = Scheme(codes, tuple(colors), tuple(names))  # this point set's codes (no filter, no selection)
        keep = (codes >= 0) & np.isfinite(x) & np.isfinite(y)  # eomine skips code -1; so does the baseline
        df = pd.DataFrame({"x": x[keep], "y": y[keep],
                           "c": pd.Categorical.from_codes(codes[keep], categories=list(names))})
        color_key = dict(zip(names, colors, strict=True))
        for vname, view in views.items():
            info = {}

            def eomine(view=view, x=x, y=y, sch=sch, info=info):
                t0 = time.perf_counter()
                rgba, inf = render_points(data, view, "label", None, None, width=IMG_W, height=IMG_H, xy=(x, y),
                                          scheme=sch)
                t1 = time.perf_counter()
                uri = image_uri(rgba)
                t2 = time.perf_counter()
                info.update(inf, kib=len(uri) * 3 / 4 / 1024)
                return t1 - t0, t2 - t1

            cvs = ds.Canvas(plot_width=IMG_W, plot_height=IMG_H, x_range=tuple(view["x"]), y_range=tuple(view["y"]))

            def stock(cvs=cvs, df=df, color_key=color_key):
                t0 = time.perf_counter()
                agg = cvs.points(df, "x", "y", ds.by("c", ds.count()))
                img = tf.shade(agg, color_key=color_key)
                rgba = np.ascontiguousarray(np.flipud(img.data).view(np.uint8).reshape(IMG_H, IMG_W, 4))
                t1 = time.perf_counter()
                image_uri(rgba)
                t2 = time.perf_counter()
                return t1 - t0, t2 - t1

            te, tb = timed_pair(eomine, stock, runs, warmup)
            out.append({"n": n, "view": vname, "in_view": info["in_view"], "kib": info["kib"],
                        "e_shade": te[:, 0], "e_enc": te[:, 1], "e_tot": te.sum(1),
                        "b_shade": tb[:, 0], "b_enc": tb[:, 1], "b_tot": tb.sum(1)})
            print(f"  scatter {n:>10,} {vname:<4}: eomine {fmt(te.sum(1))} ms, datashader {fmt(tb.sum(1))} ms",
                  flush=True)
        del sch, df, x, y, codes
    return out, views


# --------------------------------------------------------------------------- 2. lasso
def bench_lasso(data, poly, runs, warmup):
    from dashboard.selection import points_in_polygon

    x, y = data.px, data.py
    try:
        from matplotlib.path import Path as MplPath

        base_name = "matplotlib Path.contains_points"

        def base_mask():
            return MplPath(np.asarray(poly)).contains_points(np.c_[x, y])
    except ImportError:
        base_name = "pure-numpy ray casting (matplotlib not installed)"

        def base_mask():
            return pip_numpy(x, y, poly)

    res = {}

    def eomine():
        t0 = time.perf_counter()
        m = points_in_polygon(x, y, poly)
        res["ids"] = data.ids[np.flatnonzero(m)]
        return (time.perf_counter() - t0,)

    def base():
        t0 = time.perf_counter()
        m = base_mask()
        res["base_ids"] = data.ids[np.flatnonzero(m)]
        return (time.perf_counter() - t0,)

    te, tb = timed_pair(eomine, base, runs, warmup)
    te, tb = te[:, 0], tb[:, 0]
    agree = len(np.setxor1d(res["ids"], res["base_ids"]))
    return {"t": te, "b": tb, "base": base_name, "n_sel": len(res["ids"]), "disagree": agree}


# --------------------------------------------------------------------------- 3. thumbnail grid
def ensure_demo():
    from mining.errors import WorkspaceError
    from mining.workspace import Workspace

    try:
        if Workspace(DEMO).meta.get("n_patches"):
            return
    except WorkspaceError:
        pass
    from mining.datasets.demo import DemoDataset
    from mining.ingest import ingest

    print("  building the demo workspace .bench/demo (DemoDataset n=6000) ...", flush=True)
    ingest(DemoDataset(n=6000), DEMO, overwrite=True, progress=False)


def bench_grid(runs, warmup):
    from dashboard.app import create_app
    from dashboard.components import THUMB_SIZE
    from dashboard.panels.grid import PER_PAGE, grid_rows
    from dashboard.routes import thumb_url

    ensure_demo()
    app = create_app(DEMO)
    data = app.server.extensions["eomine"].sync()
    client = app.server.test_client()
    composite = "true_color"
    rows = grid_rows(data, None, None)
    pages = iter(range(len(rows) // PER_PAGE))
    last = {}

    def cold():
        p = next(pages)  # a page never requested before: no HTTP cache, nothing memoised server-side
        on_page = rows[p * PER_PAGE:(p + 1) * PER_PAGE]
        urls = [thumb_url(composite, data.ids[r], THUMB_SIZE) for r in on_page]
        t0 = time.perf_counter()
        etags = []
        for u in urls:
            r = client.get(u)
            assert r.status_code == 200, (u, r.status_code)
            etags.append(r.headers["ETag"])
        dt = time.perf_counter() - t0
        last.update(urls=urls, etags=etags, rows=on_page, kib=len(r.data) / 1024)
        return (dt,)

    def revalidate():
        t0 = time.perf_counter()
        for u, e in zip(last["urls"], last["etags"], strict=True):
            r = client.get(u, headers={"If-None-Match": e})
            assert r.status_code == 304, (u, r.status_code)
        return (time.perf_counter() - t0,)

    def floor():
        t0 = time.perf_counter()
        for r in last["rows"]:
            data.renderer.png(int(data.pixel_row[r]), composite, upscale=THUMB_SIZE)
        return (time.perf_counter() - t0,)

    tc, tf_ = timed_pair(cold, floor, runs, warmup)  # the floor renders the page cold() just fetched
    t304 = timed(revalidate, runs, warmup)[:, 0]
    tc, tf_ = tc[:, 0], tf_[:, 0]
    return {"cold": tc, "304": t304, "floor": tf_, "n": data.n, "kib": last["kib"]}


# --------------------------------------------------------------------------- 4. map
def map_views(data) -> dict:
    from dashboard.panels.map_panel import full_view

    lon, lat = data.lon, data.lat
    ok = np.isfinite(lon) & np.isfinite(lat)
    h, xe, ye = np.histogram2d(lon[ok], lat[ok], bins=[np.arange(-30, 46, 1.0), np.arange(30, 73, 1.0)])
    i, j = np.unravel_index(np.argmax(h), h.shape)
    cx, cy = xe[i] + 0.5, ye[j] + 0.5
    return {"full": full_view(data), "zoom": {"x": [cx - 1.5, cx + 1.5], "y": [cy - 1.0, cy + 1.0]}}


def bench_map(data, runs, warmup):
    from dashboard.panels.map_panel import render_map
    from mining.raster import image_uri

    out = []
    for vname, view in map_views(data).items():
        info = {}

        def run(view=view, info=info):
            t0 = time.perf_counter()
            res = render_map(data, view, "label")
            t1 = time.perf_counter()
            if res["rgba"] is not None:
                image_uri(res["rgba"])
            t2 = time.perf_counter()
            info.update(in_view=res["in_view"], mode=res["mode"])
            return t1 - t0, t2 - t1

        t = timed(run, runs, warmup)
        out.append({"view": vname, **info, "render": t[:, 0], "enc": t[:, 1], "tot": t.sum(1)})
        print(f"  map {vname}: {fmt(t.sum(1))} ms ({info['mode']}, {info['in_view']:,} in view)", flush=True)
    return out


# --------------------------------------------------------------------------- 5 + 6. start-up and RSS
SESSION = """
import json, resource, sys, time
t_start = time.time()
sys.path.insert(0, A['root'])
from dashboard.app import create_app
from dashboard.panels import curate, detail, filters, grid, map_panel, review, scatter, tour  # create_app's
t_import = time.time()
app = create_app(A['ws'])
t_create = time.time()
client = app.server.test_client()
r = client.get('/_dash-layout')
assert r.status_code == 200, r.status_code
t_layout = time.time()
rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
# a session: scatter + map renders, hover look-ups, a lasso, renders with it, the grid of the lasso
from dashboard import views
from dashboard.geo import merc_y
from dashboard.panels import map_panel, grid
from dashboard.selection import selection_mask
from mining.raster import image_uri
data = app.server.extensions['eomine'].sync()
sel = {'kind': 'lasso', 'points': A['lasso']}
for color in ('label', 'country', 'density'):
    for view in A['views']:
        image_uri(views.render_points(data, view, color, None, None)[0])
for view in A['map_views']:
    res = map_panel.render_map(data, view, 'label')
    map_panel.update_patch(data, view, res, None)
v = A['views'][1]
views.nearest(data, (v['x'][0] + v['x'][1]) / 2, (v['y'][0] + v['y'][1]) / 2, v)
map_panel.nearest_patch(data, 10.0, float(merc_y(50.0)), A['map_views'][0])
n_sel = int(selection_mask(data, sel).sum())
image_uri(views.render_points(data, A['views'][0], 'label', None, sel)[0])
map_panel.render_map(data, A['map_views'][0], 'label', None, sel)
g = grid.render_grid(data, None, sel, 0, 'true_color', None)
assert len(g['tiles']) == 48 and n_sel > 0
print(json.dumps({'t_start': t_start, 't_import': t_import, 't_create': t_create, 't_layout': t_layout,
                  'rss_start': rss_start, 'n_sel': n_sel,
                  'rss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bench_startup(args: dict, runs: int) -> dict:
    code = f"A = json.loads({json.dumps(json.dumps(args))})\n" + SESSION
    starts, rss0, rss, parts = [], [], [], []
    for _ in range(runs):
        t0 = time.time()
        out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True,
                             cwd=ROOT)
        if out.returncode:
            sys.exit(f"start-up subprocess failed:\n{out.stderr[-3000:]}")
        res = json.loads(out.stdout.strip().splitlines()[-1])
        starts.append(res["t_layout"] - t0)
        parts.append((res["t_start"] - t0, res["t_import"] - res["t_start"], res["t_create"] - res["t_import"],
                      res["t_layout"] - res["t_create"]))
        rss0.append(res["rss_start"])
        rss.append(res["rss"])
        print(f"  start-up {starts[-1]:.2f} s (interpreter {parts[-1][0]:.2f} + imports {parts[-1][1]:.2f} + "
              f"create_app {parts[-1][2]:.2f} + layout {parts[-1][3]:.2f}), peak RSS {rss0[-1]:,.0f} MiB after start-up, "
              f"{rss[-1]:,.0f} MiB after the session", flush=True)
    return {"s": starts, "rss_start": rss0, "rss": rss, "parts": np.median(np.array(parts), axis=0)}


# --------------------------------------------------------------------------- main
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--startup-runs", type=int, default=3)
    ap.add_argument("--sizes", default="549488,1000000,10000000",
                    help="point counts of the scatter renders (the first is the real layout)")
    ap.add_argument("--workspace", type=Path, default=REBEN,
                    help="the workspace of rows 1, 2, 4-6 (default: the 549,488-patch reBEN one)")
    opts = ap.parse_args(argv)
    ws = opts.workspace
    if not (ws / "projection.parquet").is_file():
        sys.exit(f"{ws} has no projection: run python bench/make_reben_workspace.py first")
    load0 = os.getloadavg()
    t_all = time.perf_counter()

    from dashboard.data import AppData

    print(f"loading {ws} ...", flush=True)
    data = AppData.load(ws)
    n_real = int((np.isfinite(data.px) & np.isfinite(data.py)).sum())
    sizes = [int(s) for s in opts.sizes.split(",")]
    poly = make_lasso(data.px, data.py)

    print("5/6 start-up + RSS (fresh subprocesses) ...", flush=True)
    from dashboard.views import full_view

    full = full_view(data.px, data.py)
    views_for_session = [full, zoom_view(data.px, data.py, full)]
    mviews = map_views(data)
    st = bench_startup({"root": str(ROOT), "ws": str(ws), "lasso": poly, "views": views_for_session,
                        "map_views": [mviews["full"], mviews["zoom"]]}, opts.startup_runs)
    print("1 scatter viewport renders ...", flush=True)
    sc, _ = bench_scatter(data, sizes, opts.runs, opts.warmup)
    print("2 lasso ...", flush=True)
    la = bench_lasso(data, poly, opts.runs, opts.warmup)
    print("3 thumbnail grid ...", flush=True)
    gr = bench_grid(opts.runs, opts.warmup)
    print("4 map ...", flush=True)
    mp = bench_map(data, opts.runs, opts.warmup)
    load1 = os.getloadavg()

    # ------------------------------------------------------------------- report
    print(f"\nbench/dashboard.py  runs={opts.runs} (+{opts.warmup} warm-up)  cpus={os.cpu_count()}  "
          f"python={sys.version.split()[0]}  load avg (1/5/15 min) {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f} "
          f"at start, {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f} at end  wall {time.perf_counter() - t_all:.0f} s")
    print(f"\n1. Scatter viewport, colour-by label (19 classes), {IMG_W}x{IMG_H}, ms median / p95. "
          f"{n_real:,} = the real UMAP layout; larger sets = it resampled with jitter ({100 * JITTER:.2f} % of "
          "the span).")
    print(f"{'points':>10} {'view':<5} {'in view':>10} {'agg+shade':>17} {'encode':>17} {'total':>17} "
          f"{'datashader total':>17} {'(ds agg+shade)':>17} {'ratio':>6} {'target':>7}  result")
    for r in sc:
        me, mb = med_p95(r["e_tot"])[0], med_p95(r["b_tot"])[0]
        target = TARGET_RENDER_MS.get(r["n"])
        print(f"{r['n']:>10,} {r['view']:<5} {r['in_view']:>10,} {fmt(r['e_shade']):>17} {fmt(r['e_enc']):>17} "
              f"{fmt(r['e_tot']):>17} {fmt(r['b_tot']):>17} {fmt(r['b_shade']):>17} {mb / me:>6.1f} "
              f"{'<=' + format(target, '.0f') if target else '-':>7}  {verdict(me, target)}")
    print("ratio = datashader total / eomine total; encode = lossless WebP + base64 (image_uri) for both; "
          "datashader = cvs.points(df, 'x', 'y', ds.by('c', ds.count())) + tf.shade(agg, color_key=...)")

    print("\n2-6. Other interactions (ms median / p95 unless stated)")
    print(f"{'row':<46} {'eomine':>17} {'baseline':>17} {'ratio':>6} {'target':>9}  result")

    def row(name, t, b, target, unit="ms"):
        m = med_p95(np.asarray(t))[0]
        bs = fmt(np.asarray(b)) if b is not None else "-"
        ratio = f"{med_p95(np.asarray(b))[0] / med_p95(np.asarray(t))[0]:.1f}" if b is not None else "-"
        tgt = f"<={target:g} {unit}" if target is not None else "-"
        print(f"{name:<46} {fmt(np.asarray(t)):>17} {bs:>17} {ratio:>6} {tgt:>9}  {verdict(m, target)}")

    row(f"lasso -> ids, {n_real:,} pts, {la['n_sel']:,} in", la["t"], la["b"], TARGET_LASSO_MS)
    row("grid 48 thumbnails, cold (Flask route)", gr["cold"], gr["floor"], TARGET_GRID_MS)
    row("grid 48 thumbnails, 304 (If-None-Match)", gr["304"], None, TARGET_GRID_MS)
    for r in mp:
        row(f"map {r['view']} render ({r['mode']}, {r['in_view']:,} in view)", r["render"], None, None)
        row(f"map {r['view']} render + encode", r["tot"], None, None)
    ms = statistics.median(st["s"])
    print(f"{'start-up: create_app + GET /_dash-layout (s)':<46} {ms:>7.2f} / {max(st['s']):>7.2f} "
          f"{'-':>17} {'-':>6} {'<=10 s':>9}  {verdict(ms, TARGET_STARTUP_S)}")
    p = st["parts"]
    print(f"{'  = interpreter + imports + create_app + layout':<46} {p[0]:.2f} + {p[1]:.2f} + {p[2]:.2f} + "
          f"{p[3]:.2f} s (medians)")
    rmax = max(st["rss"])
    print(f"{'server peak RSS after a session (MiB)':<46} {rmax:>17,.0f} {'-':>17} {'-':>6} {'<=2048':>9}  "
          f"{verdict(rmax, TARGET_RSS_MIB)}")
    print(f"lasso baseline: {la['base']} on all points (ids disagreeing with eomine: {la['disagree']}); "
          "grid baseline: the 48 CompositeRenderer.png calls without Flask "
          f"(demo workspace, {gr['n']:,} patches, 128 px PNG ~{gr['kib']:.0f} KiB); start-up: median / max of "
          f"{opts.startup_runs} fresh interpreters, timed from the spawn; RSS: max of the {opts.startup_runs} "
          f"peaks (after start-up alone: {max(st['rss_start']):,.0f} MiB); this process peaked at "
          f"{peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
