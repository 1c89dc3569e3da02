"""`mandate maintenance start|stop|status`: the operators' emergency switch, from a terminal
on a host that reaches the database. Not a person's action through the policy (the
operator holds the database's credentials already): the switch is the deployment's own,
seen by every API process within MANDATE_MAINTENANCE_POLL_SECONDS (at most 5 s).

Not `mandate purge` (core.maintenance), which is housekeeping."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import typer

from core import migrate
from core.clock import utcnow
from core.db import Database
from core.errors import MandateError
from core.operations import repository, service
from core.operations.windows import Mode, Window, outlook
from core.settings import get_settings

maintenance_app = typer.Typer(
    no_args_is_help=True,
    help="Maintenance: the emergency switch (read-only or full) and what is announced.",
)


def _database() -> Database:
    settings = get_settings()
    if not migrate.is_up_to_date(settings.database_url):
        _fail("the database is not migrated; run: mandate db upgrade")
    return Database(
        settings.database_url,
        pool_size=1,
        transaction_pooling=settings.database_transaction_pooling,
    )


@maintenance_app.command("start")
def start(
    message: str = typer.Option(..., "--message", "-m", help="what customers are told"),
    read_only: bool = typer.Option(
        True, "--read-only/--full", help="refuse writes only (default), or everything"
    ),
    until: str = typer.Option(
        None, help="when it ends, ISO 8601 with an offset (default: until `stop`)"
    ),
) -> None:
    """Switch maintenance on now: every API process refuses writes (--read-only) or every
    request but health and status (--full) within 5 seconds, with 503 maintenance, the
    message, and Retry-After. Replaces an earlier switch still in force."""
    message = message.strip()
    if not 1 <= len(message) <= 500:
        _fail("--message is 1 to 500 characters")
    ends = _instant(until) if until else None
    mode = Mode.read_only if read_only else Mode.full
    db = _database()
    try:
        with db.unit_of_work() as session:
            window = service.start_emergency(
                session, utcnow(), mode=mode, message=message, until=ends
            )
    except MandateError as exc:
        _fail(exc.detail)
    finally:
        db.dispose()
    typer.echo(f"maintenance ({mode.value}) in force {_span(window)}: {message}")


@maintenance_app.command("stop")
def stop() -> None:
    """End every maintenance window in force now (the switch, and a bank's window in
    progress); the windows still to come stay announced."""
    db = _database()
    try:
        with db.unit_of_work() as session:
            ended = service.stop_maintenance(session, utcnow())
    finally:
        db.dispose()
    if not ended:
        typer.echo("no maintenance window was in force")
    for window in ended:
        typer.echo(f"ended maintenance window {window.id} ({window.mode.value})")


@maintenance_app.command("status")
def status() -> None:
    """The window in force, and those announced."""
    settings = get_settings()
    db = _database()
    now = utcnow()
    try:
        with db.engine.connect() as connection:
            windows = repository.current_and_coming(connection, now)
    finally:
        db.dispose()
    seen = outlook(windows, now, dt.timedelta(days=settings.maintenance_notice_days))
    typer.echo(f"status: {seen.status}")
    if seen.current is not None:
        typer.echo(f"in force: {seen.current.mode.value} {_span(seen.current)}")
    for window in seen.upcoming:
        typer.echo(f"announced: {window.mode.value} {_span(window)}: {window.message}")


def _instant(text: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--until {text!r} is not ISO 8601 (e.g. 2026-12-01T23:00:00+01:00)")
    if at.tzinfo is None:
        _fail("--until needs a time zone offset (e.g. Z or +01:00)")
    return at.astimezone(dt.UTC)


def _span(window: Window) -> str:
    start = window.starts_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    over = window.over_at
    return f"from {start} " + (
        f"until {over.strftime('%Y-%m-%d %H:%M:%S UTC')}" if over else "until stopped"
    )


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def refuse_during_maintenance(db: Database) -> None:
    """Exit with an error if a maintenance window is in force: no money moves then, not by
    `mandate payments run` either (its scheduled payments execute on its next run after)."""
    now = utcnow()
    with db.engine.connect() as connection:
        windows = repository.current_and_coming(connection, now)
    current = outlook(windows, now, dt.timedelta(0)).current
    if current is not None:
        db.dispose()
        _fail(f"a maintenance window is in force {_span(current)}; run this after it ends")


def prepare_workers(log_format: str | None, workers: int) -> None:
    """Before `mandate serve` starts its workers (processes that inherit its environment):
    the log format they use, and with more than one worker a folder for their metrics
    (PROMETHEUS_MULTIPROC_DIR, a new empty one; one set by the operator must be emptied
    before each start), so that a scrape of any reports them all."""
    if log_format is not None:
        if log_format not in ("json", "console"):
            _fail("--log-format is json or console")
        os.environ["MANDATE_LOG_FORMAT"] = log_format
        get_settings.cache_clear()
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        folder = Path(tempfile.mkdtemp(prefix="mandate-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
