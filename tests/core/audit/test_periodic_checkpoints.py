"""Checkpoints taken while Mandate serves (core.audit.periodic): one per moved chain per
interval, none for a chain that did not move, one per interval however many workers take
them, and a database that went away costs a logged line, not the thread."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.app import create_app
from core.audit.checkpoints import AuditKey, take_checkpoints
from core.audit.periodic import PeriodicCheckpoints
from core.clock import FixedClock
from core.db import Database
from core.models.audit_chain import AuditChain, AuditCheckpoint
from tests.conftest import DEFAULT_NOW
from tests.factories import with_logged_decision

MINUTE = 60


def _checkpoints(db: Database) -> list[tuple[str, int, dt.datetime]]:
    with db.unit_of_work(write=False) as session:
        return [
            (point.chain, point.seq, point.at)
            for point in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id))
        ]


def _moved_chains(db: Database) -> set[str]:
    with db.unit_of_work(write=False) as session:
        return {head.chain for head in session.scalars(select(AuditChain)) if head.seq > 0}


def _ticker(
    clock: FixedClock, step_seconds: int, between: list[Callable[[], None]]
) -> Callable[[float], bool]:
    """A wait that moves the clock by `step_seconds` and does what happens meanwhile; it
    stops the loop once `between` is done."""
    steps = iter(between)

    def wait(_seconds: float) -> bool:
        step = next(steps, None)
        if step is None:
            return True
        clock.advance(seconds=step_seconds)
        step()
        return False

    return wait


def test_the_loop_signs_each_moved_chain_once_per_interval(app, world, clock, db):
    start = clock.now()
    moved_at_start = _moved_chains(db)
    assert moved_at_start  # building the world wrote chained changes
    acme = f"tenant:{world.tenants['acme'].id}"

    def acme_moves() -> None:
        with_logged_decision(db, world, clock, "acme")

    def nothing() -> None:
        pass

    loop = PeriodicCheckpoints(
        db,
        app.state.services.audit_key,
        clock,
        every_seconds=MINUTE,
        # Ticks every half interval, as a second worker out of phase adds: a chain that moved
        # in an interval is signed once it has passed, then no more until it moves again.
        wait=_ticker(
            clock, MINUTE // 2, [acme_moves, nothing, acme_moves, nothing, nothing, nothing]
        ),
    )
    loop.run()

    taken = {(chain, (at - start).total_seconds()) for chain, _seq, at in _checkpoints(db)}
    assert taken == {(chain, 0) for chain in moved_at_start} | {(acme, 60), (acme, 120)}


def test_a_failure_is_logged_and_the_loop_goes_on(tmp_path, caplog):
    away = Database(f"sqlite:///{tmp_path / 'gone' / 'mandate.db'}", pool_size=1)
    clock = FixedClock(DEFAULT_NOW)
    loop = PeriodicCheckpoints(
        away,
        AuditKey(Ed25519PrivateKey.generate()),
        clock,
        every_seconds=MINUTE,
        wait=_ticker(clock, MINUTE, [lambda: None]),
    )
    with caplog.at_level(logging.WARNING, logger="mandate.audit.checkpoints"):
        loop.run()  # raises nothing
    failures = [r for r in caplog.records if "periodic audit checkpoint failed" in r.message]
    assert len(failures) == 2  # both ticks tried
    away.dispose()


def test_the_running_app_takes_them(settings, db, world, clock):
    app = create_app(
        settings.model_copy(update={"audit_checkpoint_seconds": 3600}), database=db, clock=clock
    )
    with TestClient(app):
        pass  # the thread takes once as it starts; leaving waits for it
    assert {chain for chain, _seq, _at in _checkpoints(db)} == _moved_chains(db)


def _waiting_on_a_lock(db: Database) -> bool:
    with db.unit_of_work(write=False) as session:
        return bool(
            session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            )
        )


def test_two_workers_taking_at_once_sign_one_checkpoint_per_chain(backend, app, world, clock, db):
    if backend != "postgresql":
        pytest.skip("row locks between two connections: PostgreSQL only")
    key = app.state.services.audit_key
    every = dt.timedelta(seconds=MINUTE)
    # The worst interleaving, forced: the first worker has signed and not committed when the
    # second begins; the second must wait for the first's decision, then find it.
    first = db.session(write=True)
    try:
        signed_first = take_checkpoints(first, key, clock.now(), every=every)
        assert signed_first
        second = PeriodicCheckpoints(db, key, clock, every_seconds=MINUTE)
        signed_second: list[int] = []
        racing = threading.Thread(target=lambda: signed_second.append(second.take()))
        racing.start()
        deadline = time.monotonic() + 10
        while racing.is_alive() and not _waiting_on_a_lock(db):
            assert time.monotonic() < deadline, "the second worker neither waited nor ended"
            time.sleep(0.01)
        first.commit()
    finally:
        first.close()
    racing.join(timeout=10)
    assert signed_second == [0]
    points = _checkpoints(db)
    assert len(points) == len(signed_first) == len({chain for chain, _s, _a in points})
