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


# -- step-up and the company's own rules ------------------------------------------------------


def test_a_step_up_is_answered_as_the_api_answers_it(client, app, db, clock, dw):
    """Where Acme asks for a code within 5 minutes, an approval is refused step_up_required
    (with max_age and the method, RFC 9470's words) unless the context says the person gave
    a code lately; the seam says the same, and so does the API to the person's own token."""
    with_step_up(db, dw.world, minutes=5)
    now = clock.now()
    recently = {"amr": ["pwd", "otp"], "auth_time": (now - dt.timedelta(seconds=60)).isoformat()}
    long_ago = {"amr": ["pwd", "otp"], "auth_time": (now - dt.timedelta(seconds=600)).isoformat()}
    password = {"amr": ["pwd"], "auth_time": now.isoformat()}
    for context, expected in (
        (None, False),
        (recently, True),
        (long_ago, False),
        (password, False),
    ):
        question = Ask("acme-approver-a", "payment.approve", "payment", "pending", context)
        answer = ask(client, app, dw, "acme-decisions", question, clock)
        allowed, reason, message = seam_answer(db, clock, dw, question)
        assert answer["decision"] is allowed is expected, (context, answer)
        if not expected:
            assert reason == "step_up_required"
            assert answer["context"] == {
                "reason_code": "step_up_required",
                "reason": message,
                "max_age": 300,
                "amr_values": "otp",
            }
    refused = client.post(
        f"/v1/payments/{dw.pending_payment_id}/approve",
        headers={**bearer(app, dw.world.users["acme-approver-a"], clock), "Idempotency-Key": "k"},
    )
    assert refused.status_code == 401 and 'max_age="300"' in refused.headers["WWW-Authenticate"]
    assert refused.json()["error"] == "step_up_required"


def test_a_half_told_authentication_is_a_mistake_in_the_question(client, app, dw, clock):
    body = Ask("acme-approver-a", "payment.approve", "payment", "pending", {"amr": ["otp"]}).body(
        dw
    )
    headers = bearer(app, dw.world.users["acme-decisions"], clock)
    response = client.post(EVALUATION, json=body, headers=headers)
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"


def test_the_companys_own_rule_refuses_as_it_refuses_the_payment(client, app, db, clock, dw):
    """Acme's extension (no payments on a Friday to a payee younger than 7 days) in force:
    the decision service hears its reason and its sentence, as the payer would."""
    from tests.policy_versions_world import second_officer, with_policy_in_force
    from tests.tenant_policy_world import FRIDAY, REASON, SENTENCE, friday_extension

    second_officer(dw.world, db, app.state.services.passwords, clock)
    with_policy_in_force(db, clock)
    clock.at = FRIDAY
    acme = dw.world.tenants["acme"]
    # Acme's payee at Globex's account, as if added two days before that Friday.
    young_id = dw.payees.beneficiary_id("globex")
    with db.unit_of_work() as session:
        payee = session.get(Beneficiary, young_id)
        assert payee is not None
        payee.created_at = FRIDAY - dt.timedelta(days=2)
    manager = bearer(app, dw.world.users["manager"], clock)
    officer = bearer(app, dw.world.users["compliance"], clock)
    proposed = client.post("/v1/policy/versions", json=friday_extension(acme.id), headers=manager)
    assert proposed.status_code == 201, proposed.text
    path = f"/v1/policy/versions/{proposed.json()['id']}"
    assert client.post(f"{path}/approve", headers=officer).status_code == 200
    assert client.post(f"{path}/activate", headers=officer).status_code == 200
    app.state.policy_watcher.sync()
    try:
        body = {
            "subject": {"type": "user", "id": "acme-payer"},
            "action": {"name": "payment.create"},
            "resource": {"type": "account", "id": str(dw.world.account_id("acme-operating"))},
            "context": {"amount": 100_00, "currency": "EUR", "beneficiary": str(young_id)},
        }
        asked = client.post(
            EVALUATION, json=body, headers=bearer(app, dw.world.users["acme-decisions"], clock)
        )
        assert asked.json() == {
            "decision": False,
            "context": {"reason_code": REASON, "reason": SENTENCE},
        }
        paid = client.post(
            "/v1/payments",
            json={
                "account_id": dw.world.account_id("acme-operating"),
                "beneficiary_id": young_id,
                "amount": 100_00,
                "currency": "EUR",
                "reference": "Friday",
            },
            headers={**bearer(app, dw.world.users["acme-payer"], clock), "Idempotency-Key": "f"},
        )
        assert paid.status_code == 403 and paid.json() == {"error": REASON, "detail": SENTENCE}
        # An old payee on the same Friday: allowed, as the payment would be.
        body["context"]["beneficiary"] = str(dw.payees.beneficiary_id("supplier"))
        asked = client.post(
            EVALUATION, json=body, headers=bearer(app, dw.world.users["acme-decisions"], clock)
        )
        assert asked.json() == {"decision": True}
    finally:
        from core.policy import engine as policy_engine
        from core.policy import registry
        from tests.conftest import REPO_ROOT

        registry.REGISTRY.clear()
        policy_engine.ensure_loaded(REPO_ROOT / "policies")


