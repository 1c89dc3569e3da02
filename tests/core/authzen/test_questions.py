"""The pure half of core.authzen: a boxcar's defaults, the three evaluations semantics, which
questions Mandate can answer, and the shapes of answers. No database."""

from __future__ import annotations

import pytest

from core.authzen.questions import (
    Question,
    Unanswerable,
    answered,
    check_kinds,
    not_found,
    questions_of,
    refused,
    unanswerable,
)
from core.authzen.schemas import (
    AccessDecision,
    Action,
    Context,
    EvaluationItem,
    EvaluationsRequest,
    Resource,
    Subject,
)
from core.errors import InvalidRequest

ALICE = Subject(type="user", id="alice")
BOB = Subject(type="user", id="bob")
READ = Action(name="account.read")


def account(n: int) -> Resource:
    return Resource(type="account", id=str(n))


def test_the_top_level_gives_each_question_what_it_leaves_out() -> None:
    request = EvaluationsRequest(
        subject=ALICE,
        action=READ,
        context=Context(amount=5),
        evaluations=[
            EvaluationItem(resource=account(1)),
            EvaluationItem(subject=BOB, resource=account(2), context=Context(amount=7)),
        ],
    )
    first, second = questions_of(request)
    assert (first.subject, first.action, first.resource, first.context.amount) == (
        ALICE,
        READ,
        account(1),
        5,
    )
    # What a question names overrides the default whole (its context replaces the top one's).
    assert (second.subject, second.context.amount) == (BOB, 7)


def test_without_evaluations_the_request_is_one_question() -> None:
    for evaluations in (None, []):
        request = EvaluationsRequest(
            subject=ALICE, action=READ, resource=account(3), evaluations=evaluations
        )
        assert [q.resource for q in questions_of(request)] == [account(3)]


def test_a_question_left_without_a_resource_is_the_requests_mistake() -> None:
    request = EvaluationsRequest(subject=ALICE, action=READ, evaluations=[EvaluationItem()])
    with pytest.raises(InvalidRequest, match="evaluation 0 has no resource"):
        questions_of(request)


def _decide_by_id(question: Question) -> AccessDecision:
    return AccessDecision(decision=int(question.resource.id) % 2 == 1)


@pytest.mark.parametrize(
    ("semantic", "ids", "decided"),
    [
        ("execute_all", [1, 2, 3], [True, False, True]),
        ("deny_on_first_deny", [1, 2, 3], [True, False]),
        ("deny_on_first_deny", [1, 3], [True, True]),
        ("permit_on_first_permit", [2, 1, 3], [False, True]),
        ("permit_on_first_permit", [2, 4], [False, False]),
    ],
)
def test_the_semantics_say_which_questions_are_answered(
    semantic: str, ids: list[int], decided: list[bool]
) -> None:
    asked: list[str] = []

    def decide(question: Question) -> AccessDecision:
        asked.append(question.resource.id)
        return _decide_by_id(question)

    questions = [Question(ALICE, READ, account(n), Context()) for n in ids]
    answers = answered(questions, semantic, decide)  # type: ignore[arg-type]
    assert [a.decision for a in answers] == decided
    # A question after the short circuit is not even decided (nor logged).
    assert asked == [str(n) for n in ids[: len(decided)]]


@pytest.mark.parametrize(
    ("subject", "action", "kind", "code"),
    [
        ("group", "account.read", "account", "invalid_request"),
        ("user", "account.read", "tenant", "invalid_request"),
        ("user", "payment.approve", "account", "unknown_action"),
        ("user", "transfer.create", "payment", "unknown_action"),
        ("user", "account.launder", "account", "unknown_action"),
    ],
)
def test_questions_mandate_cannot_answer(subject: str, action: str, kind: str, code: str) -> None:
    question = Question(
        Subject(type=subject, id="x"), Action(name=action), Resource(type=kind, id="1"), Context()
    )
    with pytest.raises(Unanswerable) as raised:
        check_kinds(question)
    assert raised.value.code == code
    closed = unanswerable(raised.value)
    assert closed.decision is False and closed.context is not None
    assert closed.context.error is not None and closed.context.error.status == 422


def test_the_answers_shapes() -> None:
    assert not_found("account", "7").model_dump(exclude_none=True) == {
        "decision": False,
        "context": {"reason_code": "not_found", "reason": "account 7 not found"},
    }
    step_up = refused("step_up_required", "Give a code.", max_age=300)
    assert step_up.context is not None
    assert (step_up.context.max_age, step_up.context.amr_values) == (300, "otp")
    other = refused("limit_daily", "Over.", max_age=300)
    assert other.context is not None and other.context.max_age is None
