"""The read-only SQL behind the spend and limits checks, streamed.

Holders (grants, then people) are read in id order and merged with three streams in the same
order: their running totals (grant_spend, person_spend), their transfers summed per day of
the tenant's zone and currency, and their payments summed per spend day and currency. Memory
holds one holder's days at a time.

A payment counts through the payment, not its transfer: its limits counted it on the day it
was made (payments.spend_day), while it may be posted days later by its last approval, and
one still awaiting approval or its execution date counts already, and so do the accepted
items of a payment batch awaiting approval (on the day it was uploaded). One that ended without
moving money (rejected, cancelled, expired, failed) was given back on the same day, so it
counts nothing. The transfers of kind "payment" are left out of the transfers' stream (the
payments check proves each is its payment's).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Date, Select, Table, cast, func, or_, select
from sqlalchemy.engine import Connection

from core.db import table_of
from core.ledger.check.limits import (
    Caps,
    GrantInfo,
    Holder,
    PersonInfo,
    Recorded,
    Sent,
    recorded_by_day,
    sent_by_day,
)
from core.ledger.check.queries import LedgerReader
from core.models.batches import BATCH_HELD_STATUSES, PaymentBatch, PaymentBatchItem
from core.models.iam import Grant, GrantSpend, LimitCap, PersonSpend, Role, Tenant, User
from core.models.ledger import Transfer
from core.models.payments import HELD_STATUSES, MOVED_STATUSES, Payment

TRANSFERS = table_of(Transfer)
GRANTS = table_of(Grant)
ROLES = table_of(Role)
USERS = table_of(User)
TENANTS = table_of(Tenant)
SPEND = table_of(GrantSpend)
PERSON_SPEND = table_of(PersonSpend)
CAPS = table_of(LimitCap)
PAYMENTS = table_of(Payment)
BATCHES = table_of(PaymentBatch)
BATCH_ITEMS = table_of(PaymentBatchItem)
# The statuses of a payment that counts against limits: held (awaiting approval or its
# execution date), or its money moved.
COUNTED = (*HELD_STATUSES, *MOVED_STATUSES)

STREAM_ROWS = 2_000


@dataclass(frozen=True)
class Holders:
    """One kind of holder of running totals: who they are, where their totals are kept, and
    which column of a transfer and of a payment names them."""

    label: str  # "grant" or "person"
    rows: Select[Any]  # in id order, the id first
    info_of: Callable[[Any], Holder]
    totals: Table
    totals_key: Any
    transfer_key: Any
    payment_key: Any
    batch_key: Any


def grant_holders() -> Holders:
    """Grants with their own limits and their role's, and the grantee's tenant."""
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
    return Holders(
        "grant",
        grants.order_by(g.id),
        GrantInfo.of,
        SPEND,
        SPEND.c.grant_id,
        TRANSFERS.c.grant_id,
        PAYMENTS.c.grant_id,
        BATCH_ITEMS.c.grant_id,
    )


def person_holders() -> Holders:
    """People, whose transfers under all their grants the tenant's and the bank's caps bind."""
    u = USERS.c
    people = select(u.id, u.bank_id, u.tenant_id).order_by(u.id)
    return Holders(
        "person",
        people,
        PersonInfo.of,
        PERSON_SPEND,
        PERSON_SPEND.c.user_id,
        TRANSFERS.c.initiated_by_id,
        PAYMENTS.c.initiated_by_id,
        BATCHES.c.initiated_by_id,
    )


class Stream:
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


class CapsCache:
    """The caps binding a holder: its tenant's and its bank's, read once per tenant."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._cache: dict[tuple[int, int | None], Caps] = {}

    def of(self, info: Holder) -> Caps:
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


def holder_days(
    reader: LedgerReader, holders: Holders
) -> Iterator[tuple[Holder, Recorded, Sent, Caps]]:
    """Each holder that has running totals, transfers or payments, with its running totals,
    what it sent per day and currency (transfers and payments), and the caps binding it."""
    streaming = reader.conn.execution_options(stream_results=True, yield_per=STREAM_ROWS)
    totals, key = holders.totals.c, holders.totals_key
    recorded = Stream(
        streaming.execute(
            select(key, totals.day, totals.currency, totals.amount).order_by(key, totals.day)
        )
    )
    sent = Stream(sent_per_day(streaming, holders.transfer_key))
    paid = Stream(paid_per_day(streaming, holders.payment_key))
    batched = Stream(batched_per_day(streaming, holders.batch_key))
    caps = CapsCache(reader.conn)
    count = reader.count(select(func.count()).select_from(holders.rows.subquery()))
    reader.progress.begin(f"{holders.label} limits", count)
    try:
        for row in streaming.execute(holders.rows):
            info = holders.info_of(row)
            days = recorded_by_day(recorded.take(info.id))
            by_day = sent_by_day(
                chain(sent.take(info.id), paid.take(info.id), batched.take(info.id))
            )
            if days or by_day:
                yield info, days, by_day, caps.of(info)
            reader.progress.advance(1)
    finally:
        reader.progress.end()


