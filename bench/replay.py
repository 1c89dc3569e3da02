"""Replaying the decision log (core.policy.replay.impact): 100,000 logged decisions decided
again under the bundled policy and under a tightened one (the bookkeeper loses
statement.read). Target: under 60 s for 100,000.

The log is written in bulk, with facts shaped by the same code the service uses
(core.policy.shaping.shape_request) for a bank of 60 companies, 8 people each: payers' transfers
and payments (amounts, times, today's totals at random, so limits and windows refuse some),
approvals in every state, bookkeepers' account and statement reads, admins' user and grant
changes, other companies' 404s, the bank's deposits. Two logs:

  realistic     each person's requests share their static facts, as in a real week (the
                compile cache sees each person's few kinds of request again and again)
  all distinct  the worst case: no two decisions share static facts (every one its own grant)

Also what the facts cost the log: bytes per decision (from the realistic log) and, with
--transfers N, the median latency of N transfers made in-process through the service on a
SQLite file (the decision logged with its facts; run it on a checkout without this change
for the figure before).

    .venv/bin/python -m bench.replay [--decisions 100000] [--distinct-decisions 10000]
        [--runs 3] [--transfers 2000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select

from core import migrate
from core.clock import FixedClock
from core.context import Actor, RequestContext
from core.db import Database, table_of
from core.iam import service as iam
from core.iam.credentials import Passwords
from core.ledger import service as ledger
from core.ledger.schemas import AccountCreate, DepositCreate, TransferCreate
from core.models.audit import DecisionRecord
from core.models.iam import Grant, Role, User, actor_of
from core.models.ledger import Account
from core.policy import engine as policy_engine
from core.policy import recorded
from core.policy.engine import PolicyEngine
from core.policy.replay import Impact, impact
from core.policy.shaping import (
    Approval,
    Gathered,
    GrantSpendTotals,
    Money,
    Proposal,
    Resource,
    shape_request,
)
from core.settings import REPO_ROOT, Settings
from core.uow import UnitOfWork

END = dt.datetime(2026, 11, 27, 18, 0, tzinfo=dt.UTC)  # a Friday evening
WEEK = dt.timedelta(days=7)
TENANTS = 60
ZONES = ("Europe/Berlin", "Europe/Vienna", "Europe/London", "America/New_York")


@dataclass
class Person:
    user_id: int
    tenant_id: int
    role: str
    grant: Grant | None
    role_row: Role


@dataclass
class Template:
    """One kind of request of one person: its static facts are fixed, its values drawn."""

    actor: Actor
    action: str
    resource: Resource
    gathered: Gathered
    zone: str
    money: tuple[str, Account] | None = None  # currency, counterparty
    approval: tuple[int, str, tuple[int, ...], int, int] | None = None
    proposal: Proposal | None = None


def build_bank(db: Database) -> tuple[int, list[Person], dict[int, list[int]]]:
    """A bank, its companies and people (rows, so the log's keys hold), and their grants and
    roles as the facts would show them (in memory: the facts are self-contained)."""
    rng = random.Random(1)
    people: list[Person] = []
    accounts: dict[int, list[int]] = {}
    with db.unit_of_work() as session:
        bank = iam.create_bank(session, "Replay bench bank")
        assert bank.id is not None
        staff = [("bench-manager", None, "bank_manager")]
        rows: list[dict[str, Any]] = []
        tenants = []
        for t in range(TENANTS):
            tenant = iam.create_tenant(session, bank.id, f"Company {t}", ZONES[t % len(ZONES)])
            assert tenant.id is not None
            tenants.append(tenant.id)
            accounts[tenant.id] = [10_000 + t * 10 + i for i in range(3)]
            for role, count in (("payer", 2), ("bookkeeper", 3), ("approver", 2)):
                staff += [(f"c{t}-{role}-{i}", tenant.id, role) for i in range(count)]
            staff.append((f"c{t}-admin", tenant.id, "corporate_admin"))
        for username, tenant_id, _ in staff:
            rows.append(
                {
                    "username": username,
                    "display_name": username,
                    "bank_id": bank.id,
                    "tenant_id": tenant_id,
                    "password_hash": "-",
                    "is_active": True,
                    "created_at": END - 4 * WEEK,
                    "credentials_changed_at": END - 4 * WEEK,
                }
            )
        session.execute(insert(table_of(User)), rows)
        ids = {name: uid for name, uid in session.execute(select(User.username, User.id))}
        for number, (username, tenant_id, role) in enumerate(staff):
            role_row = Role(
                id=number % 7 + 1,
                bank_id=bank.id,
                tenant_id=tenant_id,
                key=role,
                name=role,
                builtin=True,
                level="bank" if tenant_id is None else "tenant",
            )
            grant = Grant(
                id=1_000 + number,
                user_id=ids[username],
                role_id=role_row.id or 0,
                bank_id=bank.id,
                tenant_id=tenant_id,
            )
            if role == "payer":
                grant.limit_currency = "EUR"
                grant.per_transfer_limit = rng.choice((50_000_00, 100_000_00, 200_000_00))
                grant.daily_limit = rng.choice((100_000_00, 250_000_00))
                if rng.random() < 0.5:
                    grant.window_days, grant.window_start, grant.window_end = "01234", 480, 1080
                    grant.window_zone = ZONES[number % len(ZONES)]
            if role == "approver":
                grant.approval_group = "AB"[number % 2]
                grant.approval_limit = 500_000_00
                grant.limit_currency = "EUR"
            people.append(Person(ids[username], tenant_id or 0, role, grant, role_row))
        return bank.id, people, accounts


def templates(bank_id: int, people: list[Person], accounts: dict[int, list[int]]) -> list[Template]:
    """Each person's kinds of request, weighted by how often they come (repeated in the list)."""
    rng = random.Random(2)
    out: list[Template] = []
    tenants = sorted(accounts)
    by_tenant: dict[int, list[Person]] = {}
    for person in people:
        by_tenant.setdefault(person.tenant_id, []).append(person)
    for person in people:
        tenant = person.tenant_id or None
        zone = ZONES[(tenant or 0) % len(ZONES)]
        actor = Actor(person.user_id, "-", "-", bank_id, tenant)
        assert person.grant is not None
        mine = Gathered(pairs=[(person.grant, person.role_row)], permissions={})
        none = Gathered(pairs=[], permissions={})

        def account(of: int | None) -> Resource:
            return Resource("account", rng.choice(accounts[of or tenants[0]]), of, bank_id)

        def counterparty(kind: str, of: int | None) -> Account:
            return Account(id=1, bank_id=bank_id, tenant_id=of, name="-", currency="EUR", kind=kind)

        reads = [
            Template(actor, action, account(tenant), mine, zone)
            for action in ("account.read", "statement.read")
        ]
        if person.role == "bank_manager":
            deposit = Template(
                actor,
                "deposit.create",
                account(tenants[0]),
                mine,
                zone,
                money=("EUR", counterparty("clearing", None)),
            )
            out += [deposit] * 20 + reads
            continue
        elsewhere = rng.choice([t for t in tenants if t != tenant])
        out.append(Template(actor, "account.read", account(elsewhere), none, zone))
        if person.role == "payer":
            own = Template(
                actor,
                "transfer.create",
                account(tenant),
                mine,
                zone,
                money=("EUR", counterparty("customer", tenant)),
            )
            pays = [
                Template(
                    actor,
                    "payment.create",
                    account(tenant),
                    mine,
                    zone,
                    money=("EUR", counterparty(kind, of)),
                )
                for kind, of in (("clearing", None), ("customer", elsewhere))
            ]
            out += [own] * 60 + pays * 15 + reads * 10
        elif person.role == "bookkeeper":
            refused = Template(
                actor,
                "transfer.create",
                account(tenant),
                none,
                zone,
                money=("EUR", counterparty("customer", tenant)),
            )
            out += reads * 25 + [refused]
        elif person.role == "approver":
            colleagues = [
                p.user_id
                for p in by_tenant[person.tenant_id]
                if p.role == "approver" and p.user_id != person.user_id
            ]
            for prepared, approved, needed, needed_a in (
                (False, False, 1, 0),
                (False, False, 2, 1),
                (False, True, 1, 1),
                (True, False, 1, 0),
            ):
                initiator = person.user_id if prepared else person.user_id + 1
                approvers = (person.user_id,) if approved else tuple(colleagues[: 2 - needed])
                out += [
                    Template(
                        actor,
                        "payment.approve",
                        account(tenant),
                        mine,
                        zone,
                        approval=(initiator, "pending_approval", approvers, needed, needed_a),
                    )
                ] * 8
            out += reads * 5
        else:  # corporate admin
            for colleague in by_tenant[person.tenant_id]:
                user = Resource("user", colleague.user_id, tenant, bank_id)
                out.append(Template(actor, "user.manage", user, mine, zone))
                grant = Resource(
                    "grant",
                    colleague.grant.id if colleague.grant else None,
                    tenant,
                    bank_id,
                    extra=(
                        ("grantee", colleague.user_id),
                        ("role_level", "tenant"),
                        ("role_tenant", tenant),
                    ),
                )
                proposal = Proposal("EUR", per_transfer=rng.choice((10_000_00, 100_000_00)))
                out.append(Template(actor, "grant.manage", grant, mine, zone, proposal=proposal))
            out += reads * 5
    return out


def shaped(template: Template, rng: random.Random, distinct: int | None) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """A request of this kind at a random moment of the week, with a random amount and
    totals. `distinct`: a grant id no other request has (the all-distinct log)."""
    now = END - dt.timedelta(seconds=rng.randrange(int(WEEK.total_seconds())))
    gathered = template.gathered
    if distinct is not None and gathered.pairs:
        grant, role = gathered.pairs[0]
        copy = Grant.model_validate(grant.model_dump())
        copy.id = 10_000_000 + distinct
        gathered = Gathered(pairs=[(copy, role)], permissions={})
    elif distinct is not None:
        template = Template(
            Actor(
                10_000_000 + distinct, "-", "-", template.actor.bank_id, template.actor.tenant_id
            ),
            template.action,
            template.resource,
            gathered,
            template.zone,
            template.money,
        )
    money = approval = None
    if template.money is not None:
        amount = int(10 ** rng.uniform(3, 7.5))
        money = Money(amount, template.money[0], template.money[1])
        spent = rng.choice((0, 0, rng.randrange(300_000_00)))
        gathered = Gathered(
            pairs=gathered.pairs,
            permissions=gathered.permissions,
            spend={g.id: GrantSpendTotals(spent, spent) for g, _ in gathered.pairs if g.id},
            person_spend=GrantSpendTotals(spent, spent),
        )
    if template.approval is not None:
        initiator, status, approvers, needed, needed_a = template.approval
        approval = Approval(
            initiator,
            status,
            approvers,
            needed,
            needed_a,
            now + dt.timedelta(days=3),
            int(10 ** rng.uniform(4, 8.9)),
            "EUR",
        )
    facts = shape_request(
        gathered,
        actor=template.actor,
        action=template.action,
        resource=template.resource,
        now=now,
        money=money,
        proposal=template.proposal,
        tenant_zone=template.zone,
        approval=approval,
    )
    return facts.request, facts.values


def write_log(
    db: Database,
    bank_id: int,
    kinds: list[Template],
    count: int,
    *,
    all_distinct: bool,
) -> float:
    """`count` logged decisions, decided under the bundled policy as the service would (the
    compiled path), written in bulk. Answers the seconds spent deciding them."""
    rng = random.Random(3)
    engine = PolicyEngine(policy_engine.current().files, cache_size=100_000)
    table = table_of(DecisionRecord)
    deciding = 0.0
    with db.unit_of_work() as session:
        session.execute(delete(table))
    for start in range(0, count, 5_000):
        rows = []
        for i in range(start, min(count, start + 5_000)):
            template = kinds[rng.randrange(len(kinds))]
            request, values = shaped(template, rng, i if all_distinct else None)
            began = time.perf_counter()
            if all_distinct:
                decision = engine.decide_direct(request, values)
            else:
                decision = engine.decide(request, values)
            deciding += time.perf_counter() - began
            facts, fact_values = recorded.encode(request, values)
            resource = template.resource
            rows.append(
                {
                    "at": dt.datetime.fromtimestamp(values["now"], dt.UTC),
                    "actor_id": template.actor.user_id,
                    "bank_id": bank_id,
                    "tenant_id": resource.tenant_id or template.actor.tenant_id,
                    "action": template.action,
                    "resource_type": resource.type,
                    "resource_id": resource.id,
                    "account_id": resource.id if resource.type == "account" else None,
                    "amount": values.get("amount"),
                    "currency": "EUR" if "amount" in values else None,
                    "decision": decision.outcome,
                    "reason": decision.reason,
                    "grant_id": decision.grant_id,
                    "detail": "",
                    "policy_version": decision.policy_version,
                    "eval_us": round(decision.elapsed_us),
                    "facts": facts,
                    "fact_values": fact_values,
                }
            )
        with db.unit_of_work() as session:
            session.execute(insert(table), rows)
    return deciding


def tightened(folder: Path) -> PolicyEngine:
    """The bundled policy, the bookkeeper without statement.read."""
    shutil.copytree(REPO_ROOT / "policies", folder)
    vocabulary = folder / "vocabulary.polar"
    text = vocabulary.read_text()
    old = '"account.read", "statement.read", "beneficiary.read"];'
    assert old in text
    vocabulary.write_text(text.replace(old, '"account.read", "beneficiary.read"];', 1))
    return PolicyEngine.from_dir(folder)


def replays(db: Database, engine: PolicyEngine, count: int, runs: int) -> tuple[float, Impact]:
    seconds = []
    report = None
    for _ in range(runs):
        with db.unit_of_work(write=False) as session:
            began = time.perf_counter()
            report = impact(session, engine, since=END - WEEK, until=END + WEEK, limit=count)
            seconds.append(time.perf_counter() - began)
    assert report is not None
    return statistics.median(seconds), report


def log_stats(db: Database) -> tuple[int, float, int]:
    with db.unit_of_work(write=False) as session:
        rows, size = session.execute(
            select(
                func.count(),
                func.avg(
                    func.length(DecisionRecord.facts) + func.length(DecisionRecord.fact_values)
                ),
            )
        ).one()
        distinct = session.scalar(select(func.count(func.distinct(DecisionRecord.facts))))
    return int(rows), float(size or 0), int(distinct or 0)


def transfer_latency(url: str, count: int) -> tuple[float, float]:
    """Median µs of in-process transfers through the service (SQLite), decision logged, and
    of reading a page of 50 entries of the account's statement (logged too)."""
    migrate.upgrade(url)
    db = Database(url)
    clock = FixedClock(dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.UTC))
    passwords = Passwords(Settings(password_time_cost=1, password_memory_kib=64))
    with db.unit_of_work() as session:
        bank = iam.create_bank(session, "Transfer bench bank")
        tenant = iam.create_tenant(session, bank.id, "T", "Europe/Berlin")  # type: ignore[arg-type]
        manager = iam.create_user(
            session,
            passwords,
            bank_id=bank.id,
            tenant_id=None,
            username="tb-manager",  # type: ignore[arg-type]
            display_name="M",
            password="x" * 12,
            now=clock.now(),
        )
        payer = iam.create_user(
            session,
            passwords,
            bank_id=bank.id,
            tenant_id=tenant.id,
            username="tb-payer",  # type: ignore[arg-type]
            display_name="P",
            password="x" * 12,
            now=clock.now(),
        )
        for user, key, tenant_id in ((manager, "bank_manager", None), (payer, "payer", tenant.id)):
            role = iam.builtin_role(session, key, bank_id=bank.id, tenant_id=tenant_id)  # type: ignore[arg-type]
            iam.grant_role(
                session,
                user,
                role,
                now=clock.now(),
                **(
                    {"limit_currency": "EUR", "per_transfer_limit": 10**9, "daily_limit": 10**12}
                    if key == "payer"
                    else {}
                ),
            )
        session.flush()
        staff, customer = actor_of(manager), actor_of(payer)
    ids = []
    for name in ("a", "b"):
        work = UnitOfWork(db, RequestContext(actor=staff, clock=clock))
        opened = work.run(
            ledger.open_account,
            AccountCreate(tenant_id=tenant.id, name=name, currency="EUR"),  # type: ignore[arg-type]
        )
        ids.append(opened.id)
        UnitOfWork(db, RequestContext(actor=staff, clock=clock)).run(
            ledger.create_deposit,
            DepositCreate(account_id=opened.id, amount=10**12, currency="EUR"),
            f"tb-deposit-{name}",
        )
    samples = []
    for i in range(count + 50):
        body = TransferCreate(
            from_account_id=ids[i % 2], to_account_id=ids[1 - i % 2], amount=100, currency="EUR"
        )
        work = UnitOfWork(db, RequestContext(actor=customer, clock=clock))
        began = time.perf_counter_ns()
        work.run(ledger.create_transfer, body, f"tb-{i}")
        if i >= 50:  # warm
            samples.append((time.perf_counter_ns() - began) / 1000)
    reads = []
    for i in range(count // 2 + 50):
        work = UnitOfWork(db, RequestContext(actor=customer, clock=clock), write=False)
        began = time.perf_counter_ns()
        work.run(ledger.statement, ids[i % 2], limit=50)
        if i >= 50:
            reads.append((time.perf_counter_ns() - began) / 1000)
    db.dispose()
    return statistics.median(samples), statistics.median(reads)


def cases(args: argparse.Namespace) -> Iterator[tuple[str, int, bool]]:
    if args.decisions:
        yield "realistic", args.decisions, False
    if args.distinct_decisions:
        yield "all distinct", args.distinct_decisions, True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--distinct-decisions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--transfers", type=int, default=0)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    policy_engine.load(REPO_ROOT / "policies")
    folder = Path(tempfile.mkdtemp())
    url = args.database_url or f"sqlite:///{folder / 'replay.db'}"
    migrate.upgrade(url)
    db = Database(url)
    bank_id, people, accounts = build_bank(db)
    kinds = templates(bank_id, people, accounts)
    bundled = policy_engine.current()
    strict = tightened(folder / "tightened")
    print(
        f"replay of the decision log, median of {args.runs} runs, database {url.split(':')[0]}, "
        f"{len(people)} people in {TENANTS} companies, {len(kinds)} request kinds"
    )
    for name, count, distinct in cases(args):
        wrote = write_log(db, bank_id, kinds, count, all_distinct=distinct)
        rows, size, texts = log_stats(db)
        print(
            f"\n{name}: {rows:,} decisions, {texts:,} distinct static facts, "
            f"facts {size:,.0f} bytes a decision (JSON text); deciding them when logged: "
            f"{wrote:.1f} s"
        )
        for label, engine in (("bundled policy", bundled), ("tightened policy", strict)):
            seconds, report = replays(db, engine, count, args.runs)
            flips = f"{report.allow_to_deny} allow->deny, {report.deny_to_allow} deny->allow"
            print(
                f"  {label:<17} {seconds:6.1f} s, {report.replayed / seconds:8,.0f} decisions/s "
                f"({flips}, {report.reason_changed} reason changed, {report.unchanged:,} "
                f"unchanged); per 100,000: {seconds * 100_000 / count:.1f} s"
            )
    db.dispose()
    if args.transfers:
        transfer, read = transfer_latency(f"sqlite:///{folder / 'transfers.db'}", args.transfers)
        print(
            f"\nin-process on SQLite, decisions logged with their facts: transfer median "
            f"{transfer:.0f} µs, statement page (50 entries) median {read:.0f} µs"
        )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
