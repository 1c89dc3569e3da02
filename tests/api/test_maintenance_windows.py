"""Maintenance windows: announced by bank managers, seen by everyone (GET /v1/status, the
Mandate-Maintenance header, the console's banner), and met by every request while in force:
read_only refuses writes with 503 maintenance and Retry-After, full everything but health,
status and metrics. A read never moves money meanwhile; every process sees a change within
its TTL (at most 5 s)."""

from __future__ import annotations

import datetime as dt
import threading

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from core.iam import service as iam
from core.ledger import repository as ledger_repository
from core.models.ledger import Transfer
from core.models.operations import MaintenanceWindow
from tests.admin.console import sign_in
from tests.factories import PASSWORD, bearer, new_key, unit_of_work
from tests.ledger_checks import assert_ledger_consistent
from tests.payments_world import build_payments_world

HOUR = dt.timedelta(hours=1)


def _announce(client, app, world, clock, *, starts_in, lasts=HOUR, mode="read_only", **extra):  # type: ignore[no-untyped-def]
    start = clock.now() + starts_in
    body = {
        "starts_at": start.isoformat(),
        "ends_at": (start + lasts).isoformat(),
        "mode": mode,
        "message": "Database upgrade: back at 11:00.",
        **extra,
    }
    return client.post(
        "/v1/maintenance-windows", json=body, headers=bearer(app, world.users["manager"], clock)
    )


def _transfer(client, app, world, clock):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/transfers",
        json={
            "from_account_id": world.account_id("acme-operating"),
            "to_account_id": world.account_id("acme-payroll"),
            "amount": 100,
            "currency": "EUR",
        },
        headers={**bearer(app, world.users["acme-payer"], clock), "Idempotency-Key": new_key()},
    )


def _transfers(db) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as session:
        return int(session.scalar(select(func.count(Transfer.id))) or 0)


