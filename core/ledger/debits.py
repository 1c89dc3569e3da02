"""Before the ledger debits an account, what others hold on it is settled first.

Money can be held on an account by what the ledger does not know: a payment awaiting approval
holds its amount (accounts.held) until it is approved, rejected, cancelled or expires, and a
payment approved for a later day holds it until it executes. A payment past its expiry still
holds its amount until something ends it, so a transfer or a withdrawal would be refused
money that is free in all but name (and a due scheduled payment would wait for the next run).

The ledger cannot end those payments itself: core.ledger may not import core.payments
(.importlinter: payments are built on the ledger's postings, never the other way round), and
a rule of payments written here would be a second copy of it. So the ledger keeps this seam
instead. Before it locks the accounts of a debit, it calls each settler registered here with
the account debited and every account the movement will lock, in the same transaction; a
settler locks what it settles first (payment rows before accounts, the order every payment
operation keeps) and then all the accounts together in id order, so the debit that follows
locks nothing out of order. The composition root registers core.payments' settler
(core.runtime.compose, called by api.app.create_app): a process that never composes simply
debits as before, holds counted as they stand."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from core.context import RequestContext

# settler(session, ctx, debited account id, every account id the movement locks)
Settler = Callable[[Session, RequestContext, int, Sequence[int]], None]

_SETTLERS: dict[str, Settler] = {}


def register(name: str, settler: Settler) -> None:
    """Let `settler` settle an account before each debit (again under one name: replaced)."""
    _SETTLERS[name] = settler


def settle_before_debit(
    session: Session, ctx: RequestContext, account_id: int, account_ids: Sequence[int]
) -> None:
    """Run every registered settler for a debit of `account_id` (the movement will lock
    `account_ids`)."""
    for settler in list(_SETTLERS.values()):
        settler(session, ctx, account_id, account_ids)
