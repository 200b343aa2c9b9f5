"""Paths of the static data eomine ships in ``data/`` (nomenclatures, colours, basemap)."""

from __future__ import annotations

import os
from pathlib import Path

#: repository root (the package is installed editable from it; see README)
ROOT = Path(__file__).resolve().parent.parent
#: static data shipped with the project
DATA_DIR = ROOT / "data"


def default_workspace_dir() -> Path:
    """Where workspaces go when no path is given: ``$EOMINE_HOME`` or ``data/workspaces``."""
    return Path(os.environ.get("EOMINE_HOME", DATA_DIR / "workspaces"))


def shared_data_dir() -> Path | None:
    """The real test data folder (``../shared/data`` beside the checkout, or ``$EOMINE_SHARED_DATA``)."""
    env = os.environ.get("EOMINE_SHARED_DATA")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None
