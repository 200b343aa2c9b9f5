"""The dashboard in headless Chromium on a demo workspace, as a curator uses it."""

from __future__ import annotations

import re

import pytest
from _browser import choose, lasso

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
    url = page.url
    xr, detail = _xrange(page, "scatter-graph"), page.inner_text("#detail")

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
