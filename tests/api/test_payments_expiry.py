"""A payment nobody approves in time expires: past the tenant's payment_expiry_days a GET (and
the list) shows it expired and approvals are refused; `expire_payments` (and, on its way, a
new payment from the same account) ends it, releases its hold and gives its amount back to
the payer's limits."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.ledger import debits
from core.models.iam import PersonSpend, Tenant
from core.models.payments import Payment
from core.payments import service as payments
from tests.factories import bearer, new_key, unit_of_work
from tests.ledger_checks import assert_ledger_consistent
from tests.payments_checks import assert_payments_consistent
from tests.payments_world import PaymentsWorld, build_payments_world

MONTHLY = 50_000_00


@pytest.fixture
def pw(app, client, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    """Acme's payments expire after one day (so that the month does not turn meanwhile), and
    its payer may pay 50,000.00 EUR a month."""
    built = build_payments_world(db, app.state.services.passwords, world, clock)

    def one_day(session, _ctx):  # type: ignore[no-untyped-def]
        tenant = session.get(Tenant, world.tenants["acme"].id)
        tenant.payment_expiry_days = 1

    unit_of_work(db, clock).run(one_day)
    admin = bearer(app, world.users["acme-admin"], clock)
    grant = world.grants["acme-payer"]
    assert client.delete(f"/v1/grants/{grant.id}", headers=admin).status_code == 200
    limited = client.post(
        "/v1/grants",
        json={
            "user_id": world.user_id("acme-payer"),
            "role_id": grant.role_id,
            "limits": {"currency": "EUR", "monthly": MONTHLY},
        },
        headers=admin,
    )
    assert limited.status_code == 201, limited.text
    return built


def _pay(client, app, pw: PaymentsWorld, clock, amount: int):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/payments",
        json={
            "account_id": pw.world.account_id("acme-operating"),
            "beneficiary_id": pw.beneficiary_id("supplier"),
            "amount": amount,
            "currency": "EUR",
        },
        headers={**bearer(app, pw.world.users["acme-payer"], clock), "Idempotency-Key": new_key()},
    )


def _held(client, app, pw: PaymentsWorld, clock) -> int:  # type: ignore[no-untyped-def]
    account = client.get(
        f"/v1/accounts/{pw.world.account_id('acme-operating')}",
        headers=bearer(app, pw.world.users["acme-payer"], clock),
    )
    return account.json()["held"]  # type: ignore[no-any-return]


def _month_spent(db, pw: PaymentsWorld) -> int:  # type: ignore[no-untyped-def]
    """What the payer's limits count this month."""
    with db.unit_of_work(write=False) as session:
        rows = session.scalars(
            select(PersonSpend).where(PersonSpend.user_id == pw.world.user_id("acme-payer"))
        )
        return sum(row.amount for row in rows)


def _lapse(client, app, pw: PaymentsWorld, clock) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """A 40,000.00 EUR payment, made and left a day and an hour: past its expiry."""
    made = _pay(client, app, pw, clock, 40_000_00)
    assert made.status_code == 202, made.text
    assert _held(client, app, pw, clock) == 40_000_00
    clock.advance(days=1, hours=1)
    return made.json()  # type: ignore[no-any-return]


def test_past_its_expiry_a_payment_is_shown_expired_and_refused(client, app, pw, db, clock):
    payment = _lapse(client, app, pw, clock)
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    a = bearer(app, pw.world.users["acme-approver-a"], clock)
    shown = client.get(f"/v1/payments/{payment['id']}", headers=a).json()
    assert shown["status"] == "expired"
    assert shown["required"]["still_needed"] == 0
    listed = client.get("/v1/payments", params={"status": "expired"}, headers=a).json()
    assert [p["id"] for p in listed["items"]] == [payment["id"]]
    waiting = client.get("/v1/payments", params={"status": "pending_approval"}, headers=a).json()
    assert waiting["items"] == []
    assert client.get("/v1/approvals", headers=a).json() == []
    for path, headers, body in (
        ("approve", {**a, "Idempotency-Key": new_key()}, None),
        ("reject", a, {"reason": "too late"}),
        ("cancel", payer, {}),
    ):
        refused = client.post(f"/v1/payments/{payment['id']}/{path}", json=body, headers=headers)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["error"] == "payment_not_pending", (path, refused.text)
    # Nothing was written: it still holds its amount until it is released.
    assert _held(client, app, pw, clock) == 40_000_00
    assert _month_spent(db, pw) == 40_000_00


