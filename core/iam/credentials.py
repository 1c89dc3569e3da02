"""Password hashing (argon2id) and access tokens (JWT signed with Ed25519)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.context import Authentication
from core.errors import Unauthenticated
from core.settings import Settings

ALGORITHM = "EdDSA"
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


class TokenService:
    """Issues and verifies short-lived access tokens."""

    def __init__(self, settings: Settings) -> None:
        self._private_key = load_or_create_signing_key(
            settings.token_key_path, create=settings.environment != "production"
        )
        self._public_key: Ed25519PublicKey = self._private_key.public_key()
        self.lifetime = dt.timedelta(seconds=settings.token_lifetime_seconds)
        self.issuer = settings.token_issuer
        self.audience = settings.token_audience

    def issue(
        self, user_id: int, now: dt.datetime, authentication: Authentication | None = None
    ) -> tuple[str, dt.datetime]:
        """A token for the user, saying how they signed in (a password alone, unless said)."""
        expires = now + self.lifetime
        issued_us = (now - _EPOCH) // _MICROSECOND
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "iat": issued_us // 1_000_000,
            ISSUED_AT_US: issued_us,
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_urlsafe(12),
        }
        signed_in = authentication or Authentication(methods=("pwd",), at=now)
        claims[METHODS] = list(signed_in.methods)
        claims[AUTH_TIME] = int(signed_in.at.timestamp())
        if signed_in.enrolment_only:
            claims[ENROLMENT_ONLY] = True
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM), expires

    def verify(self, token: str, now: dt.datetime) -> TokenClaims:
        try:
            claims = jwt.decode(
                token,
                self._public_key,
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
        return TokenClaims(
            user_id=user_id,
            issued_at=_issued_at(claims),
            expires_at=dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
            token_id=str(claims.get("jti", "")),
            authentication=_authentication(claims),
        )


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
