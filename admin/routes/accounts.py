"""Accounts: balances, statements with paging; for bank staff, opening, freezing and
unfreezing accounts, deposits and withdrawals."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from admin import forms
from admin.deps import CheckedForm, ConsoleContext
from admin.forms import Entry
from admin.views import redirect, render
from admin.workspace import Workspace, holds_over_account, workspace
from api.deps import DbSession
from api.params import AccountId, Cursor, TenantId
from core.context import RequestContext
from core.errors import MandateError
from core.iam import service as iam
from core.ledger import service as ledger
from core.ledger.schemas import AccountCreate, AccountPublic, AccountUpdate, DepositCreate
from core.pagination import MAX_PAGE

router = APIRouter()

MOVEMENT_FIELDS = ("amount", "description")


def tenant_names(session: Session, ctx: RequestContext, ws: Workspace) -> dict[int, str]:
    if not ws.holds("tenant.read"):
        return {}
    return {t.id: t.name for t in iam.list_tenants(session, ctx)}


def account_names(session: Session, ctx: RequestContext) -> dict[int, str]:
    """Names of the accounts the caller may read, for showing counterparties."""
    page = ledger.list_accounts(session, ctx, limit=MAX_PAGE)
    return {a.id: a.name for a in page.items}


@router.get("/accounts", name="console.accounts")
def accounts(
    request: Request, session: DbSession, ctx: ConsoleContext, cursor: Cursor = None
) -> HTMLResponse:
    page = ledger.list_accounts(session, ctx, cursor=cursor)
    ws = workspace(session, ctx)
    return render(
        request,
        session,
        ctx,
        "accounts.html",
        ws=ws,
        title="Accounts",
        page=page,
        cursor=cursor,
        tenants=tenant_names(session, ctx, ws),
    )


def account_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    account_id: int,
    *,
    cursor: str | None = None,
    status: int = 200,
    deposit: Entry | None = None,
    withdrawal: Entry | None = None,
    problem: str = "",
) -> HTMLResponse:
    account = ledger.get_account(session, ctx, account_id)
    ws = workspace(session, ctx)
    statement = (
        ledger.statement(session, ctx, account_id, cursor=cursor, limit=25)
        if holds_over_account(session, ctx, "statement.read", account_id)
        else None
    )
    staff_forms = account.kind == "customer" and ws.actor.is_staff
    movements = {
        kind: (entry or Entry(values={"idempotency_key": forms.new_key()}))
        for kind, entry in (("deposit", deposit), ("withdrawal", withdrawal))
        if staff_forms and holds_over_account(session, ctx, f"{kind}.create", account_id)
    }
    return render(
        request,
        session,
        ctx,
        "account.html",
        ws=ws,
        status=status,
        title=account.name,
        account=account,
        statement=statement,
        cursor=cursor,
        names=account_names(session, ctx),
        tenants=tenant_names(session, ctx, ws),
        may_send=ws.may_transfer
        and holds_over_account(session, ctx, "transfer.create", account_id),
        may_manage=staff_forms and ws.holds("account.manage"),
        movements=movements,
        problem=problem,
    )


@router.get("/accounts/{account_id}", name="console.account")
def account(
    request: Request,
    session: DbSession,
    ctx: ConsoleContext,
    account_id: AccountId,
    cursor: Cursor = None,
) -> HTMLResponse:
    return account_page(request, session, ctx, account_id, cursor=cursor)


@router.post("/accounts/{account_id}/status", name="console.account_status")
def change_status(
    request: Request,
    session: DbSession,
    ctx: ConsoleContext,
    account_id: AccountId,
    form: CheckedForm,
) -> Response:
    wanted = forms.text(form, "status", 10)
    status: Literal["open", "frozen"] = "frozen" if wanted == "frozen" else "open"
    entry = Entry()

    def again(exc: MandateError | None) -> Response:
        return account_page(
            request,
            session,
            ctx,
            account_id,
            status=exc.status if exc else 422,
            problem=entry.errors.get("", ""),
        )

    with forms.refusals(entry, (), again):
        ledger.update_account(session, ctx, account_id, AccountUpdate(status=status))
    return redirect(f"/accounts/{account_id}", done="account-updated")


def _movement(
    request: Request,
    session: Session,
    ctx: RequestContext,
    account_id: int,
    form: FormData,
    kind: Literal["deposit", "withdrawal"],
) -> Response:
    account: AccountPublic = ledger.get_account(session, ctx, account_id)
    typed = forms.text(form, "amount", 40)
    description = forms.text(form, "description", 140)
    key = forms.text(form, "idempotency_key", 255)
    entry = Entry(values={"amount": typed, "description": description, "idempotency_key": key})

    def again(exc: MandateError | None) -> Response:
        if exc is not None and exc.code == "idempotency_key_reused":
            entry.values["idempotency_key"] = forms.new_key()
        return account_page(
            request,
            session,
            ctx,
            account_id,
            status=exc.status if exc else 422,
            deposit=entry if kind == "deposit" else None,
            withdrawal=entry if kind == "withdrawal" else None,
        )

    value = forms.amount(entry, "amount", typed, account.currency, required=True)
    if entry.errors:
        raise forms.refuse(entry, again)
    try:
        body = DepositCreate(
            account_id=account_id,
            amount=value,
            currency=account.currency,
            description=description,
        )
    except ValidationError as exc:
        entry.take_validation(exc)
        raise forms.refuse(entry, again) from exc
    move = ledger.create_deposit if kind == "deposit" else ledger.create_withdrawal
    with forms.refusals(entry, MOVEMENT_FIELDS, again):
        result = move(session, ctx, body, key)
    done = "replayed" if result.replayed else f"{kind}-posted"
    return redirect(f"/accounts/{account_id}", done=done)


@router.post("/accounts/{account_id}/deposits", name="console.deposit")
def deposit(
    request: Request,
    session: DbSession,
    ctx: ConsoleContext,
    account_id: AccountId,
    form: CheckedForm,
) -> Response:
    return _movement(request, session, ctx, account_id, form, "deposit")


@router.post("/accounts/{account_id}/withdrawals", name="console.withdrawal")
def withdrawal(
    request: Request,
    session: DbSession,
    ctx: ConsoleContext,
    account_id: AccountId,
    form: CheckedForm,
) -> Response:
    return _movement(request, session, ctx, account_id, form, "withdrawal")


@router.post("/tenants/{tenant_id}/accounts", name="console.open_account")
def open_account(
    request: Request,
    session: DbSession,
    ctx: ConsoleContext,
    tenant_id: TenantId,
    form: CheckedForm,
) -> Response:
    from admin.routes.iam import tenant_page

    name = forms.text(form, "name", 100)
    currency = forms.text(form, "currency", 3).upper()
    typed_overdraft = forms.text(form, "overdraft", 40)
    entry = Entry(values={"name": name, "currency": currency, "overdraft": typed_overdraft})

    def again(exc: MandateError | None) -> Response:
        return tenant_page(
            request, session, ctx, tenant_id, status=exc.status if exc else 422, new_account=entry
        )

    overdraft = forms.amount(entry, "overdraft", typed_overdraft, currency, required=False)
    try:
        body = AccountCreate(
            tenant_id=tenant_id, name=name, currency=currency, overdraft_limit=overdraft or 0
        )
    except ValidationError as exc:
        entry.take_validation(exc)
        raise forms.refuse(entry, again) from exc
    if entry.errors:
        raise forms.refuse(entry, again)
    with forms.refusals(entry, ("name", "currency", "overdraft"), again):
        opened = ledger.open_account(session, ctx, body)
    return redirect(f"/accounts/{opened.id}", done="account-opened")
