"""The hash chains: every transfer, decision and change is chained in its own transaction, and
`verify` catches each kind of tampering at the right record."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from core.audit import canonical
from core.audit.verify import verify_database
from core.context import RequestContext
from core.ledger import service as ledger
from core.ledger.schemas import TransferCreate
from core.models.audit_chain import AuditChain, AuditLink
from tests.factories import bearer, new_key, staff_context
from tests.payments_world import with_pending_payment


def _traffic(client, app, world, clock) -> None:
    """A few transfers (one refused by the policy), and a bank manager's change."""
    payer = bearer(app, world.users["acme-payer"], clock)
    for amount in (100_00, 250_00, 10_000_000_00):
        client.post(
            "/v1/transfers",
            json={
                "from_account_id": world.account_id("acme-operating"),
                "to_account_id": world.account_id("acme-payroll"),
                "amount": amount,
                "currency": "EUR",
            },
            headers={**payer, "Idempotency-Key": new_key()},
        )
    bookkeeper = bearer(app, world.users["acme-bookkeeper"], clock)
    refused = client.post(
        "/v1/transfers",
        json={
            "from_account_id": world.account_id("acme-operating"),
            "to_account_id": world.account_id("acme-payroll"),
            "amount": 1_00,
            "currency": "EUR",
        },
        headers={**bookkeeper, "Idempotency-Key": new_key()},
    )
    assert refused.status_code == 403, refused.text
    manager = bearer(app, world.users["manager"], clock)
    cap = client.put(
        f"/v1/tenants/{world.tenants['acme'].id}/caps/EUR",
        json={"per_transfer": 5_000_00, "daily": 20_000_00},
        headers=manager,
    )
    assert cap.status_code == 200, cap.text


def _counts(db) -> tuple[int, int]:
    with db.unit_of_work(write=False) as session:
        records = sum(
            session.scalar(text(f"SELECT count(*) FROM {table}")) or 0
            for table in canonical.CHAINED_TABLES
        )
        links = session.scalar(select(func.count()).select_from(AuditLink)) or 0
    return records, links


def test_every_record_is_chained_and_the_chains_verify(client, app, world, clock, db):
    _traffic(client, app, world, clock)
    records, links = _counts(db)
    assert records == links > 0
    report = verify_database(db)
    assert report.ok, report.render()
    assert report.links == links
    with db.unit_of_work(write=False) as session:
        chains = {c.chain: c for c in session.scalars(select(AuditChain))}
    acme = f"tenant:{world.tenants['acme'].id}"
    assert acme in chains
    assert chains[acme].seq > 0 and chains[acme].head_hash != canonical.GENESIS


def _tamper(db, sql: str, **params) -> None:
    with db.unit_of_work() as session:
        disable_triggers(session)
        session.execute(text(sql), params)


