"""Parameter constraints of the engine's estimators, checked in one place (scikit-learn's habit).

An estimator declares what each constructor parameter accepts in a class-level table::

    class KNNGraph:
        _parameter_constraints = {
            "k": [Interval(int, 1, None, closed="left")],
            "metric": [Options(("cosine", "euclidean"))],
            "seed": [SEED],
        }

and calls :func:`validate_params` at the start of ``fit``. A value is accepted when it satisfies at least one
constraint of its list (``None`` in the list accepts ``None``); otherwise :class:`~mining.errors.ParameterError`
names the parameter, what it must be and the value given::

    KNNGraph: k must be an int in [1, inf), got 0

The command line (``eomine.cli``) builds its option types from the same tables, so a range is declared once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from numbers import Integral, Real

import numpy as np

from ..errors import ParameterError

__all__ = ["Constraint", "Interval", "Options", "Boolean", "Instance", "ListOf", "PATH", "SEED", "describe",
           "satisfies", "validate_params"]


class Constraint:
    """One thing a parameter may be. Subclasses implement :meth:`is_satisfied_by` and ``__str__``
    (a description that follows "must be")."""

    def is_satisfied_by(self, value: object) -> bool:
        raise NotImplementedError

    def __str__(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self}>"


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _bound(x: float | None, sign: str) -> str:
    if x is None:
        return f"{sign}inf"
    return f"{x:g}" if isinstance(x, float) else str(x)


class Interval(Constraint):
    """A number of a type within bounds.

    Parameters
    ----------
    type : {int, float}
        ``int`` accepts integers (Python or numpy, not bool); ``float`` accepts any real number (ints too).
    left, right : float or None
        Bounds; None is unbounded on that side.
    closed : {"both", "left", "right", "neither"}
        Which bounds are included. An unbounded side excludes infinity, and NaN is never accepted.
    """

    def __init__(self, type: type, left: float | None, right: float | None, *, closed: str = "both"):
        if type not in (int, float):
            raise TypeError(f"Interval type must be int or float, not {type!r}")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be 'both', 'left', 'right' or 'neither', not {closed!r}")
        if left is not None and right is not None and left > right:
            raise ValueError(f"Interval: left bound {left} is above right bound {right}")
        self.type = type
        self.left = left
        self.right = right
        self.closed = closed

    @property
    def left_open(self) -> bool:
        return self.closed in ("right", "neither")

    @property
    def right_open(self) -> bool:
        return self.closed in ("left", "neither")

    def is_satisfied_by(self, value: object) -> bool:
        if not (_is_int(value) if self.type is int else _is_real(value)):
            return False
        if not math.isfinite(value):
            return False
        if self.left is not None and (value <= self.left if self.left_open else value < self.left):
            return False
        if self.right is not None and (value >= self.right if self.right_open else value > self.right):
            return False
        return True

    def __str__(self) -> str:
        kind = "an int" if self.type is int else "a float"
        if self.left is None and self.right is None:
            return kind
        lo = "(" if self.left_open or self.left is None else "["
        hi = ")" if self.right_open or self.right is None else "]"
        return f"{kind} in {lo}{_bound(self.left, '-')}, {_bound(self.right, '')}{hi}"


class Options(Constraint):
    """One of a few strings.

    Parameters
    ----------
    options : iterable of str
        The accepted values, in the order the description lists them (a set is sorted).
    """

    def __init__(self, options: Iterable[str]):
        opts = sorted(options) if isinstance(options, set | frozenset) else list(options)
        if not opts or not all(isinstance(o, str) for o in opts):
            raise TypeError(f"Options takes a non-empty collection of str, not {options!r}")
        self.options = tuple(opts)

    def is_satisfied_by(self, value: object) -> bool:
        return isinstance(value, str) and value in self.options

    def __str__(self) -> str:
        if len(self.options) == 1:
            return repr(self.options[0])
        return "one of " + ", ".join(map(repr, self.options))


class Boolean(Constraint):
    """``True`` or ``False`` (a numpy bool too; not 0 / 1)."""

    def is_satisfied_by(self, value: object) -> bool:
        return isinstance(value, bool | np.bool_)

    def __str__(self) -> str:
        return "a bool"


class Instance(Constraint):
    """An instance of one of some types (``Instance(str)``; ``Instance(str, os.PathLike, name="a path")``).

    Parameters
    ----------
    *types : type
    name : str, optional
        The description (default: "a <type>" of the first type).
    """

    def __init__(self, *types: type, name: str | None = None):
        if not types:
            raise TypeError("Instance needs at least one type")
        self.types = types
        self.name = name or f"a {types[0].__name__}"

    def is_satisfied_by(self, value: object) -> bool:
        return isinstance(value, self.types) and not (isinstance(value, bool) and bool not in self.types)

    def __str__(self) -> str:
        return self.name


#: a file-system path
PATH = Instance(str, os.PathLike, name="a path")


class ListOf(Constraint):
    """A list or tuple (not a string) whose items all satisfy ``item``.

    Parameters
    ----------
    item : Constraint
    min_len : int
        Fewest items.
    """

    def __init__(self, item: Constraint, *, min_len: int = 1):
        self.item = item
        self.min_len = min_len

    def is_satisfied_by(self, value: object) -> bool:
        return (isinstance(value, list | tuple) and len(value) >= self.min_len
                and all(self.item.is_satisfied_by(v) for v in value))

    def __str__(self) -> str:
        size = {0: "a list", 1: "a non-empty list"}.get(self.min_len, f"a list of {self.min_len} or more")
        return f"{size} of values, each {self.item}"


#: random seeds: numpy's ``RandomState`` (umap-learn, pynndescent) takes 0 .. 2**32 - 1
SEED = Interval(int, 0, 2**32 - 1)


def describe(constraints: list) -> str:
    """What a parameter must be, from its constraint list (``"an int in [1, inf) or None"``)."""
    words = [str(c) if c is not None else "None" for c in constraints]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def satisfies(constraints: list, value: object) -> bool:
    """Whether ``value`` satisfies at least one of ``constraints`` (None accepts None)."""
    return any(value is None if c is None else c.is_satisfied_by(value) for c in constraints)


def validate_params(estimator: object) -> None:
    """Check every parameter declared in ``type(estimator)._parameter_constraints``.

    Parameters
    ----------
    estimator : object
        Its parameters are read as attributes of the same names.

    Raises
    ------
    ParameterError
        For the first parameter (in the table's order) whose value satisfies none of its constraints; it names
        the parameter (``.param``), the estimator's class (``.owner``) and what the value must be.
    """
    cls = type(estimator)
    for name, constraints in cls._parameter_constraints.items():
        value = getattr(estimator, name)
        if not satisfies(constraints, value):
            raise ParameterError(name, describe(constraints), value, owner=cls.__name__)