def test_a_manager_announces_a_window_and_everyone_sees_it_before_it_starts(
    client, app, world, clock
):
    made = _announce(client, app, world, clock, starts_in=dt.timedelta(days=2))
    assert made.status_code == 201, made.text
    window = made.json()
    assert window["status"] == "scheduled" and window["scheduled_by"] == world.user_id("manager")
    status = client.get("/v1/status")  # no token
    assert status.status_code == 200
    assert status.json()["status"] == "operational" and status.json()["current"] is None
    [upcoming] = status.json()["upcoming"]
    assert upcoming["mode"] == "read_only" and upcoming["message"].startswith("Database upgrade")
    assert "scheduled_by" not in upcoming  # nobody's id in the public status
    # Writes go on before it starts; every API answer names it.
    moved = _transfer(client, app, world, clock)
    assert moved.status_code == 201, moved.text
    start = (clock.now() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (clock.now() + dt.timedelta(days=2) + HOUR).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert moved.headers["Mandate-Maintenance"] == f"start={start}; end={end}; mode=read_only"
    listed = client.get(
        "/v1/maintenance-windows", headers=bearer(app, world.users["compliance"], clock)
    )
    assert [w["id"] for w in listed.json()] == [window["id"]]


def test_a_window_beyond_the_notice_period_is_not_announced_yet(client, app, world, clock):
    assert _announce(client, app, world, clock, starts_in=dt.timedelta(days=21)).status_code == 201
    assert client.get("/v1/status").json() == {
        "status": "operational",
        "current": None,
        "upcoming": [],
    }
    assert "Mandate-Maintenance" not in _transfer(client, app, world, clock).headers


def test_in_a_read_only_window_writes_answer_503_with_retry_after_and_reads_go_on(
    client, app, db, world, clock
):
    assert _announce(client, app, world, clock, starts_in=HOUR, lasts=2 * HOUR).status_code == 201
    before = _transfers(db)
    clock.advance(minutes=90)  # 30 minutes into the window, 90 to go
    refused = _transfer(client, app, world, clock)
    assert refused.status_code == 503
    assert refused.json() == {"error": "maintenance", "detail": "Database upgrade: back at 11:00."}
    assert refused.headers["Retry-After"] == str(90 * 60)
    assert refused.headers["Mandate-Maintenance"].endswith("mode=read_only")
    assert _transfers(db) == before
    payer = bearer(app, world.users["acme-payer"], clock)
    account = world.account_id("acme-operating")
    for path in ("/v1/accounts", f"/v1/accounts/{account}", f"/v1/accounts/{account}/entries"):
        read = client.get(path, headers=payer)
        assert read.status_code == 200, (path, read.text)
        assert "mode=read_only" in read.headers["Mandate-Maintenance"]
    explained = client.get(
        "/v1/authz/explain",
        params={
            "user": world.user_id("acme-payer"),
            "action": "transfer.create",
            "account": account,
            "amount": 100,
        },
        headers=bearer(app, world.users["acme-admin"], clock),
    )
    assert explained.status_code == 200, explained.text
    # Signing in goes on (people sign in to read); changing anyone's access does not.
    signed = client.post(
        "/v1/auth/token",
        data={"username": "acme-payer", "password": "correct horse battery staple"},
    )
    assert signed.status_code in (200, 401)  # not refused by the window
    assert signed.status_code != 503
    admin = bearer(app, world.users["acme-admin"], clock)
    renamed = client.patch(
        f"/v1/users/{world.user_id('acme-bookkeeper')}", json={"display_name": "X"}, headers=admin
    )
    assert renamed.status_code == 503
    # A leaked token is cut off all the same (a regression: revoking was refused 503).
    revoked = client.post(
        "/v1/auth/revoke", data={"token": admin["Authorization"][7:]}, headers=admin
    )
    assert revoked.status_code == 200, revoked.text
    assert client.get("/v1/me", headers=admin).status_code == 401
    status = client.get("/v1/status").json()
    assert status["status"] == "read_only" and status["current"]["mode"] == "read_only"
    # After its end, writes are taken again.
    clock.advance(minutes=90)
    assert _transfer(client, app, world, clock).status_code == 201
    assert client.get("/v1/status").json()["status"] == "operational"


def test_a_full_window_refuses_everything_but_health_status_and_metrics(client, app, world, clock):
    assert _announce(client, app, world, clock, starts_in=HOUR, mode="full").status_code == 201
    clock.advance(minutes=60)
    read = client.get("/v1/accounts", headers=bearer(app, world.users["acme-payer"], clock))
    assert read.status_code == 503 and read.json()["error"] == "maintenance"
    assert read.headers["Retry-After"] == "3600"
    assert client.get("/console/sign-in").status_code == 503
    for path in ("/healthz", "/readyz", "/v1/status"):
        assert client.get(path).status_code == 200, path
    assert client.get("/v1/status").json()["status"] == "maintenance"


def test_a_manager_ends_a_window_in_force_early_and_writes_resume(client, app, world, clock):
    window = _announce(client, app, world, clock, starts_in=HOUR).json()
    clock.advance(minutes=61)
    assert _transfer(client, app, world, clock).status_code == 503
    manager = bearer(app, world.users["manager"], clock)
    ended = client.post(f"/v1/maintenance-windows/{window['id']}/cancel", headers=manager)
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "over"
    assert _transfer(client, app, world, clock).status_code == 201
    again = client.post(f"/v1/maintenance-windows/{window['id']}/cancel", headers=manager)
    assert again.status_code == 409 and again.json()["error"] == "maintenance_window_over"


@pytest.mark.parametrize(
    ("starts_in", "lasts", "why"),
    [
        (-HOUR, HOUR, "starts now or later"),
        (HOUR, -dt.timedelta(minutes=1), "ends after it starts"),
        (HOUR, dt.timedelta(days=8), "at most 7 days"),
        (dt.timedelta(days=400), HOUR, "within a year"),
    ],
)
def test_a_window_with_impossible_times_is_refused_and_nothing_is_stored(
    client, app, db, world, clock, starts_in, lasts, why
):
    refused = _announce(client, app, world, clock, starts_in=starts_in, lasts=lasts)
    assert refused.status_code == 422 and why in refused.json()["detail"]
    with db.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count(MaintenanceWindow.id))) == 0


