"""Decision services and the people they ask about (tests of core.authzen): the payments world
(approvers, payees, a payment waiting for one approval), a decision service of Acme, of
Globex and of the bank, and one Acme person per condition a refusal can name: grants not yet
valid or expired, a time window, limits per transfer, day and month, a limit in another
currency, approval limits per payment and per day, a second group-B approver, and a payment of
150,000.00 EUR that group B approved once and that still needs group A."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.clock import Clock
from core.context import RequestContext
from core.db import Database
from core.iam import service as iam
from core.iam.credentials import Passwords
from core.models.iam import User, actor_of
from core.payments import payments
from core.payments.schemas import PaymentCreate
from core.uow import UnitOfWork
from tests.factories import PASSWORD, World, new_key, unit_of_work
from tests.payments_world import PaymentsWorld, add_approver, with_pending_payment

# Each built-in role is held by someone of the world: Acme's bookkeeper, payer, approvers and
# admin, the bank's manager and compliance officer, and the decision services.
SERVICES = {"acme-decisions": "acme", "globex-decisions": "globex", "bank-decisions": None}
BIG_PAYMENT = 150_000_00


@dataclass
class DecisionWorld:
    world: World
    payees: PaymentsWorld
    # The payment of 150,000.00 EUR approved once by group B (it still needs group A).
    big_payment_id: int

    @property
    def pending_payment_id(self) -> int:
        return self.world.payment_ids["acme"]


def _person(
    session: Session,
    passwords: Passwords,
    world: World,
    username: str,
    tenant: str | None,
    role_key: str,
    now: dt.datetime,
    **conditions: Any,
) -> User:
    tenant_id = world.tenants[tenant].id if tenant else None
    user = iam.create_user(
        session,
        passwords,
        bank_id=world.bank.id,  # type: ignore[arg-type]
        tenant_id=tenant_id,
        username=username,
        display_name=username.replace("-", " ").title(),
        password=PASSWORD,
        now=now,
    )
    role = iam.builtin_role(session, role_key, bank_id=world.bank.id, tenant_id=tenant_id)  # type: ignore[arg-type]
    world.grants[username] = iam.grant_role(session, user, role, now=now, **conditions)
    world.users[username] = user
    return user


def with_decision_services(db: Database, passwords: Passwords, world: World, clock: Clock) -> None:
    """Only the decision services (what the authorization matrix needs of this world)."""
    now = clock.now()

    def build(session: Session, _ctx: RequestContext) -> None:
        for username, tenant in SERVICES.items():
            _person(session, passwords, world, username, tenant, "decision_service", now)

    unit_of_work(db, clock).run(build)


def build_decision_world(
    db: Database, passwords: Passwords, world: World, clock: Clock
) -> DecisionWorld:
    payees = with_pending_payment(db, passwords, world, clock)
    with_decision_services(db, passwords, world, clock)
    now = clock.now()
    eur = {"limit_currency": "EUR"}

    def build(session: Session, _ctx: RequestContext) -> None:
        def payer(name: str, **conditions: Any) -> None:
            _person(session, passwords, world, name, "acme", "payer", now, **conditions)

        payer("acme-payer-later", valid_from=now + dt.timedelta(days=1))
        payer("acme-payer-gone", valid_until=now - dt.timedelta(days=1))
        # Mon-Fri 09:00-17:00 in Berlin.
        payer(
            "acme-payer-office",
            window_days="01234",
            window_start=9 * 60,
            window_end=17 * 60,
            window_zone="Europe/Berlin",
        )
        payer("acme-payer-capped", per_transfer_limit=1_000_00, **eur)
        payer("acme-payer-daily", daily_limit=5_000_00, **eur)
        payer("acme-payer-monthly", monthly_limit=20_000_00, **eur)
        for name, limit, daily in (
            ("acme-approver-small", 10_000_00, None),
            ("acme-approver-daily", 500_000_00, 10_000_00),
        ):
            add_approver(
                session, passwords, world, name, group="A", limit=limit, daily_limit=daily, now=now
            )
        add_approver(
            session, passwords, world, "acme-approver-b2", group="B", limit=500_000_00, now=now
        )

    unit_of_work(db, clock).run(build)
    big = PaymentCreate(
        account_id=world.account_id("acme-operating"),
        beneficiary_id=payees.beneficiary_id("supplier"),
        amount=BIG_PAYMENT,
        currency="EUR",
        reference="Machine",
    )
    payer_ctx = RequestContext(actor=actor_of(world.users["acme-payer"]), clock=clock)
    made = UnitOfWork(db, payer_ctx).run(payments.create_payment, big, new_key())
    assert made.payment.status == "pending_approval", made.payment
    approver_ctx = RequestContext(actor=actor_of(world.users["acme-approver-b"]), clock=clock)
    UnitOfWork(db, approver_ctx).run(payments.approve_payment, made.payment.id, new_key())
    return DecisionWorld(world=world, payees=payees, big_payment_id=made.payment.id)
