"""`mandate keys list|rotate|retire`: the lives of the keys that sign access tokens
(core.iam.signing_keys)."""

from __future__ import annotations

import typer

from core.clock import SystemClock
from core.db import Database
from core.errors import MandateError
from core.iam import signing_keys
from core.iam.credentials import TokenService
from core.iam.totp import second_factor_box
from core.settings import get_settings


def _registry() -> tuple[Database, TokenService]:
    settings = get_settings()
    db = Database(settings.database_url)
    return db, TokenService(settings, db, second_factor_box(settings))


def register(keys_app: typer.Typer) -> None:
    """Add the signing keys' commands to `mandate keys`."""

    @keys_app.command("list")
    def keys_list() -> None:
        """Every token-signing key: active (signs), published (verifies until its tokens have
        expired), retired (verifies nothing)."""
        db, tokens = _registry()
        try:
            with db.single_read() as session:
                rows = signing_keys.statuses(
                    session, tokens.first_key.public_key(), tokens.lifetime
                )
        finally:
            db.dispose()
        for row in rows:
            expiry = (
                f"  tokens expire by {row.tokens_expire_by:%Y-%m-%d %H:%M:%S} UTC"
                if row.tokens_expire_by
                else ""
            )
            typer.echo(f"{row.kid}  {row.state}{expiry}")

    @keys_app.command("rotate")
    def keys_rotate() -> None:
        """Make a new signing key active; the previous one stays published (its tokens verify)
        until every token it signed has expired."""
        db, tokens = _registry()
        settings = get_settings()
        box = second_factor_box(settings)
        try:
            row = db.run(
                lambda session: signing_keys.rotate(
                    session, box, tokens.first_key, SystemClock().now()
                )
            )
        finally:
            db.dispose()
        typer.echo(f"active signing key {row.kid}; the previous one stays published")

    @keys_app.command("retire")
    def keys_retire(
        kid: str,
        force: bool = typer.Option(
            False, "--force", help="retire now, though tokens it signed are still live"
        ),
    ) -> None:
        """Retire a published key: tokens it signed are refused from now on."""
        db, tokens = _registry()
        try:
            db.run(
                lambda session: signing_keys.retire(
                    session, kid, SystemClock().now(), tokens.lifetime, force=force
                )
            )
        except MandateError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        finally:
            db.dispose()
        typer.echo(f"retired signing key {kid}")
