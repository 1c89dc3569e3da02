"""Approval rules: the tiers of a company's approval panel, and the bank's minimums every
company inherits. Corporate admins set their company's (approval_rule.manage), bank managers
the bank's (approval_minimum.manage); each change goes in the change log. A company's rules
add approvals, never remove the bank's (the panel is the most any applying tier asks:
policies/approvals.polar), so a company tier asking less than the bank already does at its
own threshold is refused as misleading, with the bank's figure. A refusal about one rule
carries its index (`rule`, from 0) and `field`, so a face can show it beside that field."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy.orm import Session

from core.audit.changes import record_change
from core.context import RequestContext
from core.errors import InvalidRequest, NotFound
from core.models.iam import Tenant
from core.models.ledger import Account
from core.models.payments import ApprovalRule
from core.money import format_amount
from core.payments import repository
from core.payments.schemas import (
    ApprovalRuleIn,
    ApprovalRulePublic,
    ApprovalRules,
    ApprovalRulesPut,
)
from core.policy.facts import Resource
from core.policy.panels import panel_for
from core.policy.service import authorize, require_readable


class _RuleSet(BaseModel):
    """One owner's rules, as the change log keeps them before and after."""

    rules: list[ApprovalRulePublic]


def rule_public(rule: ApprovalRule) -> ApprovalRulePublic:
    assert rule.id is not None
    return ApprovalRulePublic(
        id=rule.id,
        level="bank" if rule.tenant_id is None else "tenant",
        currency=rule.currency,
        min_amount=rule.min_amount,
        kind=rule.kind,
        account_id=rule.account_id,
        approvals=rule.approvals,
        group_a=rule.group_a,
        updated_at=rule.updated_at,
    )


def _tenant_resource(session: Session, ctx: RequestContext, tenant_id: int | None) -> Resource:
    """The company whose rules are asked for: the caller's own, or (bank staff) the one
    named. 404 for a tenant out of reach."""
    actor = ctx.require_actor()
    wanted = actor.tenant_id if tenant_id is None else tenant_id
    if wanted is None:
        raise InvalidRequest(
            "bank staff name the company: ?tenant_id=…, or read the bank's minimums at "
            "/v1/bank/approval-rules",
            code="invalid_request",
        )
    tenant = session.get(Tenant, wanted)
    if tenant is None or tenant.bank_id != actor.bank_id:
        raise NotFound(f"tenant {wanted} not found")
    return Resource.of_tenant(wanted, tenant.bank_id)


def get_rules(session: Session, ctx: RequestContext, tenant_id: int | None = None) -> ApprovalRules:
    """A company's approval rules, with the bank's minimums it inherits."""
    resource = _tenant_resource(session, ctx, tenant_id)
    require_readable(
        session, ctx, "approval_rule.read", resource, not_found=f"tenant {resource.id} not found"
    )
    return ApprovalRules(
        bank=[rule_public(r) for r in repository.rules_of(session, resource.bank_id, None)],
        tenant=[
            rule_public(r) for r in repository.rules_of(session, resource.bank_id, resource.id)
        ],
    )


def put_rules(
    session: Session, ctx: RequestContext, body: ApprovalRulesPut, tenant_id: int | None = None
) -> ApprovalRules:
    """Replace a company's approval rules (all of them: what is not sent is removed)."""
    ctx.audit.attempt("approval_rule.manage", target="approval rules")
    resource = _tenant_resource(session, ctx, tenant_id)
    missing = f"tenant {resource.id} not found"
    require_readable(session, ctx, "approval_rule.read", resource, not_found=missing)
    authorize(session, ctx, "approval_rule.manage", resource, not_found=missing)
    assert resource.tenant_id is not None
    repository.lock_rule_owner(session, resource.bank_id, resource.tenant_id)
    bank_rules = repository.rules_of(session, resource.bank_id, None)
    for index, rule in enumerate(body.rules):
        _check_rule(session, index, rule, resource)
        _check_against_minimums(index, rule, bank_rules)
    before = repository.rules_of(session, resource.bank_id, resource.tenant_id)
    after = _replace(session, ctx, before, body.rules, resource.bank_id, resource.tenant_id)
    record_change(
        ctx,
        "approval_rules",
        resource.tenant_id,
        "replace",
        resource.tenant_id,
        before=_RuleSet(rules=[rule_public(r) for r in before]),
        after=_RuleSet(rules=[rule_public(r) for r in after]),
    )
    ctx.audit.done(f"set {_count(len(after))} approval rules")
    return ApprovalRules(
        bank=[rule_public(r) for r in bank_rules], tenant=[rule_public(r) for r in after]
    )


