"""Concurrent transactions append to one tenant's chain without forking or skipping it: real
threads against PostgreSQL, through the HTTP API served by uvicorn."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import text

from core.audit import canonical
from core.audit.verify import verify_database
from tests.factories import bearer, new_key

THREADS = 6
PER_THREAD = 15


def test_concurrent_transfers_and_decisions_never_fork_a_chain(
    backend, db, world, app, clock, live_server
):
    if backend != "postgresql":
        pytest.skip("row locks under real concurrency: PostgreSQL only")
    accounts = [world.account_id("acme-operating"), world.account_id("acme-payroll")]
    payer = bearer(app, world.users["acme-payer"], clock)
    bookkeeper = bearer(app, world.users["acme-bookkeeper"], clock)

    def worker(seed: int) -> list[int]:
        rng = random.Random(seed)
        statuses = []
        with httpx.Client(base_url=live_server.url, timeout=30) as http:
            for _ in range(PER_THREAD):
                source, target = rng.sample(accounts, 2)
                # A payer's transfer (money and a decision), or a bookkeeper's refused one
                # (a decision alone): both append to Acme's chain.
                headers = payer if rng.random() < 0.7 else bookkeeper
                response = http.post(
                    "/v1/transfers",
                    json={
                        "from_account_id": source,
                        "to_account_id": target,
                        "amount": rng.randint(1, 100_00),
                        "currency": "EUR",
                    },
                    headers={**headers, "Idempotency-Key": new_key() + f"-{seed}"},
                )
                assert response.status_code < 500, response.text
                statuses.append(response.status_code)
        return statuses

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = [s for result in pool.map(worker, range(THREADS)) for s in result]
    assert statuses.count(201) > THREADS and statuses.count(403) > 0

    acme = canonical.chain_of(world.bank.id, world.tenants["acme"].id)  # type: ignore[arg-type]
    with db.unit_of_work(write=False) as session:
        seqs = (
            session.execute(
                text("SELECT seq FROM audit_links WHERE chain = :c ORDER BY seq"), {"c": acme}
            )
            .scalars()
            .all()
        )
        head = session.execute(
            text("SELECT seq FROM audit_chains WHERE chain = :c"), {"c": acme}
        ).scalar_one()
        records = sum(
            session.scalar(
                text(f"SELECT count(*) FROM {t} WHERE tenant_id = :t"),
                {"t": world.tenants["acme"].id},
            )
            or 0
            for t in canonical.CHAINED_TABLES
        )
    assert seqs == list(range(1, len(seqs) + 1)), "the chain skipped or repeated a position"
    assert head == len(seqs) == records
    report = verify_database(db)
    assert report.ok, report.render()
