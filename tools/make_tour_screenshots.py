"""Screenshots of the tour for docs/: the Tour tab with the path on the scatter and the map, the presentation
view, and an exported HTML player opened from a file.

Usage: python tools/make_tour_screenshots.py http://127.0.0.1:8050 WS docs/
(WS: the workspace the server serves; the exported player is written to a temporary folder.)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

WHERE = "document.querySelector('#tour-where')"


def ready(pg):
    pg.wait_for_function("document.querySelector('#scatter-info') && /in view/.test(document.querySelector("
                         "'#scatter-info').innerText) && document.querySelector('#map-info') && /in view/.test("
                         "document.querySelector('#map-info').innerText)", timeout=60000)
    pg.wait_for_timeout(1500)


def at_stop(pg, i: int, n: int):
    pg.wait_for_function(f"{WHERE} && {WHERE}.innerText.startsWith('Stop {i} of {n}')", timeout=60000)
    pg.wait_for_function("document.querySelector('#tour-img') === null || document.querySelector('#tour-img')"
                         ".complete", timeout=60000)
    pg.wait_for_timeout(1200)


def main(base: str, ws: str, out: str) -> None:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium",
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        pg = b.new_page(viewport={"width": 1600, "height": 1240}, device_scale_factor=1)
        pg.goto(base + "/?tour=random&tsteps=40&tseed=6")  # a link with a tour replays it
        ready(pg)
        at_stop(pg, 1, 40)
        for i in range(2, 17):
            pg.click("#tour-next")
            at_stop(pg, i, 40)
        pg.evaluate("window.scrollTo(0, 0)")
        pg.wait_for_timeout(500)
        pg.screenshot(path=str(out_dir / "tour.png"))
        pg.click("#tour-present")
        pg.wait_for_timeout(2500)
        pg.screenshot(path=str(out_dir / "tour_present.png"))
        pg.keyboard.press("Escape")
        with tempfile.TemporaryDirectory() as tmp:
            html = Path(tmp) / "tour.html"
            subprocess.run([sys.executable, "-m", "eomine.cli", "tour", ws, "--strategy", "grand", "--export",
                            str(html)], check=True)
            ctx = b.new_context(viewport={"width": 1400, "height": 860}, offline=True)
            pe = ctx.new_page()
            pe.goto(html.as_uri())
            pe.wait_for_selector("body[data-ready='1']")
            for _ in range(6):
                pe.keyboard.press("ArrowRight")
            pe.wait_for_timeout(800)
            pe.screenshot(path=str(out_dir / "tour_export.png"))
        b.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
