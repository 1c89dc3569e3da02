"""What the second factor's API takes in and gives out: setting up an authenticator app, the
recovery codes, and where a person stands."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core.iam.totp import DIGITS

OtpCode = Annotated[
    str,
    StringConstraints(pattern=rf"^[0-9]{{{DIGITS}}}$"),
    Field(description="The code the authenticator app shows now: six digits", examples=["492039"]),
]


class TotpCode(BaseModel):
    """A code from the authenticator app: confirming it, or removing it."""

    model_config = ConfigDict(extra="forbid")

    code: OtpCode


class TotpEnrolment(BaseModel):
    """A new authenticator to set up: shown once, never again. Scan the QR code (or type the
    secret), then confirm with a code it shows (POST /v1/me/totp/confirm)."""

    secret: str = Field(
        description="The shared secret, base32 (RFC 6238 TOTP, SHA-1, 6 digits, 30 s)"
    )
    otpauth_uri: str = Field(description="The otpauth:// URI the QR code holds")
    qr_svg: str = Field(description="The URI as a QR code: an SVG document")


class RecoveryCodes(BaseModel):
    """Single-use recovery codes, shown once: each signs the person in once instead of a code
    (not as a step-up). Earlier ones no longer work."""

    recovery_codes: list[str]


class SecondFactorPublic(BaseModel):
    """Where a person stands with their second factor."""

    totp: bool = Field(description="An authenticator app is set up")
    pending: bool = Field(description="One was started and awaits its confirming code")
    recovery_codes_left: int
    required: bool = Field(description="The bank requires it of this person")
