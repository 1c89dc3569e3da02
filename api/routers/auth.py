"""Sign-in: username and password (and, for a person with an authenticator app, its code)
for a short-lived bearer token."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import client_address, services
from api.errors import error_responses
from core.iam.second_factor import Proof
from core.iam.sessions import Credentials, issue_token

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


# The second factor, beside the OAuth2 password form's fields.
OtpField = Annotated[
    str,
    Form(
        max_length=12,
        description="The code the authenticator app shows now: needed when the user has one "
        "set up. A sign-in with it is a strong authentication (the token's amr holds otp): "
        "signing in again with a code is how a client answers a step-up challenge.",
    ),
]
RecoveryField = Annotated[
    str,
    Form(
        max_length=20,
        description="Instead of otp, one of the user's single-use recovery codes: it signs "
        "them in, but is no strong authentication (no step-up with it).",
    ),
]


@router.post(
    "/token",
    response_model=TokenResponse,
    summary="Sign in (OAuth2 password flow, with the second factor)",
    responses=error_responses("invalid_credentials", "otp_required", "too_many_requests"),
)
def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    otp: OtpField = "",
    recovery_code: RecoveryField = "",
) -> TokenResponse:
    # No unit of work: signing in checks a password outside any transaction, and records
    # the attempt in a short one of its own (core.iam.sessions.issue_token).
    svc = services(request)
    now = svc.clock.now()
    address = client_address(request)
    access_token, expires = issue_token(
        svc.db,
        svc.passwords,
        svc.tokens,
        svc.box,
        Credentials(form.username, form.password, address, Proof(otp, recovery_code)),
        now,
    )
    return TokenResponse(access_token=access_token, expires_in=int((expires - now).total_seconds()))
