"""What other services read about Mandate's tokens: the JWKS, the authorization server's
metadata (RFC 8414), introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from api.deps import ApiUnit, services
from api.errors import error_responses
from core.iam import oauth_tokens

router = APIRouter(tags=["auth"])

TokenField = Annotated[str, Form(min_length=1, max_length=8192, description="The access token")]


def _base_url(request: Request) -> str:
    configured = services(request).settings.token_endpoint
    if configured:
        return configured.removesuffix("/v1/auth/token")
    return str(request.base_url).rstrip("/")


@router.get("/.well-known/jwks.json", summary="The keys that verify Mandate's access tokens")
def jwks(request: Request) -> dict[str, Any]:
    svc = services(request)
    with svc.db.single_read() as session:
        return oauth_tokens.jwks(session, svc.tokens)


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="Authorization server metadata (RFC 8414)",
)
def authorization_server(request: Request) -> dict[str, Any]:
    svc = services(request)
    base = _base_url(request)
    return oauth_tokens.metadata(
        base, svc.settings.token_endpoint or f"{base}/v1/auth/token", svc.tokens.issuer
    )


@router.post(
    "/v1/auth/introspect",
    summary="Whether an access token is active, and whose (RFC 7662; token.introspect)",
    responses=error_responses("not_found", "missing_permission", "scope_missing"),
)
def introspect(request: Request, uow: ApiUnit, token: TokenField) -> dict[str, Any]:
    return uow.run(oauth_tokens.introspect, services(request).tokens, token)


@router.post(
    "/v1/auth/revoke",
    status_code=200,
    # RFC 7009 section 2.2: 200 and no body, whether or not the token was one to revoke.
    response_class=Response,
    summary="Revoke one of your own access tokens (RFC 7009)",
    responses={
        200: {"description": "Revoked, or nothing to revoke: the same answer"},
        **error_responses(),
    },
)
def revoke(request: Request, uow: ApiUnit, token: TokenField) -> Response:
    uow.run(oauth_tokens.revoke, services(request).tokens, token)
    return Response(status_code=200)
