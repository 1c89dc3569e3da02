"""What a maintenance window means at an instant (core.operations.windows, no database), and
the operators' switch, `mandate maintenance start|stop|status`, which every API process
meets as it meets an announced window."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from core.cli import app as cli
from core.operations.windows import OPEN_ENDED_RETRY_SECONDS, Mode, Window, outlook
from core.settings import get_settings
from tests.factories import bearer, new_key

T0 = dt.datetime(2026, 12, 1, 22, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
WEEK = dt.timedelta(days=7)


def _window(
    id_: int,
    start: dt.datetime,
    end: dt.datetime | None,
    mode: Mode = Mode.read_only,
    cancelled: dt.datetime | None = None,
) -> Window:
    return Window(id_, start, end, mode, f"window {id_}", cancelled)


def test_a_window_is_in_force_from_its_start_until_its_end_or_cancellation():
    window = _window(1, T0, T0 + HOUR)
    assert not window.in_force(T0 - dt.timedelta(seconds=1)) and window.ahead(T0 - HOUR)
    assert window.in_force(T0) and window.in_force(T0 + HOUR - dt.timedelta(seconds=1))
    assert not window.in_force(T0 + HOUR)
    ended = _window(2, T0, T0 + HOUR, cancelled=T0 + dt.timedelta(minutes=10))
    assert not ended.in_force(T0 + dt.timedelta(minutes=10))
    assert ended.header() == "start=2026-12-01T22:00:00Z; end=2026-12-01T22:10:00Z; mode=read_only"
    called_off = _window(3, T0, T0 + HOUR, cancelled=T0 - HOUR)
    assert not called_off.in_force(T0) and not called_off.ahead(T0 - dt.timedelta(minutes=1))


def test_retry_after_counts_the_seconds_to_the_end_rounded_up():
    window = _window(1, T0, T0 + HOUR)
    assert window.retry_after(T0) == 3600
    assert window.retry_after(T0 + dt.timedelta(minutes=59, seconds=59, milliseconds=1)) == 1
    assert _window(2, T0, None).retry_after(T0) == OPEN_ENDED_RETRY_SECONDS


def test_the_stricter_window_in_force_wins_and_only_the_announced_ones_are_upcoming():
    windows = [
        _window(1, T0, T0 + 3 * HOUR),
        _window(2, T0 + HOUR, T0 + 2 * HOUR, Mode.full),
        _window(3, T0 + 6 * 24 * HOUR, T0 + 6 * 24 * HOUR + HOUR),
        _window(4, T0 + 8 * 24 * HOUR, T0 + 8 * 24 * HOUR + HOUR),
    ]
    before = outlook(windows, T0 - HOUR, WEEK)
    assert before.current is None and [w.id for w in before.upcoming] == [1, 2, 3]
    assert before.next is not None and before.next.id == 1 and before.status == "operational"
    during = outlook(windows, T0 + 90 * dt.timedelta(minutes=1), WEEK)
    assert during.current is not None and during.current.id == 2 and during.status == "maintenance"
    after_full = outlook(windows, T0 + 2 * HOUR, WEEK)
    assert after_full.current is not None and after_full.current.id == 1
    assert after_full.status == "read_only"


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args))


def test_the_emergency_switch_refuses_writes_in_every_app_until_stopped(
    app, db, world, clock, monkeypatch, settings
):
    monkeypatch.setenv("MANDATE_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    until = dt.datetime.now(dt.UTC) + HOUR
    try:
        started = _run(
            "maintenance",
            "start",
            "--read-only",
            "--message",
            "Emergency fix",
            "--until",
            until.isoformat(),
        )
        assert started.exit_code == 0, started.output
        assert "maintenance (read_only) in force" in started.output
        # The command ran on the wall clock: the app is put on it too, just after.
        clock.at = dt.datetime.now(dt.UTC)
        app.state.services.maintenance.forget()  # as after its TTL (at most 5 s)
        with TestClient(app) as client:
            headers = {
                **bearer(app, world.users["acme-payer"], clock),
                "Idempotency-Key": new_key(),
            }
            body = {
                "from_account_id": world.account_id("acme-operating"),
                "to_account_id": world.account_id("acme-payroll"),
                "amount": 100,
                "currency": "EUR",
            }
            refused = client.post("/v1/transfers", json=body, headers=headers)
            assert refused.status_code == 503 and refused.json()["detail"] == "Emergency fix"
            assert 3590 <= int(refused.headers["Retry-After"]) <= 3600
            assert client.get("/v1/accounts", headers=headers).status_code == 200
            status = _run("maintenance", "status")
            assert "status: read_only" in status.output
            ran = _run("payments", "run")  # no money moves in a window, not by the run either
            assert ran.exit_code == 1 and "maintenance window is in force" in ran.output
            stopped = _run("maintenance", "stop")
            assert stopped.exit_code == 0 and "ended maintenance window" in stopped.output
            clock.at = dt.datetime.now(dt.UTC)
            app.state.services.maintenance.forget()
            headers["Idempotency-Key"] = new_key()
            assert client.post("/v1/transfers", json=body, headers=headers).status_code == 201
            assert "no maintenance window was in force" in _run("maintenance", "stop").output
    finally:
        get_settings.cache_clear()


def test_the_switch_refuses_an_end_in_the_past_and_a_time_without_zone(app, monkeypatch, settings):
    monkeypatch.setenv("MANDATE_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        past = _run("maintenance", "start", "-m", "x", "--until", "2020-01-01T00:00:00Z")
        assert past.exit_code == 1 and "later than now" in past.output
        naive = _run("maintenance", "start", "-m", "x", "--until", "2030-01-01T00:00:00")
        assert naive.exit_code == 1 and "time zone" in naive.output
        assert _run("maintenance", "start", "-m", " ").exit_code == 1
    finally:
        get_settings.cache_clear()


def test_a_process_keeps_what_it_knew_when_the_database_is_away(tmp_path):
    from core.db import Database
    from core.operations.schedule import MaintenanceSchedule

    ticks = [0.0]
    gone = Database(f"sqlite:///{tmp_path}/no-such-folder/x.db")
    schedule = MaintenanceSchedule(gone, ttl_seconds=2, monotonic=lambda: ticks[0])
    held = (_window(1, T0, T0 + HOUR),)
    schedule._windows = held  # what it read before the database went away
    assert schedule.windows(T0) == held  # the read fails: logged, what was held stays
    assert not schedule.stale()  # and it tries again after its TTL, not on every request
    ticks[0] = 2.0
    assert schedule.stale() and schedule.windows(T0) == held
    # While one caller reads (slowly: the database does not answer), the others go on with
    # what is held rather than wait.
    ticks[0] = 4.0
    with schedule._lock:
        assert schedule.windows(T0) == held and schedule.stale()
    gone.dispose()
