"""Accounts: balances, statements with paging; for bank staff, opening, freezing and
unfreezing accounts, deposits and withdrawals."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from admin import forms
from admin.deps import CheckedForm, ConsoleUnit
from admin.forms import Entry
from admin.pages import account_names, tenant_names, tenant_page
from admin.params import AccountId, Cursor, TenantId
from admin.routes.statements import last_month
from admin.views import redirect, render
from admin.workspace import holds_over_account, workspace
from core.context import RequestContext
from core.ledger import service as ledger
from core.ledger.schemas import AccountCreate, AccountUpdate, DepositCreate
from core.uow import UnitOfWork

router = APIRouter()

MOVEMENT_FIELDS = ("amount", "description")


def accounts_page(
    request: Request, session: Session, ctx: RequestContext, cursor: str | None
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


@router.get("/accounts", name="console.accounts")
def accounts(request: Request, uow: ConsoleUnit, cursor: Cursor = None) -> HTMLResponse:
    return uow.run(lambda session, ctx: accounts_page(request, session, ctx, cursor))


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

    def offered(permission: str) -> bool:
        # A permission no grant of the person's carries at all cannot reach this account:
        # asked over the account only when the workspace says the person holds it somewhere.
        return ws.holds(permission) and holds_over_account(session, ctx, permission, account_id)

    statement = (
        ledger.statement(session, ctx, account_id, cursor=cursor, limit=25)
        if offered("statement.read")
        else None
    )
    staff_forms = account.kind == "customer" and ws.actor.is_staff
    movements = {
        kind: (entry or Entry(values={"idempotency_key": forms.new_key()}))
        for kind, entry in (("deposit", deposit), ("withdrawal", withdrawal))
        if staff_forms and offered(f"{kind}.create")
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
        statement_period=last_month(ctx.now(), ws.time_zone),
        cursor=cursor,
        names=account_names(session, ctx),
        tenants=tenant_names(session, ctx, ws),
        may_send=ws.may_transfer and offered("transfer.create"),
        may_pay=ws.may_pay and offered("payment.create"),
        may_manage=staff_forms and ws.holds("account.manage"),
        movements=movements,
        problem=problem,
    )


@router.get("/accounts/{account_id}", name="console.account")
def account(
    request: Request, uow: ConsoleUnit, account_id: AccountId, cursor: Cursor = None
) -> HTMLResponse:
    return uow.run(
        lambda session, ctx: account_page(request, session, ctx, account_id, cursor=cursor)
    )


@router.post("/accounts/{account_id}/status", name="console.account_status")
def change_status(
    request: Request, uow: ConsoleUnit, account_id: AccountId, form: CheckedForm
) -> Response:
    wanted = forms.text(form, "status", 10)
    status: Literal["open", "frozen"] = "frozen" if wanted == "frozen" else "open"

    def act(session: Session, ctx: RequestContext, body: AccountUpdate) -> Response:
        ledger.update_account(session, ctx, account_id, body)
        return redirect(f"/accounts/{account_id}", done="account-updated")

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        problem = entry.errors.get("", "")
        return account_page(request, session, ctx, account_id, status=code, problem=problem)

    return forms.handle_form(uow, lambda *_: AccountUpdate(status=status), act, again)


def _movement(
    request: Request,
    uow: UnitOfWork,
    account_id: int,
    form: FormData,
    kind: Literal["deposit", "withdrawal"],
) -> Response:
    typed = forms.text(form, "amount", 40)
    description = forms.text(form, "description", 140)
    key = forms.text(form, "idempotency_key", 255)

    def read(session: Session, ctx: RequestContext, entry: Entry) -> DepositCreate | None:
        account = ledger.get_account(session, ctx, account_id)
        entry.values.update(amount=typed, description=description, idempotency_key=key)
        value = forms.amount(entry, "amount", typed, account.currency, required=True)
        if entry.errors:
            return None
        return forms.build(
            entry,
            DepositCreate,
            account_id=account_id,
            amount=value,
            currency=account.currency,
            description=description,
        )

    def act(session: Session, ctx: RequestContext, body: DepositCreate) -> Response:
        move = ledger.create_deposit if kind == "deposit" else ledger.create_withdrawal
        result = move(session, ctx, body, key)
        done = "replayed" if result.replayed else f"{kind}-posted"
        return redirect(f"/accounts/{account_id}", done=done)

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return account_page(
            request,
            session,
            ctx,
            account_id,
            status=code,
            deposit=entry if kind == "deposit" else None,
            withdrawal=entry if kind == "withdrawal" else None,
        )

    return forms.handle_form(uow, read, act, again, fields=MOVEMENT_FIELDS)


@router.post("/accounts/{account_id}/deposits", name="console.deposit")
def deposit(
    request: Request, uow: ConsoleUnit, account_id: AccountId, form: CheckedForm
) -> Response:
    return _movement(request, uow, account_id, form, "deposit")


@router.post("/accounts/{account_id}/withdrawals", name="console.withdrawal")
def withdrawal(
    request: Request, uow: ConsoleUnit, account_id: AccountId, form: CheckedForm
) -> Response:
    return _movement(request, uow, account_id, form, "withdrawal")


@router.post("/tenants/{tenant_id}/accounts", name="console.open_account")
def open_account(
    request: Request, uow: ConsoleUnit, tenant_id: TenantId, form: CheckedForm
) -> Response:
    name = forms.text(form, "name", 100)
    currency = forms.text(form, "currency", 3).upper()
    typed_overdraft = forms.text(form, "overdraft", 40)

    def read(session: Session, ctx: RequestContext, entry: Entry) -> AccountCreate | None:
        entry.values.update(name=name, currency=currency, overdraft=typed_overdraft)
        overdraft = forms.amount(entry, "overdraft", typed_overdraft, currency, required=False)
        return forms.build(
            entry,
            AccountCreate,
            tenant_id=tenant_id,
            name=name,
            currency=currency,
            overdraft_limit=overdraft or 0,
        )

    def act(session: Session, ctx: RequestContext, body: AccountCreate) -> Response:
        opened = ledger.open_account(session, ctx, body)
        return redirect(f"/accounts/{opened.id}", done="account-opened")

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return tenant_page(request, session, ctx, tenant_id, status=code, new_account=entry)

    return forms.handle_form(uow, read, act, again, fields=("name", "currency", "overdraft"))
