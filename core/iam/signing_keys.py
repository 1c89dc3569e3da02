"""The keys that sign access tokens (Ed25519, each named by its kid, the RFC 7638 thumbprint of
its public key), and their lives: one active key signs; `mandate keys rotate` makes a new one
active and leaves the previous one published — it still verifies, and stays in the JWKS —
until every token it signed has expired; `mandate keys retire KID` then retires it, and a
retired key verifies nothing.

The provisioned key file (MANDATE_TOKEN_KEY_PATH, `mandate keys create`) is the first key: it
signs while the registry holds no active key, and the first rotation records it as a row
(published), so from then on the registry alone says what verifies. Private keys in the
registry are sealed with the secret box (core.iam.totp.SecretBox): the database alone signs
nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc.jwk import OKPKey
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.errors import Conflict, NotFound
from core.iam.totp import SecretBox
from core.models.oauth import SigningKey

ACTIVE, PUBLISHED, RETIRED = "active", "published", "retired"


def kid_of(public: Ed25519PublicKey) -> str:
    """The key's id: its RFC 7638 JWK thumbprint, the same for the same key everywhere."""
    return str(OKPKey.import_key(public_pem(public)).thumbprint())


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def private_pem(private: Ed25519PrivateKey) -> str:
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def load_public(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("a signing key that is not Ed25519")
    return key


def load_private(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("a signing key that is not Ed25519")
    return key


def public_jwk(kid: str, pem: str) -> dict[str, Any]:
    jwk = OKPKey.import_key(pem).as_dict(private=False)
    return {**jwk, "kid": kid, "use": "sig", "alg": "EdDSA"}


@dataclass(frozen=True)
class KeyStatus:
    kid: str
    state: str
    created_at: dt.datetime | None
    published_at: dt.datetime | None
    retired_at: dt.datetime | None
    # A published key: when the last token it signed expires (it may be retired from then).
    tokens_expire_by: dt.datetime | None


def active_row(session: Session) -> SigningKey | None:
    return session.scalar(select(SigningKey).where(col(SigningKey.state) == ACTIVE))


def row_of(session: Session, kid: str) -> SigningKey | None:
    return session.get(SigningKey, kid)


def verifying_rows(session: Session) -> list[SigningKey]:
    """The keys whose tokens verify: the active one and the published ones (the JWKS)."""
    return list(
        session.scalars(
            select(SigningKey)
            .where(col(SigningKey.state).in_((ACTIVE, PUBLISHED)))
            .order_by(col(SigningKey.created_at).desc())
        )
    )


def rotate(
    session: Session, box: SecretBox, first: Ed25519PrivateKey, now: dt.datetime
) -> SigningKey:
    """Make a new active key; the active one (the key file, before the first rotation) becomes
    published: its tokens verify until they expire."""
    current = active_row(session)
    if current is None:
        first_kid = kid_of(first.public_key())
        current = row_of(session, first_kid)
        if current is None:
            current = SigningKey(
                kid=first_kid,
                public_key=public_pem(first.public_key()),
                private_key_sealed=box.seal(private_pem(first)),
                state=ACTIVE,
                created_at=now,
            )
            session.add(current)
    if current.state == ACTIVE:
        current.state = PUBLISHED
        current.published_at = now
    fresh = Ed25519PrivateKey.generate()
    row = SigningKey(
        kid=kid_of(fresh.public_key()),
        public_key=public_pem(fresh.public_key()),
        private_key_sealed=box.seal(private_pem(fresh)),
        state=ACTIVE,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def retire(
    session: Session, kid: str, now: dt.datetime, lifetime: dt.timedelta, *, force: bool = False
) -> SigningKey:
    """Retire a published key: tokens it signed are refused from now on. Refused while tokens
    it signed may still be live, unless `force` (a key thought compromised)."""
    row = row_of(session, kid)
    if row is None:
        raise NotFound(f"no signing key {kid}")
    if row.state == ACTIVE:
        raise Conflict(
            f"{kid} is the active key: rotate first (mandate keys rotate)",
            code="signing_key_active",
        )
    if row.state == PUBLISHED and not force:
        live_until = (row.published_at or now) + lifetime
        if now < live_until:
            raise Conflict(
                f"tokens {kid} signed live until {live_until:%Y-%m-%d %H:%M:%S} UTC; retire it "
                "then, or now with --force (those tokens are refused at once)",
                code="signing_key_in_use",
            )
    if row.state != RETIRED:
        row.state = RETIRED
        row.retired_at = now
    session.flush()
    return row


def statuses(session: Session, first: Ed25519PublicKey, lifetime: dt.timedelta) -> list[KeyStatus]:
    """Every key, newest first; the key file too while no rotation has recorded it."""
    rows = list(session.scalars(select(SigningKey).order_by(col(SigningKey.created_at).desc())))
    out = [
        KeyStatus(
            kid=row.kid,
            state=row.state,
            created_at=row.created_at,
            published_at=row.published_at,
            retired_at=row.retired_at,
            tokens_expire_by=(row.published_at + lifetime)
            if row.state == PUBLISHED and row.published_at
            else None,
        )
        for row in rows
    ]
    # The key file signs while no key is active (before the first rotation).
    if not any(s.state == ACTIVE for s in out):
        out.append(KeyStatus(kid_of(first), ACTIVE, None, None, None, None))
    return out
