"""The payment lists hold exactly what the per-item decisions allow, for every kind of person:
GET /v1/payments (core list_payments) is the payments a GET of each would show, with the same
status, under every status filter; the approvals inbox is exactly the payments the caller
could approve now: the policy's payment.approve allows each one, and an approval attempted
(then rolled back) succeeds on each one and on no other."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from core.context import RequestContext
from core.errors import MandateError, NotFound
from core.iam import service as iam
from core.models.iam import GrantAccount, actor_of
from core.models.ledger import Account
from core.models.payments import PAYMENT_STATUSES, Beneficiary, Payment
from core.payments import repository
from core.payments import service as payments
from core.payments.schemas import PaymentCreate, PaymentEnd, PaymentPublic
from core.policy.facts import Approval, Resource
from core.policy.service import check
from core.uow import UnitOfWork
from tests.factories import new_key, unit_of_work
from tests.payments_world import PaymentsWorld, add_approver, build_payments_world

ACTORS = [
    "acme-payer",
    "acme-approver-a",
    "acme-approver-b",
    "acme-bookkeeper",
    "acme-admin",
    "globex-admin",
    "globex-payer",
    "compliance",
    "manager",
    "payroll-approver",  # an approver over the payroll account only
    "expired-approver",  # an approver whose grant has ended
]


def _people(db, passwords, pw: PaymentsWorld, clock) -> None:  # type: ignore[no-untyped-def]
    world = pw.world

    def build(session, _ctx):  # type: ignore[no-untyped-def]
        scoped = iam.create_user(
            session,
            passwords,
            bank_id=world.bank.id,
            tenant_id=world.tenants["acme"].id,
            username="payroll-approver",
            display_name="Payroll Approver",
            password="x" * 12,
            now=clock.now(),
        )
        role = iam.builtin_role(
            session, "approver", bank_id=world.bank.id, tenant_id=world.tenants["acme"].id
        )
        grant = iam.grant_role(
            session, scoped, role, now=clock.now(), all_accounts=False, approval_group="B"
        )
        session.add(
            GrantAccount(
                grant_id=grant.id, account_id=world.account_id("acme-payroll"), user_id=scoped.id
            )
        )
        world.users["payroll-approver"] = scoped
        expired = add_approver(
            session, passwords, world, "expired-approver", group="A", limit=None, now=clock.now()
        )
        world.grants["expired-approver"].valid_until = clock.now() - dt.timedelta(hours=1)
        session.add(world.grants["expired-approver"])
        world.users["expired-approver"] = expired
        # Globex pays Acme: a payment of another tenant, from an account Acme never reads.
        globex_payee = Beneficiary(
            bank_id=world.bank.id,
            tenant_id=world.tenants["globex"].id,
            name="Acme",
            iban=world.accounts["acme-operating"].iban or "",
            internal_account_id=world.account_id("acme-operating"),
            created_by_id=world.user_id("globex-admin"),
            created_at=clock.now() - dt.timedelta(days=30),
        )
        session.add(globex_payee)
        session.flush()
        pw.beneficiaries["globex-pays-acme"] = globex_payee.id  # type: ignore[assignment]

    unit_of_work(db, clock).run(build)


def _as(db, clock, username: str, pw: PaymentsWorld):  # type: ignore[no-untyped-def]
    def run(work, *args):  # type: ignore[no-untyped-def]
        actor = actor_of(pw.world.users[username])
        return UnitOfWork(db, RequestContext(actor=actor, clock=clock)).run(work, *args)

    return run


def _payments(db, clock, pw: PaymentsWorld) -> None:  # type: ignore[no-untyped-def]
    """Payments in every state: waiting (one or two approvals, one half approved, from either
    account), posted, sent, rejected, cancelled, expired, scheduled, failed, and one lapsed
    (still waiting past its expiry, not yet released)."""
    payer = _as(db, clock, "acme-payer", pw)
    a = _as(db, clock, "acme-approver-a", pw)
    b = _as(db, clock, "acme-approver-b", pw)

    def pay(
        amount: int,
        payee: str = "supplier",
        account: str = "acme-operating",
        on: dt.date | None = None,
    ) -> int:
        body = PaymentCreate(
            account_id=pw.world.account_id(account),
            beneficiary_id=pw.beneficiary_id(payee),
            amount=amount,
            currency="EUR",
            execution_date=on,
        )
        return payer(payments.create_payment, body, new_key()).payment.id  # type: ignore[no-any-return]

    now = clock.now()
    clock.at = now - dt.timedelta(days=10)
    pay(20_000_00)  # expired below
    clock.at = now - dt.timedelta(days=8)
    pay(30_000_00, "globex")  # lapsed by now
    clock.at = now - dt.timedelta(days=2)
    assert unit_of_work(db, clock).run(payments.expire_payments) == 1
    # Failed: scheduled for the next day, its account frozen by then.
    clock.at = now - dt.timedelta(days=3)
    pay(300_00, "supplier", "acme-payroll", on=_company_day(clock.now()) + dt.timedelta(days=1))
    _set_status(db, pw.world.account_id("acme-payroll"), "frozen")
    clock.at = now - dt.timedelta(days=1)
    assert unit_of_work(db, clock).run(payments.run_payments).failed == 1
    _set_status(db, pw.world.account_id("acme-payroll"), "open")
    clock.at = now
    # Scheduled: approved, for a later day.
    later = _company_day(now) + dt.timedelta(days=5)
    a(payments.approve_payment, pay(20_000_00, on=later), new_key())
    pay(20_000_00)  # waits for one approval
    pay(150_000_00, "globex")  # waits for two, one from A
    half = pay(150_000_00, "payroll")  # B approved: waits for A
    b(payments.approve_payment, half, new_key())
    pay(40_000_00, "supplier", "acme-payroll")  # from payroll: its scoped approver's
    a(payments.approve_payment, pay(20_000_00, "payroll"), new_key())  # posted
    a(payments.approve_payment, pay(25_000_00), new_key())  # sent
    a(payments.reject_payment, pay(21_000_00), PaymentEnd(reason="no invoice"))
    payer(payments.cancel_payment, pay(22_000_00), PaymentEnd(reason=""))
    pay(500_00)  # sent at once
    globex = _as(db, clock, "globex-payer", pw)
    body = PaymentCreate(
        account_id=pw.world.account_id("globex-main"),
        beneficiary_id=pw.beneficiary_id("globex-pays-acme"),
        amount=100_00,
        currency="EUR",
    )
    globex(payments.create_payment, body, new_key())


def _company_day(at: dt.datetime) -> dt.date:
    return at.astimezone(ZoneInfo("Europe/Berlin")).date()


def _set_status(db, account_id: int, status: str) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as session:
        session.execute(update(Account).where(Account.id == account_id).values(status=status))


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    built = build_payments_world(db, app.state.services.passwords, world, clock)
    _people(db, app.state.services.passwords, built, clock)
    _payments(db, clock, built)
    return built


def _approval_of(payment: Payment, seen: PaymentPublic) -> Approval:
    """The payment as payment.approve reads it, from what a GET shows of it."""
    assert payment.expires_at is not None
    return Approval(
        initiator_id=payment.initiated_by_id,
        status=payment.status,
        approver_ids=tuple(a.approver for a in seen.approvals),
        still_needed=seen.required.still_needed,
        still_needed_a=seen.required.still_needed_a,
        expires_at=payment.expires_at,
        amount=payment.amount,
        currency=payment.currency,
    )


def test_the_payment_list_is_what_each_get_shows(db, pw, clock):
    with db.unit_of_work(write=False) as session:
        every = list(session.scalars(select(Payment).order_by(Payment.id)))
    statuses = {p.status for p in every}
    assert statuses == set(PAYMENT_STATUSES), statuses  # every status is there to be listed
    for username in ACTORS:

        def fresh(name: str = username) -> RequestContext:
            return RequestContext(actor=actor_of(pw.world.users[name]), clock=clock)

        with db.unit_of_work(write=False) as session:
            shown: dict[int, PaymentPublic] = {}
            for p in every:
                account = next(a for a in pw.world.accounts.values() if a.id == p.account_id)
                readable = check(
                    session, fresh(), "account.read", Resource.of_account(account)
                ).allowed
                try:
                    shown[p.id] = payments.get_payment(session, fresh(), p.id)  # type: ignore[arg-type]
                except NotFound:
                    assert not readable, (username, p.id)
                    continue
                assert readable, (username, p.id)
            listed = payments.list_payments(session, fresh(), limit=200)
            assert [q.id for q in listed.items] == sorted(shown, reverse=True), username
            assert {q.id: q for q in listed.items} == shown, username
            for status in PAYMENT_STATUSES:
                filtered = payments.list_payments(session, fresh(), status=status, limit=200)
                assert {q.id for q in filtered.items} == {
                    i for i, q in shown.items() if q.status == status
                }, (username, status)
    # Not trivially empty or full: who sees what.
    expected_counts = {"acme-payer": 13, "globex-admin": 1, "compliance": 14, "manager": 14}
    for username, count in expected_counts.items():
        with db.unit_of_work(write=False) as session:
            ctx = RequestContext(actor=actor_of(pw.world.users[username]), clock=clock)
            assert len(payments.list_payments(session, ctx, limit=200).items) == count, username


def test_the_inbox_is_exactly_what_one_could_approve(db, pw, clock):
    with db.unit_of_work(write=False) as session:
        every = list(session.scalars(select(Payment).order_by(Payment.id)))
    inboxes: dict[str, list[int]] = {}
    for username in ACTORS:

        def fresh(name: str = username) -> RequestContext:
            return RequestContext(actor=actor_of(pw.world.users[name]), clock=clock)

        with db.unit_of_work(write=False) as session:
            inbox = payments.inbox(session, fresh())
            ids = [item.payment.id for item in inbox]
            assert ids == sorted(ids), username  # oldest first
            allowed = set()
            for p in every:
                # As a GET shows it: one waiting past its expiry is expired.
                given = repository.approvals_of(session, [p.id or 0])[p.id or 0]
                seen = payments.payment_public(p, given, "", clock.now())
                if seen.status != "pending_approval":
                    continue
                account = next(a for a in pw.world.accounts.values() if a.id == p.account_id)
                if check(
                    session,
                    fresh(),
                    "payment.approve",
                    Resource.of_account(account),
                    approval=_approval_of(p, seen),
                    record=False,
                ).allowed:
                    allowed.add(p.id)
            assert set(ids) == allowed, username
            for item in inbox:
                left = item.payment.required
                last = left.still_needed == 1
                assert (item.approving_would in ("post it", "send it")) == last, item
        # The approval itself agrees, tried on every payment and rolled back.
        approvable = set()
        for p in every:
            session = db.session(write=True)
            try:
                payments.approve_payment(session, fresh(), p.id, new_key())  # type: ignore[arg-type]
                approvable.add(p.id)
            except MandateError:
                pass
            finally:
                session.rollback()
                session.close()
        assert approvable == set(ids), username
        inboxes[username] = ids
    # Not trivially empty: A sees the three waiting from the operating account and the one
    # waiting for A; B not the one B approved; the payroll approver only payroll's.
    assert len(inboxes["acme-approver-a"]) == 4, inboxes
    assert len(inboxes["acme-approver-b"]) == 3, inboxes
    assert len(inboxes["payroll-approver"]) == 1, inboxes
    for nobody in ("acme-payer", "acme-admin", "globex-admin", "manager", "expired-approver"):
        assert inboxes[nobody] == [], nobody


def test_at_a_fraction_of_a_second_from_expiry_the_list_and_the_decision_agree(db, pw, clock):
    """The policy reads times in whole seconds. Regression: a payment made at 0.7 s past a
    second expired at 0.7 s past it too, so 0.4 s past that second the list and a GET showed
    it waiting while the policy (now and expiry both cut to the second) found it expired:
    listed as pending, left out of the inbox, refused payment_not_pending. A payment's expiry
    is a whole second now, which the policy's seconds compare exactly."""
    payer = _as(db, clock, "acme-payer", pw)
    clock.at = clock.at + dt.timedelta(days=1, microseconds=700_000)
    made = payer(
        payments.create_payment,
        PaymentCreate(
            account_id=pw.world.account_id("acme-operating"),
            beneficiary_id=pw.beneficiary_id("supplier"),
            amount=20_000_00,
            currency="EUR",
        ),
        new_key(),
    ).payment
    assert made.expires_at is not None
    clock.at = made.expires_at.replace(microsecond=0) + dt.timedelta(microseconds=400_000)
    ctx = RequestContext(actor=actor_of(pw.world.users["acme-approver-a"]), clock=clock)
    with db.unit_of_work(write=False) as session:
        shown = payments.get_payment(session, ctx, made.id).status
        pending = payments.list_payments(session, ctx, status="pending_approval", limit=200)
        listed = made.id in {p.id for p in pending.items}
        in_inbox = made.id in {i.payment.id for i in payments.inbox(session, ctx)}
    try:
        _as(db, clock, "acme-approver-a", pw)(payments.approve_payment, made.id, new_key())
        approved = True
    except MandateError as error:
        assert error.code == "payment_not_pending"
        approved = False
    assert (shown == "pending_approval") == listed == in_inbox == approved, (
        shown,
        listed,
        in_inbox,
        approved,
    )
