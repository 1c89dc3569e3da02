"""Sign-in attempts, counted per username and per address: after too many failures in a short
while, signing in (and every other check of a person's secret: a password, a code from their
authenticator) is refused for a time, with the same answer whether the user exists or not.

An attempt is reserved before the secret is checked, in a short transaction of its own, so a
burst of parallel guesses can never check more secrets than the limit; it is settled
afterwards (core.iam.sessions for passwords, core.iam.second_factor for codes)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from core.db import Database
from core.errors import TooManyRequests
from core.models.iam import User
from core.models.sessions import SignInAttempt

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


def reserve_or_refuse(db: Database, username: str, address: str, now: dt.datetime) -> Reservation:
    """Reserve an attempt (its own transaction, committed before any secret is checked), or
    refuse at once with 429 while the username or the address is locked."""
    name, address = username.strip().lower()[:64], address[:64]
    reservation = db.run(lambda s: reserve_attempt(s, name, address, now))
    if not reservation.allowed:
        ends = reservation.locked_until
        wait = math.ceil((ends - now).total_seconds()) if ends is not None else 1
        raise TooManyRequests(TOO_MANY, retry_after=max(wait, 1))
    return reservation


def settle(db: Database, reservation: Reservation, *, succeeded: bool) -> None:
    """Record, in a transaction of its own, whether a reserved attempt's secret was right."""
    db.run(lambda s: settle_attempt(s, reservation.attempt_id, succeeded=succeeded))