# -- boxcars ----------------------------------------------------------------------------------


def _boxcar(dw: DecisionWorld, semantic: str | None) -> dict[str, Any]:
    """acme-bookkeeper: reads acme-operating (yes), sends from it (no), reads acme-payroll
    (yes); the subject, the action and the context are the top level's defaults."""
    ids = {name: str(dw.world.account_id(name)) for name in ("acme-operating", "acme-payroll")}
    body: dict[str, Any] = {
        "subject": {"type": "user", "id": "acme-bookkeeper"},
        "action": {"name": "account.read"},
        "context": {"amount": 100, "to_account": ids["acme-payroll"]},
        "evaluations": [
            {"resource": {"type": "account", "id": ids["acme-operating"]}},
            {
                "action": {"name": "transfer.create"},
                "resource": {"type": "account", "id": ids["acme-operating"]},
            },
            {"resource": {"type": "account", "id": ids["acme-payroll"]}},
        ],
    }
    if semantic is not None:
        body["options"] = {"evaluations_semantic": semantic}
    return body


@pytest.mark.parametrize(
    ("semantic", "decisions"),
    [
        (None, [True, False, True]),
        ("execute_all", [True, False, True]),
        ("deny_on_first_deny", [True, False]),
        ("permit_on_first_permit", [True]),
    ],
)
def test_each_evaluations_semantic(client, app, dw, clock, semantic, decisions):
    headers = bearer(app, dw.world.users["acme-decisions"], clock)
    response = client.post(EVALUATIONS, json=_boxcar(dw, semantic), headers=headers)
    assert response.status_code == 200, response.text
    answers = response.json()["evaluations"]
    assert [a["decision"] for a in answers] == decisions
    if len(answers) > 1:
        assert answers[1]["context"]["reason_code"] == "missing_permission"


def test_permit_on_first_permit_goes_on_past_refusals(client, app, dw, clock):
    body = _boxcar(dw, "permit_on_first_permit")
    body["evaluations"] = body["evaluations"][1:]
    headers = bearer(app, dw.world.users["acme-decisions"], clock)
    answers = client.post(EVALUATIONS, json=body, headers=headers).json()["evaluations"]
    assert [a["decision"] for a in answers] == [False, True]


def test_a_question_mandate_cannot_answer_is_answered_closed_with_the_error(client, app, dw, clock):
    body = _boxcar(dw, None)
    body["evaluations"].insert(
        1,
        {
            "action": {"name": "account.launder"},
            "resource": {"type": "account", "id": "1"},
        },
    )
    body["evaluations"].append({"resource": {"type": "spaceship", "id": "1"}})
    headers = bearer(app, dw.world.users["acme-decisions"], clock)
    answers = client.post(EVALUATIONS, json=body, headers=headers).json()["evaluations"]
    assert [a["decision"] for a in answers] == [True, False, False, True, False]
    assert answers[1]["context"]["reason_code"] == "unknown_action"
    assert answers[1]["context"]["error"]["status"] == 422
    assert answers[4]["context"]["reason_code"] == "invalid_request"
    # The same question alone is the request's mistake: 422.
    alone = {**body["evaluations"][1], "subject": body["subject"]}
    response = client.post(EVALUATION, json=alone, headers=headers)
    assert response.status_code == 422 and response.json()["error"] == "unknown_action"


