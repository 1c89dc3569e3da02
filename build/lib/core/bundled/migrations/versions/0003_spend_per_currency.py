"""Running totals per currency, and per person.

grant_spend was keyed by (grant, day) and summed every currency a grant moved, so a USD
transfer counted against a EUR limit. It is now keyed by (grant, currency, day). person_spend
holds what each person sent under all their grants, per currency and day: the totals the
company's and the bank's caps are checked against.

Existing totals are split by the currency of the transfers they count (each transfer's day in
its tenant's zone, as the posting transaction counts it); any part no transfer accounts for
goes to the grant's limit currency (or its role's, or the currency the grant moved most), so
no amount is lost. The per-person totals are the sums of the grants' totals.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

_OLD = sa.table(
    "grant_spend_by_day",
    sa.column("grant_id", sa.Integer()),
    sa.column("day", sa.Date()),
    sa.column("amount", sa.BigInteger()),
)
_NEW = sa.table(
    "grant_spend",
    sa.column("grant_id", sa.Integer()),
    sa.column("currency", sa.String(3)),
    sa.column("day", sa.Date()),
    sa.column("amount", sa.BigInteger()),
)
_TRANSFERS = sa.table(
    "transfers",
    sa.column("grant_id", sa.Integer()),
    sa.column("tenant_id", sa.Integer()),
    sa.column("currency", sa.String(3)),
    sa.column("amount", sa.BigInteger()),
    sa.column("created_at", UTCDateTime()),
)
_TENANTS = sa.table("tenants", sa.column("id", sa.Integer()), sa.column("timezone", sa.String()))
_GRANTS = sa.table(
    "grants",
    sa.column("id", sa.Integer()),
    sa.column("role_id", sa.Integer()),
    sa.column("limit_currency", sa.String(3)),
)
_ROLES = sa.table("roles", sa.column("id", sa.Integer()), sa.column("limit_currency", sa.String(3)))
_BATCH = 5_000


def _spend_table(name: str, owner: str, owner_table: str) -> None:
    op.create_table(
        name,
        sa.Column(owner, sa.Integer(), sa.ForeignKey(f"{owner_table}.id"), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
    )


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.rename_table("grant_spend", "grant_spend_by_day")
    if postgres:
        # The old table's constraint names would clash with the new table's.
        op.execute("ALTER TABLE grant_spend_by_day RENAME CONSTRAINT grant_spend_pkey TO gsd_pkey")
        op.execute(
            "ALTER TABLE grant_spend_by_day "
            "RENAME CONSTRAINT grant_spend_grant_id_fkey TO gsd_grant_id_fkey"
        )
    _spend_table("grant_spend", "grant_id", "grants")
    _spend_table("person_spend", "user_id", "users")

    rows = _split_per_currency(bind)
    for start in range(0, len(rows), _BATCH):
        bind.execute(_NEW.insert(), rows[start : start + _BATCH])
    op.execute(
        "INSERT INTO person_spend (user_id, currency, day, amount) "
        "SELECT g.user_id, s.currency, s.day, SUM(s.amount) FROM grant_spend s "
        "JOIN grants g ON g.id = s.grant_id GROUP BY g.user_id, s.currency, s.day"
    )
    op.drop_table("grant_spend_by_day")


def _split_per_currency(bind: sa.engine.Connection) -> list[dict[str, object]]:
    """The old (grant, day) totals as (grant, currency, day) totals."""
    t, tn = _TRANSFERS.c, _TENANTS.c
    sent: dict[tuple[int, dt.date], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    moved: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    zones: dict[str, ZoneInfo] = {}
    transfers = bind.execute(
        sa.select(t.grant_id, tn.timezone, t.created_at, t.currency, t.amount)
        .select_from(_TRANSFERS.join(_TENANTS, tn.id == t.tenant_id))
        .where(t.grant_id.is_not(None), t.tenant_id.is_not(None))
        # Per statement: Connection.execution_options would stream every later statement too.
        .execution_options(stream_results=True, yield_per=_BATCH)
    )
    for grant_id, zone, created_at, currency, amount in transfers:
        tz = zones.get(zone) or zones.setdefault(zone, ZoneInfo(zone))
        day = created_at.astimezone(tz).date()
        sent[(grant_id, day)][currency] += int(amount)
        moved[grant_id][currency] += int(amount)
    g, r = _GRANTS.c, _ROLES.c
    limit_currency = {
        grant_id: own or role
        for grant_id, own, role in bind.execute(
            sa.select(g.id, g.limit_currency, r.limit_currency).select_from(
                _GRANTS.join(_ROLES, r.id == g.role_id)
            )
        )
    }
    rows: list[dict[str, object]] = []
    old = _OLD.c
    for grant_id, day, amount in bind.execute(sa.select(old.grant_id, old.day, old.amount)):
        split = dict(sent.get((grant_id, day), {}))
        rest = int(amount) - sum(split.values())
        if rest:
            currency = (
                limit_currency.get(grant_id)
                or max(moved.get(grant_id, {}).items(), key=lambda kv: kv[1], default=(None, 0))[0]
            )
            if currency is None:
                log.warning("grant_spend: %s on grant %s, %s has no currency", rest, grant_id, day)
                continue
            split[currency] = split.get(currency, 0) + rest
        rows += [
            {"grant_id": grant_id, "currency": c, "day": day, "amount": a}
            for c, a in split.items()
            if a
        ]
    return rows


def downgrade() -> None:
    op.drop_table("person_spend")
    op.rename_table("grant_spend", "grant_spend_by_currency")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE grant_spend_by_currency RENAME CONSTRAINT grant_spend_pkey TO gsc_pkey"
        )
        op.execute(
            "ALTER TABLE grant_spend_by_currency "
            "RENAME CONSTRAINT grant_spend_grant_id_fkey TO gsc_grant_id_fkey"
        )
    op.create_table(
        "grant_spend",
        sa.Column("grant_id", sa.Integer(), sa.ForeignKey("grants.id"), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
    )
    op.execute(
        "INSERT INTO grant_spend (grant_id, day, amount) SELECT grant_id, day, SUM(amount) "
        "FROM grant_spend_by_currency GROUP BY grant_id, day"
    )
    op.drop_table("grant_spend_by_currency")
