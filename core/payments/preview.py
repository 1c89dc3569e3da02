"""What a payment would do if sent now, asked before sending it: the same decisions as the
payment itself (core.payments.payments.create_payment), unrecorded, inside a savepoint that
is always rolled back; nothing is held or sent."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from core.context import RequestContext
from core.errors import Conflict, MandateError
from core.ledger import repository as ledger
from core.models.iam import Tenant, actor_of
from core.models.ledger import Account
from core.payments import lifecycle, repository
from core.payments.beneficiaries import is_new, payment_money, usable_beneficiary
from core.payments.schemas import (
    PaymentCreate,
    PaymentPreview,
    PossibleApprover,
    Requirement,
)
from core.payments.terms import (
    check_two_accounts,
    credit_account_id,
    expiry_of,
    kind_of,
    readable_account,
    require_subject_currency,
)
from core.policy import registry
from core.policy.facts import Approval, Resource
from core.policy.panels import (
    describe_needed,
    panel_for,
    progress,
)
from core.policy.service import check


def preview_payment(session: Session, ctx: RequestContext, body: PaymentCreate) -> PaymentPreview:
    """What `body` would do if sent now: refused (and why), posted or sent at once, or held
    for approval, with the panel and the people who could approve it. The same decisions as
    the payment itself, unrecorded; nothing is written. As the payment would, it first lets
    the account's lapsed payments go (their holds, and the limits they count), inside a
    savepoint that is always rolled back."""
    trial = session.begin_nested()
    try:
        return _preview(session, ctx, body)
    finally:
        trial.rollback()


def _preview(session: Session, ctx: RequestContext, body: PaymentCreate) -> PaymentPreview:
    actor = ctx.require_actor()
    beneficiary = usable_beneficiary(session, ctx, body.beneficiary_id)
    readable_account(
        session, ctx, ledger.account_snapshot(session, body.account_id), body.account_id
    )
    credit_id = credit_account_id(session, beneficiary, actor.bank_id, body.currency)
    check_two_accounts(body.account_id, credit_id)
    lifecycle.settle(
        session, ctx.now(), account_id=body.account_id, also_lock=[body.account_id, credit_id]
    )
    subject = ledger.account_snapshot(session, body.account_id)
    credit = ledger.account_snapshot(session, credit_id)
    assert subject is not None
    assert credit is not None and subject.id is not None and subject.tenant_id is not None
    tenant = session.get(Tenant, subject.tenant_id)
    assert tenant is not None
    verdict = check(
        session,
        ctx,
        "payment.create",
        Resource.of_account(subject),
        money=payment_money(beneficiary, credit, body.amount, body.currency),
        record=False,
    )
    kind = kind_of(beneficiary, subject, credit)
    panel = panel_for(
        repository.tiers(session, subject.bank_id, subject.tenant_id, body.currency),
        currency=body.currency,
        amount=body.amount,
        kind=kind,
        account_id=subject.id,
        new_beneficiary=is_new(beneficiary, tenant, ctx.now()),
        # The company's panel, as its own policy version says.
        engine=registry.for_tenant(tenant.id),
    )
    left = progress(panel, [])
    required = Requirement(
        approvals=panel.approvals,
        group_a=panel.group_a,
        still_needed=left.still_needed,
        still_needed_a=left.still_needed_a,
        text=describe_needed(left),
    )
    if not verdict.possible:
        return PaymentPreview(
            outcome="refused",
            required=required,
            approvers=[],
            error=verdict.decision.reason,
            detail=verdict.message,
        )
    today = lifecycle.company_today(session, subject.tenant_id, ctx.now())
    refusal = _ledger_refusal(body, subject, credit, today)
    if refusal is not None:
        return PaymentPreview(
            outcome="refused",
            required=required,
            approvers=[],
            error=refusal.code,
            detail=refusal.detail,
        )
    if panel.approvals == 0:
        later = body.execution_date is not None and body.execution_date > today
        outcome = "scheduled" if later else "sent" if kind == "external" else "posted"
        return PaymentPreview(outcome=outcome, required=required, approvers=[])
    hypothetical = Approval(
        initiator_id=actor.user_id,
        status="pending_approval",
        approver_ids=(),
        still_needed=left.still_needed,
        still_needed_a=left.still_needed_a,
        expires_at=expiry_of(ctx.now(), tenant.payment_expiry_days),
        amount=body.amount,
        currency=body.currency,
    )
    approvers = []
    for person in repository.colleagues(session, subject.tenant_id, exclude=actor.user_id):
        answer = check(
            session,
            ctx,
            "payment.approve",
            Resource.of_account(subject),
            actor=actor_of(person),
            approval=hypothetical,
            record=False,
        )
        if answer.possible:
            grant = answer.grant
            approvers.append(
                PossibleApprover(
                    user_id=person.id or 0,
                    display_name=person.display_name,
                    approval_group=grant.approval_group,
                )
            )
    return PaymentPreview(outcome="pending_approval", required=required, approvers=approvers)


def _ledger_refusal(
    body: PaymentCreate, subject: Account, credit: Account, today: dt.date
) -> MandateError | None:
    """What the payment itself would be refused for after the policy allowed it (the same
    checks, in the same order), or None."""
    try:
        require_subject_currency(subject, body.currency)
        lifecycle.require_receiving(credit, subject, body.currency)
        lifecycle.check_execution_date(body.execution_date, today)
        lifecycle.require_available(subject, body.amount, body.currency)
        if subject.status != "open":
            raise Conflict(
                f"account {subject.id} is {subject.status}", code=f"account_{subject.status}"
            )
    except MandateError as refusal:
        return refusal
    return None
