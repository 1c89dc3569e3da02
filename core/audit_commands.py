"""`mandate audit ...`: the evidence an operator or an auditor checks from a terminal on a host
that reaches the database: verify the hash chains, sign checkpoints of their heads, create the
audit key. (An export bundle verifies without the database: `mandate audit verify-bundle`.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from core import migrate
from core.audit import offline
from core.audit.checkpoints import take_checkpoints
from core.audit.export import Period, build_bundle
from core.audit.retention import purge_past_retention
from core.audit.verify import verify_database
from core.clock import utcnow
from core.context import RequestContext
from core.db import Database
from core.errors import InvalidRequest
from core.iam.credentials import load_or_create_signing_key
from core.models.iam import Bank, Tenant
from core.progress import ProgressBar
from core.runtime import load_audit_key
from core.settings import Settings, get_settings
from core.uow import UnitOfWork

audit_app = typer.Typer(
    no_args_is_help=True, help="The tamper-evident trail: verify, checkpoint, export."
)


def _database(settings: Settings) -> Database:
    if not migrate.is_up_to_date(settings.database_url):
        typer.echo("the database is not migrated; run: mandate db upgrade", err=True)
        raise typer.Exit(2)
    return Database(settings.database_url, pool_size=2)


def _public_key(path: Path | None, settings: Settings) -> Ed25519PublicKey | None:
    """The key checkpoints are checked with: the one given (an auditor's copy of the
    published key), else the audit key's public half, if there is one."""
    if path is not None:
        loaded = serialization.load_pem_public_key(path.read_bytes())
        if not isinstance(loaded, Ed25519PublicKey):
            raise typer.BadParameter(f"{path} is not an Ed25519 public key")
        return loaded
    assert settings.audit_key_path is not None
    if not settings.audit_key_path.expanduser().exists():
        return None
    return load_audit_key(settings).public_key


@audit_app.command("verify")
def verify(
    tenant: int = typer.Option(None, "--tenant", min=1, help="only this company's chain"),
    public_key: Path = typer.Option(
        None, "--public-key", help="PEM of the audit key to check checkpoints with"
    ),
    progress: bool = typer.Option(
        None, "--progress/--no-progress", help="progress bar on stderr (default: on a terminal)"
    ),
) -> None:
    """Recompute every hash chain (one company's with --tenant) in one snapshot: each link
    follows its predecessor, each record is unaltered, none is missing or unchained, and each
    checkpoint is signed by the audit key and agrees with its chain. Exits 0 when all hold, 1
    naming the first broken record of each chain otherwise. The progress goes to stderr, the
    report alone to stdout."""
    settings = get_settings()
    key = _public_key(public_key, settings)
    db = _database(settings)
    try:
        retention = dt.timedelta(days=settings.decision_retention_days)
        with ProgressBar(enabled=progress) as bar:
            report = verify_database(
                db,
                tenant_id=tenant,
                public_key=key,
                purged_before=utcnow() - retention,
                progress=bar,
            )
    finally:
        db.dispose()
    if key is None:
        typer.echo("no audit key: checkpoint signatures not checked", err=True)
    typer.echo(report.render())
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint() -> None:
    """Sign the head of every chain that moved since its last checkpoint with the audit key
    (MANDATE_AUDIT_KEY_PATH). `mandate purge` takes them too; run it at least daily."""
    settings = get_settings()
    key = load_audit_key(settings)
    db = _database(settings)
    try:
        taken = UnitOfWork(db, RequestContext(actor=None)).run(
            lambda session, ctx: len(take_checkpoints(session, key, ctx.now()))
        )
    finally:
        db.dispose()
    typer.echo(f"signed {taken} checkpoint{'' if taken == 1 else 's'} with audit key {key.key_id}")


