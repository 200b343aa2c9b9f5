"""Progress of a long engine job, reported as data (a command prints it; the app shows it in a progress bar)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressCallback", "report"]


@dataclass(frozen=True)
class Progress:
    """One step of a long job.

    Attributes
    ----------
    stage : str
        Machine-readable step name (e.g. ``"load"``, ``"fit"``, ``"write"``).
    message : str
        One line for a person ("scored in 3.1 s (neighbours 1.2 s, model 1.9 s)").
    fraction : float or None
        How much of the whole job is done, 0..1, when known.
    """

    stage: str
    message: str
    fraction: float | None = None

    def __str__(self) -> str:
        return self.message


#: what a job calls with each :class:`Progress`
ProgressCallback = Callable[[Progress], None]


def report(callback: ProgressCallback | None, stage: str, message: str, fraction: float | None = None) -> None:
    """Send one :class:`Progress` to ``callback`` (nothing when it is None)."""
    if callback is not None:
        callback(Progress(stage, message, fraction))
