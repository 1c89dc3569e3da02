"""What the API clients' API takes in and gives out."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from core.fields import ResourceId
from core.iam.schemas import DisplayName

AuthMethod = Literal["private_key_jwt", "client_secret_basic"]
# The kinds of key a client may sign its assertions with (RFC 7518 / RFC 8037): Ed25519,
# the NIST curves, and RSA.
KEY_TYPES = {"OKP", "EC", "RSA"}
MAX_KEYS = 5
MAX_JWKS_BYTES = 16_384


def _public_jwks(value: dict[str, Any]) -> dict[str, Any]:
    """A JWK Set of public keys only, each with its own kid (an assertion's header names the
    key it was signed with, and must name one of these)."""
    if len(json.dumps(value)) > MAX_JWKS_BYTES:
        raise PydanticCustomError("jwks_too_large", "a JWKS of at most 16 KiB")
    keys = value.get("keys")
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYS:
        raise PydanticCustomError("invalid_jwks", "a JWK Set: {keys: [1 to 5 public keys]}")
    kids = []
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in KEY_TYPES:
            raise PydanticCustomError("invalid_jwks", "each key is a JWK of kty OKP, EC or RSA")
        if any(part in key for part in ("d", "p", "q", "dp", "dq", "qi", "k")):
            raise PydanticCustomError(
                "private_key_in_jwks", "register public keys only: never send a private key"
            )
        kid = key.get("kid")
        if not isinstance(kid, str) or not 1 <= len(kid) <= 128:
            raise PydanticCustomError("invalid_jwks", "each key has a kid (1 to 128 characters)")
        kids.append(kid)
    if len(set(kids)) != len(kids):
        raise PydanticCustomError("invalid_jwks", "each key has a kid of its own")
    try:
        KeySet.import_key_set(value)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise PydanticCustomError("invalid_jwks", "a key of the JWKS is not a valid JWK") from exc
    return {"keys": keys}


PublicJwks = Annotated[dict[str, Any], AfterValidator(_public_jwks)]


class ApiClientCreate(BaseModel):
    """A new API client: a machine principal of the caller's company (bank staff: of a named
    tenant, or a service of the bank itself), with its way of authenticating."""

    model_config = ConfigDict(extra="forbid")

    name: DisplayName
    auth_method: AuthMethod = Field(
        description="private_key_jwt (recommended): the client signs a JWT with its own key "
        "(RFC 7523) and registers its public keys in `jwks`; client_secret_basic: Mandate "
        "makes a secret, shown once in the answer"
    )
    jwks: PublicJwks | None = Field(
        default=None, description="private_key_jwt: the client's public keys, a JWK Set"
    )
    tenant_id: ResourceId | None = Field(default=None, description="Bank staff only: the tenant")

    @model_validator(mode="after")
    def _credentials_fit_the_method(self) -> ApiClientCreate:
        if (self.auth_method == "private_key_jwt") != (self.jwks is not None):
            raise PydanticCustomError(
                "jwks_required", "private_key_jwt needs jwks; client_secret_basic takes none"
            )
        return self


class ApiClientPublic(BaseModel):
    """An API client. `id` is its principal's: grants name it as their user_id, the decision
    and activity logs as their actor."""

    id: int
    client_id: str
    name: str
    tenant_id: int | None
    auth_method: AuthMethod
    jwks: dict[str, Any] | None
    is_active: bool
    created_at: dt.datetime
    disabled_at: dt.datetime | None


class ApiClientCreated(ApiClientPublic):
    client_secret: str | None = Field(
        default=None,
        description="client_secret_basic: the secret, shown this once (only its hash is kept)",
    )
