"""Browser-test helpers shared by the dashboard test modules (imported as ``_browser``)."""

from __future__ import annotations

import re


def lasso(page, *, cx: float = 0.5, r: float = 0.3) -> int:
    """Draw a square lasso on the scatter; return the number of patches the app says it selected.

    ``cx`` is the square's centre as a fraction of the plot width (it is centred vertically) and ``r`` its
    half-side as a fraction of the plot's smaller side.
    """
    before = page.inner_text("#selection-info")
    box = page.locator("#scatter-graph .nsewdrag").bounding_box()
    x0, y0 = box["x"] + box["width"] * cx, box["y"] + box["height"] * 0.5
    h = min(box["width"], box["height"]) * r
    pts = [(x0 - h, y0 - h), (x0 + h, y0 - h), (x0 + h, y0 + h), (x0 - h, y0 + h), (x0 - h, y0 - h + 2)]
    page.mouse.move(*pts[0])
    page.mouse.down()
    for x, y in pts[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    page.wait_for_function(f"/selected/.test(document.querySelector('#selection-info').innerText) && "
                           f"document.querySelector('#selection-info').innerText !== {before!r}", timeout=45000)
    return int(re.search(r"([\d,]+) patches", page.inner_text("#selection-info")).group(1).replace(",", ""))


def choose(page, selector: str, text: str, *, tries: int = 3) -> None:
    """Pick the first option containing ``text`` in the dcc.Dropdown ``selector`` and check it was taken.

    The search box is filled at once (typing key by key can lose a letter while the dropdown moves focus
    into its search box), the option is clicked (not Enter), the menu closed, and the choice verified on the
    dropdown itself; a choice a loaded machine lost is made again, as a curator would.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    check = f"document.querySelector({selector!r}).innerText.includes({text!r})"
    for _ in range(tries):
        page.click(selector)
        search = page.locator(".dash-dropdown-search:visible").first
        search.wait_for(timeout=10000)
        search.fill(text)
        page.locator(".dash-dropdown-option:visible", has_text=text).first.click(timeout=10000)
        page.keyboard.press("Escape")
        try:
            page.wait_for_function(check, timeout=10000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the dropdown {selector} did not take {text!r}")


def sign_in(page, name: str) -> None:
    """Enter the curator's name in the top bar (saved in the browser) and wait until the app took it."""
    page.fill("#curate-author-input", name)
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#curate-author-info') && "
                           "!document.querySelector('#curate-author-info').innerText.includes('needed')")
