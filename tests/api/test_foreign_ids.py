"""Another tenant's id and an id that does not exist take one path to one 404: the lookup of
a payment, beneficiary, account, transfer or change request is scoped in SQL to the tenants the caller can
reach (core.policy.filters.within_reach), so a foreign row is never loaded, and the policy is
asked about neither. Their answers could not be told apart, yet their times could (the
foreign one loaded the row and asked the policy: ~0.9 ms more). Compared here by the work
done, statement by statement, never by the clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event

from tests.api.routes import (
    PUBLIC_ROUTES,
    bodies,
    calls,
    content_headers,
    contents,
    ids_of,
    queries,
)
from tests.batches_world import with_pending_batch
from tests.factories import bearer
from tests.governance_world import with_change_request
from tests.oauth_world import with_api_client
from tests.operations_world import with_maintenance_window
from tests.payments_world import with_pending_payment

LOOKED_UP = (
    "payment_id",
    "batch_id",
    "beneficiary_id",
    "account_id",
    "transfer_id",
    "change_request_id",
    "api_client_id",
)
MISSING = 987_654


@dataclass
class Work:
    """The SQL statements one request ran, and how often it asked the policy."""

    statements: list[str] = field(default_factory=list)
    policy_queries: int = 0


@pytest.fixture
def work(app, db) -> Iterator[Work]:  # type: ignore[no-untyped-def]
    seen = Work()

    def statement(_conn, _cursor, text: str, *_args: Any) -> None:  # type: ignore[no-untyped-def]
        seen.statements.append(text)

    def observe(_request: Any, ctx: Any) -> None:
        seen.policy_queries += ctx.policy_queries

    # The maintenance windows are read again by whichever request finds them older than the
    # poll interval: shared work, not the id's. Once read (by the warm-up), they stay held
    # here, so that a refresh falling into one of the two compared requests is no difference.
    schedule = app.state.services.maintenance
    poll, schedule.ttl_seconds = schedule.ttl_seconds, float("inf")
    event.listen(db.engine, "before_cursor_execute", statement)
    app.state.services.observers.append(observe)
    yield seen
    app.state.services.observers.remove(observe)
    event.remove(db.engine, "before_cursor_execute", statement)
    schedule.ttl_seconds = poll


def test_a_foreign_id_and_a_missing_id_do_the_same_work(client, app, db, world, clock, work):
    payments = with_pending_payment(db, app.state.services.passwords, world, clock)
    with_pending_batch(db, app.state.services.passwords, world, clock, payments)
    with_change_request(db, app.state.services.passwords, world, clock)
    with_api_client(db, world, clock)
    with_maintenance_window(db, world, clock)
    foreign = ids_of(world, "acme")
    missing = {**foreign, **{name: MISSING for name in LOOKED_UP}}
    acme_bodies = bodies(world, "acme")
    acme_contents = contents(world, "acme")
    acme_queries = queries(world, "acme")
    compared = set()
    for username in ("globex-admin", "globex-payer"):
        headers = {**bearer(app, world.users[username], clock), "Idempotency-Key": "foreign"}
        client.get("/v1/me", headers=headers)  # warm: connections, caches
        by_path = {c.template: c for c in calls(app, missing)}
        for call in calls(app, foreign):
            if (call.method, call.template) in PUBLIC_ROUTES:
                continue
            if not any(f"{{{name}}}" in call.template for name in LOOKED_UP):
                continue
            answers = []
            for path in (call.path, by_path[call.template].path):
                work.statements.clear()
                work.policy_queries = 0
                response = client.request(
                    call.method,
                    path,
                    headers={**headers, **content_headers((call.method, call.template))},
                    json=acme_bodies.get((call.method, call.template)),
                    content=acme_contents.get((call.method, call.template)),
                    params=acme_queries.get((call.method, call.template)),
                )
                assert response.status_code == 404, (username, call, path, response.text)
                answers.append((response.json(), list(work.statements), work.policy_queries))
            (
                (foreign_body, foreign_sql, foreign_asked),
                (missing_body, missing_sql, missing_asked),
            ) = answers
            assert foreign_body["error"] == missing_body["error"] == "not_found"
            assert foreign_asked == missing_asked == 0, (call, foreign_asked, missing_asked)
            assert foreign_sql == missing_sql, (username, call.method, call.template)
            compared.add((call.method, call.template))
    expected = {
        ("GET", "/v1/payments/{payment_id}"),
        ("GET", "/v1/payment-batches/{batch_id}"),
        ("POST", "/v1/payment-batches/{batch_id}/approve"),
        ("POST", "/v1/payment-batches/{batch_id}/reject"),
        ("POST", "/v1/payment-batches/{batch_id}/cancel"),
        ("POST", "/v1/payments/{payment_id}/approve"),
        ("POST", "/v1/payments/{payment_id}/reject"),
        ("POST", "/v1/payments/{payment_id}/cancel"),
        ("GET", "/v1/beneficiaries/{beneficiary_id}"),
        ("PATCH", "/v1/beneficiaries/{beneficiary_id}"),
        ("GET", "/v1/accounts/{account_id}"),
        ("GET", "/v1/accounts/{account_id}/entries"),
        ("PATCH", "/v1/accounts/{account_id}"),
        ("GET", "/v1/transfers/{transfer_id}"),
        ("GET", "/v1/api-clients/{api_client_id}"),
        ("POST", "/v1/api-clients/{api_client_id}/disable"),
    }
    assert expected <= compared, expected - compared


def test_a_reachable_id_is_still_decided_by_the_policy(client, app, db, world, clock, work):
    # The scope only narrows what is looked up: the bookkeeper's own tenant's payment is
    # found, and the policy asked (and it lets a bookkeeper read it).
    with_pending_payment(db, app.state.services.passwords, world, clock)
    payment = world.payment_ids["acme"]
    bookkeeper = bearer(app, world.users["acme-bookkeeper"], clock)
    work.policy_queries = 0
    assert client.get(f"/v1/payments/{payment}", headers=bookkeeper).status_code == 200
    assert work.policy_queries >= 1
