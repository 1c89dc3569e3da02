"""The second factor: setting up an authenticator app (TOTP) with recovery codes, checking a
code when a person signs in or steps up, and who must have one when the bank requires it.

Secrets are kept encrypted (core.iam.totp.SecretBox) and shown only while being set up;
recovery codes are kept as keyed digests and shown once. Every code is accepted once (the
time step it belongs to is remembered), and a code checked outside signing in (a step-up,
removing the authenticator) counts as a sign-in attempt: the sign-in limits hold for codes
too, so nobody can guess them (core.iam.attempts)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from core.audit.changes import record_change
from core.context import Actor, Authentication, RequestContext
from core.db import Database
from core.errors import Conflict, InvalidRequest, Unauthenticated
from core.iam import attempts, totp
from core.iam.second_factor_schemas import RecoveryCodes, SecondFactorPublic, TotpEnrolment
from core.iam.totp import SecretBox
from core.models.iam import Bank, Grant, Role, User
from core.models.second_factor import RecoveryCode, TotpCredential
from core.policy import engine as policy_engine
from core.policy.facts import Resource
from core.policy.service import authorize

OTP_REQUIRED = (
    "this user signs in with a second factor: send the code from the authenticator app as "
    "otp, or a recovery code as recovery_code"
)
INVALID_OTP = "that is not the authenticator's code of this moment, or it was used already"
ENROLMENT_ONLY = (
    "the bank requires two-factor sign-in of you: set up an authenticator app first "
    "(POST /v1/me/totp, then /v1/me/totp/confirm), then sign in again with a code"
)


# Removing the authenticator takes a code given this recently (with the request itself, or
# a moment before: a request retried on contention decides at a later instant).
PROOF_LIFETIME = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Proof:
    """What a person gives beside their password: a code from their authenticator app, or
    one of their recovery codes."""

    code: str = ""
    recovery_code: str = ""


def _credential(session: Session, user_id: int, *, lock: bool) -> TotpCredential | None:
    # Locked (PostgreSQL; SQLite's write transaction serializes anyway): two requests with the
    # same code cannot both see its step unused.
    return session.get(TotpCredential, user_id, with_for_update=lock or None)


def _enabled(session: Session, user_id: int, *, lock: bool = False) -> TotpCredential | None:
    credential = _credential(session, user_id, lock=lock)
    return credential if credential is not None and credential.confirmed_at is not None else None


def _use_code(box: SecretBox, credential: TotpCredential, code: str, now: dt.datetime) -> bool:
    """Accept the code if it is the authenticator's, of a step not used yet; remember the step."""
    step = totp.accepted_step(
        box.open(credential.secret_encrypted), code, now, credential.last_used_step
    )
    if step is None:
        return False
    credential.last_used_step = step
    return True


def _use_recovery_code(
    session: Session, box: SecretBox, user_id: int, code: str, now: dt.datetime
) -> bool:
    """Spend one of the person's recovery codes, if this is one not spent yet."""
    if not totp.is_recovery_code(code):
        return False
    spent = session.execute(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user_id,
            col(RecoveryCode.digest) == box.recovery_digest(code),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=now)
    )
    return bool(spent.rowcount)  # type: ignore[attr-defined]


def required_of(session: Session, user: User) -> bool:
    """Whether the bank requires a second factor of this person: asked of the policy
    (authentication.polar: second_factor_required) with their kind and the built-in roles of
    their grants not revoked."""
    bank = session.get(Bank, user.bank_id)
    if bank is None or not bank.mfa_required_for_staff_and_admins:
        return False
    keys = session.scalars(
        select(col(Role.key))
        .join(Grant, col(Grant.role_id) == col(Role.id))
        .where(
            col(Grant.user_id) == user.id,
            col(Grant.revoked_at).is_(None),
            col(Role.builtin).is_(True),
        )
    )
    person = {"kind": "staff" if user.is_staff else "customer", "roles": sorted(set(keys))}
    return policy_engine.current().holds("second_factor_required", person)


def sign_in_authentication(
    session: Session, box: SecretBox, user: User, proof: Proof, now: dt.datetime
) -> Authentication:
    """How a person whose password was right signs in: with their authenticator's code (or a
    recovery code) when they have one set up, which they must give; with the password alone
    otherwise, for enrolment only when the bank requires a second factor of them."""
    assert user.id is not None
    credential = _enabled(session, user.id, lock=True)
    if credential is None:
        return Authentication(("pwd",), now, enrolment_only=required_of(session, user))
    if proof.code:
        if _use_code(box, credential, proof.code, now):
            session.flush()
            return Authentication(("pwd", "otp"), now)
    elif proof.recovery_code:
        if _use_recovery_code(session, box, user.id, proof.recovery_code, now):
            return Authentication(("pwd", "rec"), now)
    else:
        raise Unauthenticated(OTP_REQUIRED, code="otp_required")
    raise Unauthenticated(attempts.INVALID_CREDENTIALS, code="invalid_credentials")


