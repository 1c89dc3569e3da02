"""HTTP transfers on PostgreSQL, against a raw-SQL baseline doing the same ledger writes.

The server runs with several uvicorn worker processes; a separate load process drives
authorized transfers through the real API (bearer token, Idempotency-Key, policy decision
with per-transfer and daily limits, decision log, activity: the full path). In the same run
a raw-SQL baseline (psycopg, no Mandate code) does the same ledger writes at the same
concurrency: lock both accounts in id order, insert the transfer and its two entries,
update both balances, commit.

Cases: transfers among 1,000 accounts; a hot account debited by every transfer.

    .venv/bin/python -m bench.http_transfers [--seconds 15] [--concurrency 16] [--workers 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from core import migrate
from core.clock import SystemClock
from core.context import RequestContext
from core.db import Database
from core.iam import service as iam
from core.iam.credentials import Passwords
from core.models.iam import LimitCap, actor_of
from core.models.ledger import Account
from core.settings import REPO_ROOT, Settings

# The PostgreSQL server the benchmarks create their own databases on (mandate_bench...).
ADMIN_URL = os.environ.get("MANDATE_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
ACCOUNTS = 1000
PASSWORD = "bench-password-1"


def create_database(name: str) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


SEED_TRANSFER = """
    INSERT INTO transfers (bank_id, tenant_id, kind, debit_account_id, credit_account_id, amount,
                           currency, description, initiated_by_id, created_at)
    SELECT bank_id, tenant_id, 'deposit', %s, id, %s, 'EUR', 'seed', %s, now()
    FROM accounts WHERE id = %s RETURNING id
"""
SEED_ENTRIES = """
    INSERT INTO entries (transfer_id, account_id, amount, currency, balance_after, created_at)
    VALUES (%s, %s, %s, 'EUR', %s, now()), (%s, %s, %s, 'EUR', %s, now())
"""
RAW_LOCK = "SELECT id, balance FROM accounts WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE"
RAW_TRANSFER = """
    INSERT INTO transfers (bank_id, tenant_id, kind, debit_account_id, credit_account_id, amount,
                           currency, description, initiated_by_id, created_at)
    VALUES (%s, %s, 'transfer', %s, %s, %s, 'EUR', '', %s, now()) RETURNING id
