"""Payment batches over the API: a pain.001 file made by sepaxml, uploaded, approved as one,
posted; and the files refused with their reasons."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.batches import service as batches
from core.context import RequestContext
from core.models.audit import ActivityRecord, ChangeRecord, DecisionRecord
from core.models.iam import Grant
from core.models.payments import Payment
from core.policy import engine as policy_engine
from core.policy import registry
from core.policy.engine import PolicyEngine, PolicyFile
from core.uow import UnitOfWork
from tests.batches_world import Credit, add_payees, employees, pain001, upload, with_pending_batch
from tests.factories import bearer, new_key
from tests.ledger_checks import assert_ledger_consistent
from tests.payments_world import PaymentsWorld, build_payments_world


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return build_payments_world(db, app.state.services.passwords, world, clock)


def assert_ledger_holds(db) -> None:  # type: ignore[no-untyped-def]
    """`mandate ledger check`'s ledger, holds, payments, spend and limits checks all pass."""
    with db.unit_of_work(write=False) as session:
        assert_ledger_consistent(session)


def _iban(pw: PaymentsWorld, account: str = "acme-operating") -> str:
    return pw.world.accounts[account].iban or ""


def _people(app, pw, clock):  # type: ignore[no-untyped-def]
    users = pw.world.users
    return (
        bearer(app, users["acme-payer"], clock),
        bearer(app, users["acme-approver-a"], clock),
        bearer(app, users["acme-approver-b"], clock),
    )


def test_a_payroll_of_200_is_one_batch_approved_as_one_and_posts_200_payments(
    client, app, db, pw, clock
):
    payer, a, b = _people(app, pw, clock)
    staff = employees(200)
    add_payees(db, pw.world, clock, staff)
    account_id = pw.world.account_id("acme-operating")
    before = client.get(f"/v1/accounts/{account_id}", headers=payer).json()
    total = sum(c.amount for c in staff)

    made = upload(client, payer, pain001(_iban(pw), staff))
    assert made.status_code == 202, made.text
    batch = made.json()
    assert batch["status"] == "pending_approval" and batch["accepted_count"] == 200
    assert batch["total"] == total and batch["refused_count"] == 0
    # 200 payments of about 1,300.00 EUR: 260,000.00 EUR in all meets the 100,000.00 tier.
    assert batch["required"]["text"] == "2 more approvals, 1 of them from group A"
    held = client.get(f"/v1/accounts/{account_id}", headers=payer).json()
    assert held["held"] == total and held["balance"] == before["balance"]

    first = client.post(
        f"/v1/payment-batches/{batch['id']}/approve",
        headers={**b, "Idempotency-Key": new_key()},
    )
    assert first.status_code == 202, first.text
    assert first.json()["required"]["text"] == "1 more approval from group A"
    key = new_key()
    last = client.post(
        f"/v1/payment-batches/{batch['id']}/approve", headers={**a, "Idempotency-Key": key}
    )
    assert last.status_code == 201, last.text
    done = last.json()
    assert done["status"] == "approved"
    assert {item["status"] for item in done["items"]} == {"sent"}
    # The same key replays; a third approval is refused: the batch no longer waits.
    again = client.post(
        f"/v1/payment-batches/{batch['id']}/approve", headers={**a, "Idempotency-Key": key}
    )
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    late = client.post(
        f"/v1/payment-batches/{batch['id']}/approve",
        headers={**b, "Idempotency-Key": new_key()},
    )
    assert late.status_code == 403 and late.json()["error"] == "payment_not_pending"

    after = client.get(f"/v1/accounts/{account_id}", headers=payer).json()
    assert after["balance"] == before["balance"] - total and after["held"] == 0
    with db.unit_of_work(write=False) as session:
        paid = list(session.scalars(select(Payment).where(Payment.payment_batch_id == batch["id"])))
        assert len(paid) == 200 and {p.status for p in paid} == {"sent"}
        assert sum(p.amount for p in paid) == total
        logged = session.scalars(
            select(DecisionRecord).where(DecisionRecord.payment_batch_id == batch["id"])
        ).all()
        # One decision per item, the two approvals, and the late one refused.
        assert sum(d.action == "payment.create" for d in logged) == 200
        approvals = [d.decision for d in logged if d.action == "payment.approve"]
        assert approvals == ["allow", "allow", "deny"]
        changes = session.scalars(
            select(ChangeRecord).where(ChangeRecord.entity == "payment_batch")
        ).all()
        assert [c.entity_id for c in changes] == [batch["id"]]
        steps = session.scalars(
            select(ActivityRecord).where(
                ActivityRecord.payment_batch_id == batch["id"],
                ActivityRecord.user_id == pw.world.user_id("acme-payer"),
            )
        ).all()
        assert {s.action for s in steps} >= {"payment.create", "payment.approve"}
    assert_ledger_holds(db)


