"""The Label tab in headless Chromium, on its own copy of an unlabelled demo pool: label the check set and two
batches with the keyboard, see the learning curve and the scatter (coloured by labelled) update, highlight the
labelled patches, and Ctrl+Z take the last batch back."""

from __future__ import annotations

import shutil

import pytest
from _browser import choose, sign_in
from _server import start_server

pytestmark = pytest.mark.browser

CURVE = "document.querySelector('#label-curve .js-plotly-plot')"
SCATTER = "document.querySelector('#scatter-graph .js-plotly-plot')"


@pytest.fixture
def pool_server(pool_ws, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(pool_ws, ws, ignore=shutil.ignore_patterns("edits.*", "active"))
    proc, url = start_server(ws)
    yield url
    proc.terminate()
    proc.wait(10)


def _counter(page, text: str) -> None:
    try:
        page.wait_for_function(f"document.querySelector('#label-counter').innerText.includes({text!r})",
                               timeout=20000)
    except Exception:
        raise AssertionError(f"counter: {page.inner_text('#label-counter')!r}, message: "
                             f"{page.inner_text('#label-message')!r}, expected {text!r}") from None


def _keys(page, keys: str) -> None:
    for k in keys:
        page.keyboard.press("Enter" if k == "\n" else k)


def test_label_two_batches_with_the_keyboard(browser, pool_server):
    ctx = browser.new_context(viewport={"width": 1600, "height": 1050})
    page = ctx.new_page()
    page.set_default_timeout(45000)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(pool_server + "/")
    page.wait_for_function("document.querySelector('#scatter-info') && "
                           "/in view/.test(document.querySelector('#scatter-info').innerText)")
    sign_in(page, "ana")
    choose(page, "#color-by", "Labelled")
    page.locator(".work-tabs .tab", has_text="Label").click()
    page.wait_for_selector("#label-panel", state="visible")
    page.fill("#label-size", "8")
    page.keyboard.press("Tab")

    # the check set (round 0): nothing to pre-fill yet, so a number key gives each card its class
    page.click("#label-check")
    page.wait_for_function("document.querySelectorAll('#label-body .label-card').length === 8")
    _counter(page, "check set: 0 of 8")
    page.locator("#label-body").click(position={"x": 2, "y": 2})  # the page, not a text field, has the focus
    _keys(page, "33333333")
    _counter(page, "8 of 8 labelled")
    page.click("#label-submit")
    page.wait_for_function("/Batch 1 \\(check set\\)/.test(document.querySelector('#label-message').innerText)")

    # round 1: a model without labels pre-fills nothing; a number sets the class, u / r mark the card
    page.click("#label-start")
    _counter(page, "round 1")
    _keys(page, "\n")  # nothing to accept: the focus stays
    _counter(page, "0 of 8 labelled")
    _keys(page, "12345")
    page.keyboard.press("ArrowLeft")   # back to card 5 ...
    page.keyboard.press("ArrowRight")  # ... and on to card 6
    _keys(page, "2ur")
    _counter(page, "6 of 8 labelled · 1 unsure · 1 removed")
    assert "is-unsure" in page.get_attribute("#label-body .label-card:nth-child(7)", "class")
    page.click("#label-submit")
    _counter(page, "round 2")
    page.wait_for_function("document.querySelector('#label-given').innerText === '6'")
    page.wait_for_function("document.querySelector('#scatter-legend').innerText"
                           ".includes('labelled by a curator (14)')")  # the check set's 8 too
    page.wait_for_function(f"{CURVE} && {CURVE}.data.length > 1 && {CURVE}.data[1].x.length === 2")  # rounds 1 and 2

    # round 2: the model's labels are pre-filled; Enter accepts every card
    page.locator("#label-body").click(position={"x": 2, "y": 2})
    _keys(page, "\n" * 8)
    _counter(page, "8 of 8 labelled")
    page.click("#label-submit")
    _counter(page, "round 3")
    page.wait_for_function("document.querySelector('#label-given').innerText === '14'")
    page.wait_for_function(f"{CURVE}.data[1].x.length === 3")
    page.wait_for_function("document.querySelector('#scatter-legend').innerText"
                           ".includes('labelled by a curator (22)')")  # the check set's 8 too
    assert "Predictions changed on" in page.inner_text("#label-signal")

    # highlight labelled rings them on the scatter
    page.get_by_text("highlight labelled").click()
    page.wait_for_function(f"{SCATTER}.data.some(t => t.name === 'labelled' && t.x.length === 22)")

    # Ctrl+Z takes the latest batch back: the tab's count follows
    page.locator("#label-body").click(position={"x": 2, "y": 2})
    page.keyboard.press("Control+z")
    page.wait_for_function("document.querySelector('#label-given').innerText === '6'")
    assert not errors, errors
    ctx.close()
