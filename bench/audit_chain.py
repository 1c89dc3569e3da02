"""The cost of hash-chaining per transfer, and the speed of `mandate audit verify`.

In one process, on one database: the demo bank's payer makes transfers through the unit of
work (policy decision, decision log, activity: the full path a request takes, without HTTP),
in alternating blocks of ten with chaining on (each transfer and its decision appended to
Acme's chain under its head's lock) and off (core.audit.chain.note made a no-op for the
block), so that noise from other processes falls on both alike. Then `verify` walks every
chain. Reported: transfers per second each way, their ratio, and links verified per second.

    .venv/bin/python -m bench.audit_chain [--rounds 6] [--per-round 300]  (transfers each way)
        [--database-url postgresql://postgres@127.0.0.1:5432/test_audit]  (default: SQLite)

A PostgreSQL URL's database is emptied (its public schema dropped) and migrated first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, select, text

from core import demo, migrate
from core.audit import chain
from core.audit.verify import verify_database
from core.clock import FixedClock
from core.context import RequestContext
from core.db import Database
from core.iam.credentials import Passwords
from core.ledger import service as ledger
from core.ledger.schemas import TransferCreate
from core.models.iam import User, actor_of
from core.models.ledger import Account
from core.policy import engine as policy_engine
from core.settings import REPO_ROOT, Settings
from core.uow import UnitOfWork

# Transfers per block; blocks alternate between chaining on and off.
BLOCK = 10
# A Wednesday, 10:00 in Berlin.
NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def _fresh(url: str | None) -> str:
    if url is None:
        path = Path(tempfile.mkdtemp()) / "bench.db"
        url = f"sqlite:///{path}"
    else:
        url = Settings(database_url=url).database_url
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    migrate.upgrade(url)
    return url


def _round(db: Database, clock: FixedClock, payer: User, accounts: list[int], count: int) -> float:
    """Transfers per second over `count` transfers, back and forth between two accounts."""
    actor = actor_of(payer)
    started = time.perf_counter()
    for i in range(count):
        source, target = (accounts[0], accounts[1]) if i % 2 == 0 else (accounts[1], accounts[0])
        body = TransferCreate(
            from_account_id=source, to_account_id=target, amount=1, currency="EUR"
        )
        UnitOfWork(db, RequestContext(actor=actor, clock=clock)).run(
            ledger.create_transfer, body, uuid.uuid4().hex
        )
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    policy_engine.load(REPO_ROOT / "policies")
    url = _fresh(args.database_url)
    db = Database(url, pool_size=2)
    clock = FixedClock(NOW)
    settings = Settings(
        environment="test", database_url=url, password_time_cost=1, password_memory_kib=64
    )
    with db.unit_of_work() as session:
        demo.seed(session, Passwords(settings), clock)
    with db.unit_of_work(write=False) as session:
        payer = session.scalar(select(User).where(User.username == "acme-payer"))
        names = ("Acme Operating", "Acme Payroll")
        accounts = [session.scalar(select(Account.id).where(Account.name == n)) for n in names]
        assert payer is not None and all(accounts)
        session.expunge(payer)
    note = chain.note
    spent = {True: 0.0, False: 0.0}
    done = {True: 0, False: 0}
    _round(db, clock, payer, accounts, 50)  # warm up
    # Short blocks, alternating: noise from other processes falls on both modes alike.
    for block in range(args.rounds * args.per_round // BLOCK * 2):
        chained = block % 2 == 0
        if not chained:
            chain.note = lambda *a, **k: None  # type: ignore[assignment]
        try:
            rate = _round(db, clock, payer, accounts, BLOCK)  # type: ignore[arg-type]
        finally:
            chain.note = note  # type: ignore[assignment]
        spent[chained] += BLOCK / rate
        done[chained] += BLOCK
    on = done[True] / spent[True]
    off = done[False] / spent[False]
    # The unchained rounds' records are in no chain: verify the chained part alone.
    started = time.perf_counter()
    report = verify_database(db)
    walked = time.perf_counter() - started
    db.dispose()
    backend = url.split(":", 1)[0]
    print(f"audit chain bench on {backend}: {done[True]} transfers chained, {done[False]} not")
    print(f"  chaining on : {on:8.1f} transfers/s")
    print(f"  chaining off: {off:8.1f} transfers/s")
    print(f"  ratio on/off: {on / off:.3f}")
    print(f"  verify      : {report.links / walked:8.0f} links/s ({report.links} links)")


if __name__ == "__main__":
    main()
