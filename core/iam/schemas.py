"""What the identity and access API takes in and gives out."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core.clock import minutes_of_day
from core.fields import PLAIN_TEXT, CurrencyCode, Instant, ResourceId
from core.money import MAX_AMOUNT

_ZONES: frozenset[str] | None = None


def _zone(name: str) -> str:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    if name not in _ZONES:
        raise PydanticCustomError(
            "unknown_time_zone", "{name} is not an IANA time zone", {"name": name}
        )
    ZoneInfo(name)
    return name


def _clock_time(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise PydanticCustomError("invalid_time", "times are HH:MM, 00:00 to 23:59")
    return value


def _window_end(value: str) -> str:
    # 24:00 is the end of the day (the end is excluded, so 23:59 would leave out 23:59:30).
    if value != "24:00" and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise PydanticCustomError(
            "invalid_time", "an end time is HH:MM, 00:00 to 23:59, or 24:00 for the end of the day"
        )
    return value


TimeZone = Annotated[str, AfterValidator(_zone), Field(examples=["Europe/Berlin"], max_length=64)]
ClockTime = Annotated[str, AfterValidator(_clock_time), Field(examples=["09:00"], max_length=5)]
WindowEnd = Annotated[
    str,
    AfterValidator(_window_end),
    Field(
        examples=["17:00", "24:00"],
        max_length=5,
        description="Local end time, excluded: 17:00 ends at 16:59:59; 24:00 is the end of the "
        "day (00:00-24:00 is the whole day). Before the start, the window runs past midnight.",
    ),
]
Limit = Annotated[
    int | None,
    Field(
        default=None, strict=True, ge=1, le=MAX_AMOUNT, description="minor units; null: no limit"
    ),
]
# An approver's signature group (policies/approvals.polar: group A fills any place a panel
# still has; B, like no group, only those that need not be A).
ApprovalGroup = Annotated[
    Literal["A", "B"] | None,
    Field(
        default=None,
        description="Signature group of an approver (A or B); only with a role that carries "
        "payment.approve",
    ),
]
ApprovalLimit = Annotated[
    int | None,
    Field(
        default=None,
        strict=True,
        ge=1,
        le=MAX_AMOUNT,
        description="The most one approval of this approver may cover, in minor units of the "
        "grant's limit currency (limits.currency, required with it); only with a role that "
        "carries payment.approve",
    ),
]
ApprovalDailyLimit = Annotated[
    int | None,
    Field(
        default=None,
        strict=True,
        ge=1,
        le=MAX_AMOUNT,
        description="The most the payments this approver's approvals count toward may sum to "
        "in a day (the company's day), in minor units of the grant's limit currency "
        "(limits.currency, required with it); only with a role that carries payment.approve",
    ),
]
Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$"),
]
DisplayName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), PLAIN_TEXT
]
Password = Annotated[str, StringConstraints(min_length=12, max_length=256)]
RoleName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), PLAIN_TEXT
]
RoleDescription = Annotated[str, StringConstraints(max_length=500), PLAIN_TEXT]
Permission = Annotated[str, StringConstraints(pattern=r"^[a-z]+\.[a-z]+$", max_length=64)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LimitSet(_Input):
    """Limits in one currency; each may be null (no limit at this level)."""

    currency: CurrencyCode
    per_transfer: Limit = None
    daily: Limit = None
    monthly: Limit = None


class TimeWindow(_Input):
    """When money may move: these weekdays, from start (included) to end (excluded) local
    time in time_zone. 24:00 as the end is the end of the day: 00:00-24:00 is the whole day,
    22:00-24:00 the last two hours of it. An end before the start runs past midnight
    (Fri 22:00-02:00 covers Saturday 01:00)."""

    days: list[Weekday] = Field(min_length=1, max_length=7)
    start: ClockTime = Field(description="Local start time, included, 00:00 to 23:59")
    end: WindowEnd
    time_zone: TimeZone

    @model_validator(mode="after")
    def _distinct(self) -> TimeWindow:
        if self.start == self.end:
            raise PydanticCustomError(
                "invalid_window",
                "start and end must differ: for the whole day give 00:00-24:00 (no window at "
                "all means any time)",
            )
        return self

    @staticmethod
    def minutes(value: str) -> int:
        return minutes_of_day(value)


# -- tenants and users ----------------------------------------------------------------------


class TenantCreate(_Input):
    name: DisplayName
    timezone: TimeZone = "Europe/Berlin"


StepUpMinutes = Annotated[
    int | None,
    Field(
        default=None,
        strict=True,
        ge=0,
        le=1440,
        description="Step-up: the actions that ask for it need a code from the person's "
        "authenticator app given within this many minutes (0: no step-up)",
    ),
]


class StepUpAmount(_Input):
    """The amount above which transfers and payments need a step-up, in one currency (a
    transfer in another currency needs one whatever its amount)."""

    currency: CurrencyCode
    amount: int = Field(strict=True, ge=1, le=MAX_AMOUNT, description="minor units")


class TenantSettings(_Input):
    """A customer's rules for payments, set by the bank; what the patch leaves out stays."""

    beneficiary_approval_required: StrictBool | None = Field(
        default=None, description="A new beneficiary waits for a second person's approval"
    )
    new_beneficiary_hours: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=720,
        description="For this many hours after a beneficiary is added, every payment to it "
        "needs an approval (0: never)",
    )
    payment_expiry_days: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=30,
        description="A payment awaiting approval expires after this many days",
    )
    dual_admin: StrictBool | None = Field(
        default=None,
        description="Dual administration: a corporate admin's change to users, roles, grants "
        "and approval rules waits for a second corporate admin (refused off when the bank "
        "makes it mandatory)",
    )
    dual_admin_trust_days: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=365,
        description="Who is tied to the requester (one created the other, gave them a grant or "
        "reset their password) within this many days is no second person for the requester's "
        "change requests",
    )
    step_up_minutes: StepUpMinutes = None
    step_up_transfer: StepUpAmount | None = Field(
        default=None,
        description="With step-up on: transfers and payments above this amount need it too",
    )
    clear_step_up_transfer: StrictBool | None = Field(
        default=None, description="Transfers and payments need no step-up, whatever the amount"
    )

    @model_validator(mode="after")
    def _one_step_up_amount(self) -> TenantSettings:
        if self.clear_step_up_transfer and self.step_up_transfer is not None:
            raise PydanticCustomError(
                "invalid_request", "give step_up_transfer or clear_step_up_transfer, not both"
            )
        return self


