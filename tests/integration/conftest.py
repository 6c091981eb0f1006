"""Fixtures of the integration tests: real services on 127.0.0.1 (see services.py)."""

from __future__ import annotations

import pytest

from services import postgres_server


@pytest.fixture(scope="module")
def postgres_url():
    """URL of an empty database on a PostgreSQL server started for this test module."""
    with postgres_server() as url:
        yield url
