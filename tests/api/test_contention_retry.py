"""A unit of work that fails only because of contention is run again, a bounded number of
times; then the caller gets 503 contention with Retry-After, never a 500."""

from __future__ import annotations

import psycopg
import sqlalchemy.exc

from core.ledger import movements
from tests.factories import bearer, new_key


def _deadlock() -> sqlalchemy.exc.OperationalError:
    orig = psycopg.errors.DeadlockDetected("deadlock detected")
    return sqlalchemy.exc.OperationalError("UPDATE accounts ...", {}, orig)


def _body(world):  # type: ignore[no-untyped-def]
    return {
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
        "amount": 100,
        "currency": "EUR",
    }


def test_a_deadlocked_transfer_is_retried_and_posted_once(client, app, world, clock, monkeypatch):
    real = movements._move_money
    calls = {"n": 0}

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] <= 2:
            raise _deadlock()
        return real(*args, **kwargs)

    monkeypatch.setattr(movements, "_move_money", flaky)
    headers = {**bearer(app, world.users["acme-payer"], clock), "Idempotency-Key": new_key()}
    response = client.post("/v1/transfers", json=_body(world), headers=headers)
    assert response.status_code == 201, response.text
    assert calls["n"] == 3
    assert "x-mandate-retryable" not in response.headers
    transfers = client.get("/v1/transfers", headers=headers).json()["items"]
    assert sum(1 for t in transfers if t["amount"] == 100) == 1


def test_endless_contention_ends_in_a_clear_503(client, app, world, clock, monkeypatch):
    calls = {"n": 0}

    def always(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        raise _deadlock()

    monkeypatch.setattr(movements, "_move_money", always)
    headers = {**bearer(app, world.users["acme-payer"], clock), "Idempotency-Key": new_key()}
    response = client.post("/v1/transfers", json=_body(world), headers=headers)
    assert response.status_code == 503
    assert response.json()["error"] == "contention"
    assert response.headers["Retry-After"] == "1"
    assert "x-mandate-retryable" not in response.headers
    assert calls["n"] == 4
    activity = client.get("/v1/activity", headers=headers).json()["items"]
    assert [a["error"] for a in activity] == ["contention"]  # the last attempt only