def test_malformed_windows_are_refused(client, app, world, clock):
    manager = bearer(app, world.users["manager"], clock)
    base = {
        "starts_at": "2026-12-01T22:00:00",
        "ends_at": "2026-12-01T23:00:00Z",
        "mode": "read_only",
        "message": "x",
    }
    naive = client.post("/v1/maintenance-windows", json=base, headers=manager)
    assert naive.status_code == 422 and naive.json()["error"] == "naive_datetime"
    for wrong in (
        {"mode": "off"},
        {"message": ""},
        {"message": "a\u202eb"},
        {"message": "x" * 501},
        {"extra": 1},
    ):
        body = {**base, "starts_at": "2026-12-01T22:00:00Z", **wrong}
        answer = client.post("/v1/maintenance-windows", json=body, headers=manager)
        assert answer.status_code == 422, (wrong, answer.text)


def test_customers_and_compliance_cannot_announce_or_cancel(client, app, world, clock):
    window = _announce(client, app, world, clock, starts_in=HOUR).json()
    for username, status in (("acme-admin", 404), ("compliance", 403), ("globex-admin", 404)):
        who = bearer(app, world.users[username], clock)
        body = {
            "starts_at": clock.now().isoformat(),
            "ends_at": (clock.now() + HOUR).isoformat(),
            "mode": "full",
            "message": "x",
        }
        assert client.post("/v1/maintenance-windows", json=body, headers=who).status_code == status
        cancel = client.post(f"/v1/maintenance-windows/{window['id']}/cancel", headers=who)
        assert cancel.status_code == status
    missing = client.get(
        "/v1/maintenance-windows/999999", headers=bearer(app, world.users["manager"], clock)
    )
    assert missing.status_code == 404


def test_a_read_in_a_window_leaves_a_scheduled_payment_due_for_after_it(
    client, app, db, world, clock
):
    pw = build_payments_world(db, app.state.services.passwords, world, clock)
    payer = {**bearer(app, world.users["acme-payer"], clock), "Idempotency-Key": new_key()}
    tomorrow = (clock.now() + dt.timedelta(days=1)).date().isoformat()
    made = client.post(
        "/v1/payments",
        json={
            "account_id": world.account_id("acme-operating"),
            "beneficiary_id": pw.beneficiary_id("supplier"),
            "amount": 700_00,
            "currency": "EUR",
            "execution_date": tomorrow,
        },
        headers=payer,
    )
    assert made.json()["status"] == "scheduled", made.text
    assert (
        _announce(
            client, app, world, clock, starts_in=dt.timedelta(hours=20), lasts=dt.timedelta(hours=6)
        ).status_code
        == 201
    )
    before = _transfers(db)
    clock.advance(days=1)  # its day has come, inside the window
    payer = bearer(app, world.users["acme-payer"], clock)
    shown = client.get(f"/v1/payments/{made.json()['id']}", headers=payer)
    assert shown.status_code == 200, shown.text
    assert shown.json()["status"] == "scheduled" and shown.json()["transfer_id"] is None
    assert _transfers(db) == before  # no money moved on the way
    clock.advance(hours=6)  # the window is over: the next read executes it
    payer = bearer(app, world.users["acme-payer"], clock)
    assert client.get(f"/v1/payments/{made.json()['id']}", headers=payer).json()["status"] == "sent"
    assert _transfers(db) == before + 1


def test_another_app_on_the_same_database_sees_a_window_within_its_ttl(
    client, app, settings, db, world, clock
):
    other = create_app(
        settings.model_copy(update={"maintenance_poll_seconds": 5}), database=db, clock=clock
    )
    ticks = [0.0]
    other.state.services.maintenance.monotonic = lambda: ticks[0]
    with TestClient(other) as second:
        assert _transfer(second, other, world, clock).status_code == 201  # read: no window
        # Announced through the first app, in force at once there.
        made = _announce(client, app, world, clock, starts_in=dt.timedelta(0), lasts=HOUR)
        assert made.status_code == 201
        assert _transfer(client, app, world, clock).status_code == 503
        ticks[0] = 4.9  # the second still holds what it read
        assert _transfer(second, other, world, clock).status_code == 201
        ticks[0] = 5.0  # its TTL is up: it reads again
        assert _transfer(second, other, world, clock).status_code == 503


