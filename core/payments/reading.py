"""Reading payments: one with its approval trail (a scheduled one whose day has come executes
on the way), the lists (filtered in SQL from the same grant data as the decisions), the
approvals inbox (each kept only if the policy would let the caller approve it), what a
payment form may pay, and the payment as the API shows it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Mapped, Session
from sqlmodel import col

from core.context import RequestContext
from core.errors import NotFound
from core.ledger import repository as ledger
from core.models.ledger import Account
from core.models.payments import Beneficiary, Payment, PaymentApproval
from core.pagination import Page, PageRequest, paginate
from core.payments import lifecycle, repository
from core.payments.schemas import (
    ApprovalPublic,
    InboxItem,
    PaymentPublic,
    Requirement,
)
from core.payments.steps import tell_settled
from core.policy.facts import Approval, Resource
from core.policy.filters import payments_within_reach, readable_accounts, readable_in_tenant
from core.policy.panels import (
    Panel,
    Progress,
    approval_of,
    describe_needed,
    progress,
)
from core.policy.service import check, require_readable


class Waiting(Protocol):
    """A payment or a payment batch, as an approvals inbox reads it."""

    id: int | None
    account_id: int


W = TypeVar("W", bound=Waiting)
A = TypeVar("A")


def get_payment(session: Session, ctx: RequestContext, payment_id: int) -> PaymentPublic:
    """A payment with its approval trail; 404 unless the caller may read the paying account."""
    payment = repository.payment(
        session, payment_id, within=payments_within_reach(ctx.require_actor())
    )
    missing = NotFound(f"payment {payment_id} not found")
    if payment is None:
        raise missing
    account = ledger.account_snapshot(session, payment.account_id)
    assert account is not None
    require_readable(
        session, ctx, "account.read", Resource.of_account(account), not_found=missing.detail
    )
    if payment.status == "scheduled" and not ctx.read_only:
        # Its day may have come: executed on the way, as `mandate payments run` would (not
        # during a maintenance window: no money moves then; it is executed afterwards).
        tell_settled(session, ctx, lifecycle.settle(session, ctx.now(), payment_id=payment_id))
    approvals = repository.approvals_of(session, [payment_id])[payment_id]
    return payment_public(payment, approvals, beneficiary_name(session, payment), ctx.now())


def list_payments(
    session: Session,
    ctx: RequestContext,
    *,
    status: str | None = None,
    account_id: int | None = None,
    beneficiary_id: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[PaymentPublic]:
    """The payments from accounts the caller may read, newest first, filtered in the query."""
    page = PageRequest.of(cursor, limit)
    readable_ids = ledger.accounts(readable_accounts(session, ctx)).with_only_columns(
        col(Account.id)
    )
    where: ColumnElement[bool] = col(Payment.account_id).in_(readable_ids)
    if status is not None:
        where = where & _status_is(status, ctx.now())
    if account_id is not None:
        where = where & (col(Payment.account_id) == account_id)
    if beneficiary_id is not None:
        where = where & (col(Payment.beneficiary_id) == beneficiary_id)
    found = paginate(
        session,
        repository.payments(where),
        col(Payment.id),
        page,
        shape=lambda p: p,
        newest_first=True,
    )
    return Page(items=_publics(session, found.items, ctx.now()), next_cursor=found.next_cursor)


def _status_is(status: str, now: dt.datetime) -> ColumnElement[bool]:
    """Payments in `status` as readers see it (its hold is released when it is next written:
    `mandate payments expire`, or a payment from its account)."""
    return status_as_read(col(Payment.status), col(Payment.expires_at), status, now)


def status_as_read(
    column: Mapped[str],
    expires_at: Mapped[dt.datetime | None],
    status: str,
    now: dt.datetime,
) -> ColumnElement[bool]:
    """A filter on `status` as readers see it, for whatever waits for approval until it
    expires (a payment, a payment batch): one still waiting past its expiry is expired."""
    if status == "pending_approval":
        return (column == status) & (expires_at > now)
    if status == "expired":
        return (column == status) | ((column == "pending_approval") & (expires_at <= now))
    return column == status


def inbox(session: Session, ctx: RequestContext, *, limit: int = 100) -> list[InboxItem]:
    """What the caller may approve now, oldest first: the payments waiting on accounts where
    a grant of theirs carries payment.approve, each kept only if the policy would let them
    approve it (the same decision as the approval itself), with what approving would do."""
    waiting = repository.awaiting(
        session,
        readable_accounts(session, ctx, "payment.approve"),
        ctx.require_actor().user_id,
        ctx.now(),
        limit=limit,
    )
    approvals = repository.approvals_of(session, [p.id or 0 for p in waiting])
    names = repository.beneficiary_names(session, [p.beneficiary_id for p in waiting])
    return [
        InboxItem(
            payment=payment_public(
                payment,
                approvals[payment.id or 0],
                names.get(payment.beneficiary_id, ""),
                ctx.now(),
            ),
            approving_would=approving_would(payment, approvals[payment.id or 0], group),
        )
        for payment, group in approvable(session, ctx, waiting, approvals, approval_of)
    ]


def approvable(
    session: Session,
    ctx: RequestContext,
    waiting: Sequence[W],
    approvals: Mapping[int, Sequence[A]],
    approval_of: Callable[[W, Sequence[A]], Approval],
) -> Iterator[tuple[W, str | None]]:
    """Of what waits (payments, or batches approved as one), each the policy would let the
    caller approve now (the same decision as the approval, not recorded; one that asks a
    step-up counts), with the signature group of the grant it would go through."""
    for item in waiting:
        account = ledger.account_snapshot(session, item.account_id)
        assert account is not None
        verdict = check(
            session,
            ctx,
            "payment.approve",
            Resource.of_account(account),
            approval=approval_of(item, approvals[item.id or 0]),
            record=False,
        )
        if verdict.possible:
            yield item, verdict.grant.approval_group


def approving_would(
    payment: Payment, approvals: Sequence[PaymentApproval], group: str | None
) -> str:
    """What one more approval, from `group`, would do to a waiting payment: "post it", "send
    it", or "leave 1 more approval from group A to go"."""
    panel = Panel(payment.required_approvals, payment.required_group_a)
    after = progress(panel, [*(a.approval_group for a in approvals), group])
    if not after.satisfied:
        return f"leave {describe_needed(after)} to go"
    return "send it" if payment.kind == "external" else "post it"


