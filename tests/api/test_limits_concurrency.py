"""Cumulative limits hold under concurrency: checked under the locks, in the posting
transaction, so concurrent transfers can never jointly pass a limit."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from core.models.ledger import Transfer
from tests.factories import bearer, new_key
from tests.ledger_checks import assert_ledger_consistent


def test_twenty_concurrent_transfers_against_a_daily_limit(
    backend, client, app, db, world, clock, live_server
):
    if backend != "postgresql":
        pytest.skip("row locks under real concurrency: PostgreSQL only")
    admin = bearer(app, world.users["acme-admin"], clock)
    # The payer gets a second, limited grant instead of the open one.
    revoke = client.delete(f"/v1/grants/{world.grants['acme-payer'].id}", headers=admin)
    assert revoke.status_code == 200
    grant = client.post(
        "/v1/grants",
        json={
            "user_id": world.user_id("acme-payer"),
            "role_id": world.grants["acme-payer"].role_id,
            "limits": {"currency": "EUR", "daily": 5_000_00},
        },
        headers=admin,
    )
    assert grant.status_code == 201, grant.text
    headers = bearer(app, world.users["acme-payer"], clock)
    manager = bearer(app, world.users["manager"], clock)
    # Four accounts in two disjoint pairs: no account lock is shared between the pairs, so
    # only the grant's own lock keeps the daily total honest.
    extra = []
    for name in ("pool-a", "pool-b"):
        opened = client.post(
            "/v1/accounts",
            json={"tenant_id": world.tenants["acme"].id, "name": name, "currency": "EUR"},
            headers=manager,
        )
        assert opened.status_code == 201, opened.text
        deposit = client.post(
            "/v1/deposits",
            json={"account_id": opened.json()["id"], "amount": 10_000_00, "currency": "EUR"},
            headers={**manager, "Idempotency-Key": new_key()},
        )
        assert deposit.status_code == 201, deposit.text
        extra.append(opened.json()["id"])
    pairs = [
        (world.account_id("acme-operating"), world.account_id("acme-payroll")),
        (extra[0], extra[1]),
    ]

    def send(i: int) -> httpx.Response:
        source, target = pairs[i % 2]
        with httpx.Client(base_url=live_server.url, timeout=30) as http:
            return http.post(
                "/v1/transfers",
                json={
                    "from_account_id": source,
                    "to_account_id": target,
                    "amount": 400_00,
                    "currency": "EUR",
                },
                headers={**headers, "Idempotency-Key": new_key()},
            )

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(send, range(20)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 12, 403: 8}, [r.text for r in responses]
    assert {r.json()["error"] for r in responses if r.status_code == 403} == {"limit_daily"}
    with db.unit_of_work(write=False) as session:
        assert_ledger_consistent(session)


def test_concurrent_transfers_through_two_grants_never_pass_the_persons_cap(
    backend, client, app, db, world, clock, live_server
):
    """The company's daily cap is per person: one payer with two grants over disjoint pairs
    of accounts shares no account lock and no grant between the pairs; only the person's lock
    keeps the person's total honest."""
    if backend != "postgresql":
        pytest.skip("row locks under real concurrency: PostgreSQL only")
    admin = bearer(app, world.users["acme-admin"], clock)
    manager = bearer(app, world.users["manager"], clock)
    acme = world.tenants["acme"].id
    cap = client.put(f"/v1/tenants/{acme}/caps/EUR", json={"daily": 5_000_00}, headers=manager)
    assert cap.status_code == 200, cap.text
    revoke = client.delete(f"/v1/grants/{world.grants['acme-payer'].id}", headers=admin)
    assert revoke.status_code == 200
    pool = []
    for name in ("pool-a", "pool-b"):
        opened = client.post(
            "/v1/accounts",
            json={"tenant_id": acme, "name": name, "currency": "EUR"},
            headers=manager,
        )
        assert opened.status_code == 201, opened.text
        deposit = client.post(
            "/v1/deposits",
            json={"account_id": opened.json()["id"], "amount": 10_000_00, "currency": "EUR"},
            headers={**manager, "Idempotency-Key": new_key()},
        )
        assert deposit.status_code == 201, deposit.text
        pool.append(opened.json()["id"])
    pairs = [(world.account_id("acme-operating"), world.account_id("acme-payroll")), tuple(pool)]
    grant_ids = []
    for pair in pairs:
        grant = client.post(
            "/v1/grants",
            json={
                "user_id": world.user_id("acme-payer"),
                "role_id": world.grants["acme-payer"].role_id,
                "all_accounts": False,
                "account_ids": list(pair),
            },
            headers=admin,
        )
        assert grant.status_code == 201, grant.text
        grant_ids.append(grant.json()["id"])
    headers = bearer(app, world.users["acme-payer"], clock)

    def send(i: int) -> httpx.Response:
        source, target = pairs[i % 2]
        with httpx.Client(base_url=live_server.url, timeout=30) as http:
            return http.post(
                "/v1/transfers",
                json={
                    "from_account_id": source,
                    "to_account_id": target,
                    "amount": 400_00,
                    "currency": "EUR",
                },
                headers={**headers, "Idempotency-Key": new_key()},
            )

    with ThreadPoolExecutor(20) as pool_of_clients:
        responses = list(pool_of_clients.map(send, range(20)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 12, 403: 8}, [r.text for r in responses]
    assert {r.json()["error"] for r in responses if r.status_code == 403} == {"limit_daily"}
    with db.unit_of_work(write=False) as session:
        used = Counter(
            session.scalars(select(Transfer.grant_id).where(Transfer.grant_id.in_(grant_ids)))
        )
        assert sum(used.values()) == 12 and len(used) == 2, used
        assert_ledger_consistent(session)
