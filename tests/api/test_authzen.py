"""Decisions for other services (AuthZEN 1.0, /access/v1): every answer is Mandate's own
decision. The same questions go through /access/v1/evaluation, through the explain API and
through the seam itself (core.policy.service.check, the resource shaped here as the API's
guards shape it), for every built-in role and every refusal a question about an account, a
payment or a beneficiary can meet; and the answers agree."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.context import Authentication, RequestContext
from core.models.audit import DecisionRecord
from core.models.iam import User, actor_of
from core.models.ledger import Account
from core.models.payments import Beneficiary, Payment
from core.payments.beneficiaries import payment_money
from core.policy import repository
from core.policy.facts import Money, Resource
from core.policy.panels import approval_of
from core.policy.service import check
from tests.authzen_world import BIG_PAYMENT, DecisionWorld, build_decision_world
from tests.factories import World, bearer, unit_of_work
from tests.second_factor_world import with_step_up

EVALUATION = "/access/v1/evaluation"
EVALUATIONS = "/access/v1/evaluations"


@pytest.fixture
def dw(app, db, world, clock) -> DecisionWorld:  # type: ignore[no-untyped-def]
    return build_decision_world(db, app.state.services.passwords, world, clock)


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


def test_every_answer_is_the_seams_and_the_expected_one(client, app, db, clock, dw):
    """For every built-in role and every refusal reachable by a question about an account, a
    payment or a beneficiary: the bank's decision service hears what the seam decides (the
    same reason, the same sentence), and it is what the table expects."""
    table = questions(dw)
    held = {dw.world.grants[q.subject].role_id for q, _ in table}
    assert len(held) >= 8  # every built-in role: both levels of the decision service too
    reasons = {expected for _, expected in table}
    for question, expected in table:
        answer = ask(client, app, dw, "bank-decisions", question, clock)
        allowed, reason, message = seam_answer(db, clock, dw, question)
        assert answer["decision"] is allowed, (question, answer)
        assert (reason if not allowed else "allow") == expected, (question, reason)
        if allowed:
            assert answer == {"decision": True}, question
            continue
        context = answer["context"]
        assert context["reason_code"] == reason, (question, answer)
        if reason == "not_found":
            rid = question.resource_id(dw)
            assert context["reason"] == f"{question.kind} {rid} not found"
        else:
            assert context["reason"] == message, question
    assert len(reasons) >= 17


def test_answers_equal_the_explain_api(client, app, db, clock, dw):
    """The explain API (GET /v1/authz/explain, asked by the bank manager) and the company's
    decision service agree on every question about Acme's accounts and payments."""
    manager = bearer(app, dw.world.users["manager"], clock)
    compared = 0
    for question, _ in questions(dw):
        if question.kind == "beneficiary" or question.subject in (
            "manager",
            "compliance",
            "bank-decisions",
        ):
            continue
        if question.name == "globex-main" or question.action == "payment.create":
            continue
        context = question.context or {}
        params: dict[str, Any] = {
            "user": dw.world.user_id(question.subject),
            "action": question.action,
        }
        if question.kind == "payment":
            params["payment"] = question.resource_id(dw)
        else:
            params["account"] = question.resource_id(dw)
        for key, name in (("amount", "amount"), ("to_account", "to_account"), ("at", "at")):
            if key in context:
                params[name] = context[key]
        if question.kind == "payment" and question.action == "account.read":
            continue
        explained = client.get("/v1/authz/explain", params=params, headers=manager)
        assert explained.status_code == 200, (question, explained.text)
        explanation = explained.json()
        answer = ask(client, app, dw, "acme-decisions", question, clock)
        assert answer["decision"] is (explanation["decision"] == "allow"), question
        if not answer["decision"]:
            assert answer["context"]["reason_code"] == explanation["reason"], question
            assert answer["context"]["reason"] == explanation["message"], question
        compared += 1
    assert compared >= 20


def test_the_api_itself_refuses_as_answered(client, app, dw, clock):
    """The API's own refusal of the same request: the same reason code and sentence."""
    question = Ask("acme-approver-small", "payment.approve", "payment", "pending")
    answer = ask(client, app, dw, "acme-decisions", question, clock)
    refused = client.post(
        f"/v1/payments/{dw.pending_payment_id}/approve",
        headers={
            **bearer(app, dw.world.users["acme-approver-small"], clock),
            "Idempotency-Key": "k-1",
        },
    )
    assert refused.status_code == 403, refused.text
    assert answer["context"] == {
        "reason_code": refused.json()["error"],
        "reason": refused.json()["detail"],
    }
    assert BIG_PAYMENT > 0
