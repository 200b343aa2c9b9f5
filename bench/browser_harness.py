"""Helpers of bench/browser.py: the server process, the in-page probe, the Dash request log, Chrome-trace
summaries (:mod:`bench.browser_trace`) and the report (table and diagnosis).

The probe (:data:`PROBE_JS`, installed with ``context.add_init_script`` before any page script runs) records,
on the page's own clock (``performance.now()``, 0 = navigation start):

* ``paints``: every new raster of the scatter / the map, i.e. a new ``data:image/webp`` ``href`` on an SVG
  ``<image>`` inside ``#scatter-graph`` / ``#map-graph`` (a MutationObserver on the document), with the time
  it was seen and the time it was on screen: that URI decoded by ``new Image().decode()``, then two
  ``requestAnimationFrame``\\ s (the second runs after the frame holding the image was painted);
* ``paints`` of the grid: a new set of tiles in ``#grid`` (the tiles' ids), and when every ``<img>`` of it that
  intersects the viewport is ``complete`` (lazy images below the fold do not count: the browser does not
  fetch them until they are scrolled near), plus two frames;
* ``shapes``: every (re)draw of a long (> 10,000 characters) SVG path in a plotly ``.shapelayer`` (the map's
  basemap), one per mutation batch, i.e. per synchronous plotly draw;
* ``plotly``: calls of ``Plotly.react`` / ``newPlot`` / ``relayout`` / ``restyle`` / ``update`` (what
  ``dcc.Graph`` calls when Dash hands it a new figure) with their synchronous duration;
* ``inputs``: wheel / mouse / click events (``event.timeStamp``), the user actions.
"""

from __future__ import annotations

import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKGROUND = ("scatter-tooltip", "edits-version-store")  # hover and the edit poll: not the action's work
#: row -> (label, target ms at 549,488 patches, judged on)
ROWS = {"load": ("page load → first scatter (first visit)", 2000, "median"),
        "load_warm": ("page load → first scatter (visit again)", 2000, "median"), "zoom": ("zoom (wheel)", 150, "median"),
        "pan": ("pan (drag)", 150, "median"), "colour": ("colour-by → scatter", 250, "median"),
        "colour_map": ("colour-by → map", None, ""), "lasso": ("lasso → scatter / map / grid", None, ""),
        "lasso_all": ("lasso → every panel updated", 400, "median"), "mapzoom": ("map zoom (wheel)", 250, "median"),
        "concurrent": ("pages at once → first scatter", 10000, "max"),
        "replay": ("page loads at once, server alone (replayed) → scatter response", 10000, "max")}

