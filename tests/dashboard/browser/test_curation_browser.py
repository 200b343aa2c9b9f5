"""Curation in headless Chromium, each test on its own COPY of the demo workspace with its own server:
lasso a cluster, relabel it, reload, undo, a second session sees it; --read-only has no controls and 403s."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request

import pandas as pd
import pytest
from _browser import choose, lasso
from _server import start_server

pytestmark = pytest.mark.browser

THUMB = "[id*='\"type\":\"thumb\"']"


def _action(target: str, op: str) -> str:
    return f"button[id*='\"op\":\"{op}\"'][id*='\"target\":\"{target}\"']"


@pytest.fixture
def own_server(demo_ws, tmp_path):
    """A copy of the demo workspace served by its own ``eomine serve`` (tests that edit never touch demo_ws)."""
    started = []

    def start(*args):
        ws = tmp_path / f"ws{len(started)}"
        if not ws.exists():
            shutil.copytree(demo_ws, ws, ignore=shutil.ignore_patterns("edits.*"))
        proc, url = start_server(ws, *args)
        started.append(proc)
        return ws, url

    yield start
    for p in started:
        p.terminate()
        p.wait(10)


def _new_page(browser, url: str):
    ctx = browser.new_context(viewport={"width": 1600, "height": 1050})
    pg = ctx.new_page()
    pg.set_default_timeout(45000)
    pg.console_errors = []
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    pg.base = url
    return ctx, pg


def _open(page, query: str = ""):
    page.goto(page.base + "/" + query)
    page.wait_for_selector("#scatter-graph .main-svg", timeout=45000)
    page.wait_for_function("document.querySelector('#scatter-info') && "
                           "/in view/.test(document.querySelector('#scatter-info').innerText)", timeout=45000)
    page.wait_for_timeout(300)


def _detail_labels(page, pid: str) -> list[str]:
    page.wait_for_function(f"document.querySelector('#detail').innerText.includes({pid!r})", timeout=45000)
    return page.eval_on_selector_all("#detail > .chips > .chip:not(.chip-none)", "els => els.map(e => e.title)")


def _history(url: str) -> list[dict]:
    return json.load(urllib.request.urlopen(url + "/eomine/api/history", timeout=30))["batches"]


def test_lasso_relabel_reload_undo_and_a_second_session(browser, own_server):
    ws, url = own_server()
    ctx, page = _new_page(browser, url)
    _open(page)
    page.fill("#curate-author-input", "ana")
    page.click("#curate-author-save")
    page.wait_for_function("document.querySelector('#curate-author-info').innerText.includes('Editing as ana')")
    n_sel = lasso(page, cx=0.45, r=0.2)
    assert 0 < n_sel < 1500
    page.wait_for_function(f"document.querySelector('#curate-target-info').innerText.includes('{n_sel:,}')")
    page.wait_for_function(f"document.querySelector('#grid-info').innerText.includes('{n_sel:,}')")
    pid = re.search(r'"index":"([^"]+)"', page.locator(THUMB).first.get_attribute("id")).group(1)
    choose(page, "#curate-set-labels", "Urban")  # "Urban fabric" in the label-set dropdown
    page.fill("#curate-note", "a town, not fields")
    page.click(_action("selection", "set"))
    page.wait_for_function("document.querySelector('#curate-message').innerText.includes('Batch 1')",
                           timeout=45000)
    assert f"{n_sel:,} patches" in page.inner_text("#curate-message")
    hist = _history(url)
    assert [(b["author"], b["note"], b["n_events"]) for b in hist] == [("ana", "a town, not fields",
                                                                         n_sel)]
    # the grid's label summary follows at once: every selected patch is now "Urban fabric" only
    page.wait_for_function("document.querySelector('.grid-summary').innerText.includes("
                           f"'{n_sel:,}')")

    # reload: the new labels are there (from the log, not from the browser)
    _open(page, f"?patch={pid}")
    assert _detail_labels(page, pid) == ["Urban fabric"]
    assert "edited" in page.inner_text("#detail")
    assert "a town, not fields" in page.text_content("#detail .curate-history")  # the patch's history, with the note

    # a second browser session sees the edit, and later sees the undo without reloading (poll)
    ctx2, other = _new_page(browser, url)
    _open(other, f"?patch={pid}")
    assert _detail_labels(other, pid) == ["Urban fabric"]

    page.click(_action("log", "undo"))
    page.wait_for_function("document.querySelector('#curate-message').innerText.includes('Undo')",
                           timeout=45000)
    cat = pd.read_parquet(ws / "catalog.parquet", columns=["patch_id", "labels"]).set_index("patch_id")
    original = list(cat.loc[pid, "labels"])
    assert original != ["Urban fabric"]
    chips = ("Array.from(document.querySelectorAll('#detail > .chips > .chip')).map(e => e.title).sort().join('|')"
             f" === {'|'.join(sorted(original))!r}")
    page.wait_for_function(chips)
    other.wait_for_function(chips, timeout=30000)  # the other session's poll picked the undo up, no reload
    _open(page, f"?patch={pid}")
    assert sorted(_detail_labels(page, pid)) == sorted(original)
    assert [b["kind"] for b in _history(url)] == ["edit", "undo"]
    assert page.console_errors == [] and other.console_errors == []
    ctx.close()
    ctx2.close()


def test_relabel_the_patch_in_focus_from_the_detail_panel(browser, own_server):
    ws, url = own_server()
    ctx, page = _new_page(browser, url)
    _open(page)
    page.fill("#curate-author-input", "bo")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#curate-author-info').innerText.includes('Editing as bo')")
    page.wait_for_selector(THUMB)
    tile = page.locator(THUMB).nth(2)
    pid = re.search(r'"index":"([^"]+)"', tile.get_attribute("id")).group(1)
    tile.click()
    _detail_labels(page, pid)
    page.click(_action("focus", "flag"))
    page.wait_for_function("document.querySelector('#curate-message').innerText.includes('flagged 1 patch')")
    page.wait_for_function("document.querySelector('#detail').innerText.includes('flagged')")
    assert page.locator(_action("focus", "unflag")).count() == 1  # the button now offers the opposite
    assert _history(url)[0]["n_events"] == 1
    assert page.console_errors == []
    ctx.close()


def test_read_only_has_no_edit_controls_and_refuses_forged_edits(browser, own_server):
    ws, url = own_server("--read-only")
    ctx, page = _new_page(browser, url)
    _open(page)
    page.wait_for_selector(THUMB)
    page.locator(THUMB).first.click()
    page.wait_for_function("document.querySelector('#detail .meta') !== null")
    for sel in ("#curate-author-input", "#curate-note", "[id*='curate-action']", "[id*='curate-focus-labels']"):
        assert page.locator(sel).count() == 0, sel
    pid = re.search(r'"index":"([^"]+)"', page.locator(THUMB).first.get_attribute("id")).group(1)
    r = page.request.post(url + "/eomine/api/edits", data=json.dumps(
        {"author": "mallory", "edits": [{"patch_id": pid, "op": "set", "labels": ["Urban fabric"]}]}),
        headers={"Content-Type": "application/json"})
    assert r.status == 403
    forged = {"output": "..edits-version-store.data...curate-message.children...curate-note.value..",
              "outputs": [], "changedPropIds": [], "state": [],
              "inputs": [{"id": {"type": "curate-action", "target": "focus", "op": "flag"}, "property": "n_clicks",
                          "value": 1}]}
    r = page.request.post(url + "/_dash-update-component", data=json.dumps(forged),
                          headers={"Content-Type": "application/json"})
    assert r.status == 403
    assert not (ws / "edits.sqlite").exists()
    assert page.console_errors == []
    ctx.close()
