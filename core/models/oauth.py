"""Tables of OAuth 2.0 for machines: API clients (each the credentials of one principal, a
`users` row of kind "client" that holds grants as a person does), the keys that sign access
tokens, the client assertions already used, and access tokens revoked before they expire."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, Text
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from core.db import UTCDateTime


class ApiClient(SQLModel, table=True):
    """How an API client authenticates at the token endpoint: by a JWT it signs with its own
    key (private_key_jwt, RFC 7523; its public keys registered here) or by a secret (its
    argon2 hash here; the secret was shown once). Who it is and what it may do are its
    principal's: `user_id`, with that user's grants."""

    __tablename__ = "api_clients"
    __table_args__ = (
        CheckConstraint(
            "auth_method IN ('private_key_jwt', 'client_secret_basic')",
            name="ck_api_clients_auth_method",
        ),
        CheckConstraint(
            "(auth_method = 'private_key_jwt') = (jwks IS NOT NULL) AND "
            "(auth_method = 'client_secret_basic') = (secret_hash IS NOT NULL)",
            name="ck_api_clients_credentials",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The public identifier a client sends ("mcl_" and 22 random characters).
    client_id: str = Field(max_length=64, unique=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id"), nullable=False, unique=True)
    )
    bank_id: int = Field(foreign_key="banks.id", index=True)
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id", index=True)
    auth_method: str = Field(max_length=32)
    # The client's public keys as a JWK Set (JSON): never a private key.
    jwks: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    secret_hash: str | None = Field(default=None, max_length=255)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    disabled_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class SigningKey(SQLModel, table=True):
    """A key that signs access tokens (Ed25519). One is active (signs); after a rotation the
    previous one is published (still verifies, still in the JWKS) until every token it signed
    has expired; a retired key verifies nothing. The private key is sealed with the secret box
    (core.iam.totp.SecretBox): a copy of the database alone signs nothing."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        CheckConstraint(
            "state IN ('active', 'published', 'retired')", name="ck_signing_keys_state"
        ),
    )

    kid: str = Field(primary_key=True, max_length=64)
    public_key: str = Field(sa_column=Column(Text, nullable=False))
    private_key_sealed: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(max_length=10, index=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # When it stopped signing (rotated out): its tokens have all expired a lifetime later.
    published_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    retired_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class UsedAssertion(SQLModel, table=True):
    """A client assertion's jti, kept until the assertion can no longer be accepted (its exp
    plus the clock skew allowed, core.iam.oauth_server.LEEWAY_SECONDS): each is accepted once."""

    __tablename__ = "used_assertions"

    client_id: str = Field(primary_key=True, max_length=64)
    jti: str = Field(primary_key=True, max_length=255)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)


class RevokedToken(SQLModel, table=True):
    """An access token revoked before its expiry (RFC 7009), by its jti, kept until it
    expires: a revoked token is refused everywhere."""

    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)
    revoked_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


__all__ = ["ApiClient", "RevokedToken", "SigningKey", "UsedAssertion"]
