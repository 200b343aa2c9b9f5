"""Shared fixtures: the real test data folder (``../shared/data`` beside this checkout or the one it was cloned
from, or ``$EOMINE_SHARED_DATA``)."""

from __future__ import annotations

import pytest

from mining.resources import shared_data_dir


@pytest.fixture(scope="session")
def shared_data():
    """Path of the real EO test data; skips the test (with the reason) when it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data not available: ../shared/data is absent beside this checkout and its origin "
                    "(set EOMINE_SHARED_DATA)")
    return path
