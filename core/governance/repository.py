"""The queries of dual administration: change requests, and who a change gives new rights
(the ties between people are core.policy.ties')."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.models.governance import ChangeRequest
from core.models.iam import Grant, User


def change_request(
    session: Session, request_id: int, *, within: ColumnElement[bool]
) -> ChangeRequest | None:
    """The change request, if `within` (core.policy.filters.within_reach) admits it."""
    return session.scalars(
        select(ChangeRequest).where(col(ChangeRequest.id) == request_id, within)
    ).first()


def lock_request(
    session: Session, request_id: int, *, within: ColumnElement[bool]
) -> ChangeRequest | None:
    """The change request, if `within` admits it, locked (PostgreSQL: FOR UPDATE) so that two
    approvers at once apply it once: the second waits, then finds it decided.
    populate_existing: the row as it is once the lock is ours."""
    stmt = select(ChangeRequest).where(col(ChangeRequest.id) == request_id, within)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt.execution_options(populate_existing=True)).first()


def status_is(status: str, now: dt.datetime) -> ColumnElement[bool]:
    """Requests shown with `status` at `now` (a pending one past its expiry is expired)."""
    if status == "pending":
        return and_(col(ChangeRequest.status) == "pending", col(ChangeRequest.expires_at) > now)
    if status == "expired":
        return and_(col(ChangeRequest.status) == "pending", col(ChangeRequest.expires_at) <= now)
    return col(ChangeRequest.status) == status


def holders_of_role(session: Session, role_id: int) -> set[int]:
    """The users holding a live grant of the role."""
    return set(
        session.scalars(
            select(col(Grant.user_id)).where(
                col(Grant.role_id) == role_id, col(Grant.revoked_at).is_(None)
            )
        )
    )


def grantee_of(session: Session, grant_id: int) -> int | None:
    return session.scalar(select(col(Grant.user_id)).where(col(Grant.id) == grant_id))


def names_of(session: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    ids = sorted({i for i in user_ids if i is not None})
    if not ids:
        return {}
    users = session.scalars(select(User).where(col(User.id).in_(ids)))
    return {user.id: user.display_name for user in users if user.id is not None}


def count_where(session: Session, where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(ChangeRequest).where(where)) or 0)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