def purge_evidence(db: Database, settings: Settings) -> str:
    """`mandate purge`'s part for the trail: decisions and activity past their retention,
    the chains' purged prefixes pruned under signed anchors, then a checkpoint of every chain
    that moved. What was done, in words."""
    key = load_audit_key(settings)
    kept = UnitOfWork(db, RequestContext(actor=None)).run(
        lambda session, ctx: purge_past_retention(
            session,
            key,
            ctx.now(),
            decisions_kept=dt.timedelta(days=settings.decision_retention_days),
            activity_kept=dt.timedelta(days=settings.activity_retention_days),
        )
    )
    signed = UnitOfWork(db, RequestContext(actor=None)).run(
        lambda session, ctx: len(take_checkpoints(session, key, ctx.now()))
    )
    return (
        f"purged {kept.decisions} decisions and {kept.activity} activity rows past retention; "
        f"pruned {kept.links_pruned} chain links under {kept.anchors_signed} signed anchors; "
        f"signed {signed} checkpoints"
    )


@audit_app.command("create-key")
def create_key() -> None:
    """Create the audit signing key at MANDATE_AUDIT_KEY_PATH (Ed25519, mode 0600). Refuses
    to replace one: the checkpoints already signed are checked with it."""
    path = Settings(environment="development").audit_key_path
    assert path is not None
    if path.expanduser().exists():
        typer.echo(f"{path} exists; the checkpoints signed with it are checked with it", err=True)
        raise typer.Exit(1)
    load_or_create_signing_key(path, create=True)
    typer.echo(f"created audit signing key {path} (mode 0600)")


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a day (YYYY-MM-DD)") from None


@audit_app.command("export")
def export(
    output: Path = typer.Argument(..., help="the bundle to write (.zip)"),
    first_day: str = typer.Option(..., "--from", help="first day, YYYY-MM-DD (UTC)"),
    last_day: str = typer.Option(..., "--to", help="last day, included"),
    tenant: int = typer.Option(None, "--tenant", min=1, help="one company's chain only"),
    bank: int = typer.Option(None, "--bank", min=1, help="the bank (default: the only one)"),
) -> None:
    """Write a signed evidence bundle of the records made over a period of days: the links and
    records, the checkpoints covering them, the audit key's public half, a signed manifest and
    a verifier an auditor runs without the database (python verify_bundle.py OUTPUT)."""
    settings = get_settings()
    key = load_audit_key(settings)
    period = _period(first_day, last_day)
    db = _database(settings)
    try:
        with db.unit_of_work() as session:
            take_checkpoints(session, key, utcnow())
        with db.unit_of_work(write=False) as session:
            bank_id = _bank_of(session, bank, tenant)
            bundle = build_bundle(session.connection(), key, bank_id, tenant, period, utcnow())
    finally:
        db.dispose()
    output.write_bytes(bundle)
    typer.echo(f"wrote {output} ({len(bundle)} bytes), signed with audit key {key.key_id}")


def _period(first_day: str, last_day: str) -> Period:
    try:
        return Period.of_days(_day(first_day), _day(last_day))
    except InvalidRequest as exc:
        raise typer.BadParameter(str(exc)) from None


def _bank_of(session: Session, bank: int | None, tenant: int | None) -> int:
    if tenant is not None:
        found = session.get(Tenant, tenant)
        if found is None or (bank is not None and found.bank_id != bank):
            raise typer.BadParameter(f"no tenant {tenant}")
        return found.bank_id
    if bank is not None:
        return bank
    banks = [b for b in session.scalars(select(col(Bank.id))).all() if b is not None]
    if len(banks) != 1:
        raise typer.BadParameter("several banks, or none: say which (--bank)")
    return banks[0]


@audit_app.command("verify-bundle")
def verify_bundle(
    bundle: Path = typer.Argument(..., exists=True, dir_okay=False, help="the bundle (.zip)"),
    key_id: str = typer.Option(None, "--key-id", help="the audit key id you were given"),
) -> None:
    """Verify an export bundle offline, as an auditor's copy of its verifier does: the
    manifest's signature, every file's hash, every link and record, the checkpoints. Exits 0
    when it verifies, 1 naming the first problem of each chain otherwise."""
    report = offline.verify_bundle(str(bundle), key_id=key_id)
    typer.echo(report.render())
    if not report.ok:
        raise typer.Exit(1)
