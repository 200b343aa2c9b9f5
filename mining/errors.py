"""eomine's own error types. Each message names the file, patch or field at fault."""

from __future__ import annotations


class EomineError(Exception):
    """Base class of every error eomine raises on purpose."""


class DataError(EomineError, ValueError):
    """Input data is missing, malformed or inconsistent (names the file / patch / field)."""


class WorkspaceError(EomineError, ValueError):
    """A workspace is missing, incomplete, of an unknown format version, or would be overwritten."""
