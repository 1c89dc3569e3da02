"""Approval rules: a company's tiers, which its corporate admins edit with the bank's minimums
shown above them, and the bank's minimums, which bank managers edit on a page of their own.

The editor is one form of rows (currency, from amount, kind, account, approvals, from group
A); saving replaces every rule at once, as the service does. A refusal about one rule (asking
less than the bank's minimums, more from group A than in all) comes back beside that row's
field: the service names the rule and the field, the form knows which row it was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from admin import forms
from admin.deps import CheckedForm, ConsoleUnit
from admin.errors import FormRefused
from admin.forms import Entry
from admin.views import decimal_text, redirect, render, sent_for_approval
from admin.workspace import workspace
from core.context import RequestContext
from core.errors import MandateError
from core.fields import MAX_ID
from core.governance import operations
from core.iam import service as iam
from core.ledger import service as ledger
from core.money import is_currency
from core.pagination import MAX_PAGE
from core.payments import service as payments
from core.payments.schemas import ApprovalRuleIn, ApprovalRulePublic, ApprovalRulesPut, RuleKind

router = APIRouter()

RULE_FIELDS = ("currency", "min_amount", "kind", "account_id", "approvals", "group_a")
KINDS = get_args(RuleKind)
# Empty rows the editor adds to the rules, to add more; and the most rows it reads (the
# service's schema refuses more than its own maximum of rules, above the form).
BLANK_ROWS = 2
MAX_ROWS = 100
OptionalId = Annotated[str, Query(max_length=12)]


def name_of(row: int, field: str) -> str:
    """A row's field in the form: rules-0-currency, rules-0-min_amount, …"""
    return f"rules-{row}-{field}"


def shown_rows(rules: list[ApprovalRulePublic]) -> dict[str, Any]:
    """The editor's values for the rules as they are, and empty rows to add more."""
    values: dict[str, Any] = {}
    for row, rule in enumerate(rules):
        values.update(
            {
                name_of(row, "currency"): rule.currency,
                name_of(row, "min_amount"): decimal_text(
                    rule.min_amount, rule.currency, grouped=True
                ),
                name_of(row, "kind"): rule.kind,
                name_of(row, "account_id"): rule.account_id or "",
                name_of(row, "approvals"): str(rule.approvals),
                name_of(row, "group_a"): str(rule.group_a),
            }
        )
    for row in range(len(rules), len(rules) + BLANK_ROWS):
        values[name_of(row, "currency")] = rules[-1].currency if rules else "EUR"
    values["rows"] = len(rules) + BLANK_ROWS
    return values


@dataclass(frozen=True)
class Edited:
    """The rules a form asks for, which row of the form each came from, and the entry to
    show the form again with."""

    body: ApprovalRulesPut
    rows: list[int]
    entry: Entry


def _count(typed: str, low: int) -> int | None:
    return int(typed) if typed.isdigit() and low <= int(typed) <= 5 else None


def read_rule(entry: Entry, form: FormData, row: int, *, bank: bool) -> ApprovalRuleIn | None:
    """One row of the editor; None for an empty or removed row, or one with mistakes."""
    typed = {f: forms.text(form, name_of(row, f), 40) for f in RULE_FIELDS}
    typed["currency"] = typed["currency"].upper()
    removed = bool(forms.text(form, name_of(row, "remove"), 5))
    entry.values.update({name_of(row, f): v for f, v in typed.items()})
    entry.values[name_of(row, "remove")] = removed
    if removed or not (typed["min_amount"] or typed["approvals"]):
        return None
    here = Entry()
    currency = typed["currency"]
    if not is_currency(currency):
        here.error("currency", "Enter a currency like EUR.")
    minimum = forms.amount(
        here, "min_amount", typed["min_amount"], currency, required=True, zero=True
    )
    if typed["kind"] not in KINDS:
        here.error("kind", "Choose which payments the rule is for.")
    approvals, group_a = _count(typed["approvals"], 1), _count(typed["group_a"] or "0", 0)
    if approvals is None:
        here.error("approvals", "Choose 1 to 5 approvals.")
    if group_a is None:
        here.error("group_a", "Choose 0 to 5 approvals from group A.")
    rule = None
    if not here.errors:
        rule = forms.build(
            here,
            ApprovalRuleIn,
            currency=currency,
            min_amount=minimum,
            kind=typed["kind"],
            account_id=None if bank else forms.ident(form, name_of(row, "account_id")),
            approvals=approvals,
            group_a=group_a,
        )
    for field, message in here.errors.items():
        entry.error(name_of(row, field or "approvals"), message)
    return rule


