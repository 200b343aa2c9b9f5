"""The dashboard in headless Chromium: from the user's action to the new image painted.

What is measured
    On each workspace (the demo, ``.bench/demo-full``, 6,000 patches; reBEN, ``.bench/reben549k``, 549,488)
    the bench starts ``python -m eomine.cli serve WS --port <free>`` itself and drives the page with
    Playwright (sync API, Chromium headless, viewport 1600 x 1050):

    * page load -> first scatter: from navigation start (``performance.timeOrigin``) to the first scatter
      raster painted; a first visit (a fresh browser context per run: empty HTTP and V8 code caches), and a
      visit again (the same context navigating again, after one untimed load);
    * zoom: one wheel notch over the scatter's plot area near its densest cell, alternately in and out, at a
      jittered point, so every run is a new view;
    * pan: a drag in pan mode (switched on with the modebar's Pan button, as a user does), alternating
      directions and lengths;
    * colour-by: another option of ``#color-by`` clicked (scatter, and map in the JSON);
    * lasso -> scatter / map / grid: a wobbly lasso over the densest cell (radius and centre jittered); before
      each run (untimed) a double-click clears plotly's lasso outline and resets the view, and *Clear selection*
      the app's selection;
    * map zoom: one wheel notch over the map, alternately in and out, at a jittered point;
    * 10 pages at once: 10 contexts whose navigations start at the same instant; each page's time to its
      first scatter raster, and how many took over 10 s. The pages share the machine's cores with the server,
      so the same 10 loads are also replayed against the server alone: each virtual user fetches the page, the
      JS bundles, the layout and the callback requests of a real page load up to the first scatter render.

    Each action runs ``--warmup`` times untimed, then ``--runs`` times; the table gives the median / max.
    Before each run the page is settled: no Dash callback in flight for 400 ms, then an idle callback.

How "painted" is detected (bench/browser_harness.py, ``PROBE_JS``)
    The start is the action's input event, ``event.timeStamp`` on the page clock: the wheel event, or the
    ``mouseup`` that ends a drag, a lasso or the click on an option. The end is when the panel's new raster
    is on screen: a MutationObserver sees a new ``data:image/webp`` href on the SVG ``<image>`` of
    ``#scatter-graph`` / ``#map-graph``; that URI is decoded (``new Image().decode()``), then two
    ``requestAnimationFrame``\\ s pass. The grid is painted when its set of tiles changed and every ``<img>``
    of it intersecting the viewport is ``complete`` (lazy images below the fold do not count: the browser does
    not fetch them before they are scrolled near), plus two frames.

The server's share
    Each ``/_dash-update-component`` POST, and each POST to the scatter's render route (a zoom or a pan, sent by
    ``assets/plots.js`` without Dash), is timed by Playwright (``request.timing``). An action's server
    share is the union, on the page clock, of its requests' request-sent -> first-byte intervals (time to first
    byte: the server's time, queueing in its 8 threads included; the network is the loopback). Hover-tooltip
    and edit-poll requests are counted but left out of the share.

Diagnosis (printed after the table, all in ``--out``)
    Per action: callback requests and response bytes, basemap redraws (each synchronous redraw of a > 10,000
    character SVG path of a plotly ``.shapelayer``, attributed to ``Plotly.react`` or to plotly's own UI
    handling), the time in ``Plotly.react``, where each panel's time went (before its render request was sent,
    the server to first byte, the download, after it: the browser) and the chain of callbacks that led to the
    render. Per page load: the navigation milestones, the requests per callback and what triggered each render,
    raster paints per panel. Chrome traces (``browser.start_tracing`` with the V8 sampling profiler) of one page
    load, one lasso and one map zoom: main-thread busy time, the long tasks and the JS in them per script and
    per plotly function. Last, ``Plotly.relayout`` of the scatter, the map, and the map without its basemap
    (removed in the page only). For the N pages at once, the phases of each page's first scatter.

Usage: python bench/browser.py [--workspace demo|reben|both] [--runs 7] [--warmup 1] [--concurrent 10]
[--out FILE.json] [--trace-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.browser_harness import (  # noqa: E402
    NAV_JS,
    PROBE_JS,
    RequestLog,
    Server,
    chain,
    chain_text,
    count_by_name,
    diagnosis,
    machine,
    phases,
    render_request,
    replay_loads,
    server_share,
    table,
)
from bench.browser_trace import TRACE_CATEGORIES, relayout_costs, source, trace_summary  # noqa: E402

BENCH = ROOT / ".bench"
WORKSPACES = {"demo": BENCH / "demo-full", "reben": BENCH / "reben549k"}
VIEWPORT = {"width": 1600, "height": 1050}
COLOURS = ["Split", "Country", "Season", "Cloud / snow flags", "Density", "Label (first label)"]
PAINTED = "([ps, t]) => ps.every(p => __eb.paints.some(e => e.panel === p && e.seen > t && e.painted !== null))"
SETTLE_JS = "() => new Promise(r => requestIdleCallback(() => r(), {timeout: 3000}))"


# --------------------------------------------------------------------------- one page
class Tab:
    """One page with the probe and its request log."""

    def __init__(self, browser, server: Server):
        self.ctx = browser.new_context(viewport=VIEWPORT)
        self.ctx.add_init_script(PROBE_JS)
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(90_000)
        self.log = RequestLog(self.page)
        self.server = server
        self.origin = 0.0

    def load(self, collect: bool = True) -> dict | None:
        """Navigate; wait for the first scatter raster painted and no callback in flight; the load's numbers."""
        self.page.goto(self.server.url, wait_until="commit", timeout=120_000)
        self.page.wait_for_function("() => __eb.paints.some(e => e.panel === 'scatter' && e.painted !== null)",
                                    timeout=180_000, polling=100)
        self.origin = self.page.evaluate("performance.timeOrigin")
        self.settle()
        return self.collect_load() if collect else None

    def collect_load(self) -> dict:
        E = self.page.evaluate("() => ({paints: __eb.paints, shapes: __eb.shapes, plotly: __eb.plotly})")
        first = {p: min((e for e in E["paints"] if e["panel"] == p and e["painted"]), default=None,
                        key=lambda e: e["painted"]) for p in ("scatter", "map", "grid")}
        reqs = self.log.take(self.origin)
        sc = first["scatter"]
        before = [r for r in reqs if r["sent"] < sc["painted"]]
        r = render_request(reqs, "scatter", sc["seen"])
        return {"ms": sc["painted"], "first": {p: e and e["painted"] for p, e in first.items()},
                "server_ms": server_share(before), "phases": phases(r, 0.0, sc),
                "chain": chain_text(chain(reqs, r), 0.0), "nav": self.page.evaluate(NAV_JS),
                "scripts": self.page.evaluate("() => performance.getEntriesByType('resource')"
                                              ".filter(r => r.initiatorType === 'script').map(r => r.name)"),
                "by_callback": count_by_name(reqs), "requests": reqs,
                "paints": {p: sum(e["panel"] == p for e in E["paints"]) for p in ("scatter", "map", "grid")},
                "basemap_draws": len(E["shapes"]), "basemap_via": dict(Counter(s["via"] for s in E["shapes"])),
                "plotly_calls": [[e["graph"], e["fn"], round(e["t"]), round(e["ms"])] for e in E["plotly"]],
                "react_ms": sum(e["ms"] for e in E["plotly"])}

    def settle(self) -> None:
        self.log.quiet(400, server=self.server)
        self.page.evaluate(SETTLE_JS)

    def box(self, graph: str) -> dict:
        return self.page.locator(f"#{graph} .nsewdrag").first.bounding_box()

    def to_px(self, graph: str, x: float, y: float) -> tuple[float, float]:
        """Screen position of data point (x, y) on a graph (its current axis ranges)."""
        (x0, x1), (y0, y1) = self.page.evaluate(
            "g => { const l = document.querySelector('#' + g + ' .js-plotly-plot')._fullLayout;"
            " return [l.xaxis.range, l.yaxis.range]; }", graph)
        b = self.box(graph)
        return b["x"] + (x - x0) / (x1 - x0) * b["width"], b["y"] + (y1 - y) / (y1 - y0) * b["height"]

    def measure(self, label: str, act, panels: list[str]) -> dict:
        """Run ``act`` (the user's action) and time it until every panel in ``panels`` painted a new image."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        self.settle()
        self.log.take(self.origin)
        arm = self.page.evaluate("l => __eb.arm(l)", label)
        act()
        try:
            self.page.wait_for_function(PAINTED, arg=[panels, arm], timeout=60_000)
        except PlaywrightTimeout:
            self.server.check()
            return {"error": f"no new {'/'.join(panels)} image within 60 s"}
        self.page.evaluate("() => performance.mark('eb:painted')")
        E = self.page.evaluate("t => ({inputs: __eb.inputs, paints: __eb.paints.filter(e => e.seen > t),"
                               " shapes: __eb.shapes.filter(e => e.t > t), plotly: __eb.plotly.filter(e => e.t > t)})",
                               arm)
        self.settle()
        wheel = [i["ts"] for i in E["inputs"] if i["type"] == "wheel"]
        ups = [i["ts"] for i in E["inputs"] if i["type"] == "mouseup"]
        t0 = wheel[0] if wheel else ups[-1] if ups else arm
        reqs = self.log.take(self.origin, arm - 5000)
        first = {p: min((e for e in E["paints"] if e["panel"] == p and e["painted"]), key=lambda e: e["painted"])
                 for p in panels}
        ms = {p: e["painted"] - t0 for p, e in first.items()}
        done = max(ms.values()) + t0
        mine = [r for r in reqs if t0 - 1 <= r["sent"] <= done]
        rr = {p: render_request(mine, p, e["seen"]) for p, e in first.items()}
        return {"ms": ms, "server_ms": server_share(mine), "requests": len(mine),
                "kib": sum(r.get("bytes", 0) for r in mine) / 1024, "by_callback": count_by_name(mine),
                "basemap_draws": sum(s["t"] <= done for s in E["shapes"]),
                "basemap_via": dict(Counter(s["via"] for s in E["shapes"] if s["t"] <= done)),
                "react_ms": sum(e["ms"] for e in E["plotly"] if e["t"] <= done),
                "plotly_calls": [[e["graph"], e["fn"], round(e["t"] - t0), round(e["ms"])] for e in E["plotly"]
                                 if e["t"] <= done],
                "rasters": {p: sum(e["panel"] == p for e in E["paints"]) for p in panels},
                "phases": {p: phases(rr[p], t0, first[p]) for p in panels},
                "selection": self.page.inner_text("#selection-info") if "grid" in panels else None,
                "chains": {p: chain_text(chain(mine, rr[p]), t0) for p in panels}}

    def close(self) -> None:
        self.ctx.close()


# --------------------------------------------------------------------------- the actions
def densest(ws: Path) -> tuple[float, float]:
    """Centre of the densest of 8 x 8 cells of the 2-D layout (where a curator would lasso)."""
    import numpy as np
    import pyarrow.parquet as pq

    t = pq.read_table(ws / "projection.parquet", columns=["x", "y"])
    x, y = t.column("x").to_numpy(), t.column("y").to_numpy()
    ok = np.isfinite(x) & np.isfinite(y)
    h, xe, ye = np.histogram2d(x[ok], y[ok], bins=8)
    i, j = np.unravel_index(np.argmax(h), h.shape)
    return float((xe[i] + xe[i + 1]) / 2), float((ye[j] + ye[j + 1]) / 2)


def session(tab: Tab, dense: tuple[float, float], runs: int, warmup: int, rng: random.Random, trace) -> dict:
    """The interactions on one loaded page; {row: [records of the timed runs]}; one more lasso under
    ``trace(fn, marks, name)``."""
    page, out = tab.page, {}

    def repeat(key, fn, panels):
        recs = [tab.measure(f"{key}{i}", fn(i), panels) for i in range(warmup + runs)]
        out[key] = recs[warmup:]
        print(f"  {key:<8} " + "  ".join(_short(r) for r in out[key]), flush=True)

    def jitter(p, d):
        return p[0] + rng.uniform(-d, d), p[1] + rng.uniform(-d, d)

    def wheel(centre):
        def make(i):
            x, y = jitter(centre() if callable(centre) else centre, 25)
            page.mouse.move(x, y)
            return lambda: page.mouse.wheel(0, -100 if i % 2 == 0 else 100)
        return make

    repeat("zoom", wheel(lambda: tab.to_px("scatter-graph", *dense)), ["scatter"])

    page.hover("#scatter-graph .nsewdrag")
    page.click('#scatter-graph .modebar-btn[data-val="pan"]')

    def pan(i):
        b = tab.box("scatter-graph")
        x, y = jitter((b["x"] + b["width"] / 2, b["y"] + b["height"] / 2), 20)
        s = 1 if i % 2 == 0 else -1
        dx, dy = s * (50 + 15 * (i % 3)), s * 25

        def act():
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + dx, y + dy, steps=8)
            page.mouse.up()
        return act

    repeat("pan", pan, ["scatter"])
    page.click('#scatter-graph .modebar-btn[data-val="lasso"]')

    def colour(i):
        opt = COLOURS[i % len(COLOURS)]
        page.click("#color-by")
        page.locator(".dash-dropdown-search:visible").first.fill(opt)
        option = page.locator(".dash-dropdown-option:visible", has_text=opt).first
        option.wait_for()

        def act():
            option.click()
            page.keyboard.press("Escape")
        return act

    repeat("colour", colour, ["scatter", "map"])

    def lasso(i):
        # a double-click deselects (plotly keeps the last lasso outline otherwise, even after "Clear selection",
        # and a lasso started inside it moves the old one) and resets the view; then the app's selection goes
        b = tab.box("scatter-graph")
        page.mouse.dblclick(b["x"] + 6, b["y"] + 6)
        tab.settle()
        if "selected by" in page.inner_text("#selection-info"):
            page.click("#clear-selection")
            tab.settle()
        cx, cy = jitter(tab.to_px("scatter-graph", *dense), 15)
        r = min(b["width"], b["height"]) * (0.10 + 0.025 * (i % 3))
        ph = rng.uniform(0, 6.3)
        pts = [(cx + r * (1 + 0.15 * math.sin(3 * a + ph)) * math.cos(a), cy + r * math.sin(a))
               for a in (2 * math.pi * k / 24 for k in range(25))]

        def act():
            page.mouse.move(*pts[0])
            page.mouse.down()
            for p in pts[1:]:
                page.mouse.move(*p, steps=2)
            page.mouse.up()
        return act

    repeat("lasso", lasso, ["scatter", "map", "grid"])
    act = lasso(warmup + runs)
    out["lasso_trace"] = trace(lambda: tab.measure("trace-lasso", act, ["scatter", "map", "grid"]),
                               ("eb:trace-lasso", "eb:painted"), "lasso")
    b = tab.box("scatter-graph")
    page.mouse.dblclick(b["x"] + 6, b["y"] + 6)
    tab.settle()
    page.click("#clear-selection")

    def map_centre():
        b = tab.box("map-graph")
        return b["x"] + b["width"] / 2, b["y"] + b["height"] / 2

    repeat("mapzoom", wheel(map_centre), ["map"])
    return out


def _short(r: dict) -> str:
    if "error" in r:
        return "ERR"
    return "/".join(f"{v:.0f}" for v in r["ms"].values())


def traced(browser, tab: Tab, fn, marks: tuple[str, str], trace_dir: Path | None, name: str) -> dict:
    """``fn()`` under ``browser.start_tracing`` (with the V8 sampling profiler); where the main thread went
    between the two ``performance.mark``\\ s ``marks``."""
    browser.start_tracing(page=tab.page, categories=TRACE_CATEGORIES)
    try:
        rec = fn()
    finally:
        raw = browser.stop_tracing()
    if trace_dir is not None:
        trace_dir.mkdir(parents=True, exist_ok=True)
        (trace_dir / f"{name}.json").write_bytes(raw)
    return {"measure": rec, **trace_summary(raw, *marks, source)}


def map_zoom_trace(browser, tab: Tab, trace_dir: Path | None, key: str) -> dict:
    b = tab.box("map-graph")
    tab.page.mouse.move(b["x"] + b["width"] * 0.45, b["y"] + b["height"] * 0.5)
    return traced(browser, tab, lambda: tab.measure("trace", lambda: tab.page.mouse.wheel(0, -100), ["map"]),
                  ("eb:trace", "eb:painted"), trace_dir, f"mapzoom-{key}")


def concurrent(browser, server: Server, n: int) -> dict:
    """``n`` contexts navigating at the same instant; each one's time to its first scatter raster."""
    tabs = [Tab(browser, server) for _ in range(n)]
    try:
        start = time.time() * 1000 + 800
        for t in tabs:
            t.page.evaluate("([u, at]) => { setTimeout(() => { location.href = u; }, at - Date.now()); }",
                            [server.url, start])
        ms, deadline = [None] * n, time.time() + 300
        while any(v is None for v in ms) and time.time() < deadline:
            server.check()
            for k, t in enumerate(tabs):
                if ms[k] is None:
                    try:
                        ms[k] = t.page.evaluate("at => { const e = window.__eb && location.href !== 'about:blank' &&"
                                                " __eb.paints.find(e => e.panel === 'scatter' && e.painted !== null);"
                                                " return e ? performance.timeOrigin + e.painted - at : null; }", start)
                    except Exception:  # noqa: BLE001 - the page is between documents
                        pass
            tabs[0].page.wait_for_timeout(200)
        loads = []
        for t in tabs:
            t.log.quiet(400, timeout=300, server=server)
            if t.page.url != "about:blank":
                t.origin = t.page.evaluate("performance.timeOrigin")
                loads.append({k: v for k, v in t.collect_load().items() if k != "requests"})
        return {"ms": ms, "n_over_10s": sum(v is None or v > 10_000 for v in ms), "loads": loads}
    finally:
        for t in tabs:
            t.close()