def test_expire_payments_releases_the_hold_and_gives_the_limits_back(client, app, pw, db, clock):
    payment = _lapse(client, app, pw, clock)
    # Beyond the month's limit while the lapsed payment still counts (40,000 + 45,000).
    assert unit_of_work(db, clock).run(payments.expire_payments) == 1
    assert unit_of_work(db, clock).run(payments.expire_payments) == 0  # once
    ended = client.get(
        f"/v1/payments/{payment['id']}", headers=bearer(app, pw.world.users["acme-payer"], clock)
    ).json()
    assert ended["status"] == "expired" and ended["ended_at"] is not None
    assert ended["transfer_id"] is None
    assert _held(client, app, pw, clock) == 0
    assert _month_spent(db, pw) == 0
    again = _pay(client, app, pw, clock, 45_000_00)
    assert again.status_code == 202, again.text


def test_a_new_payment_from_the_account_releases_its_lapsed_holds_first(client, app, pw, db, clock):
    payment = _lapse(client, app, pw, clock)
    # 40,000 lapsed + 45,000 would pass the 50,000.00 month: the lapsed one goes first.
    made = _pay(client, app, pw, clock, 45_000_00)
    assert made.status_code == 202, made.text
    assert _held(client, app, pw, clock) == 45_000_00
    assert _month_spent(db, pw) == 45_000_00
    ended = client.get(
        f"/v1/payments/{payment['id']}", headers=bearer(app, pw.world.users["acme-payer"], clock)
    ).json()
    assert ended["status"] == "expired" and ended["ended_at"] is not None
    # ... and it is ended for good: the command finds nothing left to do.
    assert unit_of_work(db, clock).run(payments.expire_payments) == 0


def test_a_preview_says_what_the_payment_would_do_with_lapsed_holds_around(
    client, app, pw, db, clock
):
    """A preview is the payment's own decisions: the lapsed payment it would release first
    does not count. Regression: the preview counted it and said limit_monthly, refused,
    where the payment itself was accepted; nothing of the release is kept."""
    _lapse(client, app, pw, clock)
    body = {
        "account_id": pw.world.account_id("acme-operating"),
        "beneficiary_id": pw.beneficiary_id("supplier"),
        "amount": 45_000_00,
        "currency": "EUR",
    }
    preview = client.post(
        "/v1/payment-previews", json=body, headers=bearer(app, pw.world.users["acme-payer"], clock)
    )
    assert preview.status_code == 200, preview.text
    assert (_held(client, app, pw, clock), _month_spent(db, pw)) == (40_000_00, 40_000_00)
    made = _pay(client, app, pw, clock, 45_000_00)
    assert (preview.json()["outcome"], made.status_code) == ("pending_approval", 202), (
        preview.json(),
        made.text,
    )


def _transfer(client, pw, headers, source: str, target: str, amount: int):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/transfers",
        json={
            "from_account_id": pw.world.account_id(source),
            "to_account_id": pw.world.account_id(target),
            "amount": amount,
            "currency": "EUR",
        },
        headers={**headers, "Idempotency-Key": new_key()},
    )


