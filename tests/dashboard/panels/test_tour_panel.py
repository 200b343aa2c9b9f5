"""Tour mode: plain functions on the demo workspace, the tour in headless Chromium, the exported HTML offline."""

from __future__ import annotations

import re
import shutil

import pytest
from dash import no_update

from dashboard.data import AppData, AppState
from dashboard.panels import tour as T
from dashboard.urlstate import encode_state, keep_other_keys
from mining.errors import DataError


@pytest.fixture(scope="module")
def data(demo_ws) -> AppData:
    return AppData.load(demo_ws, read_only=True)


# --------------------------------------------------------------------------- plain functions
def test_compute_tour_is_reproducible_and_starts_where_asked(data):
    pid = str(data.ids[33])
    a = T.compute_tour(data, {"strategy": "random", "steps": 15, "seed": 2, "start": pid})
    b = T.compute_tour(data, {"strategy": "random", "steps": "15", "seed": "2", "start": pid})
    assert a["ids"] == b["ids"] and a["ids"][0] == pid and len(set(a["ids"])) == 15
    g = T.compute_tour(data, {"strategy": "grand"})
    assert len(g["ids"]) == len(set(g["ids"])) >= 10
    start = T.start_for(data, "class", None, data.classes[0], 5)
    assert data.Y[data.row(start), 0]
    assert T.start_for(data, "selected", pid, None, 0) == pid
    assert T.start_for(data, "selected", None, None, 0) is None


@pytest.mark.parametrize("params, match", [({"strategy": "zigzag"}, "unknown tour strategy"),
                                           ({"steps": 1}, "2 to"), ({"steps": "many"}, "whole numbers"),
                                           ({"strategy": "class"}, "needs a class"),
                                           ({"start": "NOT_A_PATCH"}, "NOT_A_PATCH")])
def test_bad_tour_parameters_give_a_message(data, params, match):
    with pytest.raises(DataError, match=match):
        T.compute_tour(data, params)


def test_tour_url_round_trip_keeps_the_other_keys(data):
    base = encode_state({"color": "country", "selected": str(data.ids[3])})
    p = T.clean_params({"strategy": "class", "label": data.classes[2], "steps": 12, "seed": 9,
                        "start": str(data.ids[4])})
    search = T.search_with_tour(base, p)
    assert search.startswith(base) and "tour=class" in search
    back = T.clean_params(T.params_from_search(search))
    assert back == p
    assert T.params_from_search(base) is None
    assert T.search_with_tour(search, None) == base
    # the view's own URL writer keeps the tour keys it does not own
    assert keep_other_keys(encode_state({"color": "split"}), search) == \
        "?color=split&" + search.split("&", 2)[2]


def test_stop_info_caption_and_path(data):
    tour = T.compute_tour(data, {"strategy": "random", "steps": 10, "seed": 1})
    first, third = T.stop_info(data, tour, 0), T.stop_info(data, tour, 2)
    assert first["step"] == 0 and first["gained"] == [] and first["km"] == 0
    prev = set(T.stop_info(data, tour, 1)["labels"])
    assert set(third["gained"]) == set(third["labels"]) - prev and set(third["lost"]) == prev - set(third["labels"])
    assert third["km_total"] >= third["km"] >= 0
    assert T.stop_info(data, tour, 99)["step"] == 9  # clamped
    px, py, sx, sy = T.path_xy(data, tour, 2, "scatter")
    r = data.row(tour["ids"][2])
    assert len(px) == 10 + sum(tour["jumps"]) and sum(v is not None for v in px) == 10
    assert sx == [pytest.approx(float(data.px[r]), abs=1e-5)]
    # a teleport breaks the walk's line; the grand tour keeps its order as one line
    jumpy = dict(tour, jumps=[False] * 5 + [True] + [False] * 4)
    assert T.path_xy(data, jumpy, 0, "scatter")[0][5] is None
    grand = T.compute_tour(data, {"strategy": "grand"})
    assert None not in T.path_xy(data, grand, 0, "scatter")[0]
    mx, my, mx1, my1 = T.path_xy(data, tour, 2, "map")
    assert mx1 == [pytest.approx(float(data.lon[r]), abs=1e-5)]
    # the patch draws into the slots the composition root gave (where it put the overlays), and nowhere else
    from dashboard.panels import map_panel, scatter

    slots = {"scatter": len(scatter.TRACES), "map": len(map_panel.TRACES)}
    for coords in ("scatter", "map"):
        patch = T.path_patch(data, tour, 2, coords, slots).to_plotly_json()
        i = slots[coords]
        assert {tuple(op["location"][:2]) for op in patch["operations"]} == {("data", i), ("data", i + 1)}
    assert T.path_patch(data, tour, 2, "map", {}) is no_update
    fig = scatter.figure({"x": [0, 1], "y": [0, 1]}, None, overlays=T.overlay_traces()).to_plotly_json()
    assert [t["name"] for t in fig["data"][slots["scatter"]:]] == [T.PATH_TRACE, T.STOP_TRACE]


