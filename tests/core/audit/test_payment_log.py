"""Payments' logs: every step of a payment (made, approved, posted, rejected, a batch's
payments) is a row of payment_log, chained in its tenant's chain; verify and the offline
bundle verifier name an altered step; the database refuses to rewrite one."""

from __future__ import annotations

import json
import zipfile

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from core.audit import canonical, offline
from core.audit.verify import verify_database
from core.models.audit_chain import AuditLink
from core.models.payments import Payment, PaymentEvent
from core.payments import service as payments
from core.payments.events import record_step
from tests.batches_world import with_pending_batch
from tests.core.audit.test_bundle import DAY
from tests.core.audit.test_chain import _one_break, _tamper
from tests.factories import bearer, new_key, unit_of_work
from tests.payments_world import with_pending_payment


def _steps(db, payment_id: int) -> list[PaymentEvent]:
    with db.unit_of_work(write=False) as session:
        return list(
            session.scalars(
                select(PaymentEvent)
                .where(PaymentEvent.payment_id == payment_id)
                .order_by(PaymentEvent.id)
            )
        )


def _approved_payment(client, app, world, clock, db) -> int:
    """A payment acme-payer made that waited for one approval, approved by approver A."""
    with_pending_payment(db, app.state.services.passwords, world, clock)
    payment_id = world.payment_ids["acme"]
    approver = bearer(app, world.users["acme-approver-a"], clock)
    approved = client.post(
        f"/v1/payments/{payment_id}/approve",
        headers={**approver, "Idempotency-Key": new_key()},
    )
    assert approved.status_code == 201, approved.text
    return payment_id


def test_a_payments_life_is_logged_in_its_tenants_chain(client, app, world, clock, db):
    payment_id = _approved_payment(client, app, world, clock, db)
    steps = _steps(db, payment_id)
    with db.unit_of_work(write=False) as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        links = session.scalars(
            select(AuditLink).where(
                AuditLink.record_table == canonical.PAYMENT_LOG,
                AuditLink.record_id.in_([s.id for s in steps]),
            )
        ).all()
    payer, approver = world.users["acme-payer"].id, world.users["acme-approver-a"].id
    assert [(s.step, s.status, s.actor_id) for s in steps] == [
        ("created", "pending_approval", payer),
        ("approved", "pending_approval", approver),
        (payment.status, payment.status, approver),
    ]
    assert payment.status in ("posted", "sent")
    assert steps[-1].transfer_id == payment.transfer_id is not None
    assert {s.amount for s in steps} == {payment.amount}
    assert {link.chain for link in links} == {f"tenant:{world.tenants['acme'].id}"}
    assert len(links) == 3
    report = verify_database(db)
    assert report.ok, report.render()


def test_a_rejection_logs_its_reason_behind_the_commitment(client, app, world, clock, db):
    with_pending_payment(db, app.state.services.passwords, world, clock)
    payment_id = world.payment_ids["acme"]
    approver = bearer(app, world.users["acme-approver-a"], clock)
    rejected = client.post(
        f"/v1/payments/{payment_id}/reject", headers=approver, json={"reason": "wrong IBAN"}
    )
    assert rejected.status_code == 200, rejected.text
    last = _steps(db, payment_id)[-1]
    assert (last.step, last.status, last.detail) == ("rejected", "rejected", "wrong IBAN")
    assert verify_database(db).ok
    _tamper(db, "UPDATE payment_log SET detail = 'fine' WHERE id = :e", e=last.id)
    broken, report = _one_break(db)
    assert (broken.table, broken.record_id) == (canonical.PAYMENT_LOG, last.id), report.render()
    assert "personal fields were altered" in broken.problem


def test_verify_names_an_altered_step(client, app, world, clock, db):
    payment_id = _approved_payment(client, app, world, clock, db)
    approval = _steps(db, payment_id)[1]
    _tamper(db, "UPDATE payment_log SET actor_id = NULL WHERE id = :e", e=approval.id)
    broken, report = _one_break(db)
    assert (broken.table, broken.record_id) == (canonical.PAYMENT_LOG, approval.id), report.render()
    assert "the record was altered" in broken.problem


@pytest.mark.parametrize(
    "statement", ["UPDATE payment_log SET amount = amount + 1", "DELETE FROM payment_log"]
)
def test_the_database_refuses_to_rewrite_a_payments_log(client, app, world, clock, db, statement):
    _approved_payment(client, app, world, clock, db)
    with pytest.raises(DBAPIError, match="append-only"), db.unit_of_work() as session:
        session.execute(text(statement))


