"""A command that acts as a person (`mandate policy ...`, `mandate statement export`): signed
in with their password (`--user`, and MANDATE_PASSWORD or a prompt; with an authenticator set
up, its code from MANDATE_OTP), deciding under the policy
version in force as a server process would, so that the terminal gets the same services,
policy and logs as the API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from core import migrate
from core.clock import SystemClock
from core.context import RequestContext
from core.db import Database
from core.errors import MandateError
from core.iam.credentials import Passwords
from core.iam.second_factor import Proof
from core.iam.sessions import Credentials, check_credentials
from core.iam.totp import second_factor_box
from core.models.iam import actor_of
from core.policy import engine as policy_engine
from core.policy_versions.reload import PolicyWatcher
from core.settings import get_settings
from core.uow import UnitOfWork

UserOption = typer.Option(
    ..., "--user", "-u", envvar="MANDATE_USER", help="who acts (password: MANDATE_PASSWORD)"
)


@contextmanager
def signed_in(username: str, *, action: str) -> Iterator[UnitOfWork]:
    """A unit of work acting as `username` (the trail's `action` for what it runs); the
    database is closed when the block ends. A refusal ends the command with its code."""
    settings = get_settings()
    if not migrate.is_up_to_date(settings.database_url):
        fail("the database is not migrated; run: mandate db upgrade")
    password = os.environ.get("MANDATE_PASSWORD") or typer.prompt(
        f"password for {username}", hide_input=True
    )
    db = Database(settings.database_url, transaction_pooling=settings.database_transaction_pooling)
    clock = SystemClock()
    try:
        policy_engine.load(settings.policy_dir, compile=settings.policy_compile)
        PolicyWatcher(db, listen=False, compile=settings.policy_compile).sync()
        try:
            proof = Proof(code=os.environ.get("MANDATE_OTP", ""))
            signed = check_credentials(
                db,
                Passwords(settings),
                second_factor_box(settings),
                Credentials(username, password, "cli", proof),
                clock.now(),
            )
            if signed.authentication.enrolment_only:
                fail("the bank requires two-factor sign-in: set up an authenticator first")
            ctx = RequestContext(actor=actor_of(signed.user, signed.authentication), clock=clock)
            yield UnitOfWork(db, ctx, action=action)
        except MandateError as exc:
            body = exc.context.get("body")
            for failure in (body or {}).get("failures", []):
                typer.echo(
                    f"  FAIL {failure['file']}: {failure['name']}: expected {failure['expected']}"
                    f", got {failure['got']}",
                    err=True,
                )
            fail(f"{exc.code}: {exc.detail}")
    finally:
        db.dispose()


def fail(message: str) -> Any:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
