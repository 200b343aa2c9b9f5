"""Class nomenclatures (names, order, colours) and label validation."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

from .errors import DataError
from .resources import DATA_DIR

__all__ = ["Nomenclature", "load_nomenclature", "ben43_to_19"]


@dataclass(frozen=True)
class Nomenclature:
    """An ordered list of class names with display colours.

    Parameters
    ----------
    name : str
        Short identifier, e.g. ``"BigEarthNet-19"``.
    classes : tuple of str
        Class names in their official order.
    colors : tuple of str
        ``#rrggbb`` colour per class, same order.
    short : tuple of str
        Short display names, same order.
    """

    name: str
    classes: tuple[str, ...]
    colors: tuple[str, ...]
    short: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"nomenclature {self.name!r} has duplicate class names")
        if len(self.colors) != len(self.classes):
            raise ValueError(f"nomenclature {self.name!r}: {len(self.colors)} colours for {len(self.classes)} classes")
        if not self.short:
            object.__setattr__(self, "short", self.classes)

    @property
    def index(self) -> dict[str, int]:
        """Class name -> position in the official order."""
        return {c: i for i, c in enumerate(self.classes)}

    def validate(self, labels: Iterable[str], *, where: str = "") -> list[str]:
        """Return ``labels`` in official order; raise :class:`DataError` naming any unknown class."""
        idx = self.index
        labels = list(labels)
        unknown = [lab for lab in labels if lab not in idx]
        if unknown:
            at = f"{where}: " if where else ""
            raise DataError(f"{at}unknown class {unknown[0]!r} (not in the {self.name} nomenclature)")
        return sorted(set(labels), key=idx.__getitem__)

    def to_json(self) -> dict:
        return {"name": self.name, "classes": [
            {"name": c, "color": col, "short": s} for c, col, s in zip(self.classes, self.colors, self.short, strict=True)]}

    @classmethod
    def from_json(cls, doc: dict) -> Nomenclature:
        try:
            cl = doc["classes"]
            return cls(doc["name"], tuple(c["name"] for c in cl), tuple(c["color"] for c in cl),
                       tuple(c.get("short", c["name"]) for c in cl))
        except (KeyError, TypeError) as exc:
            raise DataError(f"malformed nomenclature: missing field {exc}") from None

    @classmethod
    def generic(cls, names: Sequence[str], name: str = "custom") -> Nomenclature:
        """A nomenclature for arbitrary class names, coloured with a categorical palette."""
        from colorcet import glasbey_dark

        return cls(name, tuple(names), tuple(glasbey_dark[i % len(glasbey_dark)] for i in range(len(names))))


@cache
def load_nomenclature(key: str) -> Nomenclature:
    """Load a shipped nomenclature: ``"ben19"`` or ``"eurosat"``."""
    path = DATA_DIR / "nomenclature" / f"{key}.json"
    if not path.is_file():
        raise ValueError(f"unknown nomenclature {key!r} (no {path})")
    return Nomenclature.from_json(json.loads(path.read_text()))


@cache
def ben43_to_19() -> dict[str, str | None]:
    """BigEarthNet v1 43-class label -> 19-class label (``None`` where the class was dropped)."""
    doc = json.loads((DATA_DIR / "nomenclature" / "ben43.json").read_text())
    return {c["name"]: c["ben19"] for c in doc["classes"]}