def get_bank_rules(session: Session, ctx: RequestContext) -> list[ApprovalRulePublic]:
    """The bank's minimums: tiers every company of the bank inherits."""
    resource = Resource.of_bank(ctx.require_actor().bank_id)
    require_readable(session, ctx, "approval_rule.read", resource, not_found="not found")
    return [rule_public(r) for r in repository.rules_of(session, resource.bank_id, None)]


def put_bank_rules(
    session: Session, ctx: RequestContext, body: ApprovalRulesPut
) -> list[ApprovalRulePublic]:
    """Replace the bank's minimums (bank managers: approval_minimum.manage)."""
    ctx.audit.attempt("approval_minimum.manage", target="the bank's approval minimums")
    resource = Resource.of_bank(ctx.require_actor().bank_id)
    require_readable(session, ctx, "approval_rule.read", resource, not_found="not found")
    authorize(session, ctx, "approval_minimum.manage", resource)
    for index, rule in enumerate(body.rules):
        if rule.account_id is not None:
            raise InvalidRequest(
                f"rule {index + 1}: the bank's minimums apply to every account; leave "
                "account_id out",
                code="invalid_request",
                rule=index,
                field="account_id",
            )
        _check_group(index, rule)
    repository.lock_rule_owner(session, resource.bank_id, None)
    before = repository.rules_of(session, resource.bank_id, None)
    after = _replace(session, ctx, before, body.rules, resource.bank_id, None)
    record_change(
        ctx,
        "approval_rules",
        resource.bank_id,
        "replace",
        None,
        before=_RuleSet(rules=[rule_public(r) for r in before]),
        after=_RuleSet(rules=[rule_public(r) for r in after]),
    )
    ctx.audit.done(f"set {_count(len(after))} approval minimums for the bank")
    return [rule_public(r) for r in after]


def _count(n: int) -> str:
    return "no" if n == 0 else str(n)


def _check_group(index: int, rule: ApprovalRuleIn) -> None:
    if rule.group_a > rule.approvals:
        raise InvalidRequest(
            f"rule {index + 1}: {rule.group_a} approvals from group A is more than the "
            f"{rule.approvals} approvals it asks in all",
            code="invalid_request",
            rule=index,
            field="group_a",
        )


def _check_rule(session: Session, index: int, rule: ApprovalRuleIn, tenant: Resource) -> None:
    _check_group(index, rule)
    if rule.account_id is None:
        return
    account = session.get(Account, rule.account_id)
    if account is None or account.tenant_id != tenant.tenant_id:
        raise NotFound(f"account {rule.account_id} not found", rule=index, field="account_id")
    if account.currency != rule.currency:
        raise InvalidRequest(
            f"rule {index + 1}: account {account.id} is in {account.currency}, the rule in "
            f"{rule.currency}",
            code="currency_mismatch",
            rule=index,
            field="account_id",
        )


def _check_against_minimums(
    index: int, rule: ApprovalRuleIn, bank_rules: Sequence[ApprovalRule]
) -> None:
    """A company tier may not ask less than the bank's minimums already ask of a payment at
    its own threshold (of its kind, from its account): it would say something untrue."""
    kinds = ["own", "internal", "external"] if rule.kind == "any" else [rule.kind]
    for kind in kinds:
        minimum = panel_for(
            bank_rules,
            currency=rule.currency,
            amount=rule.min_amount,
            kind=kind,
            account_id=rule.account_id or 0,
            new_beneficiary=False,
        )
        if rule.approvals < minimum.approvals or rule.group_a < minimum.group_a:
            amount = format_amount(rule.min_amount, rule.currency)
            raise InvalidRequest(
                f"rule {index + 1}: the bank requires {minimum.approvals} approval"
                f"{'s' if minimum.approvals != 1 else ''}"
                + (f" ({minimum.group_a} from group A)" if minimum.group_a else "")
                + f" for {kind} payments of {amount}; a company rule can add approvals, "
                "never ask fewer",
                code="below_bank_minimum",
                rule=index,
                field="approvals" if rule.approvals < minimum.approvals else "group_a",
            )


def _replace(
    session: Session,
    ctx: RequestContext,
    before: Sequence[ApprovalRule],
    rules: Sequence[ApprovalRuleIn],
    bank_id: int,
    tenant_id: int | None,
) -> list[ApprovalRule]:
    for old in before:
        session.delete(old)
    session.flush()
    now = ctx.now()
    added = [
        ApprovalRule(
            bank_id=bank_id,
            tenant_id=tenant_id,
            currency=r.currency,
            min_amount=r.min_amount,
            kind=r.kind,
            account_id=r.account_id,
            approvals=r.approvals,
            group_a=r.group_a,
            updated_by_id=ctx.require_actor().user_id,
            updated_at=now,
        )
        for r in rules
    ]
    session.add_all(added)
    session.flush()
    return added
