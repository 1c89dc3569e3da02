"""Password hashing (argon2id) and access tokens (JWTs signed with Ed25519, RFC 9068)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from core.context import Authentication
from core.db import Database
from core.errors import Unauthenticated
from core.iam import signing_keys
from core.iam.totp import SecretBox
from core.settings import Settings

ALGORITHM = "EdDSA"
# RFC 9068 section 2.1: an access token says it is one, so no other JWT passes for one.
ACCESS_TOKEN_TYPE = "at+jwt"
# The issue time to the microsecond, beside the standard whole-second "iat" (RFC 7519): a
# password reset or deactivation revokes every token issued before it, even in its second.
ISSUED_AT_US = "iat_us"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
# How the person authenticated (RFC 8176 method names; RFC 9470 reads them with auth_time),
# and whether the token may only set up the second factor the bank requires.
METHODS = "amr"
AUTH_TIME = "auth_time"
ENROLMENT_ONLY = "mfa_enrolment"


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.password_time_cost, memory_cost=settings.password_memory_kib
        )
        # Verified against when the user does not exist, so both cases take the same time.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._decoy, password) and bool(
                password_hash
            )
        except (VerificationError, InvalidHashError):
            return False


def load_or_create_signing_key(path: Path, *, create: bool) -> Ed25519PrivateKey:
    path = path.expanduser()
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"token signing key {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Created with mode 0600 from the start: the key is never readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        return key
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return loaded


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    issued_at: dt.datetime
    expires_at: dt.datetime
    token_id: str
    # How and when the person signed in for this token (a token without: no method known).
    authentication: Authentication | None = None
    # An API client's token (client_credentials): its client_id, and the scopes it was issued
    # with, which narrow what the client's grants allow. A person's token: None, None.
    client_id: str | None = None
    scopes: tuple[str, ...] | None = None
    kid: str = ""


class TokenService:
    """Issues and verifies short-lived access tokens (JWTs of the RFC 9068 profile, "typ"
    at+jwt, Ed25519, with the signing key's kid). The keys are the registry's
    (core.iam.signing_keys) when the service has a database and the secret box; without, the
    key file alone (a tool that only issues tokens for tests)."""

    def __init__(
        self, settings: Settings, db: Database | None = None, box: SecretBox | None = None
    ) -> None:
        self._first = load_or_create_signing_key(
            settings.token_key_path, create=settings.environment != "production"
        )
        self._first_public: Ed25519PublicKey = self._first.public_key()
        self.first_kid = signing_keys.kid_of(self._first_public)
        self._db, self._box = db, box
        # Parsed keys by kid: a kid names one key for ever, so these never go stale (whether a
        # key still verifies is read from the registry every time).
        self._private: dict[str, Ed25519PrivateKey] = {}
        self._public: dict[str, Ed25519PublicKey] = {self.first_kid: self._first_public}
        self.lifetime = dt.timedelta(seconds=settings.token_lifetime_seconds)
        self.issuer = settings.token_issuer
        self.audience = settings.token_audience

    @property
    def first_key(self) -> Ed25519PrivateKey:
        """The provisioned key file's key (the registry's first key)."""
        return self._first

    def issue(
        self, user_id: int, now: dt.datetime, authentication: Authentication | None = None
    ) -> tuple[str, dt.datetime]:
        """A token for the user, saying how they signed in (a password alone, unless said)."""
        claims = self._claims(str(user_id), now)
        signed_in = authentication or Authentication(methods=("pwd",), at=now)
        claims[METHODS] = list(signed_in.methods)
        claims[AUTH_TIME] = int(signed_in.at.timestamp())
        if signed_in.enrolment_only:
            claims[ENROLMENT_ONLY] = True
        return self._sign(claims), now + self.lifetime

    def issue_for_client(
        self, user_id: int, client_id: str, scopes: list[str], now: dt.datetime
    ) -> tuple[str, dt.datetime]:
        """An API client's token (RFC 9068): its principal as sub, its client_id, the scopes
        granted. No amr: a client authenticates no person."""
        claims = self._claims(str(user_id), now)
        claims["client_id"] = client_id
        claims["scope"] = " ".join(scopes)
        return self._sign(claims), now + self.lifetime

    def _claims(self, subject: str, now: dt.datetime) -> dict[str, object]:
        issued_us = (now - _EPOCH) // _MICROSECOND
        return {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": issued_us // 1_000_000,
            ISSUED_AT_US: issued_us,
            "nbf": int(now.timestamp()),
            "exp": int((now + self.lifetime).timestamp()),
            "jti": secrets.token_urlsafe(12),
        }

    def _sign(self, claims: dict[str, object]) -> str:
        kid, key = self._signing_key()
        return jwt.encode(
            claims, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": ACCESS_TOKEN_TYPE}
        )

    def _signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        if self._db is None or self._box is None:
            return self.first_kid, self._first
        with self._db.single_read() as session:
            row = signing_keys.active_row(session)
            if row is None:
                return self.first_kid, self._first
            kid, sealed = row.kid, row.private_key_sealed
        key = self._private.get(kid)
        if key is None:
            key = signing_keys.load_private(self._box.open(sealed))
            self._private[kid] = key
        return kid, key

    def verifying_key(self, session: Session | None, kid: str) -> Ed25519PublicKey:
        """The public key of `kid` if tokens it signed verify now: active or published in the
        registry, or the key file while no key is active. A retired key verifies nothing."""
        if session is None or self._db is None:
            if kid == self.first_kid:
                return self._first_public
            raise Unauthenticated("the token's signing key is not ours", code="invalid_token")
        row = signing_keys.row_of(session, kid)
        if row is None:
            if kid == self.first_kid and signing_keys.active_row(session) is None:
                return self._first_public
            raise Unauthenticated("the token's signing key is not ours", code="invalid_token")
        if row.state == signing_keys.RETIRED:
            raise Unauthenticated(
                "the token's signing key was retired; get a new token", code="invalid_token"
            )
        public = self._public.get(kid)
        if public is None:
            public = signing_keys.load_public(row.public_key)
            self._public[kid] = public
        return public

    def verify(self, token: str, now: dt.datetime, session: Session | None = None) -> TokenClaims:
        """The claims of a token we signed with a key that verifies now (`session`: the
        registry is read through it), unexpired, for our audience."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated(
                "the token is malformed, tampered with, or not ours", code="invalid_token"
            ) from exc
        # A token of before kids (issued by the key file) names none.
        kid = header.get("kid", self.first_kid)
        if not isinstance(kid, str):
            raise Unauthenticated("the token's kid is not ours", code="invalid_token")
        public = self.verifying_key(session, kid)
        try:
            claims = jwt.decode(
                token,
                public,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                # Times are checked below against the injected clock, not the machine's.
                options={
                    "require": ["exp", "iat", "sub", "iss", "aud", ISSUED_AT_US],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(
                "the token is malformed, tampered with, or not ours", code="invalid_token"
            ) from exc
        at = int(now.timestamp())
        if int(claims["exp"]) <= at:
            raise Unauthenticated("the token has expired; sign in again", code="token_expired")
        if int(claims.get("nbf", claims["iat"])) > at + 5:
            raise Unauthenticated("the token is not valid yet", code="invalid_token")
        try:
            user_id = int(claims["sub"])
        except ValueError as exc:
            raise Unauthenticated("the token names no user", code="invalid_token") from exc
        client_id, scopes = _client_of(claims, header)
        return TokenClaims(
            user_id=user_id,
            issued_at=_issued_at(claims),
            expires_at=dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
            token_id=str(claims.get("jti", "")),
            authentication=None if client_id else _authentication(claims),
            client_id=client_id,
            scopes=scopes,
            kid=kid,
        )


def _client_of(
    claims: dict[str, Any], header: dict[str, Any]
) -> tuple[str | None, tuple[str, ...] | None]:
    """An API client's token: its client_id and scopes (RFC 9068: typ at+jwt, scope a
    space-separated string). A person's token: neither."""
    client_id = claims.get("client_id")
    if client_id is None:
        return None, None
    scope = claims.get("scope", "")
    if (
        not isinstance(client_id, str)
        or not isinstance(scope, str)
        or header.get("typ") != ACCESS_TOKEN_TYPE
    ):
        raise Unauthenticated("the token's client is not ours", code="invalid_token")
    return client_id, tuple(scope.split())


def _authentication(claims: dict[str, object]) -> Authentication | None:
    methods, auth_time = claims.get(METHODS), claims.get(AUTH_TIME)
    if not isinstance(methods, list) or type(auth_time) is not int:
        return None
    try:
        at = _EPOCH + dt.timedelta(seconds=auth_time)
    except OverflowError as exc:
        raise Unauthenticated("the token's sign-in time is not ours", code="invalid_token") from exc
    return Authentication(
        methods=tuple(str(m) for m in methods),
        at=at,
        enrolment_only=claims.get(ENROLMENT_ONLY) is True,
    )


def _issued_at(claims: dict[str, object]) -> dt.datetime:
    """The precise issue time; it must fall in the second the standard "iat" names."""
    issued_us, issued_s = claims[ISSUED_AT_US], claims["iat"]
    if type(issued_us) is int and type(issued_s) is int and issued_us // 1_000_000 == issued_s:
        try:
            return _EPOCH + issued_us * _MICROSECOND
        except OverflowError:
            pass
    raise Unauthenticated("the token's issue time is not ours", code="invalid_token")
