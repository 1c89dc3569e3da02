"""What other services learn about access tokens: the keys that verify them (the JWKS), the
authorization server's metadata (RFC 8414), whether a token is active (introspection, RFC
7662, for the resource servers of other services, with the token.introspect permission and on
a client's token the tokens:introspect scope), and revocation by its holder (RFC 7009)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.context import RequestContext
from core.errors import Unauthenticated
from core.iam import signing_keys
from core.iam.credentials import ALGORITHM, TokenService
from core.iam.scopes import supported_scopes
from core.iam.sessions import verified_claims
from core.models.iam import User
from core.models.oauth import RevokedToken
from core.policy.facts import Resource
from core.policy.service import authorize, check


def jwks(session: Session, tokens: TokenService) -> dict[str, Any]:
    """The public keys whose tokens verify now: the active one and the published ones."""
    rows = signing_keys.verifying_rows(session)
    keys = [signing_keys.public_jwk(row.kid, row.public_key) for row in rows]
    if not any(row.state == signing_keys.ACTIVE for row in rows):
        first = signing_keys.public_pem(tokens.first_key.public_key())
        keys.insert(0, signing_keys.public_jwk(tokens.first_kid, first))
    return {"keys": keys}


def metadata(base_url: str, token_endpoint: str, issuer: str) -> dict[str, Any]:
    """RFC 8414 authorization server metadata."""
    return {
        "issuer": issuer,
        "token_endpoint": token_endpoint,
        "jwks_uri": f"{base_url}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials", "password"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256", "RS256", "PS256"],
        "scopes_supported": supported_scopes(),
        "response_types_supported": [],
        "revocation_endpoint": f"{base_url}/v1/auth/revoke",
        "introspection_endpoint": f"{base_url}/v1/auth/introspect",
        "access_token_signing_alg_values_supported": [ALGORITHM],
    }


def introspect(
    session: Session, ctx: RequestContext, tokens: TokenService, token: str
) -> dict[str, Any]:
    """Whether `token` is active, and whose it is (RFC 7662). The caller must hold
    token.introspect (over its own company, or as staff its bank); a token of someone out of
    the caller's reach is answered as inactive, so nothing leaks."""
    actor = ctx.require_actor()
    own = (
        Resource.of_bank(actor.bank_id)
        if actor.tenant_id is None
        else Resource.of_tenant(actor.tenant_id, actor.bank_id)
    )
    authorize(session, ctx, "token.introspect", own, not_found="not found")
    try:
        claims = verified_claims(session, tokens, token, ctx.now())
    except Unauthenticated:
        return {"active": False}
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active or user.credentials_changed_at > claims.issued_at:
        return {"active": False}
    whose = Resource("token", None, user.tenant_id, user.bank_id)
    if not check(session, ctx, "token.introspect", whose, record=False).allowed:
        return {"active": False}
    answer: dict[str, Any] = {
        "active": True,
        "sub": str(user.id),
        "username": user.username,
        "token_type": "Bearer",
        "exp": int(claims.expires_at.timestamp()),
        "iat": int(claims.issued_at.timestamp()),
        "iss": tokens.issuer,
        "aud": tokens.audience,
        "jti": claims.token_id,
    }
    if claims.client_id is not None:
        answer["client_id"] = claims.client_id
        answer["scope"] = " ".join(claims.scopes or ())
    return answer


def revoke(session: Session, ctx: RequestContext, tokens: TokenService, token: str) -> None:
    """Revoke one of the caller's own tokens (RFC 7009): refused everywhere from now on. A
    token that is invalid, expired or someone else's is answered the same, and nothing
    changes (section 2.2)."""
    actor = ctx.require_actor()
    authorize(session, ctx, "self.read", Resource.of_actor(actor))
    ctx.audit.attempt("self.read", target="an access token")
    try:
        claims = verified_claims(session, tokens, token, ctx.now())
    except Unauthenticated:
        return
    if claims.user_id != actor.user_id or not claims.token_id:
        return
    if session.get(RevokedToken, claims.token_id) is None:
        session.add(
            RevokedToken(jti=claims.token_id, expires_at=claims.expires_at, revoked_at=ctx.now())
        )
        session.flush()
    ctx.audit.done("revoked an access token")
