"""A tenant's days are counted in its zone as the database holds it now: no process keeps a
zone of its own, so a changed zone is seen by the next request of every process."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, text

from core.context import RequestContext
from core.ledger import service as ledger
from core.ledger.schemas import TransferCreate
from core.models.iam import GrantSpend
from tests.factories import new_key, staff_context


def test_a_changed_tenant_zone_counts_the_next_transfer_in_the_new_zone(db, world, clock):
    # 23:30 UTC: already the 26th in Berlin (Acme's zone), still the 25th in New York.
    clock.at = dt.datetime(2026, 11, 25, 23, 30, tzinfo=dt.UTC)
    payer = staff_context(db, "acme-payer", clock)
    body = TransferCreate(
        from_account_id=world.account_id("acme-operating"),
        to_account_id=world.account_id("acme-payroll"),
        amount=100_00,
        currency="EUR",
    )

    def send() -> None:
        ctx = RequestContext(actor=payer.actor, clock=clock)
        db.run(lambda s: ledger.create_transfer(s, ctx, body, new_key()))

    send()
    with db.unit_of_work() as session:
        session.execute(
            text("UPDATE tenants SET timezone = 'America/New_York' WHERE id = :t"),
            {"t": world.tenants["acme"].id},
        )
    send()
    with db.unit_of_work(write=False) as session:
        days = dict(
            session.execute(
                select(GrantSpend.day, GrantSpend.amount).where(
                    GrantSpend.grant_id == world.grants["acme-payer"].id
                )
            ).all()
        )
    assert days == {dt.date(2026, 11, 26): 100_00, dt.date(2026, 11, 25): 100_00}
