"""Screenshots of the dashboard for docs/ (run against a served workspace, e.g. the demo).

The whole page at 1366x768, 1440x900 and 1920x1080 (``dashboard_<width>.png``; ``dashboard.png`` is the
1920 one), a lasso with its curation toolbar and an edit's result (``dashboard_lasso.png``), the patch detail,
the grid, the map (by country, and zoomed in to footprints), the History tab and the keyboard help.

Usage: python tools/make_screenshots.py http://127.0.0.1:8050 docs/ [--edit | --label]

``--edit`` signs in as "demo" and commits one small edit (so the lasso and History shots show a result): use
it on a copy of the workspace, never on one whose log matters.

``--label`` makes only the Label tab's shots (``label-tab.png`` at 1920x1080, ``label-tab-1366.png`` at
1366x768), against an unlabelled pool (``eomine ingest ... --drop-labels``) where a few rounds were answered:
it signs in as "demo", starts a round (recorded in ``WS/active/state.json``) and decides a few cards with the
keyboard. Use a copy of the workspace.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

GD = "document.querySelector('#scatter-graph .js-plotly-plot')"
SIZES = [(1366, 768), (1440, 900), (1920, 1080)]


def ready(pg):
    pg.wait_for_function("document.querySelector('#scatter-info') && /in view/.test(document.querySelector("
                         "'#scatter-info').innerText) && document.querySelector('#map-info') && /in view/.test("
                         "document.querySelector('#map-info').innerText)", timeout=120000)
    pg.wait_for_timeout(2500)


def to_screen(pg, x, y):
    """Data coordinates of the scatter -> page pixels (plotly's own axis conversion)."""
    return pg.evaluate(f"""(() => {{ const gd = {GD}; const fl = gd._fullLayout;
        const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
        return [r.left + fl.xaxis.d2p({x}), r.top + fl.yaxis.d2p({y})]; }})()""")


def lasso(pg):
    """A lasso around the densest part of the embedding."""
    cx, cy = pg.evaluate(f"""(() => {{ const gd = {GD}; const x = gd.layout.xaxis.range, y = gd.layout.yaxis.range;
        return [x[0] + 0.42 * (x[1] - x[0]), y[0] + 0.30 * (y[1] - y[0])]; }})()""")
    rx, ry = pg.evaluate(f"(() => {{ const gd = {GD}; return [0.07 * (gd.layout.xaxis.range[1] - "
                         f"gd.layout.xaxis.range[0]), 0.08 * (gd.layout.yaxis.range[1] - gd.layout.yaxis.range[0])]; }})()")
    pts = [to_screen(pg, cx + rx * math.cos(2 * math.pi * k / 30), cy + ry * math.sin(2 * math.pi * k / 30))
           for k in range(31)]
    pg.mouse.move(*pts[0])
    pg.mouse.down()
    for x, y in pts[1:]:
        pg.mouse.move(x, y, steps=3)
    pg.mouse.up()
    pg.wait_for_function("/selected by/.test(document.querySelector('#selection-info').innerText)", timeout=60000)
    pg.wait_for_timeout(3500)


def label_shots(b, base: str, out_dir: Path) -> None:
    """The Label tab at 1920x1080, then (the same page, so the same batch) at 1366x768 scrolled to the tab: the
    scatter by model uncertainty with the labelled patches ringed, a fresh batch with a few cards decided
    (accepted, unsure, removed), one card's patch in the detail panel, the learning curve."""
    pg = b.new_page(viewport={"width": 1920, "height": 1080}, device_scale_factor=1)
    pg.goto(base + "?color=uncertainty")
    ready(pg)
    pg.fill("#curate-author-input", "demo")
    pg.keyboard.press("Enter")
    pg.wait_for_timeout(500)
    pg.locator(".work-tabs .tab", has_text="Label").click()
    pg.wait_for_selector("#label-panel", state="visible")
    pg.click("#label-start")
    pg.wait_for_function("/round \\d+/.test(document.querySelector('#label-counter').innerText)", timeout=120000)
    pg.get_by_text("highlight labelled").click()
    pg.wait_for_timeout(1500)
    pg.evaluate("document.activeElement && document.activeElement.blur()")
    for key in ("Enter", "Enter", "Enter", "u", "Enter", "r", "Enter"):
        pg.keyboard.press(key)
    pg.locator("#label-body .label-pic").nth(6).click()  # the detail panel shows it in every composite
    pg.wait_for_selector("[id*='\"type\":\"neighbour\"']", timeout=60000)
    # the tab whole, with the legend of the scatter above it (the click scrolled the page to the card)
    pg.evaluate("window.scrollBy(0, document.querySelector('.work-tabs-parent').getBoundingClientRect().top - 330)")
    pg.wait_for_timeout(2500)
    pg.screenshot(path=str(out_dir / "label-tab.png"))
    pg.set_viewport_size({"width": 1366, "height": 768})
    pg.wait_for_timeout(2500)
    pg.evaluate("document.querySelector('.work-tabs-parent').scrollIntoView({block: 'start'})")
    pg.wait_for_timeout(1000)
    pg.screenshot(path=str(out_dir / "label-tab-1366.png"))
    pg.close()


def main(base: str, out: str, *flags: str) -> None:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    edit = "--edit" in flags
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium",
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        if "--label" in flags:
            label_shots(b, base, out_dir)
            b.close()
            print(f"screenshots in {out_dir}")
            return
        for w, h in SIZES:
            pg = b.new_page(viewport={"width": w, "height": h}, device_scale_factor=1)
            pg.goto(base)
            ready(pg)
            pg.screenshot(path=str(out_dir / f"dashboard_{w}.png"))
            if w == 1920:
                pg.screenshot(path=str(out_dir / "dashboard.png"))
            pg.close()
        pg = b.new_page(viewport={"width": 1366, "height": 768}, device_scale_factor=1)
        pg.goto(base)
        ready(pg)
        lasso(pg)
        if edit:
            pg.fill("#curate-author-input", "demo")
            pg.keyboard.press("Enter")
            pg.wait_for_timeout(500)
            pg.fill("#curate-note", "screenshot")
            pg.click("button[id*='\"op\":\"flag\"'][id*='\"target\":\"selection\"']")
            pg.wait_for_function("document.querySelector('#curate-message').innerText.includes('Batch')",
                                 timeout=60000)
            pg.wait_for_timeout(2500)
        pg.screenshot(path=str(out_dir / "dashboard_lasso.png"))
        thumb = pg.locator("[id*='\"type\":\"thumb\"']").nth(1)
        thumb.click()
        pg.wait_for_selector("[id*='\"type\":\"neighbour\"']", timeout=60000)
        pg.wait_for_timeout(3500)
        pg.set_viewport_size({"width": 1600, "height": 1200})
        pg.wait_for_timeout(1500)
        pg.locator(".detail-panel").screenshot(path=str(out_dir / "detail.png"))
        pg.locator(".grid-panel").screenshot(path=str(out_dir / "grid.png"))
        pg.get_by_text("History", exact=True).click()
        pg.wait_for_selector(".history-panel .empty, .history-table", timeout=60000)
        pg.wait_for_timeout(1000)
        pg.locator(".history-panel").screenshot(path=str(out_dir / "history.png"))
        pg.evaluate("document.activeElement && document.activeElement.blur()")
        pg.keyboard.press("?")
        pg.wait_for_selector("#help-overlay:not([hidden])")
        pg.locator(".help-box").screenshot(path=str(out_dir / "help.png"))
        pg.keyboard.press("Escape")
        # map zoomed onto one tile: footprints; then the whole map by country
        pg.goto(base + "?color=label&mx=15.9,16.9&my=48.1,48.6")
        ready(pg)
        pg.locator(".map-panel").screenshot(path=str(out_dir / "map_footprints.png"))
        pg.goto(base + "?color=country")
        ready(pg)
        pg.locator(".map-panel").screenshot(path=str(out_dir / "map.png"))
        b.close()
    print(f"screenshots in {out_dir}")


if __name__ == "__main__":
    main(*sys.argv[1:])
