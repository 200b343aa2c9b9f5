"""eomine's top-level package: the command line (:mod:`eomine.cli`), above both the engine (:mod:`mining`) and
the dashboard (:mod:`dashboard`).

The engine never imports the dashboard; the dashboard uses the engine; only this package brings the two
together (``eomine serve``).
"""

from mining import __version__

__all__ = ["__version__"]