# --------------------------------------------------------------------------- one workspace
def ensure(key: str) -> Path:
    ws = WORKSPACES[key]
    if key == "reben":
        if not (ws / "projection.parquet").is_file():
            raise SystemExit(f"error: {ws} is missing: build it with python bench/make_reben_workspace.py")
        return ws
    if not ((ws / "projection.parquet").is_file() and (ws / "scores.parquet").is_file()):
        print(f"building the demo workspace {ws} (eomine demo --n 6000: embeddings, kNN, UMAP, scores) ...",
              flush=True)
        subprocess.run([sys.executable, "-m", "eomine.cli", "demo", "--out", str(ws), "--n", "6000"], cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
    return ws


def run_workspace(pw, chromium: str, key: str, opts) -> dict:
    ws = ensure(key)
    n = json.loads((ws / "workspace.json").read_text())["n_patches"]
    print(f"\n{key}: {ws} ({n:,} patches)", flush=True)
    server = Server(ws)
    browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
    res = {"workspace": str(ws), "n": n, "server_startup_s": server.startup_s, "chromium": browser.version}
    try:
        loads, warm = [], []
        for _ in range(opts.warmup + opts.runs):  # first visits: a fresh context (empty cache) each
            tab = Tab(browser, server)
            try:
                loads.append(tab.load())
            finally:
                tab.close()
        res["load"] = loads[opts.warmup:]
        tab = Tab(browser, server)
        try:  # visits again: one context, its first load warms the HTTP and V8 code caches
            for _ in range(1 + opts.runs):
                warm.append(tab.load())
        finally:
            tab.close()
        res["load_warm"] = warm[1:]
        print("  load   " + "  ".join(f"{r['ms']:,.0f}" for r in res["load"]) + "\n  reload "
              + "  ".join(f"{r['ms']:,.0f}" for r in res["load_warm"]), flush=True)
        tab = Tab(browser, server)
        try:
            res["load_trace"] = traced(browser, tab, lambda: tab.load(collect=False), ("eb:start", "eb:first-scatter"),
                                       opts.trace_dir, f"load-{key}")
            tab.page.wait_for_function("() => performance.now() > 6500", polling=200)  # past the first edit poll
            tab.settle()
            res["load_diagnosis"] = tab.collect_load()
            res.update(session(tab, densest(ws), opts.runs, opts.warmup, random.Random(0),
                               lambda fn, marks, name: traced(browser, tab, fn, marks, opts.trace_dir, f"{name}-{key}")))
            res["trace"] = map_zoom_trace(browser, tab, opts.trace_dir, key)
            res["relayout_ms"] = relayout_costs(tab)
        finally:
            tab.close()
        if opts.concurrent:
            res["concurrent"] = concurrent(browser, server, opts.concurrent)
            reqs = res["load_diagnosis"]["requests"]
            js = res["load_diagnosis"]["scripts"]
            res["replay"] = {"one": [replay_loads(server.url, reqs, 1, js)[0] for _ in range(3)],
                             "n": replay_loads(server.url, reqs, opts.concurrent, js)}
            print("  concurrent: " + " ".join(f"{v:,.0f}" if v else "-" for v in res["concurrent"]["ms"])
                  + "\n  replayed: " + " ".join(f"{v:,.0f}" for v in res["replay"]["n"]), flush=True)
    except Exception:
        server.check(grace=5)  # a dead server is the error to report
        raise
    finally:
        browser.close()
        server.stop()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\nUsage:")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", choices=["demo", "reben", "both"], default="both")
    ap.add_argument("--runs", type=int, default=7, help="timed runs per action (≥ 7 for a reported run)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs before them")
    ap.add_argument("--concurrent", type=int, default=10, help="pages loading at once (0: skip)")
    ap.add_argument("--out", type=Path, help="write the raw numbers here (JSON)")
    ap.add_argument("--trace-dir", type=Path, help="keep the Chrome traces (page load, lasso, map zoom) here")
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    opts = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # kill: stop the server and Chromium on the way out
    if opts.runs < 7:
        print(f"note: --runs {opts.runs} < 7: a development run, not one to report", file=sys.stderr)
    if not opts.chromium or not Path(opts.chromium).exists():
        raise SystemExit("error: Chromium not found (apt-get install chromium, or pass --chromium PATH)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("error: playwright is not installed (pip install playwright)") from None
    keys = ["demo", "reben"] if opts.workspace == "both" else [opts.workspace]
    for k in keys:
        if k == "reben":
            ensure(k)  # fail early, before the demo's minutes
    load0, t0, results = os.getloadavg(), time.time(), {}
    with sync_playwright() as pw:
        for k in keys:
            results[k] = run_workspace(pw, opts.chromium, k, opts)
    load1 = os.getloadavg()
    version = next(iter(results.values()))["chromium"]
    la = "/".join(f"{v:.2f}" for v in load0), "/".join(f"{v:.2f}" for v in load1)
    header = (f"bench/browser.py  runs={opts.runs} (+{opts.warmup} warm-up)  {machine()}  Chromium {version}  "
              f"load avg (1/5/15 min) {la[0]} at start, {la[1]} at end  wall {time.time() - t0:,.0f} s")
    print("\n" + header)
    print("median / max ms from the action to the new image painted (server share, median ms); "
          f"{opts.concurrent} pages: " + ", ".join(f"{k} {results[k]['concurrent']['n_over_10s']} over 10 s"
                                   for k in results if "concurrent" in results[k]) + "\n")
    print("\n".join(table(results)))
    print("\nDiagnosis")
    for k, res in results.items():
        print("\n".join(diagnosis(k, res)))
    if opts.out:
        opts.out.write_text(json.dumps({"header": header, "load_avg": [load0, load1], "results": results},
                                       indent=1, default=str))


if __name__ == "__main__":
    main()
