"""Hostile input: schemathesis drives every operation of the OpenAPI document with generated
valid and invalid requests, as several roles, and runs all of its checks. No request may end
in a server error or in a response the document does not describe.

What it found is kept as ordinary tests in test_fuzz_regressions.py."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from sqlalchemy import event

from api.app import create_app
from core.fields import MAX_ID
from core.settings import Settings
from tests.factories import World, bearer
from tests.governance_world import with_change_request
from tests.payments_world import with_pending_payment

# Bounded: a fixed number of generated examples per operation and phase, derandomised so that
# a failure reproduces. Every built-in check runs.
CONFIG = """
seed = 20261125
[generation]
max-examples = 12
mode = "all"
deterministic = true
[checks]
# Valid-by-schema requests may still break a business rule: insufficient funds, a currency
# mismatch, a limit (422), a frozen account (409)...
positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"""

# Generated requests go in turn from a bank manager, a corporate admin, a payer and an
# approver: each one reaches different code behind the policy.
ROLES = itertools.cycle(("manager", "acme-admin", "acme-payer", "acme-approver-a"))
# Every other payment request aims at what exists (the world's waiting payment, its supplier,
# the paying account) instead of the generated id: random ids alone would meet only 404s.
TURNS = itertools.cycle((True, False))


# Once per suite, on the strictest database available: PostgreSQL enforces column types and
# lengths that SQLite lets through, so a missing validation shows there as a server error.
@pytest.fixture(params=["postgresql" if os.environ.get("MANDATE_TEST_DATABASE_URL") else "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _commits_need_not_wait_for_the_disk(db):  # type: ignore[no-untyped-def]
    """The fuzz checks answers, not durability: thousands of small commits go faster when
    they do not each wait for an fsync."""

    @event.listens_for(db.engine, "connect")
    def _relax(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        if db.is_sqlite:
            cursor.execute("PRAGMA synchronous=OFF")
        else:
            cursor.execute("SET synchronous_commit TO off")
            dbapi_connection.commit()
        cursor.close()


def openapi_document() -> dict[str, Any]:
    """The document the app serves; building it needs no database."""
    with tempfile.TemporaryDirectory() as keys:
        settings = Settings(
            environment="test",
            database_url=f"sqlite:///{keys}/unused.db",  # never connected to
            token_key_path=Path(keys) / "key.pem",
        )
        return create_app(settings, check_migrations=False).openapi()


SCHEMA = schemathesis.openapi.from_dict(
    openapi_document(), config=SchemathesisConfig.from_str(CONFIG)
)


def _aim_at_the_world(case: Any, world: World) -> None:
    """For the payment operations, in turn: a valid generated id replaced by the world's
    (still valid, so a positive case stays one; invalid ids are left as generated)."""
    if not case.path.startswith(("/v1/payment", "/v1/change-requests")) or not next(TURNS):
        return
    real = {
        "payment_id": world.payment_ids["acme"],
        "change_request_id": world.change_request_ids["acme"],
        "beneficiary_id": world.beneficiary_id("acme-supplier"),
        "account_id": world.account_id("acme-operating"),
    }

    def aimed(values: dict[str, Any]) -> dict[str, Any]:
        return {
            k: real[k] if k in real and type(v) is int and 1 <= v <= MAX_ID else v
            for k, v in values.items()
        }

    if isinstance(case.path_parameters, dict) and case.path_parameters:
        case.path_parameters = aimed(case.path_parameters)
    if isinstance(case.body, dict):
        case.body = aimed(case.body)
    if isinstance(case.query, dict) and case.query:
        case.query = aimed(case.query)


@pytest.fixture
def paying_world(app, db, world, clock) -> World:  # type: ignore[no-untyped-def]
    """The world, with payees, approvers, a payment waiting for approval, and a change request
    waiting for a second admin."""
    with_pending_payment(db, app.state.services.passwords, world, clock)
    with_change_request(db, app.state.services.passwords, world, clock)
    return world


@SCHEMA.parametrize()
# One world per operation: what the examples create stays for the next ones, as on a server.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_every_operation_survives_hostile_input(case, app, paying_world, clock):  # type: ignore[no-untyped-def]
    _aim_at_the_world(case, paying_world)
    headers = bearer(app, paying_world.users[next(ROLES)], clock)
    case.call_and_validate(app=app, headers=headers)


STATEFUL_ONLY = """
[phases.examples]
enabled = false
[phases.coverage]
enabled = false
[phases.fuzzing]
enabled = false
[phases.stateful]
max-steps = 10
[phases.stateful.generation]
max-examples = 40

# DELETE /v1/grants/{id} revokes: the grant stays readable, with its revoked_at, because who
# could do what, and until when, is history a bank keeps. Only there is "deleted, yet still
# there" the intended answer.
[[operations]]
include-path = "/v1/grants/{grant_id}"
include-method = "GET"
checks.use_after_free.enabled = false
"""


@pytest.mark.parametrize("role", ["manager", "acme-admin"])
def test_workflows_of_linked_operations_survive_hostile_input(app, paying_world, clock, role):  # type: ignore[no-untyped-def]
    """Stateful: links inferred from the document feed what one response returns into the next
    requests (a grant listed, then read, changed, revoked...), so the stateful checks run
    too (a deleted resource stays gone, a created one can be read back). Run by schemathesis'
    own engine, which keeps generation independent of the server's changing state."""
    config = SchemathesisConfig.from_str(CONFIG + STATEFUL_ONLY)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    schema.config.headers = bearer(app, paying_world.users[role], clock)
    failures: list[str] = []
    scenarios = 0
    for step in from_schema(schema).execute():
        if isinstance(step, (events.NonFatalError, events.FatalError)):
            failures.append(repr(step))
        if isinstance(step, events.ScenarioFinished):
            scenarios += 1
            for case_id, checks in step.recorder.checks.items():
                case = step.recorder.cases[case_id].value
                failures += [
                    f"{case.method} {case.path}: {check.name}: {check.failure_info}"
                    for check in checks
                    if check.status != Status.SUCCESS
                ]
    assert scenarios > 10
    assert not failures, "\n".join(failures)
