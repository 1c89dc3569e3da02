"""Beneficiaries: the payees a company pays. Adding, changing and deleting one is
beneficiary.manage; where the company's rules ask for it, a new beneficiary waits for a second
person's approval (beneficiary.approve, never by who added it: policies/decide.polar) before
anything can be paid to it. A beneficiary is internal when its IBAN is a customer account of
the same bank (any company's), external otherwise. Every change is in the change log.

Payments use `usable_beneficiary` (the payee, if it may be paid now) and `is_new` (added
less than the company's new_beneficiary_hours ago: any payment to it needs an approval)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.audit.changes import record_change
from core.context import RequestContext
from core.db import unique_or
from core.errors import Conflict, Forbidden, NotFound
from core.ledger.identifiers import check_bic_matches_iban, formatted, parse_bic, parse_iban
from core.models.iam import Tenant, User
from core.models.ledger import Account
from core.models.payments import Beneficiary
from core.pagination import Page, PageRequest, paginate
from core.payments import lifecycle, repository
from core.payments.beneficiary_schemas import (
    BeneficiaryCreate,
    BeneficiaryPublic,
    BeneficiaryStatus,
    BeneficiaryUpdate,
)
from core.payments.steps import tell_became
from core.policy.facts import Money, Resource
from core.policy.filters import readable_in_tenant, within_reach
from core.policy.service import authorize, require_readable

# -- what a beneficiary is ------------------------------------------------------------------


def new_until(beneficiary: Beneficiary, tenant: Tenant) -> dt.datetime:
    """Until when the beneficiary is new: its company's new_beneficiary_hours after it was
    added."""
    return beneficiary.created_at + dt.timedelta(hours=tenant.new_beneficiary_hours)


def is_new(beneficiary: Beneficiary, tenant: Tenant, now: dt.datetime) -> bool:
    """Whether the beneficiary was added less than the company's new_beneficiary_hours before
    `now`: then any payment to it needs an approval, whatever the amount (a payee slipped in
    by a fraudster is paid only after a second person has looked). At exactly that many hours
    it is no longer new; with 0 hours none ever is."""
    return now < new_until(beneficiary, tenant)


def payment_money(beneficiary: Beneficiary, credit: Account, amount: int, currency: str) -> Money:
    """The money side of a payment to `beneficiary` (credited to `credit`), as every way of
    paying one asks the policy: a payment, its preview and each payment of a file. The
    beneficiary's age goes with it, so that a company's rule on it holds for all three."""
    return Money(
        amount=amount,
        currency=currency,
        counterparty=credit,
        beneficiary_added_at=beneficiary.created_at,
    )


def beneficiary_public(session: Session, beneficiary: Beneficiary) -> BeneficiaryPublic:
    """The beneficiary as the API shows it. Internal or external only: never which account,
    company or person an internal IBAN belongs to."""
    assert beneficiary.id is not None
    tenant = session.get(Tenant, beneficiary.tenant_id)
    assert tenant is not None
    return BeneficiaryPublic(
        id=beneficiary.id,
        tenant_id=beneficiary.tenant_id,
        name=beneficiary.name,
        iban=beneficiary.iban,
        bic=beneficiary.bic,
        reference_template=beneficiary.reference_template,
        kind="internal" if beneficiary.internal_account_id is not None else "external",
        status=beneficiary.status,
        added_by=beneficiary.created_by_id,
        created_at=beneficiary.created_at,
        approved_by=beneficiary.approved_by_id,
        approved_at=beneficiary.approved_at,
        updated_at=beneficiary.updated_at,
        new_until=new_until(beneficiary, tenant),
    )


def beneficiary_resource(ctx: RequestContext, beneficiary: Beneficiary) -> Resource:
    """The beneficiary, for the policy: whose it is, and whether the person asking added it
    (nobody approves a beneficiary they added)."""
    actor = ctx.require_actor()
    return Resource(
        "beneficiary",
        beneficiary.id,
        beneficiary.tenant_id,
        beneficiary.bank_id,
        extra=(("added_by_actor", beneficiary.created_by_id == actor.user_id),),
    )


def internal_account_id(session: Session, bank_id: int, iban: str) -> int | None:
    """The customer account of the bank with this IBAN (any company's), if there is one."""
    return session.scalar(
        select(col(Account.id)).where(
            col(Account.iban) == iban,
            col(Account.bank_id) == bank_id,
            col(Account.kind) == "customer",
        )
    )


def _not_found(beneficiary_id: int) -> NotFound:
    return NotFound(f"beneficiary {beneficiary_id} not found")


def load_beneficiary(session: Session, ctx: RequestContext, beneficiary_id: int) -> Beneficiary:
    """The beneficiary, if the caller may read it; 404 otherwise (another company's, or a
    deleted one, is not there)."""
    reach = within_reach(
        ctx.require_actor(),
        tenant_column=col(Beneficiary.tenant_id),
        bank_column=col(Beneficiary.bank_id),
    )
    beneficiary = repository.beneficiary(session, beneficiary_id, within=reach)
    if beneficiary is None:
        raise _not_found(beneficiary_id)
    require_readable(
        session,
        ctx,
        "beneficiary.read",
        beneficiary_resource(ctx, beneficiary),
        not_found=f"beneficiary {beneficiary_id} not found",
    )
    # Asked first, so that a deleted one is refused as every other id is: after asking.
    if beneficiary.deleted_at is not None:
        raise _not_found(beneficiary_id)
    return beneficiary


def usable_beneficiary(session: Session, ctx: RequestContext, beneficiary_id: int) -> Beneficiary:
    """The caller's company's beneficiary, for a payment to it: 404 when it is not the
    company's (another company's, a deleted one, or any for bank staff, who pay no one) or
    the caller may not read it (loaded as every guard loads its resource: beneficiary.read,
    asked of the policy), 403 beneficiary_not_approved while it waits for approval. Whether
    the caller may pay from the account is the payment's own decision (payment.create),
    asked by the payment."""
    actor = ctx.require_actor()
    beneficiary = load_beneficiary(session, ctx, beneficiary_id)
    if actor.tenant_id is None or beneficiary.tenant_id != actor.tenant_id:
        raise _not_found(beneficiary_id)
    if beneficiary.status != "active":
        raise Forbidden(
            f"the beneficiary {beneficiary.name} awaits a second person's approval: nothing "
            "can be paid to it yet",
            code="beneficiary_not_approved",
        )
    return beneficiary


def _describe(public: BeneficiaryPublic) -> str:
    return f"{public.name} ({formatted(public.iban)}, {public.kind})"


# -- reading --------------------------------------------------------------------------------


def list_beneficiaries(
    session: Session,
    ctx: RequestContext,
    *,
    status: BeneficiaryStatus | None = None,
    tenant_id: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[BeneficiaryPublic]:
    """The beneficiaries the caller may read, oldest first: their company's (bank staff: the
    bank's customers', or one customer's); deleted ones are gone."""
    page = PageRequest.of(cursor, limit)
    where = readable_in_tenant(
        session,
        ctx,
        "beneficiary.read",
        tenant_column=col(Beneficiary.tenant_id),
        bank_column=col(Beneficiary.bank_id),
    )
    stmt = select(Beneficiary).where(where, col(Beneficiary.deleted_at).is_(None))
    if status is not None:
        stmt = stmt.where(col(Beneficiary.status) == status)
    if tenant_id is not None:
        stmt = stmt.where(col(Beneficiary.tenant_id) == tenant_id)
    return paginate(
        session,
        stmt,
        col(Beneficiary.id),
        page,
        shape=lambda beneficiary: beneficiary_public(session, beneficiary),
    )


def get_beneficiary(
    session: Session, ctx: RequestContext, beneficiary_id: int
) -> BeneficiaryPublic:
    return beneficiary_public(session, load_beneficiary(session, ctx, beneficiary_id))


# -- changing -------------------------------------------------------------------------------


def create_beneficiary(
    session: Session, ctx: RequestContext, body: BeneficiaryCreate
) -> BeneficiaryPublic:
    """Add a payee of the caller's company. It waits for a second person's approval when the
    company's rules ask for it (beneficiary_approval_required); it is active at once
    otherwise."""
    actor = ctx.require_actor()
    ctx.audit.attempt("beneficiary.manage", target=f"new beneficiary {body.name}")
    authorize(
        session,
        ctx,
        "beneficiary.manage",
        Resource("beneficiary", None, actor.tenant_id, actor.bank_id),
        not_found="not found",
    )
    if actor.tenant_id is None:
        # The policy gives staff no beneficiary.manage; should a bank role ever carry it, a
        # payee still belongs to a company, and staff have none.
        raise Forbidden(
            "beneficiaries are a company's own: bank staff add none", code="missing_permission"
        )
    tenant = session.get(Tenant, actor.tenant_id)
    assert tenant is not None and tenant.id is not None
    iban = parse_iban(body.iban)
    bic = parse_bic(body.bic) if body.bic else None
    if bic is not None:
        check_bic_matches_iban(bic, iban)
    exists = Conflict(
        f"{tenant.name} already has a beneficiary with the IBAN {formatted(iban)}",
        code="beneficiary_exists",
    )
    if session.scalar(
        select(col(Beneficiary.id)).where(
            col(Beneficiary.tenant_id) == tenant.id,
            col(Beneficiary.iban) == iban,
            col(Beneficiary.deleted_at).is_(None),
        )
    ):
        raise exists
    now = ctx.now()
    beneficiary = Beneficiary(
        bank_id=tenant.bank_id,
        tenant_id=tenant.id,
        name=body.name,
        iban=iban,
        bic=bic,
        reference_template=body.reference_template,
        internal_account_id=internal_account_id(session, tenant.bank_id, iban),
        status="pending_approval" if tenant.beneficiary_approval_required else "active",
        created_by_id=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    with unique_or(session, exists):
        session.add(beneficiary)
        session.flush()
    after = beneficiary_public(session, beneficiary)
    record_change(ctx, "beneficiary", after.id, "create", tenant.id, after=after)
    waits = ", awaiting a second person's approval" if after.status == "pending_approval" else ""
    ctx.audit.done(f"added the beneficiary {_describe(after)}{waits}")
    return after


def update_beneficiary(
    session: Session, ctx: RequestContext, beneficiary_id: int, body: BeneficiaryUpdate
) -> BeneficiaryPublic:
    """Change a beneficiary's name, BIC or reference template (never its IBAN). A change
    keeps its status: what the approval vouched for, the IBAN, stays the same."""
    ctx.audit.attempt("beneficiary.manage", target=f"beneficiary {beneficiary_id}")
    beneficiary = load_beneficiary(session, ctx, beneficiary_id)
    authorize(session, ctx, "beneficiary.manage", beneficiary_resource(ctx, beneficiary))
    before = beneficiary_public(session, beneficiary)
    if body.name is not None:
        beneficiary.name = body.name
    if body.bic is not None:
        beneficiary.bic = parse_bic(body.bic) if body.bic else None
        if beneficiary.bic is not None:
            check_bic_matches_iban(beneficiary.bic, beneficiary.iban)
    if body.reference_template is not None:
        beneficiary.reference_template = body.reference_template
    beneficiary.updated_at = ctx.now()
    session.flush()
    after = beneficiary_public(session, beneficiary)
    record_change(
        ctx, "beneficiary", beneficiary_id, "update", after.tenant_id, before=before, after=after
    )
    ctx.audit.done(f"changed the beneficiary {_describe(after)}: {_change_words(before, after)}")
    return after


def delete_beneficiary(session: Session, ctx: RequestContext, beneficiary_id: int) -> None:
    """Delete a beneficiary: nothing more can be paid to it. Its payments whose money has not
    moved (waiting for approval, or scheduled) end cancelled, "beneficiary deleted", in the
    same transaction: their holds released, their amounts given back to the limits, and who
    prepared each told. Its row stays, marked deleted, for the payments made to it; its IBAN
    may be added again."""
    actor = ctx.require_actor()
    ctx.audit.attempt("beneficiary.manage", target=f"beneficiary {beneficiary_id}")
    beneficiary = load_beneficiary(session, ctx, beneficiary_id)
    authorize(session, ctx, "beneficiary.manage", beneficiary_resource(ctx, beneficiary))
    before = beneficiary_public(session, beneficiary)
    now = ctx.now()
    beneficiary.deleted_at = now
    beneficiary.updated_at = now
    session.flush()
    ended = lifecycle.end_unmoved_payments_to(
        session, beneficiary_id, ended_by=actor.user_id, now=now
    )
    tell_became(session, ctx, ended, actor.user_id)
    record_change(ctx, "beneficiary", beneficiary_id, "delete", before.tenant_id, before=before)
    count = len(ended)
    cancelled = (
        f"; cancelled {count} payment{'s' if count != 1 else ''} to it awaiting approval or "
        "execution"
        if count
        else ""
    )
    ctx.audit.done(f"deleted the beneficiary {_describe(before)}{cancelled}")


def approve_beneficiary(
    session: Session, ctx: RequestContext, beneficiary_id: int
) -> BeneficiaryPublic:
    """The second person's approval of a beneficiary that waits for one: from then on it can
    be paid. Who added it cannot approve it (the policy's self_approval_forbidden)."""
    actor = ctx.require_actor()
    ctx.audit.attempt("beneficiary.approve", target=f"beneficiary {beneficiary_id}")
    beneficiary = load_beneficiary(session, ctx, beneficiary_id)
    authorize(session, ctx, "beneficiary.approve", beneficiary_resource(ctx, beneficiary))
    if beneficiary.status != "pending_approval":
        raise Conflict(
            f"the beneficiary {beneficiary.name} is active already: it awaits no approval",
            code="beneficiary_not_pending",
        )
    before = beneficiary_public(session, beneficiary)
    now = ctx.now()
    beneficiary.status = "active"
    beneficiary.approved_by_id = actor.user_id
    beneficiary.approved_at = now
    beneficiary.updated_at = now
    session.flush()
    after = beneficiary_public(session, beneficiary)
    record_change(
        ctx, "beneficiary", beneficiary_id, "approve", after.tenant_id, before=before, after=after
    )
    adder = session.get(User, beneficiary.created_by_id)
    by = f", added by {adder.username}" if adder is not None else ""
    ctx.audit.done(f"approved the beneficiary {_describe(after)}{by}")
    return after


def _change_words(before: BeneficiaryPublic, after: BeneficiaryPublic) -> str:
    parts = []
    if before.name != after.name:
        parts.append(f"name {after.name}")
    if before.bic != after.bic:
        parts.append(f"BIC {after.bic}" if after.bic else "no BIC")
    if before.reference_template != after.reference_template:
        parts.append(f"reference {after.reference_template!r}")
    return ", ".join(parts) or "nothing"
