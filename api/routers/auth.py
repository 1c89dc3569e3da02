"""The token endpoint: people sign in with username and password (and, with an authenticator
app, its code) — the OAuth 2.0 password grant, switched off by MANDATE_PASSWORD_GRANT — and
API clients get tokens by client credentials (RFC 6749 section 4.4, core.iam.oauth_server)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import client_address, services
from api.errors import CODES_KEY, error_responses
from core.errors import InvalidRequest
from core.iam.oauth_server import TokenRequest, answer_token_request
from core.iam.second_factor import Proof
from core.iam.sessions import Credentials, issue_token

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer", "Bearer"] = "bearer"
    expires_in: int
    scope: str | None = None


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
GrantType = Annotated[
    str,
    Form(
        max_length=40,
        description="password (a person; the default) or client_credentials (an API client, "
        "authenticated by client_assertion or HTTP Basic)",
    ),
]
Text = Annotated[str, Form(max_length=256)]
Assertion = Annotated[
    str, Form(max_length=8192, description="client_credentials: the client's signed JWT")
]
AssertionType = Annotated[
    str,
    Form(
        max_length=100,
        description="client_credentials with private_key_jwt: "
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    ),
]
Scope = Annotated[
    str,
    Form(
        max_length=500,
        description="client_credentials: the scopes asked for, space-separated (default: all "
        "of them); they narrow what the client's grants allow",
    ),
]


TOKEN_ERRORS = error_responses(
    "invalid_credentials",
    "otp_required",
    "too_many_requests",
    "invalid_client",
    "unsupported_grant_type",
)
# RFC 6749 section 5.2's invalid_scope is a 400 here; Mandate's own invalid_scope (a grant's
# accounts, core.errors) is a 422 elsewhere: the same word, listed at the token's status.
TOKEN_ERRORS[400][CODES_KEY].append("invalid_scope")


@router.post(
    "/token",
    response_model=TokenResponse,
    summary="Get an access token: a person signs in (password grant, with the second "
    "factor), an API client by client credentials (private_key_jwt or client_secret_basic)",
    responses=TOKEN_ERRORS,
)
def token(
    request: Request,
    grant_type: GrantType = "password",
    username: Text = "",
    password: Text = "",
    scope: Scope = "",
    client_id: Text = "",
    client_assertion_type: AssertionType = "",
    client_assertion: Assertion = "",
    otp: OtpField = "",
    recovery_code: RecoveryField = "",
) -> TokenResponse | JSONResponse:
    # No unit of work: signing in checks a password outside any transaction, and records
    # the attempt in a short one of its own (core.iam.sessions.issue_token); a client's token
    # request is one short transaction of its own (its assertion's jti is kept), a secret's
    # attempt counted as a sign-in's (core.iam.oauth_server.answer_token_request).
    svc = services(request)
    now = svc.clock.now()
    if grant_type == "client_credentials":
        form = {
            "grant_type": grant_type,
            "scope": scope,
            "client_id": client_id,
            "client_assertion_type": client_assertion_type,
            "client_assertion": client_assertion,
        }
        asked = TokenRequest(
            method=request.method,
            url=svc.settings.token_endpoint or str(request.url),
            headers=dict(request.headers),
            form={k: v for k, v in form.items() if v},
        )
        address = client_address(request)
        answer = answer_token_request(svc.db, svc.passwords, svc.tokens, asked, address, now)
        body = dict(answer.body)
        if "error" in body:
            # RFC 6749's error_description, and Mandate's "detail" beside it.
            body.setdefault("detail", body.get("error_description", body["error"]))
        # Cache-Control: no-store is on every answer already (api.middleware.SecurityHeaders).
        headers = {k: v for k, v in answer.headers if k.lower() != "cache-control"}
        return JSONResponse(body, status_code=answer.status, headers=headers)
    if grant_type != "password" or not svc.settings.password_grant:
        return JSONResponse(
            {
                "error": "unsupported_grant_type",
                "error_description": f"grant_type {grant_type} is not answered here",
                "detail": f"grant_type {grant_type} is not answered here",
            },
            status_code=400,
        )
    if not username or not password:
        raise InvalidRequest("username and password are needed", code="invalid_request")
    access_token, expires = issue_token(
        svc.db,
        svc.passwords,
        svc.tokens,
        svc.box,
        Credentials(username, password, client_address(request), Proof(otp, recovery_code)),
        now,
    )
    return TokenResponse(access_token=access_token, expires_in=int((expires - now).total_seconds()))