"""


def seed(url: str, payers: int) -> tuple[list[int], int]:
    """A tenant with 1,000 funded EUR accounts and `payers` payers, each with a grant over all
    accounts with a per-transfer and a daily limit (so every decision checks limits under
    the person's lock), under tenant and bank caps."""
    settings = Settings(database_url=url, password_time_cost=1, password_memory_kib=64)
    from core.policy import engine as policy_engine

    policy_engine.ensure_loaded(REPO_ROOT / "policies")
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    passwords = Passwords(settings)
    now = SystemClock().now()
    with db.unit_of_work() as session:
        bank = iam.create_bank(session, "Bench Bank")
        tenant = iam.create_tenant(session, bank.id, "Bench Ltd", "Europe/Berlin")  # type: ignore[arg-type]
        for tenant_id in (None, tenant.id):
            session.add(
                LimitCap(
                    bank_id=bank.id,
                    tenant_id=tenant_id,
                    currency="EUR",
                    per_transfer_limit=10_000_000_00,
                    daily_limit=10**13,
                    monthly_limit=10**14,
                    updated_at=now,
                )
            )
        role = iam.builtin_role(session, "payer", bank_id=bank.id, tenant_id=tenant.id)  # type: ignore[arg-type]
        for i in range(payers):
            user = iam.create_user(
                session,
                passwords,
                bank_id=bank.id,
                tenant_id=tenant.id,  # type: ignore[arg-type]
                username=f"payer{i}",
                display_name=f"Payer {i}",
                password=PASSWORD,
                now=now,
            )
            iam.grant_role(
                session,
                user,
                role,
                now=now,
                limit_currency="EUR",
                per_transfer_limit=1_000_000_00,
                daily_limit=10**13,
            )
        manager = iam.create_user(
            session,
            passwords,
            bank_id=bank.id,
            tenant_id=None,
            username="bench-manager",
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
        from core.ledger import service as ledger
        from core.ledger.schemas import AccountCreate

        ctx = RequestContext(actor=actor_of(manager))
        ledger.open_account(
            session, ctx, AccountCreate(tenant_id=tenant.id, name="first", currency="EUR")
        )  # type: ignore[arg-type]
        session.add_all(
            [
                Account(
                    bank_id=bank.id,
                    tenant_id=tenant.id,
                    name=f"bench-{i}",  # type: ignore[arg-type]
                    currency="EUR",
                    balance=0,
                    created_at=now,
                    updated_at=now,
                )
                for i in range(ACCOUNTS - 1)
            ]
        )
    db.dispose()
    # Fund every account from the clearing account with one balanced deposit each (raw SQL:
    # seeding is not what is measured).
    with psycopg.connect(url) as conn:
        clearing = conn.execute("SELECT id FROM accounts WHERE kind = 'clearing'").fetchone()[0]
        ids = [
            r[0]
            for r in conn.execute("SELECT id FROM accounts WHERE kind = 'customer' ORDER BY id")
        ]
        manager_id = conn.execute(
            "SELECT id FROM users WHERE username = 'bench-manager'"
        ).fetchone()[0]
        amount = 1_000_000_00
        for n, account_id in enumerate(ids, start=1):
            transfer_id = conn.execute(
                SEED_TRANSFER, (clearing, amount, manager_id, account_id)
            ).fetchone()[0]
            conn.execute(
                SEED_ENTRIES,
                (
                    transfer_id,
                    clearing,
                    -amount,
                    -amount * n,
                    transfer_id,
                    account_id,
                    amount,
                    amount,
                ),
            )
        # The hot account is debited by every transfer of its case: fund it for many runs.
        hot = amount * 100_000
        transfer_id = conn.execute(SEED_TRANSFER, (clearing, hot, manager_id, ids[0])).fetchone()[0]
        total = amount * len(ids) + hot
        conn.execute(
            SEED_ENTRIES,
            (transfer_id, clearing, -hot, -total, transfer_id, ids[0], hot, amount + hot),
        )
        conn.execute("UPDATE accounts SET balance = %s WHERE kind = 'customer'", (amount,))
        conn.execute("UPDATE accounts SET balance = %s WHERE id = %s", (amount + hot, ids[0]))
        conn.execute("UPDATE accounts SET balance = %s WHERE id = %s", (-total, clearing))
    return ids, clearing


# -- load --------------------------------------------------------------------------------------


def _pairs(rng: random.Random, ids: list[int], hot: bool) -> tuple[int, int]:
    if hot:
        return ids[0], rng.choice(ids[1:])
    a, b = rng.sample(ids, 2)
    return a, b


def http_load(
    base: str,
    tokens: list[str],
    ids: list[int],
    hot: bool,
    seconds: float,
    concurrency: int,
    out: mp.Queue,
) -> None:  # type: ignore[type-arg]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(n: int) -> None:
        rng = random.Random(n)
        headers = {"Authorization": f"Bearer {tokens[n % len(tokens)]}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            while time.monotonic() < deadline:
                source, target = _pairs(rng, ids, hot)
                started = time.perf_counter()
                response = http.post(
                    "/v1/transfers",
                    json={
                        "from_account_id": source,
                        "to_account_id": target,
                        "amount": rng.randint(1, 100_00),
                        "currency": "EUR",
                    },
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(
        {"elapsed": time.perf_counter() - started, "latencies": latencies, "statuses": statuses}
    )


def raw_worker(
    url: str, ids: list[int], hot: bool, seconds: float, seed: int, out: mp.Queue
) -> None:  # type: ignore[type-arg]
    """The baseline: the same ledger writes, straight SQL, one connection."""
    try:
        out.put(_raw_transfers(url, ids, hot, seconds, seed))
    except Exception as exc:  # report it: a silent worker would hang the run
        out.put({"latencies": [], "statuses": {}, "error": repr(exc)})


def _raw_transfers(url: str, ids: list[int], hot: bool, seconds: float, seed: int) -> dict:  # type: ignore[type-arg]
    rng = random.Random(seed)
    latencies = []
    refused = 0
    deadline = time.monotonic() + seconds
    with psycopg.connect(url) as conn:
        bank, tenant, user = conn.execute(
            "SELECT bank_id, tenant_id, (SELECT id FROM users LIMIT 1) FROM accounts WHERE id = %s",
            (ids[0],),
        ).fetchone()
        conn.commit()
        while time.monotonic() < deadline:
            source, target = _pairs(rng, ids, hot)
            amount = rng.randint(1, 100_00)
            started = time.perf_counter()
            with conn.transaction():
                rows = dict(conn.execute(RAW_LOCK, ([source, target],)).fetchall())
                if rows[source] < amount:  # as the API would refuse it
                    refused += 1
                    continue
                transfer_id = conn.execute(
                    RAW_TRANSFER, (bank, tenant, source, target, amount, user)
                ).fetchone()[0]
                conn.execute(
                    SEED_ENTRIES,
                    (
                        transfer_id,
                        source,
                        -amount,
                        rows[source] - amount,
                        transfer_id,
                        target,
                        amount,
                        rows[target] + amount,
                    ),
                )
                conn.execute(
                    "UPDATE accounts SET balance = balance - %s WHERE id = %s", (amount, source)
                )
                conn.execute(
                    "UPDATE accounts SET balance = balance + %s WHERE id = %s", (amount, target)
                )
            latencies.append(time.perf_counter() - started)
    return {"latencies": latencies, "statuses": {200: len(latencies), 422: refused}}


def run_raw(url: str, ids: list[int], hot: bool, seconds: float, concurrency: int) -> dict:  # type: ignore[type-arg]
    out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    procs = [
        mp.Process(target=raw_worker, args=(url, ids, hot, seconds, n, out))
        for n in range(concurrency)
    ]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    for result in results:
        if "error" in result:
            print(f"  raw SQL worker failed: {result['error']}", flush=True)
    latencies = [x for r in results for x in r["latencies"]]
    refused = sum(r["statuses"].get(422, 0) for r in results)
    return {
        "elapsed": min(elapsed, seconds + 1),
        "latencies": latencies,
        "statuses": {200: len(latencies), **({422: refused} if refused else {})},
    }


def summarize(name: str, result: dict) -> dict:  # type: ignore[type-arg]
    lat = sorted(result["latencies"])
    ok = sum(v for k, v in result["statuses"].items() if 200 <= k < 300)
    errors = {k: v for k, v in result["statuses"].items() if k >= 300}
    rate = ok / result["elapsed"]
    row = {
        "case": name,
        "per_second": round(rate, 1),
        "median_ms": round(statistics.median(lat) * 1000, 2) if lat else None,
        "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 2) if lat else None,
        "errors": errors,
    }
    print(
        f"  {name:<34} {row['per_second']:>8}/s  median {row['median_ms']} ms"
        f"  p99 {row['p99_ms']} ms  errors {errors or 0}",
        flush=True,
    )
    return row


def start_server(url: str, workers: int, port: int, key_path: Path) -> subprocess.Popen:  # type: ignore[type-arg]
    env = {
        **os.environ,
        "MANDATE_DATABASE_URL": url,
        "MANDATE_TOKEN_KEY_PATH": str(key_path),
        "MANDATE_TOKEN_LIFETIME_SECONDS": "3600",
        "MANDATE_DATABASE_POOL_SIZE": "10",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=REPO_ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1, help="repeat each case, report medians")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    url = create_database("mandate_bench")
    print(f"seeding {ACCOUNTS} accounts and {args.concurrency} payers ...", flush=True)
    ids, _ = seed(url, args.concurrency)
    key_path = Path(tempfile.mkdtemp()) / "key.pem"
    port = 8765
    server = start_server(url, args.workers, port, key_path)
    rows = []
    try:
        base = f"http://127.0.0.1:{port}"
        tokens = [
            httpx.post(
                f"{base}/v1/auth/token", data={"username": f"payer{i}", "password": PASSWORD}
            ).json()["access_token"]
            for i in range(args.concurrency)
        ]
        print(
            f"{args.workers} server workers, {args.concurrency} concurrent clients, "
            f"{args.seconds:.0f} s per case, {args.runs} run(s)",
            flush=True,
        )
        for hot in (False, True):
            label = "hot account" if hot else f"random among {ACCOUNTS} accounts"
            for run in range(args.runs):
                out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
                load = mp.Process(
                    target=http_load,
                    args=(base, tokens, ids, hot, args.seconds, args.concurrency, out),
                )
                load.start()
                result = out.get()
                load.join()
                http_row = summarize(f"HTTP, {label}", result)
                raw_row = summarize(
                    f"raw SQL, {label}", run_raw(url, ids, hot, args.seconds, args.concurrency)
                )
                ratio = (
                    http_row["per_second"] / raw_row["per_second"] if raw_row["per_second"] else 0
                )
                print(f"  ratio HTTP / raw SQL: {ratio:.0%}", flush=True)
                rows.append(
                    {
                        "case": label,
                        "run": run,
                        "http": http_row,
                        "raw": raw_row,
                        "ratio": round(ratio, 3),
                    }
                )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    for label in {r["case"] for r in rows}:
        ratios = [r["ratio"] for r in rows if r["case"] == label]
        print(f"median ratio, {label}: {statistics.median(ratios):.0%} over {len(ratios)} run(s)")
    if args.json:
        args.json.write_text(
            json.dumps({"at": dt.datetime.now(dt.UTC).isoformat(), "rows": rows}, indent=2)
        )


if __name__ == "__main__":
    main()
