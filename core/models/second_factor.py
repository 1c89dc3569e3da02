"""Tables of the second factor: each person's TOTP authenticator and their recovery codes
(core.iam.second_factor holds the rules that use them)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from core.db import BigIntKey, UTCDateTime


class TotpCredential(SQLModel, table=True):
    """A person's authenticator app (RFC 6238, 30-second steps, 6 digits): enrolment started
    (confirmed_at None) or in use. One per person; starting again replaces one not confirmed."""

    __tablename__ = "totp_credentials"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    # The shared secret, encrypted with the second-factor key (core.iam.totp.SecretBox): a
    # copy of the database alone gives nobody the codes. Never shown after enrolment.
    secret_encrypted: str = Field(max_length=255)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    confirmed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The time step of the last code accepted: every code is accepted once, and none of an
    # earlier step after it, so an overheard code cannot be used again.
    last_used_step: int | None = Field(default=None, sa_type=BigInteger)


class RecoveryCode(SQLModel, table=True):
    """One single-use recovery code, kept as its keyed digest (core.iam.totp.recovery_digest)."""

    __tablename__ = "recovery_codes"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntKey)
    user_id: int = Field(foreign_key="users.id", index=True)
    digest: str = Field(max_length=64, unique=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
