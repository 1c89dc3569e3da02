"""Bad input gets a clear, specific 4xx and changes nothing."""

from __future__ import annotations

import pytest

from core.models.ledger import Account
from tests.factories import bearer, new_key
from tests.ledger_checks import snapshot


def _transfer(world, **overrides):  # type: ignore[no-untyped-def]
    body = {
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
        "amount": 100_00,
        "currency": "EUR",
    }
    body.update(overrides)
    return body


CASES = [
    # (name, body or raw text, status, error)
    ("malformed json", "{not json", 400, "malformed_json"),
    ("json array", "[1, 2]", 422, "invalid_request"),
    ("amount as string", {"amount": "100"}, 422, "invalid_request"),
    ("amount as float", {"amount": 100.5}, 422, "invalid_request"),
    ("amount zero", {"amount": 0}, 422, "invalid_amount"),
    ("amount negative", {"amount": -5}, 422, "invalid_amount"),
    ("amount too large", {"amount": 10**15 + 1}, 422, "amount_too_large"),
    ("amount beyond int64", {"amount": 10**30}, 422, "amount_too_large"),
    ("unknown currency", {"currency": "XYZ"}, 422, "unknown_currency"),
    ("lowercase currency", {"currency": "eur"}, 422, "unknown_currency"),
    ("currency mismatch", {"currency": "USD"}, 422, "currency_mismatch"),
    ("same account", {"to_account_id": "<same>"}, 422, "same_account"),
    ("unknown source", {"from_account_id": 999_999}, 404, "not_found"),
    ("unknown target", {"to_account_id": 999_999}, 404, "not_found"),
    ("other tenant target", {"to_account_id": "<globex>"}, 404, "not_found"),
    ("usd target", {"to_account_id": "<usd>"}, 422, "currency_mismatch"),
    ("insufficient funds", {"amount": 1_000_000_01}, 422, "insufficient_funds"),
    ("unknown field", {"memo": "hi"}, 422, "invalid_request"),
    ("missing field", {"amount": None}, 422, "invalid_request"),
    ("description too long", {"description": "x" * 141}, 422, "invalid_request"),
    ("negative account id", {"from_account_id": -1}, 422, "invalid_request"),
]


@pytest.mark.parametrize("name,change,status,error", CASES, ids=[c[0] for c in CASES])
def test_bad_transfer_is_refused_and_changes_nothing(
    client, app, db, world, clock, name, change, status, error
):
    headers = {**bearer(app, world.users["acme-payer"], clock), "Idempotency-Key": f"bad-{name}"}
    if isinstance(change, str):
        response = client.post(
            "/v1/transfers", content=change, headers={**headers, "Content-Type": "application/json"}
        )
    else:
        replacements = {
            "<same>": world.account_id("acme-operating"),
            "<globex>": world.account_id("globex-main"),
            "<usd>": world.account_id("acme-usd"),
        }
        body = _transfer(
            world,
            **{k: replacements.get(v, v) if isinstance(v, str) else v for k, v in change.items()},
        )
        body = {k: v for k, v in body.items() if v is not None}
        with db.unit_of_work(write=False) as session:
            before = snapshot(session)
        response = client.post("/v1/transfers", json=body, headers=headers)
        with db.unit_of_work(write=False) as session:
            assert snapshot(session) == before
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert set(response.json()) == {"error", "detail"}
    assert response.json()["detail"]


def test_frozen_account_moves_nothing(client, app, db, world, clock):
    with db.unit_of_work() as session:
        session.get(Account, world.account_id("acme-payroll")).status = "frozen"
    headers = {**bearer(app, world.users["acme-payer"], clock), "Idempotency-Key": "frozen-1"}
    response = client.post("/v1/transfers", json=_transfer(world), headers=headers)
    assert response.status_code == 409
    assert response.json()["error"] == "account_frozen"


