"""The dashboard in headless Chromium on a demo workspace, as a curator uses it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from _browser import choose, lasso

from dashboard.urlstate import decode_state

pytestmark = pytest.mark.browser

THUMB = "[id*='\"type\":\"thumb\"']"
NEIGHBOUR = "[id*='\"type\":\"neighbour\"']"


def _open(page, query: str = ""):
    page.goto(page.base + "/" + query)
    page.wait_for_selector("#scatter-graph .main-svg", timeout=45000)
    page.wait_for_function("document.querySelector('#scatter-info') && "
                           "/in view/.test(document.querySelector('#scatter-info').innerText)", timeout=45000)
    page.wait_for_timeout(300)  # the first resize re-renders once more (its spinner lets the mouse through)


def _gd(graph: str) -> str:
    """JS expression of the plotly graph div inside a dcc.Graph (the id sits on a wrapper div)."""
    return f"document.querySelector('#{graph} .js-plotly-plot')"


def _image_source(page, graph: str) -> str:
    return page.evaluate(f"{_gd(graph)}.layout.images[0].source")


def _xrange(page, graph: str) -> list:
    return page.evaluate(f"{_gd(graph)}.layout.xaxis.range")


def _count(text: str) -> int:
    m = re.search(r"([\d,]+) patches", text)
    return int(m.group(1).replace(",", "")) if m else -1


def test_app_loads_without_console_errors(page):
    _open(page)
    assert _image_source(page, "scatter-graph").startswith("data:image/webp;base64,")
    # the map is drawn on page load too (countries and patches in one raster), over its whole plot area
    page.wait_for_function("/in view/.test(document.querySelector('#map-info').innerText)", timeout=45000)
    assert _image_source(page, "map-graph").startswith("data:image/webp;base64,")
    img, xr, yr = page.evaluate(f"""(() => {{ const l = {_gd('map-graph')}._fullLayout;  // ranges as drawn
        return [l.images[0], l.xaxis.range, l.yaxis.range]; }})()""")
    tx, ty = (xr[1] - xr[0]) * 0.01, (yr[1] - yr[0]) * 0.01  # a pixel or two of rounding
    assert img["x"] <= xr[0] + tx and img["x"] + img["sizex"] >= xr[1] - tx
    assert img["y"] >= yr[1] - ty and img["y"] - img["sizey"] <= yr[0] + ty
    page.wait_for_function("document.querySelectorAll(" + repr(THUMB) + ").length > 0", timeout=45000)
    assert page.locator(THUMB).count() == 48
    assert page.console_errors == []


def test_zoom_rerenders_at_the_new_range(page):
    _open(page)
    before_src, before_range = _image_source(page, "scatter-graph"), _xrange(page, "scatter-graph")
    box = page.locator("#scatter-graph .nsewdrag").bounding_box()
    # zoom with the mouse wheel at the plot centre (scrollZoom is on)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -600)
    page.wait_for_function(f"{_gd('scatter-graph')}.layout.images[0].source.length !== {len(before_src)}",
                           timeout=45000)
    after = _xrange(page, "scatter-graph")
    assert after[1] - after[0] < before_range[1] - before_range[0]
    img = page.evaluate(f"{_gd('scatter-graph')}.layout.images[0]")
    assert abs(img["x"] - after[0]) < 1e-6 * max(1, abs(after[0])) + 1e-9  # image drawn for the new range
    assert page.console_errors == []


def test_a_zoom_is_drawn_by_the_render_route_and_a_colour_change_keeps_it(page):
    _open(page)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    box = page.locator("#scatter-graph .nsewdrag").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.6)
    page.mouse.wheel(0, -600)
    # the image follows the axes, drawn by one POST to the render route (not by a Dash callback)
    page.wait_for_function(f"""(() => {{ const gd = {_gd('scatter-graph')}, im = gd.layout.images[0],
        r = gd._fullLayout.xaxis.range; return Math.abs(im.x - r[0]) < 1e-9 * Math.abs(r[1] - r[0]) + 1e-12 &&
        Math.abs(im.x + im.sizex - r[1]) < 1e-6 * (r[1] - r[0]); }})()""", timeout=45000)
    assert any(u.endswith("/eomine/render/scatter") for u in posts)
    # the view reaches the URL (the view store is written after the render; on a loaded machine the wheel's
    # steps may land in several renders, so wait for the link to hold the view the axes settled on)
    page.wait_for_function(f"""(() => {{ const p = new URLSearchParams(location.search).get('sx');
        if (!p) return false; const v = p.split(',').map(Number), r = {_gd('scatter-graph')}._fullLayout.xaxis.range,
        tol = 1e-5 * Math.max(Math.abs(r[0]), Math.abs(r[1]), r[1] - r[0]);
        return Math.abs(v[0] - r[0]) <= tol && Math.abs(v[1] - r[1]) <= tol; }})()""", timeout=45000)
    zoomed = _xrange(page, "scatter-graph")
    assert decode_state(urlsplit(page.url).query)["scatter"]["x"] == pytest.approx(zoomed, rel=1e-5)
    # another colouring is drawn for the zoomed view: the axes stay where the curator put them
    src = _image_source(page, "scatter-graph")
    choose(page, "#color-by", "Split")
    page.wait_for_function(f"{_gd('scatter-graph')}.layout.images[0].source !== {src!r}", timeout=45000)
    page.wait_for_timeout(300)
    assert _xrange(page, "scatter-graph") == pytest.approx(zoomed, rel=1e-9)
    img = page.evaluate(f"{_gd('scatter-graph')}.layout.images[0]")
    assert img["x"] == pytest.approx(zoomed[0], rel=1e-6, abs=1e-9)
    assert page.evaluate(f"{_gd('scatter-graph')}.layout.meta.color") == "split"
    assert page.console_errors == []


def test_a_zoom_during_a_colour_change_ends_with_the_image_of_the_zoomed_view(page):
    # the colour change's render (through Dash) is for the view before the zoom; whichever lands last, the
    # scatter ends showing the new colours over exactly the axes' range
    _open(page)
    src = _image_source(page, "scatter-graph")
    box = page.locator("#scatter-graph .nsewdrag").bounding_box()
    choose(page, "#color-by", "Split")
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.4)
    for _ in range(4):
        page.mouse.wheel(0, -100)
    page.wait_for_function(f"""(() => {{ const gd = {_gd('scatter-graph')}, im = gd.layout.images[0],
        r = gd._fullLayout.xaxis.range, s = gd._fullLayout.yaxis.range, t = 1e-6 * (r[1] - r[0]);
        return im.source !== {src!r} && gd.layout.meta && gd.layout.meta.color === 'split' &&
          Math.abs(im.x - r[0]) < t && Math.abs(im.x + im.sizex - r[1]) < t &&
          Math.abs(im.y - s[1]) < 1e-6 * (s[1] - s[0]); }})()""", timeout=45000)
    page.wait_for_timeout(1000)  # nothing moves it afterwards
    img, xr = page.evaluate(f"[{_gd('scatter-graph')}.layout.images[0], {_gd('scatter-graph')}._fullLayout.xaxis.range]")
    assert img["x"] == pytest.approx(xr[0], abs=1e-6 * (xr[1] - xr[0]))
    assert page.console_errors == []


def test_the_wheel_zooms_the_map_around_the_pointer_and_redraws_it(page):
    _open(page)
    page.wait_for_function("/in view/.test(document.querySelector('#map-info').innerText)", timeout=45000)
    src, before = _image_source(page, "map-graph"), _xrange(page, "map-graph")
    box = page.locator("#map-graph .nsewdrag").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    for _ in range(3):  # three notches in one frame or several: each zooms by plotly's factor
        page.mouse.wheel(0, -100)
    page.wait_for_function(f"{_gd('map-graph')}.layout.images[0].source !== {src!r}", timeout=45000)
    after = _xrange(page, "map-graph")
    assert after[1] - after[0] < 0.8 * (before[1] - before[0])
    # the point under the pointer stays put: a quarter across the plot before and after
    frac = lambda r: (before[0] + 0.25 * (before[1] - before[0]) - r[0]) / (r[1] - r[0])  # noqa: E731
    assert frac(after) == pytest.approx(0.25, abs=0.02)
    assert page.console_errors == []


def test_lasso_selects_points_and_updates_grid_and_map(page):
    _open(page)
    grid_before = page.inner_text("#grid-info")
    n_sel = lasso(page, cx=0.5, r=0.3)
    assert 0 < n_sel < 1500
    page.wait_for_function(f"document.querySelector('#grid-info').innerText !== {grid_before!r}", timeout=45000)
    assert str(f"{n_sel:,}") in page.inner_text("#grid-info")
    page.wait_for_function("/selected/.test(document.querySelector('#map-info').innerText)", timeout=45000)
    assert page.console_errors == []


def test_clicking_a_thumbnail_opens_its_detail_with_neighbours(page):
    _open(page)
    page.wait_for_selector(THUMB, timeout=45000)
    first = page.locator(THUMB).nth(3)
    pid = re.search(r'"index":"([^"]+)"', first.get_attribute("id")).group(1)
    first.click()
    page.wait_for_function(f"document.querySelector('#detail').innerText.includes({pid!r})", timeout=45000)
    page.wait_for_selector(NEIGHBOUR, timeout=45000)
    assert page.locator(NEIGHBOUR).count() == 10
    page.wait_for_function(f"location.search.includes('patch=' + {pid!r})", timeout=45000)  # focus in the URL
    # the focus is highlighted in the scatter (its render can come back after the detail panel's)
    page.wait_for_function(f"{_gd('scatter-graph')}.data[3].x.length === 1", timeout=45000)
    # clicking a neighbour moves there
    nb = page.locator(NEIGHBOUR).first
    nid = re.search(r'"index":"([^"]+)"', nb.get_attribute("id")).group(1)
    nb.click()
    page.wait_for_function(f"document.querySelector('#detail').innerText.includes({nid!r})", timeout=45000)
    assert page.console_errors == []


def test_a_filter_changes_all_three_panels(page):
    _open(page)
    scatter_before = _count(page.inner_text("#scatter-info"))
    page.wait_for_selector(THUMB, timeout=45000)
    grid_before = page.inner_text("#grid-info")
    map_before = page.inner_text("#map-info")
    choose(page, "#filter-labels", "Marine")
    page.wait_for_function(f"document.querySelector('#grid-info').innerText !== {grid_before!r}", timeout=45000)
    page.wait_for_function(f"document.querySelector('#map-info').innerText !== {map_before!r}", timeout=45000)
    page.wait_for_function("(() => { const m = document.querySelector('#scatter-info').innerText"
                           ".match(/([\\d,]+) patches/); return m && parseInt(m[1].replace(/,/g, '')) < "
                           f"{scatter_before}; }})()", timeout=45000)
    page.wait_for_function("location.search.includes('labels=')", timeout=45000)  # the filter is in the URL
    assert page.console_errors == []


def test_a_shared_url_restores_the_view(page, browser):
    _open(page)
    choose(page, "#filter-labels", "Arable")
    page.wait_for_function("location.search.includes('labels=')", timeout=45000)
    box = page.locator("#scatter-graph .nsewdrag").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 3, box["y"] + box["height"] / 3)
    page.mouse.wheel(0, -500)
    page.wait_for_function("location.search.includes('sx=')", timeout=45000)
    page.wait_for_selector(THUMB, timeout=45000)
    page.locator(THUMB).first.click()
    page.wait_for_function("location.search.includes('patch=')", timeout=45000)
    pid = re.search(r"patch=([^&]+)", page.url).group(1)
    page.wait_for_function(f"document.querySelector('#detail').innerText.includes({pid!r})", timeout=45000)
    url, detail = page.url, page.inner_text("#detail")
    # the link's own view (a wheel's later relayout may still be on its way to the first page's layout)
    xr = decode_state(urlsplit(url).query)["scatter"]["x"]

    ctx2 = browser.new_context(viewport={"width": 1600, "height": 1050})
    try:
        _check_restored(ctx2.new_page(), url, xr, detail)
    finally:
        ctx2.close()


def _check_restored(other, url: str, xr: list, detail: str):
    other.set_default_timeout(45000)
    other.goto(url)
    other.wait_for_function("document.querySelector('#detail') && "
                            f"document.querySelector('#detail').innerText.includes({detail.splitlines()[0]!r})",
                            timeout=45000)
    other.wait_for_function(f"{_gd('scatter-graph')} !== null && {_gd('scatter-graph')}.layout !== undefined && "
                            "/in view/.test(document.querySelector('#scatter-info').innerText)", timeout=45000)
    other.wait_for_function(f"Math.abs({_gd('scatter-graph')}.layout.xaxis.range[0] - {xr[0]}) < "
                            f"{abs(xr[1] - xr[0]) * 1e-3}", timeout=45000)
    assert other.evaluate(f"{_gd('scatter-graph')}.layout.xaxis.range") == pytest.approx(xr, rel=1e-4)
    chosen = re.search(r"labels=([^&]+)", url).group(1).replace("+", " ").split("%7C")[0]
    assert chosen.split()[0] in other.inner_text("#filter-labels")  # the filter came back from the URL


def _selection_shapes(page, graph: str) -> int:
    """Selection outlines plotly keeps on a graph (its layout's selections and drawn outline paths)."""
    return page.evaluate(f"""(() => {{ const gd = {_gd(graph)};
        return (gd.layout.selections || []).length + gd.querySelectorAll('.selectionlayer path').length; }})()""")


def test_a_second_lasso_inside_the_first_selects_what_it_encloses(page):
    """A new lasso starting inside the previous selection draws a new one (the old outline is not dragged)."""
    _open(page)
    first = lasso(page, cx=0.45, r=0.3)
    page.wait_for_function(f"document.querySelector('#grid-info').innerText.includes('{first:,}')")
    second = lasso(page, cx=0.45, r=0.1)  # starts well inside the first square
    assert 0 < second < first
    page.wait_for_function(f"document.querySelector('#grid-info').innerText.includes('{second:,} patches')")
    assert page.evaluate(f"({_gd('scatter-graph')}.layout.selections || []).length") == 1
    sel = re.search(r"sel=lasso%3A([^&]+)", page.url).group(1)  # the link holds the new polygon
    xs = [float(p.split("%2C")[0]) for p in sel.split("%3B")]
    view = _xrange(page, "scatter-graph")
    assert max(xs) - min(xs) < 0.5 * (view[1] - view[0])
    assert page.console_errors == []


def test_clear_selection_leaves_no_shape_on_either_panel(page):
    _open(page)
    lasso(page, cx=0.5, r=0.2)
    page.wait_for_function(f"{_gd('scatter-graph')}.querySelectorAll('.selectionlayer path').length > 0")
    page.click("#clear-selection")
    page.wait_for_function("document.querySelector('#selection-info').innerText.startsWith('Lasso or box')")
    page.wait_for_function(f"({_gd('scatter-graph')}.layout.selections || []).length === 0")
    assert _selection_shapes(page, "scatter-graph") == 0
    # a box on the map: its outline stays while it is the selection, and goes with Clear too
    box = page.locator("#map-graph .nsewdrag").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.7, steps=8)
    page.mouse.up()
    page.wait_for_function("/box on the map/.test(document.querySelector('#selection-info').innerText)")
    page.wait_for_function(f"({_gd('map-graph')}.layout.selections || []).length === 1")
    page.wait_for_timeout(1000)  # the renders the box triggered have landed: the outline is still there
    assert _selection_shapes(page, "map-graph") > 0 and _selection_shapes(page, "scatter-graph") == 0
    page.click("#clear-selection")
    page.wait_for_function(f"({_gd('map-graph')}.layout.selections || []).length === 0")
    assert _selection_shapes(page, "map-graph") == 0 and _selection_shapes(page, "scatter-graph") == 0
    page.wait_for_function("!location.search.includes('sel=')")  # the link drops the selection (written after)
    assert page.console_errors == []


def test_find_a_patch_the_help_overlay_and_a_wrong_link(page):
    _open(page)
    pid = page.evaluate("Array.from(document.querySelectorAll(" + repr(THUMB) + ")).map(e => JSON.parse(e.id)"
                        ".index)[3]")
    page.fill("#find-input", pid[-12:])  # a unique end of the id
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.querySelector('#detail').innerText.includes({pid!r})")
    page.wait_for_function(f"decodeURIComponent(location.search).includes('patch={pid}')")  # a link to it
    page.evaluate("document.activeElement.blur()")  # shortcuts are off while typing in a text field
    page.keyboard.press("?")
    page.wait_for_selector("#help-overlay:not([hidden])")
    assert "Ctrl+Z" in page.inner_text("#help-overlay")
    page.keyboard.press("Escape")
    page.wait_for_selector("#help-overlay", state="hidden")
    _open(page, "?patch=NO_SUCH_PATCH_42")
    page.wait_for_function("document.querySelector('#message').innerText.includes('NO_SUCH_PATCH_42')")
    assert "not in this workspace" in page.inner_text("#message")
    assert page.console_errors == []
