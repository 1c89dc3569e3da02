"""Real concurrency, through the HTTP API served by uvicorn."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select, text

from core.context import RequestContext
from core.ledger import service as ledger
from core.ledger.idempotency import _lock_id, scope_of
from core.ledger.schemas import AccountCreate, DepositCreate
from core.models.iam import actor_of
from core.models.ledger import Entry, Transfer
from tests.factories import bearer, new_key
from tests.ledger_checks import assert_ledger_consistent

THREADS = 8
PER_THREAD = 200


def _open_accounts(db, world, clock, count: int) -> list[int]:
    with db.unit_of_work() as session:
        ctx = RequestContext(actor=actor_of(world.users["manager"]), clock=clock)
        ids = []
        for i in range(count):
            account = ledger.open_account(
                session,
                ctx,
                AccountCreate(tenant_id=world.tenants["acme"].id, name=f"pool-{i}", currency="EUR"),
            )
            ledger.create_deposit(
                session,
                RequestContext(actor=ctx.actor, clock=clock),
                DepositCreate(account_id=account.id, amount=20_000_00, currency="EUR"),
                new_key(),
            )
            ids.append(account.id)
        return ids


def test_eight_threads_of_transfers_through_one_hot_account(
    backend, db, world, app, clock, live_server
):
    if backend != "postgresql":
        pytest.skip("row locks under real concurrency: PostgreSQL only")
    hot = world.account_id("acme-operating")
    others = _open_accounts(db, world, clock, 4)
    headers = bearer(app, world.users["acme-payer"], clock)
    with db.unit_of_work(write=False) as session:
        entries_before = session.scalar(select(func.count(Entry.id)))

    def worker(seed: int) -> Counter[int]:
        rng = random.Random(seed)
        statuses: Counter[int] = Counter()
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=30) as http:
            for _ in range(PER_THREAD):
                other = rng.choice(others)
                source, target = (hot, other) if rng.random() < 0.5 else (other, hot)
                amount = rng.choice([rng.randint(1, 500_00), rng.randint(10_000_00, 60_000_00)])
                response = http.post(
                    "/v1/transfers",
                    json={
                        "from_account_id": source,
                        "to_account_id": target,
                        "amount": amount,
                        "currency": "EUR",
                    },
                    headers={"Idempotency-Key": new_key() + f"-{seed}"},
                )
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    raise AssertionError(f"server error: {response.status_code} {response.text}")
        return statuses

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, range(THREADS)))
    total: Counter[int] = sum(results, Counter())
    assert sum(total.values()) == THREADS * PER_THREAD
    assert set(total) <= {201, 422}, total  # posted, or refused for insufficient funds
    assert total[201] > 0 and total[422] > 0, total

    with db.unit_of_work(write=False) as session:
        assert_ledger_consistent(session)
        entries_after = session.scalar(select(func.count(Entry.id)))
        assert entries_after - entries_before == 2 * total[201]


def test_fifty_concurrent_requests_with_one_key_make_one_transfer(
    db, world, app, clock, live_server
):
    headers = {
        **bearer(app, world.users["acme-payer"], clock),
        "Idempotency-Key": "pay-invoice-4711",
    }
    body = {
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
        "amount": 1_234_56,
        "currency": "EUR",
    }
    with db.unit_of_work(write=False) as session:
        transfers_before = session.scalar(select(func.count(Transfer.id)))

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=live_server.url, timeout=30) as http:
            return http.post("/v1/transfers", json=body, headers=headers)

    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(send, range(50)))
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status_code == 201]
    assert len({r.json()["id"] for r in created}) == 1
    assert sum(1 for r in created if r.headers.get("Idempotent-Replayed") != "true") == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"] == "idempotency_key_in_flight"

    with db.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count(Transfer.id))) == transfers_before + 1
        assert_ledger_consistent(session)

    # Afterwards the key replays; the same key with another amount is refused, changing nothing.
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        replay = http.post("/v1/transfers", json=body, headers=headers)
        assert replay.status_code == 201
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == created[0].json()
        changed = http.post("/v1/transfers", json={**body, "amount": 99}, headers=headers)
        assert changed.status_code == 422
        assert changed.json()["error"] == "idempotency_key_reused"
    with db.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count(Transfer.id))) == transfers_before + 1


def test_a_key_still_in_flight_answers_409_with_retry_after(backend, db, world, app, clock, client):
    """While another transaction holds the key, PostgreSQL answers at once, and says when to
    retry; once the first is done, the retry goes through."""
    if backend != "postgresql":
        pytest.skip("SQLite runs one writer at a time: the second request waits and replays")
    payer = world.users["acme-payer"]
    key = "in-flight-4711"
    headers = {**bearer(app, payer, clock), "Idempotency-Key": key}
    body = {
        "from_account_id": world.account_id("acme-operating"),
        "to_account_id": world.account_id("acme-payroll"),
        "amount": 1_00,
        "currency": "EUR",
    }
    lock_id = _lock_id(scope_of(actor_of(payer)), key)
    with db.engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
        busy = client.post("/v1/transfers", json=body, headers=headers)
        holder.rollback()
    assert (busy.status_code, busy.json()["error"]) == (409, "idempotency_key_in_flight")
    assert int(busy.headers["Retry-After"]) >= 1
    assert client.post("/v1/transfers", json=body, headers=headers).status_code == 201


def test_the_openapi_document_tells_how_each_database_answers_a_key_in_flight(client):
    operation = client.get("/openapi.json").json()["paths"]["/v1/transfers"]["post"]
    assert "Retry-After" in operation["responses"]["409"]["headers"]
    key = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    assert "409 idempotency_key_in_flight" in key["description"]
    assert "SQLite" in key["description"] and "waits" in key["description"]