def test_a_debit_of_the_account_releases_its_lapsed_holds_first(client, app, pw, db, clock):
    """Regression: a transfer or a withdrawal from an account with a lapsed payment still
    counted that payment's hold (and its limits) until a new payment from the account or
    `mandate payments expire` released it. Every debit now lets it go first, in its own
    transaction: the transfer of all that is available once it is released succeeds."""
    manager = bearer(app, pw.world.users["manager"], clock)
    account = client.get(f"/v1/accounts/{pw.world.account_id('acme-operating')}", headers=manager)
    free = account.json()["balance"] + account.json()["overdraft_limit"] - 45_000_00
    withdrawn = client.post(
        "/v1/withdrawals",
        json={
            "account_id": pw.world.account_id("acme-operating"),
            "amount": free,
            "currency": "EUR",
        },
        headers={**manager, "Idempotency-Key": new_key()},
    )
    assert withdrawn.status_code == 201, withdrawn.text
    payment = _lapse(client, app, pw, clock)  # holds 40,000.00 of the 45,000.00
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    moved = _transfer(client, pw, payer, "acme-operating", "acme-payroll", 45_000_00)
    assert moved.status_code == 201, moved.text
    ended = client.get(f"/v1/payments/{payment['id']}", headers=payer).json()
    assert ended["status"] == "expired" and ended["ended_at"] is not None
    assert _held(client, app, pw, clock) == 0
    assert _month_spent(db, pw) == 45_000_00  # the transfer's; the payment's was given back
    assert unit_of_work(db, clock).run(payments.expire_payments) == 0
    items = client.get("/v1/activity", headers=payer).json()["items"]
    assert [i["action"] for i in items if i["payment_id"] == payment["id"]] == ["payment.expired"]
    with db.unit_of_work(write=False) as session:
        assert_ledger_consistent(session)
        assert_payments_consistent(session)


def test_a_withdrawal_releases_lapsed_holds_too(client, app, pw, db, clock):
    payment = _lapse(client, app, pw, clock)
    manager = bearer(app, pw.world.users["manager"], clock)
    account = client.get(f"/v1/accounts/{pw.world.account_id('acme-operating')}", headers=manager)
    everything = account.json()["balance"] + account.json()["overdraft_limit"]
    withdrawn = client.post(
        "/v1/withdrawals",
        json={
            "account_id": pw.world.account_id("acme-operating"),
            "amount": everything,
            "currency": "EUR",
        },
        headers={**manager, "Idempotency-Key": new_key()},
    )
    assert withdrawn.status_code == 201, withdrawn.text
    assert client.get(f"/v1/payments/{payment['id']}", headers=manager).json()["status"] == (
        "expired"
    )
    assert _held(client, app, pw, clock) == 0


def test_a_debit_of_an_account_the_caller_cannot_see_settles_nothing(
    client, app, pw, db, clock, monkeypatch
):
    """Regression: the debit settled the account's lapsed payments before asking whether the
    caller may see the account: another company's payer made Acme's payment rows lock (and
    end, until the 404 rolled it back), an answer slower for an account that exists. Now the
    404 comes first: no settler runs, nothing of Acme's is touched."""
    payment = _lapse(client, app, pw, clock)
    settled_for: list[tuple[str, int]] = []
    original = dict(debits._SETTLERS)
    for name, settler in original.items():

        def spy(session, ctx, account_id, account_ids, settler=settler, name=name):  # type: ignore[no-untyped-def]
            settled_for.append((name, account_id))
            settler(session, ctx, account_id, account_ids)

        monkeypatch.setitem(debits._SETTLERS, name, spy)
    assert original, "core.runtime.compose registered no settler"
    stranger = bearer(app, pw.world.users["globex-payer"], clock)
    refused = _transfer(client, pw, stranger, "acme-operating", "globex-main", 1_00)
    assert refused.status_code == 404, refused.text
    assert settled_for == []
    with db.unit_of_work(write=False) as session:
        row = session.get(Payment, payment["id"])
        assert row is not None and row.status == "pending_approval" and row.ended_at is None
    # The account's own payer still settles it on the way.
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    moved = _transfer(client, pw, payer, "acme-operating", "acme-payroll", 1_00)
    assert moved.status_code == 201, moved.text
    # Every settler registered (payments', payment batches') once, for the account debited.
    operating = pw.world.account_id("acme-operating")
    assert sorted(settled_for) == sorted((name, operating) for name in original)
    assert _held(client, app, pw, clock) == 0
