"""API clients in a test world: a client's own Ed25519 key (the client holds it; Mandate only
ever sees its public half), registering clients through the API, and signing the client
assertions of RFC 7523 the way a client library does."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey

TOKEN_URL = "http://testserver/v1/auth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def client_key(kid: str = "erp-key-1", kind: str = "OKP") -> OKPKey | ECKey:
    """A key pair the client keeps: Ed25519, or P-256 (ES256) with kind="EC"."""
    if kind == "EC":
        return ECKey.generate_key("P-256", parameters={"kid": kid})
    return OKPKey.generate_key("Ed25519", parameters={"kid": kid})


def public_jwks(*keys: OKPKey | ECKey) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def assertion(
    key: OKPKey | ECKey,
    client_id: str,
    now: dt.datetime,
    *,
    aud: str = TOKEN_URL,
    lifetime: int = 60,
    jti: str | None = None,
    kid: str | None = None,
    **claims: Any,
) -> str:
    """A client assertion (RFC 7523 section 3) signed with the client's key."""
    alg = "EdDSA" if isinstance(key, OKPKey) else "ES256"
    header = {"alg": alg, "kid": kid or key.kid}
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + lifetime,
        "jti": jti or secrets.token_urlsafe(12),
        **claims,
    }
    return jwt.encode(header, body, key, algorithms=[alg])


def token_form(signed: str, scope: str | None = None) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed,
    }
    if scope is not None:
        form["scope"] = scope
    return form


def register(
    client: TestClient, headers: dict[str, str], name: str = "Acme ERP", **body: Any
) -> dict[str, Any]:
    """Register an API client through the API (dual administration off): its public shape."""
    payload = {"name": name, "auth_method": "private_key_jwt", **body}
    response = client.post("/v1/api-clients", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def grant(
    client: TestClient, headers: dict[str, str], principal_id: int, role_id: int, **conditions: Any
) -> dict[str, Any]:
    response = client.post(
        "/v1/grants",
        json={"user_id": principal_id, "role_id": role_id, **conditions},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def with_api_client(db: Any, world: Any, clock: Any) -> int:
    """An API client of acme (client_secret_basic, no grants), registered by acme-admin:
    world.api_client_ids["acme"], the principal's id."""
    from core.context import RequestContext
    from core.iam import api_clients
    from core.iam.api_client_schemas import ApiClientCreate
    from core.models.iam import actor_of
    from tests.factories import unit_of_work

    ctx = RequestContext(actor=actor_of(world.users["acme-admin"]), clock=clock)
    created = unit_of_work(db, clock).run(
        lambda session, _ctx: api_clients.add_api_client(
            session,
            ctx,
            ApiClientCreate(name="Acme ERP", auth_method="client_secret_basic"),
            client_id=api_clients.new_client_id(),
            secret_hash="$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
        )
    )
    world.api_client_ids["acme"] = created.id
    return created.id
