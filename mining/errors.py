"""eomine's own error types. Each message names the file, patch or field at fault."""

from __future__ import annotations


class EomineError(Exception):
    """Base class of every error eomine raises on purpose."""


class DataError(EomineError, ValueError):
    """Input data is missing, malformed or inconsistent (names the file / patch / field)."""


class WorkspaceError(EomineError, ValueError):
    """A workspace is missing, incomplete, of an unknown format version, or would be overwritten."""


class ParameterError(EomineError, ValueError):
    """A parameter of an estimator (or of a function) has a value it does not accept.

    Raised by :func:`mining._internal.validation.validate_params` at the start of ``fit`` (and by the few checks
    that need the data, such as ``k`` < the number of points), so a caller can tell which parameter to fix.

    Parameters
    ----------
    param : str
        The parameter's name (as in the constructor).
    requirement : str
        What it must be, worded to follow "must be" (``"an int in [1, inf)"``).
    value : object
        The value given.
    owner : str, optional
        The class (or function) the parameter belongs to (``"KNNGraph"``).

    Attributes
    ----------
    param, requirement, value, owner
        As given.
    """

    def __init__(self, param: str, requirement: str, value: object, *, owner: str | None = None):
        self.param = param
        self.requirement = requirement
        self.value = value
        self.owner = owner
        where = f"{owner}: " if owner else ""
        super().__init__(f"{where}{param} must be {requirement}, got {show_value(value)}")


def show_value(value: object) -> str:
    """``repr`` of a value as a user typed it (numpy scalars as plain Python numbers)."""
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", None) == 0:
        value = item()
    return repr(value)
