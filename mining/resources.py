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


def shared_data_dir(root: Path = ROOT) -> Path | None:
    """The real test data folder: ``$EOMINE_SHARED_DATA``, else ``../shared/data`` beside the checkout, else
    beside the checkout this one was cloned from (``git clone . /tmp/fresh`` of a checkout that has it)."""
    env = os.environ.get("EOMINE_SHARED_DATA")
    if env:
        return Path(env) if Path(env).is_dir() else None
    for base in (root, _local_origin(root)):
        if base is not None and (base.parent / "shared" / "data").is_dir():
            return base.parent / "shared" / "data"
    return None


def _local_origin(root: Path) -> Path | None:
    """The folder of this clone's ``origin`` remote when it is a local checkout (None otherwise)."""
    import subprocess

    try:
        url = subprocess.run(["git", "-C", str(root), "config", "--get", "remote.origin.url"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    url = url.removeprefix("file://")
    if not url or "://" in url or ":" in url.split("/")[0]:  # https://, ssh://, git@host:...
        return None
    path = Path(url) if Path(url).is_absolute() else root / url
    return path.resolve() if path.is_dir() else None
