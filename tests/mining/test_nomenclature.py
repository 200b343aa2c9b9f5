"""Class names given by hand: :meth:`mining.nomenclature.Nomenclature.resolve` and where it is used (edits,
folder ingest; tours in ``test_tours.py``)."""

from __future__ import annotations

import pandas as pd
import pytest

from mining.curation import Edit
from mining.curation.events import encode_edits
from mining.errors import DataError
from mining.nomenclature import Nomenclature, load_nomenclature

BEN = load_nomenclature("ben19")


@pytest.mark.parametrize("name, cls", [
    ("Urban fabric", "Urban fabric"),            # the class
    ("Urban", "Urban fabric"),                   # the short name the app displays
    ("urban", "Urban fabric"),                   # any case
    ("  MARINE waters ", "Marine waters"),
    ("perm. CROPS", "Permanent crops"),
    ("Agri + natural", BEN.classes[6]),
])
def test_resolve_name_short_name_then_any_case(name, cls):
    assert BEN.resolve(name) == cls


def test_resolve_prefers_an_exact_match_to_a_case_insensitive_one():
    nom = Nomenclature("n", ("Water", "water body"), ("#000000", "#111111"), ("WATER", "water"))
    assert nom.resolve("Water") == "Water"          # exact name first
    assert nom.resolve("water") == "water body"     # then exact short name
    with pytest.raises(DataError, match="ambiguous.*'Water', 'water body'"):
        nom.resolve("WaTeR")                         # case-insensitive: both


@pytest.mark.parametrize("name, closest", [("Urbn", "'Urban fabric' (shown as 'Urban')"),
                                           ("Coniferus forest", "'Coniferous forest'"),
                                           ("marine", "'Marine waters'")])
def test_an_unknown_name_lists_the_closest(name, closest):
    with pytest.raises(DataError, match=r"unknown class .*closest: ") as err:
        BEN.resolve(name)
    assert closest in str(err.value)


def test_nothing_close_lists_the_classes():
    with pytest.raises(DataError, match=r"its classes: 'Urban fabric' \(shown as 'Urban'\)"):
        BEN.resolve("zzzzzz")
    with pytest.raises(DataError, match="must be a string"):
        BEN.resolve(None)


def test_edits_store_the_class_a_short_name_stands_for():
    index = pd.Index(["P0", "P1"])
    rows = encode_edits([Edit("P0", "add", "urban"), Edit("P1", "set", labels=("Arable", "Urban fabric"))], index,
                        BEN, workspace="WS")
    assert rows == [("P0", 0, "add", "Urban fabric"), ("P1", 1, "set", '["Urban fabric", "Arable land"]')]
    with pytest.raises(DataError, match="add label 'Urbn' is not a class of the BigEarthNet-19 nomenclature "
                                        r"\(closest: 'Urban fabric'"):
        encode_edits([Edit("P0", "add", "Urbn")], index, BEN, workspace="WS")