def payable_beneficiaries(session: Session, ctx: RequestContext) -> list[Beneficiary]:
    """The beneficiaries the caller's company can pay now (active, not deleted), by name:
    what a payment form offers. Empty unless the caller may read beneficiaries."""
    actor = ctx.require_actor()
    if actor.tenant_id is None:
        return []
    readable = readable_in_tenant(
        session,
        ctx,
        "beneficiary.read",
        tenant_column=col(Beneficiary.tenant_id),
        bank_column=col(Beneficiary.bank_id),
    )
    return list(
        session.scalars(
            select(Beneficiary)
            .where(
                readable,
                col(Beneficiary.status) == "active",
                col(Beneficiary.deleted_at).is_(None),
            )
            .order_by(col(Beneficiary.name), col(Beneficiary.id))
            .limit(500)
        )
    )


def _publics(session: Session, rows: Sequence[Payment], now: dt.datetime) -> list[PaymentPublic]:
    approvals = repository.approvals_of(session, [p.id or 0 for p in rows])
    names = repository.beneficiary_names(session, [p.beneficiary_id for p in rows])
    return [
        payment_public(p, approvals[p.id or 0], names.get(p.beneficiary_id, ""), now) for p in rows
    ]


def beneficiary_name(session: Session, payment: Payment) -> str:
    return repository.beneficiary_names(session, [payment.beneficiary_id]).get(
        payment.beneficiary_id, ""
    )


def payment_public(
    payment: Payment,
    approvals: Sequence[PaymentApproval],
    beneficiary_name: str,
    now: dt.datetime | None = None,
) -> PaymentPublic:
    """The payment as the API shows it. Seen at `now`, one still waiting past its expiry is
    expired, whether or not its hold was released yet."""
    assert payment.id is not None
    panel = Panel(payment.required_approvals, payment.required_group_a)
    status = payment.status
    if (
        status == "pending_approval"
        and now is not None
        and payment.expires_at is not None
        and payment.expires_at <= now
    ):
        status = "expired"
    left: Progress = (
        progress(panel, [a.approval_group for a in approvals])
        if status == "pending_approval"
        else Progress(0, 0)
    )
    return PaymentPublic(
        id=payment.id,
        account_id=payment.account_id,
        beneficiary_id=payment.beneficiary_id,
        beneficiary_name=beneficiary_name,
        kind=payment.kind,
        amount=payment.amount,
        currency=payment.currency,
        reference=payment.reference,
        execution_date=payment.execution_date,
        status=status,
        required=Requirement(
            approvals=panel.approvals,
            group_a=panel.group_a,
            still_needed=left.still_needed,
            still_needed_a=left.still_needed_a,
            text=describe_needed(left),
        ),
        approvals=[
            ApprovalPublic(approver=a.approver_id, approval_group=a.approval_group, at=a.created_at)
            for a in approvals
        ],
        expires_at=payment.expires_at,
        transfer_id=payment.transfer_id,
        initiated_by=payment.initiated_by_id,
        created_at=payment.created_at,
        ended_at=payment.ended_at,
        ended_by=payment.ended_by_id,
        end_reason=payment.end_reason,
        payment_batch_id=payment.payment_batch_id,
    )