def test_missing_or_bad_idempotency_key(client, app, world, clock):
    headers = bearer(app, world.users["acme-payer"], clock)
    missing = client.post("/v1/transfers", json=_transfer(world), headers=headers)
    assert missing.status_code == 400
    assert missing.json()["error"] == "idempotency_key_required"
    bad = client.post(
        "/v1/transfers", json=_transfer(world), headers={**headers, "Idempotency-Key": "x" * 256}
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "idempotency_key_invalid"


def test_bookkeeper_cannot_move_money(client, app, world, clock):
    headers = {**bearer(app, world.users["acme-bookkeeper"], clock), "Idempotency-Key": "bk-1"}
    response = client.post("/v1/transfers", json=_transfer(world), headers=headers)
    assert response.status_code == 403
    assert response.json()["error"] == "missing_permission"


def test_bad_query_parameters_are_422(client, app, world, clock):
    headers = bearer(app, world.users["acme-payer"], clock)
    account = world.account_id("acme-operating")
    for path in (
        f"/v1/accounts/{account}/entries?limit=0",
        f"/v1/accounts/{account}/entries?limit=100000",
        f"/v1/accounts/{account}/entries?cursor=garbage!!",
        "/v1/accounts/not-a-number",
        "/v1/accounts/99999999999999999999999",
    ):
        response = client.get(path, headers=headers)
        assert response.status_code in (404, 422), (path, response.text)
        assert set(response.json()) == {"error", "detail"}


def test_oversized_and_deeply_nested_bodies_are_refused_quickly(client, app, world, clock):
    headers = {
        **bearer(app, world.users["acme-payer"], clock),
        "Idempotency-Key": "big",
        "Content-Type": "application/json",
    }
    huge = client.post(
        "/v1/transfers", content=b'{"a": "' + b"x" * 200_000 + b'"}', headers=headers
    )
    assert huge.status_code == 413
    assert huge.json()["error"] == "payload_too_large"
    deep = client.post("/v1/transfers", content=b"[" * 5000 + b"]" * 5000, headers=headers)
    assert deep.status_code == 400
    assert deep.json()["error"] == "malformed_json"


def test_freezing_through_the_api_takes_effect_and_stops_money(client, app, world, clock):
    manager = bearer(app, world.users["manager"], clock)
    account = world.account_id("acme-payroll")
    frozen = client.patch(f"/v1/accounts/{account}", json={"status": "frozen"}, headers=manager)
    assert frozen.status_code == 200 and frozen.json()["status"] == "frozen"
    assert client.get(f"/v1/accounts/{account}", headers=manager).json()["status"] == "frozen"
    payer = {**bearer(app, world.users["acme-payer"], clock), "Idempotency-Key": "after-freeze"}
    refused = client.post("/v1/transfers", json=_transfer(world), headers=payer)
    assert refused.status_code == 409
    assert refused.json()["error"] == "account_frozen"
    opened = client.patch(f"/v1/accounts/{account}", json={"status": "open"}, headers=manager)
    assert opened.json()["status"] == "open"
    payer["Idempotency-Key"] = "after-unfreeze"
    assert client.post("/v1/transfers", json=_transfer(world), headers=payer).status_code == 201


def test_a_lower_case_currency_is_refused_with_the_way_to_write_it(client, app, world, clock):
    """Every currency field, body or path, answers alike: codes are upper case, as ISO 4217
    writes them; nothing is guessed."""
    payer = bearer(app, world.users["acme-payer"], clock)
    manager = bearer(app, world.users["manager"], clock)
    admin = bearer(app, world.users["acme-admin"], clock)
    tenant = world.tenants["acme"].id
    calls = [
        ("POST", "/v1/transfers", payer, _transfer(world, currency="eur")),
        (
            "POST",
            "/v1/deposits",
            manager,
            {"account_id": world.account_id("acme-operating"), "amount": 1, "currency": "eur"},
        ),
        ("POST", "/v1/accounts", manager, {"tenant_id": tenant, "name": "N", "currency": "eur"}),
        (
            "POST",
            "/v1/roles",
            admin,
            {"name": "R", "permissions": ["account.read"], "limits": {"currency": "eur"}},
        ),
        ("PUT", "/v1/bank/caps/eur", manager, {"daily": 100}),
        ("PUT", f"/v1/tenants/{tenant}/caps/eur", manager, {"daily": 100}),
    ]
    for method, path, headers, body in calls:
        answer = client.request(
            method, path, json=body, headers={**headers, "Idempotency-Key": new_key()}
        )
        assert (answer.status_code, answer.json()["error"]) == (422, "unknown_currency"), path
        assert "upper-case" in answer.json()["detail"] and "EUR" in answer.json()["detail"], path
    unknown = client.put("/v1/bank/caps/XYZ", json={"daily": 100}, headers=manager).json()
    assert "e.g. EUR" in unknown["detail"]
