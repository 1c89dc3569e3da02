"""Retention: decisions past MANDATE_DECISION_RETENTION_DAYS are purged without breaking the
chains; a chain whose oldest links all name purged records is pruned under a signed anchor."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from core.audit import canonical
from core.audit.retention import purge_past_retention
from core.audit.verify import verify_database
from core.iam import service as iam
from core.models.iam import User
from tests.core.audit.test_chain import _tamper
from tests.factories import PASSWORD, bearer

KEPT = dt.timedelta(days=396)


def _newcomer(db, app, world, clock) -> User:  # type: ignore[no-untyped-def]
    """A company onboarded without a change of the log: its chain starts with decisions."""
    with db.unit_of_work() as session:
        tenant = iam.create_tenant(session, world.bank.id, "Initech", "Europe/Berlin")
        user = iam.create_user(
            session,
            app.state.services.passwords,
            bank_id=world.bank.id,
            tenant_id=tenant.id,
            username="initech-bookkeeper",
            display_name="Initech Bookkeeper",
            password=PASSWORD,
            now=clock.now(),
        )
        role = iam.builtin_role(session, "bookkeeper", bank_id=world.bank.id, tenant_id=tenant.id)
        iam.grant_role(session, user, role, now=clock.now())
        session.flush()
        session.expunge(user)
    return user


def _refused(client, app, user, clock, world) -> None:  # type: ignore[no-untyped-def]
    """A logged refusal in the person's own company: a bookkeeper makes a role."""
    assert user.tenant_id is not None
    headers = bearer(app, user, clock)
    answer = client.post(
        "/v1/roles", json={"name": "Reader", "permissions": ["account.read"]}, headers=headers
    )
    assert answer.status_code == 403, answer.text


def _purge(db, app, now):  # type: ignore[no-untyped-def]
    with db.unit_of_work() as session:
        return purge_past_retention(
            session, app.state.services.audit_key, now, decisions_kept=KEPT, activity_kept=KEPT
        )


def test_old_decisions_go_and_the_chains_still_verify(client, app, world, clock, db):
    user = _newcomer(db, app, world, clock)
    _refused(client, app, user, clock, world)
    _refused(client, app, user, clock, world)
    # Acme's chain starts with money: its old decision's link stays, the decision goes.
    _refused(client, app, world.users["acme-bookkeeper"], clock, world)
    old = clock.now()
    clock.at = old + KEPT + dt.timedelta(days=2)
    _refused(client, app, user, clock, world)
    chain = canonical.chain_of(world.bank.id, user.tenant_id)
    with db.unit_of_work(write=False) as session:
        before = session.execute(
            text("SELECT count(*) FROM decisions WHERE at < :cut"), {"cut": clock.now() - KEPT}
        ).scalar_one()
    assert before > 0

    purged = _purge(db, app, clock.now())
    assert purged.decisions == before
    assert purged.anchors_signed >= 1 and purged.links_pruned >= 2
    with db.unit_of_work(write=False) as session:
        anchor = session.execute(
            text("SELECT anchor_seq, seq FROM audit_chains WHERE chain = :c"), {"c": chain}
        ).one()
        assert 0 < anchor.anchor_seq < anchor.seq  # the newest refusal is kept
    public_key = app.state.services.audit_key.public_key
    report = verify_database(db, public_key=public_key, purged_before=clock.now() - KEPT)
    assert report.ok and report.purged > 0, report.render()

    # Without leave to find decisions purged, their absence is named.
    strict = verify_database(db, public_key=public_key)
    assert not strict.ok and "missing" in strict.breaks[0].problem

    # The anchor moved by hand (links removed from a chain's start): no checkpoint holds it.
    _tamper(
        db,
        "UPDATE audit_chains SET anchor_seq = anchor_seq + 1, anchor_hash = (SELECT hash FROM audit_links l WHERE l.chain = audit_chains.chain AND l.seq = audit_chains.anchor_seq + 1) WHERE chain = :c",
        c=chain,
    )
    _tamper(
        db,
        "DELETE FROM audit_links WHERE chain = :c AND seq = (SELECT anchor_seq FROM audit_chains WHERE chain = :c)",
        c=chain,
    )
    moved = verify_database(db, public_key=public_key, purged_before=clock.now() - KEPT)
    assert not moved.ok and any("anchor" in b.problem for b in moved.breaks), moved.render()


def test_retention_is_never_under_a_year(db, app, clock):
    with db.unit_of_work() as session, pytest.raises(ValueError):
        purge_past_retention(
            session,
            app.state.services.audit_key,
            clock.now(),
            decisions_kept=dt.timedelta(days=30),
            activity_kept=KEPT,
        )
