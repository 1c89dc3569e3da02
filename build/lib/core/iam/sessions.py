"""Console sessions: signing in to the web console with the same credentials as the API.

Sessions live on the server, so signing out, deactivating a user or resetting their password
ends them at once. The browser holds only a random token; the table keeps its SHA-256.
Sign-in attempts are counted per username and per address: after too many failures in a short
while sign-in is refused for a time, with the same answer whether the user exists or not."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Index, func, select
from sqlalchemy.orm import Mapped, Session
from sqlmodel import Field, SQLModel, col

from core.clock import utcnow
from core.context import Actor
from core.db import BigIntKey, UTCDateTime
from core.errors import TooManyRequests, Unauthenticated
from core.iam.credentials import Passwords
from core.iam.models import User
from core.iam.service import INVALID_CREDENTIALS, actor_of, authenticate

# A console session ends after this long without a request, and in any case after a
# working day: a bank console left open overnight must ask for the password again.
IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_LIFETIME = dt.timedelta(hours=10)
# last_seen_at is written at most this often, so reading a page is not a write each time.
TOUCH_EVERY = dt.timedelta(minutes=1)

# Failed sign-ins counted over this window: a username is locked after USER_FAILURES, an
# address after ADDRESS_FAILURES (an office behind one NAT address has many users).
ATTEMPT_WINDOW = dt.timedelta(minutes=15)
USER_FAILURES = 5
ADDRESS_FAILURES = 30
TOO_MANY = "too many failed sign-ins; wait 15 minutes and try again"


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser. Only the token's SHA-256 is stored."""

    __tablename__ = "console_sessions"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntKey)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    address: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=200)


class SignInAttempt(SQLModel, table=True):
    """One sign-in attempt to the console, kept for rate limiting and for the record."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_username_at", "username", "at"),
        Index("ix_sign_in_attempts_address_at", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntKey)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # As typed (normalised), whether or not such a user exists.
    username: str = Field(max_length=64)
    address: str = Field(max_length=64)
    succeeded: bool


@dataclass(frozen=True)
class OpenedSession:
    """What the browser gets: the token for its cookie, and who signed in."""

    token: str
    actor: Actor
    expires_at: dt.datetime


@dataclass(frozen=True)
class ResumedSession:
    actor: Actor
    session_id: int
    needs_touch: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(token: str) -> str:
    """The anti-forgery token of a session: derived from its secret, so nothing else is
    stored, and a page of another session cannot forge it."""
    return hmac.new(token.encode(), b"mandate-console-csrf", hashlib.sha256).hexdigest()


def _recent_failures(session: Session, column: Mapped[str], value: str, since: dt.datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(SignInAttempt)
            .where(
                column == value,
                col(SignInAttempt.succeeded).is_(False),
                col(SignInAttempt.at) >= since,
            )
        )
        or 0
    )


def too_many_failures(session: Session, username: str, address: str, now: dt.datetime) -> bool:
    """Has this username, or this address, failed to sign in too often lately?"""
    since = now - ATTEMPT_WINDOW
    return (
        _recent_failures(session, col(SignInAttempt.username), username, since) >= USER_FAILURES
        or _recent_failures(session, col(SignInAttempt.address), address, since) >= ADDRESS_FAILURES
    )


def record_attempt(
    session: Session, username: str, address: str, *, succeeded: bool, now: dt.datetime
) -> None:
    session.add(SignInAttempt(at=now, username=username, address=address, succeeded=succeeded))
    session.flush()


def sign_in(
    session: Session,
    passwords: Passwords,
    *,
    username: str,
    password: str,
    address: str,
    user_agent: str,
    now: dt.datetime,
) -> OpenedSession:
    """Check the credentials (rate limited per username and per address) and open a session.

    Every attempt is flushed before an error is raised: a caller that commits even on failure
    (the console does) keeps the record the rate limit counts. A locked username answers the
    same whether or not the user exists, and without checking the password."""
    name = username.strip().lower()[:64]
    address = address[:64]
    if too_many_failures(session, name, address, now):
        record_attempt(session, name, address, succeeded=False, now=now)
        raise TooManyRequests(TOO_MANY)
    try:
        user = authenticate(session, passwords, name, password)
    except Unauthenticated:
        record_attempt(session, name, address, succeeded=False, now=now)
        raise
    record_attempt(session, name, address, succeeded=True, now=now)
    token = secrets.token_urlsafe(32)
    assert user.id is not None
    record = ConsoleSession(
        token_hash=hash_token(token),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + ABSOLUTE_LIFETIME,
        address=address,
        user_agent=user_agent[:200],
    )
    session.add(record)
    session.flush()
    return OpenedSession(token=token, actor=actor_of(user), expires_at=record.expires_at)


def resume(session: Session, token: str, now: dt.datetime) -> ResumedSession:
    """The person a session token belongs to, if the session is still good: not signed out,
    not idle too long, not past its lifetime, and the user active with unchanged credentials
    (a password reset or deactivation ends every session)."""
    record = session.scalar(
        select(ConsoleSession).where(col(ConsoleSession.token_hash) == hash_token(token))
    )
    if record is None or record.revoked_at is not None:
        raise Unauthenticated("the console session has ended; sign in again")
    if now >= record.expires_at or now - record.last_seen_at >= IDLE_TIMEOUT:
        raise Unauthenticated("the console session has expired; sign in again")
    user = session.get(User, record.user_id)
    if user is None or not user.is_active or user.credentials_changed_at > record.created_at:
        raise Unauthenticated("the console session was ended; sign in again")
    assert record.id is not None
    return ResumedSession(
        actor=actor_of(user),
        session_id=record.id,
        needs_touch=now - record.last_seen_at >= TOUCH_EVERY,
    )


def touch(session: Session, session_id: int, now: dt.datetime) -> None:
    """Note that the session was used now (it stays alive while it is used)."""
    record = session.get(ConsoleSession, session_id)
    if record is not None and record.last_seen_at < now:
        record.last_seen_at = now
        session.flush()


def sign_out(session: Session, token: str, now: dt.datetime) -> None:
    """End the session of this token; unknown or ended sessions are left as they are."""
    record = session.scalar(
        select(ConsoleSession).where(col(ConsoleSession.token_hash) == hash_token(token))
    )
    if record is not None and record.revoked_at is None:
        record.revoked_at = now
        session.flush()


__all__ = [
    "INVALID_CREDENTIALS",
    "ConsoleSession",
    "OpenedSession",
    "ResumedSession",
    "SignInAttempt",
    "csrf_token_for",
    "resume",
    "sign_in",
    "sign_out",
    "touch",
]