def test_the_console_shows_the_banner_and_refuses_forms_in_a_window(client, app, world, clock):
    assert _announce(client, app, world, clock, starts_in=dt.timedelta(days=1)).status_code == 201
    page = client.get("/console/sign-in")
    assert "Planned read-only maintenance" in page.text and "Database upgrade" in page.text
    token = sign_in(client, "acme-payer")
    assert "Planned read-only maintenance" in client.get("/console/accounts").text
    clock.advance(days=1, minutes=1)
    token = sign_in(client, "acme-payer")  # signing in goes on
    assert "Read-only maintenance now" in client.get("/console/accounts").text
    refused = client.post(
        "/console/transfers",
        data={
            "csrf_token": token,
            "from_account_id": str(world.account_id("acme-operating")),
            "to_account_id": str(world.account_id("acme-payroll")),
            "amount": "1.00",
        },
    )
    assert refused.status_code == 503
    assert "Database upgrade: back at 11:00." in refused.text
    assert refused.headers["Retry-After"] == str(59 * 60)


def test_a_transfer_admitted_before_the_window_completes_whole_and_the_next_is_refused(
    client, app, db, world, clock, monkeypatch
):
    assert (
        _announce(client, app, world, clock, starts_in=dt.timedelta(minutes=1)).status_code == 201
    )
    before = _transfers(db)
    inside, release = threading.Event(), threading.Event()
    post_transfer = ledger_repository.post_transfer

    def slow_post(session, posting):  # type: ignore[no-untyped-def]
        inside.set()
        assert release.wait(timeout=30)
        return post_transfer(session, posting)

    monkeypatch.setattr(ledger_repository, "post_transfer", slow_post)
    answers: list[int] = []
    first = threading.Thread(
        target=lambda: answers.append(_transfer(client, app, world, clock).status_code)
    )
    first.start()
    assert inside.wait(timeout=30)
    clock.advance(minutes=2)  # the window begins while the transfer is being posted
    release.set()
    first.join(timeout=30)
    monkeypatch.setattr(ledger_repository, "post_transfer", post_transfer)
    assert answers == [201]
    assert _transfers(db) == before + 1
    assert _transfer(client, app, world, clock).status_code == 503
    assert _transfers(db) == before + 1
    with db.unit_of_work(write=False) as session:
        assert_ledger_consistent(session)


def test_another_banks_manager_neither_sees_nor_cancels_the_window(client, app, db, world, clock):
    window = _announce(client, app, world, clock, starts_in=HOUR).json()
    passwords = app.state.services.passwords

    def other_bank(session, _ctx):  # type: ignore[no-untyped-def]
        bank = iam.create_bank(session, "Other Bank")
        user = iam.create_user(
            session,
            passwords,
            bank_id=bank.id,
            tenant_id=None,
            username="other-manager",
            display_name="Other Manager",
            password=PASSWORD,
            now=clock.now(),
        )
        role = iam.builtin_role(session, "bank_manager", bank_id=bank.id, tenant_id=None)
        iam.grant_role(session, user, role, now=clock.now())
        session.expunge(user)
        return user

    other = bearer(app, unit_of_work(db, clock).run(other_bank), clock)
    assert client.get("/v1/maintenance-windows", headers=other).json() == []
    assert client.get(f"/v1/maintenance-windows/{window['id']}", headers=other).status_code == 404
    cancel = client.post(f"/v1/maintenance-windows/{window['id']}/cancel", headers=other)
    assert cancel.status_code == 404
    missing = f"maintenance window {window['id']} not found"
    assert cancel.json() == {"error": "not_found", "detail": missing}
    manager = bearer(app, world.users["manager"], clock)
    shown = client.get(f"/v1/maintenance-windows/{window['id']}", headers=manager)
    assert shown.json()["status"] == "scheduled"


def test_two_managers_cancelling_at_once_cancel_it_once(client, app, db, world, clock, live_server):
    window = _announce(client, app, world, clock, starts_in=HOUR).json()
    headers = bearer(app, world.users["manager"], clock)
    url = f"{live_server.url}/v1/maintenance-windows/{window['id']}/cancel"
    statuses: list[int] = []
    gate = threading.Barrier(4)

    def cancel() -> None:
        gate.wait(timeout=30)
        statuses.append(httpx.post(url, headers=headers, timeout=30).status_code)

    threads = [threading.Thread(target=cancel) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200, 409, 409, 409]
