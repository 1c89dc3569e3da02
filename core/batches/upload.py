"""Uploading a pain.001 file as a payment batch.

The file is refused as a whole, and nothing is created, when it is not a valid pain.001 of
a version taken (core.batches.pain001), its MsgId was sent before by the company (409
duplicate_message_id; a unique index holds it under concurrency), it pays from an account
that is not the caller's company's or that the caller may not read (404), an item is in a
currency the account does not hold (422 currency_mismatch), or its date is past the horizon.

Otherwise each credit transfer is decided on its own (core.batches.items). A refused item is
kept with its reason and never moves money; the batch is created with the accepted ones, as
a bank answers a file it partly accepts (pain.002 group status PART): its approvers see what
will move and what will not, and who prepared it pays the refused ones again once fixed, or
cancels the batch. A file whose every item is refused creates nothing (422
payment_batch_refused, with every item's reason). The accepted items' total is held on the
account and counted against the uploader's daily and monthly limits, as a payment awaiting
approval is, under the uploader's lock (two batches at once never jointly pass a limit); the
panel (policies/approvals.polar: batch_panel) says who must approve it; a batch no tier
catches is posted at once, as such a payment is.

Locks, in the order every payment operation takes them: the lapsed payments and batches of
the account being settled, the paying account, then the person (with the first decision)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from core.audit.changes import record_change
from core.batches import lifecycle, pain001, repository
from core.batches.items import Upload, decide
from core.batches.reading import batch_public, readable_batch
from core.batches.schemas import BatchResult, PaymentBatchPublic
from core.context import RequestContext
from core.db import unique_or
from core.errors import Conflict, Forbidden, InvalidRequest, MandateError, NotFound
from core.ledger import idempotency
from core.ledger import repository as ledger
from core.models.batches import PaymentBatch, PaymentBatchItem
from core.models.iam import Tenant
from core.models.ledger import Account
from core.money import format_amount
from core.payments import lifecycle as payments
from core.payments import repository as payment_rows
from core.payments.steps import tell_settled
from core.payments.terms import expiry_of
from core.policy import registry
from core.policy.facts import Resource
from core.policy.filters import accounts_within_reach
from core.policy.panels import Panel, batch_panel_for, describe_needed, progress
from core.policy.reasons import Reason, status_of
from core.policy.service import require_readable


def create_batch(
    session: Session, ctx: RequestContext, data: bytes, idempotency_key: str | None
) -> BatchResult:
    """Take a pain.001 file as a payment batch: pending_approval with its total held (or
    approved and posted at once when its panel asks nothing). Exactly once per key."""
    actor = ctx.require_actor()
    ctx.audit.attempt("payment.create", idempotency_key=idempotency_key, target="payment batch")
    key = idempotency.validate_key(idempotency_key)
    file = pain001.read_file(data)
    ticket = idempotency.hold(session, actor, key, "payment_batch", {"sha256": file.sha256})
    earlier = idempotency.stored(session, ticket)
    if earlier is not None:
        return _replayed(session, ctx, idempotency.replay(earlier, ticket))
    subject = _paying_account(session, ctx, file.debtor_iban)
    tenant = session.get(Tenant, subject.tenant_id)
    assert tenant is not None and tenant.id is not None and subject.id is not None
    duplicate = Conflict(
        f"{tenant.name} already sent a file with the MsgId {file.msg_id!r}: a file is taken "
        "once; send a corrected file with a new MsgId",
        code="duplicate_message_id",
    )
    if repository.msg_id_taken(session, tenant.id, file.msg_id):
        raise duplicate
    _check_currencies(file, subject)
    now = ctx.now()
    today = payments.company_today(session, tenant.id, now)
    execution_date = _execution_date(file.execution_date, today)
    subject = _settled(session, ctx, subject.id, now)
    upload = Upload(subject=subject, tenant=tenant, now=now)
    upload.beneficiaries = repository.live_beneficiaries(
        session, tenant.id, [_compact(t.creditor_iban) for t in file.transfers]
    )
    items = [decide(session, ctx, upload, transfer) for transfer in file.transfers]
    accepted = [item for item in items if item.status == "accepted"]
    if not accepted:
        raise _all_refused(items)
    batch = _batch(session, file, upload, accepted, len(items), execution_date, actor.user_id)
    with unique_or(session, duplicate):
        session.add(batch)
        session.flush()
    for item in items:
        item.batch_id = batch.id or 0
    session.add_all(items)
    payment_rows.change_held(session, batch.account_id, batch.total, now)
    session.flush()
    return _answer(session, ctx, ticket, batch, items, subject)


def _paying_account(session: Session, ctx: RequestContext, iban: str) -> Account:
    """The file's debtor account: an account of the caller's company they may read; 404
    otherwise (bank staff pay no one; another company's IBAN is as absent as none)."""
    actor = ctx.require_actor()
    missing = f"no account of yours has the IBAN {iban}"
    account = repository.account_by_iban(session, iban, within=accounts_within_reach(actor))
    if account is None:
        raise NotFound(missing)
    require_readable(session, ctx, "account.read", Resource.of_account(account), not_found=missing)
    if actor.tenant_id is None or account.tenant_id != actor.tenant_id:
        raise NotFound(missing)
    return account


def _compact(iban: str) -> str:
    """An IBAN as a file may write it, in electronic form (schwifty checks it later)."""
    return "".join(iban.split()).upper()


def _check_currencies(file: pain001.PaymentFile, subject: Account) -> None:
    for transfer in file.transfers:
        if transfer.currency != subject.currency:
            raise InvalidRequest(
                f"payment {transfer.position} ({transfer.end_to_end_id}) is in "
                f"{transfer.currency}; account {subject.id} holds {subject.currency}: a batch "
                "pays in its account's currency",
                code="currency_mismatch",
            )


def _execution_date(requested: dt.date | None, today: dt.date) -> dt.date | None:
    """The requested execution date, as banks read a file's: today or a day that has passed
    (1999-01-01 is ERP software's "as soon as possible") is at once; a later day within the
    horizon schedules the payments for it; beyond, the file is refused."""
    if requested is None or requested <= today:
        return None
    payments.check_execution_date(requested, today)
    return requested


def _settled(session: Session, ctx: RequestContext, account_id: int, now: dt.datetime) -> Account:
    """The paying account, locked, once what is due on it is settled: its lapsed payments and
    batches give their holds back, its scheduled payments due today execute. 409 when it can
    be debited no more (frozen, closed)."""
    tell_settled(
        session, ctx, payments.settle(session, now, account_id=account_id, also_lock=[account_id])
    )
    lifecycle.expire(session, now, account_id=account_id, also_lock=[account_id])
    subject = ledger.lock_accounts(session, [account_id])[account_id]
    if subject.status in ("frozen", "closed"):
        raise Conflict(
            f"account {subject.id} is {subject.status}", code=f"account_{subject.status}"
        )
    return subject


def _batch(
    session: Session,
    file: pain001.PaymentFile,
    upload: Upload,
    accepted: list[PaymentBatchItem],
    item_count: int,
    execution_date: dt.date | None,
    initiated_by: int,
) -> PaymentBatch:
    """The batch of the accepted items, with the panel its total needs."""
    subject, tenant = upload.subject, upload.tenant
    assert subject.id is not None and tenant.id is not None and upload.spend_day is not None
    total = sum(item.amount for item in accepted)
    panel = batch_panel_for(
        payment_rows.tiers(session, subject.bank_id, tenant.id, subject.currency),
        currency=subject.currency,
        total=total,
        kinds=[item.kind or "external" for item in accepted],
        account_id=subject.id,
        new_beneficiary=any(item.new_beneficiary for item in accepted),
        # The company's panel, as its own policy version says (as a payment's).
        engine=registry.for_tenant(tenant.id),
    )
    return PaymentBatch(
        bank_id=subject.bank_id,
        tenant_id=tenant.id,
        account_id=subject.id,
        msg_id=file.msg_id,
        schema_version=file.version,
        file_sha256=file.sha256,
        currency=subject.currency,
        execution_date=execution_date,
        status="pending_approval",
        item_count=item_count,
        accepted_count=len(accepted),
        total=total,
        required_approvals=panel.approvals,
        required_group_a=panel.group_a,
        initiated_by_id=initiated_by,
        spend_day=upload.spend_day,
        expires_at=expiry_of(upload.now, tenant.payment_expiry_days),
        created_at=upload.now,
    )


def _answer(
    session: Session,
    ctx: RequestContext,
    ticket: idempotency.IdempotencyClaim,
    batch: PaymentBatch,
    items: list[PaymentBatchItem],
    subject: Account,
) -> BatchResult:
    """Post at once what no tier catches; record, store and describe the batch."""
    now = ctx.now()
    if batch.required_approvals == 0:
        accounts = ledger.lock_accounts(session, lifecycle.accounts_of(session, batch))
        lifecycle.post(session, batch, accounts, now, by=batch.initiated_by_id)
    assert batch.id is not None
    ctx.audit.payment_batch_id = batch.id
    public = batch_public(batch, [], items=items, session=session, now=now)
    record_change(ctx, "payment_batch", batch.id, "create", batch.tenant_id, after=_summary(public))
    idempotency.store(
        session, ticket, body=public.model_dump(mode="json"), transfer_id=None, at=now
    )
    if ctx.audit.activity:
        ctx.audit.activity.account_id = batch.account_id
        ctx.audit.activity.amount = batch.total
        ctx.audit.activity.currency = batch.currency
        ctx.audit.activity.target = f"payment batch {batch.id}"
    ctx.audit.done(_said(batch, subject))
    return BatchResult(public)


def _said(batch: PaymentBatch, subject: Account) -> str:
    count = batch.accepted_count
    said = (
        f"uploaded payment batch {batch.id} ({batch.msg_id}): {count} payment"
        f"{'s' if count != 1 else ''} of {format_amount(batch.total, batch.currency)} in all "
        f"from {subject.name}"
    )
    refused = batch.item_count - count
    if refused:
        said += f", {refused} refused"
    if batch.status == "approved":
        return said + "; no approval was needed: posted"
    needed = progress(Panel(batch.required_approvals, batch.required_group_a), [])
    return said + f"; it needs {describe_needed(needed)}"


def _summary(public: PaymentBatchPublic) -> PaymentBatchPublic:
    """The batch as the change log keeps it: without its items (GET has them)."""
    return public.model_copy(update={"items": None})


def _all_refused(items: list[PaymentBatchItem]) -> MandateError:
    """A file whose every payment was refused creates nothing. Refused by the policy for one
    reason alone (a bookkeeper's file: missing_permission), it answers that refusal, 403 with
    its code; otherwise 422 payment_batch_refused. Either way with every item's reason."""
    body = {"items": [_refusal(item) for item in items]}
    reasons = {item.reason for item in items}
    reason = reasons.pop() if len(reasons) == 1 else ""
    if reason in Reason.__members__ and status_of(reason) == 403:
        return Forbidden(items[0].detail, code=reason, body=body)
    return InvalidRequest(
        f"every one of the file's {len(items)} payments was refused: nothing was created",
        code="payment_batch_refused",
        body=body,
    )


def _refusal(item: PaymentBatchItem) -> dict[str, Any]:
    return {
        "position": item.position,
        "end_to_end_id": item.end_to_end_id,
        "error": item.reason,
        "detail": item.detail,
    }


def _replayed(session: Session, ctx: RequestContext, body: dict[str, Any]) -> BatchResult:
    """The stored answer, to whoever may still read the batch."""
    readable_batch(session, ctx, int(body["id"]))
    ctx.audit.payment_batch_id = int(body["id"])
    if ctx.audit.activity:
        ctx.audit.activity.replayed = True
    return BatchResult(PaymentBatchPublic.model_validate(body), replayed=True)
