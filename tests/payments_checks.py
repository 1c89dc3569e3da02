"""Invariants of payments under dual control, checked straight against the database: what the
ledger checker (`mandate ledger check`) does not know yet about holds, pending payments and
the limits they count against. Shared by the state machine and the concurrency tests."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models.iam import Grant, GrantSpend, PersonSpend, Tenant
from core.models.ledger import Account, Transfer
from core.models.payments import Payment, PaymentApproval, PaymentEvent

MOVED = ("posted", "sent")
# The statuses whose amount is held: awaiting approval, or approved for a later day.
HELD = ("pending_approval", "scheduled")
# The statuses whose amount counts against the payer's limits: the money moved, or may still.
COUNTED = (*HELD, *MOVED)
ENDED_UNMOVED = ("rejected", "cancelled", "expired", "failed")


@dataclass(frozen=True)
class PaymentsState:
    """Every row the payment invariants read, in one read transaction."""

    accounts: dict[int, Account]
    payments: dict[int, Payment]
    approvals: dict[int, list[PaymentApproval]]
    steps: dict[int, list[PaymentEvent]]
    transfers: dict[int, Transfer]
    grants: dict[int, Grant]
    zones: dict[int, ZoneInfo]
    grant_spend: dict[tuple[int, str, dt.date], int]
    person_spend: dict[tuple[int, str, dt.date], int]

    @classmethod
    def read(cls, session: Session) -> PaymentsState:
        approvals: dict[int, list[PaymentApproval]] = defaultdict(list)
        for row in session.scalars(select(PaymentApproval).order_by(PaymentApproval.id)):
            approvals[row.payment_id].append(row)
        steps: dict[int, list[PaymentEvent]] = defaultdict(list)
        for step in session.scalars(select(PaymentEvent).order_by(PaymentEvent.id)):
            steps[step.payment_id].append(step)
        return cls(
            accounts={a.id: a for a in session.scalars(select(Account))},  # type: ignore[misc]
            payments={p.id: p for p in session.scalars(select(Payment))},  # type: ignore[misc]
            approvals=approvals,
            steps=steps,
            transfers={t.id: t for t in session.scalars(select(Transfer))},  # type: ignore[misc]
            grants={g.id: g for g in session.scalars(select(Grant))},  # type: ignore[misc]
            zones={t.id: ZoneInfo(t.timezone) for t in session.scalars(select(Tenant))},  # type: ignore[misc]
            grant_spend={
                (s.grant_id, s.currency, s.day): s.amount
                for s in session.scalars(select(GrantSpend))
                if s.amount != 0
            },
            person_spend={
                (s.user_id, s.currency, s.day): s.amount
                for s in session.scalars(select(PersonSpend))
                if s.amount != 0
            },
        )

    def pending_held(self) -> dict[int, int]:
        """What the payments still waiting (for approval or their day) hold, per account."""
        held: dict[int, int] = defaultdict(int)
        for p in self.payments.values():
            if p.status in HELD:
                held[p.account_id] += p.amount
        return held

    def expected_spend(self) -> tuple[dict[Any, int], dict[Any, int]]:
        """The running totals the payments and transfers account for: a payment counts on
        the day it was made, from then on unless it ended without moving money; any other
        transfer under a grant on its tenant-local day (a payment's posting is the payment's,
        already counted)."""
        by_grant: dict[tuple[int, str, dt.date], int] = defaultdict(int)
        by_person: dict[tuple[int, str, dt.date], int] = defaultdict(int)
        for p in self.payments.values():
            if p.status in COUNTED and p.grant_id is not None and p.spend_day is not None:
                by_grant[(p.grant_id, p.currency, p.spend_day)] += p.amount
                by_person[(p.initiated_by_id, p.currency, p.spend_day)] += p.amount
        for t in self.transfers.values():
            if t.kind == "payment" or t.grant_id is None or t.tenant_id is None:
                continue
            day = t.created_at.astimezone(self.zones[t.tenant_id]).date()
            by_grant[(t.grant_id, t.currency, day)] += t.amount
            by_person[(t.initiated_by_id, t.currency, day)] += t.amount
        return (
            {k: v for k, v in by_grant.items() if v != 0},
            {k: v for k, v in by_person.items() if v != 0},
        )


def assert_payments_consistent(session: Session) -> PaymentsState:
    """Every payment invariant; returns what it read, for more checks by the caller."""
    state = PaymentsState.read(session)
    payment_transfers: Counter[int] = Counter()
    for p in state.payments.values():
        approvals = state.approvals.get(p.id or 0, [])
        _assert_panel_kept(p, approvals)
        _assert_logged(p, approvals, state.steps.get(p.id or 0, []))
        if p.status in MOVED:
            assert p.transfer_id is not None, p
            payment_transfers[p.transfer_id] += 1
            transfer = state.transfers[p.transfer_id]
            assert transfer.kind == "payment", (p.id, transfer)
            assert (transfer.debit_account_id, transfer.credit_account_id) == (
                p.account_id,
                p.credit_account_id,
            ), (p.id, transfer)
            assert (transfer.amount, transfer.currency) == (p.amount, p.currency), (p.id, transfer)
            assert (p.status == "sent") == (p.kind == "external"), p
            assert p.ended_at is not None, p
        else:
            assert p.transfer_id is None, p
        if p.status in ENDED_UNMOVED:
            assert p.ended_at is not None, p
        if p.status == "pending_approval":
            assert p.ended_at is None and p.expires_at is not None, p
        if p.status == "scheduled":
            # Approved (its panel satisfied), for a later day; it no longer expires.
            assert p.ended_at is None and p.expires_at is None, p
            assert p.execution_date is not None, p
    # A payment's posting belongs to that payment alone, and every payment transfer to one.
    assert all(count == 1 for count in payment_transfers.values()), payment_transfers
    by_kind = {t.id for t in state.transfers.values() if t.kind == "payment"}
    assert by_kind == set(payment_transfers), (by_kind, set(payment_transfers))

    # Conservation: every balance, clearing accounts included, sums to zero per currency.
    per_currency: Counter[str] = Counter()
    for account in state.accounts.values():
        per_currency[account.currency] += account.balance
    assert all(total == 0 for total in per_currency.values()), per_currency

    held = state.pending_held()
    for account in state.accounts.values():
        assert account.held == held.get(account.id or 0, 0), (account.id, account.held, held)
        if account.kind == "customer":
            # Nothing pending can take available below the floor.
            assert account.balance - account.held >= -account.overdraft_limit, account

    expected_grants, expected_people = state.expected_spend()
    assert state.grant_spend == expected_grants, (state.grant_spend, expected_grants)
    assert state.person_spend == expected_people, (state.person_spend, expected_people)
    _assert_grant_limits(state)
    return state


def _assert_panel_kept(p: Payment, approvals: list[PaymentApproval]) -> None:
    """Four eyes and the panel: approvers are others than the initiator, each once; every
    approval filled a place (so group B never takes a place reserved for group A); money
    moved only once the panel was satisfied, and a satisfied panel does not wait."""
    approvers = [a.approver_id for a in approvals]
    assert len(approvers) == len(set(approvers)), (p.id, approvers)
    assert p.initiated_by_id not in approvers, (p.id, approvers)
    from_a = sum(1 for a in approvals if a.approval_group == "A")
    assert len(approvals) <= p.required_approvals, (p.id, approvals)
    assert len(approvals) - from_a <= p.required_approvals - p.required_group_a, (p.id, approvals)
    satisfied = len(approvals) >= p.required_approvals and from_a >= p.required_group_a
    if p.status in (*MOVED, "scheduled", "failed"):
        # Money moved, or was to move on its day: only once the panel was satisfied.
        assert satisfied, (p.id, p.status, approvals)
    if p.status == "pending_approval":
        assert not satisfied and p.required_approvals > 0, (p.id, approvals)


def _assert_logged(p: Payment, approvals: list[PaymentApproval], steps: list[PaymentEvent]) -> None:
    """A payment's log tells its life: made first, each approval a step, the last step's
    status the payment's, and the step that moved its money names its transfer."""
    assert steps and steps[0].step == "created", (p.id, steps)
    assert steps[-1].status == p.status, (p.id, p.status, steps)
    approved = [s.actor_id for s in steps if s.step == "approved"]
    assert approved == [a.approver_id for a in approvals], (p.id, approved, approvals)
    moved = [s.transfer_id for s in steps if s.status in MOVED]
    assert moved[-1:] == ([p.transfer_id] if p.status in MOVED else []), (p.id, steps)


def _assert_grant_limits(state: PaymentsState) -> None:
    """No grant's own daily limit passed, pending payments counted; no payment or transfer
    under a grant beyond its per-transfer limit."""
    for (grant_id, currency, _day), amount in state.grant_spend.items():
        grant = state.grants[grant_id]
        if grant.limit_currency == currency and grant.daily_limit is not None:
            assert amount <= grant.daily_limit, (grant_id, _day, amount, grant.daily_limit)
    for p in state.payments.values():
        grant = state.grants.get(p.grant_id or 0)
        if (
            grant is not None
            and p.status in COUNTED
            and grant.limit_currency == p.currency
            and grant.per_transfer_limit is not None
        ):
            assert p.amount <= grant.per_transfer_limit, (p.id, p.amount)