def test_a_batch_approval_logs_each_of_its_payments(client, app, world, clock, db):
    with_pending_batch(db, app.state.services.passwords, world, clock)
    batch_id = world.batch_ids["acme"]
    approver = bearer(app, world.users["acme-approver-a"], clock)
    done = client.post(
        f"/v1/payment-batches/{batch_id}/approve",
        headers={**approver, "Idempotency-Key": new_key()},
    )
    assert done.status_code == 201, done.text
    payment_ids = [item["payment_id"] for item in done.json()["items"]]
    assert len(payment_ids) == 2
    who = world.users["acme-approver-a"].id
    for payment_id in payment_ids:
        steps = _steps(db, payment_id)
        assert [(s.step, s.actor_id, s.payment_batch_id) for s in steps] == [
            ("created", who, batch_id),
            (steps[1].status, who, batch_id),
        ]
        assert steps[1].status in ("posted", "sent") and steps[1].transfer_id is not None
    report = verify_database(db)
    assert report.ok, report.render()


def test_a_step_inside_a_rolled_back_savepoint_is_forgotten(client, app, world, clock, db):
    """As a payment preview's trial settling is: nothing of it is logged or chained."""
    with_pending_payment(db, app.state.services.passwords, world, clock)
    payment_id = world.payment_ids["acme"]
    before = len(_steps(db, payment_id))
    with db.unit_of_work() as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        trial = session.begin_nested()
        record_step(session, payment, "expired", actor_id=None, at=clock.now())
        trial.rollback()
    assert len(_steps(db, payment_id)) == before
    assert verify_database(db).ok


def test_what_was_noted_before_a_rolled_back_savepoint_is_kept(client, app, world, clock, db):
    """A savepoint rolled back takes only the steps noted inside it (core.db.SessionQueue):
    one noted before it is written and chained."""
    with_pending_payment(db, app.state.services.passwords, world, clock)
    payment_id = world.payment_ids["acme"]
    before = len(_steps(db, payment_id))
    with db.unit_of_work() as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        record_step(session, payment, "approved", actor_id=None, at=clock.now())
        session.flush()
        trial = session.begin_nested()
        record_step(session, payment, "expired", actor_id=None, at=clock.now())
        trial.rollback()
    assert [s.step for s in _steps(db, payment_id)][before:] == ["approved"]
    report = verify_database(db)
    assert report.ok, report.render()


def test_a_bundle_of_a_payments_day_verifies_offline(
    client, app, world, clock, db, mandate, tmp_path
):
    payment_id = _approved_payment(client, app, world, clock, db)
    bundle = tmp_path / "acme.zip"
    acme = str(world.tenants["acme"].id)
    written = mandate("audit", "export", str(bundle), "--tenant", acme, "--from", DAY, "--to", DAY)
    assert written.exit_code == 0, written.output
    report = offline.verify_bundle(str(bundle))
    assert report.ok, report.render()
    with zipfile.ZipFile(bundle) as archive:
        name = next(n for n in archive.namelist() if n.startswith("chains/tenant_"))
        lines = [json.loads(line) for line in archive.read(name).decode().splitlines()]
    logged = [
        entry["record"]
        for entry in lines
        if entry.get("record") and entry["record"]["table"] == canonical.PAYMENT_LOG
    ]
    assert [r["fields"]["step"] for r in logged if r["fields"]["payment_id"] == payment_id][:2] == [
        "created",
        "approved",
    ]


def test_an_erasure_rewrites_a_steps_detail_and_the_chain_still_verifies(
    client, app, world, clock, db
):
    with_pending_payment(db, app.state.services.passwords, world, clock)
    payment_id, payer_id = world.payment_ids["acme"], world.user_id("acme-payer")
    approver = bearer(app, world.users["acme-approver-a"], clock)
    reason = {"reason": "acme-payer typed the wrong IBAN"}
    rejected = client.post(f"/v1/payments/{payment_id}/reject", headers=approver, json=reason)
    assert rejected.status_code == 200, rejected.text
    admin = bearer(app, world.users["acme-admin"], clock)
    left = client.patch(f"/v1/users/{payer_id}", json={"is_active": False}, headers=admin)
    assert left.status_code == 200, left.text
    compliance = bearer(app, world.users["compliance"], clock)
    erased = client.post(f"/v1/users/{payer_id}/erase", headers=compliance)
    assert erased.status_code == 200, erased.text
    last = _steps(db, payment_id)[-1]
    assert last.detail == f"erased-{payer_id} typed the wrong IBAN"
    with db.unit_of_work(write=False) as session:
        link = session.scalars(
            select(AuditLink).where(
                AuditLink.record_table == canonical.PAYMENT_LOG, AuditLink.record_id == last.id
            )
        ).one()
    assert link.salt is None
    report = verify_database(db)
    assert report.ok, report.render()


def test_an_expiry_is_logged_as_mandates_own_step(client, app, world, clock, db):
    with_pending_payment(db, app.state.services.passwords, world, clock)
    payment_id = world.payment_ids["acme"]
    clock.advance(days=8)  # past the company's payment expiry
    assert unit_of_work(db, clock).run(payments.expire_payments) == 1
    last = _steps(db, payment_id)[-1]
    assert (last.step, last.status, last.actor_id) == ("expired", "expired", None)
    assert last.detail == "no approval in time" and last.transfer_id is None
    report = verify_database(db)
    assert report.ok, report.render()
