"""`mandate audit ...`: the evidence an operator or an auditor checks from a terminal on a host
that reaches the database: verify the hash chains, sign checkpoints of their heads, create the
audit key. (An export bundle verifies without the database: `mandate audit verify-bundle`.)"""

from __future__ import annotations

from pathlib import Path

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core import migrate
from core.audit.checkpoints import take_checkpoints
from core.audit.verify import verify_database
from core.context import RequestContext
from core.db import Database
from core.iam.credentials import load_or_create_signing_key
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
) -> None:
    """Recompute every hash chain (one company's with --tenant) in one snapshot: each link
    follows its predecessor, each record is unaltered, none is missing or unchained, and each
    checkpoint is signed by the audit key and agrees with its chain. Exits 0 when all hold, 1
    naming the first broken record of each chain otherwise."""
    settings = get_settings()
    key = _public_key(public_key, settings)
    db = _database(settings)
    try:
        report = verify_database(db, tenant_id=tenant, public_key=key)
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
