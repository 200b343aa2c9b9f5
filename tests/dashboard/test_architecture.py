"""The app's structure: layers that only point down (import-linter), panels that load alone, and component ids
that all come from ``dashboard/ids.py`` and all exist in the page."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _helpers import walk

from dashboard import ids

ROOT = Path(__file__).resolve().parents[2]
PANELS = sorted(p.stem for p in (ROOT / "dashboard" / "panels").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("panel", PANELS)
def test_a_panel_imports_no_other_panel(panel):
    """Importing one panel in a fresh interpreter loads no other panel (and never the composition root)."""
    code = (f"import sys; import dashboard.panels.{panel}; "
            "print(sorted(m for m in sys.modules if m.startswith('dashboard.panels.') or m == 'dashboard.app'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == repr([f"dashboard.panels.{panel}"])


def _lint(tree: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe)], capture_output=True, text=True, cwd=tree, timeout=300)


def test_the_import_contracts_hold_and_catch_a_back_edge(tmp_path):
    """lint-imports passes on the project; the same contracts fail on a copy where the engine imports the app, or
    a panel imports another one."""
    assert _lint(ROOT).returncode == 0, _lint(ROOT).stdout[-3000:]
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree)
    for pkg in ("mining", "dashboard"):
        shutil.copytree(ROOT / pkg, tree / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    if (ROOT / "eomine").is_dir():
        shutil.copytree(ROOT / "eomine", tree / "eomine", ignore=shutil.ignore_patterns("__pycache__"))
    knn = tree / "mining" / "knn.py"
    original = knn.read_text()
    knn.write_text(original + "\n\ndef _back_edge():\n    import dashboard.app  # noqa: F401\n")
    out = _lint(tree)
    assert out.returncode != 0 and "mining.knn -> dashboard.app" in out.stdout, out.stdout[-3000:]
    knn.write_text(original)
    grid = tree / "dashboard" / "panels" / "grid.py"
    grid.write_text(grid.read_text() + "\n\ndef _sideways():\n    from . import detail  # noqa: F401\n")
    out = _lint(tree)
    assert out.returncode != 0 and "dashboard.panels.grid -> dashboard.panels.detail" in out.stdout, \
        out.stdout[-3000:]


def _string_ids(tree) -> set[str]:
    return {n.id for n in walk(tree) if isinstance(getattr(n, "id", None), str)}


def _dict_id_types(tree) -> set[str]:
    return {n.id.get("type") for n in walk(tree) if isinstance(getattr(n, "id", None), dict)}


def test_every_component_id_is_declared_in_ids_and_every_callback_id_is_in_the_page(demo_ws, copy_ws):
    """A mistyped id must fail here, not as a callback that silently never fires."""
    from dashboard.app import build_layout, create_app
    from dashboard.components import patch_block, thumb
    from dashboard.panels import review

    app = create_app(copy_ws(demo_ws))
    data = app.server.extensions["eomine"].current
    declared = {v for k, v in vars(ids).items() if k.isupper() and isinstance(v, str)}
    page = build_layout(data)
    in_page = _string_ids(page)
    assert in_page <= declared, sorted(in_page - declared)
    # dynamic content the callbacks create (tiles, the detail's curation block, a review card)
    dynamic = [thumb(data, 0, "true_color"), patch_block(data, 0)]
    review_cards = review.render_queue(data)[0]
    types = _dict_id_types(page) | _dict_id_types(dynamic) | _dict_id_types(review_cards) | {
        ids.NEIGHBOUR, ids.REVIEW_ACTION, ids.REVIEW_ITEM}
    missing = []
    for cb in app.callback_map.values():
        for dep in [*cb["inputs"], *cb.get("state", [])]:
            cid = dep["id"]
            if cid.startswith("{"):
                import json

                if json.loads(cid)["type"] not in types:
                    missing.append(cid)
            elif cid not in in_page:
                missing.append(cid)
    assert not missing, missing
    outputs = {o.rsplit(".", 1)[0] for key in app.callback_map for o in key.strip(".").split("...")}
    assert {o for o in outputs if not o.startswith("{")} <= in_page
    # the read-only page leaves the edit controls out, and so does its layout
    ro = build_layout(dataclasses.replace(data, read_only=True))
    assert ids.CURATE_AUTHOR_INPUT not in _string_ids(ro) and ids.REVIEW_RESCORE not in _string_ids(ro)
