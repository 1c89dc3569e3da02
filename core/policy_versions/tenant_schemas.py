"""The shapes of what each tenant runs: its policy (a pinned version, an extension), the
bank's assignments, a rollout's target, and a company's own rules as its people read them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field

from core.fields import MAX_ID
from core.policy_versions.schemas import TenantRulePublic

TenantIds = Annotated[
    list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(min_length=1, max_length=1000)
]


class TenantPolicyPut(BaseModel):
    """What a tenant runs from now on: `version_id`, a platform version it is pinned to (null:
    the bank's default, whatever it is), and `extension_id`, its company's extension in force
    (null: none). Both are given: this is the whole of it."""

    version_id: Annotated[int | None, Field(ge=1, le=MAX_ID)]
    extension_id: Annotated[int | None, Field(ge=1, le=MAX_ID)]


class ActivationTarget(BaseModel):
    """Whom an activation is for: `tenants` first (a canary: each is pinned to the version),
    or, without them, every tenant (the version becomes the bank's default)."""

    tenants: TenantIds | None = None


class TenantPolicyPublic(BaseModel):
    """What one tenant runs now: the platform version (its own pin, or the default) and its
    extension, if any, with the extension's rules in words."""

    tenant_id: int
    tenant: str
    version_id: int
    version_hash: str
    # Pinned to its version; otherwise it follows the bank's default.
    pinned: bool
    extension_id: int | None
    extension_hash: str | None
    rules: list[TenantRulePublic]
    changed_at: dt.datetime | None
    changed_by: str | None


class PolicyAssignments(BaseModel):
    """Every tenant of the bank and what it runs, beside the default."""

    default_version_id: int | None
    default_hash: str | None
    tenants: list[TenantPolicyPublic]


class CompanyRules(BaseModel):
    """A company's own rules as its people read them: what is refused for it beyond the
    platform's rules, in words (no versions, no Polar)."""

    tenant_id: int
    rules: list[TenantRulePublic]
    in_force_since: dt.datetime | None
