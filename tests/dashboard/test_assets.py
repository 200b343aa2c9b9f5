"""The vendored plotly.js bundle in ``assets/vendor`` must match plotly.py's plotly.js."""

from __future__ import annotations

import re
from pathlib import Path

import plotly.offline

VENDOR = Path(__file__).resolve().parents[2] / "assets" / "vendor"


def _bundles() -> list[Path]:
    return sorted(VENDOR.glob("plotly-*.min.js"))


def test_exactly_one_vendored_plotly_bundle_with_its_licence():
    assert len(_bundles()) == 1, [p.name for p in _bundles()]
    assert (VENDOR / "LICENSE-plotly.js.txt").is_file()


def test_vendored_plotly_is_the_version_plotly_py_ships():
    bundle = _bundles()[0]
    head = bundle.read_text(encoding="utf-8")[:400]
    banner = re.search(r"plotly\.js \(cartesian - minified\) v(\d+\.\d+\.\d+)", head)
    assert banner, f"{bundle.name}: no plotly.js version banner"
    expected = plotly.offline.get_plotlyjs_version()
    assert banner.group(1) == expected, (
        f"{bundle.name} is plotly.js {banner.group(1)} but plotly.py {plotly.__version__} "
        f"ships {expected}; see assets/vendor/README.md"
    )
    assert expected in bundle.name


def test_vendored_bundle_has_the_trace_types_the_dashboard_draws():
    text = _bundles()[0].read_text(encoding="utf-8")
    for trace in ("scatter", "heatmap", "image"):
        assert re.search(rf'name:\s*"{trace}"', text), f"trace type {trace!r} missing"
