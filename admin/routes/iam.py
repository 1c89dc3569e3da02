"""People and customers: a company's users (create, deactivate, reset password), what a
person can do and why ("try it"), and for bank staff the corporate customers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from admin import forms
from admin.deps import CheckedForm, ConsoleContext
from admin.forms import Entry
from admin.routes.accounts import account_names, tenant_names
from admin.views import redirect, render
from admin.workspace import workspace
from api.deps import DbSession, services
from api.params import Cursor, TenantId, UserId
from core.context import RequestContext
from core.errors import MandateError
from core.iam import access
from core.iam import service as iam
from core.iam.access import list_caps
from core.iam.schemas import PasswordReset, TenantCreate, UserCreate, UserUpdate
from core.ledger import service as ledger
from core.ledger.schemas import AccountPublic
from core.pagination import MAX_PAGE
from core.policy.explain import Explanation, capabilities, explain

router = APIRouter()

USER_FIELDS = ("username", "display_name", "password", "tenant_id")
TryText = Annotated[str, Query(max_length=64)]


def users_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    *,
    cursor: str | None = None,
    status: int = 200,
    new_user: Entry | None = None,
) -> HTMLResponse:
    page = iam.list_users(session, ctx, cursor=cursor)
    ws = workspace(session, ctx)
    return render(
        request,
        session,
        ctx,
        "users.html",
        ws=ws,
        status=status,
        title="Users",
        page=page,
        cursor=cursor,
        tenants=tenant_names(session, ctx, ws),
        new_user=new_user or Entry(),
    )


@router.get("/users", name="console.users")
def users(
    request: Request, session: DbSession, ctx: ConsoleContext, cursor: Cursor = None
) -> HTMLResponse:
    return users_page(request, session, ctx, cursor=cursor)


@router.post("/users", name="console.create_user")
def create_user(
    request: Request, session: DbSession, ctx: ConsoleContext, form: CheckedForm
) -> Response:
    values = {
        "username": forms.text(form, "username", 64),
        "display_name": forms.text(form, "display_name", 100),
        "tenant_id": forms.ident(form, "tenant_id"),
    }
    password = form.get("password")
    entry = Entry(values=dict(values))

    def again(exc: MandateError | None) -> Response:
        return users_page(request, session, ctx, status=exc.status if exc else 422, new_user=entry)

    try:
        body = UserCreate(**values, password=password if isinstance(password, str) else "")
    except ValidationError as exc:
        entry.take_validation(exc)
        raise forms.refuse(entry, again) from exc
    with forms.refusals(entry, USER_FIELDS, again):
        created = iam.add_user(session, ctx, services(request).passwords, body)
    return redirect(f"/users/{created.id}", done="user-created")


def _try_it(
    session: Session,
    ctx: RequestContext,
    user_id: int,
    accounts: list[AccountPublic],
    zone: str,
    query: dict[str, str],
) -> tuple[Entry, Explanation | None]:
    """The "try it" box: what the policy would answer, and why. Saves nothing."""
    entry = Entry(values=dict(query))
    if not query.get("action"):
        return entry, None
    account_id = int(query["account"]) if query.get("account", "").isdigit() else None
    account = next((a for a in accounts if a.id == account_id), None)
    if query.get("amount") and account is None:
        entry.error("account", "Choose the account the amount is in.")
    amount = forms.amount(
        entry,
        "amount",
        query.get("amount", ""),
        account.currency if account else None,
        required=False,
    )
    at = forms.local_datetime(entry, "at", query.get("at", ""), zone)
    if entry.errors:
        return entry, None
    try:
        return entry, explain(
            session,
            ctx,
            user_id=user_id,
            action=query["action"],
            account_id=account_id,
            amount=amount,
            at=at,
        )
    except MandateError as exc:
        # A question the policy cannot answer as asked (no amount for a transfer, say):
        # shown in the box; nothing was attempted.
        entry.place(exc, ("amount", "account", "action"))
        return entry, None


def user_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    user_id: int,
    *,
    status: int = 200,
    problem: str = "",
    password: Entry | None = None,
    query: dict[str, str] | None = None,
) -> HTMLResponse:
    person = iam.get_user(session, ctx, user_id)
    ws = workspace(session, ctx)
    grants = (
        access.list_grants(session, ctx, user_id=user_id, limit=MAX_PAGE).items
        if ws.holds("grant.read")
        else []
    )
    accounts = (
        ledger.list_accounts(session, ctx, tenant_id=person.tenant_id, limit=MAX_PAGE).items
        if person.tenant_id is not None
        else []
    )
    may_explain = ws.holds("authz.explain")
    abilities = capabilities(session, ctx, user_id) if may_explain and person.tenant_id else []
    zone = ws.time_zone
    trial, explanation = (
        _try_it(session, ctx, user_id, accounts, zone, query or {})
        if may_explain
        else (Entry(), None)
    )
    return render(
        request,
        session,
        ctx,
        "user.html",
        ws=ws,
        status=status,
        title=person.display_name,
        person=person,
        grants=grants,
        accounts=accounts,
        names={**account_names(session, ctx), **{a.id: a.name for a in accounts}},
        tenants=tenant_names(session, ctx, ws),
        abilities=abilities,
        may_explain=may_explain,
        trial=trial,
        explanation=explanation,
        actions=[p.name for p in access.vocabulary()],
        problem=problem,
        password=password or Entry(),
        zone=zone,
        now=ctx.now(),
        try_currency=next(
            (a.currency for a in accounts if str(a.id) == trial.values.get("account")), "EUR"
        ),
        is_self=person.id == ctx.require_actor().user_id,
    )


@router.get("/users/{user_id}", name="console.user")
def user(
    request: Request,
    session: DbSession,
    ctx: ConsoleContext,
    user_id: UserId,
    action: TryText = "",
    account: TryText = "",
    amount: TryText = "",
    at: TryText = "",
) -> HTMLResponse:
    query = {"action": action, "account": account, "amount": amount, "at": at}
    return user_page(request, session, ctx, user_id, query=query)


@router.post("/users/{user_id}/status", name="console.user_status")
def change_user_status(
    request: Request, session: DbSession, ctx: ConsoleContext, user_id: UserId, form: CheckedForm
) -> Response:
    active = forms.text(form, "active", 5) == "true"
    entry = Entry()

    def again(exc: MandateError | None) -> Response:
        return user_page(
            request,
            session,
            ctx,
            user_id,
            status=exc.status if exc else 422,
            problem=entry.errors.get("", ""),
        )

    with forms.refusals(entry, (), again):
        iam.update_user(session, ctx, user_id, UserUpdate(is_active=active))
    return redirect(f"/users/{user_id}", done="user-updated")


@router.post("/users/{user_id}/password", name="console.reset_password")
def reset_password(
    request: Request, session: DbSession, ctx: ConsoleContext, user_id: UserId, form: CheckedForm
) -> Response:
    password = form.get("password")
    entry = Entry()

    def again(exc: MandateError | None) -> Response:
        return user_page(
            request, session, ctx, user_id, status=exc.status if exc else 422, password=entry
        )

    try:
        body = PasswordReset(password=password if isinstance(password, str) else "")
    except ValidationError as exc:
        entry.take_validation(exc)
        raise forms.refuse(entry, again) from exc
    with forms.refusals(entry, ("password",), again):
        iam.reset_password(session, ctx, services(request).passwords, user_id, body)
    return redirect(f"/users/{user_id}", done="password-reset")


# -- corporate customers (bank staff) --------------------------------------------------------


def tenants_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    *,
    status: int = 200,
    new_tenant: Entry | None = None,
    bank_cap: Entry | None = None,
) -> HTMLResponse:
    ws = workspace(session, ctx)
    return render(
        request,
        session,
        ctx,
        "tenants.html",
        ws=ws,
        status=status,
        title="Customers",
        tenants=iam.list_tenants(session, ctx),
        caps=list_caps(session, ctx, None) if ws.holds("cap.read") else [],
        zones=forms.time_zones(),
        new_tenant=new_tenant or Entry(values={"timezone": "Europe/Berlin"}),
        bank_cap=bank_cap or Entry(values={"currency": "EUR"}),
    )


@router.get("/tenants", name="console.tenants")
def tenants(request: Request, session: DbSession, ctx: ConsoleContext) -> HTMLResponse:
    return tenants_page(request, session, ctx)


@router.post("/tenants", name="console.onboard_tenant")
def onboard_tenant(
    request: Request, session: DbSession, ctx: ConsoleContext, form: CheckedForm
) -> Response:
    values = {"name": forms.text(form, "name", 100), "timezone": forms.text(form, "timezone", 64)}
    entry = Entry(values=dict(values))

    def again(exc: MandateError | None) -> Response:
        return tenants_page(
            request, session, ctx, status=exc.status if exc else 422, new_tenant=entry
        )

    try:
        body = TenantCreate(**values)
    except ValidationError as exc:
        entry.take_validation(exc)
        raise forms.refuse(entry, again) from exc
    with forms.refusals(entry, ("name", "timezone"), again):
        created = iam.onboard_tenant(session, ctx, body)
    return redirect(f"/tenants/{created.id}", done="tenant-created")


def tenant_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    tenant_id: int,
    *,
    status: int = 200,
    new_account: Entry | None = None,
    cap: Entry | None = None,
) -> HTMLResponse:
    tenant = iam.get_tenant(session, ctx, tenant_id)
    ws = workspace(session, ctx)
    values: dict[str, Any] = {
        "tenant": tenant,
        "caps": list_caps(session, ctx, tenant_id) if ws.holds("cap.read") else [],
        "accounts": ledger.list_accounts(session, ctx, tenant_id=tenant_id, limit=MAX_PAGE).items,
        "people": (
            iam.list_users(session, ctx, tenant_id=tenant_id, limit=MAX_PAGE).items
            if ws.holds("user.read")
            else []
        ),
        "new_account": new_account or Entry(values={"currency": "EUR"}),
        "cap": cap or Entry(values={"currency": "EUR"}),
    }
    return render(
        request, session, ctx, "tenant.html", ws=ws, status=status, title=tenant.name, **values
    )


@router.get("/tenants/{tenant_id}", name="console.tenant")
def tenant(
    request: Request, session: DbSession, ctx: ConsoleContext, tenant_id: TenantId
) -> HTMLResponse:
    return tenant_page(request, session, ctx, tenant_id)
