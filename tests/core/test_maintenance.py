"""Housekeeping forgets old keys, sessions and attempts, and nothing else."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from core import maintenance
from core.models.ledger import Entry, IdempotencyRecord, Transfer
from core.models.sessions import SignInAttempt


def test_purge_keeps_idempotency_keys_for_their_retention(db, world, clock):
    with db.unit_of_work(write=False) as session:
        keys = session.scalar(select(func.count()).select_from(IdempotencyRecord))
        transfers = session.scalar(select(func.count(Transfer.id)))
        entries = session.scalar(select(func.count(Entry.id)))
    assert keys > 0
    with db.unit_of_work() as session:
        session.add(
            SignInAttempt(
                at=clock.now() - dt.timedelta(days=8), username="x", address="a", succeeded=False
            )
        )
    with db.unit_of_work() as session:
        kept = maintenance.purge(
            session,
            clock.now() + dt.timedelta(hours=47),
            idempotency_retention=dt.timedelta(hours=48),
        )
    assert kept.idempotency_keys == 0 and kept.sign_in_attempts == 1
    with db.unit_of_work() as session:
        gone = maintenance.purge(
            session,
            clock.now() + dt.timedelta(hours=49),
            idempotency_retention=dt.timedelta(hours=48),
        )
    assert gone.idempotency_keys == keys
    with db.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count(Transfer.id))) == transfers
        assert session.scalar(select(func.count(Entry.id))) == entries
    with db.unit_of_work() as session, pytest.raises(ValueError):
        maintenance.purge(session, clock.now(), idempotency_retention=dt.timedelta(hours=1))