def _ids_in(component) -> set:
    out = set()
    if getattr(component, "id", None) is not None:
        out.add(component.id)
    kids = getattr(component, "children", None)
    for k in kids if isinstance(kids, list | tuple) else [kids]:
        if k is not None and hasattr(k, "to_plotly_json"):
            out |= _ids_in(k)
    return out


def test_leaving_the_presentation_view_is_idempotent():
    # Esc in real full screen sends a keydown and a fullscreenchange: both must end "off", never re-enter
    assert T.presenting_after("tour-present", "tour-player") is True
    assert T.presenting_after("tour-present", "tour-player tour-presenting") is False
    assert T.presenting_after("tour-leave", "tour-player tour-presenting") is False
    assert T.presenting_after("tour-leave", "tour-player") is False


def test_a_timer_tick_never_restarts_a_paused_tour():
    from dash import no_update

    # mid-tour tick: advance, leave the timer's state alone (Pause may have landed meanwhile)
    assert T.step_after("tour-timer", 2, 8) == (3, no_update)
    assert T.step_after("tour-timer", 6, 8) == (7, True)   # reaching the last stop stops playing
    assert T.step_after("tour-timer", 7, 8) == (no_update, True)
    assert T.step_after("tour-prev", 0, 8) == (0, True) and T.step_after("tour-next", 7, 8) == (7, True)


def test_edit_controls_only_when_not_read_only(data, demo_ws, tmp_path):
    from dashboard import ids

    assert ids.TOUR_FLAG not in _ids_in(T.layout(data)) and ids.TOUR_GO in _ids_in(T.layout(data))
    shutil.copytree(demo_ws, tmp_path / "ws")  # a writable app opens (creates) the edit log: not in the shared one
    rw = AppData.load(tmp_path / "ws")
    assert {ids.TOUR_FLAG, ids.TOUR_SET, ids.TOUR_EDIT_LABELS} <= _ids_in(T.layout(rw))


def test_edits_are_refused_read_only_and_need_an_author(data, demo_ws, tmp_path):
    pid = str(data.ids[0])
    msg, version = T.commit_edit(AppState(data), pid, "flag", None, "ana")
    assert version is None and "Read-only" in msg
    copy = tmp_path / "ws"
    shutil.copytree(demo_ws, copy)
    state = AppState.load(copy)
    msg, version = T.commit_edit(state, pid, "flag", None, None)
    assert version is None and "name" in msg
    msg, version = T.commit_edit(state, pid, "flag", None, "ana")
    assert version == 1, msg
    msg, version = T.commit_edit(state, pid, "set", ["Arable land", "Pastures"], "ana")
    assert version == 2, msg
    rw = state.current
    cur = rw.edits.current_labels()
    assert cur.flagged[rw.row(pid)] and cur.labels_of(pid) == ["Arable land", "Pastures"]
    assert rw.labels_of(rw.row(pid)) == ["Arable land", "Pastures"]  # the app's labels follow
    assert rw.labels.flagged[rw.row(pid)] and rw.labels.version == 2
    batches = rw.edits.batches()
    assert (batches["source"] == "tour").all() and (batches["author"] == "ana").all()


