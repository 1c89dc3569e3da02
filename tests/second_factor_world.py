"""The second factor in a test world: an authenticator set up for a person (with a secret the
test knows, so it can compute their codes from the world's clock), step-up asked by a company,
and tokens that say how their person signed in."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.clock import Clock
from core.context import Authentication
from core.db import Database
from core.iam import totp
from core.iam.totp import SecretBox
from core.models.iam import Bank, Tenant, User
from core.models.second_factor import TotpCredential
from tests.factories import World

# A secret every test authenticator shares (each person keeps the steps they used apart).
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def code(clock: Clock, *, steps: int = 0, secret: str = SECRET) -> str:
    """The code an authenticator with `secret` shows at the clock's time, `steps` later."""
    return totp.code_at(secret, clock.now() + dt.timedelta(seconds=totp.STEP_SECONDS * steps))


def with_authenticator(
    db: Database,
    box: SecretBox,
    world: World,
    username: str,
    clock: Clock,
    *,
    confirmed: bool = True,
) -> None:
    """`username` has an authenticator with SECRET: set up (or, `confirmed` False, started)."""
    with db.unit_of_work() as session:
        session.merge(
            TotpCredential(
                user_id=world.user_id(username),
                secret_encrypted=box.seal(SECRET),
                created_at=clock.now(),
                confirmed_at=clock.now() if confirmed else None,
            )
        )


def with_authenticators(
    db: Database, box: SecretBox, world: World, clock: Clock, *, confirmed: bool
) -> None:
    """Everyone of the world has an authenticator with SECRET, set up or (not `confirmed`)
    started: for the tests that walk every route."""
    for username in world.users:
        with_authenticator(db, box, world, username, clock, confirmed=confirmed)


def with_step_up(
    db: Database,
    world: World,
    *,
    tenant: str = "acme",
    minutes: int = 5,
    above: tuple[str, int] | None = None,
) -> None:
    """The company asks for a code within `minutes`; for money above (currency, amount)."""
    with db.unit_of_work() as session:
        row = session.get(Tenant, world.tenants[tenant].id)
        assert row is not None
        row.step_up_minutes = minutes
        row.step_up_transfer_currency, row.step_up_transfer_amount = above or (None, None)


def with_bank_requiring_mfa(db: Database, world: World) -> None:
    with db.unit_of_work() as session:
        bank = session.get(Bank, world.bank.id)
        assert bank is not None
        bank.mfa_required_for_staff_and_admins = True


def bearer_signed_in(
    app: Any, user: User, clock: Clock, methods: tuple[str, ...], *, ago: int = 0
) -> dict[str, str]:
    """A token of `user` who signed in with `methods`, `ago` seconds before the clock's time."""
    signed_in = Authentication(methods, clock.now() - dt.timedelta(seconds=ago))
    token, _ = app.state.services.tokens.issue(user.id, clock.now(), signed_in)
    return {"Authorization": f"Bearer {token}"}
