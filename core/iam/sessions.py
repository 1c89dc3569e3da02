"""Signing in: to the web console for a session, to the API for an access token, with the
same credentials and the same limits on failures.

Sessions live on the server, so signing out, deactivating a user or resetting their password
ends them at once. The browser holds only a random token; the table keeps its SHA-256.
Sign-in attempts are counted per username and per address (core.iam.attempts): after too
many failures in a short while sign-in is refused for a time, with the same answer whether the
user exists or not. The console and the API's token endpoint share one mechanism
(check_credentials): an attempt is reserved before the password is checked, so a burst of
parallel guesses can never check more passwords than the limit. A person with an
authenticator app set up gives its code too (core.iam.second_factor); each session and token
keeps how and when they authenticated, for the policy's step-up."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.context import Actor, Authentication, RequestContext
from core.db import Database
from core.errors import Unauthenticated
from core.iam import attempts, second_factor
from core.iam.attempts import INVALID_CREDENTIALS
from core.iam.credentials import Passwords, TokenClaims, TokenService
from core.iam.second_factor import Proof
from core.iam.second_factor_schemas import RecoveryCodes
from core.iam.totp import SecretBox
from core.models.iam import User, actor_of
from core.models.oauth import RevokedToken
from core.models.sessions import ConsoleSession

NO_PROOF = Proof()

# A console session ends after this long without a request, and in any case after a
# working day: a bank console left open overnight must ask for the password again.
IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_LIFETIME = dt.timedelta(hours=10)
# last_seen_at is written at most this often, so reading a page is not a write each time.
TOUCH_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class OpenedSession:
    """What the browser gets: the token for its cookie, and who signed in."""

    token: str
    actor: Actor
    expires_at: dt.datetime


@dataclass(frozen=True)
class ResumedSession:
    actor: Actor
    session_id: int
    needs_touch: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(token: str) -> str:
    """The anti-forgery token of a session: derived from its secret, so nothing else is
    stored, and a page of another session cannot forge it."""
    return hmac.new(token.encode(), b"mandate-console-csrf", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Credentials:
    """What a person signs in with, and from where (attempts are counted per address too)."""

    username: str
    password: str
    address: str
    # Their authenticator's code (or a recovery code), once they have one set up.
    proof: Proof = NO_PROOF


@dataclass(frozen=True)
class SignedIn:
    """Who signed in, and how (core.context.Authentication)."""

    user: User
    authentication: Authentication


def check_credentials(
    db: Database, passwords: Passwords, box: SecretBox, credentials: Credentials, now: dt.datetime
) -> SignedIn:
    """The active user with this username and password, and their second factor if they have
    one (core.iam.second_factor), rate limited per username and per address: reserve the
    attempt, check the password outside any transaction (argon2 takes tens of milliseconds by
    design, and on SQLite a write transaction would hold the database's only write lock that
    long), then the code in a short transaction (it is used once), then settle the attempt:
    a wrong code counts as a failure, as a wrong password does.

    The same error, after the same work, whether the user is unknown, inactive or the
    password wrong; a locked username answers 429 without checking the password."""
    reservation = attempts.reserve_or_refuse(db, credentials.username, credentials.address, now)
    user, proof = reservation.user, credentials.proof
    valid = passwords.verify(user.password_hash if user else None, credentials.password)
    # An API client's principal never signs in with a password (it has none to match).
    succeeded = user is not None and valid and user.is_active and user.kind == "person"
    refusal: Unauthenticated | None = None
    authentication = None
    if user is not None and succeeded:
        try:
            authentication = db.run(
                lambda s: second_factor.sign_in_authentication(s, box, user, proof, now)
            )
        except Unauthenticated as exc:
            succeeded, refusal = False, exc
    attempts.settle(db, reservation, succeeded=succeeded)
    if refusal is not None:
        raise refusal
    if user is None or authentication is None:
        raise Unauthenticated(INVALID_CREDENTIALS, code="invalid_credentials")
    return SignedIn(user, authentication)


# -- the API's access tokens ----------------------------------------------------------------


def issue_token(
    db: Database,
    passwords: Passwords,
    tokens: TokenService,
    box: SecretBox,
    credentials: Credentials,
    now: dt.datetime,
) -> tuple[str, dt.datetime]:
    """Sign in for an access token: with the code of the person's authenticator (`proof`)
    when they have one, and the token says so (its amr and auth_time: a sign-in with a code
    is a step-up). Failures are counted per username and per address (the console's limits,
    the same mechanism: check_credentials); past them the answer is 429, whether or not the
    user exists.

    The password is checked outside any transaction: argon2 takes tens of milliseconds by
    design, and on SQLite a write transaction would hold the database's only write lock
    that long."""
    signed_in = check_credentials(db, passwords, box, credentials, now)
    assert signed_in.user.id is not None
    return tokens.issue(signed_in.user.id, now, signed_in.authentication)


_USER_FOR_TOKEN = select(
    col(User.id),
    col(User.username),
    col(User.display_name),
    col(User.bank_id),
    col(User.tenant_id),
    col(User.kind),
    col(User.is_active),
    col(User.credentials_changed_at),
).where(col(User.id) == bindparam("user_id"))


def actor_from_token(session: Session, tokens: TokenService, token: str, now: dt.datetime) -> Actor:
    """The caller a bearer token speaks for, if the token is valid (signed by a key that still
    verifies, not revoked) and its user — or API client — still is."""
    claims = verified_claims(session, tokens, token, now)
    user = session.connection().execute(_USER_FOR_TOKEN, {"user_id": claims.user_id}).first()
    if user is None or not user.is_active:
        raise Unauthenticated("the token's user is unknown or deactivated", code="invalid_token")
    # A token for a client names it by its client_id too: both must be the same principal.
    if (claims.client_id is not None) != (user.kind == "client") or (
        claims.client_id is not None and claims.client_id != user.username
    ):
        raise Unauthenticated("the token's client is not its principal", code="invalid_token")
    # A password reset or deactivation revokes every token issued before it, to the
    # microsecond: a token of the same second may be from before it.
    if user.credentials_changed_at > claims.issued_at:
        raise Unauthenticated("the token was revoked; sign in again", code="invalid_token")
    return actor_of(user, claims.authentication, client_id=claims.client_id, scopes=claims.scopes)


def verified_claims(
    session: Session, tokens: TokenService, token: str, now: dt.datetime
) -> TokenClaims:
    """The claims of a valid token: signed by a key of the registry that still verifies,
    unexpired, and not revoked (RFC 7009: core.iam.oauth_tokens)."""
    claims = tokens.verify(token, now, session)
    if claims.token_id and session.get(RevokedToken, claims.token_id) is not None:
        raise Unauthenticated("the token was revoked; get a new one", code="invalid_token")
    return claims


# -- the console's sessions -----------------------------------------------------------------


def sign_in(
    session: Session,
    db: Database,
    passwords: Passwords,
    box: SecretBox,
    credentials: Credentials,
    *,
    user_agent: str,
    now: dt.datetime,
) -> OpenedSession:
    """Check the credentials (rate limited per username and per address) and open a session
    in the request's unit of work `session`.

    The attempt is reserved and settled in transactions of its own (check_credentials), so
    it is recorded whatever becomes of the request, and the password is checked while the
    request holds no lock."""
    signed_in = check_credentials(db, passwords, box, credentials, now)
    user, authentication = signed_in.user, signed_in.authentication
    token = secrets.token_urlsafe(32)
    assert user.id is not None
    record = ConsoleSession(
        token_hash=hash_token(token),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + ABSOLUTE_LIFETIME,
        address=credentials.address[:64],
        user_agent=user_agent[:200],
        auth_methods=" ".join(authentication.methods),
        authenticated_at=authentication.at,
        enrolment_only=authentication.enrolment_only,
    )
    session.add(record)
    session.flush()
    return OpenedSession(
        token=token, actor=actor_of(user, authentication), expires_at=record.expires_at
    )


def resume(session: Session, token: str, now: dt.datetime) -> ResumedSession:
    """The person a session token belongs to, if the session is still good: not signed out,
    not idle too long, not past its lifetime, and the user active with unchanged credentials
    (a password reset or deactivation ends every session)."""
    record = session.scalar(
        select(ConsoleSession).where(col(ConsoleSession.token_hash) == hash_token(token))
    )
    if record is None or record.revoked_at is not None:
        raise Unauthenticated("the console session has ended; sign in again")
    if now >= record.expires_at or now - record.last_seen_at >= IDLE_TIMEOUT:
        raise Unauthenticated("the console session has expired; sign in again")
    user = session.get(User, record.user_id)
    if user is None or not user.is_active or user.credentials_changed_at > record.created_at:
        raise Unauthenticated("the console session was ended; sign in again")
    assert record.id is not None
    authentication = Authentication(
        methods=tuple(record.auth_methods.split()),
        at=record.authenticated_at,
        enrolment_only=record.enrolment_only,
    )
    return ResumedSession(
        actor=actor_of(user, authentication),
        session_id=record.id,
        needs_touch=now - record.last_seen_at >= TOUCH_EVERY,
    )


def touch(session: Session, session_id: int, now: dt.datetime) -> None:
    """Note that the session was used now (it stays alive while it is used)."""
    record = session.get(ConsoleSession, session_id)
    if record is not None and record.last_seen_at < now:
        record.last_seen_at = now
        session.flush()


def authenticated(session: Session, session_id: int, authentication: Authentication) -> None:
    """Note the person's fresh authentication in their session (a step-up with a code, or
    their authenticator just set up: the session is then no longer for enrolment only)."""
    record = session.get(ConsoleSession, session_id)
    if record is not None:
        record.auth_methods = " ".join(authentication.methods)
        record.authenticated_at = authentication.at
        record.enrolment_only = authentication.enrolment_only
        session.flush()


def confirm_authenticator(
    session: Session, ctx: RequestContext, box: SecretBox, code: str, session_id: int
) -> RecoveryCodes:
    """Turn the caller's authenticator on from the console (second_factor.confirm_enrolment)
    and note in their session the code they just gave: a session for enrolment only becomes
    a full one."""
    codes = second_factor.confirm_enrolment(session, ctx, box, code)
    authenticated(session, session_id, Authentication(("otp",), ctx.now()))
    return codes


def sign_out(session: Session, token: str, now: dt.datetime) -> None:
    """End the session of this token; unknown or ended sessions are left as they are."""
    record = session.scalar(
        select(ConsoleSession).where(col(ConsoleSession.token_hash) == hash_token(token))
    )
    if record is not None and record.revoked_at is None:
        record.revoked_at = now
        session.flush()


__all__ = [
    "INVALID_CREDENTIALS",
    "Credentials",
    "OpenedSession",
    "ResumedSession",
    "SignedIn",
    "actor_from_token",
    "authenticated",
    "check_credentials",
    "confirm_authenticator",
    "csrf_token_for",
    "issue_token",
    "resume",
    "sign_in",
    "sign_out",
    "touch",
]
