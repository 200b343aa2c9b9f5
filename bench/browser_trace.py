"""Chrome-trace summaries of bench/browser.py: where the renderer's main thread spent a window of a trace
(JS self time by script and function, rendering, GC, long tasks, plotly's named phases), and the cost of one
synchronous ``Plotly.relayout`` of each graph.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter

TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "blink.user_timing", "v8.execute",
                    "disabled-by-default-v8.cpu_profiler", "toplevel"]
_GENERIC = {"RunTask", "ThreadControllerImpl::RunTask", "RunMicrotasks", "BlinkScheduler_PerformMicrotaskCheckpoint",
            "SimpleWatcher::OnHandleReady", "Receive mojo message", "V8.HandleInterrupts", "V8.StackGuard",
            "V8.BytecodeBudgetInterrupt", "V8.BytecodeBudgetInterruptWithStackCheck", "UpdateCounters"}
RENDERING = {"Layout", "UpdateLayoutTree", "Paint", "PrePaint", "Layerize", "Commit", "HitTest", "UpdateLayer",
             "IntersectionObserverController::computeIntersections"}
#: (label, test on (function name, source text at the frame)) for the buckets of main-thread JS
BUCKETS = [
    ("plotly shapes: path -> pixels (tc.getPathString)", lambda n, src: n.endswith("getPathString")),
    ("plotly shapes: autorange extents", lambda n, src: "filterVisible(" in src[:120] and ".shapes)" in src[:120]),
    ("plotly full replot (Pu.layoutReplot)", lambda n, src: n.endswith("layoutReplot")),
    ("plotly draw traces (Pu.drawData)", lambda n, src: n.endswith("drawData")),
]


def _frame_key(cf: dict) -> tuple:
    return cf.get("functionName") or "(anonymous)", cf.get("url", ""), cf.get("lineNumber"), cf.get("columnNumber")


def trace_summary(raw: bytes, mark: str, end_mark: str, source) -> dict:
    """Where the renderer's main thread spent a window of a Chrome trace (``browser.start_tracing``).

    The window runs from the ``performance.mark`` named ``mark`` to ``end_mark`` on the thread that made them.
    ``source(url)`` returns a script's text (to label minified frames). Returns busy time (top-level tasks),
    the long tasks (> 50 ms) and what they held, rendering and GC time, and the JS time per bucket and per
    frame (inclusive) from the sampling profiler.
    """
    doc = json.loads(raw)
    ev = doc["traceEvents"] if isinstance(doc, dict) else doc
    marks = {e["name"]: e for e in ev if e.get("name") in (mark, end_mark) and e.get("ph") in ("I", "R", "n", "b")}
    if mark not in marks or end_mark not in marks:
        return {"error": "marks not in the trace"}
    pid, tid, t0, t1 = marks[mark]["pid"], marks[mark]["tid"], marks[mark]["ts"], marks[end_mark]["ts"]
    xs = sorted((e for e in ev if e.get("pid") == pid and e.get("tid") == tid and e.get("ph") == "X"
                 and "dur" in e and t0 <= e["ts"] <= t1), key=lambda e: (e["ts"], -e["dur"]))
    tops, end = [], -1.0  # the top-level tasks: events not nested in an earlier one
    for e in xs:
        if e["ts"] >= end:
            tops.append(e)
            end = e["ts"] + e["dur"]
    long_tasks = []
    for e in tops:
        if e["dur"] >= 50_000:
            inner = Counter()
            for k in xs:
                if k is not e and e["ts"] <= k["ts"] and k["ts"] + k["dur"] <= e["ts"] + e["dur"] and \
                        k["name"] not in _GENERIC and not k["name"].startswith("V8.GC_"):
                    inner[k["name"]] += k["dur"]
            long_tasks.append({"at_ms": (e["ts"] - t0) / 1e3, "ms": e["dur"] / 1e3, "ts": e["ts"], "dur": e["dur"],
                               "holds": {k: round(v / 1e3) for k, v in inner.most_common(4)}})
    evaluate = Counter()  # compiling and running scripts' top-level code
    for e in xs:
        if e["name"] in ("EvaluateScript", "v8.compile", "v8.compileModule"):
            evaluate[_script(((e.get("args") or {}).get("data") or {}).get("url", "")) or "?"] += e["dur"] / 1e3
    rendering = sum(e["dur"] for e in xs if e["name"] in RENDERING) / 1e3
    gc = sum(e["dur"] for e in xs if e["name"] in ("MinorGC", "MajorGC")) / 1e3
    # the sampling profiler: samples of this pid inside the window
    nodes, samples, tcur = {}, [], None
    for e in sorted((e for e in ev if e.get("pid") == pid and e.get("name") in ("Profile", "ProfileChunk")),
                    key=lambda e: e["ts"]):
        data = e["args"]["data"]
        if e["name"] == "Profile":
            tcur = data.get("startTime", e["ts"])
            continue
        cp = data.get("cpuProfile", {})
        for n in cp.get("nodes", []):
            nodes[n["id"]] = n
        for s, dt in zip(cp.get("samples", []), data.get("timeDeltas", []), strict=False):
            tcur = (tcur or e["ts"]) + dt
            samples.append((tcur, s))
    samples = [s for s in samples if t0 <= s[0] <= t1]
    incl, buckets, scripts, selfs, js, per = Counter(), Counter(), Counter(), Counter(), 0.0, []
    texts: dict = {}

    def snippet(key):
        name, url, line, col = key
        if url and line is not None and url not in texts:
            try:
                texts[url] = source(url).split("\n")
            except Exception:  # noqa: BLE001 - labels only
                texts[url] = []
        lines = texts.get(url) or []
        return lines[line][col:col + 160] if line is not None and line < len(lines) else ""

    for (t, s), nxt in zip(samples, samples[1:] + [(t1, None)], strict=True):
        dt = (nxt[0] - t) / 1e3
        node = nodes.get(s)
        if node is None or node["callFrame"].get("functionName") in ("(idle)", "(program)", "(root)"):
            continue
        js += dt
        url = node["callFrame"].get("url", "")
        where = _script(url) if url else node["callFrame"].get("functionName") or "(native)"
        scripts[where] += dt
        selfs[_frame_key(node["callFrame"])] += dt
        seen, hit = set(), set()
        while node is not None:
            key = _frame_key(node["callFrame"])
            if key not in seen and key[0] not in ("(root)",):
                seen.add(key)
                incl[key] += dt
            node = nodes.get(node.get("parent"))
        for key in seen:
            for label, test in BUCKETS:
                if label not in hit and key[1] and test(key[0], snippet(key)):
                    hit.add(label)
                    buckets[label] += dt
        per.append((t, dt, where, hit))
    for task in long_tasks:  # what each long task ran: JS per script, and the buckets
        inside = [p for p in per if task["ts"] <= p[0] <= task["ts"] + task["dur"]]
        by = Counter()
        for _, dt, where, hit in inside:
            by[where] += dt
            for label in hit:
                by[label] += dt
        task["js"] = {k: round(v) for k, v in by.most_common(5)}
        del task["ts"], task["dur"]
    frames = [{"function": k[0], "where": f"{_script(k[1])}:{k[2]}:{k[3]}",
               "ms": round(v, 1), "source": snippet(k)[:70]} for k, v in incl.most_common(14) if k[1]]
    return {"window_ms": (t1 - t0) / 1e3, "busy_ms": sum(e["dur"] for e in tops) / 1e3, "js_ms": round(js, 1),
            "rendering_ms": round(rendering, 1), "gc_ms": round(gc, 1), "long_tasks": long_tasks,
            "buckets": {k: round(v, 1) for k, v in buckets.items()}, "frames": frames,
            "self_by_script": {k: round(v, 1) for k, v in scripts.most_common(8)},
            "evaluate_by_script": {k: round(v, 1) for k, v in evaluate.most_common(5)},
            "self_frames": [{"function": k[0], "where": f"{_script(k[1])}:{k[2]}:{k[3]}", "ms": round(v, 1),
                             "source": snippet(k)[:70]} for k, v in selfs.most_common(10)]}


def _script(url: str) -> str:
    """``plotly.min.js`` from a served script URL (Dash's cache-busting suffixes dropped)."""
    import re

    name = url.rsplit("/", 1)[-1].split("?")[0]
    return re.sub(r"\.v\d[\w]*m\d+", "", name)


_SOURCES: dict = {}


def source(url: str) -> str:
    """The text of a script the page loaded (cached), to label the frames of a trace."""
    if url not in _SOURCES:
        _SOURCES[url] = urllib.request.urlopen(url, timeout=30).read().decode("utf-8", "replace")
    return _SOURCES[url]


RELAYOUT_JS = """async ([graph, drop]) => {
  const gd = document.querySelector('#' + graph + ' .js-plotly-plot');
  if (drop) await Plotly.relayout(gd, {shapes: []});
  const [x0, x1] = gd._fullLayout.xaxis.range, [y0, y1] = gd._fullLayout.yaxis.range, out = [];
  for (let i = 0; i < 6; i++) {
    const f = i % 2 ? 1 / 0.9 : 0.9, cx = (x0 + x1) / 2, cy = (y0 + y1) / 2, w = (x1 - x0) / 2, h = (y1 - y0) / 2;
    const t = performance.now();
    Plotly.relayout(gd, {'xaxis.range': [cx - w * f, cx + w * f], 'yaxis.range': [cy - h * f, cy + h * f]});
    out.push(performance.now() - t);
    await new Promise(r => setTimeout(r, 400));
  }
  return out;
}"""


def relayout_costs(tab) -> dict:
    """Synchronous ``Plotly.relayout`` (a range change) of the scatter, the map, and the map without basemap."""
    out = {}
    for key, graph, drop in (("scatter", "scatter-graph", False), ("map", "map-graph", False),
                             ("map without basemap", "map-graph", True)):
        tab.settle()
        out[key] = tab.page.evaluate(RELAYOUT_JS, [graph, drop])
    tab.settle()
    return out
