"""Screenshots of the dashboard for docs/ (run against a served workspace, e.g. the demo).

Usage: python tools/make_screenshots.py http://127.0.0.1:8050 docs/
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

GD = "document.querySelector('#scatter-graph .js-plotly-plot')"


def ready(pg):
    pg.wait_for_function("document.querySelector('#scatter-info') && /in view/.test(document.querySelector("
                         "'#scatter-info').innerText) && document.querySelector('#map-info') && /in view/.test("
                         "document.querySelector('#map-info').innerText)", timeout=60000)
    pg.wait_for_timeout(2500)


def to_screen(pg, x, y):
    """Data coordinates of the scatter -> page pixels (plotly's own axis conversion)."""
    return pg.evaluate(f"""(() => {{ const gd = {GD}; const fl = gd._fullLayout;
        const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
        return [r.left + fl.xaxis.d2p({x}), r.top + fl.yaxis.d2p({y})]; }})()""")


def main(base: str, out: str) -> None:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium",
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        pg = b.new_page(viewport={"width": 1600, "height": 1000}, device_scale_factor=1)
        pg.goto(base)
        ready(pg)
        pg.screenshot(path=str(out_dir / "dashboard.png"))
        # lasso around the densest part of the embedding
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
        pg.wait_for_function("/selected by/.test(document.querySelector('#selection-info').innerText)", timeout=30000)
        pg.wait_for_timeout(3500)
        pg.screenshot(path=str(out_dir / "dashboard_lasso.png"), full_page=True)
        thumb = pg.locator("[id*='\"type\":\"thumb\"']").nth(1)
        thumb.click()
        pg.wait_for_selector("[id*='\"type\":\"neighbour\"']", timeout=30000)
        pg.wait_for_timeout(3500)
        pg.locator(".detail-panel").screenshot(path=str(out_dir / "detail.png"))
        pg.locator(".grid-panel").screenshot(path=str(out_dir / "grid.png"))
        # map zoomed onto one tile: footprints
        pg.goto(base + "?color=label&mx=15.9,16.9&my=48.1,48.6")
        ready(pg)
        pg.locator(".map-panel").screenshot(path=str(out_dir / "map_footprints.png"))
        pg.goto(base + "?color=country")
        ready(pg)
        pg.locator(".map-panel").screenshot(path=str(out_dir / "map.png"))
        b.close()
    print(f"screenshots in {out_dir}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