# --------------------------------------------------------------------------- browser
def _gd(graph: str) -> str:
    return f"document.querySelector('#{graph} .js-plotly-plot')"


def _stop_xy(page, graph: str):
    return page.evaluate(f"(() => {{ const t = {_gd(graph)}.data.find(t => t.name === 'tour-stop');"
                         " return t && t.x.length ? [t.x[0], t.y[0]] : null; })()")


def _path_len(page, graph: str) -> int:
    """Stops on the drawn path (nulls separate the segments between teleports)."""
    return page.evaluate(f"(() => {{ const t = {_gd(graph)}.data.find(t => t.name === 'tour-path');"
                         " return t ? t.x.filter(v => v !== null).length : -1; })()")


def _open(page, query: str = ""):
    page.goto(page.base + "/" + query)
    page.wait_for_selector("#scatter-graph .main-svg", timeout=45000)
    page.wait_for_function("document.querySelector('#scatter-info') && "
                           "/in view/.test(document.querySelector('#scatter-info').innerText)", timeout=45000)


def _where(page) -> str:
    return page.inner_text("#tour-where")


def _walk_ids(page, n: int) -> list[str]:
    """The ids of the first n stops, stepping with the keyboard's right arrow."""
    out = [page.inner_text(".tour-id")]
    for i in range(2, n + 1):
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"document.querySelector('#tour-where') && "
                               f"document.querySelector('#tour-where').innerText.startsWith('Stop {i} of')")
        out.append(page.inner_text(".tour-id"))
    return out


@pytest.mark.browser
def test_tour_plays_moves_the_highlight_and_the_url_replays_it(page, browser):
    _open(page)
    page.get_by_text("Tour", exact=True).click()
    page.locator("#tour-strategy").click()
    page.get_by_text("Class borders", exact=True).click()
    page.locator("#tour-start-mode").get_by_text("random").click()
    page.fill("#tour-steps", "8")
    page.fill("#tour-seed", "3")
    page.click("#tour-go")
    page.wait_for_function("document.querySelector('#tour-where') && "
                           "document.querySelector('#tour-where').innerText.startsWith('Stop 1 of 8')")
    page.wait_for_function("(i => i && i.complete && i.naturalWidth > 0)(document.querySelector('#tour-img'))")
    page.wait_for_function(f"(() => {{ const t = {_gd('map-graph')}.data.find(t => t.name === 'tour-stop');"
                           " return t && t.x.length === 1; })()")
    s0, m0 = _stop_xy(page, "scatter-graph"), _stop_xy(page, "map-graph")
    assert s0 is not None and m0 is not None
    assert _path_len(page, "scatter-graph") == 8 and _path_len(page, "map-graph") == 8
    # play: the stop advances by itself and the highlighted point moves on both figures
    page.click("#tour-play")
    page.wait_for_function("document.querySelector('#tour-where').innerText.startsWith('Stop 2 of 8')",
                           timeout=30000)
    page.click("#tour-play")  # pause (a loaded machine may have played on a stop or two before it landed)
    page.wait_for_function("document.querySelector('#tour-play').innerText.includes('Play')")
    page.wait_for_function(f"(() => {{ const t = {_gd('scatter-graph')}.data.find(t => t.name === 'tour-stop');"
                           f" return t.x[0] !== {s0[0]}; }})()")
    assert _stop_xy(page, "scatter-graph") != s0 and _stop_xy(page, "map-graph") != m0
    # paused means paused: the stop stays put
    where = _where(page)
    page.wait_for_timeout(2500)  # longer than one tick of the default speed
    assert _where(page) == where
    # zooming the scatter re-renders its raster (its new range reaches the URL); the path stays on the figure
    x0 = round(s0[0] - 3, 3)
    page.evaluate(f"Plotly.relayout({_gd('scatter-graph')}, {{'xaxis.range': [{x0}, {s0[0] + 3}],"
                  f" 'yaxis.range': [{s0[1] - 3}, {s0[1] + 3}]}})")
    page.wait_for_function(f"(() => {{ const m = location.search.match(/sx=([-0-9.]+)/);"
                           f" return m && Math.abs(parseFloat(m[1]) - {x0}) < 0.01; }})()")
    page.wait_for_function(f"(() => {{ const t = {_gd('scatter-graph')}.data.find(t => t.name === 'tour-path');"
                           " return t && t.x.filter(v => v !== null).length === 8; })()")
    # the URL holds the tour: a second browser replays the same stops
    page.wait_for_function("location.search.includes('tour=boundary')")
    url = page.url
    assert "tseed=3" in url and "tsteps=8" in url
    stop = int(re.match(r"Stop (\d+) of", _where(page)).group(1))
    for i in range(stop - 1, 0, -1):
        page.click("#tour-prev")
        page.wait_for_function(f"document.querySelector('#tour-where').innerText.startsWith('Stop {i} of 8')")
    ids_a = _walk_ids(page, 8)
    ctx2 = browser.new_context(viewport={"width": 1600, "height": 1050})
    p2 = ctx2.new_page()
    p2.set_default_timeout(45000)
    p2.base = page.base
    p2.goto(url)
    p2.wait_for_function("document.querySelector('#tour-where') && "
                         "document.querySelector('#tour-where').innerText.startsWith('Stop 1 of 8')")
    ids_b = _walk_ids(p2, 8)
    ctx2.close()
    assert ids_a == ids_b and len(set(ids_a)) == 8
    # presentation view covers the window; Esc leaves it
    page.click("#tour-present")
    page.wait_for_function("document.querySelector('#tour-player').classList.contains('tour-presenting')")
    box = page.locator("#tour-player").bounding_box()
    assert box["width"] >= 1500 and box["height"] >= 1000
    page.keyboard.press("Escape")
    page.wait_for_function("!document.querySelector('#tour-player').classList.contains('tour-presenting')")
    page.wait_for_timeout(1000)  # Esc may also end real full screen: that must not toggle the view back on
    assert not page.evaluate("document.querySelector('#tour-player').classList.contains('tour-presenting')")
    assert page.console_errors == []


