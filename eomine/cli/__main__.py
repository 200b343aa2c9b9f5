"""``python -m eomine.cli ...``: the ``eomine`` command line."""

from . import main

main()
