"""Decisions for other services: the OpenID AuthZEN Authorization API 1.0 (a Policy Decision
Point over Mandate's own policy, core.authzen). A refusal is a 200 with `decision: false`;
an HTTP error is about the request itself (no token, no decision.evaluate, a malformed
body)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import ApiUnit
from api.errors import POLICY_REFUSALS, error_responses
from core.authzen import search, service
from core.authzen.schemas import (
    MAX_EVALUATIONS,
    AccessDecision,
    Configuration,
    EvaluationRequest,
    EvaluationsRequest,
    EvaluationsResponse,
    ResourceSearchRequest,
    SearchResponse,
    SubjectSearchRequest,
)

router = APIRouter(tags=["decisions (AuthZEN)"])

# What asking can meet beyond the body's shape: no decision.evaluate (403), a time without
# an offset (422); and a question Mandate cannot answer as asked (422).
ASKING = (*POLICY_REFUSALS, "naive_datetime", "date_out_of_range")
QUESTION_CODES = ("unknown_action", "invalid_amount", "currency_mismatch")


@router.post(
    "/access/v1/evaluation",
    response_model=AccessDecision,
    response_model_exclude_none=True,
    summary="May this person do this? One decision, as Mandate makes it",
    description="A refusal is 200 with `decision: false` and `context.reason_code` (the "
    "policy's reason, as the API's errors name it) and `context.reason` (its sentence). A "
    "person or resource out of the caller's reach is `not_found`, like one that does not "
    "exist. Needs decision.evaluate (the role decision_service).",
    responses=error_responses(*ASKING, *QUESTION_CODES),
)
def evaluation(uow: ApiUnit, body: EvaluationRequest) -> AccessDecision:
    return uow.run(service.evaluate, body)


@router.post(
    "/access/v1/evaluations",
    response_model=EvaluationsResponse,
    response_model_exclude_none=True,
    summary=f"Several decisions at once (at most {MAX_EVALUATIONS})",
    description="The top-level subject, action, resource and context are defaults for each "
    "of `evaluations`. `options.evaluations_semantic`: execute_all (the default), "
    "deny_on_first_deny (answers up to the first refusal), permit_on_first_permit (up to "
    "the first permit). A question Mandate cannot answer as asked is answered "
    "`decision: false` with `context.error`.",
    responses=error_responses(*ASKING),
)
def evaluations(uow: ApiUnit, body: EvaluationsRequest) -> EvaluationsResponse:
    return uow.run(service.evaluations, body)


@router.post(
    "/access/v1/search/resource",
    response_model=SearchResponse,
    summary="Which accounts, payments or beneficiaries may this person read? As the API lists "
    "them to the person",
    description="account.read or statement.read on account, account.read on payment, "
    "beneficiary.read on beneficiary. `page.token`: the previous page's `next_token`; "
    "`page.limit`: the page size (50 unless given, at most 200).",
    responses=error_responses(*ASKING, "unknown_action", "invalid_cursor"),
)
def search_resource(uow: ApiUnit, body: ResourceSearchRequest) -> SearchResponse:
    return uow.run(search.search_resources, body)


@router.post(
    "/access/v1/search/subject",
    response_model=SearchResponse,
    summary="Who may do this to this resource? Each person decided as an evaluation would be",
    responses=error_responses(*ASKING, *QUESTION_CODES, "invalid_cursor"),
)
def search_subject(uow: ApiUnit, body: SubjectSearchRequest) -> SearchResponse:
    return uow.run(search.search_subjects, body)


@router.get(
    "/.well-known/authzen-configuration",
    response_model=Configuration,
    summary="Where this Policy Decision Point's endpoints are (AuthZEN metadata)",
)
def authzen_configuration(request: Request) -> Configuration:
    return service.configuration(request.app.state.services.settings.base_url)
