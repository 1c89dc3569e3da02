"""Each credit transfer of an uploaded file, decided on its own, as a payment would be: its
amount read in the account's currency, its creditor's IBAN checked by schwifty, its
beneficiary resolved (the company's beneficiary with that IBAN; a creditor the company does
not have yet becomes a new beneficiary by the beneficiary rules: added by the uploader if the
policy lets them add beneficiaries, pending where the company has new beneficiaries approved
first, and new, so its batch needs at least one approval), and its own policy decision
(payment.create over the paying account: per-transfer limit, daily and monthly limits with
the items accepted before it counted, time window, caps). A refusal is the item's, with its
code and sentence; the items before and after it are decided all the same."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy.orm import Session

from core.batches import repository
from core.batches.pain001 import CreditTransfer
from core.context import RequestContext
from core.errors import Forbidden, InvalidRequest, MandateError
from core.ledger import repository as ledger
from core.ledger.identifiers import parse_iban
from core.models.batches import PaymentBatchItem
from core.models.iam import Tenant
from core.models.ledger import Account
from core.models.payments import Beneficiary
from core.money import parse_amount
from core.payments import lifecycle
from core.payments.beneficiaries import create_beneficiary, is_new, payment_money
from core.payments.beneficiary_schemas import BeneficiaryCreate
from core.payments.terms import check_two_accounts, credit_account_id, kind_of
from core.policy import spend
from core.policy.facts import Resource
from core.policy.service import permit


@dataclass
class Upload:
    """What deciding the items of one file carries from one item to the next: the paying
    account and its company, and what the items accepted so far add up to."""

    subject: Account
    tenant: Tenant
    now: dt.datetime
    accepted_total: int = 0
    spend_day: dt.date | None = None
    credits: dict[int, Account] = field(default_factory=dict)
    # The company's live beneficiaries by IBAN, read once for the file (see upload.py).
    beneficiaries: dict[str, Beneficiary] = field(default_factory=dict)


def decide(
    session: Session, ctx: RequestContext, upload: Upload, transfer: CreditTransfer
) -> PaymentBatchItem:
    """The item of `transfer`: accepted (its amount counted against the uploader's limits, in
    this transaction and under their lock) or refused with its reason."""
    item = PaymentBatchItem(
        batch_id=0,
        position=transfer.position,
        end_to_end_id=transfer.end_to_end_id[:35],
        creditor_name=transfer.creditor_name[:140],
        creditor_iban=transfer.creditor_iban[:34],
        amount=0,
        currency=transfer.currency,
        reference=transfer.reference[:140],
        status="accepted",
    )
    try:
        _accept(session, ctx, upload, transfer, item)
    except MandateError as refusal:
        item.status = "refused"
        item.reason = refusal.code
        item.detail = refusal.detail[:500]
    return item


def _accept(
    session: Session,
    ctx: RequestContext,
    upload: Upload,
    transfer: CreditTransfer,
    item: PaymentBatchItem,
) -> None:
    subject = upload.subject
    item.amount = _amount(transfer.amount, subject.currency)
    item.creditor_iban = parse_iban(transfer.creditor_iban)
    beneficiary = _beneficiary(session, ctx, upload, item)
    assert beneficiary.id is not None and subject.id is not None
    item.beneficiary_id = beneficiary.id
    credit = _credit_account(session, upload, beneficiary)
    # Asked as for one payment (its refusal raised, and kept as the item's): the uploader's
    # lock is taken with the first, so two batches at once never jointly pass a limit.
    verdict = permit(
        session,
        ctx,
        "payment.create",
        Resource.of_account(subject),
        money=payment_money(beneficiary, credit, item.amount, subject.currency),
        lock=True,
    )
    lifecycle.require_receiving(credit, subject, subject.currency)
    holding = Account(**{**subject.model_dump(), "held": subject.held + upload.accepted_total})
    lifecycle.require_available(holding, item.amount, subject.currency)
    item.credit_account_id = credit.id
    item.kind = kind_of(beneficiary, subject, credit)
    item.new_beneficiary = is_new(beneficiary, upload.tenant, upload.now)
    item.grant_id = verdict.decision.grant_id
    upload.spend_day = verdict.facts.day
    upload.accepted_total += item.amount
    # Limits count at initiation, item by item, so that the next item's decision sees this
    # one (given back if the batch ends without moving money).
    if item.grant_id is not None and verdict.facts.day is not None:
        spend.record(
            session,
            spend.Spend(
                item.grant_id,
                ctx.require_actor().user_id,
                subject.currency,
                verdict.facts.day,
                item.amount,
            ),
        )


def _amount(text: str, currency: str) -> int:
    try:
        amount = parse_amount(text, currency)
    except ValueError as exc:
        raise InvalidRequest(f"the amount {text!r}: {exc}", code="invalid_amount") from exc
    if amount <= 0:
        raise InvalidRequest("an amount is greater than zero", code="invalid_amount")
    return amount


def _beneficiary(
    session: Session, ctx: RequestContext, upload: Upload, item: PaymentBatchItem
) -> Beneficiary:
    """The company's beneficiary with the item's IBAN; a new one, by the beneficiary rules,
    when it has none (core.payments.beneficiaries.create_beneficiary, asked of the policy as
    for anyone adding one). 403 beneficiary_not_approved while it awaits approval."""
    assert upload.tenant.id is not None
    found = upload.beneficiaries.get(item.creditor_iban)
    if found is None:
        try:
            body = BeneficiaryCreate(name=item.creditor_name[:100] or "?", iban=item.creditor_iban)
        except ValidationError as exc:
            raise InvalidRequest(
                f"the creditor's name: {exc.errors()[0]['msg']}", code="invalid_request"
            ) from exc
        # The batch's attempt stays the request's activity; the addition is in the change log.
        attempt = ctx.audit.activity
        try:
            create_beneficiary(session, ctx, body)
        finally:
            ctx.audit.activity = attempt
        found = repository.live_beneficiary(session, upload.tenant.id, item.creditor_iban)
        assert found is not None
        upload.beneficiaries[item.creditor_iban] = found
    if found.status != "active":
        raise Forbidden(
            f"the beneficiary {found.name} awaits a second person's approval: nothing can be "
            "paid to it yet",
            code="beneficiary_not_approved",
        )
    return found


def _credit_account(session: Session, upload: Upload, beneficiary: Beneficiary) -> Account:
    subject = upload.subject
    assert subject.id is not None
    credit_id = credit_account_id(session, beneficiary, subject.bank_id, subject.currency)
    check_two_accounts(subject.id, credit_id)
    if credit_id not in upload.credits:
        credit = ledger.account_snapshot(session, credit_id)
        assert credit is not None
        upload.credits[credit_id] = credit
    return upload.credits[credit_id]
