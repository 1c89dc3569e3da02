"""Housekeeping forgets old keys, sessions and attempts, expired revoked tokens and used client
assertions, and the password hashes of change requests that expired undecided, and nothing else."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from core import maintenance
from core.cli import app as cli
from core.models.governance import ChangeRequest
from core.models.ledger import Entry, IdempotencyRecord, Transfer
from core.models.oauth import RevokedToken, UsedAssertion
from core.models.sessions import SignInAttempt
from core.settings import get_settings
from tests.factories import bearer


def test_purge_keeps_idempotency_keys_for_their_retention(db, world, clock):
    with db.unit_of_work(write=False) as session:
        keys = session.scalar(select(func.count()).select_from(IdempotencyRecord))
        transfers = session.scalar(select(func.count(Transfer.id)))
        entries = session.scalar(select(func.count(Entry.id)))
    assert keys > 0
    with db.unit_of_work() as session:
        session.add(
            SignInAttempt(
                at=clock.now() - dt.timedelta(days=8), username="x", address="a", succeeded=False
            )
        )
    with db.unit_of_work() as session:
        kept = maintenance.purge(
            session,
            clock.now() + dt.timedelta(hours=47),
            idempotency_retention=dt.timedelta(hours=48),
        )
    assert kept.idempotency_keys == 0 and kept.sign_in_attempts == 1
    with db.unit_of_work() as session:
        gone = maintenance.purge(
            session,
            clock.now() + dt.timedelta(hours=49),
            idempotency_retention=dt.timedelta(hours=48),
        )
    assert gone.idempotency_keys == keys
    with db.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count(Transfer.id))) == transfers
        assert session.scalar(select(func.count(Entry.id))) == entries
    with db.unit_of_work() as session, pytest.raises(ValueError):
        maintenance.purge(session, clock.now(), idempotency_retention=dt.timedelta(hours=1))


def test_the_purge_command_forgets_the_hash_of_expired_change_requests(
    db, world, settings, monkeypatch
):
    """`mandate purge` (on the system clock) sweeps a password reset that expired undecided."""
    now = dt.datetime.now(dt.UTC)
    asked = ChangeRequest(
        bank_id=world.bank.id,
        tenant_id=world.tenants["acme"].id,
        kind="user.reset_password",
        target=json.dumps({"user_id": world.user_id("acme-payer")}),
        payload=json.dumps({"password_hash": "$argon2id$kept-while-it-waits"}),
        summary="reset the password of acme-payer",
        requested_by_id=world.user_id("acme-admin"),
        created_at=now - dt.timedelta(days=4),
        expires_at=now - dt.timedelta(days=1),
    )
    with db.unit_of_work() as session:
        session.add(asked)
        session.flush()
        request_id = asked.id
    monkeypatch.setenv("MANDATE_DATABASE_URL", db.url)
    # The purge signs checkpoints of the audit chains: with the tests' audit key.
    monkeypatch.setenv("MANDATE_AUDIT_KEY_PATH", str(settings.audit_key_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["purge"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "forgot the password hashes of 1 expired change requests" in result.output
    with db.unit_of_work(write=False) as session:
        request = session.get(ChangeRequest, request_id)
        assert request is not None and json.loads(request.payload) == {}


def test_purge_forgets_revoked_tokens_and_used_assertions_once_they_cannot_matter(db, world, clock):
    """A revoked token is forgotten once it has expired (it is refused as expired then), a
    used assertion once it could no longer be accepted: the rows a live one needs stay."""
    now = clock.now()
    with db.unit_of_work() as session:
        session.add_all(
            [
                RevokedToken(jti="expired", expires_at=now - dt.timedelta(seconds=1)),
                RevokedToken(jti="expiring-now", expires_at=now),
                RevokedToken(jti="live", expires_at=now + dt.timedelta(minutes=10)),
                UsedAssertion(client_id="mcl_a", jti="old", expires_at=now - dt.timedelta(1)),
                UsedAssertion(client_id="mcl_a", jti="live", expires_at=now + dt.timedelta(0, 5)),
            ]
        )
    with db.unit_of_work() as session:
        purged = maintenance.purge(session, now, idempotency_retention=dt.timedelta(hours=48))
    assert (purged.revoked_tokens, purged.used_assertions) == (2, 1)
    with db.unit_of_work(write=False) as session:
        assert session.scalars(select(RevokedToken.jti)).all() == ["live"]
        assert session.scalars(select(UsedAssertion.jti)).all() == ["live"]
    with db.unit_of_work() as session:
        again = maintenance.purge(session, now, idempotency_retention=dt.timedelta(hours=48))
    assert (again.revoked_tokens, again.used_assertions) == (0, 0)


def test_a_revoked_token_stays_refused_after_a_purge_until_it_expires(
    client, app, db, world, clock
):
    """The purge never lets a revoked token back in: while it lives its row stays."""
    headers = bearer(app, world.users["acme-payer"], clock)
    assert (
        client.post(
            "/v1/auth/revoke", data={"token": headers["Authorization"][7:]}, headers=headers
        ).status_code
        == 200
    )
    claims = app.state.services.tokens.verify(headers["Authorization"][7:], clock.now())
    clock.at = claims.expires_at - dt.timedelta(seconds=1)
    with db.unit_of_work() as session:
        purged = maintenance.purge(
            session, clock.now(), idempotency_retention=dt.timedelta(hours=48)
        )
    assert purged.revoked_tokens == 0
    refused = client.get("/v1/me", headers=headers)
    assert (
        refused.status_code == 401
        and refused.json()["detail"] == "the token was revoked; get a new one"
    )
