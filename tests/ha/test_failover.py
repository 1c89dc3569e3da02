"""Failover on a real cluster (`make ha-test`; `make test` runs it too): Mandate on a Patroni
cluster of two PostgreSQL 15 servers with synchronous replication, reached by a libpq
multi-host URL with target_session_attrs=read-write. Transfers run from four clients; the
primary's postmaster is SIGKILLed; Patroni promotes the standby; every request not answered
2xx is sent again with its Idempotency-Key until it is. Then every transfer acknowledged
before, during and after the crash exists exactly once on the new primary, none twice, and
`mandate ledger check` passes there. The workers are never restarted: the pool finds the new
primary by itself, and the switch is a clean 503.

Skipped where patroni, etcd or the PostgreSQL 15 server binaries are missing, unless
MANDATE_HA_REQUIRED is set (as `make ha-test` does): then their absence fails."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import text

from api.app import create_app
from core import migrate
from core.clock import FixedClock
from core.db import Database
from core.policy_versions.reload import PolicyWatcher
from tests.conftest import DEFAULT_NOW, LiveServer, settings_for_tests
from tests.factories import bearer, build_world
from tests.ha.cluster import MISSING, Cluster
from tests.ledger_checks import assert_ledger_check_passes

REQUIRED = bool(os.environ.get("MANDATE_HA_REQUIRED"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(MISSING) and not REQUIRED, reason=f"needs {', '.join(MISSING)} (make ha-test)"
    ),
]

WORKERS = 4
BEFORE = 40  # transfers acknowledged before the kill
AFTER = 10  # transfers each client has acknowledged, sent after the kill, before it stops
DEADLINE = 120.0  # seconds the load may take in all: the test stays under three minutes
AMOUNT = 100


@dataclass
class Load:
    """Clients sending transfers, each key again until it is answered 2xx."""

    url: str
    headers: dict[str, str]
    body: dict[str, object]
    killed_at: float | None = None
    acknowledged: dict[str, int] = field(default_factory=dict)  # key: transfer id
    after_kill: Counter[int] = field(default_factory=Counter)  # worker: acknowledged
    refusals: Counter[str] = field(default_factory=Counter)  # status and code, or error
    first_after_kill: float | None = None
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, worker: int) -> None:
        deadline = time.monotonic() + DEADLINE
        with httpx.Client(base_url=self.url, timeout=15) as client:
            n = 0
            while not self.stop.is_set() and self.after_kill[worker] < AFTER:
                key = f"ha-{worker}-{n}"
                n += 1
                while True:
                    if time.monotonic() > deadline:
                        self.failures.append(f"{key} not acknowledged in {DEADLINE:.0f} s")
                        return
                    sent = time.monotonic()
                    try:
                        answer = client.post(
                            "/v1/transfers",
                            json=self.body,
                            headers={**self.headers, "Idempotency-Key": key},
                        )
                    except httpx.HTTPError as exc:
                        self._refused(type(exc).__name__)
                        time.sleep(0.1)
                        continue
                    if answer.status_code in (200, 201):
                        self._acknowledged(worker, key, answer.json()["id"], sent)
                        break
                    if answer.status_code != 503:
                        # Anything else is a defect: the switch must be a clean 503.
                        self.failures.append(f"{key}: {answer.status_code} {answer.text}")
                        return
                    self._refused(f"503 {answer.json()['error']}")
                    time.sleep(float(answer.headers.get("Retry-After", "1")) / 4)

    def _acknowledged(self, worker: int, key: str, transfer_id: int, sent: float) -> None:
        with self.lock:
            previous = self.acknowledged.setdefault(key, transfer_id)
            if previous != transfer_id:
                self.failures.append(f"{key} answered {previous}, then {transfer_id}")
            if self.killed_at is not None and sent > self.killed_at:
                self.after_kill[worker] += 1
                if self.first_after_kill is None:
                    self.first_after_kill = time.monotonic()

    def _refused(self, what: str) -> None:
        with self.lock:
            self.refusals[what] += 1


def test_acknowledged_transfers_survive_a_failover_exactly_once(key_path):  # type: ignore[no-untyped-def]
    with Cluster() as cluster:
        settings = settings_for_tests(cluster.url, key_path, database_pool_size=8)
        migrate.upgrade(settings.database_url)
        db = Database(settings.database_url, pool_size=8)
        clock = FixedClock(DEFAULT_NOW)
        app = create_app(settings, database=db, clock=clock)
        world = build_world(db, app.state.services.passwords, clock)
        debit = world.account_id("acme-operating")
        body = {
            "from_account_id": debit,
            "to_account_id": world.account_id("acme-payroll"),
            "amount": AMOUNT,
            "currency": "EUR",
        }
        with db.unit_of_work(write=False) as session:
            opening = session.execute(
                text("SELECT balance FROM accounts WHERE id = :id"), {"id": debit}
            ).scalar_one()
        primary = cluster.leader()
        assert primary is not None
        with LiveServer(app) as server:
            load = Load(server.url, bearer(app, world.users["acme-payer"], clock), body)
            threads = [threading.Thread(target=load.run, args=(w,)) for w in range(WORKERS)]
            for thread in threads:
                thread.start()
            try:
                cluster.wait_for(
                    lambda: len(load.acknowledged) >= BEFORE or bool(load.failures), timeout=60
                )
                load.killed_at = time.monotonic()
                cluster.kill_postmaster(primary)
                for thread in threads:
                    thread.join(timeout=DEADLINE + 30)
            finally:
                load.stop.set()
            assert not any(thread.is_alive() for thread in threads)
        promoted = cluster.leader()
        assert load.failures == []
        assert promoted is not None and promoted is not primary, "the standby was not promoted"
        assert load.first_after_kill is not None
        recovery = load.first_after_kill - load.killed_at
        print(
            f"\nfailover: {len(load.acknowledged)} transfers acknowledged, "
            f"{recovery:.1f} s from the kill of {primary.name}'s postmaster to the first "
            f"transfer acknowledged after it (by {promoted.name}); refused meanwhile: "
            f"{dict(load.refusals)}"
        )

        # Exactly once: every acknowledged key has its one transfer, and there are no others.
        with db.unit_of_work(write=False) as session:
            stored = dict(
                session.execute(
                    text("SELECT key, transfer_id FROM idempotency_keys WHERE key LIKE 'ha-%'")
                ).all()
            )
            transfers = session.execute(
                text("SELECT count(*) FROM transfers WHERE debit_account_id = :id"),
                {"id": debit},
            ).scalar_one()
            balance = session.execute(
                text("SELECT balance FROM accounts WHERE id = :id"), {"id": debit}
            ).scalar_one()
        assert stored == load.acknowledged
        assert transfers == len(load.acknowledged)
        assert balance == opening - AMOUNT * len(load.acknowledged)
        # The policy watcher's LISTEN connection, made from the same URL, finds the new
        # primary too (it reconnects so after losing the old one).
        with PolicyWatcher(db)._listening() as listening:
            row = listening.execute("SELECT pg_is_in_recovery()").fetchone()
            assert row is not None and row[0] is False
        db.dispose()

        assert_ledger_check_passes(cluster.url)
