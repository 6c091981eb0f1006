"""Fixtures of the integration tests: real services on 127.0.0.1 (see services.py)."""

from __future__ import annotations

import pytest
from services import postgres_server


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server started for this test module."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres, request):
    """URL of an empty database of its own for the test, on the module's server."""
    if not postgres.running:
        postgres.start()
    return postgres.create_database(request.node.name.lower()[:60])