PROBE_JS = r"""
(() => {
  if (window.__eb) return;
  const now = () => performance.now();
  const E = window.__eb = {paints: [], shapes: [], plotly: [], inputs: [], last: {}, armT: 0};
  const XLINK = 'http://www.w3.org/1999/xlink';
  const GRAPHS = {scatter: 'scatter-graph', map: 'map-graph'};
  const frames2 = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const hrefOf = im => im.getAttribute('href') || im.getAttributeNS(XLINK, 'href') || '';
  performance.mark('eb:start');
  E.arm = label => { E.inputs = []; E.armT = now(); performance.mark('eb:' + label); return E.armT; };
  for (const type of ['wheel', 'mousedown', 'mouseup', 'click', 'dblclick']) {
    window.addEventListener(type, e => E.inputs.push({type, ts: e.timeStamp, t: now()}),
                            {capture: true, passive: true});
  }
  function checkRaster(panel) {
    const g = document.getElementById(GRAPHS[panel]);
    if (!g) return;
    let h = '';
    for (const im of g.querySelectorAll('image')) {
      const s = hrefOf(im);
      if (s.startsWith('data:image/webp')) { h = s; break; }
    }
    if (h === (E.last[panel] || '')) return;
    E.last[panel] = h;
    if (!h) return;  // no raster now (the map in footprint mode)
    const ev = {panel, seen: now(), chars: h.length, painted: null};
    E.paints.push(ev);
    const im = new Image();
    im.src = h;
    im.decode().catch(() => { ev.error = 'decode'; }).then(frames2).then(() => {
      ev.painted = now();
      if (panel === 'scatter' && !E.firstScatter) { E.firstScatter = ev.painted; performance.mark('eb:first-scatter'); }
    });
  }
  function visibleImgs(g) {
    const out = [];
    for (const im of g.querySelectorAll('img')) {
      const r = im.getBoundingClientRect();
      if (r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth && r.width > 0) out.push(im);
    }
    return out;
  }
  function checkGrid() {
    const g = document.getElementById('grid');
    if (!g) return;
    let sig = '';
    for (const k of g.children) sig += (k.id || k.className) + '|';
    if (sig === (E.last.grid || '')) return;
    E.last.grid = sig;
    const ev = {panel: 'grid', seen: now(), tiles: g.children.length, painted: null};
    E.paints.push(ev);
    const poll = () => {
      if (E.last.grid !== sig) { ev.superseded = true; return; }
      const imgs = visibleImgs(g);
      if (imgs.every(im => im.complete)) {
        ev.imgs = imgs.length;
        ev.broken = imgs.filter(im => !im.naturalWidth).length;
        frames2().then(() => { ev.painted = now(); });
      } else if (now() - ev.seen > 60000) { ev.error = 'timeout'; } else { requestAnimationFrame(poll); }
    };
    poll();
  }
  function shapeDrawn(el, seen, via) {
    if (seen.has(el)) return;
    seen.add(el);
    const d = el.getAttribute('d') || '';
    if (d.length < 10000) return;
    const g = el.closest('#scatter-graph, #map-graph');
    E.shapes.push({t: now(), graph: g ? g.id : '?', chars: d.length, via});
  }
  // via: the wrapped Plotly call whose synchronous part made the mutations, or 'plotly-ui' (plotly's own
  // drag / wheel handling, which does not go through window.Plotly)
  const handle = (muts, via) => {
    let raster = false, grid = false;
    const seen = new Set();
    for (const m of muts) {
      const t = m.target;
      if (m.type === 'attributes') {
        if (t.tagName === 'image') raster = true;
        else if (m.attributeName === 'd' && t.tagName === 'path' && t.closest('.shapelayer')) shapeDrawn(t, seen, via);
        continue;
      }
      for (const n of m.addedNodes) {
        if (n.nodeType !== 1) continue;
        raster = true;
        if (n.tagName === 'path' && n.closest('.shapelayer')) shapeDrawn(n, seen, via);
        else if (n.querySelectorAll) for (const p of n.querySelectorAll('.shapelayer path')) shapeDrawn(p, seen, via);
      }
      if (t.closest && t.closest('#grid')) grid = true;
      if (t.id === 'grid' || (t.querySelector && t.querySelector('#grid'))) grid = true;
    }
    if (raster) { checkRaster('scatter'); checkRaster('map'); }
    if (grid) checkGrid();
  };
  const obs = new MutationObserver(muts => handle(muts, 'plotly-ui'));
  obs.observe(document, {subtree: true, childList: true, attributes: true});
  // dcc.Graph draws through window.Plotly: time its calls (synchronous part)
  let P;
  const wrap = v => {
    for (const fn of ['react', 'newPlot', 'relayout', 'restyle', 'update']) {
      const f = v && v[fn];
      if (typeof f !== 'function' || f.__eb) continue;
      const w = function (gd, ...a) {
        const t = now();
        try { return f.call(this, gd, ...a); }
        finally {
          handle(obs.takeRecords(), fn);
          const g = gd && gd.closest ? gd.closest('#scatter-graph, #map-graph') : null;
          E.plotly.push({fn, graph: g ? g.id : String((gd && gd.id) || gd), t, ms: now() - t});
        }
      };
      w.__eb = true;
      v[fn] = w;
    }
  };
  Object.defineProperty(window, 'Plotly', {configurable: true, enumerable: true,
                                           get: () => P, set: v => { P = v; wrap(v); }});
})();
"""


