"""A payment's execution_date is a calendar day, YYYY-MM-DD, as the document says: a date-time
was taken for its day ("2026-11-25T00:00:00" stored as 2026-11-25), a guess at what a client
that sends an instant means."""

from __future__ import annotations

import pytest

from tests.factories import bearer, new_key
from tests.ledger_checks import snapshot

TODAY = "2026-11-25"  # the fixed clock's day in Berlin


def _payment(world, execution_date: object) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {
        "account_id": world.account_id("acme-operating"),
        "beneficiary_id": world.beneficiary_id("acme-supplier"),
        "amount": 100,
        "currency": "EUR",
        "execution_date": execution_date,
    }


@pytest.mark.parametrize(
    "typed",
    [
        f"{TODAY}T00:00:00",
        f"{TODAY}T00:00:00Z",
        f"{TODAY}T00:00:00+01:00",
        f"{TODAY} 00:00",
        "20261125",
        f" {TODAY}",
    ],
)
def test_an_execution_date_with_a_time_is_422(client, app, db, world, clock, typed):
    headers = bearer(app, world.users["acme-payer"], clock)
    with db.unit_of_work(write=False) as session:
        before = snapshot(session)
    for path in ("/v1/payments", "/v1/payment-previews"):
        response = client.post(
            path, json=_payment(world, typed), headers={**headers, "Idempotency-Key": new_key()}
        )
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"] == "invalid_request"
        assert response.json()["detail"].startswith("execution_date: "), response.json()
    with db.unit_of_work(write=False) as session:
        assert snapshot(session) == before


def test_an_execution_date_of_today_is_taken(client, app, world, clock):
    headers = bearer(app, world.users["acme-payer"], clock)
    made = client.post(
        "/v1/payments",
        json=_payment(world, TODAY),
        headers={**headers, "Idempotency-Key": new_key()},
    )
    assert made.status_code == 201, made.text
    assert made.json()["execution_date"] == TODAY
