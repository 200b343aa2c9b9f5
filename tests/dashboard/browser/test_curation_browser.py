"""Curation in headless Chromium, each test on its own COPY of the demo workspace with its own server:
lasso a cluster, relabel it, reload, undo, a second session sees it; --read-only has no controls and 403s."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request

import pandas as pd
import pytest
from _browser import choose, lasso, sign_in
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
    sign_in(page, "ana")
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
    page.wait_for_function("document.querySelector('#curate-message').innerText.includes('Undid batch 1')",
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
    sign_in(page, "bo")
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


def _batches(url: str) -> list[dict]:
    return [b for b in _history(url) if b["kind"] == "edit"]


def test_a_double_click_commits_one_batch_and_one_undo_reverts_it(browser, own_server):
    ws, url = own_server()
    ctx, page = _new_page(browser, url)
    _open(page)
    sign_in(page, "ana")
    n_sel = lasso(page, cx=0.45, r=0.25)
    page.wait_for_function(f"document.querySelector('#curate-target-info').innerText.includes('{n_sel:,}')")
    choose(page, "#curate-label", "Urban")
    btn = page.locator(_action("selection", "add")).bounding_box()
    x, y = btn["x"] + btn["width"] / 2, btn["y"] + btn["height"] / 2
    page.mouse.click(x, y)
    page.wait_for_timeout(150)
    page.mouse.click(x, y)  # a second click 150 ms later, as a hurried curator does
    page.wait_for_function("document.querySelector('#curate-message').innerText.includes('Batch 1')",
                           timeout=45000)
    page.wait_for_timeout(1500)  # anything the second click might have sent has landed by now
    assert len(_batches(url)) == 1
    added = _batches(url)[0]["n_events"]
    # the second click either carried the same request id (the log kept one batch) or came after the first
    # was saved (then it had nothing left to add): never a second batch
    assert 0 < added <= n_sel and "Batch 2" not in page.inner_text("#curate-message")
    page.click(_action("log", "undo"))  # one Undo
    page.wait_for_function("document.querySelector('#curate-message').innerText.includes('Undid batch 1')")
    from mining.curation import EditLog

    cur = EditLog(ws, create=False).current_labels()
    assert not cur.changed.any()  # every patch has its catalog labels again
    # Ctrl+Z / Ctrl+Shift+Z work outside text fields: redo, then undo again
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Control+Shift+Z")
    page.wait_for_function("document.querySelector('#curate-message').innerText.includes('Redid batch 1')")
    assert EditLog(ws, create=False).current_labels().changed.sum() == added
    page.keyboard.press("Control+Z")
    page.wait_for_function("document.querySelector('#curate-message').innerText.includes('Undid batch 1')")
    assert not EditLog(ws, create=False).current_labels().changed.any()
    assert page.console_errors == []
    ctx.close()


@pytest.fixture
def big_ws(tmp_path):
    """A 2,500-patch demo workspace without embeddings (the edit needs no layout: a filter selects)."""
    from mining.datasets.demo import DemoDataset
    from mining.ingest import ingest

    out = tmp_path / "big"
    ingest(DemoDataset(n=2500, seed=4), out, progress=False)
    return out


def test_an_edit_of_thousands_asks_first_and_cancel_commits_nothing(browser, big_ws):
    proc, url = start_server(big_ws)
    ctx, page = _new_page(browser, url)
    try:
        dialogs = []

        def answer(d):
            dialogs.append(d.message)
            d.dismiss() if len(dialogs) == 1 else d.accept()

        page.on("dialog", answer)
        page.goto(url + "/")
        page.wait_for_selector("#curate-bar")
        sign_in(page, "ana")
        for split in ("train", "validation", "test"):
            page.check(f"#filter-splits input[value='{split}']")
        page.wait_for_function("document.querySelector('#curate-target-info').innerText.includes('2,500')")
        page.click(_action("selection", "flag"))
        page.wait_for_function("document.querySelector('#curate-message').innerText.includes('Cancelled')")
        assert dialogs and "2,500 patches" in dialogs[0] and "split" in dialogs[0]
        assert not (big_ws / "edits.sqlite").exists() or not _batches(url)
        page.click(_action("selection", "flag"))
        page.wait_for_function("document.querySelector('#curate-message').innerText.includes('Batch 1')")
        assert len(dialogs) == 2 and [b["n_events"] for b in _batches(url)] == [2500]
        assert page.console_errors == []
    finally:
        ctx.close()
        proc.terminate()
        proc.wait(10)


def test_every_curate_control_is_on_screen_at_1366x768(browser, own_server):
    ws, url = own_server()
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    page = ctx.new_page()
    page.set_default_timeout(45000)
    page.base = url
    _open(page)
    assert page.evaluate("window.scrollY") == 0
    controls = ["#curate-label", "#curate-set-labels", "#curate-note", "#curate-message", "#scatter-graph",
                "#curate-author-input"] + [_action(t, op) for t, op in (
                    ("selection", "add"), ("selection", "remove"), ("selection", "set"), ("selection", "flag"),
                    ("selection", "unflag"), ("selection", "exclude"), ("selection", "restore"), ("log", "undo"),
                    ("log", "redo"))]
    for sel in controls:
        b = page.locator(sel).first.bounding_box()
        assert b is not None, sel
        assert b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= 1366 and b["y"] + b["height"] <= 768, \
            (sel, b)
    ctx.close()


def test_patches_without_a_label_are_drawn_counted_and_filterable(browser, own_server):
    ws, url = own_server()
    ctx, page = _new_page(browser, url)
    _open(page)
    ids_ = page.evaluate("Array.from(document.querySelectorAll(" + repr(THUMB) + ")).map(e => JSON.parse(e.id)"
                         ".index).slice(0, 3)")
    r = page.request.post(url + "/eomine/api/edits", data=json.dumps(
        {"author": "ana", "edits": [{"patch_id": p, "op": "set", "labels": []} for p in ids_]}),
        headers={"Content-Type": "application/json"})
    assert r.status == 200
    page.wait_for_function("document.querySelector('#scatter-legend').innerText.includes('(no label) (3)')",
                           timeout=30000)  # the poll brings the edit in; the legend counts the unlabelled
    assert "1,500 patches in view" in page.inner_text("#scatter-info")  # every patch is drawn
    choose(page, "#filter-labels", "(no label)")
    page.wait_for_function("document.querySelector('#grid-info').innerText.includes('3 patches')")
    assert page.console_errors == []
    ctx.close()
