"""Signing in: to the web console for a session, to the API for an access token, with the
same credentials and the same limits on failures.

Sessions live on the server, so signing out, deactivating a user or resetting their password
ends them at once. The browser holds only a random token; the table keeps its SHA-256.
Sign-in attempts are counted per username and per address: after too many failures in a short
while sign-in is refused for a time, with the same answer whether the user exists or not. The
console and the API's token endpoint share one mechanism (check_credentials): an attempt is
reserved before the password is checked, so a burst of parallel guesses can never check more
passwords than the limit."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass

from sqlalchemy import ColumnElement, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from core.context import Actor
from core.db import Database
from core.errors import TooManyRequests, Unauthenticated
from core.iam.credentials import Passwords, TokenService
from core.models.iam import User, actor_of
from core.models.sessions import ConsoleSession, SignInAttempt

# A console session ends after this long without a request, and in any case after a
# working day: a bank console left open overnight must ask for the password again.
IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_LIFETIME = dt.timedelta(hours=10)
# last_seen_at is written at most this often, so reading a page is not a write each time.
TOUCH_EVERY = dt.timedelta(minutes=1)

# Failed sign-ins counted over this window: a username is locked after USER_FAILURES, an
# address after ADDRESS_FAILURES (an office behind one NAT address has many users). Only
# attempts whose password was checked count: an attempt refused during a lockout does not
# extend it, so any 15 minutes hold at most USER_FAILURES password checks that failed, and a
# lockout ends 15 minutes after the oldest failure it counts.
ATTEMPT_WINDOW = dt.timedelta(minutes=15)
USER_FAILURES = 5
ADDRESS_FAILURES = 30
INVALID_CREDENTIALS = "unknown user or wrong password"
TOO_MANY = "too many failed sign-ins; wait 15 minutes and try again"
# PostgreSQL advisory lock classes (pg_advisory_xact_lock(class, key)) that serialize the
# reservations of one username and of one address.
_USERNAME_LOCK = 0x5349_4E01
_ADDRESS_LOCK = 0x5349_4E02


@dataclass(frozen=True)
class Reservation:
    """The outcome of reserving an attempt: its row, and whether its password may be checked
    (with the user it names, None if there is no such user)."""

    attempt_id: int
    allowed: bool
    user: User | None
    # When a refused attempt may be tried again (the lock's end).
    locked_until: dt.datetime | None = None


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


def _failed(since: dt.datetime) -> ColumnElement[bool]:
    """Attempts in the window whose password was checked and did not succeed (a reservation
    not yet settled counts, so parallel attempts see each other)."""
    return (
        (col(SignInAttempt.at) >= since)
        & col(SignInAttempt.password_checked).is_(True)
        & col(SignInAttempt.succeeded).is_not(True)
    )


def _count(session: Session, where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(SignInAttempt).where(where)) or 0)


def locked_until(
    session: Session, username: str, address: str, now: dt.datetime
) -> dt.datetime | None:
    """When sign-in for this username, or from this address, opens again; None if it is open.

    For a username only the failures after its latest success count: a person who mistyped
    a few times and then got in starts afresh. An address's failures all count. The window
    rolls one failure at a time: the lock ends when the oldest failure that keeps the count at
    the limit leaves the window (attempts refused while locked are not counted, so they never
    move that moment)."""
    since = now - ATTEMPT_WINDOW
    last_success = (
        select(func.coalesce(func.max(col(SignInAttempt.id)), 0))
        .where(
            col(SignInAttempt.username) == username,
            col(SignInAttempt.at) >= since,
            col(SignInAttempt.succeeded).is_(True),
        )
        .scalar_subquery()
    )
    user_failures = (
        (col(SignInAttempt.username) == username)
        & _failed(since)
        & (col(SignInAttempt.id) > last_success)
    )
    ends = [
        _lock_end(session, user_failures, USER_FAILURES),
        _lock_end(
            session, (col(SignInAttempt.address) == address) & _failed(since), ADDRESS_FAILURES
        ),
    ]
    # A failure counts while `at >= now - ATTEMPT_WINDOW`: the lock holds through its end.
    locked = [end for end in ends if end is not None and end >= now]
    return max(locked) if locked else None


def _lock_end(session: Session, failures: ColumnElement[bool], limit: int) -> dt.datetime | None:
    count = _count(session, failures)
    if count < limit:
        return None
    # The failure whose leaving the window brings the count below the limit.
    oldest_keeping = session.scalar(
        select(col(SignInAttempt.at))
        .where(failures)
        .order_by(col(SignInAttempt.at), col(SignInAttempt.id))
        .offset(count - limit)
        .limit(1)
    )
    return None if oldest_keeping is None else oldest_keeping + ATTEMPT_WINDOW


def _serialize_attempts(session: Session, username: str, address: str) -> None:
    """Make reservations for one username, or from one address, take turns. On SQLite the
    write transaction (BEGIN IMMEDIATE) already does; on PostgreSQL a transaction-scoped
    advisory lock per username and per address, always taken in that order (two classes, so
    no cycle can form)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for lock_class, value in ((_USERNAME_LOCK, username), (_ADDRESS_LOCK, address)):
        session.execute(select(func.pg_advisory_xact_lock(lock_class, func.hashtext(value))))


