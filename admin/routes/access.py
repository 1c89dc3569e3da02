"""Who may do what: roles (built-in, read-only; custom, composed from the vocabulary),
grants (scope, limits, time window, validity; an approver's signature group and approval
limit) and the caps over every limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from admin import forms
from admin.deps import CheckedForm, ConsoleUnit
from admin.forms import LIMIT_FIELDS, Entry, currencies, time_zones
from admin.pages import tenant_page, tenants_page, user_page
from admin.params import GrantId, RoleId, TenantId
from admin.views import decimal_text, redirect, render, sent_for_approval
from admin.workspace import workspace
from core.clock import DAY_NAMES
from core.context import RequestContext
from core.fields import MAX_ID
from core.governance import operations
from core.iam import access
from core.iam import service as iam
from core.iam.schemas import (
    CapSet,
    GrantCreate,
    LimitSet,
    RoleCreate,
    RolePublic,
    RoleUpdate,
)
from core.ledger import service as ledger
from core.money import MINOR_UNITS
from core.pagination import MAX_PAGE
from core.uow import UnitOfWork

router = APIRouter()

OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
ROLE_FIELDS = ("name", "description", "permissions", "limit_currency", *LIMIT_FIELDS)
GRANT_FIELDS = (
    "role_id",
    "account_ids",
    "limit_currency",
    *LIMIT_FIELDS,
    "limits",
    "window",
    "valid_from",
    "valid_until",
    "approval_group",
    "approval_limit",
    "approval_daily_limit",
)


def _limit_values(limits: LimitSet | None) -> dict[str, str]:
    if limits is None:
        return {}
    return {
        "limit_currency": limits.currency,
        **{k: decimal_text(getattr(limits, k), limits.currency) for k in LIMIT_FIELDS},
    }


# -- roles ----------------------------------------------------------------------------------


def roles_page(
    request: Request, session: Session, ctx: RequestContext, tenant: int | None
) -> HTMLResponse:
    listed = access.list_roles(session, ctx, tenant_id=tenant)
    return render(
        request,
        session,
        ctx,
        "roles.html",
        title="Roles",
        roles=listed,
        tenant=tenant,
        vocabulary={p.name: p for p in access.vocabulary()},
    )


@router.get("/roles", name="console.roles")
def roles(request: Request, uow: ConsoleUnit, tenant: OptionalId = None) -> HTMLResponse:
    return uow.run(lambda session, ctx: roles_page(request, session, ctx, tenant))


def role_form(
    request: Request,
    session: Session,
    ctx: RequestContext,
    entry: Entry,
    *,
    role: RolePublic | None = None,
    tenant: int | None = None,
    status: int = 200,
) -> HTMLResponse:
    vocabulary = access.vocabulary()
    return render(
        request,
        session,
        ctx,
        "role_form.html",
        status=status,
        title=role.name if role else "New role",
        role=role,
        tenant=tenant,
        entry=entry,
        composable=[p for p in vocabulary if p.composable],
        vocabulary={p.name: p for p in vocabulary},
        currencies=currencies(),
    )


@router.get("/roles/new", name="console.new_role")
def new_role(request: Request, uow: ConsoleUnit, tenant: OptionalId = None) -> HTMLResponse:
    entry = Entry(values={"permissions": [], "limit_currency": "EUR"})
    return uow.run(lambda session, ctx: role_form(request, session, ctx, entry, tenant=tenant))


def _read_role(form: FormData, entry: Entry) -> tuple[str, str, list[str], LimitSet | None]:
    name = forms.text(form, "name", 100)
    description = forms.text(form, "description", 500)
    permissions = [p for p in form.getlist("permissions") if isinstance(p, str)][:30]
    entry.values.update(name=name, description=description, permissions=permissions)
    if not permissions:
        entry.error("permissions", "Tick at least one permission.")
    return name, description, permissions, forms.limits(entry, form)


@router.post("/roles", name="console.create_role")
def create_role(
    request: Request, uow: ConsoleUnit, form: CheckedForm, tenant: OptionalId = None
) -> Response:
    def read(session: Session, ctx: RequestContext, entry: Entry) -> RoleCreate | None:
        name, description, permissions, limits = _read_role(form, entry)
        if entry.errors:
            return None
        return forms.build(
            entry,
            RoleCreate,
            name=name,
            description=description,
            permissions=permissions,
            limits=limits,
            tenant_id=tenant,
        )

    def act(session: Session, ctx: RequestContext, body: RoleCreate) -> Response:
        outcome = operations.create_role(session, ctx, body)
        if outcome.applied is None:
            return sent_for_approval(outcome) or redirect("/roles")
        return redirect(f"/roles/{outcome.applied.id}", done="role-created")

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return role_form(request, session, ctx, entry, tenant=tenant, status=code)

    return forms.handle_form(uow, read, act, again, fields=ROLE_FIELDS)


def _role_entry(found: RolePublic) -> Entry:
    """A role's form, filled in with the role as it is."""
    return Entry(
        values={
            "name": found.name,
            "description": found.description,
            "permissions": found.permissions,
            "limit_currency": "EUR",
            **_limit_values(found.limits),
        }
    )


