"""Caps: the ceilings the bank sets for every tenant, and a tenant for itself, per currency,
over every grant's and role's limits (bank cap >= tenant cap >= role >= grant; the policy
takes the smallest)."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.audit.changes import record_change
from core.context import RequestContext
from core.errors import InvalidRequest, NotFound
from core.iam import public
from core.iam.schemas import CapPublic, CapSet
from core.iam.wording import cap_terms
from core.models.iam import LimitCap, Tenant
from core.money import is_currency, unknown_currency
from core.policy.facts import Resource
from core.policy.service import authorize, require_readable


def _caps_resource(session: Session, ctx: RequestContext, tenant_id: int | None) -> Resource:
    actor = ctx.require_actor()
    if tenant_id is None:
        return Resource.of_bank(actor.bank_id)
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} not found")
    return Resource.of_tenant(tenant_id, tenant.bank_id)


def _caps_missing(tenant_id: int | None) -> str:
    # The bank's caps have no tenant to name (not "tenant None").
    return "not found" if tenant_id is None else f"tenant {tenant_id} not found"


def _caps_of(bank_id: int, tenant_id: int | None) -> Select[LimitCap]:
    """The bank's caps (tenant_id None) or a tenant's."""
    level = (
        col(LimitCap.tenant_id).is_(None)
        if tenant_id is None
        else col(LimitCap.tenant_id) == tenant_id
    )
    return select(LimitCap).where(col(LimitCap.bank_id) == bank_id, level)


def list_caps(session: Session, ctx: RequestContext, tenant_id: int | None) -> list[CapPublic]:
    """The bank's caps (tenant_id None) or a tenant's: the ceilings over every grant's limits."""
    resource = _caps_resource(session, ctx, tenant_id)
    require_readable(session, ctx, "cap.read", resource, not_found=_caps_missing(tenant_id))
    stmt = _caps_of(resource.bank_id, tenant_id).order_by(col(LimitCap.currency))
    return [public.cap(c) for c in session.scalars(stmt)]


def set_cap(
    session: Session, ctx: RequestContext, tenant_id: int | None, currency: str, body: CapSet
) -> CapPublic:
    """Set the bank's caps in one currency (tenant_id None), or a tenant's."""
    ctx.audit.attempt(
        "cap.manage",
        target=f"caps {currency} of {'bank' if tenant_id is None else f'tenant {tenant_id}'}",
    )
    if not is_currency(currency):
        raise InvalidRequest(unknown_currency(currency), code="unknown_currency")
    resource = _caps_resource(session, ctx, tenant_id)
    require_readable(session, ctx, "cap.read", resource, not_found=_caps_missing(tenant_id))
    authorize(session, ctx, "cap.manage", resource)
    stmt = _caps_of(resource.bank_id, tenant_id).where(col(LimitCap.currency) == currency)
    cap = session.scalar(stmt)
    before = public.cap(cap) if cap else None
    if cap is None:
        cap = LimitCap(bank_id=resource.bank_id, tenant_id=tenant_id, currency=currency)
        session.add(cap)
    cap.per_transfer_limit = body.per_transfer
    cap.daily_limit = body.daily
    cap.monthly_limit = body.monthly
    cap.updated_by_id = ctx.require_actor().user_id
    cap.updated_at = ctx.now()
    session.flush()
    after = public.cap(cap)
    assert cap.id is not None
    change = "create" if before is None else "update"
    record_change(ctx, "cap", cap.id, change, tenant_id, before=before, after=after)
    whose = "the bank's" if tenant_id is None else f"tenant {tenant_id}'s"
    ctx.audit.done(f"set {whose} {currency} caps: {cap_terms(after)}")
    return after