class TenantPublic(BaseModel):
    id: int
    name: str
    timezone: str
    beneficiary_approval_required: bool
    new_beneficiary_hours: int
    payment_expiry_days: int
    dual_admin: bool
    dual_admin_trust_days: int
    step_up_minutes: int
    step_up_transfer: StepUpAmount | None
    created_at: dt.datetime


class BankSettings(_Input):
    """The bank's rules for change: what the patch leaves out stays."""

    dual_admin_default: StrictBool | None = Field(
        default=None, description="New customers start with dual administration on"
    )
    dual_admin_mandatory: StrictBool | None = Field(
        default=None, description="No customer may turn dual administration off"
    )
    dual_control: StrictBool | None = Field(
        default=None,
        description="A bank manager's changes (caps, minimums, customers' settings, users, "
        "roles, grants) wait for a second bank manager",
    )
    change_request_hours: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=720,
        description="A change request waits this many hours for its second person",
    )
    dual_admin_trust_days: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=365,
        description="Among the bank's staff, who is tied to the requester (one created the "
        "other, gave them a grant or reset their password) within this many days is no second "
        "person for the requester's change requests and policy versions",
    )
    mfa_required_for_staff_and_admins: StrictBool | None = Field(
        default=None,
        description="Bank staff and corporate admins must sign in with a second factor: without "
        "one set up, they may sign in only to set up an authenticator app",
    )
    step_up_minutes: StepUpMinutes = None


class BankPublic(BaseModel):
    id: int
    name: str
    dual_admin_default: bool
    dual_admin_mandatory: bool
    dual_control: bool
    change_request_hours: int
    dual_admin_trust_days: int
    mfa_required_for_staff_and_admins: bool
    step_up_minutes: int


class UserCreate(_Input):
    username: Username
    display_name: DisplayName
    password: Password
    tenant_id: ResourceId | None = Field(default=None, description="Bank staff only: the tenant")


class UserUpdate(_Input):
    display_name: DisplayName | None = None
    is_active: StrictBool | None = None


class PasswordReset(_Input):
    password: Password


class _Principal(BaseModel):
    id: int
    username: str
    display_name: str
    tenant_id: int | None
    is_active: bool
    created_at: dt.datetime


class UserPublic(_Principal):
    kind: Literal["person", "client"] = Field(
        description="person, or client: an API client's principal (its credentials: "
        "GET /v1/api-clients/{id}), which holds grants as a person does"
    )


class MePublic(_Principal):
    # The caller's standing (the policy's actor kind), as /v1/me has always said it; whether
    # a person or a client: GET /v1/users/{id}.
    kind: Literal["customer", "staff"]
    grants: list[GrantPublic]


