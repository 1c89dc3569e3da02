"""Boxcars (POST /access/v1/evaluations and its three semantics), who may ask and what they
learn (another company's people and resources are as absent as none), the decision log,
the request's id and the metadata."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.models.audit import DecisionRecord
from core.models.iam import User
from tests.authzen_questions import EVALUATION, EVALUATIONS, Ask
from tests.authzen_world import DecisionWorld
from tests.factories import bearer

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
    # A decision is never kept by a cache between the service and Mandate.
    assert answered.headers["Cache-Control"] == "no-store"
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
