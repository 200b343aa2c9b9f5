"""Artifact bookkeeping: parameter hashes, file content hashes, and JSON cards beside every artifact."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..workspace import atomic_write


def params_hash(params: dict) -> str:
    """Stable short hash of JSON-serialisable parameters."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_hash(path: Path, *, chunk: int = 1 << 22) -> str:
    """Content hash of a file (sha256, first 16 hex digits)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()[:16]


def write_card(path: Path, card: dict) -> None:
    atomic_write(Path(path), lambda tmp: tmp.write_text(json.dumps(card, indent=1, default=str)))


def read_card(path: Path) -> dict | None:
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def load_card(path: Path, *, version: int, what: str) -> dict | None:
    """The card of an artifact, checked against the format version its owner reads.

    Parameters
    ----------
    path : Path
        The card (``*.json``).
    version : int
        The format version the owning stage reads.
    what : str
        The artifact in words, for the message (e.g. "kNN graph").

    Returns
    -------
    dict or None
        None when the card is missing.

    Raises
    ------
    WorkspaceError
        The card is not valid JSON or has another format version (the message names the file).
    """
    from ..errors import WorkspaceError

    path = Path(path)
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{path} is not valid JSON ({exc}): recompute the {what}") from None
    if not isinstance(card, dict) or card.get("version") != version:
        found = card.get("version") if isinstance(card, dict) else None
        raise WorkspaceError(f"{path}: {what} format version {found!r} is not supported (this eomine reads "
                             f"version {version}); recompute it with --force")
    return card
