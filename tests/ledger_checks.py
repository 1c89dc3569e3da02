"""Ledger invariants, checked straight against the database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.ledger.check import run_checks
from core.models.ledger import Account, Entry, Transfer
from core.settings import REPO_ROOT


def snapshot(session: Session) -> tuple[dict[int, tuple[int, str]], int, int]:
    """Everything a refused operation must leave as it was."""
    accounts = {a.id: (a.balance, a.status) for a in session.scalars(select(Account))}
    entries = session.scalar(select(func.count(Entry.id))) or 0
    transfers = session.scalar(select(func.count(Transfer.id))) or 0
    return accounts, entries, transfers  # type: ignore[return-value]


def assert_ledger_consistent(session: Session) -> None:
    per_currency: dict[str, int] = defaultdict(int)
    for currency, total in session.execute(
        select(Entry.currency, func.sum(Entry.amount)).group_by(Entry.currency)
    ):
        per_currency[currency] += total
    assert all(total == 0 for total in per_currency.values()), per_currency

    sums = dict(
        session.execute(
            select(Entry.account_id, func.sum(Entry.amount)).group_by(Entry.account_id)
        ).all()
    )
    for account in session.scalars(select(Account)):
        assert account.balance == sums.get(account.id, 0), (
            account.id,
            account.balance,
            sums.get(account.id),
        )
        if account.kind == "customer":
            assert account.balance >= -account.overdraft_limit, (account.id, account.balance)

    for transfer_id, count, total in session.execute(
        select(Entry.transfer_id, func.count(Entry.id), func.sum(Entry.amount)).group_by(
            Entry.transfer_id
        )
    ):
        assert count == 2 and total == 0, (transfer_id, count, total)
    transfers = session.scalar(select(func.count(Transfer.id)))
    entries = session.scalar(select(func.count(Entry.id)))
    assert entries == 2 * transfers
    # What only `mandate ledger check` checks: holds equal the payments awaiting approval,
    # every payment that moved money has its transfer, the running totals equal what was sent,
    # and no cumulative limit was passed.
    report = run_checks(session.connection(), checks=("holds", "payments", "spend", "limits"))
    assert report.ok, report.render()


def assert_ledger_check_passes(url: str) -> None:
    """`mandate ledger check` on the database at `url`, as an operator runs it."""
    check = subprocess.run(
        [sys.executable, "-m", "core.cli", "ledger", "check", "--no-progress"],
        cwd=REPO_ROOT,
        env={**os.environ, "MANDATE_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ledger check passed" in check.stdout
