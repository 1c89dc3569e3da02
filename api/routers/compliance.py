"""Explaining decisions, and what compliance reviews: decisions, changes, the policy."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import ApiUnit
from api.errors import POLICY_REFUSALS, error_responses
from api.params import Cursor, DecisionId, Limit, TenantFilter, UserId
from core.audit import decisions as decision_log
from core.audit import service as audit
from core.audit.decisions import DecisionFilter, DecisionPublic, DecisionWithFacts
from core.audit.service import ChangePublic, PolicyPublic
from core.fields import MAX_ID, OUT_OF_RANGE, Instant
from core.money import MAX_AMOUNT
from core.pagination import Page
from core.policy.explain import AccountCapability, Explanation, capabilities, explain

router = APIRouter(prefix="/v1", tags=["compliance"])

OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# One rule for every time in the API (core.fields.Instant), as a query parameter.
AwareTime = Annotated[
    Instant,
    Query(
        description="ISO 8601 with an offset, e.g. 2026-12-02T10:00:00+01:00 or "
        "2026-12-02T09:00:00Z; a time without an offset is refused (422 naive_datetime), "
        f"and {OUT_OF_RANGE} (422 date_out_of_range)"
    ),
]


@router.get(
    "/authz/explain",
    response_model=Explanation,
    summary="Why may (or may not) a user do this? The decision, the grants, each condition",
    responses=error_responses(
        *POLICY_REFUSALS,
        "unknown_action",
        "invalid_amount",
        "naive_datetime",
        "date_out_of_range",
    ),
)
def explain_decision(
    uow: ApiUnit,
    user: Annotated[int, Query(ge=1, le=MAX_ID, description="the user asked about")],
    action: Annotated[str, Query(max_length=64, examples=["transfer.create"])],
    account: OptionalId = None,
    amount: Annotated[int | None, Query(ge=1, le=MAX_AMOUNT, description="minor units")] = None,
    at: AwareTime = None,
    to_account: OptionalId = None,
    payment: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_ID,
            description="payment.approve, payment.reject, payment.cancel: the payment asked "
            "about (its account, amount and currency are its own)",
        ),
    ] = None,
) -> Explanation:
    return uow.run(
        explain,
        user_id=user,
        action=action,
        account_id=account,
        amount=amount,
        at=at,
        to_account_id=to_account,
        payment_id=payment,
    )


@router.get(
    "/users/{user_id}/capabilities",
    response_model=list[AccountCapability],
    summary="What can this person do? Per account: actions allowed now, limits, what remains",
    responses=error_responses(
        *POLICY_REFUSALS,
    ),
)
def user_capabilities(uow: ApiUnit, user_id: UserId) -> list[AccountCapability]:
    return uow.run(capabilities, user_id)


@router.get(
    "/decisions",
    response_model=Page[DecisionPublic],
    summary="Compliance: the decision log, newest first",
    description="`action` is one of the vocabulary's actions (GET /v1/permissions lists the "
    "permissions; payment.reject, beneficiary.approve and self.read are asked too); any "
    "other is 422 unknown_action.",
    responses=error_responses("not_found", "naive_datetime", "date_out_of_range", "unknown_action"),
)
def decisions(
    uow: ApiUnit,
    actor: OptionalId = None,
    account: OptionalId = None,
    tenant_id: TenantFilter = None,
    decision: Literal["allow", "deny"] | None = None,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    payment_batch: OptionalId = None,
    since: AwareTime = None,
    until: AwareTime = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[DecisionPublic]:
    filters = DecisionFilter(
        actor_id=actor,
        account_id=account,
        tenant_id=tenant_id,
        decision=decision,
        reason=reason,
        action=action,
        payment_batch_id=payment_batch,
        since=since,
        until=until,
    )
    return uow.run(decision_log.decisions, filters, cursor=cursor, limit=limit)


@router.get(
    "/decisions/{decision_id}",
    response_model=DecisionWithFacts,
    summary="Compliance: one decision of the log, with the facts it was made on",
    description="What an impact report's sample decision ids point to. Another bank's "
    "decision is 404 not_found, as a missing one.",
    responses=error_responses("not_found"),
)
def decision(uow: ApiUnit, decision_id: DecisionId) -> DecisionWithFacts:
    return uow.run(decision_log.decision, decision_id)


@router.get(
    "/changes",
    response_model=Page[ChangePublic],
    summary="Compliance: every change to users, roles, grants and caps",
    responses=error_responses("not_found"),
)
def changes(
    uow: ApiUnit,
    tenant_id: TenantFilter = None,
    entity: Literal["user", "role", "grant", "cap", "tenant", "beneficiary", "policy_version"]
    | None = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[ChangePublic]:
    return uow.run(audit.changes, tenant_id=tenant_id, entity=entity, cursor=cursor, limit=limit)


@router.get(
    "/policy",
    response_model=PolicyPublic,
    summary="Compliance: the policy files as loaded, and their version hash",
    responses=error_responses("not_found"),
)
def policy(uow: ApiUnit) -> PolicyPublic:
    return uow.run(audit.loaded_policy)
