"""What each kind of change request applies, and how its "before" is read.

A kind names one governed operation of core.iam or core.payments. Applying a request calls
that very operation with the stored body, as its requester (so the policy checks the
requester's rights as they are then); its "before" is read again at approval to see whether
the thing changed meanwhile. Bodies are validated again when applied (what no longer validates
is refused, not applied)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.context import RequestContext
from core.iam import access, api_clients
from core.iam import service as people
from core.iam.api_client_schemas import ApiClientCreate
from core.iam.schemas import (
    BankSettings,
    CapSet,
    GrantCreate,
    GrantUpdate,
    RoleCreate,
    RoleUpdate,
    TenantSettings,
    UserCreate,
    UserUpdate,
)
from core.payments import rules
from core.payments.schemas import ApprovalRulesPut

Target = dict[str, Any]
Payload = dict[str, Any]
# apply(session, ctx, target, payload) -> the public shape of what it did (None: deleted)
Apply = Callable[[Session, RequestContext, Target, Payload], Any]
# before(session, ctx, target) -> the public shape of what it changes (None: nothing yet)
Before = Callable[[Session, RequestContext, Target], Any]


@dataclass(frozen=True)
class ChangeKind:
    name: str
    apply: Apply
    before: Before
    # The users a change gives new rights to are read from these (core.governance.facts).
    creates: bool = False
    # The payload's fields that are secrets (a password's hash): kept only while the request
    # waits, forgotten when it ends (core.governance.payloads).
    secrets: tuple[str, ...] = ()


def _nothing(_session: Session, _ctx: RequestContext, _target: Target) -> None:
    return None


def _cap(session: Session, ctx: RequestContext, target: Target) -> Any:
    caps = access.list_caps(session, ctx, target["tenant_id"])
    return next((c for c in caps if c.currency == target["currency"]), None)


def _user_create(session: Session, ctx: RequestContext, _target: Target, payload: Payload) -> Any:
    fields = {k: v for k, v in payload.items() if k != "password_hash"}
    # The password was validated when asked and is not kept: only its hash is.
    body = UserCreate.model_construct(**fields)
    return people.add_user_hashed(session, ctx, body, payload["password_hash"])


def _api_client_create(
    session: Session, ctx: RequestContext, _target: Target, payload: Payload
) -> Any:
    # The client id and the secret's hash were made when asked; the secret is not kept.
    fields = {k: v for k, v in payload.items() if k not in ("client_id", "secret_hash")}
    return api_clients.add_api_client(
        session,
        ctx,
        ApiClientCreate(**fields),
        client_id=payload["client_id"],
        secret_hash=payload.get("secret_hash"),
    )


KINDS: dict[str, ChangeKind] = {
    kind.name: kind
    for kind in (
        ChangeKind(
            "user.create",
            _user_create,
            _nothing,
            creates=True,
            secrets=("password_hash",),
        ),
        ChangeKind(
            "user.update",
            lambda s, c, t, p: people.update_user(s, c, t["user_id"], UserUpdate(**p)),
            lambda s, c, t: people.get_user(s, c, t["user_id"]),
        ),
        ChangeKind(
            "user.reset_password",
            lambda s, c, t, p: people.set_password_hash(s, c, t["user_id"], p["password_hash"]),
            lambda s, c, t: people.get_user(s, c, t["user_id"]),
            secrets=("password_hash",),
        ),
        ChangeKind(
            "api_client.create",
            _api_client_create,
            _nothing,
            creates=True,
            secrets=("secret_hash",),
        ),
        ChangeKind(
            "api_client.disable",
            lambda s, c, t, p: api_clients.disable_api_client(s, c, t["api_client_id"]),
            lambda s, c, t: api_clients.get_api_client(s, c, t["api_client_id"]),
        ),
        ChangeKind(
            "role.create",
            lambda s, c, t, p: access.create_role(s, c, RoleCreate(**p)),
            _nothing,
            creates=True,
        ),
        ChangeKind(
            "role.update",
            lambda s, c, t, p: access.update_role(s, c, t["role_id"], RoleUpdate(**p)),
            lambda s, c, t: access.get_role(s, c, t["role_id"]),
        ),
        ChangeKind(
            "role.delete",
            lambda s, c, t, p: access.delete_role(s, c, t["role_id"]),
            lambda s, c, t: access.get_role(s, c, t["role_id"]),
        ),
        ChangeKind(
            "grant.create",
            lambda s, c, t, p: access.create_grant(s, c, GrantCreate(**p)),
            _nothing,
            creates=True,
        ),
        ChangeKind(
            "grant.update",
            lambda s, c, t, p: access.update_grant(s, c, t["grant_id"], GrantUpdate(**p)),
            lambda s, c, t: access.get_grant(s, c, t["grant_id"]),
        ),
        ChangeKind(
            "grant.revoke",
            lambda s, c, t, p: access.revoke_grant(s, c, t["grant_id"]),
            lambda s, c, t: access.get_grant(s, c, t["grant_id"]),
        ),
        ChangeKind(
            "approval_rules.put",
            lambda s, c, t, p: rules.put_rules(s, c, ApprovalRulesPut(**p), t["tenant_id"]),
            lambda s, c, t: rules.get_rules(s, c, t["tenant_id"]),
        ),
        ChangeKind(
            "bank_approval_rules.put",
            lambda s, c, t, p: rules.put_bank_rules(s, c, ApprovalRulesPut(**p)),
            lambda s, c, t: rules.get_bank_rules(s, c),
        ),
        ChangeKind(
            "cap.put",
            lambda s, c, t, p: access.set_cap(s, c, t["tenant_id"], t["currency"], CapSet(**p)),
            _cap,
        ),
        ChangeKind(
            "tenant.settings",
            lambda s, c, t, p: people.update_tenant_settings(
                s, c, t["tenant_id"], TenantSettings(**p)
            ),
            lambda s, c, t: people.get_tenant(s, c, t["tenant_id"]),
        ),
        ChangeKind(
            "bank.settings",
            lambda s, c, t, p: people.update_bank_settings(s, c, BankSettings(**p)),
            lambda s, c, t: people.get_bank(s, c),
        ),
    )
}

__all__ = ["KINDS", "ChangeKind"]
