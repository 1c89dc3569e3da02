"""Sign-in: username and password for a short-lived bearer token."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import services
from api.errors import error_responses
from core.iam.sessions import issue_token

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


@router.post(
    "/token",
    response_model=TokenResponse,
    summary="Sign in (OAuth2 password flow)",
    responses=error_responses("invalid_credentials", "too_many_requests"),
)
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenResponse:
    # No unit of work: signing in checks a password outside any transaction, and records
    # the attempt in a short one of its own (core.iam.sessions.issue_token).
    svc = services(request)
    now = svc.clock.now()
    address = request.client.host if request.client else "unknown"
    access_token, expires = issue_token(
        svc.db,
        svc.passwords,
        svc.tokens,
        username=form.username,
        password=form.password,
        address=address,
        now=now,
    )
    return TokenResponse(access_token=access_token, expires_in=int((expires - now).total_seconds()))