def test_without_evaluations_the_top_level_is_the_one_question(client, app, dw, clock):
    body = _boxcar(dw, None)
    body["resource"] = body.pop("evaluations")[0]["resource"]
    headers = bearer(app, dw.world.users["acme-decisions"], clock)
    response = client.post(EVALUATIONS, json=body, headers=headers)
    assert response.json() == {"evaluations": [{"decision": True}]}


def test_a_question_without_a_subject_anywhere_is_refused_whole(client, app, dw, clock):
    body = _boxcar(dw, None)
    del body["subject"]
    headers = bearer(app, dw.world.users["acme-decisions"], clock)
    response = client.post(EVALUATIONS, json=body, headers=headers)
    assert response.status_code == 422 and "no subject" in response.json()["detail"]


def test_a_boxcar_is_bounded(client, app, dw, clock):
    from core.authzen.schemas import MAX_EVALUATIONS

    body = _boxcar(dw, None)
    one = body["evaluations"][0]
    headers = bearer(app, dw.world.users["acme-decisions"], clock)
    body["evaluations"] = [one] * MAX_EVALUATIONS
    assert client.post(EVALUATIONS, json=body, headers=headers).status_code == 200
    body["evaluations"] = [one] * (MAX_EVALUATIONS + 1)
    too_many = client.post(EVALUATIONS, json=body, headers=headers)
    assert too_many.status_code == 422, too_many.text
    huge = {**body, "context": {"note": "x" * 70_000}}
    assert client.post(EVALUATIONS, json=huge, headers=headers).status_code == 413


def test_a_time_without_an_offset_is_refused(client, app, dw, clock):
    body = Ask(
        "acme-payer", "account.read", "account", "acme-operating", {"at": "2026-11-25T10:00:00"}
    ).body(dw)
    headers = bearer(app, dw.world.users["acme-decisions"], clock)
    response = client.post(EVALUATION, json=body, headers=headers)
    assert response.status_code == 422 and response.json()["error"] == "naive_datetime", (
        response.text
    )


# -- who may ask, and what they learn ---------------------------------------------------------


@pytest.mark.parametrize("caller", ["acme-bookkeeper", "acme-admin", "manager", "compliance"])
def test_only_a_holder_of_decision_evaluate_may_ask(client, app, dw, clock, caller):
    headers = bearer(app, dw.world.users[caller], clock)
    body = Ask("acme-payer", "account.read", "account", "acme-operating").body(dw)
    for path, sent in (
        (EVALUATION, body),
        (EVALUATIONS, body),
        ("/access/v1/search/resource", {**body, "resource": {"type": "account"}}),
        ("/access/v1/search/subject", {**body, "subject": {"type": "user"}}),
    ):
        response = client.post(path, json=sent, headers=headers)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"] == "missing_permission"
    assert client.post(EVALUATION, json=body).status_code == 401


def _same_but_the_name(one: dict[str, Any], other: dict[str, Any], a: str, b: str) -> None:
    assert one["decision"] is other["decision"] is False
    assert one["context"]["reason_code"] == other["context"]["reason_code"] == "not_found"
    assert one["context"]["reason"].replace(a, "#") == other["context"]["reason"].replace(b, "#")


