"""Statement paging deep into an account with 1,000,000 entries, on PostgreSQL.

The entries are seeded server-side (INSERT ... SELECT generate_series: a million balanced
deposits from the clearing account), then pages of 50 are read at random depths with the
keyset cursor, in-process (the service call: policy check included) and over HTTP.

    .venv/bin/python -m bench.statement_paging [--entries 1000000] [--pages 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from bench.http_transfers import PASSWORD, create_database, start_server
from core import migrate
from core.clock import SystemClock
from core.context import RequestContext
from core.db import Database
from core.iam import service as iam
from core.iam.credentials import Passwords
from core.ledger import service as ledger
from core.ledger.schemas import AccountCreate
from core.models.iam import actor_of
from core.pagination import encode_cursor
from core.policy import engine as policy_engine
from core.settings import REPO_ROOT, Settings

# A million deposits of 1.00 EUR from the clearing account, one second apart, and their entries
# with the running balance after each: server-side, so seeding takes a minute, not an hour.
SEED_TRANSFERS = """
    INSERT INTO transfers (id, bank_id, tenant_id, kind, debit_account_id, credit_account_id,
                           amount, currency, description, initiated_by_id, created_at)
    SELECT g, %s, %s, 'deposit', %s, %s, 100, 'EUR', 'seed ' || g, %s,
           now() - (%s - g) * interval '1 second'
    FROM generate_series(1, %s) g
"""
SEED_ENTRIES = """
    INSERT INTO entries (transfer_id, account_id, amount, currency, balance_after, created_at)
    SELECT g, a.account_id, a.sign * 100, 'EUR', a.sign * 100 * g,
           now() - (%s - g) * interval '1 second'
    FROM generate_series(1, %s) g, (VALUES (%s, -1), (%s, 1)) AS a (account_id, sign)
    ORDER BY g, a.sign
"""


def seed(url: str, entries: int) -> tuple[int, int]:
    settings = Settings(database_url=url, password_time_cost=1, password_memory_kib=64)
    policy_engine.ensure_loaded(REPO_ROOT / "policies")
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    now = SystemClock().now()
    passwords = Passwords(settings)
    with db.unit_of_work() as session:
        bank = iam.create_bank(session, "Paging Bank")
        tenant = iam.create_tenant(session, bank.id, "Paging Ltd", "Europe/Berlin")  # type: ignore[arg-type]
        manager = iam.create_user(
            session,
            passwords,
            bank_id=bank.id,
            tenant_id=None,  # type: ignore[arg-type]
            username="paging-manager",
            display_name="M",
            password=PASSWORD,
            now=now,
        )
        iam.grant_role(
            session,
            manager,
            iam.builtin_role(
                session,
                "bank_manager",
                bank_id=bank.id,  # type: ignore[arg-type]
                tenant_id=None,
            ),
            now=now,
        )
        bookkeeper = iam.create_user(
            session,
            passwords,
            bank_id=bank.id,
            tenant_id=tenant.id,  # type: ignore[arg-type]
            username="paging-bookkeeper",
            display_name="B",
            password=PASSWORD,
            now=now,
        )
        iam.grant_role(
            session,
            bookkeeper,
            iam.builtin_role(
                session,
                "bookkeeper",
                bank_id=bank.id,  # type: ignore[arg-type]
                tenant_id=tenant.id,
            ),
            now=now,
        )
        account = ledger.open_account(
            session,
            RequestContext(actor=actor_of(manager)),
            AccountCreate(tenant_id=tenant.id, name="Busy", currency="EUR"),
        )  # type: ignore[arg-type]
        account_id, manager_id = account.id, manager.id
    db.dispose()
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        clearing = conn.execute("SELECT id FROM accounts WHERE kind = 'clearing'").fetchone()[0]
        bank_id, tenant_id = conn.execute(
            "SELECT bank_id, tenant_id FROM accounts WHERE id = %s", (account_id,)
        ).fetchone()
        conn.execute(
            SEED_TRANSFERS,
            (bank_id, tenant_id, clearing, account_id, manager_id, entries, entries),
        )
        conn.execute(
            SEED_ENTRIES,
            (entries, entries, clearing, account_id),
        )
        conn.execute("SELECT setval('transfers_id_seq', (SELECT max(id) FROM transfers))")
        conn.execute("UPDATE accounts SET balance = %s WHERE id = %s", (entries * 100, account_id))
        conn.execute("UPDATE accounts SET balance = %s WHERE id = %s", (-entries * 100, clearing))
        conn.execute("ANALYZE entries")
        conn.execute("ANALYZE transfers")
    print(
        f"seeded {entries:,} entries on one account in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return account_id, clearing


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=2000)
    args = parser.parse_args()
    url = create_database("mandate_bench_paging")
    account_id, _ = seed(url, args.entries)
    with psycopg.connect(url) as conn:
        low, high = conn.execute(
            "SELECT min(id), max(id) FROM entries WHERE account_id = %s", (account_id,)
        ).fetchone()
    rng = random.Random(3)
    # Cursors between 10% and 90% of the way down: deep pages, not the first.
    cursors = [
        encode_cursor(rng.randint(low + (high - low) // 10, high - (high - low) // 10))
        for _ in range(args.pages)
    ]

    db = Database(Settings(database_url=url).database_url)
    with db.unit_of_work(write=False) as session:
        from sqlalchemy import select

        from core.models.iam import User

        actor = actor_of(session.scalar(select(User).where(User.username == "paging-bookkeeper")))  # type: ignore[arg-type]
    samples = []
    for cursor in cursors:
        started = time.perf_counter()
        with db.unit_of_work(write=False) as session:
            page = ledger.statement(
                session, RequestContext(actor=actor), account_id, cursor=cursor, limit=50
            )
        samples.append((time.perf_counter() - started) * 1000)
        assert len(page.items) == 50
    db.dispose()
    print(
        f"in-process, 50-entry page at a random depth: median {statistics.median(samples):.2f} ms, "
        f"p99 {percentile(samples, 0.99):.2f} ms ({len(samples)} pages)"
    )

    server = start_server(url, 1, 8770, Path(tempfile.mkdtemp()) / "key.pem")
    try:
        base = "http://127.0.0.1:8770"
        token = httpx.post(
            f"{base}/v1/auth/token", data={"username": "paging-bookkeeper", "password": PASSWORD}
        ).json()["access_token"]
        samples = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            for cursor in cursors:
                started = time.perf_counter()
                response = http.get(
                    f"/v1/accounts/{account_id}/entries", params={"cursor": cursor, "limit": 50}
                )
                samples.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200 and len(response.json()["items"]) == 50
        print(
            f"HTTP, 50-entry page at a random depth: median {statistics.median(samples):.2f} ms, "
            f"p99 {percentile(samples, 0.99):.2f} ms ({len(samples)} pages)"
        )
    finally:
        import os
        import signal

        os.killpg(server.pid, signal.SIGTERM)


if __name__ == "__main__":
    main()