def reserve_attempt(session: Session, username: str, address: str, now: dt.datetime) -> Reservation:
    """In one short write transaction: count the recent failures and unsettled reservations
    of this username and address and, under the limits, record a reservation the caller
    settles once the password is checked; past them, record a refused attempt. Both are
    committed before any password is checked."""
    _serialize_attempts(session, username, address)
    lock_ends = locked_until(session, username, address, now)
    allowed = lock_ends is None
    attempt = SignInAttempt(
        at=now,
        username=username,
        address=address,
        succeeded=None if allowed else False,
        password_checked=allowed,
    )
    session.add(attempt)
    session.flush()
    assert attempt.id is not None
    user = session.scalar(select(User).where(col(User.username) == username)) if allowed else None
    return Reservation(attempt_id=attempt.id, allowed=allowed, user=user, locked_until=lock_ends)


def settle_attempt(session: Session, attempt_id: int, *, succeeded: bool) -> None:
    """Record whether a reserved attempt's credentials were right."""
    session.execute(
        update(SignInAttempt).where(col(SignInAttempt.id) == attempt_id).values(succeeded=succeeded)
    )


def check_credentials(
    db: Database,
    passwords: Passwords,
    *,
    username: str,
    password: str,
    address: str,
    now: dt.datetime,
) -> User:
    """The active user with this username and password, rate limited per username and per
    address: reserve the attempt, check the password outside any transaction (argon2 takes
    tens of milliseconds by design, and on SQLite a write transaction would hold the
    database's only write lock that long), then settle the attempt.

    The same error, after the same work, whether the user is unknown, inactive or the
    password wrong; a locked username answers 429 without checking the password."""
    name, address = username.strip().lower()[:64], address[:64]
    reservation = db.run(lambda s: reserve_attempt(s, name, address, now))
    if not reservation.allowed:
        ends = reservation.locked_until
        wait = math.ceil((ends - now).total_seconds()) if ends is not None else 1
        raise TooManyRequests(TOO_MANY, retry_after=max(wait, 1))
    user = reservation.user
    valid = passwords.verify(user.password_hash if user else None, password)
    succeeded = user is not None and valid and user.is_active
    db.run(lambda s: settle_attempt(s, reservation.attempt_id, succeeded=succeeded))
    if user is None or not succeeded:
        raise Unauthenticated(INVALID_CREDENTIALS, code="invalid_credentials")
    return user


# -- the API's access tokens ----------------------------------------------------------------


def issue_token(
    db: Database,
    passwords: Passwords,
    tokens: TokenService,
    *,
    username: str,
    password: str,
    address: str,
    now: dt.datetime,
) -> tuple[str, dt.datetime]:
    """Sign in for an access token. Failures are counted per username and per address (the
    console's limits, the same mechanism: check_credentials); past them the answer is 429,
    whether or not the user exists.

    The password is checked outside any transaction: argon2 takes tens of milliseconds by
    design, and on SQLite a write transaction would hold the database's only write lock
    that long."""
    user = check_credentials(
        db, passwords, username=username, password=password, address=address, now=now
    )
    assert user.id is not None
    return tokens.issue(user.id, now)


_USER_FOR_TOKEN = select(
    col(User.id),
    col(User.username),
    col(User.display_name),
    col(User.bank_id),
    col(User.tenant_id),
    col(User.is_active),
    col(User.credentials_changed_at),
).where(col(User.id) == bindparam("user_id"))


def actor_from_token(session: Session, tokens: TokenService, token: str, now: dt.datetime) -> Actor:
    """The caller a bearer token speaks for, if the token is valid and its user still is."""
    claims = tokens.verify(token, now)
    user = session.connection().execute(_USER_FOR_TOKEN, {"user_id": claims.user_id}).first()
    if user is None or not user.is_active:
        raise Unauthenticated("the token's user is unknown or deactivated", code="invalid_token")
    # A password reset or deactivation revokes every token issued before it, to the
    # microsecond: a token of the same second may be from before it.
    if user.credentials_changed_at > claims.issued_at:
        raise Unauthenticated("the token was revoked; sign in again", code="invalid_token")
    return actor_of(user)


# -- the console's sessions -----------------------------------------------------------------


def sign_in(
    session: Session,
    db: Database,
    passwords: Passwords,
    *,
    username: str,
    password: str,
    address: str,
    user_agent: str,
    now: dt.datetime,
) -> OpenedSession:
    """Check the credentials (rate limited per username and per address) and open a session
    in the request's unit of work `session`.

    The attempt is reserved and settled in transactions of its own (check_credentials), so
    it is recorded whatever becomes of the request, and the password is checked while the
    request holds no lock."""
    user = check_credentials(
        db, passwords, username=username, password=password, address=address, now=now
    )
    token = secrets.token_urlsafe(32)
    assert user.id is not None
    record = ConsoleSession(
        token_hash=hash_token(token),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + ABSOLUTE_LIFETIME,
        address=address[:64],
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
    "OpenedSession",
    "Reservation",
    "ResumedSession",
    "actor_from_token",
    "check_credentials",
    "csrf_token_for",
    "issue_token",
    "reserve_attempt",
    "resume",
    "sign_in",
    "sign_out",
    "touch",
]
