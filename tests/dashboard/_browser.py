"""Browser-test helpers shared by the dashboard test modules (imported as ``_browser``)."""

from __future__ import annotations

import re


def lasso(page, *, cx: float = 0.5, r: float = 0.3) -> int:
    """Draw a square lasso on the scatter; return the number of patches the app says it selected.

    ``cx`` is the square's centre as a fraction of the plot width (it is centred vertically) and ``r`` its
    half-side as a fraction of the plot's smaller side.
    """
    box = page.locator("#scatter-graph .nsewdrag").bounding_box()
    x0, y0 = box["x"] + box["width"] * cx, box["y"] + box["height"] * 0.5
    h = min(box["width"], box["height"]) * r
    pts = [(x0 - h, y0 - h), (x0 + h, y0 - h), (x0 + h, y0 + h), (x0 - h, y0 + h), (x0 - h, y0 - h + 2)]
    page.mouse.move(*pts[0])
    page.mouse.down()
    for x, y in pts[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    page.wait_for_function("/selected/.test(document.querySelector('#selection-info').innerText)", timeout=45000)
    return int(re.search(r"([\d,]+) patches", page.inner_text("#selection-info")).group(1).replace(",", ""))
