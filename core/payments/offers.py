"""What a face offers a person about payments, before they act: which of approve, reject and
cancel the policy would let them do with a payment (and what their approval would do), how
many payments wait for their approval, and the names of the people a payment's trail shows.

Asked of the same decisions as the actions themselves, without recording them: a button shown
here is asked again, and recorded, when it is pressed; one hidden here would be refused. One
that needs a step-up is shown: pressing it asks for the code (Verdict.possible)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

from core.context import RequestContext
from core.errors import NotFound
from core.ledger import repository as ledger
from core.payments import repository
from core.payments.reading import approving_would
from core.payments.schemas import PaymentChoices
from core.policy.facts import Approval, Resource
from core.policy.filters import payments_within_reach, readable_accounts
from core.policy.panels import approval_of
from core.policy.service import check, require_readable


def payment_choices(session: Session, ctx: RequestContext, payment_id: int) -> PaymentChoices:
    """Which of approve, reject and cancel the policy would let the caller do with this
    payment now, and what approving it would do; 404 unless the caller may read the paying
    account (as get_payment)."""
    reach = payments_within_reach(ctx.require_actor())
    payment = repository.payment(session, payment_id, within=reach)
    missing = f"payment {payment_id} not found"
    account = ledger.account_snapshot(session, payment.account_id) if payment else None
    if payment is None or account is None:
        raise NotFound(missing)
    resource = Resource.of_account(account)
    require_readable(session, ctx, "account.read", resource, not_found=missing)
    approvals = repository.approvals_of(session, [payment_id])[payment_id]
    return choices_of(
        session,
        ctx,
        resource,
        approval_of(payment, approvals),
        lambda group: approving_would(payment, approvals, group),
    )


def choices_of(
    session: Session,
    ctx: RequestContext,
    resource: Resource,
    approval: Approval,
    would: Callable[[str | None], str],
) -> PaymentChoices:
    """Which of approve, reject and cancel the policy would let the caller do with what waits
    (a payment, or a batch approved as one), and what their approval would do (`would` of
    their signature group); one that needs a step-up is offered."""
    verdicts = {
        action: check(session, ctx, action, resource, approval=approval, record=False)
        for action in ("payment.approve", "payment.reject", "payment.cancel")
    }
    approve = verdicts["payment.approve"]
    said = would(approve.grant.approval_group) if approve.possible else None
    return PaymentChoices(
        approve=approve.possible,
        reject=verdicts["payment.reject"].possible,
        cancel=verdicts["payment.cancel"].possible,
        approving_would=said,
    )


def inbox_count(session: Session, ctx: RequestContext) -> int:
    """How many payments wait on accounts where the caller may approve payments, prepared
    and not yet approved by someone else (the inbox's candidates): one count, cheap enough
    for every page. The inbox itself asks the policy of each (an approval limit or a group
    already filled can keep one out of it)."""
    return repository.count_awaiting(
        session,
        readable_accounts(session, ctx, "payment.approve"),
        ctx.require_actor().user_id,
        ctx.now(),
    )


def colleague_names(session: Session, ctx: RequestContext, ids: Iterable[int]) -> dict[int, str]:
    """Display names of the people a payment's trail shows (who prepared, approved or ended
    it), as far as they are the caller's colleagues: of the caller's company, or, for bank
    staff, of their bank. Whoever may read a payment may know who acted on it."""
    actor = ctx.require_actor()
    return repository.display_names(
        session, sorted(set(ids)), bank_id=actor.bank_id, tenant_id=actor.tenant_id
    )
