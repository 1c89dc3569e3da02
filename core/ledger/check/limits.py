"""The spend and limits checks' judgement, once a holder's days are read: do the running totals
equal the transfers, and did a grant or a person spend past a limit binding it? Pure: the rows
come from core.ledger.check.spend_queries, the findings go into CheckResults."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.ledger.check import findings
from core.ledger.check.report import CheckResult

# The caps of one bank, keyed by (tenant id or None for the bank's own, currency): rows of
# limit_caps, with daily_limit, monthly_limit and updated_at.
Caps = dict[tuple[int | None, str], Any]


@dataclass
class Limit:
    level: str
    amount: int
    changed_at: dt.datetime | None


@dataclass
class OwnLimits:
    """Limits set on a grant or on its role, in one currency."""

    level: str
    currency: str | None
    daily: int | None
    monthly: int | None
    changed_at: dt.datetime | None


@dataclass
class GrantInfo:
    id: int
    bank_id: int
    customer_tenant_id: int | None  # the grantee's tenant; caps bind customers, not staff
    limits: list[OwnLimits]  # the grant's own, and its role's

    @classmethod
    def of(cls, row: Any) -> GrantInfo:
        return cls(
            id=row.id,
            bank_id=row.bank_id,
            customer_tenant_id=row.tenant_id,
            limits=[
                OwnLimits(
                    "grant", row.limit_currency, row.daily_limit, row.monthly_limit, row.updated_at
                ),
                OwnLimits(
                    "role", row.role_currency, row.role_daily, row.role_monthly, row.role_updated_at
                ),
            ],
        )

    def applicable(self, currency: str, kind: str, caps: Caps) -> list[Limit]:
        """The limits of `kind` ("daily", "monthly") binding this grant's own total in
        `currency`, as the policy reads them: the grant's and its role's limits in that
        currency. The tenant's and the bank's caps bind the person (PersonInfo)."""
        found = []
        for own in self.limits:
            amount = own.daily if kind == "daily" else own.monthly
            if own.currency == currency and amount is not None:
                found.append(Limit(own.level, amount, own.changed_at))
        return found


@dataclass
class PersonInfo:
    id: int
    bank_id: int
    customer_tenant_id: int | None  # caps bind customers, not staff

    @classmethod
    def of(cls, row: Any) -> PersonInfo:
        return cls(id=row.id, bank_id=row.bank_id, customer_tenant_id=row.tenant_id)

    def applicable(self, currency: str, kind: str, caps: Caps) -> list[Limit]:
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
                        found.append(Limit(level, amount, cap.updated_at))
        return found


Holder = GrantInfo | PersonInfo


@dataclass
class Spent:
    """Transfers under one grant in one currency over a period."""

    amount: int = 0
    last: dt.datetime | None = None

    def add(self, amount: int, last: dt.datetime | None) -> None:
        self.amount += amount
        if last is not None and (self.last is None or last > self.last):
            self.last = last


Recorded = dict[dt.date, dict[str, int]]  # the running totals, per day and currency
Sent = dict[dt.date, dict[str, Spent]]  # the transfers, per day and currency


def recorded_by_day(rows: Iterable[tuple[Any, dt.date, str, int]]) -> Recorded:
    """One holder's running totals: rows of (holder, day, currency, amount)."""
    days: Recorded = defaultdict(dict)
    for _, day, currency, amount in rows:
        days[day][currency] = int(amount)
    return days


def sent_by_day(rows: Iterable[tuple[Any, dt.date, str, int, dt.datetime | None]]) -> Sent:
    """One holder's transfers: rows of (holder, day, currency, amount, last transfer time)."""
    by_day: Sent = defaultdict(lambda: defaultdict(Spent))
    for _, day, currency, amount, last in rows:
        by_day[day][currency].add(int(amount), last)
    return by_day


@dataclass
class HolderReview:
    """Where one pass over the holders puts its findings."""

    spend: CheckResult
    limits: CheckResult


def review_holder(
    label: str, info: Holder, recorded: Recorded, sent: Sent, caps: Caps, review: HolderReview
) -> None:
    """Judge one grant (`label` "grant") or person ("person"): each day's running totals
    against what it sent (transfers, and payments on the day they were made), then each day
    and each month against the limits binding it."""
    months: dict[tuple[int, int], dict[str, Spent]] = defaultdict(lambda: defaultdict(Spent))
    month_recorded: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day in sorted(set(recorded) | set(sent)):
        review.spend.examined += 1
        per_currency, totals = sent.get(day, {}), recorded.get(day, {})
        _compare_day(review.spend, label, info.id, day, totals, per_currency)
        month = (day.year, day.month)
        for currency, total in totals.items():
            month_recorded[month][currency] += total
        for currency, spent in per_currency.items():
            months[month][currency].add(spent.amount, spent.last)
        within(review.limits, label, info, caps, "daily", str(day), per_currency, totals)
    for (year, number), per_currency in sorted(months.items()):
        period, recorded_in_month = f"{year}-{number:02d}", month_recorded[(year, number)]
        within(review.limits, label, info, caps, "monthly", period, per_currency, recorded_in_month)


def _compare_day(
    spend: CheckResult,
    label: str,
    holder_id: int,
    day: dt.date,
    totals: dict[str, int],
    per_currency: dict[str, Spent],
) -> None:
    table = "grant_spend" if label == "grant" else "person_spend"
    sent_amounts = {currency: spent.amount for currency, spent in per_currency.items()}
    for currency in sorted(set(totals) | set(per_currency)):
        total, transferred = totals.get(currency, 0), sent_amounts.get(currency, 0)
        if total != transferred:
            holder, sent_words = f"{label} {holder_id}", findings.amounts(sent_amounts)
            spend.fail(
                findings.running_total_off(
                    holder, table, str(day), currency, total, transferred, sent_words
                )
            )


def within(
    result: CheckResult,
    label: str,
    info: Holder,
    caps: Caps,
    kind: str,
    period: str,
    per_currency: dict[str, Spent],
    recorded: dict[str, int],
) -> None:
    """Compare what a grant or a person spent in a period with the smallest limit binding
    it, per currency: the running total and the transfers are both held to it."""
    for currency in sorted(set(per_currency) | set(recorded)):
        spent = per_currency.get(currency, Spent(0, None))
        amount = max(spent.amount, recorded.get(currency, 0))
        exceeded = [x for x in info.applicable(currency, kind, caps) if amount > x.amount]
        if not exceeded:
            continue
        limit, held = binding_limit(exceeded, spent.last)
        message = findings.limit_passed(
            label, info.id, kind, period, amount, currency, limit.level, limit.amount
        )
        if held:
            result.fail(message)
        else:
            result.warn(findings.changed_after(message))


def binding_limit(exceeded: list[Limit], last: dt.datetime | None) -> tuple[Limit, bool]:
    """The smallest of the limits passed, and whether it held when the money was spent. A
    limit changed after the period's last transfer may have been lowered below what was
    already spent: that is a warning, not a broken invariant."""
    held = [x for x in exceeded if last is None or x.changed_at is None or x.changed_at <= last]
    return min(held or exceeded, key=lambda x: x.amount), bool(held)
