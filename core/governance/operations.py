"""The governed operations: what the API and the console call to change users, roles,
grants, approval rules, caps and settings. Each applies at once when the caller's changes
need no second person, and otherwise becomes a change request (core.governance.service);
reads stay core.iam's and core.payments' own."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.context import RequestContext
from core.governance import service
from core.governance.kinds import KINDS, Payload, Target
from core.governance.schemas import Governed
from core.iam import api_clients
from core.iam.api_client_schemas import ApiClientCreate
from core.iam.credentials import Passwords
from core.iam.schemas import (
    BankSettings,
    CapSet,
    GrantCreate,
    GrantUpdate,
    PasswordReset,
    RoleCreate,
    RoleUpdate,
    TenantSettings,
    UserCreate,
    UserUpdate,
)
from core.payments.schemas import ApprovalRulesPut


def govern(
    session: Session, ctx: RequestContext, kind: str, target: Target, payload: Payload
) -> Governed[Any]:
    """Apply the change now, or ask for it (dual administration): the one fork."""
    if service.needs_second_person(session, ctx.require_actor()):
        return Governed(request=service.request_change(session, ctx, kind, target, payload))
    return Governed(applied=KINDS[kind].apply(session, ctx, target, payload))


def _body(body: Any) -> Payload:
    dumped: Payload = body.model_dump(mode="json", exclude_unset=True)
    return dumped


def create_user(
    session: Session, ctx: RequestContext, passwords: Passwords, body: UserCreate
) -> Governed[Any]:
    # Only the password's hash is kept, in the request as in the user.
    payload = {**body.model_dump(mode="json", exclude={"password"})}
    payload["password_hash"] = passwords.hash(body.password)
    return govern(session, ctx, "user.create", {}, payload)


def create_api_client(
    session: Session, ctx: RequestContext, passwords: Passwords, body: ApiClientCreate
) -> Governed[Any]:
    """A new API client. Its client id, and for client_secret_basic its secret, are made now:
    the secret is shown once to the caller (with the client, or beside the change request it
    waits in), and only its hash is kept."""
    client_id = api_clients.new_client_id()
    secret = api_clients.new_client_secret() if body.auth_method == "client_secret_basic" else None
    payload = {**body.model_dump(mode="json"), "client_id": client_id}
    if secret is not None:
        payload["secret_hash"] = passwords.hash(secret)
    outcome = govern(session, ctx, "api_client.create", {}, payload)
    if secret is not None:
        if outcome.applied is not None:
            outcome.applied.client_secret = secret
        else:
            outcome.shown_once = {"client_secret": secret}
    return outcome


def disable_api_client(session: Session, ctx: RequestContext, api_client_id: int) -> Governed[Any]:
    return govern(session, ctx, "api_client.disable", {"api_client_id": api_client_id}, {})


def update_user(
    session: Session, ctx: RequestContext, user_id: int, body: UserUpdate
) -> Governed[Any]:
    return govern(session, ctx, "user.update", {"user_id": user_id}, _body(body))


def reset_password(
    session: Session, ctx: RequestContext, passwords: Passwords, user_id: int, body: PasswordReset
) -> Governed[Any]:
    payload = {"password_hash": passwords.hash(body.password)}
    return govern(session, ctx, "user.reset_password", {"user_id": user_id}, payload)


def create_role(session: Session, ctx: RequestContext, body: RoleCreate) -> Governed[Any]:
    return govern(session, ctx, "role.create", {}, _body(body))


def update_role(
    session: Session, ctx: RequestContext, role_id: int, body: RoleUpdate
) -> Governed[Any]:
    return govern(session, ctx, "role.update", {"role_id": role_id}, _body(body))


def delete_role(session: Session, ctx: RequestContext, role_id: int) -> Governed[Any]:
    return govern(session, ctx, "role.delete", {"role_id": role_id}, {})


def create_grant(session: Session, ctx: RequestContext, body: GrantCreate) -> Governed[Any]:
    return govern(session, ctx, "grant.create", {}, _body(body))


def update_grant(
    session: Session, ctx: RequestContext, grant_id: int, body: GrantUpdate
) -> Governed[Any]:
    return govern(session, ctx, "grant.update", {"grant_id": grant_id}, _body(body))


def revoke_grant(session: Session, ctx: RequestContext, grant_id: int) -> Governed[Any]:
    return govern(session, ctx, "grant.revoke", {"grant_id": grant_id}, {})


def put_approval_rules(
    session: Session, ctx: RequestContext, body: ApprovalRulesPut, tenant_id: int | None = None
) -> Governed[Any]:
    return govern(session, ctx, "approval_rules.put", {"tenant_id": tenant_id}, _body(body))


def put_bank_approval_rules(
    session: Session, ctx: RequestContext, body: ApprovalRulesPut
) -> Governed[Any]:
    return govern(session, ctx, "bank_approval_rules.put", {}, _body(body))


def set_cap(
    session: Session, ctx: RequestContext, tenant_id: int | None, currency: str, body: CapSet
) -> Governed[Any]:
    target = {"tenant_id": tenant_id, "currency": currency}
    return govern(session, ctx, "cap.put", target, _body(body))


def update_tenant_settings(
    session: Session, ctx: RequestContext, tenant_id: int, body: TenantSettings
) -> Governed[Any]:
    return govern(session, ctx, "tenant.settings", {"tenant_id": tenant_id}, _body(body))


def update_bank_settings(
    session: Session, ctx: RequestContext, body: BankSettings
) -> Governed[Any]:
    return govern(session, ctx, "bank.settings", {}, _body(body))
