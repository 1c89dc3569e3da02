"""People and customers: a company's users (create, deactivate, reset password), what a
person can do and why ("try it"), and for bank staff the corporate customers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from admin import forms
from admin.deps import CheckedForm, ConsoleUnit, services
from admin.forms import Entry
from admin.pages import tenant_names, tenant_page, tenants_page, user_page
from admin.params import Cursor, TenantId, UserId
from admin.views import redirect, render, sent_for_approval
from admin.workspace import workspace
from core.context import RequestContext
from core.governance import operations
from core.iam import service as iam
from core.iam.schemas import (
    PasswordReset,
    StepUpAmount,
    TenantCreate,
    TenantSettings,
    UserCreate,
    UserUpdate,
)
from core.money import is_currency

router = APIRouter()

USER_FIELDS = ("username", "display_name", "password", "tenant_id")
SETTINGS_FIELDS = (
    "beneficiary_approval_required",
    "new_beneficiary_hours",
    "payment_expiry_days",
    "dual_admin",
    "step_up_minutes",
    "step_up_amount",
)
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
def users(request: Request, uow: ConsoleUnit, cursor: Cursor = None) -> HTMLResponse:
    return uow.run(lambda session, ctx: users_page(request, session, ctx, cursor=cursor))


@router.post("/users", name="console.create_user")
def create_user(request: Request, uow: ConsoleUnit, form: CheckedForm) -> Response:
    values = {
        "username": forms.text(form, "username", 64),
        "display_name": forms.text(form, "display_name", 100),
        "tenant_id": forms.ident(form, "tenant_id"),
    }
    password = form.get("password")
    passwords = services(request).passwords

    def read(session: Session, ctx: RequestContext, entry: Entry) -> UserCreate | None:
        entry.values.update(values)
        typed = password if isinstance(password, str) else ""
        return forms.build(entry, UserCreate, **values, password=typed)

    def act(session: Session, ctx: RequestContext, body: UserCreate) -> Response:
        outcome = operations.create_user(session, ctx, passwords, body)
        if outcome.applied is None:
            return sent_for_approval(outcome) or redirect("/users")
        return redirect(f"/users/{outcome.applied.id}", done="user-created")

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return users_page(request, session, ctx, status=code, new_user=entry)

    return forms.handle_form(uow, read, act, again, fields=USER_FIELDS)


@router.get("/users/{user_id}", name="console.user")
def user(
    request: Request,
    uow: ConsoleUnit,
    user_id: UserId,
    action: TryText = "",
    account: TryText = "",
    amount: TryText = "",
    at: TryText = "",
    payment: TryText = "",
) -> HTMLResponse:
    query = {"action": action, "account": account, "amount": amount, "at": at, "payment": payment}
    return uow.run(lambda session, ctx: user_page(request, session, ctx, user_id, query=query))


@router.post("/users/{user_id}/status", name="console.user_status")
def change_user_status(
    request: Request, uow: ConsoleUnit, user_id: UserId, form: CheckedForm
) -> Response:
    active = forms.text(form, "active", 5) == "true"

    def read(session: Session, ctx: RequestContext, entry: Entry) -> UserUpdate:
        return UserUpdate(is_active=active)

    def act(session: Session, ctx: RequestContext, body: UserUpdate) -> Response:
        outcome = operations.update_user(session, ctx, user_id, body)
        return sent_for_approval(outcome) or redirect(f"/users/{user_id}", done="user-updated")

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        problem = entry.errors.get("", "")
        return user_page(request, session, ctx, user_id, status=code, problem=problem)

    return forms.handle_form(uow, read, act, again)


@router.post("/users/{user_id}/password", name="console.reset_password")
def reset_password(
    request: Request, uow: ConsoleUnit, user_id: UserId, form: CheckedForm
) -> Response:
    password = form.get("password")
    passwords = services(request).passwords

    def read(session: Session, ctx: RequestContext, entry: Entry) -> PasswordReset | None:
        typed = password if isinstance(password, str) else ""
        return forms.build(entry, PasswordReset, password=typed)

    def act(session: Session, ctx: RequestContext, body: PasswordReset) -> Response:
        outcome = operations.reset_password(session, ctx, passwords, user_id, body)
        return sent_for_approval(outcome) or redirect(f"/users/{user_id}", done="password-reset")

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return user_page(request, session, ctx, user_id, status=code, password=entry)

    return forms.handle_form(uow, read, act, again, fields=("password",))


# -- corporate customers (bank staff) --------------------------------------------------------


@router.get("/tenants", name="console.tenants")
def tenants(request: Request, uow: ConsoleUnit) -> HTMLResponse:
    return uow.run(lambda session, ctx: tenants_page(request, session, ctx))


@router.post("/tenants", name="console.onboard_tenant")
def onboard_tenant(request: Request, uow: ConsoleUnit, form: CheckedForm) -> Response:
    values = {"name": forms.text(form, "name", 100), "timezone": forms.text(form, "timezone", 64)}

    def read(session: Session, ctx: RequestContext, entry: Entry) -> TenantCreate | None:
        entry.values.update(values)
        return forms.build(entry, TenantCreate, **values)

    def act(session: Session, ctx: RequestContext, body: TenantCreate) -> Response:
        created = iam.onboard_tenant(session, ctx, body)
        return redirect(f"/tenants/{created.id}", done="tenant-created")

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return tenants_page(request, session, ctx, status=code, new_tenant=entry)

    return forms.handle_form(uow, read, act, again, fields=("name", "timezone"))


@router.get("/tenants/{tenant_id}", name="console.tenant")
def tenant(request: Request, uow: ConsoleUnit, tenant_id: TenantId) -> HTMLResponse:
    return uow.run(lambda session, ctx: tenant_page(request, session, ctx, tenant_id))


@router.post("/tenants/{tenant_id}/settings", name="console.tenant_settings")
def change_tenant_settings(
    request: Request, uow: ConsoleUnit, tenant_id: TenantId, form: CheckedForm
) -> Response:
    names = ("new_beneficiary_hours", "payment_expiry_days", "step_up_minutes")
    typed = {name: forms.text(form, name, 6) for name in names}
    required = forms.text(form, "beneficiary_approval_required", 5) == "true"
    dual_admin = forms.text(form, "dual_admin", 5) == "true"
    currency = forms.text(form, "step_up_currency", 3).upper()
    above = forms.text(form, "step_up_amount", 40)

    def read(session: Session, ctx: RequestContext, entry: Entry) -> TenantSettings | None:
        entry.values.update(
            typed,
            beneficiary_approval_required=required,
            dual_admin=dual_admin,
            step_up_currency=currency,
            step_up_amount=above,
        )
        numbers = {}
        for name, value in typed.items():
            if name == "step_up_minutes" and not value:
                continue  # left as it is
            if not value.isdigit():
                entry.error(name, "Enter a whole number.")
            else:
                numbers[name] = int(value)
        amount = forms.amount(entry, "step_up_amount", above, currency, required=False)
        if above and not is_currency(currency):
            entry.error("step_up_amount", "Choose the currency of the amount.")
        if entry.errors:
            return None
        step_up = StepUpAmount(currency=currency, amount=amount) if amount is not None else None
        return forms.build(
            entry,
            TenantSettings,
            beneficiary_approval_required=required,
            dual_admin=dual_admin,
            step_up_transfer=step_up,
            clear_step_up_transfer=None if step_up else True,
            **numbers,
        )

    def act(session: Session, ctx: RequestContext, body: TenantSettings) -> Response:
        outcome = operations.update_tenant_settings(session, ctx, tenant_id, body)
        done = redirect(f"/tenants/{tenant_id}", done="tenant-updated")
        return sent_for_approval(outcome) or done

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return tenant_page(request, session, ctx, tenant_id, status=code, settings=entry)

    return forms.handle_form(uow, read, act, again, fields=SETTINGS_FIELDS)
