"""No user ever sees another tenant's data: every tenant-A URL answers 404 to tenant B."""

from __future__ import annotations

from tests.api.routes import PUBLIC_ROUTES, bodies, calls, ids_of, queries
from tests.factories import bearer


def test_every_tenant_a_url_is_not_found_for_tenant_b(client, app, world, clock):
    a_ids = ids_of(world, "acme")
    a_bodies = bodies(world, "acme")
    a_queries = queries(world, "acme")
    checked = 0
    for username in ("globex-admin", "globex-payer"):
        headers = bearer(app, world.users[username], clock)
        for call in calls(app, a_ids):
            if (call.method, call.template) in PUBLIC_ROUTES or "{" not in call.template:
                continue
            response = client.request(
                call.method,
                call.path,
                headers={**headers, "Idempotency-Key": "iso"},
                json=a_bodies.get((call.method, call.template)),
                params=a_queries.get((call.method, call.template)),
            )
            assert response.status_code == 404, (username, call, response.text)
            assert response.json()["error"] == "not_found"
            checked += 1
    assert checked >= 4


def test_tenant_b_cannot_move_tenant_a_money(client, app, world, clock):
    headers = {**bearer(app, world.users["globex-payer"], clock), "Idempotency-Key": "iso-1"}
    steal = {
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("globex-main"),
        "amount": 100,
        "currency": "EUR",
    }
    assert client.post("/v1/transfers", json=steal, headers=headers).status_code == 404
    push = {
        **steal,
        "from_account_id": world.account_id("globex-main"),
        "to_account_id": world.account_id("acme-operating"),
        "amount": 100,
    }
    response = client.post(
        "/v1/transfers", json=push, headers={**headers, "Idempotency-Key": "iso-2"}
    )
    assert response.status_code == 404
    assert "acme" not in response.text.lower()


def test_lists_hold_only_the_callers_tenant(client, app, world, clock):
    headers = bearer(app, world.users["globex-admin"], clock)
    for path in ("/v1/accounts", "/v1/transfers"):
        items = client.get(path, headers=headers).json()["items"]
        assert items, path
        assert all(
            world.account_id("acme-operating")
            not in (i.get("id"), i.get("from_account_id"), i.get("to_account_id"))
            for i in items
        )
        tenants = {i.get("tenant_id") for i in items if "tenant_id" in i}
        assert tenants <= {world.tenants["globex"].id}
