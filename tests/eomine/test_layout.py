"""The packages' layering: the engine (``mining``) never imports the dashboard or the command line; the
dashboard never imports the command line (it runs it as a process); only ``eomine`` brings them together."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imported(package: str) -> dict[str, set[str]]:
    """Top-level package of every absolute import in each module of ``package``."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package, forbidden", [("mining", {"dashboard", "eomine"}), ("dashboard", {"eomine"})])
def test_lower_packages_never_import_higher_ones(package, forbidden):
    bad = {mod: sorted(names & forbidden) for mod, names in _imported(package).items() if names & forbidden}
    assert not bad, bad


def test_the_command_line_is_the_package_above_both():
    names = set().union(*_imported("eomine").values())
    assert {"mining", "dashboard"} <= names
    assert not (ROOT / "mining" / "cli.py").exists()
