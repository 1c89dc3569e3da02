"""The `mandate` command."""

from __future__ import annotations

import datetime as dt
import logging
from importlib.metadata import version
from pathlib import Path
from typing import Any

import typer
import uvicorn

from core import demo, key_commands, maintenance, migrate, policy_commands
from core.audit_commands import audit_app, purge_evidence
from core.batches import service as batches
from core.context import RequestContext
from core.db import Database
from core.iam.credentials import Passwords, load_or_create_signing_key
from core.iam.totp import load_or_create_box
from core.ledger.check import CHECKS, check_database
from core.operations_commands import maintenance_app, prepare_workers, refuse_during_maintenance
from core.payments import service as payments
from core.policy import engine as policy_engine
from core.policy.cases import CaseError, format_report, run_cases
from core.policy.engine import PolicyEngine
from core.progress import ProgressBar
from core.settings import Settings, get_settings
from core.statement_commands import statement_app
from core.uow import UnitOfWork

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Mandate: policy-decided banking."
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mandate {version('mandate')}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the installed version and exit.",
    ),
) -> None:
    """Mandate: policy-decided banking."""


db_app = typer.Typer(no_args_is_help=True, help="The database schema.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations (to the newest by default)."""

    settings = get_settings()
    url = settings.database_url
    migrate.upgrade(url, revision)
    typer.echo(f"database {_safe(url)} is at revision {migrate.current_revision(url)}")
    if migrate.is_up_to_date(url):
        _record_bundled_policy(settings)


def _record_bundled_policy(settings: Settings) -> None:
    """The deploy's rule (core.policy_versions.bootstrap): the bundled files are the first
    version in force, or proposed when they differ from the version in force (never put in
    force over it); it says which, and a start goes on whatever it found."""
    db = Database(settings.database_url, transaction_pooling=settings.database_transaction_pooling)
    try:
        with db.unit_of_work() as session:
            done = policy_commands.record_bundled(session, settings.policy_dir)
    finally:
        db.dispose()
    typer.echo(f"{done.sentence()} (the files in {settings.policy_dir})")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the newest one the code knows."""

    url = get_settings().database_url
    typer.echo(f"database: {migrate.current_revision(url)}  code: {migrate.head_revision(url)}")


policy_app = typer.Typer(no_args_is_help=True, help="The Polar policy, and its versions.")
app.add_typer(policy_app, name="policy")
policy_commands.add_commands(policy_app)


@policy_app.command("test")
def policy_test(
    directory: str = typer.Option(None, help="default: policies/tests"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="list every case"),
) -> None:
    """Run the table-driven policy cases (policies/tests/*.yaml)."""

    settings = get_settings()
    engine = policy_engine.load(settings.policy_dir, compile=True)
    try:
        report = run_cases(engine, Path(directory) if directory else settings.policy_dir / "tests")
    except CaseError as exc:
        _fail(str(exc))
        return
    typer.echo(f"policy version {engine.version}")
    typer.echo(format_report(report, verbose=verbose))
    if not report.ok:
        raise typer.Exit(1)


@policy_app.command("version")
def policy_version() -> None:
    """Print the version hash of the policy files."""

    typer.echo(PolicyEngine.version_of(get_settings().policy_dir))


keys_app = typer.Typer(
    no_args_is_help=True, help="The keys that sign access tokens and seal TOTP secrets."
)
app.add_typer(keys_app, name="keys")
key_commands.register(keys_app)


@keys_app.command("create")
def keys_create() -> None:
    """Create the Ed25519 token-signing key at MANDATE_TOKEN_KEY_PATH (mode 0600). Refuses to
    replace an existing key: replacing it would sign every user out."""

    # Production settings refuse to load while the key is missing, which is the one time this
    # command is needed: read only the path, as development would.
    path = Settings(environment="development").token_key_path.expanduser()
    if path.exists():
        _fail(f"{path} exists; remove it first to replace the key (signs everybody out)")
    load_or_create_signing_key(path, create=True)
    typer.echo(f"created token signing key {path} (mode 0600)")


@keys_app.command("create-second-factor-key")
def keys_create_second_factor() -> None:
    """Create the key that encrypts TOTP secrets at rest (MANDATE_SECOND_FACTOR_KEY_PATH, by
    default beside the token-signing key; mode 0600). Refuses to replace one: every
    authenticator set up under it would stop working."""

    path = Settings(environment="development").second_factor_key_path
    assert path is not None
    if path.expanduser().exists():
        _fail(f"{path} exists; replacing it would turn off everybody's authenticator")
    load_or_create_box(path, create=True)
    typer.echo(f"created second-factor key {path} (mode 0600)")


ledger_app = typer.Typer(no_args_is_help=True, help="The double-entry ledger.")
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("check")
def ledger_check(
    database_url: str = typer.Option(None, help="default: MANDATE_DATABASE_URL"),
    check: list[str] = typer.Option(
        None, "--check", "-c", help="run only these checks (repeatable); default: all"
    ),
    batch_size: int = typer.Option(10_000, min=1, help="ids per query"),
    progress: bool = typer.Option(
        None, "--progress/--no-progress", help="progress bar on stderr (default: on a terminal)"
    ),
) -> None:
    """Verify a live ledger: conservation, balances, holds, overdrafts (holds counted),
    transfers, payments and their transfers, IBANs, running totals (per grant and per person,
    payments counted on the day they were made) and cumulative limits. Exits 0 when every check
    holds, 1 otherwise."""

    url = Settings(database_url=database_url).database_url if database_url else None
    url = url or get_settings().database_url
    unknown = [c for c in check or [] if c not in CHECKS]
    if unknown:
        _fail(f"unknown check {', '.join(unknown)}; the checks are: {', '.join(CHECKS)}")
    if not migrate.is_up_to_date(url):
        _fail(f"the database {_safe(url)} is not migrated; run: mandate db upgrade")
    pooling = get_settings().database_transaction_pooling
    db = Database(url, pool_size=1, transaction_pooling=pooling)
    typer.echo(f"ledger check of {_safe(url)}")
    try:
        with ProgressBar(enabled=progress) as bar:
            report = check_database(db, checks=check or CHECKS, batch_size=batch_size, progress=bar)
    finally:
        db.dispose()
    typer.echo(report.render())
    if not report.ok:
        raise typer.Exit(1)


app.add_typer(statement_app, name="statement")
app.add_typer(audit_app, name="audit")
app.add_typer(maintenance_app, name="maintenance")

payments_app = typer.Typer(no_args_is_help=True, help="Payments under dual control.")
app.add_typer(payments_app, name="payments")


@payments_app.command("expire")
def payments_expire() -> None:
    """Expire every payment still awaiting approval past its expiry: its hold is released and
    its amount given back to the limits it counted against. Run it daily (a lapsed payment is
    refused every approval either way; this gives its money back)."""

    settings = get_settings()
    if not migrate.is_up_to_date(settings.database_url):
        _fail("the database is not migrated; run: mandate db upgrade")
    db = Database(settings.database_url, transaction_pooling=settings.database_transaction_pooling)
    try:
        expired = UnitOfWork(db, RequestContext(actor=None)).run(payments.expire_payments)
        batches_expired = UnitOfWork(db, RequestContext(actor=None)).run(batches.expire_batches)
    finally:
        db.dispose()
    typer.echo(f"expired {expired} payment{'' if expired == 1 else 's'} awaiting approval")
    _say_batches_expired(batches_expired)


def _say_batches_expired(count: int) -> None:
    if count:
        typer.echo(f"expired {count} payment batch{'' if count == 1 else 'es'} awaiting approval")


@payments_app.command("run")
def payments_run() -> None:
    """Settle what is due: execute every scheduled payment whose execution date has come (in
    its company's zone; exactly once: one another run holds is waited for, then found done),
    and expire every payment still awaiting approval past its expiry, as `expire` does. A
    payment whose account can no longer be debited on its day ends failed, its hold released.
    Run it early each day (or more often)."""

    settings = get_settings()
    if not migrate.is_up_to_date(settings.database_url):
        _fail("the database is not migrated; run: mandate db upgrade")
    db = Database(settings.database_url, transaction_pooling=settings.database_transaction_pooling)
    refuse_during_maintenance(db)
    try:
        settled = UnitOfWork(db, RequestContext(actor=None)).run(payments.run_payments)
        batches_expired = UnitOfWork(db, RequestContext(actor=None)).run(batches.expire_batches)
    finally:
        db.dispose()
    typer.echo(
        f"executed {settled.executed} scheduled payment{'' if settled.executed == 1 else 's'}, "
        f"{settled.failed} failed; expired {settled.expired} awaiting approval"
    )
    _say_batches_expired(batches_expired)


@app.command("purge")
def purge() -> None:
    """Forget what may be forgotten: old idempotency keys (kept MANDATE_IDEMPOTENCY_RETENTION_HOURS,
    at least 24), ended console sessions, old sign-in attempts, expired revoked tokens and used
    client assertions, the password hashes of change requests that expired undecided, and
    decisions and activity past their retention (MANDATE_DECISION_RETENTION_DAYS,
    MANDATE_ACTIVITY_RETENTION_DAYS: their chains stay verifiable); then sign a checkpoint of
    every chain that moved. Run it daily."""

    settings = get_settings()
    db = Database(settings.database_url, transaction_pooling=settings.database_transaction_pooling)
    retention = dt.timedelta(hours=settings.idempotency_retention_hours)
    purged = UnitOfWork(db, RequestContext(actor=None)).run(
        lambda session, ctx: maintenance.purge(session, ctx.now(), idempotency_retention=retention)
    )
    evidence = purge_evidence(db, settings)
    db.dispose()
    typer.echo(
        f"purged {purged.idempotency_keys} idempotency keys, {purged.console_sessions} console "
        f"sessions, {purged.sign_in_attempts} sign-in attempts, {purged.revoked_tokens} expired "
        f"revoked tokens, {purged.used_assertions} used client assertions; forgot the password "
        f"hashes of {purged.change_request_secrets} expired change requests"
    )
    typer.echo(evidence)


@app.command("seed-demo")
def seed_demo() -> None:
    """Seed the demo bank (once: running it again changes nothing)."""

    settings = get_settings()
    if not migrate.is_up_to_date(settings.database_url):
        _fail("the database is not migrated; run: mandate db upgrade")
    policy_engine.load(settings.policy_dir, compile=settings.policy_compile)
    _record_bundled_policy(settings)
    uow = UnitOfWork(
        Database(settings.database_url, transaction_pooling=settings.database_transaction_pooling),
        RequestContext(actor=None),
    )
    passwords = Passwords(settings)
    created = uow.run(lambda session, _ctx: demo.seed(session, passwords))
    typer.echo("demo bank seeded" if created else "demo bank already present: nothing changed")
    typer.echo(f"\ndemo logins (password for all: {demo.DEMO_PASSWORD}):")
    for login in demo.LOGINS:
        typer.echo(f"  {login.username:<17} {login.who}")


# How uvicorn serves Mandate (`mandate serve` and the tests' live server): no `server`
# banner; h11, whose bound on the request head (request line and headers) is what holds a
# client's headers before the app runs (httptools has no such bound), set just above the
# app's own 431 limit (api.middleware.MAX_HEADER_BYTES, 32 KiB) so that the app answers in
# the error shape.
UVICORN_OPTIONS: dict[str, Any] = {
    "http": "h11",
    "h11_max_incomplete_event_size": 48 * 1024,
    "server_header": False,
    "proxy_headers": False,
}


@app.command("serve")
def serve(
    host: str = typer.Option(None, help="default: MANDATE_HOST or 127.0.0.1"),
    port: int = typer.Option(None, help="default: MANDATE_PORT or 8000"),
    workers: int = typer.Option(None, help="worker processes (default: MANDATE_WORKERS or 1)"),
    log_format: str = typer.Option(
        None, help="json or console (default: MANDATE_LOG_FORMAT; json in production)"
    ),
) -> None:
    """Serve the API (and console) with uvicorn."""

    settings = get_settings()
    workers = workers or settings.workers
    prepare_workers(log_format, workers)
    if not migrate.is_up_to_date(settings.database_url):
        _fail(
            f"the database {_safe(settings.database_url)} is not migrated to "
            f"{migrate.head_revision()}: run `mandate db upgrade` first"
        )
    _record_bundled_policy(settings)
    host = host or settings.host
    port = port or settings.port
    base = f"http://{host}:{port}"
    docs = (
        f"  API docs:  {base}/docs\n  OpenAPI:   {base}/openapi.json\n"
        if settings.docs_enabled
        else "  API docs:  off (MANDATE_DOCS_ENABLED)\n"
    )
    typer.echo(
        f"\nMandate on {base}\n{docs}"
        f"  console:   {base}/console\n"
        f"  health:    {base}/healthz  {base}/readyz\n"
    )
    uvicorn.run(
        "api.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        # Logging as core.logs sets it up in each worker (api.main), one request line each.
        log_config=None,
        access_log=False,
        **UVICORN_OPTIONS,
    )


def _safe(url: str) -> str:
    # Never print a password embedded in a database URL.
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def main() -> None:
    """The `mandate` script (pyproject's entry point)."""
    # Warnings from libraries; Mandate's own progress at INFO (alembic's chatter stays quiet).
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("core").setLevel(logging.INFO)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