@pytest.mark.browser
def test_exported_tour_plays_offline_from_a_file(browser, demo_ws, tmp_path):
    from click.testing import CliRunner

    from eomine.cli import main

    out = tmp_path / "tour.html"
    res = CliRunner().invoke(main, ["tour", str(demo_ws), "--strategy", "grand", "--export", str(out),
                                    "--interval", "0.5", "--size", "128"])
    assert res.exit_code == 0, res.output
    ctx = browser.new_context(viewport={"width": 1400, "height": 860}, offline=True)
    asked = []

    def block(route):
        asked.append(route.request.url)
        route.abort()

    ctx.route(re.compile(r"^(https?|wss?)://"), block)
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.goto(out.as_uri())
    pg.wait_for_selector("body[data-ready='1']")
    n = int(pg.get_attribute("#slider", "max"))
    assert n >= 10
    assert pg.evaluate("document.getElementById('img').naturalWidth") == 128  # the inlined PNG decoded
    cur = "document.querySelector('#scatter .current').getAttribute('cx')"
    cx0 = pg.evaluate(cur)
    pg.click("#play")
    pg.wait_for_function("document.body.dataset.step === '3'", timeout=20000)
    pg.click("#play")
    pg.wait_for_function("document.body.dataset.playing === '0'")
    assert pg.evaluate(cur) != cx0
    assert pg.evaluate("document.querySelector('#map .current').getAttribute('cx')") is not None
    pg.keyboard.press("ArrowLeft")
    step = int(pg.evaluate("document.body.dataset.step"))
    pg.keyboard.press("ArrowRight")
    assert int(pg.evaluate("document.body.dataset.step")) == step + 1
    assert asked == [] and errors == []
    ctx.close()