def read_rules(form: FormData, entry: Entry, *, bank: bool) -> Edited | None:
    """Every row of the editor; None if one has mistakes (they stand beside their fields)."""
    rows = forms.ident(form, "rows") or 0
    rules: list[ApprovalRuleIn] = []
    used: list[int] = []
    for row in range(min(rows, MAX_ROWS)):
        rule = read_rule(entry, form, row, bank=bank)
        if rule is not None:
            rules.append(rule)
            used.append(row)
    entry.values["rows"] = min(rows, MAX_ROWS)
    if entry.errors:
        return None
    body = forms.build(entry, ApprovalRulesPut, rules=rules)
    if body is None:
        return None
    return Edited(body, used, entry)


def place_refusal(edited: Edited, exc: MandateError) -> None:
    """Beside the row's field the refusal names (core.payments.rules: `rule`, `field`), or at
    the top of the form."""
    index, field = exc.context.get("rule"), exc.context.get("field")
    if isinstance(index, int) and 0 <= index < len(edited.rows) and field in RULE_FIELDS:
        # The row it stands beside says which rule it is about.
        detail = exc.detail.removeprefix(f"rule {index + 1}: ")
        edited.entry.error(name_of(edited.rows[index], str(field)), forms.sentence(detail))
    else:
        edited.entry.place(exc, ())


def rules_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    tenant_id: int | None,
    *,
    entry: Entry | None = None,
    status: int = 200,
) -> Response:
    ws = workspace(session, ctx)
    if ws.actor.is_staff and tenant_id is None:
        # Bank staff read a customer's rules from its page; their own are the minimums.
        return redirect("/approval-minimums")
    rules = payments.get_rules(session, ctx, tenant_id)
    owner = tenant_id if tenant_id is not None else ws.actor.tenant_id
    tenant_name = ws.tenant_name or iam.get_tenant(session, ctx, owner or 0).name
    accounts = [
        a
        for a in ledger.list_accounts(session, ctx, tenant_id=owner, limit=MAX_PAGE).items
        if a.kind == "customer"
    ]
    return render(
        request,
        session,
        ctx,
        "approval_rules.html",
        ws=ws,
        status=status,
        title="Approval rules",
        bank=False,
        owner_name=tenant_name,
        minimums=rules.bank,
        rules=rules.tenant,
        accounts=accounts,
        may_edit=not ws.actor.is_staff and ws.holds("approval_rule.manage"),
        entry=entry or Entry(values=shown_rows(rules.tenant)),
        kinds=KINDS,
    )


@router.get("/approval-rules", name="console.approval_rules")
def approval_rules(request: Request, uow: ConsoleUnit, tenant: OptionalId = "") -> Response:
    tenant_id = int(tenant) if tenant.isdigit() and 1 <= int(tenant) <= MAX_ID else None
    return uow.run(lambda session, ctx: rules_page(request, session, ctx, tenant_id))


def _save(request: Request, uow: ConsoleUnit, form: FormData, *, bank: bool) -> Response:
    def read(session: Session, ctx: RequestContext, entry: Entry) -> Edited | None:
        return read_rules(form, entry, bank=bank)

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        if bank:
            return minimums_page(request, session, ctx, entry=entry, status=code)
        return rules_page(request, session, ctx, None, entry=entry, status=code)

    def act(session: Session, ctx: RequestContext, edited: Edited) -> Response:
        try:
            if bank:
                outcome = operations.put_bank_approval_rules(session, ctx, edited.body)
            else:
                outcome = operations.put_approval_rules(session, ctx, edited.body)
        except MandateError as exc:
            place_refusal(edited, exc)
            raise FormRefused(exc, again(session, ctx, edited.entry, exc.status)) from exc
        requested = sent_for_approval(outcome)
        if requested is not None:
            return requested
        if bank:
            return redirect("/approval-minimums", done="minimums-saved")
        return redirect("/approval-rules", done="rules-saved")

    return forms.handle_form(uow, read, act, again)


@router.post("/approval-rules", name="console.save_approval_rules")
def save_approval_rules(request: Request, uow: ConsoleUnit, form: CheckedForm) -> Response:
    return _save(request, uow, form, bank=False)


def minimums_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    *,
    entry: Entry | None = None,
    status: int = 200,
) -> HTMLResponse:
    minimums = payments.get_bank_rules(session, ctx)
    ws = workspace(session, ctx)
    return render(
        request,
        session,
        ctx,
        "approval_rules.html",
        ws=ws,
        status=status,
        title="Approval minimums",
        bank=True,
        owner_name=ws.bank_name,
        minimums=minimums,
        rules=minimums,
        accounts=[],
        may_edit=ws.actor.is_staff and ws.holds("approval_minimum.manage"),
        entry=entry or Entry(values=shown_rows(minimums)),
        kinds=KINDS,
    )


@router.get("/approval-minimums", name="console.approval_minimums")
def approval_minimums(request: Request, uow: ConsoleUnit) -> HTMLResponse:
    return uow.run(lambda session, ctx: minimums_page(request, session, ctx))


@router.post("/approval-minimums", name="console.save_approval_minimums")
def save_approval_minimums(request: Request, uow: ConsoleUnit, form: CheckedForm) -> Response:
    return _save(request, uow, form, bank=True)
