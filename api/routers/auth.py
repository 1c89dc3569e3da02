"""Sign-in: username and password for a short-lived bearer token."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import DbSession, services
from api.errors import error_responses
from core.iam.service import issue_token

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


@router.post(
    "/token",
    response_model=TokenResponse,
    summary="Sign in (OAuth2 password flow)",
    responses=error_responses(401, 422, 429),
)
def token(
    request: Request, session: DbSession, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenResponse:
    svc = services(request)
    now = request.state.ctx.now()
    access_token, expires = issue_token(
        session, svc.passwords, svc.tokens, form.username, form.password, now
    )
    return TokenResponse(access_token=access_token, expires_in=int((expires - now).total_seconds()))
