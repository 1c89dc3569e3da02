"""The questions tests/api/test_authzen*.py ask a decision service, and the seam asked
directly: the resource shaped as the API's guards shape it (core.ledger, core.payments),
never through core.authzen."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.context import Authentication, RequestContext
from core.models.iam import User, actor_of
from core.models.ledger import Account
from core.models.payments import Beneficiary, Payment
from core.payments.beneficiaries import payment_money
from core.policy import repository
from core.policy.facts import Money, Resource
from core.policy.panels import approval_of
from core.policy.service import check
from tests.authzen_world import DecisionWorld
from tests.factories import World, bearer, unit_of_work

EVALUATION = "/access/v1/evaluation"
EVALUATIONS = "/access/v1/evaluations"


@dataclass(frozen=True)
class Ask:
    """One question: who, what, about which resource (kind, name in the world), with what
    context."""

    subject: str
    action: str
    kind: str
    name: str
    context: dict[str, Any] | None = None

    def resource_id(self, dw: DecisionWorld) -> int:
        world = dw.world
        if self.kind == "account":
            return world.account_id(self.name)
        if self.kind == "payment":
            return dw.pending_payment_id if self.name == "pending" else dw.big_payment_id
        return dw.payees.beneficiary_id(self.name)

    def body(self, dw: DecisionWorld) -> dict[str, Any]:
        body: dict[str, Any] = {
            "subject": {"type": "user", "id": self.subject},
            "action": {"name": self.action},
            "resource": {"type": self.kind, "id": str(self.resource_id(dw))},
        }
        if self.context is not None:
            body["context"] = self.context
        return body


def ask(client, app, dw: DecisionWorld, asker: str, question: Ask, clock) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.post(
        EVALUATION, json=question.body(dw), headers=bearer(app, dw.world.users[asker], clock)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


# -- the seam, asked directly ---------------------------------------------------------------


def _at(question: Ask, now: dt.datetime) -> dt.datetime:
    at = (question.context or {}).get("at")
    return dt.datetime.fromisoformat(at) if at else now


def seam_answer(db, clock, dw: DecisionWorld, question: Ask) -> tuple[bool, str, str]:  # type: ignore[no-untyped-def]
    """What core.policy.service.check answers, the resource shaped as the API's guards shape
    it (core.ledger, core.payments): (allowed, reason, message)."""
    context = question.context or {}

    def decide(session: Session, ctx: RequestContext) -> tuple[bool, str, str]:
        user = session.scalar(select(User).where(User.username == question.subject))
        assert user is not None
        authentication = None
        if "amr" in context:
            authentication = Authentication(
                tuple(context["amr"]), dt.datetime.fromisoformat(context["auth_time"])
            )
        actor = actor_of(user, authentication)
        rid = question.resource_id(dw)
        money = approval = None
        if question.kind == "beneficiary":
            payee = session.get(Beneficiary, rid)
            assert payee is not None
            resource = Resource(
                "beneficiary",
                payee.id,
                payee.tenant_id,
                payee.bank_id,
                extra=(("added_by_actor", payee.created_by_id == user.id),),
            )
        elif question.kind == "payment":
            payment = session.get(Payment, rid)
            assert payment is not None
            account = session.get(Account, payment.account_id)
            assert account is not None
            resource = Resource.of_account(account)
            if question.action != "account.read":
                approval = approval_of(payment, repository.payment_approvals(session, rid))
        else:
            account = session.get(Account, rid)
            assert account is not None
            resource = Resource.of_account(account)
            money = _money(session, dw.world, question, account)
        verdict = check(
            session,
            ctx,
            question.action,
            resource,
            actor=actor,
            money=money,
            approval=approval,
            record=False,
            at=_at(question, ctx.now()),
        )
        return verdict.allowed, verdict.decision.reason, verdict.message

    return unit_of_work(db, clock, write=False).run(decide)


def _money(session: Session, world: World, question: Ask, account: Account) -> Money | None:
    context = question.context or {}
    if "amount" not in context:
        return None
    amount = context["amount"]
    if question.action == "payment.create":
        payee = session.get(Beneficiary, int(context["beneficiary"]))
        assert payee is not None
        clearing = world.clearing[account.currency]
        return payment_money(payee, clearing, amount, account.currency)
    if question.action == "transfer.create":
        other = session.get(Account, int(context["to_account"]))
        assert other is not None
        return Money(amount, account.currency, other)
    return Money(amount, account.currency, world.clearing[account.currency])


# -- the questions ---------------------------------------------------------------------------

SATURDAY = "2026-11-28T12:00:00+01:00"
NEXT_MONTH = "2027-01-05T10:00:00+01:00"


def questions(dw: DecisionWorld) -> list[tuple[Ask, str]]:
    """(question, the answer expected: "allow" or the refusal's reason code)."""
    payroll = str(dw.world.account_id("acme-payroll"))
    globex = str(dw.world.account_id("globex-main"))
    supplier = str(dw.payees.beneficiary_id("supplier"))

    def send(amount: int, to: str = payroll) -> dict[str, Any]:
        return {"amount": amount, "to_account": to}

    def pay(amount: int) -> dict[str, Any]:
        return {"amount": amount, "currency": "EUR", "beneficiary": supplier}

    return [
        (Ask("acme-bookkeeper", "account.read", "account", "acme-operating"), "allow"),
        (Ask("acme-bookkeeper", "statement.read", "account", "acme-operating"), "allow"),
        (Ask("acme-bookkeeper", "beneficiary.read", "beneficiary", "supplier"), "allow"),
        (
            Ask("acme-bookkeeper", "transfer.create", "account", "acme-operating", send(100)),
            "missing_permission",
        ),
        (Ask("acme-payer", "transfer.create", "account", "acme-operating", send(100)), "allow"),
        (
            Ask("acme-payer", "transfer.create", "account", "acme-operating", send(100, globex)),
            "counterparty_not_found",
        ),
        (Ask("acme-payer", "payment.create", "account", "acme-operating", pay(500)), "allow"),
        (Ask("acme-payer", "account.read", "payment", "pending"), "allow"),
        (Ask("acme-payer", "payment.approve", "payment", "pending"), "missing_permission"),
        (Ask("acme-payer", "payment.cancel", "payment", "pending"), "allow"),
        (Ask("acme-approver-a", "payment.approve", "payment", "pending"), "allow"),
        (Ask("acme-approver-a", "payment.reject", "payment", "pending"), "allow"),
        (
            Ask("acme-approver-a", "payment.approve", "payment", "pending", {"at": NEXT_MONTH}),
            "payment_not_pending",
        ),
        (Ask("acme-approver-b", "payment.approve", "payment", "big"), "already_approved"),
        (Ask("acme-approver-b2", "payment.approve", "payment", "big"), "approval_group_not_needed"),
        (
            Ask("acme-approver-small", "payment.approve", "payment", "pending"),
            "approval_limit_exceeded",
        ),
        (
            Ask("acme-approver-daily", "payment.approve", "payment", "pending"),
            "approval_daily_limit_exceeded",
        ),
        (Ask("acme-admin", "beneficiary.manage", "beneficiary", "supplier"), "allow"),
        (
            Ask("acme-admin", "beneficiary.approve", "beneficiary", "payroll"),
            "self_approval_forbidden",
        ),
        (Ask("acme-admin", "payment.cancel", "payment", "pending"), "allow"),
        (Ask("acme-admin", "account.manage", "account", "acme-operating"), "missing_permission"),
        (Ask("manager", "account.manage", "account", "acme-operating"), "allow"),
        (Ask("manager", "deposit.create", "account", "acme-operating", {"amount": 100}), "allow"),
        (Ask("manager", "payment.approve", "payment", "pending"), "missing_permission"),
        (Ask("compliance", "statement.read", "account", "globex-main"), "allow"),
        (
            Ask("compliance", "withdrawal.create", "account", "acme-operating", {"amount": 100}),
            "missing_permission",
        ),
        (Ask("acme-decisions", "account.read", "account", "acme-operating"), "missing_permission"),
        (Ask("bank-decisions", "account.read", "account", "acme-operating"), "missing_permission"),
        (Ask("acme-payer", "account.read", "account", "globex-main"), "not_found"),
        (
            Ask("acme-payer-later", "transfer.create", "account", "acme-operating", send(1)),
            "grant_not_yet_valid",
        ),
        (
            Ask("acme-payer-gone", "transfer.create", "account", "acme-operating", send(1)),
            "grant_expired",
        ),
        (
            Ask(
                "acme-payer-office",
                "transfer.create",
                "account",
                "acme-operating",
                {**send(1), "at": SATURDAY},
            ),
            "outside_time_window",
        ),
        (
            Ask("acme-payer-office", "transfer.create", "account", "acme-operating", send(1)),
            "allow",
        ),
        (
            Ask(
                "acme-payer-capped",
                "transfer.create",
                "account",
                "acme-usd",
                {"amount": 100, "to_account": str(dw.world.account_id("acme-usd"))},
            ),
            "limit_currency_mismatch",
        ),
        (
            Ask(
                "acme-payer-capped", "transfer.create", "account", "acme-operating", send(1_000_01)
            ),
            "limit_per_transfer",
        ),
        (
            Ask(
                "acme-payer-capped", "transfer.create", "account", "acme-operating", send(1_000_00)
            ),
            "allow",
        ),
        (
            Ask("acme-payer-daily", "transfer.create", "account", "acme-operating", send(5_000_01)),
            "limit_daily",
        ),
        (
            Ask(
                "acme-payer-monthly",
                "transfer.create",
                "account",
                "acme-operating",
                send(20_000_01),
            ),
            "limit_monthly",
        ),
    ]
