"""Housekeeping: what the platform may forget, and when. Run `mandate purge` daily."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, delete, or_
from sqlalchemy.orm import Session
from sqlmodel import col

from core.governance.payloads import forget_expired_secrets
from core.models.ledger import IdempotencyRecord
from core.models.oauth import RevokedToken, UsedAssertion
from core.models.sessions import ConsoleSession, SignInAttempt

# Sign-in attempts are kept a week: the rate limit looks back 15 minutes, people a while longer.
SIGN_IN_ATTEMPTS_KEPT = dt.timedelta(days=7)
# Ended console sessions are kept a day for the record.
ENDED_SESSIONS_KEPT = dt.timedelta(days=1)


@dataclass(frozen=True)
class Purged:
    idempotency_keys: int
    console_sessions: int
    sign_in_attempts: int
    # Change requests that expired undecided, whose new password's hash was forgotten.
    change_request_secrets: int = 0
    # Revoked access tokens that have expired (refused as expired now), and client
    # assertions' jtis past the last moment their assertion could be accepted.
    revoked_tokens: int = 0
    used_assertions: int = 0


def purge(session: Session, now: dt.datetime, *, idempotency_retention: dt.timedelta) -> Purged:
    """Delete idempotency keys past their retention (never less than 24 hours), console
    sessions that ended a while ago, old sign-in attempts, revoked access tokens once they
    have expired, and used client assertions once they could no longer be accepted; forget the
    password hashes of change requests that expired undecided. Ledger rows are never purged."""
    if idempotency_retention < dt.timedelta(hours=24):
        raise ValueError("idempotency keys are kept at least 24 hours")
    keys = _deleted(
        session,
        delete(IdempotencyRecord).where(
            col(IdempotencyRecord.created_at) < now - idempotency_retention
        ),
    )
    ended = now - ENDED_SESSIONS_KEPT
    sessions = _deleted(
        session,
        delete(ConsoleSession).where(
            or_(col(ConsoleSession.expires_at) < ended, col(ConsoleSession.revoked_at) < ended)
        ),
    )
    attempts = _deleted(
        session, delete(SignInAttempt).where(col(SignInAttempt.at) < now - SIGN_IN_ATTEMPTS_KEPT)
    )
    secrets = forget_expired_secrets(session, now)
    # A token is refused from its exp on (no leeway): its revocation need not outlive it.
    revoked = _deleted(session, delete(RevokedToken).where(col(RevokedToken.expires_at) <= now))
    # expires_at already holds the skew leeway an assertion is accepted in (core.iam.oauth_server).
    assertions = _deleted(session, delete(UsedAssertion).where(col(UsedAssertion.expires_at) < now))
    return Purged(keys or 0, sessions or 0, attempts or 0, secrets, revoked or 0, assertions or 0)


def _deleted(session: Session, statement: Delete) -> int:
    # Session.execute is typed as returning a Result; for a DELETE it is a CursorResult.
    return cast(CursorResult[Any], session.execute(statement)).rowcount
