"""Fixtures of the API tests beyond tests/conftest.py's."""

from __future__ import annotations

import pytest

from tests.authzen_world import DecisionWorld, build_decision_world


@pytest.fixture
def dw(app, db, world, clock) -> DecisionWorld:  # type: ignore[no-untyped-def]
    """The world of the AuthZEN tests (tests/authzen_world.py)."""
    return build_decision_world(db, app.state.services.passwords, world, clock)
