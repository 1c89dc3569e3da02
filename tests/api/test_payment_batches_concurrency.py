"""Payment batches under real concurrency, through the HTTP API served by uvicorn
(PostgreSQL: the row locks are what is tested; SQLite runs one writer at a time): two
approvals of one batch at once post it exactly once; two batches uploaded at once never
jointly pass the uploader's daily limit."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select

from core.models.iam import Grant
from core.models.ledger import Transfer
from core.models.payments import Payment
from tests.api.test_payments_concurrency import Request, at_once
from tests.batches_world import Credit, add_payees, employees, pain001, upload
from tests.factories import bearer, new_key
from tests.ledger_checks import assert_ledger_consistent
from tests.payments_world import PaymentsWorld, build_payments_world

ROUNDS = 3


@pytest.fixture
def pw(backend, app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    if backend != "postgresql":
        pytest.skip("row locks under real concurrency: PostgreSQL only")
    return build_payments_world(db, app.state.services.passwords, world, clock)


def approve(batch_id: int, headers: dict[str, str]) -> Request:
    return lambda client: client.post(
        f"/v1/payment-batches/{batch_id}/approve",
        headers={**headers, "Idempotency-Key": new_key()},
    )


def test_two_approvals_at_once_post_the_batch_exactly_once(app, db, pw, clock, live_server):
    users = pw.world.users
    payer = bearer(app, users["acme-payer"], clock)
    approvers = [bearer(app, users[name], clock) for name in ("acme-approver-a", "acme-approver-b")]
    staff = employees(20, amount=1_000_00)  # about 20,000.00 EUR: one approval
    add_payees(db, pw.world, clock, staff)
    iban = pw.world.accounts["acme-operating"].iban or ""
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        for _ in range(ROUNDS):
            batch = upload(http, payer, pain001(iban, staff)).json()
            assert batch["required"]["approvals"] == 1, batch

            answers = at_once(live_server, [approve(batch["id"], h) for h in approvers])
            outcomes = Counter(
                (a.status_code, a.json().get("error") or a.json()["status"]) for a in answers
            )
            assert outcomes == {(201, "approved"): 1, (403, "payment_not_pending"): 1}, outcomes
            with db.unit_of_work(write=False) as session:
                paid = session.scalars(
                    select(Payment).where(Payment.payment_batch_id == batch["id"])
                ).all()
                assert len(paid) == 20 and len({p.transfer_id for p in paid}) == 20
    with db.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count(Payment.id))) == 20 * ROUNDS
        assert (
            session.scalar(select(func.count(Transfer.id)).where(Transfer.kind == "payment"))
            == 20 * ROUNDS
        )
        assert_ledger_consistent(session)


def test_two_batches_at_once_never_jointly_pass_the_daily_limit(app, db, pw, clock, live_server):
    with db.unit_of_work() as session:
        grant = session.get(Grant, pw.world.grants["acme-payer"].id)
        assert grant is not None
        grant.limit_currency, grant.daily_limit = "EUR", 30_000_00
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    staff = [Credit(c.name, c.iban, 10_000_00) for c in employees(2)]
    add_payees(db, pw.world, clock, staff)
    iban = pw.world.accounts["acme-operating"].iban or ""
    files = [pain001(iban, staff), pain001(iban, staff)]
    answers = at_once(
        live_server, [lambda client, data=data: upload(client, payer, data) for data in files]
    )
    accepted = [
        item
        for answer in answers
        if answer.status_code == 202
        for item in answer.json()["items"]
        if item["status"] != "refused"
    ]
    refused = [
        item["error"]
        for answer in answers
        for item in (answer.json().get("items") or [])
        if item.get("status", "refused") == "refused"
    ]
    # 40,000.00 EUR asked of a 30,000.00 EUR day: three items pass, one is refused.
    assert len(accepted) == 3 and refused == ["limit_daily"], [a.text for a in answers]
    with db.unit_of_work(write=False) as session:
        assert_ledger_consistent(session)
