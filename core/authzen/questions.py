"""Questions as AuthZEN asks them, made into Mandate's: pure, no database.

A boxcar's questions take what they leave out from its top level; the three evaluations
semantics say which of them are answered; an answer is a decision and, when it refuses, the
policy's reason code and sentence."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.authzen.schemas import (
    AccessDecision,
    Action,
    Context,
    DecisionContext,
    DecisionError,
    EvaluationItem,
    EvaluationRequest,
    EvaluationsRequest,
    Resource,
    Semantic,
    Subject,
)
from core.errors import InvalidRequest
from core.policy.reasons import Reason

# Which actions a question about each kind of resource may name: what the API itself asks
# of the policy about such a resource (an account's reads and money moves; a payment's
# approval, rejection, cancellation and reading; a beneficiary's reading, changes and
# approval). Which of them a person may take is the policy's, never this table's.
RESOURCE_ACTIONS: dict[str, frozenset[str]] = {
    "account": frozenset(
        {
            "account.read",
            "statement.read",
            "transfer.create",
            "payment.create",
            "deposit.create",
            "withdrawal.create",
            "account.manage",
        }
    ),
    "payment": frozenset({"payment.approve", "payment.reject", "payment.cancel", "account.read"}),
    "beneficiary": frozenset({"beneficiary.read", "beneficiary.manage", "beneficiary.approve"}),
}
# A person is a "user", an API client (a machine of the company or the bank) a "client": each
# found only among its own kind (core.models.iam.User.kind).
SUBJECT_KINDS = {"user": "person", "client": "client"}
SUBJECT_TYPES = frozenset(SUBJECT_KINDS)


@dataclass(frozen=True)
class Question:
    """One question: may `subject` do `action` to `resource`, in `context`?"""

    subject: Subject
    action: Action
    resource: Resource
    context: Context

    @classmethod
    def of(cls, request: EvaluationRequest) -> Question:
        return cls(request.subject, request.action, request.resource, request.context or Context())


class Unanswerable(InvalidRequest):
    """A question Mandate cannot answer as asked: not a refusal, a mistake in the question
    (alone, the request's: 422; in a boxcar, that question's, answered closed)."""


def questions_of(request: EvaluationsRequest) -> list[Question]:
    """The boxcar's questions, each completed from the top level (what a question names
    overrides the default whole: its own context replaces the top-level one). Without
    `evaluations`, the top level is the one question. A question left without a subject, an
    action or a resource is a mistake in the whole request (422)."""
    items: list[EvaluationItem | None] = [*request.evaluations] if request.evaluations else [None]
    questions = []
    for index, item in enumerate(items):
        subject = (item.subject if item else None) or request.subject
        action = (item.action if item else None) or request.action
        resource = (item.resource if item else None) or request.resource
        context = (item.context if item else None) or request.context or Context()
        missing = [
            name
            for name, value in (("subject", subject), ("action", action), ("resource", resource))
            if value is None
        ]
        if missing or subject is None or action is None or resource is None:
            where = f"evaluation {index}" if request.evaluations else "the request"
            raise InvalidRequest(
                f"{where} has no {' and no '.join(missing)}, and the request gives no default",
                code="invalid_request",
            )
        questions.append(Question(subject, action, resource, context))
    return questions


def answered(
    questions: Iterable[Question],
    semantic: Semantic,
    decide: Callable[[Question], AccessDecision],
) -> list[AccessDecision]:
    """The answers, in the questions' order: all of them (execute_all); up to and including
    the first refusal (deny_on_first_deny: `&&`); up to and including the first permit
    (permit_on_first_permit: `||`). A question not answered is not decided, nor logged."""
    answers = []
    for question in questions:
        answer = decide(question)
        answers.append(answer)
        if semantic == "deny_on_first_deny" and not answer.decision:
            break
        if semantic == "permit_on_first_permit" and answer.decision:
            break
    return answers


def check_kinds(question: Question) -> None:
    """The subject's and resource's types, and the action for that resource: Unanswerable
    otherwise (an action outside the vocabulary is `unknown_action`, as the API names it)."""
    if question.subject.type not in SUBJECT_TYPES:
        raise Unanswerable(
            f"subjects are of type {', '.join(sorted(SUBJECT_TYPES))}, "
            f"not {question.subject.type!r}",
            code="invalid_request",
        )
    actions = RESOURCE_ACTIONS.get(question.resource.type)
    if actions is None:
        raise Unanswerable(
            f"resources are of type {', '.join(sorted(RESOURCE_ACTIONS))}, "
            f"not {question.resource.type!r}",
            code="invalid_request",
        )
    if question.action.name not in actions:
        raise Unanswerable(
            f"{question.action.name!r} is not asked about a {question.resource.type}: "
            f"one of {', '.join(sorted(actions))}",
            code="unknown_action",
        )


def allowed() -> AccessDecision:
    return AccessDecision(decision=True)


def refused(reason: str, sentence: str, *, max_age: int | None = None) -> AccessDecision:
    """A refusal: the policy's reason code and the sentence a person reads; for a step-up,
    within how many seconds and with which method the subject must authenticate again."""
    step_up = reason == Reason.step_up_required
    return AccessDecision(
        decision=False,
        context=DecisionContext(
            reason_code=reason,
            reason=sentence,
            max_age=max_age if step_up else None,
            amr_values="otp" if step_up else None,
        ),
    )


def not_found(kind: str, identifier: str) -> AccessDecision:
    """Out of reach: a subject or resource of another company (or bank), or none at all, in
    the same words (nothing tells them apart)."""
    return refused(Reason.not_found, f"{kind} {identifier} not found")


def unanswerable(mistake: Unanswerable) -> AccessDecision:
    """A question of a boxcar Mandate cannot answer: closed, with the error, as the
    specification shows an error in one evaluation."""
    return AccessDecision(
        decision=False,
        context=DecisionContext(
            reason_code=mistake.code,
            reason=mistake.detail,
            error=DecisionError(status=mistake.status, message=mistake.detail),
        ),
    )
