"""Decisions for other services (AuthZEN 1.0, /access/v1): every answer is Mandate's own
decision. The same questions go through /access/v1/evaluation, through the explain API and
through the seam itself (core.policy.service.check, the resource shaped here as the API's
guards shape it), for every built-in role and every refusal a question about an account, a
payment or a beneficiary can meet; and the answers agree."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.models.payments import Beneficiary
from tests.authzen_questions import EVALUATION, Ask, ask, questions, seam_answer
from tests.authzen_world import BIG_PAYMENT
from tests.factories import bearer
from tests.second_factor_world import with_step_up


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


def test_an_api_client_is_a_subject_of_its_own_type(client, app, db, clock, dw):
    """A machine is asked about as {"type": "client", "id": <client_id>}: decided on its own
    grants, found only among clients (a person's username is no client, a client's id no
    user), and a subject search for clients finds clients alone."""
    from sqlalchemy import select

    from core.models.iam import User
    from tests.oauth_world import with_api_client

    principal_id = with_api_client(db, dw.world, clock)
    with db.unit_of_work(write=False) as session:
        client_id = session.scalars(select(User.username).where(User.id == principal_id)).one()
    headers = bearer(app, dw.world.users["acme-decisions"], clock)
    account = {"type": "account", "id": str(dw.world.account_id("acme-operating"))}

    def evaluate(subject: dict[str, str]) -> dict[str, Any]:
        body = {"subject": subject, "action": {"name": "account.read"}, "resource": account}
        response = client.post(EVALUATION, json=body, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    # No grant yet: refused for want of one, not for want of the client.
    refused = evaluate({"type": "client", "id": client_id})
    assert refused["decision"] is False
    assert refused["context"]["reason_code"] == "missing_permission", refused
    for wrong_kind in ({"type": "user", "id": client_id}, {"type": "client", "id": "acme-payer"}):
        absent = evaluate(wrong_kind)
        assert absent["decision"] is False and absent["context"]["reason_code"] == "not_found"
    assert evaluate({"type": "user", "id": "acme-payer"})["decision"] is True

    search = {
        "subject": {"type": "client"},
        "action": {"name": "account.read"},
        "resource": account,
    }
    found = client.post("/access/v1/search/subject", json=search, headers=headers)
    assert found.status_code == 200, found.text
    assert found.json()["results"] == []
    people = client.post(
        "/access/v1/search/subject", json={**search, "subject": {"type": "user"}}, headers=headers
    )
    assert {r["type"] for r in people.json()["results"]} == {"user"}
    assert client_id not in {r["id"] for r in people.json()["results"]}
