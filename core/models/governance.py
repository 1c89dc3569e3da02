"""Change requests: a change to who may do what, waiting for a second person (dual
administration, core.governance)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Index, Text
from sqlmodel import Field, SQLModel

from core.db import BigIntKey, UTCDateTime

CHANGE_REQUEST_STATUSES = ("pending", "applied", "rejected", "refused")


class ChangeRequest(SQLModel, table=True):
    """One change asked for by `requested_by_id` and kept until a second person decides.

    `tenant_id` is the company whose corporate admins decide it; None for a change at the
    bank's level (asked by bank staff), which a second bank manager decides. The change is
    kept as its operation (`kind`), the ids it is about (`target`) and its validated body
    (`payload`), JSON; `before` and `after` are the public shapes the API shows (after: as
    predicted when it was asked). A pending request past `expires_at` is expired: it is shown
    so and never applied."""

    __tablename__ = "change_requests"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'applied', 'rejected', 'refused')",
            name="ck_change_requests_status",
        ),
        Index("ix_change_requests_bank_status", "bank_id", "status", "id"),
        Index("ix_change_requests_tenant_status", "tenant_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntKey)
    bank_id: int = Field(foreign_key="banks.id")
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id")
    kind: str = Field(max_length=40)
    target: str = Field(sa_type=Text)
    payload: str = Field(sa_type=Text)
    before: str | None = Field(default=None, sa_type=Text)
    after: str | None = Field(default=None, sa_type=Text)
    summary: str = Field(max_length=300)
    status: str = Field(default="pending", max_length=20)
    requested_by_id: int = Field(foreign_key="users.id")
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    decided_by_id: int | None = Field(default=None, foreign_key="users.id")
    decided_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Why it was rejected (the decider's words) or refused (the error code and its sentence).
    reason: str | None = Field(default=None, max_length=40)
    reason_detail: str | None = Field(default=None, sa_type=Text)
    # The id of what applying it created (a new grant, user, role): for the change log.
    result_id: int | None = Field(default=None)