def disable_triggers(session) -> None:
    """Act as an intruder with database access: past the append-only triggers."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        for (name,) in session.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        ).all():
            session.execute(text(f"DROP TRIGGER {name}"))


def _one_break(db):
    report = verify_database(db)
    assert not report.ok
    return report.breaks[0], report


def _newest(db, table: str, **where) -> int:
    clause = " AND ".join(f"{k} = :{k}" for k in where) or "1 = 1"
    with db.unit_of_work(write=False) as session:
        return int(session.scalar(text(f"SELECT max(id) FROM {table} WHERE {clause}"), where))


def test_verify_names_an_altered_amount(client, app, world, clock, db):
    _traffic(client, app, world, clock)
    transfer = _newest(db, "transfers", kind="transfer")
    _tamper(
        db,
        "UPDATE entries SET amount = amount + 1 WHERE transfer_id = :t AND amount > 0",
        t=transfer,
    )
    broken, report = _one_break(db)
    assert (broken.table, broken.record_id) == ("transfers", transfer), report.render()
    assert "altered" in broken.problem and broken.expected != broken.found


def test_verify_names_an_altered_decision(client, app, world, clock, db):
    _traffic(client, app, world, clock)
    denied = _newest(db, "decisions", decision="deny")
    _tamper(db, "UPDATE decisions SET decision = 'allow' WHERE id = :d", d=denied)
    broken, report = _one_break(db)
    assert (broken.table, broken.record_id) == ("decisions", denied), report.render()


def test_verify_names_a_deleted_record(client, app, world, clock, db):
    _traffic(client, app, world, clock)
    change = _newest(db, "changes")
    _tamper(db, "DELETE FROM changes WHERE id = :c", c=change)
    broken, report = _one_break(db)
    assert (broken.table, broken.record_id) == ("changes", change), report.render()
    assert "missing" in broken.problem


def test_verify_names_a_record_deleted_with_its_link(client, app, world, clock, db):
    _traffic(client, app, world, clock)
    decision = _newest(db, "decisions", decision="allow")
    _tamper(
        db,
        "DELETE FROM audit_links WHERE record_table = 'decisions' AND record_id = :d",
        d=decision,
    )
    _tamper(db, "DELETE FROM decisions WHERE id = :d", d=decision)
    broken, report = _one_break(db)
    assert "missing before" in broken.problem or "head" in broken.problem, report.render()


def test_verify_names_reordered_records(client, app, world, clock, db):
    """Two decisions swap places (their contents exchanged): the first is named."""
    _traffic(client, app, world, clock)
    with db.unit_of_work(write=False) as session:
        first, second = (
            session.execute(text("SELECT id FROM decisions ORDER BY id DESC LIMIT 2"))
            .scalars()
            .all()[::-1]
        )
    columns = ", ".join(
        f"{c} = (SELECT {c} FROM decisions WHERE id = :other)"
        for c in ("at", "action", "decision", "reason", "amount", "actor_id")
    )
    with db.unit_of_work() as session:
        disable_triggers(session)
        session.execute(
            text("CREATE TEMPORARY TABLE swap AS SELECT * FROM decisions WHERE id IN (:a, :b)"),
            {"a": first, "b": second},
        )
        for target, other in ((first, second), (second, first)):
            session.execute(
                text(
                    "UPDATE decisions SET "
                    + ", ".join(
                        f"{c} = (SELECT {c} FROM swap WHERE id = :other)"
                        for c in (
                            "at",
                            "action",
                            "decision",
                            "reason",
                            "amount",
                            "actor_id",
                            "facts",
                        )
                    )
                    + " WHERE id = :target"
                ),
                {"target": target, "other": other},
            )
    assert columns
    broken, report = _one_break(db)
    assert broken.table == "decisions" and broken.record_id in (first, second), report.render()


def test_verify_names_reordered_links(client, app, world, clock, db):
    _traffic(client, app, world, clock)
    acme = f"tenant:{world.tenants['acme'].id}"
    with db.unit_of_work() as session:
        disable_triggers(session)
        top = session.scalar(text("SELECT max(seq) FROM audit_links WHERE chain = :c"), {"c": acme})
        swap = {"c": acme, "a": top - 1, "b": top, "tmp": -1}
        session.execute(
            text("UPDATE audit_links SET seq = :tmp WHERE chain = :c AND seq = :a"), swap
        )
        session.execute(text("UPDATE audit_links SET seq = :a WHERE chain = :c AND seq = :b"), swap)
        session.execute(
            text("UPDATE audit_links SET seq = :b WHERE chain = :c AND seq = :tmp"), swap
        )
    broken, report = _one_break(db)
    assert broken.chain == acme and broken.seq == top - 1, report.render()


def test_verify_names_a_record_inserted_behind_mandates_back(client, app, world, clock, db):
    _traffic(client, app, world, clock)
    decision = _newest(db, "decisions")
    _tamper(
        db,
        "INSERT INTO decisions (at, actor_id, bank_id, tenant_id, action, resource_type, decision,"
        " reason, detail, policy_version, eval_us) SELECT at, actor_id, bank_id, tenant_id, action,"
        " resource_type, 'allow', reason, detail, policy_version, eval_us FROM decisions WHERE id = :d",
        d=decision,
    )
    broken, report = _one_break(db)
    assert broken.table == "decisions" and "no chain" in broken.problem, report.render()


def test_payments_under_dual_control_are_chained_too(client, app, world, clock, db):
    """A payment waiting for approval, approved: its posting, the approval's decisions and
    the payment's own are each in Acme's chain, and the chains verify."""
    with_pending_payment(db, app.state.services.passwords, world, clock)
    approver = bearer(app, world.users["acme-approver-a"], clock)
    approved = client.post(
        f"/v1/payments/{world.payment_ids['acme']}/approve",
        headers={**approver, "Idempotency-Key": new_key()},
    )
    assert approved.status_code == 201, approved.text
    records, links = _counts(db)
    assert records == links
    report = verify_database(db)
    assert report.ok, report.render()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE decisions SET decision = 'allow'",
        "DELETE FROM decisions",
        "UPDATE changes SET after = NULL",
        "DELETE FROM changes",
        "UPDATE audit_links SET salt = NULL",
        "DELETE FROM audit_links",
        "UPDATE audit_checkpoints SET seq = seq",
    ],
)
def test_the_database_refuses_to_rewrite_the_trail(client, app, world, clock, db, statement):
    _traffic(client, app, world, clock)
    with db.unit_of_work() as session:
        session.execute(
            text(
                "INSERT INTO audit_checkpoints (chain, bank_id, seq, head_hash, at,"
                " key_id, signature) SELECT chain, bank_id, seq, head_hash, :at,"
                " 'k', 's' FROM audit_chains"
            ),
            {"at": clock.now()},
        )
    with pytest.raises(DBAPIError, match="append-only"), db.unit_of_work() as session:
        session.execute(text(statement))


def test_a_savepoint_rolled_back_after_a_transfer_leaves_the_transfer_chained(world, clock, db):
    """A regression (the second reading): rolling back any savepoint (a change request's trial,
    db.unique_or after a unique violation) forgot every record the transaction had noted for
    its chain, so a transfer posted before it committed outside every chain. A savepoint now
    forgets only what was noted inside it (core.db.SessionQueue)."""
    payer = staff_context(db, "acme-payer", clock)
    body = TransferCreate(
        from_account_id=world.account_id("acme-operating"),
        to_account_id=world.account_id("acme-payroll"),
        amount=100_00,
        currency="EUR",
    )

    def work(session):  # type: ignore[no-untyped-def]
        ctx = RequestContext(actor=payer.actor, clock=clock)
        result = ledger.create_transfer(session, ctx, body, new_key())
        trial = session.begin_nested()
        trial.rollback()
        return result

    db.run(work)
    report = verify_database(db)
    assert report.ok, report.render()
