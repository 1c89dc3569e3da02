"""Tables of the governed policy: every version of the Polar policy set, the pointer to the
one in force (the bank's default: every tenant not pinned runs it), and what each tenant runs
otherwise (TenantPolicy: a pinned version, a company's extension). A platform version is the
deployment's (tenant_id NULL); an extension version is one company's (tenant_id set): only
tenant_refuses rules, loaded with the platform's files for that company's decisions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from core.db import UTCDateTime

VERSION_STATUSES = ("proposed", "approved", "active", "retired", "rejected")
# The one scope today: the whole deployment.
DEPLOYMENT_SCOPE = "deployment"


class PolicyVersion(SQLModel, table=True):
    """One Polar policy set: the text of every file, keyed by file name, never edited once
    stored. `hash` is the engine's version (core.policy.engine: names and texts), the one
    every decision records. A version with no author came with a deploy (the bundled files)."""

    __tablename__ = "policy_versions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('proposed', 'approved', 'active', 'retired', 'rejected')",
            name="ck_policy_versions_status",
        ),
        CheckConstraint("origin IN ('proposal', 'deploy')", name="ck_policy_versions_origin"),
    )

    id: int | None = Field(default=None, primary_key=True)
    hash: str = Field(max_length=16, unique=True)
    files: dict[str, Any] = Field(sa_type=JSON)
    note: str = Field(default="", max_length=500)
    origin: str = Field(default="proposal", max_length=10)  # "proposal" or "deploy"
    author_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: str = Field(default="proposed", max_length=10)
    # The approval that lets it be activated (a rollback asks for a fresh one).
    approved_by_id: int | None = Field(default=None, foreign_key="users.id")
    approved_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    rejected_by_id: int | None = Field(default=None, foreign_key="users.id")
    rejected_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    rejection_reason: str = Field(default="", max_length=500)
    activated_by_id: int | None = Field(default=None, foreign_key="users.id")
    activated_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    retired_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # What validation found when it was proposed: cases run, failures (none, or it would not
    # be stored), coverage.
    validation: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # The uploaded cases that were run with it, by name (YAML text).
    cases: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # An extension's company (core.policy_versions.extensions); NULL: a platform version.
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id", index=True)


class ActivePolicy(SQLModel, table=True):
    """Which version is in force: one row per scope. Every process polls `serial`, which
    grows by one at each activation, and rebuilds its engine when it moved."""

    __tablename__ = "active_policy"

    scope: str = Field(default=DEPLOYMENT_SCOPE, primary_key=True, max_length=20)
    version_id: int = Field(foreign_key="policy_versions.id")
    serial: int = Field(default=1)
    changed_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TenantPolicy(SQLModel, table=True):
    """What one tenant runs besides the bank's default: the platform version it is pinned to
    (NULL: the default, whatever it is), and its extension in force (NULL: none). A tenant
    without a row runs the default alone. Every change moves the deployment pointer's serial,
    which every process polls (core.policy_versions.reload)."""

    __tablename__ = "tenant_policies"

    tenant_id: int = Field(primary_key=True, foreign_key="tenants.id")
    version_id: int | None = Field(default=None, foreign_key="policy_versions.id")
    extension_id: int | None = Field(default=None, foreign_key="policy_versions.id")
    changed_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    changed_by_id: int | None = Field(default=None, foreign_key="users.id")
