"""Where the pretrained ``galileo`` weights are found (no torch import: the CLI asks this for its default)."""

from __future__ import annotations

import os
from pathlib import Path

from ..resources import DATA_DIR

__all__ = ["GALILEO_ENV", "GALILEO_FILES", "GALILEO_HOWTO", "SHIPPED_GALILEO_DIR", "galileo_weights_dir",
           "galileo_available"]

#: environment variable naming a folder with the Galileo-nano files
GALILEO_ENV = "EOMINE_GALILEO_WEIGHTS"
#: the copy shipped with the project (MIT, see its SOURCE.md)
SHIPPED_GALILEO_DIR = DATA_DIR / "weights" / "galileo-nano"
#: the files a weights folder must hold
GALILEO_FILES = ("encoder.pt", "config.json", "normalization.json")
GALILEO_HOWTO = ("get encoder.pt and config.json from github.com/nasaharvest/galileo data/models/nano/ and "
                 "normalization.json from its config/ folder, put them in one folder and set "
                 f"{GALILEO_ENV}=FOLDER (or --param weights=FOLDER, or restore {SHIPPED_GALILEO_DIR})")


def galileo_weights_dir(weights=None) -> Path:
    """The weights folder: ``weights`` (a folder, or its ``encoder.pt``) when given, else ``$EOMINE_GALILEO_WEIGHTS``,
    else the shipped ``data/weights/galileo-nano/``. The folder is not checked here."""
    if weights is None or weights == "":
        weights = os.environ.get(GALILEO_ENV) or SHIPPED_GALILEO_DIR
    p = Path(weights).expanduser()
    return p.parent if p.suffix == ".pt" else p


def galileo_available(weights=None) -> bool:
    """True when every weights file is there and torch is installed (``eomine run`` then defaults to galileo)."""
    import importlib.util

    d = galileo_weights_dir(weights)
    return all((d / f).is_file() for f in GALILEO_FILES) and importlib.util.find_spec("torch") is not None