def role_page(request: Request, session: Session, ctx: RequestContext, role_id: int) -> Response:
    found = access.get_role(session, ctx, role_id)
    return role_form(request, session, ctx, _role_entry(found), role=found, tenant=found.tenant_id)


@router.get("/roles/{role_id}", name="console.role")
def role(request: Request, uow: ConsoleUnit, role_id: RoleId) -> Response:
    return uow.run(lambda session, ctx: role_page(request, session, ctx, role_id))


@router.post("/roles/{role_id}", name="console.update_role")
def update_role(request: Request, uow: ConsoleUnit, role_id: RoleId, form: CheckedForm) -> Response:
    def read(session: Session, ctx: RequestContext, entry: Entry) -> RoleUpdate | None:
        name, description, permissions, limits = _read_role(form, entry)
        if entry.errors:
            return None
        return forms.build(
            entry,
            RoleUpdate,
            name=name,
            description=description,
            permissions=permissions,
            limits=limits,
            clear_limits=limits is None,
        )

    def act(session: Session, ctx: RequestContext, body: RoleUpdate) -> Response:
        outcome = operations.update_role(session, ctx, role_id, body)
        return sent_for_approval(outcome) or redirect(f"/roles/{role_id}", done="role-updated")

    def work(session: Session, ctx: RequestContext) -> Response:
        found = access.get_role(session, ctx, role_id)

        def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
            return role_form(request, session, ctx, entry, role=found, status=code)

        return forms.submit_form(session, ctx, read, act, again, ROLE_FIELDS)

    return uow.run(work)


@router.post("/roles/{role_id}/delete", name="console.delete_role")
def delete_role(request: Request, uow: ConsoleUnit, role_id: RoleId, form: CheckedForm) -> Response:
    def work(session: Session, ctx: RequestContext) -> Response:
        found = access.get_role(session, ctx, role_id)

        def read(session: Session, ctx: RequestContext, entry: Entry) -> RolePublic:
            entry.values.update(_role_entry(found).values)
            return found

        def act(session: Session, ctx: RequestContext, body: RolePublic) -> Response:
            outcome = operations.delete_role(session, ctx, role_id)
            done = redirect("/roles", done="role-deleted", tenant=found.tenant_id)
            return sent_for_approval(outcome) or done

        def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
            return role_form(request, session, ctx, entry, role=found, status=code)

        return forms.submit_form(session, ctx, read, act, again)

    return uow.run(work)


# -- grants ---------------------------------------------------------------------------------


def grant_form(
    request: Request,
    session: Session,
    ctx: RequestContext,
    user_id: int,
    entry: Entry | None = None,
    *,
    status: int = 200,
) -> HTMLResponse:
    person = iam.get_user(session, ctx, user_id)
    ws = workspace(session, ctx)
    tenant_zone = ws.time_zone
    if person.tenant_id is not None and ws.actor.is_staff:
        tenant_zone = iam.get_tenant(session, ctx, person.tenant_id).timezone
    accounts = (
        ledger.list_accounts(session, ctx, tenant_id=person.tenant_id, limit=MAX_PAGE).items
        if person.tenant_id is not None
        else []
    )
    caps = access.list_caps(session, ctx, person.tenant_id) if ws.holds("cap.read") else []
    limit_currency = caps[0].currency if caps else (accounts[0].currency if accounts else "EUR")
    entry = entry or Entry(
        values={
            "scope": "all",
            "account_ids": [],
            "limit_currency": limit_currency,
            "days": [],
            "window_zone": tenant_zone,
        }
    )
    return render(
        request,
        session,
        ctx,
        "grant_form.html",
        ws=ws,
        status=status,
        title=f"Give {person.display_name} a role",
        person=person,
        roles=access.list_roles(session, ctx, tenant_id=person.tenant_id),
        accounts=accounts,
        caps=caps,
        entry=entry,
        currencies=sorted({a.currency for a in accounts} | {c.currency for c in caps} | {"EUR"}),
        zones=time_zones(),
        days=DAY_NAMES,
    )


@router.get("/grants/new", name="console.new_grant")
def new_grant(
    request: Request,
    uow: ConsoleUnit,
    user_id: Annotated[int, Query(alias="user", ge=1, le=MAX_ID)],
) -> HTMLResponse:
    return uow.run(lambda session, ctx: grant_form(request, session, ctx, user_id))