# --------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m eomine.cli serve WS --port <free>`` in its own process, its log in a temporary file.

    (tests/dashboard/_server.py does the same but writes its log beside the workspace, i.e. into the shared
    ``.bench`` folder, which this bench must not touch.)
    """

    def __init__(self, ws: Path, timeout: float = 180):
        self.ws = ws
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile("w+", prefix=f"eomine-serve-{self.port}-", suffix=".log",
                                               delete=False)
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "eomine.cli", "serve", str(ws), "--port", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.time() + timeout
        while True:
            self.check()
            try:
                urllib.request.urlopen(self.url + "/eomine/api/history", timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.time() > deadline:
                    self.stop()
                    raise SystemExit(f"error: the server on {ws} did not answer within {timeout:.0f} s") from None
                time.sleep(0.3)
        self.startup_s = time.perf_counter() - t0

    def check(self, grace: float = 0) -> None:
        """Exit with the server's log tail when it died (waiting up to ``grace`` s for a dying one)."""
        if grace:
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is not None:
            raise SystemExit(f"error: the server (eomine serve {self.ws}) is no longer running (exit code "
                             f"{self.proc.returncode}); its log ends:\n" + self.tail())

    def tail(self, n: int = 30) -> str:
        try:
            return "".join(Path(self.log.name).read_text(errors="replace").splitlines(True)[-n:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


# --------------------------------------------------------------------------- Dash requests
def callback_name(output: str) -> str:
    """Short name of a Dash callback from its request's ``output`` (``..a.b...c.d..`` -> the first component)."""
    first = output.strip(".").split("...")[0]
    comp = first.rsplit(".", 1)[0]
    return {"scatter-graph": "scatter", "map-graph": "map", "grid": "grid"}.get(comp, comp)


def _id_text(cid) -> str:
    return json.dumps(cid, sort_keys=True, separators=(",", ":")) if isinstance(cid, dict) else str(cid)


#: plain render routes of the app (a zoom or pan of the scatter, posted by assets/plots.js) -> the panel
RENDER_ROUTES = {"/eomine/render/scatter": "scatter"}


class RequestLog:
    """Every ``/_dash-update-component`` POST of a page and every POST to a render route
    (:data:`RENDER_ROUTES`), with its timing on the page's clock."""

    def __init__(self, page):
        self.page = page
        self.done: list = []
        self.inflight = 0
        self.changed = time.monotonic()
        page.on("request", self._start)
        page.on("requestfinished", self._end)
        page.on("requestfailed", self._failed)

    @staticmethod
    def _ours(req) -> bool:
        return "/_dash-update-component" in req.url or any(r in req.url for r in RENDER_ROUTES)

    def _start(self, req):
        if self._ours(req):
            self.inflight += 1
            self.changed = time.monotonic()

    def _end(self, req):
        if self._ours(req):
            self.inflight -= 1
            self.changed = time.monotonic()
            self.done.append(req)

    def _failed(self, req):
        if self._ours(req):
            self.inflight -= 1
            self.changed = time.monotonic()
            self.done.append(req)

    def quiet(self, ms: float = 400, timeout: float = 60, server: Server | None = None) -> None:
        """Wait until no callback request has been in flight for ``ms``."""
        deadline = time.monotonic() + timeout
        while not (self.inflight <= 0 and time.monotonic() - self.changed >= ms / 1e3):
            if time.monotonic() > deadline:
                raise TimeoutError(f"callbacks still running after {timeout:.0f} s")
            if server is not None:
                server.check()
            self.page.wait_for_timeout(50)

    def take(self, origin: float, t_from: float = -1e12) -> list[dict]:
        """The finished requests started at or after ``t_from`` (page clock), as dicts; forgets them all."""
        out = []
        for req in self.done:
            try:
                body = json.loads(req.post_data or "{}")
            except ValueError:
                body = {}
            tm = req.timing
            t0 = tm["startTime"] - origin
            rs = t0 + max(tm["requestStart"], 0)
            outs = body.get("outputs") or []
            outs = [outs] if isinstance(outs, dict) else outs
            route = next((name for r, name in RENDER_ROUTES.items() if r in req.url), None)
            rec = {"name": route or callback_name(body.get("output", "")),
                   "trigger": "render route" if route else ",".join(body.get("changedPropIds") or []),
                   "dash": route is None,
                   "outputs": [f"{_id_text(o.get('id'))}.{str(o.get('property')).split('@')[0]}" for o in outs
                               if isinstance(o, dict)],
                   "sent": rs, "ttfb_end": t0 + tm["responseStart"], "end": t0 + tm["responseEnd"], "body": req.post_data,
                   "queued": rs - t0, "failed": req.failure is not None}
            if rec["sent"] < t_from:
                continue
            try:
                s = req.sizes()
                rec["bytes"] = s["responseBodySize"]
            except Exception:  # noqa: BLE001 - a failed request has no sizes
                rec["bytes"] = 0
            resp = req.response() if not rec["failed"] else None
            rec["status"] = resp.status if resp is not None else 0
            out.append(rec)
        self.done = []
        return sorted(out, key=lambda r: r["sent"])


def replay_loads(url: str, reqs: list[dict], n: int, scripts=(), until: str = "scatter") -> list[float]:
    """``n`` page loads at once against the server alone: each virtual user GETs the page, the ``scripts`` (the
    JS bundles a first visit fetches), ``/_dash-layout`` and ``/_dash-dependencies``, then POSTs a real page
    load's callback requests (``reqs``, from :meth:`RequestLog.take`) up to the first render request named
    ``until``, in waves as the browser sent them (requests sent within 30 ms of each other at once), 6
    connections per user like a browser. Returns each user's ms to the end of that render's response."""
    import concurrent.futures as cf

    last, waves = None, []
    for r in reqs[:next(i for i, r in enumerate(reqs) if r["name"] == until) + 1]:
        if not r.get("dash", True):
            continue  # a render route's request (not part of a page load)
        if last is None or r["sent"] - last > 30:
            waves.append([])
        waves[-1].append(r["body"] or "{}")
        last = r["sent"]

    def get(path, body=None):
        rq = urllib.request.Request(path if path.startswith("http") else url + path,
                                    data=body.encode() if body else None, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(rq, timeout=600) as f:
            f.read()

    def user(_):
        t = time.perf_counter()
        get("/")
        with cf.ThreadPoolExecutor(6) as ex:
            list(ex.map(get, [s for s in scripts if s.startswith(url)]))
            list(ex.map(get, ["/_dash-layout", "/_dash-dependencies"]))
            for w in waves:
                list(ex.map(lambda b: get("/_dash-update-component", b), w))
        return (time.perf_counter() - t) * 1e3

    with cf.ThreadPoolExecutor(n) as ex:
        return list(ex.map(user, range(n)))


def union_ms(intervals) -> float:
    """Length of the union of (start, end) intervals."""
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def server_share(reqs: list[dict], exclude=BACKGROUND) -> float:
    """The server's share: union of the requests' request-sent -> first-byte intervals (ms)."""
    return union_ms([(r["sent"], r["ttfb_end"]) for r in reqs if r["name"] not in exclude])


def count_by_name(reqs: list[dict]) -> dict:
    n, b = Counter(), defaultdict(int)
    for r in reqs:
        n[r["name"]] += 1
        b[r["name"]] += r.get("bytes", 0)
    return {k: (n[k], b[k]) for k in n}


def render_request(reqs: list[dict], name: str, seen: float) -> dict | None:
    """The request of callback ``name`` that delivered what the page showed at ``seen``: the last one to end
    before it. A render route's image is on the page a few ms after its response ends, closer than Playwright's
    request timing and the page's clock agree, so those are taken when they end up to 50 ms after ``seen``."""
    done = [q for q in reqs if q["name"] == name and q["end"] <= seen + (1 if q.get("dash", True) else 50)]
    return max(done, key=lambda q: q["end"]) if done else None


def chain(reqs: list[dict], r: dict | None) -> list[dict]:
    """Request ``r`` and, before it, the requests whose outputs triggered it (each hop: the latest earlier
    request, finished before it was sent, that output one of its changed props)."""
    out = []
    while r is not None and len(out) < 12:
        out.append(r)
        trig = set(r["trigger"].split(",")) - {""}
        prev = [q for q in reqs if q is not r and q["end"] <= r["sent"] + 1 and trig & set(q["outputs"])]
        r = max(prev, key=lambda q: q["end"]) if prev else None
    return out[::-1]


def chain_text(hops: list[dict], t0: float) -> str:
    """``trigger -> callback [sent +ms, server ms] -> ...`` relative to the action at ``t0``."""
    if not hops:
        return "-"
    parts = [hops[0]["trigger"].split(",")[0] or "(initial)"]
    for r in hops:
        parts.append(f"{r['name']} [+{r['sent'] - t0:.0f}, {r['ttfb_end'] - r['sent']:.0f} ms]")
    return " -> ".join(parts)


def machine() -> str:
    """CPU model, cores and memory of this machine, in words."""
    import platform

    cpu, mem = platform.processor() or platform.machine(), ""
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
        kb = next(int(ln.split()[1]) for ln in open("/proc/meminfo") if ln.startswith("MemTotal"))
        mem = f", {kb / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{cpu}, {os.cpu_count()} cpus{mem}"


def phases(r: dict | None, t0: float, paint: dict) -> dict | None:
    """Where the time of one panel update went: before the render request was sent (the browser: plotly, Dash,
    earlier callbacks of the chain), the server (to first byte), the download, and after it (the browser:
    JSON, Dash, ``Plotly.react``, decode, paint)."""
    if r is None:
        return None
    return {"before": r["sent"] - t0, "server": r["ttfb_end"] - r["sent"], "download": r["end"] - r["ttfb_end"],
            "after": paint["painted"] - r["end"]}


NAV_JS = """() => {
  const n = performance.getEntriesByType('navigation')[0], res = performance.getEntriesByType('resource');
  const end = s => Math.max(0, ...res.filter(r => r.name.includes(s)).map(r => r.responseEnd));
  const layout = res.find(r => r.name.includes('_dash-layout'));
  return {layout_kib: layout ? layout.decodedBodySize / 1024 : 0, html: n.responseEnd, dom_content_loaded: n.domContentLoadedEventEnd, load_event: n.loadEventEnd,
          plotly_js: end('plotly'), dash_layout: end('_dash-layout'), dash_dependencies: end('_dash-dependencies')};
}"""


# --------------------------------------------------------------------------- report
def stats(res: dict, key: str):
    """(median ms, max ms, median server ms) of a row, or None."""
    if key == "replay":
        v = res.get("replay", {}).get("n") or []
        return (statistics.median(v), max(v), statistics.median(res["replay"]["one"])) if v else None
    if key == "concurrent":
        c = res.get("concurrent", {})
        v = [x if x is not None else math.inf for x in c.get("ms", [])]
        share = [r["server_ms"] for r in c.get("loads", [])]
        return (statistics.median(v), max(v), statistics.median(share) if share else None) if v else None
    src = {"colour_map": "colour", "lasso_all": "lasso"}.get(key, key)
    recs = [r for r in res.get(src, []) if "error" not in r]
    if not recs:
        return None
    if key == "lasso":
        return tuple(statistics.median(r["ms"][p] for r in recs) for p in ("scatter", "map", "grid"))
    panel = {"colour_map": "map", "mapzoom": "map"}.get(key, "scatter")
    v = [max(r["ms"].values()) if key == "lasso_all" else r["ms"] if key.startswith("load") else r["ms"][panel]
         for r in recs]
    return statistics.median(v), max(v), statistics.median(r["server_ms"] for r in recs)


def cell(s, key) -> str:
    if s is None:
        return "-"
    if key == "lasso":
        return " / ".join(f"{v:,.0f}" for v in s)
    text = f"{s[0]:,.0f} / {s[1]:,.0f}"
    if key == "replay":
        return text + f" (one alone: {s[2]:,.0f})"
    return text + (f" ({s[2]:,.0f})" if s[2] is not None else "")


def table(results: dict) -> list[str]:
    cols = [k for k in ("demo", "reben") if k in results]
    head = [f"{'demo' if k == 'demo' else 'reBEN'} ({results[k]['n']:,})" for k in cols]
    lines = ["| action | " + " | ".join(head) + " | target at 549,488 | result |",
             "| --- | " + " | ".join("---:" for _ in cols) + " | --- | --- |"]
    for key, (label, target, on) in ROWS.items():
        if key in ("concurrent", "replay"):
            n = max((len(results[k].get(key, {}).get("ms" if key == "concurrent" else "n", []))
                     for k in cols), default=0)
            label = f"{n} {label}"
        cells = [cell(stats(results[k], key), key) for k in cols]
        verdict = "-"
        s = stats(results["reben"], key) if "reben" in results else None
        if target is not None and s is not None:
            v = s[0] if on == "median" else s[1]
            verdict = "PASS" if v <= target else f"MISS (+{v / target - 1:.0%})"
        tgt = f"≤ {target:,} ms ({on})" if target else "-"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {tgt} | {verdict} |")
    return lines


def _med_phases(recs: list, panel: str | None) -> str:
    ph = [r["phases"][panel] if panel else r["phases"] for r in recs]
    ph = [p for p in ph if p]
    if not ph:
        return "no render request found"
    return ", ".join(f"{k} {statistics.median(p[k] for p in ph):,.0f}" for k in ("before", "server", "download", "after"))


def _trace_lines(what: str, t: dict) -> list[str]:
    if "busy_ms" not in t:
        return [f"  trace of {what}: {t.get('error', 'none')}"]
    out = [f"  trace of {what}: window {t['window_ms']:,.0f} ms, main thread busy {t['busy_ms']:,.0f} ms "
           f"(JS {t['js_ms']:,.0f}, rendering {t['rendering_ms']:,.0f}, GC {t['gc_ms']:,.0f})",
           "    JS self time by script: " + ", ".join(f"{k} {v:,.0f}" for k, v in t["self_by_script"].items()),
           "    script compile + top-level run: " + ", ".join(f"{k} {v:,.0f}" for k, v in
                                                          t["evaluate_by_script"].items())]
    out += [f"    long task at +{x['at_ms']:,.0f} ms: {x['ms']:,.0f} ms; JS " + ", ".join(f"{k} {v}" for k, v in x["js"].items())
            for x in t["long_tasks"] if x["ms"] >= 100]
    out += [f"    {v:6,.0f} ms in {k}" for k, v in sorted(t["buckets"].items(), key=lambda kv: -kv[1])]
    out += ["    top JS self time: " + "; ".join(f"{f['function']} ({f['where']}) {f['ms']:,.0f}"
                                               for f in t["self_frames"][:6])]
    return out


def diagnosis(key: str, res: dict) -> list[str]:
    """The lines that say where each number's time went (see the module docstring)."""
    loads, d = res["load"], res["load_diagnosis"]
    nav = {k: statistics.median(r["nav"][k] for r in loads) for k in loads[0]["nav"]}
    calls = ", ".join(f"{k} {n} ({b / 1024:,.0f} KiB)" if b > 10240 else f"{k} {n}"
                      for k, (n, b) in sorted(d["by_callback"].items(), key=lambda kv: (-kv[1][1], kv[0])))
    out = [f"{key}: page load, medians (ms from navigation start): "
           + ", ".join(f"{k} {v:,.0f}" for k, v in nav.items())
           + f"; first scatter {statistics.median(r['ms'] for r in loads):,.0f} = render request "
           + _med_phases(loads, None),
           "  visit again: nav " + ", ".join(f"{k} {statistics.median(r['nav'][k] for r in res['load_warm']):,.0f}"
                                          for k in nav) + "; first scatter = render request "
           + _med_phases(res["load_warm"], None) if res.get("load_warm") else "",
           "  per load, medians of the first visits: render requests " + ", ".join(
               f"{p} {statistics.median(r['by_callback'].get(p, (0, 0))[0] for r in loads):.0f} "
               f"({statistics.median(r['by_callback'].get(p, (0, 0))[1] for r in loads) / 1024:,.0f} KiB)"
               for p in ("scatter", "map", "grid")) + "; Plotly.react " + ", ".join(
               f"{g} {statistics.median(sum(c[0] == g for c in r.get('plotly_calls', [])) for r in loads):.0f}"
               for g in ("scatter-graph", "map-graph"))
           + f"; basemap draws {statistics.median(r['basemap_draws'] for r in loads):.0f}",
           f"  one load, first 6.5 s: {sum(n for n, _ in d['by_callback'].values())} callback requests: {calls}",
           f"  new rasters {d['paints']}, basemap draws {d['basemap_draws']} {d['basemap_via']}, Plotly.react "
           f"{d['react_ms']:,.0f} ms: " + ", ".join(f"{g} at {t:,} ({ms} ms)" for g, _, t, ms in d["plotly_calls"]),
           "  render requests (sent ms, server ms, KiB, changed props):"]
    out += [f"    {r['name']:<8} {r['sent']:7,.0f} {r['ttfb_end'] - r['sent']:6,.0f} {r.get('bytes', 0) / 1024:6,.0f}"
            f"  {r['trigger'][:100]}" for r in d["requests"] if r["name"] in ("scatter", "map", "grid")]
    out += _trace_lines("that load (to the first scatter)", res.get("load_trace", {}))
    for act in ("zoom", "pan", "colour", "lasso", "mapzoom"):
        recs = [r for r in res.get(act, []) if "error" not in r]
        if not recs:
            continue
        med = sorted(recs, key=lambda r: max(r["ms"].values()))[len(recs) // 2]
        calls = ", ".join(f"{k} {n}" for k, (n, _) in sorted(med["by_callback"].items(), key=lambda kv: -kv[1][0]))
        out.append(f"  {act}: {statistics.median(r['requests'] for r in recs):.0f} requests "
                   f"({statistics.median(r['kib'] for r in recs):,.0f} KiB), basemap draws "
                   f"{statistics.median(r['basemap_draws'] for r in recs):.0f} (median run: {med['basemap_via']}), "
                   f"Plotly.react "
                   f"{statistics.median(r['react_ms'] for r in recs):,.0f} ms; median run: {calls}")
        for p in med["ms"]:
            out.append(f"    {p}: {_med_phases(recs, p)}; chain {med['chains'][p]}")
    out += _trace_lines("one lasso (until every panel painted)", res.get("lasso_trace", {}))
    out += _trace_lines("one map zoom", res.get("trace", {}))
    c = res.get("concurrent", {}).get("loads")
    if c:
        out.append(f"  {len(c)} pages at once, first scatter of each, medians: " + _med_phases(c, None)
                   + f"; server share {statistics.median(r['server_ms'] for r in c):,.0f} ms")
    rl = res.get("relayout_ms", {})
    out.append("  Plotly.relayout (a range change), ms: " + "; ".join(
        f"{k} {statistics.median(v):,.0f} (" + ", ".join(f"{x:.0f}" for x in v) + ")" for k, v in rl.items()))
    return out
