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

    def resolve(self, name: str, *, what: str = "class") -> str:
        """The class a person means by ``name``: the one resolver of class names given by hand (``eomine tour
        --label``, ``--format folder`` tables, edit requests).

        Tried in order: the exact class name, the exact short name the app displays (``"Urban"`` for
        ``"Urban fabric"``), then either of them ignoring case and surrounding spaces. Nothing fuzzier:
        a near miss is an error that lists the closest names.

        Parameters
        ----------
        name : str
        what : str
            What the name is, for the message (``"class"``, ``"--label"``, ...).

        Returns
        -------
        str
            The class name, as in :attr:`classes`.

        Raises
        ------
        DataError
            No class by that name (the message lists the closest names, from :func:`difflib.get_close_matches`,
            or the classes), or a name that fits more than one class.

        Examples
        --------
        >>> nom = Nomenclature("n", ("Urban fabric", "Arable land"), ("#000000", "#ffffff"), ("Urban", "Arable"))
        >>> nom.resolve("Urban"), nom.resolve(" arable LAND ")
        ('Urban fabric', 'Arable land')
        """
        if not isinstance(name, str):
            raise DataError(f"{what}: a class name must be a string, got {name!r}")
        if name in self.index:
            return name
        for step in (lambda c, s: s == name,
                     lambda c, s: name.strip().casefold() in (c.casefold(), s.casefold())):
            hits = [c for c, s in zip(self.classes, self.short, strict=True) if step(c, s)]
            if len(hits) == 1:
                return hits[0]
            if hits:
                raise DataError(f"{what} {name!r} is ambiguous in the {self.name} nomenclature: it names "
                                f"{', '.join(map(repr, hits))}; give the full class name")
        raise DataError(f"unknown {what} {name!r} (not a class of the {self.name} nomenclature); "
                        f"{self.suggest(name)}")

    def suggest(self, name: str, n: int = 3) -> str:
        """``closest: 'A' (short 'a'), 'B'`` (class names whose name or short name is closest to ``name``, by
        :func:`difflib.get_close_matches`, case ignored), or ``its classes: ...`` when none is close."""
        import difflib

        keys: dict[str, str] = {}
        for c, s in zip(self.classes, self.short, strict=True):
            keys.setdefault(c.casefold(), c)
            keys.setdefault(s.casefold(), c)
        near = difflib.get_close_matches(str(name).strip().casefold(), list(keys), n=2 * n, cutoff=0.5)
        found = list(dict.fromkeys(keys[k] for k in near))[:n]
        short = dict(zip(self.classes, self.short, strict=True))

        def show(c):
            return repr(c) + (f" (shown as {short[c]!r})" if short[c] != c else "")

        if found:
            return "closest: " + ", ".join(map(show, found))
        return "its classes: " + ", ".join(map(show, self.classes))

    def validate(self, labels: Iterable[str], *, where: str = "") -> list[str]:
        """Return ``labels`` in official order; raise :class:`DataError` naming any unknown class."""
        idx = self.index
        labels = list(labels)
        unknown = [lab for lab in labels if lab not in idx]
        if unknown:
            at = f"{where}: " if where else ""
            raise DataError(f"{at}unknown class {unknown[0]!r} (not in the {self.name} nomenclature; "
                            f"{self.suggest(unknown[0])})")
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
