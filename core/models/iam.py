"""Tables of identity and access. Roles and grants are data; what they mean is in policies/."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy import BigInteger, CheckConstraint, Column, Date, ForeignKey, Index, Integer, text
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from core.context import Actor, Authentication
from core.db import UTCDateTime


class Bank(SQLModel, table=True):
    __tablename__ = "banks"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    # What its customers' IBANs are made of: the country and the national bank code (as
    # schwifty's IBAN.generate takes them), and the bank's BIC.
    country: str = Field(default="DE", max_length=2)
    bank_code: str = Field(default="10020030", max_length=12)
    bic: str = Field(default="MANDDEB1XXX", max_length=11)
    # Dual administration (core.governance): whether a new customer starts with it on, whether
    # no customer may turn it off, and whether the bank's own managers need a second one.
    dual_admin_default: bool = Field(default=False)
    dual_admin_mandatory: bool = Field(default=False)
    dual_control: bool = Field(default=False)
    # A change request waits this many hours for its second person, then expires.
    change_request_hours: int = Field(default=72, ge=1, le=720)
    # What one of its staff did to another within this many days ties them: no second person
    # for each other's change requests or policy versions (core.policy.ties).
    dual_admin_trust_days: int = Field(default=30, ge=0, le=365)
    # Two-factor sign-in: bank staff and corporate admins without a second factor may sign in
    # only to set one up (who exactly: policies/authentication.polar's second_factor_required).
    mfa_required_for_staff_and_admins: bool = Field(default=False)
    # Step-up for the bank's own staff: the actions that ask it need a code from their
    # authenticator within this many minutes (0: no step-up).
    step_up_minutes: int = Field(default=0, ge=0, le=1440)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Tenant(SQLModel, table=True):
    """A corporate customer of a bank."""

    __tablename__ = "tenants"
    __table_args__ = (Index("ix_tenants_bank_name", "bank_id", "name", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    bank_id: int = Field(foreign_key="banks.id", index=True)
    name: str = Field(max_length=100)
    # Days and months of cumulative limits are counted in this zone.
    timezone: str = Field(default="Europe/Berlin", max_length=64)
    # Dual control over payees: a new beneficiary waits for a second person's approval, and
    # any payment to a beneficiary younger than this many hours needs an approval.
    beneficiary_approval_required: bool = Field(default=False)
    new_beneficiary_hours: int = Field(default=24, ge=0, le=720)
    # A payment waiting for approval expires after this many days.
    payment_expiry_days: int = Field(default=7, ge=1, le=30)
    # Dual administration: a corporate admin's change to users, roles, grants or rules waits
    # for a second corporate admin; who is tied to the requester by what either did within
    # this many days is no second person for that requester (core.policy.ties).
    dual_admin: bool = Field(default=False)
    dual_admin_trust_days: int = Field(default=30, ge=0, le=365)
    # Step-up (policies/authentication.polar): approving payments and change requests and
    # managing beneficiaries need a code from the person's authenticator within this many
    # minutes (0: no step-up); so do transfers and payments above the amount, in its
    # currency (any amount in another currency; no amount: never).
    step_up_minutes: int = Field(default=0, ge=0, le=1440)
    step_up_transfer_currency: str | None = Field(default=None, max_length=3)
    step_up_transfer_amount: int | None = Field(default=None, sa_type=BigInteger)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class User(SQLModel, table=True):
    """A principal: a person (a customer's employee, tenant_id set, or bank staff, tenant_id
    null), or an API client (kind "client": a machine of the customer or of the bank, whose
    credentials are core.models.oauth.ApiClient). Either holds grants the same way."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("kind IN ('person', 'client')", name="ck_users_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=100)
    bank_id: int = Field(foreign_key="banks.id", index=True)
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id", index=True)
    password_hash: str = Field(max_length=255)
    # "client": an API client, which signs in only at the token endpoint with its own
    # credentials (client_credentials), never with a password.
    kind: str = Field(default="person", max_length=10)
    is_active: bool = Field(default=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Who created the user (None: the seed, onboarding): a user someone created lately is no
    # second person for them (core.governance).
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    # Who last reset the password and when: whoever set it knows it, which ties them to the
    # user like creating them (core.policy.ties).
    password_reset_by_id: int | None = Field(default=None, foreign_key="users.id")
    password_reset_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Tokens issued before this instant are no longer accepted.
    credentials_changed_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def is_staff(self) -> bool:
        return self.tenant_id is None


class Role(SQLModel, table=True):
    """A named set of permissions. Built-in roles carry the permissions policies/ gives them;
    custom roles carry the permissions listed in role_permissions."""

    __tablename__ = "roles"
    __table_args__ = (
        CheckConstraint("level IN ('tenant', 'bank')", name="ck_roles_level"),
        CheckConstraint(
            "(level = 'bank') = (tenant_id IS NULL)", name="ck_roles_bank_roles_have_no_tenant"
        ),
        # Only live roles hold their name; a deleted one is kept for history.
        Index(
            "ix_roles_unique_key",
            "bank_id",
            text("coalesce(tenant_id, 0)"),
            "key",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    bank_id: int = Field(foreign_key="banks.id")
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id", index=True)
    key: str = Field(max_length=64)
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=500)
    builtin: bool = Field(default=False)
    level: str = Field(default="tenant", max_length=10)
    # Optional limits every grant of this role is held to (see policies/limits.polar).
    limit_currency: str | None = Field(default=None, max_length=3)
    per_transfer_limit: int | None = Field(default=None, sa_type=BigInteger)
    daily_limit: int | None = Field(default=None, sa_type=BigInteger)
    monthly_limit: int | None = Field(default=None, sa_type=BigInteger)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Set when the role is deleted: gone for every purpose, the row kept for the record.
    deleted_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class RolePermission(SQLModel, table=True):
    __tablename__ = "role_permissions"

    role_id: int = Field(
        sa_column=Column(Integer, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)
    )
    permission: str = Field(max_length=64, primary_key=True)


class Grant(SQLModel, table=True):
    """Binds a user to a role, over all of a tenant's accounts or the listed ones, with
    optional limits (in limit_currency), a weekly time window and a validity period."""

    __tablename__ = "grants"
    __table_args__ = (
        Index("ix_grants_user_all_accounts", "user_id", "all_accounts"),
        CheckConstraint(
            "(window_days IS NULL) = (window_start IS NULL) AND "
            "(window_days IS NULL) = (window_end IS NULL) AND "
            "(window_days IS NULL) = (window_zone IS NULL)",
            name="ck_grants_window_complete",
        ),
        CheckConstraint(
            "window_start IS NULL OR (window_start >= 0 AND window_start < 1440 AND "
            "window_end >= 0 AND window_end <= 1440 AND window_start <> window_end)",
            name="ck_grants_window_minutes",
        ),
        CheckConstraint(
            "valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until",
            name="ck_grants_validity_order",
        ),
        CheckConstraint(
            "approval_group IS NULL OR approval_group IN ('A', 'B')",
            name="ck_grants_approval_group",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    role_id: int = Field(foreign_key="roles.id", index=True)
    bank_id: int = Field(foreign_key="banks.id")
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id", index=True)
    all_accounts: bool = Field(default=True)
    limit_currency: str | None = Field(default=None, max_length=3)
    per_transfer_limit: int | None = Field(default=None, sa_type=BigInteger)
    daily_limit: int | None = Field(default=None, sa_type=BigInteger)
    monthly_limit: int | None = Field(default=None, sa_type=BigInteger)
    # Weekdays as digits, 0 = Monday ("01234" = Mon-Fri); minutes after local midnight.
    window_days: str | None = Field(default=None, max_length=7)
    window_start: int | None = Field(default=None)
    window_end: int | None = Field(default=None)
    window_zone: str | None = Field(default=None, max_length=64)
    valid_from: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    valid_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # An approver's signature group ("A" or "B") and the most one approval of theirs may
    # cover (in limit_currency): read by policies/approvals.polar.
    approval_group: str | None = Field(default=None, max_length=1)
    approval_limit: int | None = Field(default=None, sa_type=BigInteger)
    # Optional: the most the payments this person's approvals count toward may sum to in a
    # day of the tenant's zone (in limit_currency), read by conditions.polar.
    approval_daily_limit: int | None = Field(default=None, sa_type=BigInteger)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by_id: int | None = Field(default=None, foreign_key="users.id")


class GrantAccount(SQLModel, table=True):
    """An account in a grant's scope. user_id is copied from the grant so that "the grants of
    this user over this account" is one index lookup however many grants the user holds."""

    __tablename__ = "grant_accounts"
    __table_args__ = (Index("ix_grant_accounts_account_user", "account_id", "user_id"),)

    grant_id: int = Field(
        sa_column=Column(Integer, ForeignKey("grants.id", ondelete="CASCADE"), primary_key=True)
    )
    account_id: int = Field(foreign_key="accounts.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id")


class LimitCap(SQLModel, table=True):
    """A ceiling on every grant's limits: bank-wide (tenant_id null) or for one tenant."""

    __tablename__ = "limit_caps"
    __table_args__ = (
        Index(
            "ix_limit_caps_unique",
            "bank_id",
            text("coalesce(tenant_id, 0)"),
            "currency",
            unique=True,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    bank_id: int = Field(foreign_key="banks.id")
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id", index=True)
    currency: str = Field(max_length=3)
    per_transfer_limit: int | None = Field(default=None, sa_type=BigInteger)
    daily_limit: int | None = Field(default=None, sa_type=BigInteger)
    monthly_limit: int | None = Field(default=None, sa_type=BigInteger)
    updated_by_id: int | None = Field(default=None, foreign_key="users.id")
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class GrantSpend(SQLModel, table=True):
    """What was sent under a grant on one day (in its tenant's zone), per currency: the running
    totals that a grant's and its role's daily and monthly limits are checked against. Limits
    are set in one currency, so a total in another currency never counts against them."""

    __tablename__ = "grant_spend"

    grant_id: int = Field(foreign_key="grants.id", primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)
    day: dt.date = Field(sa_column=Column(Date, primary_key=True))
    amount: int = Field(default=0, sa_type=BigInteger)


class PersonSpend(SQLModel, table=True):
    """What a person sent under all their grants on one day (in the tenant's zone), per
    currency: the running totals the company's and the bank's caps are checked against, under
    the person's row lock, so that holding several grants never multiplies a cap."""

    __tablename__ = "person_spend"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)
    day: dt.date = Field(sa_column=Column(Date, primary_key=True))
    amount: int = Field(default=0, sa_type=BigInteger)


__all__ = [
    "Bank",
    "Grant",
    "GrantAccount",
    "GrantSpend",
    "LimitCap",
    "PersonSpend",
    "Role",
    "RolePermission",
    "Tenant",
    "User",
]


class Person(Protocol):
    """A users row as the ORM loads it, or a plain SQL row of the same columns."""

    @property
    def id(self) -> int | None: ...
    @property
    def username(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def bank_id(self) -> int: ...
    @property
    def tenant_id(self) -> int | None: ...


def actor_of(
    user: Person,
    authentication: Authentication | None = None,
    *,
    client_id: str | None = None,
    scopes: tuple[str, ...] | None = None,
) -> Actor:
    """The Actor a user acts as (having authenticated so, when they are the one asking; an
    API client with its token's scopes)."""
    assert user.id is not None
    return Actor(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        bank_id=user.bank_id,
        tenant_id=user.tenant_id,
        authentication=authentication,
        client_id=client_id,
        scopes=scopes,
    )
