"""Pages more than one part of the console answers with: a customer, the customers, a person
(their grants, what they can do and why), and the names pages show for accounts and
customers. Route modules import these; no route module imports another."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from admin import forms
from admin.forms import Entry
from admin.views import decimal_text, render
from admin.workspace import Workspace, workspace
from core.context import RequestContext
from core.errors import MandateError
from core.fields import MAX_ID
from core.iam import access
from core.iam import service as iam
from core.iam.access import list_caps
from core.iam.schemas import StepUpAmount
from core.ledger import service as ledger
from core.ledger.schemas import AccountPublic
from core.pagination import MAX_PAGE
from core.policy.explain import Explanation, capabilities, explain, explainable_actions


def tenant_names(session: Session, ctx: RequestContext, ws: Workspace) -> dict[int, str]:
    if not ws.holds("tenant.read"):
        return {}
    return {t.id: t.name for t in iam.list_tenants(session, ctx)}


def account_names(session: Session, ctx: RequestContext) -> dict[int, str]:
    """Names of the accounts the caller may read, for showing counterparties."""
    page = ledger.list_accounts(session, ctx, limit=MAX_PAGE)
    return {a.id: a.name for a in page.items}


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
    typed_payment = query.get("payment", "").strip()
    payment_id = int(typed_payment) if typed_payment.isdigit() else None
    if typed_payment and (payment_id is None or not 1 <= payment_id <= MAX_ID):
        entry.error("payment", "Give the payment's number.")
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
            payment_id=payment_id,
        )
    except MandateError as exc:
        # A question the policy cannot answer as asked (no amount for a transfer, no payment
        # for an approval, say): shown in the box; nothing was attempted.
        entry.place(exc, ("amount", "account", "payment", "action"))
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
        actions=explainable_actions(),
        problem=problem,
        password=password or Entry(),
        zone=zone,
        now=ctx.now(),
        try_currency=next(
            (a.currency for a in accounts if str(a.id) == trial.values.get("account")), "EUR"
        ),
        is_self=person.id == ctx.require_actor().user_id,
    )


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


def _step_up_amount(above: StepUpAmount | None) -> dict[str, str]:
    """The step-up amount as the settings form shows it (none: EUR, empty)."""
    if above is None:
        return {"step_up_currency": "EUR", "step_up_amount": ""}
    amount = decimal_text(above.amount, above.currency, grouped=True)
    return {"step_up_currency": above.currency, "step_up_amount": amount}


def tenant_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    tenant_id: int,
    *,
    status: int = 200,
    new_account: Entry | None = None,
    cap: Entry | None = None,
    settings: Entry | None = None,
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
        "settings": settings
        or Entry(
            values={
                "beneficiary_approval_required": tenant.beneficiary_approval_required,
                "new_beneficiary_hours": str(tenant.new_beneficiary_hours),
                "payment_expiry_days": str(tenant.payment_expiry_days),
                "dual_admin": tenant.dual_admin,
                "step_up_minutes": str(tenant.step_up_minutes),
                **_step_up_amount(tenant.step_up_transfer),
            }
        ),
    }
    return render(
        request, session, ctx, "tenant.html", ws=ws, status=status, title=tenant.name, **values
    )
