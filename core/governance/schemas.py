"""The public shapes of change requests."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core.fields import PLAIN_TEXT

T = TypeVar("T")

ChangeRequestStatus = Literal["pending", "applied", "rejected", "refused", "expired"]
ChangeKindName = Literal[
    "user.create",
    "user.update",
    "user.reset_password",
    "api_client.create",
    "api_client.disable",
    "role.create",
    "role.update",
    "role.delete",
    "grant.create",
    "grant.update",
    "grant.revoke",
    "approval_rules.put",
    "bank_approval_rules.put",
    "cap.put",
    "tenant.settings",
    "bank.settings",
]


class ChangeRequestLinks(BaseModel):
    self: str
    approve: str
    reject: str


class ChangeRequestPublic(BaseModel):
    """A change waiting for (or decided by) a second person: the change as before and after
    (after: as predicted when it was asked; the public shapes the API shows for the thing
    changed), who asked and when, until when it waits, who decided, and why."""

    id: int
    kind: ChangeKindName
    status: ChangeRequestStatus
    tenant_id: int | None = Field(description="The company whose admins decide it; null: the bank")
    summary: str = Field(description="The change in words")
    target: dict[str, Any] = Field(description="The ids the change is about")
    before: Any = Field(description="What is changed, as it was when asked (null: created)")
    after: Any = Field(description="What it would be once applied (null: deleted)")
    requested_by: int
    requested_by_name: str
    created_at: dt.datetime
    expires_at: dt.datetime
    decided_by: int | None
    decided_by_name: str | None
    decided_at: dt.datetime | None
    reason: str | None = Field(
        description="Rejected: the decider's words; refused: why applying it failed "
        "(change_request_stale, requester_inactive, or the error code applying gave)"
    )
    reason_detail: str | None
    result_id: int | None = Field(description="Applied: the id of what it created, if any")
    links: ChangeRequestLinks


class ChangeRejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), PLAIN_TEXT] = (
        ""
    )


class Governed(BaseModel, Generic[T]):
    """What a governed operation did: `applied` (dual administration off, or not needed), or
    `request` (it waits for a second person)."""

    applied: T | None = None
    request: ChangeRequestPublic | None = None
    # Secrets shown this once to who asked, beside the change request they wait in (a new API
    # client's secret): the request keeps only their hash.
    shown_once: dict[str, str] = {}