def sent_per_day(conn: Connection, holder: Any) -> Iterator[tuple[int, dt.date, str, int, Any]]:
    """(holder, day, currency, amount, last transfer time), ordered by holder (the grant,
    or the person who initiated): the transfers made under a grant, per day of the
    transfer's tenant's zone. This is how the posting transaction counts a day
    (core.policy.shaping.tenant_day). Payments' transfers are not among them: paid_per_day
    counts payments."""
    if conn.dialect.name == "postgresql":
        return _sent_per_zoned_day(conn, holder)
    return _sent_per_utc_minute(conn, holder)


_SENT = TRANSFERS.join(TENANTS, TENANTS.c.id == TRANSFERS.c.tenant_id)
_UNDER_A_GRANT = (
    TRANSFERS.c.grant_id.is_not(None),
    TRANSFERS.c.tenant_id.is_not(None),
    TRANSFERS.c.kind != "payment",
)


def paid_per_day(conn: Connection, holder: Any) -> Iterator[tuple[int, dt.date, str, int, Any]]:
    """(holder, spend day, currency, amount, last payment time), ordered by holder: the
    payments made under a grant that count against its limits, on the tenant-local day they
    were counted on when made (core.payments.payments: create_payment)."""
    p = PAYMENTS.c
    rows = conn.execute(
        select(holder, p.spend_day, p.currency, func.sum(p.amount), func.max(p.created_at))
        .where(p.grant_id.is_not(None), p.spend_day.is_not(None), p.status.in_(COUNTED))
        .group_by(holder, p.spend_day, p.currency)
        .order_by(holder)
    )
    for holder_id, day, currency, amount, last in rows:
        yield holder_id, day, currency, int(amount), last


def batched_per_day(conn: Connection, holder: Any) -> Iterator[tuple[int, dt.date, str, int, Any]]:
    """(holder, spend day, currency, amount, upload time), ordered by holder: the accepted
    items of the payment batches awaiting approval, which count against the limits of their
    grant and of who uploaded them from the day of the upload (core.batches). An approved
    batch's items are payments (paid_per_day counts them); one that ended otherwise was given
    back."""
    b, i = BATCHES.c, BATCH_ITEMS.c
    rows = conn.execute(
        select(holder, b.spend_day, b.currency, func.sum(i.amount), func.max(b.created_at))
        .select_from(BATCH_ITEMS.join(BATCHES, b.id == i.batch_id))
        .where(
            b.status.in_(BATCH_HELD_STATUSES),
            i.status == "accepted",
            i.grant_id.is_not(None),
        )
        .group_by(holder, b.spend_day, b.currency)
        .order_by(holder)
    )
    for holder_id, day, currency, amount, last in rows:
        yield holder_id, day, currency, int(amount), last


def _sent_per_zoned_day(
    conn: Connection, holder: Any
) -> Iterator[tuple[int, dt.date, str, int, Any]]:
    t, tn = TRANSFERS.c, TENANTS.c
    day = cast(func.timezone(tn.timezone, t.created_at), Date)
    rows = conn.execute(
        select(holder, day, t.currency, func.sum(t.amount), func.max(t.created_at))
        .select_from(_SENT)
        .where(*_UNDER_A_GRANT)
        .group_by(holder, day, t.currency)
        .order_by(holder)
    )
    for holder_id, local_day, currency, amount, last in rows:
        yield holder_id, local_day, currency, int(amount), last


def _sent_per_utc_minute(
    conn: Connection, holder: Any
) -> Iterator[tuple[int, dt.date, str, int, Any]]:
    # SQLite knows no time zones: sum per UTC minute in SQL (no zone is offset by less
    # than a minute), and place each minute in its tenant's day here.
    t, tn = TRANSFERS.c, TENANTS.c
    minute = func.substr(t.created_at, 1, 16)
    rows = conn.execute(
        select(holder, tn.timezone, minute, t.currency, func.sum(t.amount), func.max(t.created_at))
        .select_from(_SENT)
        .where(*_UNDER_A_GRANT)
        .group_by(holder, tn.timezone, minute, t.currency)
        .order_by(holder)
    )
    zones: dict[str, ZoneInfo] = {}
    for holder_id, zone, utc_minute, currency, amount, last in rows:
        tz = zones.get(zone) or zones.setdefault(zone, ZoneInfo(zone))
        yield holder_id, local_day_of(utc_minute, tz), currency, int(amount), last


def local_day_of(utc_minute: str, zone: ZoneInfo) -> dt.date:
    """The day in `zone` of a UTC minute written "YYYY-MM-DD HH:MM" (as SQLite stores it)."""
    return dt.datetime.fromisoformat(utc_minute).replace(tzinfo=dt.UTC).astimezone(zone).date()
