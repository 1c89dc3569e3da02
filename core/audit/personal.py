"""GDPR access (article 15): everything Mandate holds about one person, as JSON.

The person themself, their company's admin and compliance may ask (personal_data.read). The
answer lists the rows about the person, table by table, as stored, minus secrets (password,
TOTP and session hashes are said to exist, never shown): their profile, second factor,
grants, activity, the decisions made on their requests, the changes about them and by them,
their sign-in attempts and console sessions, the change requests they made and the payments
they prepared. Each list holds the newest MAX_ROWS rows; `truncated` names the cut ones."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session
from sqlmodel import SQLModel, col

from core.context import RequestContext
from core.errors import NotFound
from core.models.audit import ActivityRecord, ChangeRecord, DecisionRecord
from core.models.governance import ChangeRequest
from core.models.iam import Grant, User
from core.models.payments import Payment
from core.models.second_factor import RecoveryCode, TotpCredential
from core.models.sessions import ConsoleSession, SignInAttempt
from core.policy.facts import Resource
from core.policy.service import authorize, require_readable

MAX_ROWS = 1000
# Never shown, only said to exist: what would let someone act as the person.
SECRET_COLUMNS = frozenset(
    {"password_hash", "token_hash", "secret_encrypted", "digest", "last_used_step"}
)


class PersonalData(BaseModel):
    user_id: int
    profile: dict[str, Any]
    second_factor: dict[str, Any] = Field(
        description="Whether an authenticator is set up, and how many recovery codes are unused"
    )
    grants: list[dict[str, Any]]
    activity: list[dict[str, Any]]
    decisions: list[dict[str, Any]] = Field(description="Decisions made on their requests")
    changes_about: list[dict[str, Any]] = Field(description="Changes to their user")
    changes_made: list[dict[str, Any]]
    sign_in_attempts: list[dict[str, Any]]
    console_sessions: list[dict[str, Any]]
    change_requests: list[dict[str, Any]] = Field(description="Change requests they made")
    payments_prepared: list[dict[str, Any]]
    truncated: list[str] = Field(description=f"The lists cut at their newest {MAX_ROWS} rows")
    generated_at: dt.datetime


def person_for(session: Session, ctx: RequestContext, user_id: int, action: str) -> User:
    """The person, if the policy lets the caller `action` them; another company's person is
    not found, and so is a missing one (after a decision too: no leak of existence)."""
    user = session.get(User, user_id)
    missing = f"user {user_id} not found"
    if user is None:
        actor = ctx.require_actor()
        require_readable(
            session, ctx, "user.read", Resource.of_bank(actor.bank_id), not_found=missing
        )
        raise NotFound(missing)
    authorize(session, ctx, action, Resource.of_user(user), not_found=missing)
    return user


def _shown(row: SQLModel) -> dict[str, Any]:
    return {
        name: value
        for name, value in row.model_dump(mode="json").items()
        if name not in SECRET_COLUMNS
    }


class _Lists:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.truncated: list[str] = []

    def newest(
        self, name: str, model: type[SQLModel], where: ColumnElement[bool], key: Any
    ) -> list[dict[str, Any]]:
        stmt: Select[Any] = select(model).where(where).order_by(key.desc()).limit(MAX_ROWS + 1)
        rows = list(self.session.scalars(stmt))
        if len(rows) > MAX_ROWS:
            self.truncated.append(name)
        return [_shown(row) for row in rows[:MAX_ROWS]]


def personal_data(session: Session, ctx: RequestContext, user_id: int) -> PersonalData:
    """Everything held about user `user_id` (see the module's docstring)."""
    user = person_for(session, ctx, user_id, "personal_data.read")
    lists = _Lists(session)
    codes_left = session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(col(RecoveryCode.user_id) == user_id, col(RecoveryCode.used_at).is_(None))
    )
    totp = session.get(TotpCredential, user_id)
    return PersonalData(
        user_id=user_id,
        profile={**_shown(user), "password": "set (only a hash of it is kept)"},
        second_factor={
            "authenticator": totp is not None and totp.confirmed_at is not None,
            "recovery_codes_unused": codes_left or 0,
        },
        grants=lists.newest("grants", Grant, col(Grant.user_id) == user_id, col(Grant.id)),
        activity=lists.newest(
            "activity",
            ActivityRecord,
            col(ActivityRecord.user_id) == user_id,
            col(ActivityRecord.id),
        ),
        decisions=lists.newest(
            "decisions",
            DecisionRecord,
            col(DecisionRecord.actor_id) == user_id,
            col(DecisionRecord.id),
        ),
        changes_about=lists.newest(
            "changes_about",
            ChangeRecord,
            (col(ChangeRecord.entity) == "user") & (col(ChangeRecord.entity_id) == user_id),
            col(ChangeRecord.id),
        ),
        changes_made=lists.newest(
            "changes_made",
            ChangeRecord,
            col(ChangeRecord.actor_id) == user_id,
            col(ChangeRecord.id),
        ),
        sign_in_attempts=lists.newest(
            "sign_in_attempts",
            SignInAttempt,
            col(SignInAttempt.username) == user.username,
            col(SignInAttempt.id),
        ),
        console_sessions=lists.newest(
            "console_sessions",
            ConsoleSession,
            col(ConsoleSession.user_id) == user_id,
            col(ConsoleSession.id),
        ),
        change_requests=lists.newest(
            "change_requests",
            ChangeRequest,
            col(ChangeRequest.requested_by_id) == user_id,
            col(ChangeRequest.id),
        ),
        payments_prepared=lists.newest(
            "payments_prepared",
            Payment,
            col(Payment.initiated_by_id) == user_id,
            col(Payment.id),
        ),
        truncated=lists.truncated,
        generated_at=ctx.now(),
    )
