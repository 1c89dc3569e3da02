"""The token endpoint for API clients: OAuth 2.0 client credentials (RFC 6749 section 4.4),
the client authenticated by a JWT it signed with its own key (private_key_jwt, RFC 7523) or by
its secret (client_secret_basic). The protocol is Authlib's (AuthorizationServer,
ClientCredentialsGrant, JWTBearerClientAssertion); Mandate gives it its clients, its clock,
its replay store and its tokens. No web framework here: the API hands over the request's
method, URL, headers and form, and gets back (status, body, headers).

An assertion must be for this token endpoint (aud), unexpired, short-lived (exp at most
MAX_ASSERTION_SECONDS ahead), signed by a key the client registered and named by its kid, and
used once: its jti is kept (used_assertions) until it expires, and the leeway after."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidClientError,
    InvalidScopeError,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from core.db import Database
from core.iam import attempts
from core.iam.credentials import Passwords, TokenService
from core.iam.scopes import supported_scopes
from core.models.iam import User
from core.models.oauth import ApiClient, UsedAssertion

# How far ahead an assertion's exp may be: a client signs one per token request.
MAX_ASSERTION_SECONDS = 300
# Clock skew allowed on exp, nbf and iat.
LEEWAY_SECONDS = 30
PRIVATE_KEY_JWT = "private_key_jwt"
CLIENT_SECRET_BASIC = "client_secret_basic"


@dataclass(frozen=True)
class TokenRequest:
    """The HTTP request, as the web layer read it."""

    method: str
    url: str
    headers: Mapping[str, str]
    form: Mapping[str, str]


@dataclass(frozen=True)
class TokenAnswer:
    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]]


class RegisteredClient(ClientMixin):
    """An API client as Authlib asks about it."""

    def __init__(self, row: ApiClient, passwords: Passwords) -> None:
        self.row = row
        self._passwords = passwords

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The scopes the token gets: those asked for (all of them unless asked)."""
        supported = supported_scopes()
        if not scope:
            return " ".join(supported)
        return " ".join(s for s in supported if s in scope.split())

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        # A client of private_key_jwt has no secret: verified against the decoy all the same.
        return self._passwords.verify(self.row.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.row.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == ClientCredentialsGrant.GRANT_TYPE

    def public_keys(self) -> KeySet:
        return KeySet.import_key_set(json.loads(self.row.jwks or '{"keys": []}'))

    def kids(self) -> set[str]:
        return {str(k.get("kid")) for k in json.loads(self.row.jwks or '{"keys": []}')["keys"]}


class ClientCredentials(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [PRIVATE_KEY_JWT, CLIENT_SECRET_BASIC]


class PrivateKeyJwt(JWTBearerClientAssertion):
    """RFC 7523 client authentication, with Mandate's clock and replay store."""

    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def __init__(self, server: TokenServer) -> None:
        super().__init__(validate_jti=True, leeway=LEEWAY_SECONDS)
        self._server = server
        self._kid: object = None

    def get_audiences(self) -> list[str]:
        return [self._server.token_url]

    def extract_assertion(self, assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
        headers, claims = super().extract_assertion(assertion)
        self._kid = headers.get("kid")
        return headers, claims

    def resolve_client_public_key(self, client: RegisteredClient) -> KeySet:
        # The assertion names its key; a key the client did not register signs nothing.
        if not isinstance(self._kid, str) or self._kid not in client.kids():
            raise InvalidClientError(description="The assertion's kid is not a key of the client.")
        return client.public_keys()

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        try:
            token = jwt.decode(
                assertion, resolve_key, algorithms=["EdDSA", "Ed25519", "ES256", "RS256", "PS256"]
            )
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="The assertion's signature is not valid.") from exc
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: Any) -> None:
        now = int(self._server.now.timestamp())
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=self.leeway,
            iss={"essential": True},
            sub={"essential": True},
            aud={"essential": True, "values": self.get_audiences()},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise InvalidClientError(description=exc.description) from exc
        if claims["sub"] != claims["iss"]:
            raise InvalidClientError(description="Issuer and Subject MUST match.")
        # RFC 7521 section 4.2: a client_id beside the assertion names the same client.
        named = self._server.named_client_id
        if named and named != claims["sub"]:
            raise InvalidClientError(description="The client_id is not the assertion's client.")
        exp = claims["exp"]
        if not isinstance(exp, int) or exp > now + MAX_ASSERTION_SECONDS:
            raise InvalidClientError(
                description=f"The assertion must expire within {MAX_ASSERTION_SECONDS} seconds."
            )
        jti = claims["jti"]
        if not isinstance(jti, str) or not 1 <= len(jti) <= 255:
            raise InvalidClientError(description="Invalid JWT ID.")
        if not self.validate_jti(claims, jti):
            raise InvalidClientError(description="JWT ID is used before.")

    def validate_jti(self, claims: Any, jti: str) -> bool:
        return self._server.use_assertion(str(claims["sub"]), jti, int(claims["exp"]))


class TokenServer(AuthorizationServer):
    """Authlib's authorization server over one database transaction (`session`)."""

    def __init__(
        self,
        session: Session,
        passwords: Passwords,
        tokens: TokenService,
        now: dt.datetime,
        token_url: str,
    ) -> None:
        super().__init__(scopes_supported=supported_scopes())
        self.session, self.passwords, self.tokens = session, passwords, tokens
        self.now, self.token_url = now, token_url
        self.named_client_id = ""
        self.issued: dict[str, Any] = {}
        self.register_grant(ClientCredentials)
        self.register_client_auth_method(PRIVATE_KEY_JWT, PrivateKeyJwt(self))
        self.register_token_generator("client_credentials", self._generate)

    def query_client(self, client_id: str) -> RegisteredClient | None:
        row = self.session.execute(
            select(ApiClient, col(User.is_active))
            .join(User, col(User.id) == col(ApiClient.user_id))
            .where(col(ApiClient.client_id) == client_id)
        ).first()
        # A disabled client is as unknown as one that never was, and takes as long to refuse
        # as a wrong secret: one password verification against the decoy.
        if row is None or row[0].disabled_at is not None or not row[1]:
            self.passwords.verify(None, client_id)
            return None
        return RegisteredClient(row[0], self.passwords)

    def use_assertion(self, client_id: str, jti: str, exp: int) -> bool:
        """Keep the assertion's jti as long as the assertion could be accepted; False if it
        was used before. That is past its exp by the leeway allowed for clock skew: forgotten
        at exp, it could be sent again in those seconds."""
        expires = dt.datetime.fromtimestamp(exp + LEEWAY_SECONDS, dt.UTC)
        self.session.execute(delete(UsedAssertion).where(col(UsedAssertion.expires_at) < self.now))
        try:
            with self.session.begin_nested():
                self.session.add(UsedAssertion(client_id=client_id, jti=jti, expires_at=expires))
        except IntegrityError:
            return False
        return True

    def validate_requested_scope(self, scope: str | None) -> None:
        if scope and not set(scope.split()) <= set(self.scopes_supported or ()):
            raise InvalidScopeError()

    def _generate(
        self,
        grant_type: str,
        client: RegisteredClient,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        granted = client.get_allowed_scope(scope).split()
        token, expires = self.tokens.issue_for_client(
            client.row.user_id, client.row.client_id, granted, self.now
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int((expires - self.now).total_seconds()),
            "scope": " ".join(granted),
        }

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        # Nothing to keep: the token is a JWT; it is revoked by its jti (revoked_tokens).
        self.issued = token

    def create_oauth2_request(self, request: TokenRequest) -> OAuth2Request:
        oauth = _Request(request)
        return oauth

    def handle_response(
        self, status: int, body: dict[str, Any], headers: list[tuple[str, str]]
    ) -> TokenAnswer:
        return TokenAnswer(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


class _Request(OAuth2Request):
    def __init__(self, request: TokenRequest) -> None:
        # TLS is the deployment's (it ends at the load balancer, before Mandate sees the
        # request; production sends HSTS): Authlib's https check would refuse every request
        # behind one, so it is shown the URL as the client addressed it, over https.
        # Header names as Authlib looks them up ("Authorization"), whatever case they came in.
        headers = {name.title(): value for name, value in request.headers.items()}
        super().__init__(request.method, _as_https(request.url), headers=headers)
        self._form = dict(request.form)
        self.payload = BasicOAuth2Payload(self._form)

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


# Authlib's descriptions that would tell an unknown client from a known one.
_SAID_OF_WHO = ("The client does not exist", "The client cannot authenticate")


def _as_https(url: str) -> str:
    return "https://" + url.split("://", 1)[-1]


def answer_token_request(
    db: Database,
    passwords: Passwords,
    tokens: TokenService,
    request: TokenRequest,
    address: str,
    now: dt.datetime,
) -> TokenAnswer:
    """A client_credentials token request, in a short transaction of its own. A client that
    authenticates by its secret (client_secret_basic) is counted as a password sign-in is
    (core.iam.attempts, per client id and per address): the attempt is reserved before the
    secret is checked, 429 once too many failed, so no one guesses secrets or spends the
    server's hashing time without limit. A signed assertion costs no hashing, and its jti is
    single-use: it is not counted."""
    named = secret_client_id(request.headers)
    reservation = None
    if named is not None:
        reservation = attempts.reserve_or_refuse(db, f"client:{named}", address, now)
    answer = db.run(
        lambda session: client_credentials_token(session, passwords, tokens, request, now)
    )
    if reservation is not None:
        failed = answer.body.get("error") == "invalid_client"
        attempts.settle(db, reservation, succeeded=not failed)
    return answer


def secret_client_id(headers: Mapping[str, str]) -> str | None:
    """The client id an HTTP Basic Authorization names (client_secret_basic: RFC 6749 section
    2.3.1, form-encoded), "" when it cannot be read; None without Basic credentials."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return unquote(decoded.partition(":")[0])


def client_credentials_token(
    session: Session,
    passwords: Passwords,
    tokens: TokenService,
    request: TokenRequest,
    now: dt.datetime,
) -> TokenAnswer:
    """Answer a client_credentials token request (RFC 6749 section 5: the token, or an error
    of section 5.2). invalid_client is answered 401 with a WWW-Authenticate challenge whatever
    the method (section 5.2 allows it; Authlib answers 400 but for Basic)."""
    server = TokenServer(session, passwords, tokens, now, token_url=request.url)
    server.named_client_id = request.form.get("client_id", "")
    answer: TokenAnswer = server.create_token_response(request)
    error, said = answer.body.get("error"), answer.body.get("error_description")
    # The errors answered here, said here (the API lists them: api.routers.auth). Beside
    # them only invalid_request: a form Authlib finds malformed.
    if error == "invalid_client":
        headers = [(k, v) for k, v in answer.headers if k.lower() != "www-authenticate"]
        headers.append(("WWW-Authenticate", 'Basic realm="mandate", error="invalid_client"'))
        # An unknown (or disabled) client and a wrong secret are told apart by nothing.
        if not said or said.startswith(_SAID_OF_WHO):
            said = "Client authentication failed."
        body = {"error": "invalid_client", "error_description": said}
        return TokenAnswer(401, body, headers)
    if error == "invalid_scope":
        body = {"error": "invalid_scope", "error_description": said or "A scope is not known."}
        return TokenAnswer(400, body, answer.headers)
    return answer
