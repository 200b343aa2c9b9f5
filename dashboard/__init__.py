"""The eomine Dash app: ``dashboard.app.create_app(workspace)`` builds it, ``eomine serve`` runs it.

Layers, top to bottom (import-linter contracts in ``pyproject.toml``): ``app`` (the composition root) >
``panels`` (one module per panel, its layout and callbacks; panels never import each other) > shared pieces
(``components``, ``figures``; ``access``, ``routes``, ``views``, ``geo``; ``selection``) > server state
(``data``: the immutable :class:`~dashboard.data.AppData` snapshot and the :class:`~dashboard.data.AppState`
that swaps it; ``urlstate``; ``ids``; ``snapshots``). Everything below ``panels`` is plain Python that tests
call without a browser.
"""
