"""The scene view in headless Chromium on the real 29RKH scene workspace: the imagery on load, a click on the
scene focuses a patch, the toggle turns it off."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.realdata]


@pytest.fixture(scope="module")
def scene_server(scene_ws):
    from _server import start_server

    proc, url = start_server(scene_ws)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def scene_page(browser, scene_server):
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    pg = ctx.new_page()
    pg.set_default_timeout(45000)
    pg.console_errors = []
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    yield pg
    ctx.close()


def test_the_scene_view_in_the_browser(scene_page, scene_server):
    page = scene_page
    page.goto(scene_server + "/?color=qa")
    page.wait_for_function("document.querySelector('#map-info') && "
                           "/scene 1,200 m/.test(document.querySelector('#map-info').innerText)", timeout=60000)
    assert page.is_checked("#map-scene input[type=checkbox]")
    src = page.evaluate("document.querySelector('#map-graph .js-plotly-plot').layout.images[0].source")
    assert src.startswith("data:image/webp;base64,")
    # a click in the middle of the scene focuses the patch there
    box = page.locator("#map-graph .nsewdrag").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.wait_for_function("document.querySelector('#detail') && "
                           "/S2A_29RKH_20200219_0_L2A_\\d+_\\d+/.test(document.querySelector('#detail').innerText)",
                           timeout=45000)
    # the toggle turns the scene view off: the map draws its point raster again
    page.click("#map-scene label")
    page.wait_for_function("!/scene/.test(document.querySelector('#map-info').innerText)", timeout=45000)
    # ... and the link keeps it: opened again, the page starts with the scene view off
    page.wait_for_function("/[?&]scene=0/.test(location.search)", timeout=45000)
    page.goto(page.url)
    page.wait_for_function("document.querySelector('#map-info') && /in view/.test("
                           "document.querySelector('#map-info').innerText)", timeout=60000)
    page.wait_for_timeout(1500)
    assert not page.is_checked("#map-scene input[type=checkbox]")
    assert "scene" not in page.inner_text("#map-info")
    assert page.console_errors == []


@pytest.fixture(scope="module")
def multiscale_server(shared_data, tmp_path_factory):
    from _server import start_server

    from mining.datasets import SceneDataset
    from mining.ingest import ingest

    item = shared_data / "scenes" / "s2-l2a-29RKH-20200219-100m" / "S2A_29RKH_20200219_0_L2A.json"
    ws = tmp_path_factory.mktemp("multiscale") / "ws"
    ingest(SceneDataset(item, scales=[4800, 2400]), ws, progress=False)
    proc, url = start_server(ws)
    yield url
    proc.terminate()
    proc.wait(10)


def test_a_box_on_a_multiscale_scene_selects_the_scale_shown(scene_page, multiscale_server):
    page = scene_page
    page.goto(multiscale_server + "/")
    page.wait_for_function("document.querySelector('#map-info') && "
                           "/scene 2,400 m/.test(document.querySelector('#map-info').innerText)", timeout=60000)
    box = page.locator("#map-graph .nsewdrag").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.8, steps=8)
    page.mouse.up()
    page.wait_for_function("/box on the map \\(2,400 m patches\\)/.test("
                           "document.querySelector('#selection-info').innerText)", timeout=45000)
    page.wait_for_function("/sel=map%3A[^&]*%402400/.test(location.search)", timeout=45000)  # the link keeps it
    assert page.console_errors == []
