"""Decision latency, in-process: a read and a transfer check, for an actor holding 1, 10, 100
and 1,000 grants (each over its own account, with limits and a time window).

Two figures per case:
  decide        the policy's decision on gathered facts (compiled, cache warm)
  check         what a request pays: the indexed grant query, caps, totals, then decide

    .venv/bin/python -m bench.decisions [--decisions 10000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path

from core import migrate
from core.clock import FixedClock
from core.context import RequestContext
from core.db import Database
from core.iam import service as iam
from core.iam.credentials import Passwords
from core.models.iam import Grant, GrantAccount, actor_of
from core.models.ledger import Account
from core.policy import engine as policy_engine
from core.policy.facts import Money, Resource, build_request
from core.policy.service import check
from core.settings import REPO_ROOT, Settings

NOW = dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.UTC)  # Wednesday, 10:30 in Berlin
GRANT_COUNTS = (1, 10, 100, 1000)
# Every decision is on one account, whatever the number of grants the actor holds: the other
# grants are over other accounts, and the indexed query never brings them in. So the four rows
# compare like with like, and differ only in how many grants the actor holds.


def build(db: Database, grants: int) -> tuple[int, list[int]]:
    """A tenant with `grants` accounts and a payer holding one grant over each."""
    passwords = Passwords(Settings(password_time_cost=1, password_memory_kib=64))
    with db.unit_of_work() as session:
        bank = iam.create_bank(session, f"Bench bank {grants}")
        tenant = iam.create_tenant(session, bank.id, f"Bench {grants}", "Europe/Berlin")  # type: ignore[arg-type]
        payer = iam.create_user(
            session,
            passwords,
            bank_id=bank.id,
            tenant_id=tenant.id,  # type: ignore[arg-type]
            username=f"bench-payer-{grants}",
            display_name="Bench",
            password="x" * 12,
            now=NOW,
        )
        role = iam.builtin_role(session, "payer", bank_id=bank.id, tenant_id=tenant.id)  # type: ignore[arg-type]
        accounts = [
            Account(bank_id=bank.id, tenant_id=tenant.id, name=f"a{i}", currency="EUR")  # type: ignore[arg-type]
            for i in range(grants + 1)
        ]
        session.add_all(accounts)
        session.flush()
        for account in accounts[:grants]:
            grant = Grant(
                user_id=payer.id,
                role_id=role.id,
                bank_id=bank.id,
                tenant_id=tenant.id,  # type: ignore[arg-type]
                all_accounts=False,
                limit_currency="EUR",
                per_transfer_limit=1_000_000,
                daily_limit=5_000_000,
                monthly_limit=50_000_000,
                window_days="01234",
                window_start=420,
                window_end=1200,
                window_zone="Europe/Berlin",
                created_at=NOW,
                updated_at=NOW,
            )
            session.add(grant)
            session.flush()
            session.add(GrantAccount(grant_id=grant.id, account_id=account.id, user_id=payer.id))  # type: ignore[arg-type]
        return payer.id, [a.id for a in accounts]  # type: ignore[return-value]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


ACTIONS = ("account.read", "transfer.create")
ROUNDS = 20


def measure(
    db: Database, worlds: dict[int, tuple[int, list[int]]], n: int
) -> dict[int, dict[str, tuple[float, float]]]:
    """Median and p99 per grant count. The cases take turns, in rounds, so that a moment of
    machine noise falls on all of them alike rather than on one row."""
    engine = policy_engine.current()
    clock = FixedClock(NOW)
    rng = random.Random(7)
    samples: dict[tuple[int, str], list[float]] = {}
    sessions = {grants: db.session(write=False) for grants in worlds}
    try:
        setups = {}
        for grants, (user_id, account_ids) in worlds.items():
            session = sessions[grants]
            from core.models.iam import User

            actor = actor_of(session.get(User, user_id))  # type: ignore[arg-type]
            subject = session.get(Account, account_ids[0])
            counterparty = session.get(Account, account_ids[-1])
            assert subject is not None and counterparty is not None
            prepared = {}
            for action in ACTIONS:
                money = Money(100_00, "EUR", counterparty) if action == "transfer.create" else None
                prepared[action] = build_request(
                    session,
                    engine,
                    actor=actor,
                    action=action,
                    resource=Resource.of_account(subject),
                    now=NOW,
                    money=money,
                    tenant_zone="Europe/Berlin",
                )
                engine.decide(prepared[action].request, prepared[action].values)  # compile
            setups[grants] = (actor, subject, counterparty, prepared)
        order = list(worlds)
        for _ in range(ROUNDS):
            rng.shuffle(order)
            for grants in order:
                actor, subject, counterparty, prepared = setups[grants]
                for action in ACTIONS:
                    facts = prepared[action]
                    bucket = samples.setdefault((grants, f"decide {action}"), [])
                    for _ in range(n // ROUNDS):
                        values = dict(facts.values)
                        if "amount" in values:
                            values["amount"] = rng.randint(1, 1_000_000)
                            for key in [k for k in values if k.endswith(".day_total")]:
                                values[key] = values["amount"] + rng.randint(0, 4_000_000)
                        started = time.perf_counter_ns()
                        engine.decide(facts.request, values)
                        bucket.append((time.perf_counter_ns() - started) / 1000)
                    bucket = samples.setdefault((grants, f"check {action}"), [])
                    for _ in range(max(n // 5, 2000) // ROUNDS):
                        money = (
                            Money(rng.randint(1, 1_000_000), "EUR", counterparty)
                            if action == "transfer.create"
                            else None
                        )
                        ctx = RequestContext(actor=actor, clock=clock)
                        started = time.perf_counter_ns()
                        check(
                            sessions[grants],
                            ctx,
                            action,
                            Resource.of_account(subject),
                            money=money,
                            record=False,
                        )
                        bucket.append((time.perf_counter_ns() - started) / 1000)
    finally:
        for session in sessions.values():
            session.close()
    table: dict[int, dict[str, tuple[float, float]]] = {}
    for (grants, kind), values in samples.items():
        table.setdefault(grants, {})[kind] = (statistics.median(values), percentile(values, 0.99))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    policy_engine.load(REPO_ROOT / "policies")
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    migrate.upgrade(url)
    db = Database(url)
    worlds = {grants: build(db, grants) for grants in GRANT_COUNTS}
    table = measure(db, worlds, args.decisions)
    db.dispose()

    kinds = list(table[GRANT_COUNTS[0]])
    print(
        f"decision latency, µs (median / p99), {args.decisions} decisions each, "
        f"policy {policy_engine.current().version}, database {url.split(':')[0]}"
    )
    print(f"{'grants':>8} " + " ".join(f"{k:>30}" for k in kinds))
    for grants in GRANT_COUNTS:
        cells = [f"{table[grants][k][0]:>12.1f} / {table[grants][k][1]:>12.1f}" for k in kinds]
        print(f"{grants:>8} " + " ".join(f"{c:>30}" for c in cells))
    for k in kinds:
        ratio = table[GRANT_COUNTS[-1]][k][0] / table[GRANT_COUNTS[0]][k][0]
        print(f"{k}: 1,000 grants / 1 grant = {ratio:.2f}x")


if __name__ == "__main__":
    main()