# -- roles ----------------------------------------------------------------------------------


class RoleCreate(_Input):
    name: RoleName
    description: RoleDescription = ""
    permissions: list[Permission] = Field(min_length=1, max_length=30)
    limits: LimitSet | None = None
    tenant_id: ResourceId | None = Field(default=None, description="Bank staff only: the tenant")


class RoleUpdate(_Input):
    name: RoleName | None = None
    description: RoleDescription | None = None
    permissions: list[Permission] | None = Field(default=None, min_length=1, max_length=30)
    limits: LimitSet | None = None
    clear_limits: StrictBool = False


class RolePublic(BaseModel):
    id: int
    tenant_id: int | None
    key: str
    name: str
    description: str
    builtin: bool
    level: Literal["tenant", "bank"]
    permissions: list[str]
    limits: LimitSet | None


# -- grants ---------------------------------------------------------------------------------


class GrantCreate(_Input):
    user_id: ResourceId
    role_id: ResourceId
    all_accounts: StrictBool = True
    account_ids: list[ResourceId] = Field(default_factory=list, max_length=500)
    limits: LimitSet | None = None
    window: TimeWindow | None = None
    valid_from: Instant = None
    valid_until: Instant = None
    approval_group: ApprovalGroup = None
    approval_limit: ApprovalLimit = None
    approval_daily_limit: ApprovalDailyLimit = None

    @model_validator(mode="after")
    def _scope_and_validity(self) -> GrantCreate:
        _check_scope(self.all_accounts, self.account_ids)
        _check_validity(self.valid_from, self.valid_until)
        return self


class GrantUpdate(_Input):
    """Replace the grant's conditions; fields left out (or null) stay as they are, and each
    clear_* flag removes its part."""

    all_accounts: StrictBool | None = None
    account_ids: list[ResourceId] | None = Field(default=None, max_length=500)
    limits: LimitSet | None = None
    clear_limits: StrictBool = False
    window: TimeWindow | None = None
    clear_window: StrictBool = False
    valid_from: Instant = None
    valid_until: Instant = None
    clear_validity: StrictBool = False
    # Cleared by a flag, as the other parts are: a null left in a body keeps, never widens
    # (clearing an approval limit lets the approver approve any amount).
    approval_group: ApprovalGroup = None
    clear_approval_group: StrictBool = Field(
        default=False, description="Remove the signature group (approval_group)"
    )
    approval_limit: ApprovalLimit = None
    clear_approval_limit: StrictBool = Field(
        default=False,
        description="Remove the approval limit: the approver may then approve any amount",
    )
    approval_daily_limit: ApprovalDailyLimit = None
    clear_approval_daily_limit: StrictBool = Field(
        default=False,
        description="Remove the daily approval limit: the approver's approvals of a day may "
        "then sum to any amount",
    )


class GrantPublic(BaseModel):
    id: int
    user_id: int
    role_id: int
    role_key: str
    role_name: str
    tenant_id: int | None
    all_accounts: bool
    account_ids: list[int]
    limits: LimitSet | None
    window: TimeWindow | None
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None
    approval_group: Literal["A", "B"] | None
    approval_limit: int | None = Field(
        description="minor units of limits.currency; null: any amount"
    )
    approval_daily_limit: int | None = Field(
        default=None,
        description="minor units of limits.currency, what the payments this approver's "
        "approvals count toward may sum to in a day; null: no daily approval limit",
    )
    created_by: int | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def _check_scope(all_accounts: bool, account_ids: list[int]) -> None:
    if all_accounts and account_ids:
        raise PydanticCustomError("invalid_scope", "give account_ids only with all_accounts false")
    if not all_accounts and not account_ids:
        raise PydanticCustomError("invalid_scope", "a grant over listed accounts needs account_ids")


def _check_validity(start: dt.datetime | None, end: dt.datetime | None) -> None:
    if start is not None and end is not None and start >= end:
        raise PydanticCustomError("invalid_validity", "valid_from must be before valid_until")


# -- caps and the vocabulary ----------------------------------------------------------------


class CapSet(_Input):
    per_transfer: Limit = None
    daily: Limit = None
    monthly: Limit = None


class CapPublic(BaseModel):
    level: Literal["bank", "tenant"]
    tenant_id: int | None
    currency: str
    per_transfer: int | None
    daily: int | None
    monthly: int | None
    updated_at: dt.datetime


class PermissionPublic(BaseModel):
    name: str
    level: Literal["tenant", "bank"]
    description: str
    composable: bool = Field(description="may be part of a custom role")


MePublic.model_rebuild()
