"""The read-only SQL behind the holds and payments checks, over ranges of ids like the rest.

A payment awaiting approval or its execution date (scheduled) holds its amount on its account
(accounts.held); a payment whose money moved (posted, sent) has exactly one transfer of kind
"payment", and such a transfer exists only for its payment (payments.transfer_id, unique,
names it). A payment batch awaiting approval holds its accepted items' total on its account
(core.batches). Only the rows that break this come back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import and_, func, literal, not_, or_, select, union_all

from core.db import table_of
from core.ledger.check.queries import ACCOUNTS, TRANSFERS, LedgerReader
from core.models.batches import BATCH_HELD_STATUSES, PaymentBatch
from core.models.payments import HELD_STATUSES, MOVED_STATUSES, Payment

PAYMENTS = table_of(Payment)
BATCHES = table_of(PaymentBatch)
MOVED = MOVED_STATUSES


def mismatched_holds(reader: LedgerReader) -> Iterator[tuple[int, Any]]:
    """For each range of accounts: how many it holds, and rows (id, currency, held, pending,
    payments) of those whose held is not the sum of their held payments (awaiting approval or
    scheduled) and of their payment batches awaiting approval (each its accepted items'
    total)."""
    a, p, b = ACCOUNTS.c, PAYMENTS.c, BATCHES.c
    for lo, hi in reader.ranges(a.id, "holds", max(reader.batch // 10, 1)):
        examined = reader.count(select(func.count()).where(a.id > lo, a.id <= hi))
        held = union_all(
            select(p.account_id, p.amount.label("amount"), literal(1).label("payments")).where(
                p.status.in_(HELD_STATUSES), p.account_id > lo, p.account_id <= hi
            ),
            # A payment batch awaiting approval holds its total (core.batches).
            select(b.account_id, b.total, b.accepted_count).where(
                b.status.in_(BATCH_HELD_STATUSES), b.account_id > lo, b.account_id <= hi
            ),
        ).subquery()
        waiting = (
            select(
                held.c.account_id,
                func.sum(held.c.amount).label("pending"),
                func.sum(held.c.payments).label("payments"),
            )
            .group_by(held.c.account_id)
            .subquery()
        )
        pending = func.coalesce(waiting.c.pending, 0)
        rows = reader.conn.execute(
            select(
                a.id,
                a.currency,
                a.held,
                pending.label("pending"),
                func.coalesce(waiting.c.payments, 0).label("payments"),
            )
            .select_from(ACCOUNTS.outerjoin(waiting, waiting.c.account_id == a.id))
            .where(a.id > lo, a.id <= hi, a.held != pending)
            .order_by(a.id)
        )
        yield examined, rows


def unmatched_payments(reader: LedgerReader) -> Iterator[tuple[int, Any]]:
    """For each range of payments: how many it holds, and the rows (the payment, and its
    transfer's columns prefixed transfer_) of those whose money moved without exactly their
    transfer (none, another kind, or another amount, currency, account, person or grant), or
    whose money did not move but that name a transfer."""
    p, t = PAYMENTS.c, TRANSFERS.c
    moved = p.status.in_(MOVED)
    its_transfer = and_(
        t.id.is_not(None),
        t.kind == "payment",
        t.amount == p.amount,
        t.currency == p.currency,
        t.debit_account_id == p.account_id,
        t.credit_account_id == p.credit_account_id,
        t.initiated_by_id == p.initiated_by_id,
        t.grant_id.is_not_distinct_from(p.grant_id),
    )
    for lo, hi in reader.ranges(p.id, "payments"):
        examined = reader.count(select(func.count()).where(p.id > lo, p.id <= hi))
        rows = reader.conn.execute(
            select(
                p.id,
                p.status,
                p.amount,
                p.currency,
                p.account_id,
                p.credit_account_id,
                p.initiated_by_id,
                p.grant_id,
                p.transfer_id,
                t.id.label("transfer_found"),
                t.kind.label("transfer_kind"),
                t.amount.label("transfer_amount"),
                t.currency.label("transfer_currency"),
                t.debit_account_id.label("transfer_debit"),
                t.credit_account_id.label("transfer_credit"),
                t.initiated_by_id.label("transfer_initiated_by"),
                t.grant_id.label("transfer_grant"),
            )
            .select_from(PAYMENTS.outerjoin(TRANSFERS, t.id == p.transfer_id))
            .where(
                p.id > lo,
                p.id <= hi,
                or_(
                    and_(moved, not_(its_transfer)),
                    and_(not_(moved), p.transfer_id.is_not(None)),
                ),
            )
            .order_by(p.id)
        )
        yield examined, rows


def payment_transfers_without_payment(reader: LedgerReader) -> Iterator[tuple[int, Any]]:
    """For each range of transfers: how many of kind "payment" it holds, and those (id,
    amount, currency, debit and credit account) that no payment names: money moved as a
    payment nobody made, or a payment posted twice."""
    t, p = TRANSFERS.c, PAYMENTS.c
    for lo, hi in reader.ranges(t.id, "payment transfers"):
        in_range = (t.kind == "payment", t.id > lo, t.id <= hi)
        examined = reader.count(select(func.count()).where(*in_range))
        named = select(p.id).where(p.transfer_id == t.id).exists()
        rows = reader.conn.execute(
            select(t.id, t.amount, t.currency, t.debit_account_id, t.credit_account_id)
            .where(*in_range, ~named)
            .order_by(t.id)
        )
        yield examined, rows