def prove_code(
    db: Database, box: SecretBox, actor: Actor, code: str, *, address: str, now: dt.datetime
) -> Authentication:
    """Check a code from the person's authenticator outside signing in (a step-up, removing
    the authenticator), in transactions of its own: counted as a sign-in attempt of theirs
    (429 past the limits), the code accepted once. Answers their fresh authentication: a
    code, now."""
    if db.run(lambda s: _enabled(s, actor.user_id) is None, write=False):
        raise Conflict("no authenticator is set up", code="totp_not_enabled")
    reservation = attempts.reserve_or_refuse(db, actor.username, address, now)
    succeeded = False
    try:
        succeeded = db.run(lambda s: _prove(s, box, actor.user_id, code, now))
    finally:
        attempts.settle(db, reservation, succeeded=succeeded)
    if not succeeded:
        raise InvalidRequest(INVALID_OTP, code="invalid_otp")
    return Authentication(("otp",), now)


def _prove(session: Session, box: SecretBox, user_id: int, code: str, now: dt.datetime) -> bool:
    credential = _enabled(session, user_id, lock=True)
    if credential is None:
        raise Conflict("no authenticator is set up", code="totp_not_enabled")
    if not _use_code(box, credential, code, now):
        return False
    session.flush()
    return True


# -- the person's own authenticator ---------------------------------------------------------


def _own(session: Session, ctx: RequestContext, what: str) -> Actor:
    actor = ctx.require_actor()
    ctx.audit.attempt("self.manage", target=what)
    authorize(session, ctx, "self.manage", Resource.of_actor(actor))
    return actor


def status(session: Session, ctx: RequestContext) -> SecondFactorPublic:
    """Whether the caller has an authenticator set up, how many recovery codes they have
    left, and whether the bank requires a second factor of them."""
    actor = ctx.require_actor()
    authorize(session, ctx, "self.read", Resource.of_actor(actor))
    user = session.get(User, actor.user_id)
    assert user is not None
    left = session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(col(RecoveryCode.user_id) == actor.user_id, col(RecoveryCode.used_at).is_(None))
    )
    credential = _credential(session, actor.user_id, lock=False)
    return SecondFactorPublic(
        totp=credential is not None and credential.confirmed_at is not None,
        pending=credential is not None and credential.confirmed_at is None,
        recovery_codes_left=int(left or 0),
        required=required_of(session, user),
    )


def start_enrolment(session: Session, ctx: RequestContext, box: SecretBox) -> TotpEnrolment:
    """A new secret for the caller's authenticator app, shown this once (a second start
    replaces it); it counts once confirmed with a code. Refused while one is set up."""
    actor = _own(session, ctx, "authenticator app")
    credential = _credential(session, actor.user_id, lock=True)
    if credential is not None and credential.confirmed_at is not None:
        raise Conflict(
            "an authenticator is set up already: remove it first", code="totp_already_enabled"
        )
    secret = totp.new_secret()
    if credential is None:
        credential = TotpCredential(user_id=actor.user_id, secret_encrypted="")
        session.add(credential)
    credential.secret_encrypted = box.seal(secret)
    credential.created_at = ctx.now()
    credential.last_used_step = None
    session.flush()
    ctx.audit.done("started setting up an authenticator app")
    uri = totp.provisioning_uri(secret, actor.username)
    return TotpEnrolment(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


def confirm_enrolment(
    session: Session, ctx: RequestContext, box: SecretBox, code: str
) -> RecoveryCodes:
    """Turn the authenticator on with a code it shows, and give the caller fresh recovery
    codes (shown once; earlier ones stop working)."""
    actor = _own(session, ctx, "authenticator app")
    credential = _credential(session, actor.user_id, lock=True)
    if credential is None or credential.confirmed_at is not None:
        raise Conflict(
            "no authenticator awaits confirmation: start setting one up first",
            code="totp_not_started",
        )
    if not _use_code(box, credential, code, ctx.now()):
        raise InvalidRequest(INVALID_OTP, code="invalid_otp")
    credential.confirmed_at = ctx.now()
    codes = _new_recovery_codes(session, box, actor.user_id, ctx.now())
    record_change(ctx, "user", actor.user_id, "totp_enabled", actor.tenant_id)
    ctx.audit.done("set up an authenticator app for two-factor sign-in")
    return RecoveryCodes(recovery_codes=codes)


def _new_recovery_codes(
    session: Session, box: SecretBox, user_id: int, now: dt.datetime
) -> list[str]:
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes = totp.new_recovery_codes()
    session.add_all(
        RecoveryCode(user_id=user_id, digest=box.recovery_digest(c), created_at=now) for c in codes
    )
    session.flush()
    return codes


def remove_authenticator(session: Session, ctx: RequestContext, proven: Authentication) -> None:
    """Turn the caller's authenticator off, with its recovery codes. `proven`: a code from it,
    checked by prove_code (a stolen password alone cannot remove the second factor). When the
    bank requires one of them, their next sign-in is for setting one up again only."""
    actor = _own(session, ctx, "authenticator app")
    if "otp" not in proven.methods or ctx.now() - proven.at > PROOF_LIFETIME:
        raise InvalidRequest(INVALID_OTP, code="invalid_otp")
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == actor.user_id))
    session.execute(delete(TotpCredential).where(col(TotpCredential.user_id) == actor.user_id))
    session.flush()
    record_change(ctx, "user", actor.user_id, "totp_removed", actor.tenant_id)
    ctx.audit.done("removed the authenticator app")