def test_a_bad_iban_is_refused_with_its_reason_and_the_rest_wait(client, app, db, pw, clock):
    payer, _a, _b = _people(app, pw, clock)
    staff = employees(3, amount=5_000_00)
    add_payees(db, pw.world, clock, staff)
    bad = Credit("Bad Iban", "DE00370400440532013000", 100_00)
    made = upload(client, payer, pain001(_iban(pw), [*staff, bad], schema="pain.001.001.03"))
    assert made.status_code == 202, made.text
    batch = made.json()
    assert batch["schema_version"] == "pain.001.001.03"
    assert batch["accepted_count"] == 3 and batch["refused_count"] == 1
    refused = batch["items"][3]
    assert refused["status"] == "refused" and refused["error"] == "invalid_iban"
    assert "IBAN" in refused["detail"]
    assert batch["total"] == sum(c.amount for c in staff)
    shown = client.get(f"/v1/payment-batches/{batch['id']}", headers=payer).json()
    assert shown["items"][3]["error"] == "invalid_iban"


def test_a_file_of_refused_payments_alone_creates_nothing(client, app, db, pw, clock):
    payer, _a, _b = _people(app, pw, clock)
    bad = Credit("Bad Iban", "DE00370400440532013000", 100_00)
    made = upload(client, payer, pain001(_iban(pw), [bad]))
    assert made.status_code == 422, made.text
    body = made.json()
    assert body["error"] == "payment_batch_refused"
    assert body["items"][0]["error"] == "invalid_iban"
    assert client.get("/v1/payment-batches", headers=payer).json()["items"] == []


def test_the_same_msg_id_is_refused_and_the_same_key_replays(client, app, db, pw, clock):
    payer, _a, _b = _people(app, pw, clock)
    staff = employees(2, amount=6_000_00)
    add_payees(db, pw.world, clock, staff)
    data = pain001(_iban(pw), staff)
    key = new_key()
    first = upload(client, payer, data, key)
    assert first.status_code == 202, first.text
    replay = upload(client, payer, data, key)
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    duplicate = upload(client, payer, data)
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["error"] == "duplicate_message_id"
    other = upload(client, payer, pain001(_iban(pw), staff), key)
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
    assert len(client.get("/v1/payment-batches", headers=payer).json()["items"]) == 1


def test_a_currency_the_account_does_not_hold_refuses_the_file(client, app, db, pw, clock):
    payer, _a, _b = _people(app, pw, clock)
    staff = employees(2)
    add_payees(db, pw.world, clock, staff)
    made = upload(client, payer, pain001(_iban(pw), staff, currency="USD"))
    assert made.status_code == 422, made.text
    assert made.json()["error"] == "currency_mismatch"
    assert "holds EUR" in made.json()["detail"]


def test_a_total_above_the_daily_limit_is_refused_item_by_item(client, app, db, pw, clock):
    payer, _a, _b = _people(app, pw, clock)
    with db.unit_of_work() as session:
        grant = session.get(Grant, pw.world.grants["acme-payer"].id)
        assert grant is not None
        grant.limit_currency, grant.daily_limit = "EUR", 25_000_00
    staff = [Credit(f"Employee {n}", c.iban, 10_000_00) for n, c in enumerate(employees(3))]
    add_payees(db, pw.world, clock, staff)
    made = upload(client, payer, pain001(_iban(pw), staff))
    assert made.status_code == 202, made.text
    batch = made.json()
    assert [i["status"] for i in batch["items"]] == ["pending_approval"] * 2 + ["refused"]
    assert batch["items"][2]["error"] == "limit_daily"
    assert "20,000.00 EUR already sent today" in batch["items"][2]["detail"]
    # A second file the same day: the batch's total counted already. Every payment of it
    # refused for one reason, the file is refused with it.
    more = upload(client, payer, pain001(_iban(pw), staff[:1]))
    assert more.status_code == 403 and more.json()["error"] == "limit_daily"
    assert more.json()["items"][0]["error"] == "limit_daily"
    # Cancelled, the batch gives its total back to the limit.
    cancelled = client.post(
        f"/v1/payment-batches/{batch['id']}/cancel", headers=payer, json={"reason": "redo"}
    )
    assert cancelled.status_code == 200, cancelled.text
    again = upload(client, payer, pain001(_iban(pw), staff[:2]))
    assert again.status_code == 202, again.text
    assert_ledger_holds(db)


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"<Document", 422, "xml_malformed"),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">'
            b"]><Document>&c;</Document>",
            422,
            "xml_forbidden",
        ),
        (
            b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:pain.008.001.02'/>",
            422,
            "unsupported_file_version",
        ),
        (
            b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:pain.001.001.09'><x/></Document>",
            422,
            "file_not_schema_valid",
        ),
    ],
)
def test_hostile_and_malformed_files_are_refused_quickly(
    client, app, pw, clock, data, status, code
):
    payer, _a, _b = _people(app, pw, clock)
    made = upload(client, payer, data)
    assert made.status_code == status, made.text
    assert made.json()["error"] == code


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(client, app, pw, clock):
    payer, _a, _b = _people(app, pw, clock)
    huge = b"<" * (50 * 1024 * 1024)
    made = upload(client, payer, huge)
    assert made.status_code == 413, made.text
    assert made.json()["error"] == "payload_too_large"


