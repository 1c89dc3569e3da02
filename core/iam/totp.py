"""The second factor's arithmetic, with no database: TOTP codes (RFC 6238, by pyotp), the
enrolment's otpauth URI and QR code (segno), recovery codes and their digests, and the key
that encrypts the shared secrets at rest.

A code is accepted for the time step it belongs to, one step either side of the clock's
(RFC 6238 section 5.2: a code typed just before its 30 seconds ended, or a phone a little
ahead), and only for a step later than the last one accepted for that person: the same code
never works twice, nor an older one after it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import os
import secrets
from pathlib import Path

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken

from core.settings import Settings

ISSUER = "Mandate"
STEP_SECONDS = 30
DIGITS = 6
# Steps either side of the clock's step that are accepted.
WINDOW = 1
RECOVERY_CODES = 10
# Ten characters of base32: 50 random bits each, shown as "abcde-fghij".
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_RECOVERY_LENGTH = 10


class SecretBox:
    """Encrypts the TOTP secrets kept in the database (Fernet: AES-128-CBC and HMAC-SHA256),
    with a key kept beside the token-signing key, outside the database. It also keys the
    recovery codes' digests (recovery_digest)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._digest_key = hashlib.sha256(b"mandate-recovery-codes\0" + key).digest()

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("a TOTP secret that this key did not seal") from exc

    def recovery_digest(self, code: str) -> str:
        """The digest a recovery code is kept as: HMAC-SHA256 under the box's key. A code
        carries 50 random bits and guesses are rate limited, so a slow hash buys nothing
        online; offline, the digests alone cannot be checked without the key file. Keyed
        rather than salted, a code is found by its digest in one indexed lookup."""
        normal = normalise_recovery_code(code)
        return hmac.new(self._digest_key, normal.encode(), hashlib.sha256).hexdigest()


def load_or_create_box(path: Path, *, create: bool) -> SecretBox:
    """The secret box of the key file at `path`, created (mode 0600) when missing if
    `create` (development and tests); production must provision it (`mandate keys create`)."""
    path = path.expanduser()
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"second-factor key {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
    return SecretBox(path.read_bytes().strip())


def second_factor_box(settings: Settings) -> SecretBox:
    """The process's box, from the key file the settings name (created in development)."""
    assert settings.second_factor_key_path is not None
    return load_or_create_box(
        settings.second_factor_key_path, create=settings.environment != "production"
    )


def new_secret() -> str:
    """A fresh shared secret: 32 base32 characters (160 bits, RFC 4226's recommendation)."""
    return pyotp.random_base32()


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def step_of(at: dt.datetime) -> int:
    """The time step `at` falls in."""
    return int(at.timestamp()) // STEP_SECONDS


def code_at(secret: str, at: dt.datetime) -> str:
    """The code an authenticator shows at `at` (tests and the README's recipe use it too)."""
    return _totp(secret).at(at)


def accepted_step(secret: str, code: str, now: dt.datetime, last_used: int | None) -> int | None:
    """The time step `code` is the code of, within the window around `now` and later than
    `last_used`; None if it is no such code."""
    typed = "".join(code.split())
    if len(typed) != DIGITS or not typed.isdigit():
        return None
    totp = _totp(secret)
    current = step_of(now)
    for step in range(current - WINDOW, current + WINDOW + 1):
        if last_used is not None and step <= last_used:
            continue
        if hmac.compare_digest(totp.generate_otp(step), typed):
            return step
    return None


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return _totp(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The URI as a QR code, an inline SVG document (no XML declaration)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", scale=4, border=2, xmldecl=False, omitsize=True
    )
    return out.getvalue().decode()


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Fresh single-use recovery codes, as a person writes them down: "abcde-fghij"."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalise_recovery_code(code: str) -> str:
    """A recovery code as typed, in lower case without spaces or dashes."""
    return "".join(ch for ch in code.lower() if ch not in " -\t")


def is_recovery_code(code: str) -> bool:
    normal = normalise_recovery_code(code)
    return len(normal) == _RECOVERY_LENGTH and set(normal) <= set(_RECOVERY_ALPHABET)
