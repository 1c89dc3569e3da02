"""Who is signed in, where they work, and what their grants let them do: what the console
needs to lay out a page (which sections, which forms). It decides nothing itself: the policy
says which permissions a role carries, the same live-grant filter as every list says which
grants count, and each page's data still comes from the services, which ask the policy again
for every item they return and every action they take."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.batches import service as batches
from core.context import Actor, RequestContext
from core.governance import service as governance
from core.iam.access import vocabulary
from core.ledger import repository
from core.ledger.schemas import AccountPublic
from core.ledger.service import account_public
from core.models.iam import Bank, Grant, Role, Tenant
from core.models.ledger import Account
from core.pagination import MAX_PAGE
from core.payments import service as payments
from core.policy import registry
from core.policy.facts import Resource, custom_permissions, role_facts
from core.policy.filters import live_grant, readable_accounts
from core.policy.service import authorize


@dataclass(frozen=True)
class Workspace:
    actor: Actor
    bank_name: str
    tenant_name: str | None
    # Where the person's days begin: their company's zone; UTC for bank staff.
    time_zone: str
    # Permissions carried, now, by the person's live grants (valid, not revoked, of their
    # own company or bank). Scope, limits and time windows are checked on each action.
    permissions: frozenset[str]
    # Payments waiting for the person's approval (the sidebar's count): counted only for
    # someone who holds payment.approve somewhere.
    approvals_waiting: int = 0
    # Change requests of others waiting for a second person (dual administration): counted
    # only for someone who holds change_request.approve.
    changes_waiting: int = 0

    def holds(self, *permissions: str) -> bool:
        return any(p in self.permissions for p in permissions)

    @property
    def may_transfer(self) -> bool:
        """Whether a grant lets the person send transfers (from at least one account)."""
        return not self.actor.is_staff and "transfer.create" in self.permissions

    @property
    def may_pay(self) -> bool:
        """Whether a grant lets the person pay beneficiaries (from at least one account)."""
        return not self.actor.is_staff and "payment.create" in self.permissions

    @property
    def may_approve(self) -> bool:
        """Whether a grant lets the person approve payments (on at least one account)."""
        return not self.actor.is_staff and "payment.approve" in self.permissions


def workspace(session: Session, ctx: RequestContext) -> Workspace:
    """The signed-in person's bank, company, time zone and standing permissions."""
    actor = ctx.require_actor()
    authorize(session, ctx, "self.read", Resource.of_actor(actor))
    bank = session.get(Bank, actor.bank_id)
    tenant = session.get(Tenant, actor.tenant_id) if actor.tenant_id is not None else None
    permissions = held_permissions(session, ctx)
    approver = not actor.is_staff and "payment.approve" in permissions
    decides_changes = "change_request.approve" in permissions
    return Workspace(
        actor=actor,
        bank_name=bank.name if bank else "",
        tenant_name=tenant.name if tenant else None,
        time_zone=tenant.timezone if tenant else "UTC",
        permissions=permissions,
        approvals_waiting=(
            payments.inbox_count(session, ctx) + batches.batch_inbox_count(session, ctx)
            if approver
            else 0
        ),
        changes_waiting=governance.count_pending(session, ctx) if decides_changes else 0,
    )


def held_permissions(session: Session, ctx: RequestContext) -> frozenset[str]:
    """The permissions the caller's live grants carry, as the policy's carries/2 says."""
    actor = ctx.require_actor()
    ctx.policy_queries += 1
    held_roles = list(
        session.scalars(
            select(col(Grant.role_id)).where(
                col(Grant.user_id) == actor.user_id, col(Grant.revoked_at).is_(None)
            )
        )
    )
    live_roles = list(
        session.scalars(
            select(Role).where(
                col(Role.id).in_(
                    select(col(Grant.role_id)).where(live_grant(actor, held_roles, ctx.now()))
                )
            )
        )
    )
    permissions = custom_permissions(session, live_roles)
    # What the person's own tenant's version says their roles carry (staff: the default).
    engine = registry.for_tenant(actor.tenant_id)
    facts = [role_facts(r, permissions.get(r.id or 0, [])) for r in live_roles]
    return frozenset(
        p.name for p in vocabulary() if any(engine.role_carries(f, p.name) for f in facts)
    )


def accounts_for(session: Session, ctx: RequestContext, permission: str) -> list[AccountPublic]:
    """The customer accounts the caller holds `permission` over now (the same SQL filter as
    every list): for "transfer.create", the accounts a transfer may be sent from. Limits and
    time windows are checked when the money moves."""
    where = readable_accounts(session, ctx, permission) & (col(Account.kind) == "customer")
    rows = repository.first_accounts(session, where, limit=MAX_PAGE)
    return [account_public(a) for a in rows]


def holds_over_account(
    session: Session, ctx: RequestContext, permission: str, account_id: int
) -> bool:
    """Whether the caller holds `permission` over this account now (before amount and time
    are known): whether to offer the form at all."""
    where = readable_accounts(session, ctx, permission) & (col(Account.id) == account_id)
    return bool(repository.first_accounts(session, where, limit=1))
