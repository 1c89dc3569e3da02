"""A world for payments under dual control, on top of tests.factories' world: two approvers of
Acme (groups A and B, each with an approval limit), beneficiaries (the world's external
acme-supplier as "supplier", internal at Globex, and Acme's own payroll account; all added
long enough ago not to be new), and an
approval panel (Acme: >= 10,000.00 EUR one approval, >= 100,000.00 EUR two with one from
group A). with_pending_payment adds a payment of Acme's waiting for approval, for the tests
that walk every route."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.clock import Clock
from core.context import RequestContext
from core.db import Database
from core.iam import service as iam
from core.iam.credentials import Passwords
from core.models.iam import User, actor_of
from core.models.payments import ApprovalRule, Beneficiary
from core.payments import service as payments
from core.payments.schemas import PaymentCreate
from core.uow import UnitOfWork
from tests.factories import PASSWORD, World, new_key, unit_of_work


@dataclass
class PaymentsWorld:
    world: World
    beneficiaries: dict[str, int]
    approvers: dict[str, User]

    def beneficiary_id(self, name: str) -> int:
        return self.beneficiaries[name]


def add_approver(
    session: Session,
    passwords: Passwords,
    world: World,
    username: str,
    *,
    group: str | None,
    limit: int | None,
    now: dt.datetime,
    daily_limit: int | None = None,
) -> User:
    acme = world.tenants["acme"]
    user = iam.create_user(
        session,
        passwords,
        bank_id=world.bank.id,  # type: ignore[arg-type]
        tenant_id=acme.id,
        username=username,
        display_name=username.replace("-", " ").title(),
        password=PASSWORD,
        now=now,
    )
    role = iam.builtin_role(session, "approver", bank_id=world.bank.id, tenant_id=acme.id)  # type: ignore[arg-type]
    world.grants[username] = iam.grant_role(
        session,
        user,
        role,
        now=now,
        approval_group=group,
        approval_limit=limit,
        approval_daily_limit=daily_limit,
        limit_currency="EUR" if limit is not None or daily_limit is not None else None,
    )
    world.users[username] = user
    return user


def build_payments_world(
    db: Database, passwords: Passwords, world: World, clock: Clock, *, rules: bool = True
) -> PaymentsWorld:
    now = clock.now()
    acme = world.tenants["acme"]

    def build(session: Session, _ctx: RequestContext) -> PaymentsWorld:
        approvers = {
            "acme-approver-a": add_approver(
                session, passwords, world, "acme-approver-a", group="A", limit=500_000_00, now=now
            ),
            "acme-approver-b": add_approver(
                session, passwords, world, "acme-approver-b", group="B", limit=500_000_00, now=now
            ),
        }
        added = now - dt.timedelta(days=30)
        # The world's own external payee of Acme (tests.factories), and two inside the bank.
        payees = {
            "globex": (world.accounts["globex-main"].iban, world.account_id("globex-main")),
            "payroll": (world.accounts["acme-payroll"].iban, world.account_id("acme-payroll")),
        }
        ids: dict[str, int] = {"supplier": world.beneficiary_id("acme-supplier")}
        for name, (iban, internal) in payees.items():
            row = Beneficiary(
                bank_id=world.bank.id,  # type: ignore[arg-type]
                tenant_id=acme.id,  # type: ignore[arg-type]
                name=name.title(),
                iban=iban or "",
                internal_account_id=internal,
                created_by_id=world.user_id("acme-admin"),
                created_at=added,
                updated_at=added,
            )
            session.add(row)
            session.flush()
            ids[name] = row.id  # type: ignore[assignment]
        if rules:
            for minimum, approvals, group_a in ((10_000_00, 1, 0), (100_000_00, 2, 1)):
                session.add(
                    ApprovalRule(
                        bank_id=world.bank.id,  # type: ignore[arg-type]
                        tenant_id=acme.id,
                        currency="EUR",
                        min_amount=minimum,
                        approvals=approvals,
                        group_a=group_a,
                        updated_at=now,
                    )
                )
        session.flush()
        return PaymentsWorld(world=world, beneficiaries=ids, approvers=approvers)

    return unit_of_work(db, clock).run(build)


# The pending payment of with_pending_payment: 20,000.00 EUR to the supplier elsewhere, one
# approval needed (Acme's tier from 10,000.00 EUR).
PENDING_AMOUNT = 20_000_00


def with_pending_payment(
    db: Database, passwords: Passwords, world: World, clock: Clock
) -> PaymentsWorld:
    """The payments world, and a payment acme-payer prepared that waits for one approval
    (world.payment_ids["acme"]), made through the service the API calls."""
    pw = build_payments_world(db, passwords, world, clock)
    payer = world.users["acme-payer"]
    body = PaymentCreate(
        account_id=world.account_id("acme-operating"),
        beneficiary_id=pw.beneficiary_id("supplier"),
        amount=PENDING_AMOUNT,
        currency="EUR",
        reference="Invoice 7",
    )
    ctx = RequestContext(actor=actor_of(payer), clock=clock)
    made = UnitOfWork(db, ctx).run(payments.create_payment, body, new_key())
    assert made.payment.status == "pending_approval", made.payment
    world.payment_ids["acme"] = made.payment.id
    return pw
