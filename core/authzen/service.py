"""Decisions for other services: the AuthZEN 1.0 evaluation endpoints over Mandate's policy.

Every answer is the decision the API itself would make: the question's person, action and
resource are shaped as the API's guards shape them (core.authzen.targets) and decided by the
one seam every route goes through (core.policy.service.check), under the resource's tenant's
policy, and logged like any decision of the API: the person asked about is the decision's
actor, the service that asked is kept beside them (asked_by_id).

Who may ask: a holder of decision.evaluate (the built-in role decision_service, a company's
or the bank's), about people and resources within its reach (a company's service, its
company's; the bank's, the bank's and its customers'). Anything beyond is not found, in the
same words as what does not exist."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy.orm import Session

from core.authzen.questions import (
    Question,
    Unanswerable,
    allowed,
    answered,
    check_kinds,
    not_found,
    questions_of,
    refused,
    unanswerable,
)
from core.authzen.schemas import (
    AccessDecision,
    Configuration,
    EvaluationRequest,
    EvaluationsRequest,
    EvaluationsResponse,
)
from core.authzen.targets import OutOfReach, instant, preload_accounts, subject_of, target_of
from core.context import Actor, RequestContext
from core.policy import engine as policy_engine
from core.policy.facts import Resource
from core.policy.reasons import Reason, status_of
from core.policy.service import authorize, check

PERMISSION = "decision.evaluate"


def asker_of(session: Session, ctx: RequestContext) -> Actor:
    """The service asking, once the policy lets it ask (decision.evaluate over its own
    company, or for the bank's staff over the bank): 403 otherwise."""
    asker = ctx.require_actor()
    home = (
        Resource.of_bank(asker.bank_id)
        if asker.tenant_id is None
        else Resource.of_tenant(asker.tenant_id, asker.bank_id)
    )
    authorize(session, ctx, PERMISSION, home)
    return asker


class Deciding:
    """The questions of one request, decided through the seam. Questions about another
    instant than now gather their facts apart (what was approved on that day is not today's)
    and are decided as at that instant; all of them go into the request's decision log."""

    def __init__(self, session: Session, ctx: RequestContext, asker: Actor, *, record: bool):
        self.session = session
        self.ctx = ctx
        self.asker = asker
        self.record = record
        self._at: dict[dt.datetime, RequestContext] = {}

    def context_at(self, when: dt.datetime) -> RequestContext:
        if when == self.ctx.now():
            return self.ctx
        if when not in self._at:
            self._at[when] = dataclasses.replace(
                self.ctx, policy_memo={}, policy_queries=0, _now=self.ctx.now()
            )
        return self._at[when]

    def finish(self) -> None:
        """Count every decision asked in the request's own context (a test holds every route
        to asking)."""
        self.ctx.policy_queries += sum(c.policy_queries for c in self._at.values())
        self._at.clear()

    def decide(self, question: Question) -> AccessDecision:
        """The answer to one question: allowed, refused with the policy's reason, not found
        for what is out of reach; Unanswerable for a mistake in the question."""
        check_kinds(question)
        try:
            memo = self.ctx.policy_memo
            subject = subject_of(self.session, self.asker, question, memo)
            engine = policy_engine.current()
            target = target_of(self.session, engine, self.asker, subject, question, memo)
        except OutOfReach as out:
            return not_found(out.kind, out.identifier)
        when = instant(question, self.ctx.now())
        verdict = check(
            self.session,
            self.context_at(when),
            question.action.name,
            target.resource,
            actor=subject,
            money=target.money,
            approval=target.approval,
            record=self.record,
            log_allowed=True,
            at=when,
            asked_by=self.asker.user_id,
        )
        if verdict.allowed:
            return allowed()
        reason = verdict.decision.reason
        if reason == Reason.not_found:
            # As a resource out of the asker's reach is answered: in the same words.
            return not_found(question.resource.type, question.resource.id)
        max_age = (
            int(dict(verdict.decision.detail).get("max_age", 0))
            if status_of(reason) == 401
            else None
        )
        return refused(reason, verdict.message, max_age=max_age)

    def answer(self, question: Question) -> AccessDecision:
        """As decide, a mistake in the question answered closed, with the error."""
        try:
            return self.decide(question)
        except Unanswerable as mistake:
            return unanswerable(mistake)


def evaluate(session: Session, ctx: RequestContext, request: EvaluationRequest) -> AccessDecision:
    """POST /access/v1/evaluation: one question. A mistake in it (an unknown action, a money
    move without an amount) is the request's: 422 with its code."""
    deciding = Deciding(session, ctx, asker_of(session, ctx), record=True)
    try:
        return deciding.decide(Question.of(request))
    finally:
        deciding.finish()


def evaluations(
    session: Session, ctx: RequestContext, request: EvaluationsRequest
) -> EvaluationsResponse:
    """POST /access/v1/evaluations: a boxcar of questions, answered in order under the
    request's evaluations_semantic; a mistake in one question answers that one closed."""
    asker = asker_of(session, ctx)
    deciding = Deciding(session, ctx, asker, record=True)
    semantic = request.options.evaluations_semantic if request.options else "execute_all"
    questions = questions_of(request)
    preload_accounts(session, asker, questions, ctx.policy_memo)
    try:
        return EvaluationsResponse(evaluations=answered(questions, semantic, deciding.answer))
    finally:
        deciding.finish()


def configuration(base_url: str) -> Configuration:
    """GET /.well-known/authzen-configuration: where each endpoint is, on `base_url` (the
    MANDATE_PUBLIC_URL setting, never a Host header a client chose)."""
    base = base_url.rstrip("/")
    return Configuration(
        policy_decision_point=base,
        access_evaluation_endpoint=f"{base}/access/v1/evaluation",
        access_evaluations_endpoint=f"{base}/access/v1/evaluations",
        search_subject_endpoint=f"{base}/access/v1/search/subject",
        search_resource_endpoint=f"{base}/access/v1/search/resource",
    )
