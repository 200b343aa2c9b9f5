"""Fixtures of the panel tests: the demo workspace's snapshot and an app on it, loaded once per session and
only read (tests that edit build their own app on a copy, ``copy_ws``)."""

from __future__ import annotations

import pytest

from dashboard.app import create_app
from dashboard.data import AppData, AppState


@pytest.fixture(scope="session")
def data(demo_ws) -> AppData:
    return AppData.load(demo_ws)


@pytest.fixture(scope="session")
def app(demo_ws, data):
    return create_app(demo_ws, state=AppState(data))
