"""A grant's and a role's conditions, as plain functions: what a patch makes of them (each
part given, cleared or kept), whether they hold together, and how they are stored on the row.
What the conditions mean, and whether they fit under the caps, is the policy's (the limits go
to it as a Proposal; an approver's terms are read by policies/approvals.polar and
conditions.polar)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TypeVar

from core.clock import DAY_NAMES
from core.errors import InvalidRequest
from core.iam.schemas import GrantPublic, GrantUpdate, LimitSet, TimeWindow
from core.models.iam import Grant, Role
from core.policy.facts import Proposal

T = TypeVar("T")

# The permission whose grants approval terms are for (policies/vocabulary.polar).
APPROVE = "payment.approve"


def patched(given: T | None, clear: bool, current: T | None) -> T | None:
    """One part of a patch: the value given, else nothing if the patch clears it, else the
    current value."""
    if given is not None:
        return given
    return None if clear else current


def proposal(limits: LimitSet | None) -> Proposal:
    """The limits someone asks to set, for the policy to hold against the caps."""
    if limits is None:
        return Proposal(currency="")
    return Proposal(limits.currency, limits.per_transfer, limits.daily, limits.monthly)


@dataclass(frozen=True)
class ApprovalTerms:
    """How an approver's approvals count: their signature group ("A", "B"), the most one
    approval of theirs may cover, and (optionally) the most the payments their approvals of a
    day count toward may sum to, in minor units of the grant's limit currency."""

    group: str | None = None
    limit: int | None = None
    daily_limit: int | None = None

    @property
    def given(self) -> bool:
        return self.group is not None or self.limit is not None or self.daily_limit is not None

    @property
    def first_given(self) -> str:
        """The field of the first term given (for a refusal to name)."""
        if self.group is not None:
            return "approval_group"
        return "approval_limit" if self.limit is not None else "approval_daily_limit"


@dataclass(frozen=True)
class GrantConditions:
    """When and for how much a grant holds: its limits, its time window, its validity, and
    for an approver the terms of their approvals."""

    limits: LimitSet | None = None
    window: TimeWindow | None = None
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    approval: ApprovalTerms = field(default_factory=ApprovalTerms)


@dataclass(frozen=True)
class GrantScope:
    """Over which accounts a grant holds: all the tenant's, or those listed."""

    all_accounts: bool
    account_ids: list[int]


def check_validity(valid_from: dt.datetime | None, valid_until: dt.datetime | None) -> None:
    if valid_from is not None and valid_until is not None and valid_from >= valid_until:
        raise InvalidRequest("valid_from must be before valid_until", code="invalid_validity")


def check_scope(scope: GrantScope) -> None:
    if scope.all_accounts and scope.account_ids:
        raise InvalidRequest("give account_ids only with all_accounts false", code="invalid_scope")
    if not scope.all_accounts and not scope.account_ids:
        raise InvalidRequest("a grant over listed accounts needs account_ids", code="invalid_scope")


def patched_conditions(current: GrantPublic, body: GrantUpdate) -> GrantConditions:
    """The conditions a patch leaves the grant with; a validity that ends before it starts is
    a 422 (invalid_validity)."""
    conditions = GrantConditions(
        limits=patched(body.limits, body.clear_limits, current.limits),
        window=patched(body.window, body.clear_window, current.window),
        valid_from=patched(body.valid_from, body.clear_validity, current.valid_from),
        valid_until=patched(body.valid_until, body.clear_validity, current.valid_until),
        approval=ApprovalTerms(
            group=patched(body.approval_group, body.clear_approval_group, current.approval_group),
            limit=patched(body.approval_limit, body.clear_approval_limit, current.approval_limit),
            daily_limit=patched(
                body.approval_daily_limit,
                body.clear_approval_daily_limit,
                current.approval_daily_limit,
            ),
        ),
    )
    check_validity(conditions.valid_from, conditions.valid_until)
    return conditions


def check_approval(
    conditions: GrantConditions, given: ApprovalTerms, role_name: str, permissions: Collection[str]
) -> None:
    """Approval terms where they would mean nothing are a 422 (invalid_request, naming the
    field): terms given with a role that does not carry payment.approve, and an approval
    limit on a grant left without a limit currency (the limit is counted in it).

    Refused rather than stored unused: a grant that reads "approves up to 1,000.00 EUR" must
    be one that approves. Terms kept but ignored would mislead whoever reads the grant or the
    change log, and would start to count, unreviewed, the day the role gained the permission.
    Only terms the request gives are held to the role: a grant whose custom role has since
    lost payment.approve can still be changed, or its terms cleared."""
    if given.given and APPROVE not in permissions:
        name = given.first_given
        raise InvalidRequest(
            f"{name}: the role {role_name} does not carry {APPROVE}, so an approval group or "
            "limit would have no effect, and the bank refuses terms that do nothing: give "
            "them only with a role that approves payments",
            field=name,
        )
    if conditions.approval.limit is not None and conditions.limits is None:
        raise InvalidRequest(
            "approval_limit: an approval limit is counted in the grant's limit currency, and "
            'the grant would have none: give limits with a currency ({"currency": "EUR"} '
            "alone will do), or no approval limit",
            field="approval_limit",
        )
    if conditions.approval.daily_limit is not None and conditions.limits is None:
        raise InvalidRequest(
            "approval_daily_limit: a daily approval limit is counted in the grant's limit "
            'currency, and the grant would have none: give limits with a currency ({"currency": '
            '"EUR"} alone will do), or no daily approval limit',
            field="approval_daily_limit",
        )


def patched_scope(current: GrantPublic, body: GrantUpdate) -> GrantScope | None:
    """The scope a patch gives the grant, None if it leaves the scope alone. Turning to all
    accounts drops the list; a scope that is both or neither is a 422 (invalid_scope)."""
    if body.all_accounts is None and body.account_ids is None:
        return None
    all_accounts = current.all_accounts if body.all_accounts is None else body.all_accounts
    kept_ids = [] if all_accounts else current.account_ids
    scope = GrantScope(all_accounts, kept_ids if body.account_ids is None else body.account_ids)
    check_scope(scope)
    return scope


# -- on the row -----------------------------------------------------------------------------


def set_limits(row: Role | Grant, limits: LimitSet | None) -> None:
    row.limit_currency = limits.currency if limits else None
    row.per_transfer_limit = limits.per_transfer if limits else None
    row.daily_limit = limits.daily if limits else None
    row.monthly_limit = limits.monthly if limits else None


def set_conditions(grant: Grant, conditions: GrantConditions) -> None:
    """Write the conditions on the grant's row: the window as its weekdays' digits (Monday
    0, in week order), minutes of the day and zone."""
    set_limits(grant, conditions.limits)
    window = conditions.window
    if window is None:
        grant.window_days = grant.window_start = grant.window_end = grant.window_zone = None
    else:
        grant.window_days = "".join(
            str(DAY_NAMES.index(d)) for d in sorted(set(window.days), key=DAY_NAMES.index)
        )
        grant.window_start = TimeWindow.minutes(window.start)
        grant.window_end = TimeWindow.minutes(window.end)
        grant.window_zone = window.time_zone
    grant.valid_from = conditions.valid_from
    grant.valid_until = conditions.valid_until
    grant.approval_group = conditions.approval.group
    grant.approval_limit = conditions.approval.limit
    grant.approval_daily_limit = conditions.approval.daily_limit