def test_another_companys_person_or_resource_is_as_absent_as_none(client, app, dw, clock):
    """Acme's decision service asks about Globex's payer, account, payment and payee: every
    answer is a refusal indistinguishable from one about something that does not exist."""
    from tests.payments_world import with_pending_payment  # noqa: F401 (the world has one)

    world = dw.world
    headers = bearer(app, world.users["acme-decisions"], clock)

    def answer(subject: str, kind: str, rid: str, action: str = "account.read") -> dict[str, Any]:
        body = {
            "subject": {"type": "user", "id": subject},
            "action": {"name": action},
            "resource": {"type": kind, "id": rid},
        }
        response = client.post(EVALUATION, json=body, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    operating = str(world.account_id("acme-operating"))
    _same_but_the_name(
        answer("globex-payer", "account", operating),
        answer("nobody", "account", operating),
        "globex-payer",
        "nobody",
    )
    _same_but_the_name(
        answer("manager", "account", operating),
        answer("nobody", "account", operating),
        "manager",
        "nobody",
    )
    globex = str(world.account_id("globex-main"))
    _same_but_the_name(
        answer("acme-payer", "account", globex),
        answer("acme-payer", "account", "999999"),
        globex,
        "999999",
    )
    _same_but_the_name(
        answer("acme-payer", "account", "not-a-number"),
        answer("acme-payer", "account", "0"),
        "not-a-number",
        "0",
    )
    globex_payee = str(world.beneficiary_id("globex-supplier"))
    _same_but_the_name(
        answer("acme-admin", "beneficiary", globex_payee, "beneficiary.read"),
        answer("acme-admin", "beneficiary", "999999", "beneficiary.read"),
        globex_payee,
        "999999",
    )
    clearing = str(world.clearing["EUR"].id)
    _same_but_the_name(
        answer("acme-payer", "account", clearing),
        answer("acme-payer", "account", "999999"),
        clearing,
        "999999",
    )
    # Globex's own service, about Acme's pending payment.
    other = bearer(app, world.users["globex-decisions"], clock)
    body = Ask("globex-admin", "payment.cancel", "payment", "pending").body(dw)
    refused = client.post(EVALUATION, json=body, headers=other).json()
    body["resource"]["id"] = "999999"
    missing = client.post(EVALUATION, json=body, headers=other).json()
    _same_but_the_name(refused, missing, str(dw.pending_payment_id), "999999")


def test_a_deactivated_person_may_do_nothing_and_answers_as_none(client, app, db, dw, clock):
    with db.unit_of_work() as session:
        user = session.get(User, dw.world.user_id("acme-payer"))
        assert user is not None
        user.is_active = False
    headers = bearer(app, dw.world.users["acme-decisions"], clock)
    body = Ask("acme-payer", "account.read", "account", "acme-operating").body(dw)
    gone = client.post(EVALUATION, json=body, headers=headers).json()
    body["subject"]["id"] = "nobody"
    _same_but_the_name(
        gone, client.post(EVALUATION, json=body, headers=headers).json(), "acme-payer", "nobody"
    )


def test_each_question_is_logged_with_the_person_as_actor_and_the_service_beside(
    client, app, db, dw, clock
):
    world = dw.world
    headers = bearer(app, world.users["acme-decisions"], clock)
    for question in (
        Ask("acme-approver-small", "payment.approve", "payment", "pending"),
        Ask("acme-bookkeeper", "account.read", "account", "acme-operating"),
        Ask("acme-payer", "account.read", "account", "acme-operating"),
    ):
        assert client.post(EVALUATION, json=question.body(dw), headers=headers).status_code == 200
    with db.unit_of_work() as session:
        logged = list(
            session.scalars(
                select(DecisionRecord).where(DecisionRecord.asked_by_id.is_not(None))  # type: ignore[union-attr]
            )
        )
        rows = sorted((r.actor_id, r.action, r.decision, r.reason, r.asked_by_id) for r in logged)
    asker = world.user_id("acme-decisions")
    assert rows == sorted(
        [
            (
                world.user_id("acme-approver-small"),
                "payment.approve",
                "deny",
                "approval_limit_exceeded",
                asker,
            ),
            (world.user_id("acme-bookkeeper"), "account.read", "allow", "ok", asker),
            (world.user_id("acme-payer"), "account.read", "allow", "ok", asker),
        ]
    )
    officer = bearer(app, world.users["compliance"], clock)
    listed = client.get(
        "/v1/decisions", params={"actor": world.user_id("acme-approver-small")}, headers=officer
    ).json()["items"]
    assert [d["asked_by_id"] for d in listed] == [asker]


# -- the request's id, and where to find the endpoints ----------------------------------------


def test_the_request_id_is_echoed_on_every_answer(client, app, dw, clock):
    headers = bearer(app, dw.world.users["acme-decisions"], clock)
    body = Ask("acme-payer", "account.read", "account", "acme-operating").body(dw)
    sent = "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"
    answered = client.post(EVALUATION, json=body, headers={**headers, "X-Request-ID": sent})
    assert answered.headers["X-Request-ID"] == sent
    refused = client.post(EVALUATION, json=body, headers={"X-Request-ID": sent})
    assert refused.status_code == 401 and refused.headers["X-Request-ID"] == sent
    ours = client.get("/healthz").headers["X-Request-ID"]
    assert len(ours) == 32 and ours != sent
    odd = client.get("/healthz", headers={"X-Request-ID": "a b<c>"}).headers["X-Request-ID"]
    assert odd != "a b<c>" and len(odd) == 32


def test_the_configuration_names_each_endpoint_on_the_public_url(settings, db, clock):
    from fastapi.testclient import TestClient

    from api.app import create_app

    public = settings.model_copy(update={"public_url": "https://mandate.example.com"})
    with TestClient(create_app(public, database=db, clock=clock)) as client:
        metadata = client.get(
            "/.well-known/authzen-configuration", headers={"Host": "evil.example"}
        ).json()
    assert metadata == {
        "policy_decision_point": "https://mandate.example.com",
        "access_evaluation_endpoint": "https://mandate.example.com/access/v1/evaluation",
        "access_evaluations_endpoint": "https://mandate.example.com/access/v1/evaluations",
        "search_subject_endpoint": "https://mandate.example.com/access/v1/search/subject",
        "search_resource_endpoint": "https://mandate.example.com/access/v1/search/resource",
    }


# -- searches ---------------------------------------------------------------------------------

SEARCH_RESOURCE = "/access/v1/search/resource"
SEARCH_SUBJECT = "/access/v1/search/subject"
LISTS = {
    ("account", "account.read"): "/v1/accounts",
    ("payment", "account.read"): "/v1/payments",
    ("beneficiary", "beneficiary.read"): "/v1/beneficiaries",
}


def _search_pages(client, headers, body: dict[str, Any], path: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    pages, token = [], None
    while True:
        sent = {**body, "page": {"limit": 1, **({"token": token} if token else {})}}
        response = client.post(path, json=sent, headers=headers)
        assert response.status_code == 200, response.text
        found = response.json()
        pages.append([r["id"] for r in found["results"]])
        assert found["page"]["count"] == len(found["results"])
        token = found["page"]["next_token"]
        if not token:
            return pages


def _list_pages(client, headers, path: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    pages, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        listed = client.get(path, params=params, headers=headers)
        assert listed.status_code == 200, listed.text
        pages.append([str(item["id"]) for item in listed.json()["items"]])
        cursor = listed.json()["next_cursor"]
        if not cursor:
            return pages


@pytest.mark.parametrize(
    "person",
    ["acme-bookkeeper", "acme-payer", "acme-admin", "manager", "compliance", "acme-payer-later"],
)
def test_a_resource_search_is_the_persons_own_list_page_by_page(client, app, dw, clock, person):
    """What the search finds for a person is what the API lists to that person, in the same
    order and pages; and each found resource, asked about, is allowed."""
    world = dw.world
    service = bearer(app, world.users["bank-decisions"], clock)
    own = bearer(app, world.users[person], clock)
    for (kind, action), path in LISTS.items():
        body = {
            "subject": {"type": "user", "id": person},
            "action": {"name": action},
            "resource": {"type": kind},
        }
        searched = _search_pages(client, service, body, SEARCH_RESOURCE)
        assert searched == _list_pages(client, own, path), (person, kind)
        for rid in [rid for page in searched for rid in page]:
            asked = client.post(
                EVALUATION, json={**body, "resource": {"type": kind, "id": rid}}, headers=service
            )
            assert asked.json() == {"decision": True}, (person, kind, rid)


def test_a_statement_search_finds_exactly_the_accounts_whose_statement_is_readable(
    client, app, dw, clock
):
    world = dw.world
    service = bearer(app, world.users["bank-decisions"], clock)
    for person in ("acme-bookkeeper", "acme-admin", "compliance", "acme-decisions"):
        body = {
            "subject": {"type": "user", "id": person},
            "action": {"name": "statement.read"},
            "resource": {"type": "account"},
        }
        found = {
            rid for page in _search_pages(client, service, body, SEARCH_RESOURCE) for rid in page
        }
        every = client.get(
            "/v1/accounts",
            params={"limit": 200},
            headers=bearer(app, world.users["manager"], clock),
        )
        readable = set()
        for account in every.json()["items"]:
            asked = client.post(
                EVALUATION,
                json={**body, "resource": {"type": "account", "id": str(account["id"])}},
                headers=service,
            )
            if asked.json()["decision"]:
                readable.add(str(account["id"]))
        assert found == readable, person


def test_a_subject_search_finds_exactly_who_an_evaluation_allows(client, app, dw, clock):
    world = dw.world
    for asker in ("acme-decisions", "bank-decisions"):
        headers = bearer(app, world.users[asker], clock)
        for question in (
            Ask("-", "payment.approve", "payment", "pending"),
            Ask("-", "account.read", "account", "acme-operating"),
            Ask(
                "-",
                "transfer.create",
                "account",
                "acme-operating",
                {"amount": 1_000_00, "to_account": str(world.account_id("acme-payroll"))},
            ),
            Ask("-", "beneficiary.manage", "beneficiary", "supplier"),
        ):
            body = question.body(dw)
            body["subject"] = {"type": "user"}
            pages = _search_pages(client, headers, body, SEARCH_SUBJECT)
            found = [name for page in pages for name in page]
            allowed = []
            for name in sorted(world.users, key=world.user_id):
                body_of = {**question.body(dw), "subject": {"type": "user", "id": name}}
                if client.post(EVALUATION, json=body_of, headers=headers).json()["decision"]:
                    allowed.append(name)
            assert found == allowed and found, (asker, question)
    approvers = client.post(
        SEARCH_SUBJECT,
        json={
            "subject": {"type": "user"},
            "action": {"name": "payment.approve"},
            "resource": {"type": "payment", "id": str(dw.pending_payment_id)},
        },
        headers=bearer(app, world.users["acme-decisions"], clock),
    ).json()["results"]
    assert {a["id"] for a in approvers} == {
        "acme-approver-a",
        "acme-approver-b",
        "acme-approver-b2",
    }


def test_searches_about_another_company_find_nothing_as_about_nobody(client, app, dw, clock):
    world = dw.world
    headers = bearer(app, world.users["acme-decisions"], clock)
    empty = {"results": [], "page": {"next_token": "", "count": 0}}
    for subject in ("globex-payer", "nobody", "manager"):
        body = {
            "subject": {"type": "user", "id": subject},
            "action": {"name": "account.read"},
            "resource": {"type": "account"},
        }
        assert client.post(SEARCH_RESOURCE, json=body, headers=headers).json() == empty
    for rid in (str(world.account_id("globex-main")), "999999"):
        body = {
            "subject": {"type": "user"},
            "action": {"name": "account.read"},
            "resource": {"type": "account", "id": rid},
        }
        assert client.post(SEARCH_SUBJECT, json=body, headers=headers).json() == empty
    # Globex's service never learns Acme's people.
    other = bearer(app, world.users["globex-decisions"], clock)
    body = {
        "subject": {"type": "user"},
        "action": {"name": "account.read"},
        "resource": {"type": "account", "id": str(world.account_id("globex-main"))},
    }
    found = client.post(SEARCH_SUBJECT, json=body, headers=other).json()["results"]
    assert found and all(r["id"].startswith("globex-") for r in found)


def test_a_search_refuses_what_it_cannot_list_and_tokens_not_its_own(client, app, dw, clock):
    headers = bearer(app, dw.world.users["acme-decisions"], clock)
    body = {
        "subject": {"type": "user", "id": "acme-payer"},
        "action": {"name": "transfer.create"},
        "resource": {"type": "account"},
    }
    response = client.post(SEARCH_RESOURCE, json=body, headers=headers)
    assert response.status_code == 422 and response.json()["error"] == "unknown_action"
    body["action"]["name"] = "account.read"
    for subject in ("acme-payer", "globex-payer"):
        body["subject"]["id"] = subject
        forged = client.post(
            SEARCH_RESOURCE, json={**body, "page": {"token": "forged"}}, headers=headers
        )
        assert forged.status_code == 422 and forged.json()["error"] == "invalid_cursor"
