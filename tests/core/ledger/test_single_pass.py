"""One pass per money movement: the subject is read once unlocked for the readability gate
(before anything is locked, so a caller who may not see it locks nothing of it), the accounts
once locked, the facts are gathered once, the money decision is asked once, and the posting
is written. Counted here: the
policy's questions (ctx.policy_queries), the decision log, and the SQL statements sent."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from core.context import RequestContext
from core.db import Database
from core.ledger import service as ledger
from core.ledger.schemas import DepositCreate, TransferCreate
from core.models.iam import Grant
from tests.factories import World, new_key, staff_context

# A read of account rows by their ids (the clearing account's lookup by bank and currency is not).
_ACCOUNT_READ = re.compile(r"\bFROM accounts WHERE accounts\.id (=|IN\b)")
_GRANT_READ = re.compile(r"\bFROM grants\b")
_ZONE_READ = re.compile(r"\bSELECT tenants\.timezone\b")
_SPEND_READ = re.compile(r"\bFROM (grant_spend|person_spend)\b")
_SPEND_WRITE = re.compile(r"\bINSERT INTO (grant_spend|person_spend)\b")


@dataclass
class Counted:
    statements: list[str] = field(default_factory=list)

    def matching(self, pattern: re.Pattern[str]) -> int:
        return sum(1 for s in self.statements if pattern.search(s))


@contextmanager
def counting() -> Iterator[Counted]:
    counted = Counted()

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        counted.statements.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield counted
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _move(
    db: Database, ctx: RequestContext, work: Callable[[Session, RequestContext], Any]
) -> tuple[Counted, Any]:
    with counting() as counted, db.unit_of_work() as session:
        result = work(session, ctx)
    return counted, result


def _transfer(world: World, amount: int = 100_00) -> TransferCreate:
    return TransferCreate(
        from_account_id=world.account_id("acme-operating"),
        to_account_id=world.account_id("acme-payroll"),
        amount=amount,
        currency="EUR",
    )


def test_a_transfer_reads_each_account_once_and_is_decided_once(db, world, clock):
    payer = staff_context(db, "acme-payer", clock)
    ctx = RequestContext(actor=payer.actor, clock=clock)
    body = _transfer(world)
    counted, result = _move(db, ctx, lambda s, c: ledger.create_transfer(s, c, body, new_key()))
    assert not result.replayed
    # The readability gate (which a replay must pass too) and the money decision: two
    # questions to the policy over one gathering of facts; one decision in the log.
    assert ctx.policy_queries == 2
    assert [d.action for d in ctx.audit.decisions] == ["transfer.create"]
    assert counted.matching(_ACCOUNT_READ) == 2, counted.statements  # the gate's, the lock's
    assert counted.matching(_GRANT_READ) == 1, counted.statements
    assert counted.matching(_ZONE_READ) == 1, counted.statements


def test_under_a_daily_limit_the_spend_is_read_once_and_written_once(db, world, clock):
    with db.unit_of_work() as session:
        grant = session.get(Grant, world.grants["acme-payer"].id)
        assert grant is not None
        grant.limit_currency, grant.daily_limit = "EUR", 1_000_00
    payer = staff_context(db, "acme-payer", clock)
    ctx = RequestContext(actor=payer.actor, clock=clock)
    body = _transfer(world)
    counted, _ = _move(db, ctx, lambda s, c: ledger.create_transfer(s, c, body, new_key()))
    assert ctx.policy_queries == 2
    assert [d.action for d in ctx.audit.decisions] == ["transfer.create"]
    assert counted.matching(_ACCOUNT_READ) == 2, counted.statements
    assert counted.matching(_ZONE_READ) == 1, counted.statements
    # Today's and this month's totals: the grant's and the person's, read in one statement.
    assert counted.matching(_SPEND_READ) == 1, counted.statements
    assert counted.matching(_SPEND_WRITE) >= 1, counted.statements


def test_a_replay_is_gated_but_not_decided_again(db, world, clock):
    payer = staff_context(db, "acme-payer", clock)
    body, key = _transfer(world), new_key()
    first = RequestContext(actor=payer.actor, clock=clock)
    _, posted = _move(db, first, lambda s, c: ledger.create_transfer(s, c, body, key))
    again = RequestContext(actor=payer.actor, clock=clock)
    counted, result = _move(db, again, lambda s, c: ledger.create_transfer(s, c, body, key))
    assert result.replayed and not posted.replayed
    # The stored answer, to the byte: what the API sent the first time.
    assert result.transfer.model_dump_json() == posted.transfer.model_dump_json()
    assert again.policy_queries == 1  # only the gate: may the caller still read the account?
    assert again.audit.decisions == []
    # Read once, unlocked: a replay moves nothing, so it waits on no transfer.
    assert counted.matching(_ACCOUNT_READ) == 1, counted.statements
    assert not any("FOR NO KEY UPDATE" in s for s in counted.statements)


def test_a_deposit_reads_each_account_once_and_is_decided_once(db, world, clock):
    manager = staff_context(db, "manager", clock)
    ctx = RequestContext(actor=manager.actor, clock=clock)
    body = DepositCreate(account_id=world.account_id("acme-payroll"), amount=5_00, currency="EUR")
    counted, result = _move(db, ctx, lambda s, c: ledger.create_deposit(s, c, body, new_key()))
    assert not result.replayed
    assert ctx.policy_queries == 2
    assert [d.action for d in ctx.audit.decisions] == ["deposit.create"]
    # The clearing account's id is looked up by the bank and currency; the subject is read for
    # the gate, then both accounts are read once, locked together in id order.
    assert counted.matching(_ACCOUNT_READ) == 2, counted.statements