@router.post("/grants", name="console.create_grant")
def create_grant(request: Request, uow: ConsoleUnit, form: CheckedForm) -> Response:
    user_id = forms.ident(form, "user_id")
    role_id = forms.ident(form, "role_id")
    scope = "listed" if forms.text(form, "scope", 10) == "listed" else "all"
    account_ids = [
        int(a) for a in form.getlist("account_ids") if isinstance(a, str) and a.isdigit()
    ]

    def read(session: Session, ctx: RequestContext, entry: Entry) -> GrantCreate | None:
        entry.values.update(role_id=role_id, scope=scope, account_ids=account_ids)
        if user_id is None:
            entry.error("", "Choose whom to give the role.")
        if role_id is None:
            entry.error("role_id", "Choose a role.")
        if scope == "listed" and not account_ids:
            entry.error("account_ids", "Tick the accounts, or choose all accounts.")
        limits = forms.limits(entry, form)
        group = forms.approval_group(entry, form)
        approval_limit = forms.approval_limit(entry, form)
        approval_daily_limit = forms.approval_limit(entry, form, "approval_daily_limit")
        if (approval_limit is not None or approval_daily_limit is not None) and limits is None:
            # The approval limit is typed in the limits' currency: that is the grant's limit
            # currency even with no other limit.
            limits = LimitSet(currency=entry.values["limit_currency"])
        window = forms.window(entry, form)
        zone = entry.values.get("window_zone") or "UTC"
        valid_from = forms.text(form, "valid_from", 20)
        valid_until = forms.text(form, "valid_until", 20)
        starts = forms.local_datetime(entry, "valid_from", valid_from, zone)
        ends = forms.local_datetime(entry, "valid_until", valid_until, zone)
        if entry.errors:
            return None
        return forms.build(
            entry,
            GrantCreate,
            user_id=user_id,
            role_id=role_id,
            all_accounts=scope == "all",
            account_ids=account_ids if scope == "listed" else [],
            limits=limits,
            window=window,
            valid_from=starts,
            valid_until=ends,
            approval_group=group,
            approval_limit=approval_limit,
            approval_daily_limit=approval_daily_limit,
        )

    def act(session: Session, ctx: RequestContext, body: GrantCreate) -> Response:
        outcome = operations.create_grant(session, ctx, body)
        return sent_for_approval(outcome) or redirect(f"/users/{user_id}", done="grant-created")

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return grant_form(request, session, ctx, user_id or 0, entry, status=code)

    return forms.handle_form(uow, read, act, again, fields=GRANT_FIELDS)


@router.post("/grants/{grant_id}/revoke", name="console.revoke_grant")
def revoke_grant(
    request: Request, uow: ConsoleUnit, grant_id: GrantId, form: CheckedForm
) -> Response:
    def work(session: Session, ctx: RequestContext) -> Response:
        found = access.get_grant(session, ctx, grant_id)

        def read(session: Session, ctx: RequestContext, entry: Entry) -> int:
            return grant_id

        def act(session: Session, ctx: RequestContext, body: int) -> Response:
            outcome = operations.revoke_grant(session, ctx, grant_id)
            done = redirect(f"/users/{found.user_id}", done="grant-revoked")
            return sent_for_approval(outcome) or done

        def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
            problem = entry.errors.get("", "")
            return user_page(request, session, ctx, found.user_id, status=code, problem=problem)

        return forms.submit_form(session, ctx, read, act, again)

    return uow.run(work)


# -- caps -----------------------------------------------------------------------------------


def _read_cap(form: FormData, entry: Entry) -> tuple[str, CapSet | None]:
    currency = forms.text(form, "currency", 3).upper()
    typed = {k: forms.text(form, k, 40) for k in LIMIT_FIELDS}
    entry.values.update(currency=currency, **typed)
    if currency not in MINOR_UNITS:
        entry.error("currency", "Choose a currency.")
        return currency, None
    parsed = {k: forms.amount(entry, k, v, currency, required=False) for k, v in typed.items()}
    return currency, forms.build(entry, CapSet, **parsed)


def _cap_form(
    uow: UnitOfWork,
    form: FormData,
    tenant_id: int | None,
    done: str,
    again: forms.Show,
) -> Response:
    """Set a cap of the bank (tenant_id None) or of one customer."""

    def read(session: Session, ctx: RequestContext, entry: Entry) -> tuple[str, CapSet] | None:
        currency, body = _read_cap(form, entry)
        return (currency, body) if body is not None else None

    def act(session: Session, ctx: RequestContext, cap: tuple[str, CapSet]) -> Response:
        outcome = operations.set_cap(session, ctx, tenant_id, *cap)
        return sent_for_approval(outcome) or redirect(done, done="cap-set")

    return forms.handle_form(uow, read, act, again, fields=("currency", *LIMIT_FIELDS))


@router.post("/caps", name="console.set_bank_cap")
def set_bank_cap(request: Request, uow: ConsoleUnit, form: CheckedForm) -> Response:
    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return tenants_page(request, session, ctx, status=code, bank_cap=entry)

    return _cap_form(uow, form, None, "/tenants", again)


@router.post("/tenants/{tenant_id}/caps", name="console.set_tenant_cap")
def set_tenant_cap(
    request: Request, uow: ConsoleUnit, tenant_id: TenantId, form: CheckedForm
) -> Response:
    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return tenant_page(request, session, ctx, tenant_id, status=code, cap=entry)

    return _cap_form(uow, form, tenant_id, f"/tenants/{tenant_id}", again)
