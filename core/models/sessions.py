"""Tables of the console's sign-in: browser sessions and sign-in attempts (core.iam.sessions
holds the rules that use them)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from core.db import BigIntKey, UTCDateTime


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
    # The person's latest authentication in this session (core.context.Authentication): its
    # methods, space-separated ("pwd otp"; "otp" after a step-up), and when it happened.
    auth_methods: str = Field(default="pwd", max_length=32)
    authenticated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Signed in only to set up the second factor the bank requires: nothing else is open.
    enrolment_only: bool = Field(default=False)


class SignInAttempt(SQLModel, table=True):
    """One sign-in attempt (console or API), kept for rate limiting and for the record.

    A row is written before the password is checked (succeeded None: a reservation) and
    settled afterwards; a reservation never settled (a crash) counts as a failure."""

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
    succeeded: bool | None
    # False when the attempt was refused by a lockout without checking the password.
    password_checked: bool = True
