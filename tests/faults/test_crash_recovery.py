"""The server is killed with SIGKILL in the middle of a load of transfers and started again;
every request that was not acknowledged is retried with its same Idempotency-Key. Then every
transfer acknowledged before the crash exists exactly once, no transfer exists twice, and
`mandate ledger check` passes."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import create_engine, pool, text

from tests.ledger_checks import assert_ledger_check_passes

THREADS = 6
KILL_AFTER_ACKNOWLEDGED = 60
MAX_REQUESTS_PER_THREAD = 200


@dataclass
class Attempt:
    key: str
    body: dict[str, Any]
    status: int | None = None  # None: no answer (connection refused, reset, timed out)
    response: dict[str, Any] | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def test_sigkill_mid_load_loses_nothing_and_duplicates_nothing(fault_database, start_server):
    world = fault_database.world
    accounts = (world.account_id("acme-operating"), world.account_id("acme-payroll"))
    headers = {"Authorization": f"Bearer {fault_database.token('acme-payer')}"}
    server = start_server(fault_database)

    attempts: list[Attempt] = []
    lock = threading.Lock()
    killed = threading.Event()

    def drive(thread: int) -> None:
        rng = random.Random(thread)
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            for i in range(MAX_REQUESTS_PER_THREAD):
                if killed.is_set():
                    return
                source, target = accounts if rng.random() < 0.5 else accounts[::-1]
                attempt = Attempt(
                    key=f"crash-{thread}-{i}",
                    body={
                        "from_account_id": source,
                        "to_account_id": target,
                        "amount": rng.randint(1, 500_00),
                        "currency": "EUR",
                    },
                )
                with lock:
                    attempts.append(attempt)
                try:
                    response = client.post(
                        "/v1/transfers",
                        json=attempt.body,
                        headers={"Idempotency-Key": attempt.key},
                    )
                except httpx.TransportError:
                    continue
                attempt.status = response.status_code
                attempt.response = response.json()

    threads = [threading.Thread(target=drive, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    while not killed.is_set():
        with lock:
            acknowledged = sum(a.acknowledged for a in attempts)
            finished = all(not t.is_alive() for t in threads)
        if acknowledged >= KILL_AFTER_ACKNOWLEDGED or finished:
            server.kill()  # mid-load: the other threads have requests in flight
            killed.set()
        time.sleep(0.001)
    for thread in threads:
        thread.join(timeout=60)

    acknowledged_before = {a.key: a for a in attempts if a.acknowledged}
    unanswered = [a for a in attempts if a.status is None]
    refused = [a for a in attempts if a.status is not None and not a.acknowledged]
    assert len(acknowledged_before) >= KILL_AFTER_ACKNOWLEDGED
    assert unanswered, "the kill should have cut requests off"
    assert not refused, [(a.status, a.response) for a in refused]

    # Started again, the server answers every unacknowledged request once more, by its key.
    server = start_server(fault_database)
    replayed = 0
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        for attempt in unanswered:
            for _ in range(20):
                response = client.post(
                    "/v1/transfers", json=attempt.body, headers={"Idempotency-Key": attempt.key}
                )
                if response.status_code not in (409, 503):  # in flight, or contention
                    break
                time.sleep(0.05)
            assert response.status_code == 201, response.text
            attempt.status, attempt.response = response.status_code, response.json()
            replayed += response.headers.get("Idempotent-Replayed") == "true"
        # A retry of an acknowledged request is answered from its stored response.
        sample = next(iter(acknowledged_before.values()))
        again = client.post(
            "/v1/transfers", json=sample.body, headers={"Idempotency-Key": sample.key}
        )
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == sample.response

    engine = create_engine(fault_database.url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                text("SELECT key, transfer_id FROM idempotency_keys WHERE key LIKE 'crash-%'")
            ).all()
        )
        transfers = {
            row.id: row
            for row in conn.execute(
                text(
                    "SELECT id, debit_account_id, credit_account_id, amount FROM transfers "
                    "WHERE initiated_by_id = :payer"
                ),
                {"payer": world.user_id("acme-payer")},
            )
        }
    engine.dispose()

    # Every acknowledged transfer exists, exactly as acknowledged.
    for key, attempt in acknowledged_before.items():
        assert attempt.response is not None
        transfer_id = attempt.response["id"]
        assert stored[key] == transfer_id
        row = transfers[transfer_id]
        assert (row.debit_account_id, row.credit_account_id, row.amount) == (
            attempt.body["from_account_id"],
            attempt.body["to_account_id"],
            attempt.body["amount"],
        )
    # Every request now has exactly one transfer, and no transfer belongs to two requests or
    # to none: nothing happened twice.
    assert set(stored) == {a.key for a in attempts}
    assert len(set(stored.values())) == len(stored)
    assert set(stored.values()) == set(transfers)
    for attempt in unanswered:
        assert attempt.response is not None
        assert stored[attempt.key] == attempt.response["id"]

    assert_ledger_check_passes(fault_database.url)
    print(
        f"{len(acknowledged_before)} acknowledged before the kill, {len(unanswered)} cut off "
        f"({replayed} of them had been posted and were replayed)"
    )