def test_rejected_whole_gives_everything_back(client, app, db, pw, clock):
    payer, a, _b = _people(app, pw, clock)
    staff = employees(5, amount=3_000_00)
    add_payees(db, pw.world, clock, staff)
    account_id = pw.world.account_id("acme-operating")
    batch = upload(client, payer, pain001(_iban(pw), staff)).json()
    assert batch["required"]["approvals"] == 1
    no_reason = client.post(f"/v1/payment-batches/{batch['id']}/reject", headers=a, json={})
    assert no_reason.status_code == 422 and no_reason.json()["error"] == "reason_required"
    own = client.post(
        f"/v1/payment-batches/{batch['id']}/approve",
        headers={**payer, "Idempotency-Key": new_key()},
    )
    assert own.status_code == 403, own.text
    rejected = client.post(
        f"/v1/payment-batches/{batch['id']}/reject", headers=a, json={"reason": "wrong month"}
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert {i["status"] for i in rejected.json()["items"]} == {"rejected"}
    assert client.get(f"/v1/accounts/{account_id}", headers=payer).json()["held"] == 0
    assert_ledger_holds(db)


def test_another_tenants_batch_is_not_found(client, app, db, pw, clock):
    payer, _a, _b = _people(app, pw, clock)
    staff = employees(1, amount=10_00)
    add_payees(db, pw.world, clock, staff)
    batch = upload(client, payer, pain001(_iban(pw), staff)).json()
    other = bearer(app, pw.world.users["globex-admin"], clock)
    for method, path in (
        ("GET", f"/v1/payment-batches/{batch['id']}"),
        ("POST", f"/v1/payment-batches/{batch['id']}/cancel"),
    ):
        answer = client.request(method, path, headers=other, json={})
        assert answer.status_code == 404, answer.text
    # Another company's account as the file's debtor: not found either.
    globex = upload(client, payer, pain001(_iban(pw, "globex-main"), staff))
    assert globex.status_code == 404, globex.text


def test_a_batch_past_its_expiry_is_refused_and_its_expiry_gives_everything_back(
    client, app, db, pw, clock
):
    payer, a, _b = _people(app, pw, clock)
    staff = employees(4, amount=3_000_00)
    add_payees(db, pw.world, clock, staff)
    account_id = pw.world.account_id("acme-operating")
    batch = upload(client, payer, pain001(_iban(pw), staff)).json()
    clock.advance(days=8)  # the company's payment expiry is 7 days
    payer, a, _b = _people(app, pw, clock)  # tokens of the new day
    shown = client.get(f"/v1/payment-batches/{batch['id']}", headers=payer).json()
    assert shown["status"] == "expired"
    late = client.post(
        f"/v1/payment-batches/{batch['id']}/approve", headers={**a, "Idempotency-Key": new_key()}
    )
    assert late.status_code == 403 and late.json()["error"] == "payment_not_pending"
    assert client.get(f"/v1/accounts/{account_id}", headers=payer).json()["held"] == batch["total"]
    ctx = RequestContext(actor=None, clock=clock)
    assert UnitOfWork(db, ctx).run(batches.expire_batches) == 1
    assert client.get(f"/v1/accounts/{account_id}", headers=payer).json()["held"] == 0
    assert_ledger_holds(db)


def test_an_approved_batchs_payments_name_it(client, app, db, pw, clock):
    payer, a, _b = _people(app, pw, clock)
    staff = employees(3, amount=4_000_00)
    add_payees(db, pw.world, clock, staff)
    batch = upload(client, payer, pain001(_iban(pw), staff)).json()
    done = client.post(
        f"/v1/payment-batches/{batch['id']}/approve", headers={**a, "Idempotency-Key": new_key()}
    ).json()
    payment_id = done["items"][0]["payment_id"]
    payment = client.get(f"/v1/payments/{payment_id}", headers=payer).json()
    assert payment["payment_batch_id"] == batch["id"] and payment["status"] == "sent"
    listed = client.get("/v1/payment-batches", headers=payer, params={"status": "approved"})
    assert [b["id"] for b in listed.json()["items"]] == [batch["id"]]
    assert listed.json()["items"][0]["items"] is None


def test_a_batchs_panel_is_asked_of_its_companys_policy(client, app, db, pw, clock, monkeypatch):
    """A regression: a batch's panel was asked of the process's default policy, not of the
    one its company runs (a pinned version, an extension), as a payment's is."""
    payer, _a, _b = _people(app, pw, clock)
    staff = employees(2, amount=100_00)
    add_payees(db, pw.world, clock, staff)
    default = policy_engine.current()
    # Acme's policy asks three approvals of any batch (one with more approvals than Acme's
    # tiers, to tell the two apart).
    stricter = PolicyEngine(
        [
            PolicyFile(
                f.name,
                f.text.replace(
                    "batch_panel(batch, tiers, approvals, group_a) if\n",
                    "batch_panel(_batch, _tiers, 3, 0) if cut;\n"
                    "batch_panel(batch, tiers, approvals, group_a) if\n",
                ),
            )
            for f in default.files
        ],
        compile=default.compile_enabled,
    )
    acme = pw.world.tenants["acme"].id

    def for_tenant(tenant_id):  # type: ignore[no-untyped-def]
        return stricter if tenant_id == acme else default

    monkeypatch.setattr(registry, "for_tenant", for_tenant)
    made = upload(client, payer, pain001(_iban(pw), staff))
    assert made.status_code == 202, made.text
    assert made.json()["required"]["approvals"] == 3


def test_a_batch_waits_in_its_approvers_inbox_until_they_approve_it(client, app, db, pw, clock):
    """GET /v1/approvals/payment-batches (and the console's Approvals page): the batches the
    caller may approve now, as /v1/approvals lists payments; never the uploader's own."""
    payer, a, _b = _people(app, pw, clock)
    with_pending_batch(db, app.state.services.passwords, pw.world, clock, pw)
    batch_id = pw.world.batch_ids["acme"]
    inbox = client.get("/v1/approvals/payment-batches", headers=a)
    assert inbox.status_code == 200, inbox.text
    (item,) = inbox.json()
    assert item["batch"]["id"] == batch_id
    assert item["approving_would"] == "post 2 payments of 20,000.00 EUR in all"
    assert client.get("/v1/approvals/payment-batches", headers=payer).json() == []
    globex = bearer(app, pw.world.users["globex-admin"], clock)
    assert client.get("/v1/approvals/payment-batches", headers=globex).json() == []
    approved = client.post(
        f"/v1/payment-batches/{batch_id}/approve", headers={**a, "Idempotency-Key": new_key()}
    )
    assert approved.status_code == 201, approved.text
    assert client.get("/v1/approvals/payment-batches", headers=a).json() == []


@pytest.mark.parametrize("encoding", ["bogus", "UTF-7"])
def test_a_file_in_an_encoding_the_parser_cannot_read_is_malformed(
    client, app, pw, clock, encoding
):
    """A regression (the outsider attack): an unknown or multi-byte encoding answered 500."""
    payer, _a, _b = _people(app, pw, clock)
    made = upload(client, payer, f'<?xml version="1.0" encoding="{encoding}"?><Document/>'.encode())
    assert made.status_code == 422 and made.json()["error"] == "xml_malformed", made.text


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "text/plain", "application/x-www-form-urlencoded", None],
)
def test_a_payment_file_not_sent_as_xml_is_415_and_creates_nothing(
    client, app, db, pw, clock, content_type
):
    """A regression (the outsider attack): a file sent as JSON or text was read as XML."""
    payer, _a, _b = _people(app, pw, clock)
    data = pain001(_iban(pw), employees(2))
    headers = {**payer, "Idempotency-Key": new_key()}
    if content_type:
        headers["Content-Type"] = content_type
    made = client.post("/v1/payment-batches", content=data, headers=headers)
    assert made.status_code == 415, made.text
    assert made.json()["error"] == "unsupported_media_type"
    with db.unit_of_work(write=False) as session:
        assert session.scalars(select(Payment)).all() == []


def test_a_payment_file_sent_as_text_xml_with_a_charset_is_taken(client, app, db, pw, clock):
    payer, _a, _b = _people(app, pw, clock)
    credits = employees(2)
    add_payees(db, pw.world, clock, credits)
    data = pain001(_iban(pw), credits)
    headers = {**payer, "Idempotency-Key": new_key(), "Content-Type": "text/xml; charset=utf-8"}
    made = client.post("/v1/payment-batches", content=data, headers=headers)
    assert made.status_code in (201, 202), made.text
