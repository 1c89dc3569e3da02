"""The ledger checker behind `mandate ledger check`: verifies a live database.

Six checks, each a question the ledger must always answer "yes" to:

- conservation: per currency, the entries sum to zero;
- balances: every account's balance equals the sum of its entries (all in its currency);
- overdraft: no customer balance is below its overdraft limit (clearing accounts may be);
- transfers: every transfer has exactly its two entries, a debit of -amount on its debit
  account and a credit of +amount on its credit account, in the transfer's currency, and both
  accounts are in that currency;
- spend: the running totals in grant_spend equal the transfers made under each grant, and
  those in person_spend the transfers each person made under all their grants, per currency
  and day of the tenant's zone (what cumulative limits are checked against);
- limits: no grant spent more in a day or a month than the smaller of its own limit and its
  role's, and no person more than the tenant's and the bank's caps (which are per person).

Everything is read in one snapshot (PostgreSQL: REPEATABLE READ, READ ONLY; SQLite: one read
transaction), so the checker can run while transfers are being posted. Work is aggregated in
SQL over ranges of ids and only a few examples of each problem are kept: memory stays bounded
however large the ledger.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Date, and_, case, cast, func, or_, select
from sqlalchemy.engine import Connection

from core.db import Database, table_of
from core.models.iam import Grant, GrantSpend, LimitCap, PersonSpend, Role, Tenant, User
from core.models.ledger import Account, Entry, Transfer
from core.money import format_amount

ACCOUNTS = table_of(Account)
ENTRIES = table_of(Entry)
TRANSFERS = table_of(Transfer)
GRANTS = table_of(Grant)
ROLES = table_of(Role)
USERS = table_of(User)
TENANTS = table_of(Tenant)
SPEND = table_of(GrantSpend)
PERSON_SPEND = table_of(PersonSpend)
CAPS = table_of(LimitCap)

CHECKS = ("conservation", "balances", "overdraft", "transfers", "spend", "limits")
MAX_EXAMPLES = 10


class Progress(Protocol):
    """Where the checker reports how far it got (the CLI draws a progress bar)."""

    def begin(self, title: str, total: int) -> None: ...

    def advance(self, steps: int) -> None: ...

    def end(self) -> None: ...


class NoProgress:
    def begin(self, title: str, total: int) -> None:
        pass

    def advance(self, steps: int) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass
class CheckResult:
    """The outcome of one check: how much it examined, what was wrong, a few examples."""

    name: str
    title: str
    examined: int = 0
    unit: str = "rows"
    failures: int = 0
    examples: list[str] = field(default_factory=list)
    # Not a broken invariant, but worth a look (e.g. a limit lowered after it was used).
    warnings: int = 0
    warning_examples: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.failures == 0

    def fail(self, message: str) -> None:
        self.failures += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(message)

    def warn(self, message: str) -> None:
        self.warnings += 1
        if len(self.warning_examples) < MAX_EXAMPLES:
            self.warning_examples.append(message)


@dataclass
class LedgerReport:
    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def result(self, name: str) -> CheckResult:
        return next(r for r in self.results if r.name == name)

    @property
    def failed(self) -> list[str]:
        return [r.name for r in self.results if not r.ok]

    def render(self) -> str:
        """The report a person reads: one line per check, then examples of what failed."""
        lines = []
        for r in self.results:
            status = "ok  " if r.ok else "FAIL"
            line = f"{status}  {r.name:<13} {r.title}: {r.examined:,} {r.unit} examined"
            if not r.ok:
                line += f", {r.failures:,} wrong"
            if r.warnings:
                line += f", {r.warnings:,} warning{'s' if r.warnings != 1 else ''}"
            lines.append(line)
            if r.note:
                lines.append(f"        {r.note}")
            for example in r.examples:
                lines.append(f"        - {example}")
            if r.failures > len(r.examples):
                lines.append(f"        ... and {r.failures - len(r.examples):,} more")
            for example in r.warning_examples:
                lines.append(f"        ! {example}")
        failed = self.failed
        if failed:
            lines.append(
                f"\nledger check FAILED: {len(failed)} of {len(self.results)} checks "
                f"({', '.join(failed)})"
            )
        else:
            lines.append(f"\nledger check passed: all {len(self.results)} checks hold")
        return "\n".join(lines)


def check_database(
    db: Database,
    *,
    checks: Sequence[str] = CHECKS,
    batch_size: int = 10_000,
    progress: Progress | None = None,
) -> LedgerReport:
    """Run the checks against a database in one read-only snapshot."""
    conn = db.engine.connect()
    try:
        if db.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if db.dialect == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            return run_checks(conn, checks=checks, batch_size=batch_size, progress=progress)
    finally:
        conn.close()


def run_checks(
    conn: Connection,
    *,
    checks: Sequence[str] = CHECKS,
    batch_size: int = 10_000,
    progress: Progress | None = None,
) -> LedgerReport:
    """Run the checks on an open connection (inside the caller's transaction)."""
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise ValueError(f"unknown checks: {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    checker = _Checker(conn, batch_size=max(batch_size, 1), progress=progress or NoProgress())
    results: list[CheckResult] = []
    if "conservation" in checks:
        results.append(checker.conservation())
    if "balances" in checks:
        results.append(checker.balances())
    if "overdraft" in checks:
        results.append(checker.overdraft())
    if "transfers" in checks:
        results.append(checker.transfers())
    if "spend" in checks or "limits" in checks:
        spend, limits = checker.grants()
        results += [r for r in (spend, limits) if r.name in checks]
    return LedgerReport(results)


def _money(amount: int | None, currency: str) -> str:
    return format_amount(int(amount or 0), currency)


@dataclass
class _Limit:
    level: str
    amount: int
    changed_at: dt.datetime | None


@dataclass
class _OwnLimits:
    """Limits set on a grant or on its role, in one currency."""

    level: str
    currency: str | None
    daily: int | None
    monthly: int | None
    changed_at: dt.datetime | None


@dataclass
class _GrantInfo:
    id: int
    bank_id: int
    customer_tenant_id: int | None  # the grantee's tenant; caps bind customers, not staff
    limits: list[_OwnLimits]  # the grant's own, and its role's

    @classmethod
    def of(cls, row: Any) -> _GrantInfo:
        return cls(
            id=row.id,
            bank_id=row.bank_id,
            customer_tenant_id=row.tenant_id,
            limits=[
                _OwnLimits(
                    "grant", row.limit_currency, row.daily_limit, row.monthly_limit, row.updated_at
                ),
                _OwnLimits(
                    "role", row.role_currency, row.role_daily, row.role_monthly, row.role_updated_at
                ),
            ],
        )

    def applicable(
        self, currency: str, kind: str, caps: dict[tuple[int | None, str], Any]
    ) -> list[_Limit]:
        """The limits of `kind` ("daily", "monthly") binding this grant's own total in
        `currency`, as the policy reads them: the grant's and its role's limits in that
        currency. The tenant's and the bank's caps bind the person (_PersonInfo)."""
        found = []
        for own in self.limits:
            amount = own.daily if kind == "daily" else own.monthly
            if own.currency == currency and amount is not None:
                found.append(_Limit(own.level, amount, own.changed_at))
        return found


@dataclass
class _PersonInfo:
    id: int
    bank_id: int
    customer_tenant_id: int | None  # caps bind customers, not staff

    @classmethod
    def of(cls, row: Any) -> _PersonInfo:
        return cls(id=row.id, bank_id=row.bank_id, customer_tenant_id=row.tenant_id)

    def applicable(
        self, currency: str, kind: str, caps: dict[tuple[int | None, str], Any]
    ) -> list[_Limit]:
        """The caps of `kind` binding what this person sent in `currency` under all their
        grants (policies/limits.polar: the tenant's and the bank's caps are per person)."""
        found = []
        if self.customer_tenant_id is not None:
            for level, key in (
                ("tenant", (self.customer_tenant_id, currency)),
                ("bank", (None, currency)),
            ):
                cap = caps.get(key)
                if cap is not None:
                    amount = cap.daily_limit if kind == "daily" else cap.monthly_limit
                    if amount is not None:
                        found.append(_Limit(level, amount, cap.updated_at))
        return found


@dataclass
class _Spent:
    """Transfers under one grant in one currency over a period."""

    amount: int = 0
    last: dt.datetime | None = None

    def add(self, amount: int, last: dt.datetime | None) -> None:
        self.amount += amount
        if last is not None and (self.last is None or last > self.last):
            self.last = last


STREAM_ROWS = 2_000


class _Stream:
    """Rows ordered by their first column, taken a key at a time (a merge join)."""

    def __init__(self, rows: Any) -> None:
        self._rows = iter(rows)
        self._next: Any = next(self._rows, None)

    def take(self, key: int) -> Iterator[Any]:
        while self._next is not None and self._next[0] < key:
            self._next = next(self._rows, None)
        while self._next is not None and self._next[0] == key:
            yield self._next
            self._next = next(self._rows, None)


class _CapsCache:
    """The caps binding a grant: its tenant's and its bank's, read once per tenant."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._cache: dict[tuple[int, int | None], dict[tuple[int | None, str], Any]] = {}

    def of(self, info: _GrantInfo | _PersonInfo) -> dict[tuple[int | None, str], Any]:
        key = (info.bank_id, info.customer_tenant_id)
        if key not in self._cache:
            if len(self._cache) > 10_000:
                self._cache.clear()
            c = CAPS.c
            tenant: ColumnElement[bool] = c.tenant_id.is_(None)
            if info.customer_tenant_id is not None:
                tenant = or_(tenant, c.tenant_id == info.customer_tenant_id)
            rows = self.conn.execute(select(CAPS).where(c.bank_id == info.bank_id, tenant))
            self._cache[key] = {(cap.tenant_id, cap.currency): cap for cap in rows}
        return self._cache[key]


class _Checker:
    def __init__(self, conn: Connection, *, batch_size: int, progress: Progress) -> None:
        self.conn = conn
        self.batch = batch_size
        self.progress = progress
        self.dialect = conn.dialect.name

    def _ranges(self, column: Any, title: str, batch: int | None = None) -> Iterator[Any]:
        """Half-open id ranges (lo, hi] covering the table, reported to the progress bar."""
        size = batch or self.batch
        lo, hi = self.conn.execute(select(func.min(column), func.max(column))).one()
        if lo is None:
            self.progress.begin(title, 0)
            self.progress.end()
            return
        self.progress.begin(title, hi - lo + 1)
        start = lo - 1
        try:
            while start < hi:
                end = min(start + size, hi)
                yield start, end
                self.progress.advance(end - start)
                start = end
        finally:
            self.progress.end()

    # -- conservation --------------------------------------------------------------------

    def conservation(self) -> CheckResult:
        result = CheckResult(
            "conservation", "entries sum to zero in every currency", unit="entries"
        )
        totals: dict[str, int] = defaultdict(int)
        e = ENTRIES.c
        for lo, hi in self._ranges(e.id, "conservation", self.batch * 10):
            rows = self.conn.execute(
                select(e.currency, func.sum(e.amount), func.count())
                .where(e.id > lo, e.id <= hi)
                .group_by(e.currency)
            )
            for currency, total, count in rows:
                totals[currency] += int(total)
                result.examined += int(count)
        for currency in sorted(totals):
            if totals[currency] != 0:
                result.fail(
                    f"{currency}: entries sum to {_money(totals[currency], currency)}, not zero"
                )
        result.note = f"currencies: {', '.join(sorted(totals)) or 'none'}"
        return result

    # -- accounts --------------------------------------------------------------------------

    def balances(self) -> CheckResult:
        result = CheckResult(
            "balances", "every balance equals the sum of its entries", unit="accounts"
        )
        a, e = ACCOUNTS.c, ENTRIES.c
        total = func.coalesce(func.sum(e.amount), 0)
        foreign = func.coalesce(func.sum(case((e.currency != a.currency, 1), else_=0)), 0)
        for lo, hi in self._ranges(a.id, "balances", max(self.batch // 10, 1)):
            result.examined += self.conn.execute(
                select(func.count()).where(a.id > lo, a.id <= hi)
            ).scalar_one()
            rows = self.conn.execute(
                select(a.id, a.currency, a.balance, total, foreign)
                .select_from(ACCOUNTS.outerjoin(ENTRIES, e.account_id == a.id))
                .where(a.id > lo, a.id <= hi)
                .group_by(a.id, a.currency, a.balance)
                .having(or_(a.balance != total, foreign > 0))
                .order_by(a.id)
            )
            for account_id, currency, balance, summed, foreign_count in rows:
                if int(summed) != balance:
                    result.fail(
                        f"account {account_id}: balance {_money(balance, currency)}, its "
                        f"entries sum to {_money(summed, currency)}"
                    )
                if foreign_count:
                    result.fail(
                        f"account {account_id} ({currency}) has {foreign_count} entries in "
                        "another currency"
                    )
        return result

    def overdraft(self) -> CheckResult:
        result = CheckResult(
            "overdraft", "no customer balance below its overdraft limit", unit="accounts"
        )
        a = ACCOUNTS.c
        result.examined = self.conn.execute(
            select(func.count()).where(a.kind == "customer")
        ).scalar_one()
        self.progress.begin("overdraft", 1)
        rows = self.conn.execute(
            select(a.id, a.currency, a.balance, a.overdraft_limit)
            .where(a.kind == "customer", a.balance < -a.overdraft_limit)
            .order_by(a.id)
        )
        for account_id, currency, balance, limit in rows:
            result.fail(
                f"account {account_id}: balance {_money(balance, currency)} is past its "
                f"overdraft limit of {_money(limit, currency)}"
            )
        self.progress.advance(1)
        self.progress.end()
        return result

    # -- transfers -------------------------------------------------------------------------

    def transfers(self) -> CheckResult:
        result = CheckResult(
            "transfers",
            "every transfer has exactly its two balanced entries",
            unit="transfers",
        )
        t, e = TRANSFERS.c, ENTRIES.c
        debit_acc = ACCOUNTS.alias("debit_acc")
        credit_acc = ACCOUNTS.alias("credit_acc")
        is_debit = and_(
            e.account_id == t.debit_account_id, e.amount == -t.amount, e.currency == t.currency
        )
        is_credit = and_(
            e.account_id == t.credit_account_id, e.amount == t.amount, e.currency == t.currency
        )
        entries = func.count(e.id).label("entries")
        debits = func.coalesce(func.sum(case((is_debit, 1), else_=0)), 0).label("debits")
        credits = func.coalesce(func.sum(case((is_credit, 1), else_=0)), 0).label("credits")
        per_transfer = (
            select(
                t.id,
                t.amount,
                t.currency,
                t.debit_account_id,
                t.credit_account_id,
                debit_acc.c.currency.label("debit_currency"),
                credit_acc.c.currency.label("credit_currency"),
                entries,
                debits,
                credits,
            )
            .select_from(
                TRANSFERS.join(debit_acc, debit_acc.c.id == t.debit_account_id)
                .join(credit_acc, credit_acc.c.id == t.credit_account_id)
                .outerjoin(ENTRIES, e.transfer_id == t.id)
            )
            .group_by(
                t.id,
                t.amount,
                t.currency,
                t.debit_account_id,
                t.credit_account_id,
                debit_acc.c.currency,
                credit_acc.c.currency,
            )
        )
        for lo, hi in self._ranges(t.id, "transfers"):
            result.examined += self.conn.execute(
                select(func.count()).where(t.id > lo, t.id <= hi)
            ).scalar_one()
            q = per_transfer.where(t.id > lo, t.id <= hi).subquery()
            rows = self.conn.execute(
                select(q)
                .where(
                    or_(
                        q.c.entries != 2,
                        q.c.debits != 1,
                        q.c.credits != 1,
                        q.c.debit_currency != q.c.currency,
                        q.c.credit_currency != q.c.currency,
                    )
                )
                .order_by(q.c.id)
            )
            for row in rows:
                result.fail(self._describe_transfer(row))
        return result

    @staticmethod
    def _describe_transfer(row: Any) -> str:
        what = (
            f"transfer {row.id} ({_money(row.amount, row.currency)} from account "
            f"{row.debit_account_id} to {row.credit_account_id})"
        )
        problems = []
        if row.entries != 2:
            problems.append(f"has {row.entries} entries, not 2")
        if row.debits != 1:
            problems.append(
                f"needs one debit of {_money(-row.amount, row.currency)} on account "
                f"{row.debit_account_id}, has {row.debits}"
            )
        if row.credits != 1:
            problems.append(
                f"needs one credit of {_money(row.amount, row.currency)} on account "
                f"{row.credit_account_id}, has {row.credits}"
            )
        for side, currency in (("debit", row.debit_currency), ("credit", row.credit_currency)):
            if currency != row.currency:
                problems.append(f"its {side} account is in {currency}")
        return f"{what}: {'; '.join(problems)}"

    # -- grants: running totals and cumulative limits ----------------------------------------

    def grants(self) -> tuple[CheckResult, CheckResult]:
        """Two passes, each over holders in id order merged with two streams in the same
        order: the running totals and the transfers summed per day and currency in SQL. First
        the grants (grant_spend; the grant's and its role's limits), then the people
        (person_spend; the tenant's and the bank's caps, which count a person's total across
        all their grants). Memory holds one holder's days at a time."""
        spend = CheckResult(
            "spend",
            "grant_spend and person_spend equal the transfers per grant, per person, currency "
            "and tenant-local day",
            unit="holder-days",
        )
        limits = CheckResult(
            "limits",
            "no grant past its own or its role's daily or monthly limit, no person past the "
            "tenant's or the bank's caps",
            unit="holder-days",
        )
        g, r, u = GRANTS.c, ROLES.c, USERS.c
        grants = select(
            g.id,
            g.bank_id,
            u.tenant_id,
            g.limit_currency,
            g.daily_limit,
            g.monthly_limit,
            g.updated_at,
            r.limit_currency.label("role_currency"),
            r.daily_limit.label("role_daily"),
            r.monthly_limit.label("role_monthly"),
            r.updated_at.label("role_updated_at"),
        ).select_from(GRANTS.join(ROLES, r.id == g.role_id).join(USERS, u.id == g.user_id))
        self._holders(
            "grant",
            grants.order_by(g.id),
            _GrantInfo.of,
            SPEND,
            TRANSFERS.c.grant_id,
            spend,
            limits,
        )
        people = select(u.id, u.bank_id, u.tenant_id).order_by(u.id)
        self._holders(
            "person",
            people,
            _PersonInfo.of,
            PERSON_SPEND,
            TRANSFERS.c.initiated_by_id,
            spend,
            limits,
        )
        limits.examined = spend.examined
        return spend, limits

    def _holders(
        self,
        label: str,
        holders: Any,
        info_of: Any,
        totals: Any,
        transfer_key: Any,
        spend: CheckResult,
        limits: CheckResult,
    ) -> None:
        streaming = self.conn.execution_options(stream_results=True, yield_per=STREAM_ROWS)
        key = totals.c.grant_id if label == "grant" else totals.c.user_id
        recorded = _Stream(
            streaming.execute(
                select(key, totals.c.day, totals.c.currency, totals.c.amount).order_by(
                    key, totals.c.day
                )
            )
        )
        sent = _Stream(self._sent_per_day(streaming, transfer_key))
        caps = _CapsCache(self.conn)
        count = self.conn.execute(select(func.count()).select_from(holders.subquery()))
        self.progress.begin(f"{label} limits", count.scalar_one())
        try:
            for row in streaming.execute(holders):
                info = info_of(row)
                days: dict[dt.date, dict[str, int]] = defaultdict(dict)
                for _, day, currency, amount in recorded.take(info.id):
                    days[day][currency] = int(amount)
                by_day: dict[dt.date, dict[str, _Spent]] = defaultdict(lambda: defaultdict(_Spent))
                for _, day, currency, amount, last in sent.take(info.id):
                    by_day[day][currency].add(int(amount), last)
                if days or by_day:
                    self._holder(label, info, days, by_day, caps.of(info), spend, limits)
                self.progress.advance(1)
        finally:
            self.progress.end()

    def _sent_per_day(
        self, conn: Connection, holder: Any
    ) -> Iterator[tuple[int, dt.date, str, int, Any]]:
        """(holder, day, currency, amount, last transfer time), ordered by holder (the grant,
        or the person who initiated): the transfers made under a grant, per day of the
        transfer's tenant's zone. This is how the posting transaction counts a day
        (core.policy.facts.tenant_day)."""
        t, tn = TRANSFERS.c, TENANTS.c
        where = (t.grant_id.is_not(None), t.tenant_id.is_not(None))
        source = TRANSFERS.join(TENANTS, tn.id == t.tenant_id)
        if self.dialect == "postgresql":
            day = cast(func.timezone(tn.timezone, t.created_at), Date)
            rows = conn.execute(
                select(holder, day, t.currency, func.sum(t.amount), func.max(t.created_at))
                .select_from(source)
                .where(*where)
                .group_by(holder, day, t.currency)
                .order_by(holder)
            )
            for holder_id, local_day, currency, amount, last in rows:
                yield holder_id, local_day, currency, int(amount), last
            return
        # SQLite knows no time zones: sum per UTC minute in SQL (no zone is offset by less
        # than a minute), and place each minute in its tenant's day here.
        minute = func.substr(t.created_at, 1, 16)
        rows = conn.execute(
            select(
                holder,
                tn.timezone,
                minute,
                t.currency,
                func.sum(t.amount),
                func.max(t.created_at),
            )
            .select_from(source)
            .where(*where)
            .group_by(holder, tn.timezone, minute, t.currency)
            .order_by(holder)
        )
        zones: dict[str, ZoneInfo] = {}
        for holder_id, zone, utc_minute, currency, amount, last in rows:
            tz = zones.get(zone) or zones.setdefault(zone, ZoneInfo(zone))
            at = dt.datetime.fromisoformat(utc_minute).replace(tzinfo=dt.UTC)
            yield holder_id, at.astimezone(tz).date(), currency, int(amount), last

    def _holder(
        self,
        label: str,
        info: _GrantInfo | _PersonInfo,
        days: dict[dt.date, dict[str, int]],
        by_day: dict[dt.date, dict[str, _Spent]],
        caps: dict[tuple[int | None, str], Any],
        spend: CheckResult,
        limits: CheckResult,
    ) -> None:
        table = "grant_spend" if label == "grant" else "person_spend"
        months: dict[tuple[int, int], dict[str, _Spent]] = defaultdict(lambda: defaultdict(_Spent))
        month_recorded: dict[tuple[int, int], dict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        for day in sorted(set(days) | set(by_day)):
            spend.examined += 1
            per_currency = by_day.get(day, {})
            totals = days.get(day, {})
            for currency in sorted(set(totals) | set(per_currency)):
                total = totals.get(currency, 0)
                transferred = per_currency[currency].amount if currency in per_currency else 0
                if total != transferred:
                    spend.fail(
                        f"{label} {info.id} on {day}: {table} says "
                        f"{_money(total, currency)}, its transfers sum to "
                        f"{_money(transferred, currency)} ({self._amounts(per_currency)})"
                    )
            month = (day.year, day.month)
            for currency, total in totals.items():
                month_recorded[month][currency] += total
            for currency, spent in per_currency.items():
                months[month][currency].add(spent.amount, spent.last)
            self._within(limits, label, info, caps, "daily", str(day), per_currency, totals)
        for period, per_currency in sorted(months.items()):
            self._within(
                limits,
                label,
                info,
                caps,
                "monthly",
                f"{period[0]}-{period[1]:02d}",
                per_currency,
                month_recorded[period],
            )

    @staticmethod
    def _amounts(per_currency: dict[str, _Spent]) -> str:
        return ", ".join(_money(x.amount, c) for c, x in sorted(per_currency.items())) or "none"

    @staticmethod
    def _within(
        result: CheckResult,
        label: str,
        info: _GrantInfo | _PersonInfo,
        caps: dict[tuple[int | None, str], Any],
        kind: str,
        period: str,
        per_currency: dict[str, _Spent],
        recorded: dict[str, int],
    ) -> None:
        """Compare what a grant or a person spent in a period with the smallest limit binding
        it, per currency: the running total and the transfers are both held to it. A limit
        changed after the period's last transfer may have been lowered below what was
        already spent: that is a warning, not a broken invariant."""
        for currency in sorted(set(per_currency) | set(recorded)):
            spent = per_currency.get(currency, _Spent(0, None))
            amount = max(spent.amount, recorded.get(currency, 0))
            exceeded = [x for x in info.applicable(currency, kind, caps) if amount > x.amount]
            if not exceeded:
                continue
            held = [
                x
                for x in exceeded
                if spent.last is None or x.changed_at is None or x.changed_at <= spent.last
            ]
            limit = min(held or exceeded, key=lambda x: x.amount)
            each = " for each person" if label == "person" else ""
            message = (
                f"{label} {info.id} {kind} {period}: spent {_money(amount, currency)}, "
                f"{limit.level} {kind} limit{each} is {_money(limit.amount, currency)}"
            )
            if held:
                result.fail(message)
            else:
                result.warn(f"{message} (the limit was changed after the last transfer)")
