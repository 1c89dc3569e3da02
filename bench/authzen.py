"""AuthZEN boxcars against a live server: POST /access/v1/evaluations with 50 questions per
call from 16 concurrent clients, on PostgreSQL. Reports decisions per second and the latency
of a call (median, p99).

Each call is one decision service of the company asking about one of its payers: 25
transfers (random accounts of 200, random amounts, to another account of the company: each
decision reads the payer's grant, the caps and today's totals for the daily limit) and 25
reads of a random account. Every question is decided through the same seam the API uses and
logged as the API logs decisions (every money move).

    .venv/bin/python -m bench.authzen [--seconds 30] [--concurrency 16] [--workers 2]
        [--database-url postgresql://.../some_db]   (its schema is dropped and rebuilt)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bench.http_transfers import create_database, start_server
from core import migrate
from core.clock import SystemClock
from core.context import RequestContext
from core.db import Database
from core.iam import service as iam
from core.iam.credentials import Passwords
from core.ledger import service as ledger
from core.ledger.schemas import AccountCreate
from core.models.iam import LimitCap, actor_of
from core.settings import REPO_ROOT, Settings

ACCOUNTS = 200
PAYERS = 16
QUESTIONS = 50
PASSWORD = "bench-password-1"


def reset(url: str) -> str:
    """The database at `url`, emptied: its public schema dropped and made again."""
    engine = create_engine(Settings(database_url=url).database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def seed(url: str) -> list[int]:
    """A company with ACCOUNTS accounts, PAYERS payers (each with a per-transfer and a daily
    limit, under the company's caps) and a decision service. Answers the accounts' ids."""
    settings = Settings(database_url=url, password_time_cost=1, password_memory_kib=64)
    from core.policy import engine as policy_engine

    policy_engine.ensure_loaded(REPO_ROOT / "policies")
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    passwords = Passwords(settings)
    now = SystemClock().now()
    with db.unit_of_work() as session:
        bank = iam.create_bank(session, "Bench Bank")
        assert bank.id is not None
        tenant = iam.create_tenant(session, bank.id, "Bench Ltd", "Europe/Berlin")
        assert tenant.id is not None
        session.add(
            LimitCap(
                bank_id=bank.id,
                tenant_id=tenant.id,
                currency="EUR",
                per_transfer_limit=1_000_000_00,
                daily_limit=10**12,
                updated_at=now,
            )
        )

        def person(username: str, tenant_id: int | None, key: str, **conditions: Any) -> Any:
            user = iam.create_user(
                session,
                passwords,
                bank_id=bank.id,  # type: ignore[arg-type]
                tenant_id=tenant_id,
                username=username,
                display_name=username,
                password=PASSWORD,
                now=now,
            )
            role = iam.builtin_role(session, key, bank_id=bank.id, tenant_id=tenant_id)  # type: ignore[arg-type]
            iam.grant_role(session, user, role, now=now, **conditions)
            return user

        for i in range(PAYERS):
            person(
                f"payer{i}",
                tenant.id,
                "payer",
                limit_currency="EUR",
                per_transfer_limit=500_000_00,
                daily_limit=10**11,
            )
        person("bench-decisions", tenant.id, "decision_service")
        manager = person("bench-manager", None, "bank_manager")
        ctx = RequestContext(actor=actor_of(manager))
        ids = [
            ledger.open_account(
                session, ctx, AccountCreate(tenant_id=tenant.id, name=f"a{i}", currency="EUR")
            ).id
            for i in range(ACCOUNTS)
        ]
    db.dispose()
    return ids


def boxcar(rng: random.Random, ids: list[int]) -> dict[str, Any]:
    subject = {"type": "user", "id": f"payer{rng.randrange(PAYERS)}"}
    evaluations = []
    for n in range(QUESTIONS):
        source, target = rng.sample(ids, 2)
        if n % 2 == 0:
            evaluations.append(
                {
                    "action": {"name": "transfer.create"},
                    "resource": {"type": "account", "id": str(source)},
                    "context": {"amount": rng.randint(1, 1_000_000_00), "to_account": str(target)},
                }
            )
        else:
            evaluations.append(
                {
                    "action": {"name": "account.read"},
                    "resource": {"type": "account", "id": str(source)},
                }
            )
    return {"subject": subject, "evaluations": evaluations}


def load(base: str, token: str, ids: list[int], seconds: float, concurrency: int, out: Any) -> None:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    decided = {"allow": 0, "deny": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(n: int) -> None:
        rng = random.Random(n)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            while time.monotonic() < deadline:
                body = boxcar(rng, ids)
                started = time.perf_counter()
                response = http.post("/access/v1/evaluations", json=body)
                elapsed = time.perf_counter() - started
                answers = response.json().get("evaluations", []) if response.is_success else []
                allowed = sum(1 for a in answers if a["decision"])
                with lock:
                    latencies.append(elapsed)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    decided["allow"] += allowed
                    decided["deny"] += len(answers) - allowed

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(
        {
            "elapsed": time.perf_counter() - started,
            "latencies": latencies,
            "statuses": statuses,
            "decided": decided,
        }
    )


def report(result: dict[str, Any], concurrency: int, workers: int, seconds: float) -> None:
    lat = sorted(result["latencies"])
    ok = sum(v for k, v in result["statuses"].items() if 200 <= k < 300)
    decisions = result["decided"]["allow"] + result["decided"]["deny"]
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0.0
    print(
        f"{workers} server workers, {concurrency} clients, {QUESTIONS} questions per call, "
        f"{seconds:.0f} s\n"
        f"  calls:     {ok} ok of {len(lat)} ({result['statuses']}), "
        f"{ok / result['elapsed']:.1f}/s\n"
        f"  decisions: {decisions} ({result['decided']['allow']} allowed, "
        f"{result['decided']['deny']} refused), {decisions / result['elapsed']:.0f}/s\n"
        f"  per call:  median {statistics.median(lat) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    url = (
        reset(args.database_url) if args.database_url else create_database("mandate_bench_authzen")
    )
    print(f"seeding {ACCOUNTS} accounts, {PAYERS} payers and a decision service ...", flush=True)
    ids = seed(url)
    key_path = Path(tempfile.mkdtemp()) / "key.pem"
    port = 8766
    server = start_server(url, args.workers, port, key_path)
    try:
        base = f"http://127.0.0.1:{port}"
        token = httpx.post(
            f"{base}/v1/auth/token", data={"username": "bench-decisions", "password": PASSWORD}
        ).json()["access_token"]
        out: Any = mp.Queue()
        runner = mp.Process(
            target=load, args=(base, token, ids, args.seconds, args.concurrency, out)
        )
        runner.start()
        result = out.get(timeout=args.seconds + 120)
        runner.join()
        report(result, args.concurrency, args.workers, args.seconds)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
