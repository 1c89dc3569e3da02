"""What was sent: the running totals cumulative limits are held to (grant_spend: per grant,
person_spend: per person across all their grants; per currency and tenant-local day).

They belong to the limits: the facts read them (today's and this month's totals) and a money
movement adds to them, in the transaction that posts it and under the same locks (the
accounts', then the person's), so that concurrent transfers can never jointly pass a limit.
`mandate ledger check` proves they equal the transfers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, bindparam, literal_column, select, text, union_all
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlmodel import col

from core.db import table_of
from core.models.iam import GrantSpend, PersonSpend, User
from core.policy.shaping import GrantSpendTotals, fold_spend


@dataclass(frozen=True)
class Spend:
    """An amount sent under a grant by its holder, in one currency, on a tenant-local day."""

    grant_id: int
    user_id: int
    currency: str
    day: dt.date
    amount: int


# -- reading ----------------------------------------------------------------------------------

_GRANT_SPEND, _PERSON_SPEND = table_of(GrantSpend), table_of(PersonSpend)
_GRANT_ROWS = select(
    literal_column("'grant'", String()).label("side"),
    _GRANT_SPEND.c.grant_id.label("owner"),
    _GRANT_SPEND.c.day,
    _GRANT_SPEND.c.amount,
).where(
    _GRANT_SPEND.c.grant_id.in_(bindparam("grant_ids", expanding=True)),
    _GRANT_SPEND.c.currency == bindparam("currency"),
    _GRANT_SPEND.c.day >= bindparam("month_start"),
    _GRANT_SPEND.c.day <= bindparam("today"),
)
_PERSON_ROWS = select(
    literal_column("'person'", String()).label("side"),
    _PERSON_SPEND.c.user_id.label("owner"),
    _PERSON_SPEND.c.day,
    _PERSON_SPEND.c.amount,
).where(
    _PERSON_SPEND.c.user_id == bindparam("user_id"),
    _PERSON_SPEND.c.currency == bindparam("currency"),
    _PERSON_SPEND.c.day >= bindparam("month_start"),
    _PERSON_SPEND.c.day <= bindparam("today"),
)
# The grants' totals and the person's, in one round trip.
_TOTALS = union_all(_GRANT_ROWS, _PERSON_ROWS)
_LOCK_PERSON = (
    select(col(User.id)).where(col(User.id) == bindparam("user_id")).with_for_update(key_share=True)
)


def totals(
    session: Session,
    *,
    grant_ids: Sequence[int],
    user_id: int,
    currency: str,
    today: dt.date,
    month_start: dt.date,
) -> tuple[dict[int, GrantSpendTotals], GrantSpendTotals]:
    """What was sent today and this month, in `currency`: under each grant, and by the person
    under all their grants."""
    rows = session.connection().execute(
        _TOTALS,
        {
            "grant_ids": list(grant_ids),
            "user_id": user_id,
            "currency": currency,
            "month_start": month_start,
            "today": today,
        },
    )
    return fold_spend(((r.side, r.owner, r.day, r.amount) for r in rows), grant_ids, today)


def lock_person(session: Session, user_id: int) -> None:
    """Serialise the money movements of one person under cumulative limits, whichever grants
    they go through, so that concurrent transfers can never jointly pass a grant's limit nor
    the person's caps. Taken after the account locks (one row: no order to get wrong). Only
    the holder of a grant moves money under it, so this also covers each grant's total. On
    SQLite the unit of work already holds the database's write lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(_LOCK_PERSON, {"user_id": user_id}).all()


# -- adding -----------------------------------------------------------------------------------

# PostgreSQL: both totals in one statement (a data-modifying CTE), one round trip.
_RECORD_PG = text(
    """
WITH g AS (
    INSERT INTO grant_spend (grant_id, currency, day, amount)
    VALUES (:grant_id, :currency, :day, :amount)
    ON CONFLICT (grant_id, currency, day)
    DO UPDATE SET amount = grant_spend.amount + excluded.amount
)
INSERT INTO person_spend (user_id, currency, day, amount)
VALUES (:user_id, :currency, :day, :amount)
ON CONFLICT (user_id, currency, day)
DO UPDATE SET amount = person_spend.amount + excluded.amount
"""
)


def _upsert(model: Any, owner: str) -> Any:
    spend = table_of(model)
    stmt = sqlite_insert(spend).values(
        {
            owner: bindparam(owner),
            "currency": bindparam("currency"),
            "day": bindparam("day"),
            "amount": bindparam("amount"),
        }
    )
    return stmt.on_conflict_do_update(
        index_elements=[owner, "currency", "day"],
        set_={"amount": spend.c.amount + stmt.excluded.amount},
    )


_RECORD_SQLITE = (_upsert(GrantSpend, "grant_id"), _upsert(PersonSpend, "user_id"))


def record(session: Session, spend: Spend) -> None:
    """Add to what was sent that day, in that currency, under the grant and by its holder. The
    caller holds the locks the totals were read under."""
    params = {
        "grant_id": spend.grant_id,
        "user_id": spend.user_id,
        "currency": spend.currency,
        "day": spend.day,
        "amount": spend.amount,
    }
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(_RECORD_PG, params)
        return
    for statement in _RECORD_SQLITE:
        session.connection().execute(statement, params)
