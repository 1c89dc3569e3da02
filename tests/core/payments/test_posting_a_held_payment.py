"""The last approval posts a payment whose hold is most of its account: the hold is released
as the money moves, never counted twice against the floor (balance - held, which the
database itself enforces)."""

from __future__ import annotations

from core.context import RequestContext
from core.ledger.check import check_database
from core.models.ledger import Account
from core.payments import service as payments
from core.payments.schemas import PaymentCreate
from tests.factories import new_key, staff_context
from tests.payments_world import build_payments_world


def test_a_payment_of_most_of_the_balance_posts_on_its_last_approval(app, db, world, clock):
    pw = build_payments_world(db, app.state.services.passwords, world, clock)
    payroll = world.account_id("acme-payroll")  # 100,000.00 EUR
    payer = staff_context(db, "acme-payer", clock)
    approver = staff_context(db, "acme-approver-b", clock)
    body = PaymentCreate(
        account_id=payroll,
        beneficiary_id=pw.beneficiary_id("globex"),
        amount=60_000_00,
        currency="EUR",
    )
    made = db.run(
        lambda s: payments.create_payment(
            s, RequestContext(actor=payer.actor, clock=clock), body, new_key()
        )
    )
    assert made.payment.status == "pending_approval"
    done = db.run(
        lambda s: payments.approve_payment(
            s, RequestContext(actor=approver.actor, clock=clock), made.payment.id, new_key()
        )
    )
    assert done.payment.status == "posted"
    with db.unit_of_work(write=False) as session:
        account = session.get(Account, payroll)
        assert account is not None and (account.balance, account.held) == (40_000_00, 0)
    assert check_database(db).ok
