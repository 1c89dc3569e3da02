"""A grant's and a role's conditions, as plain functions: what a patch makes of them (each
part given, cleared or kept), whether they hold together, and how they are stored on the row.
What the conditions mean, and whether they fit under the caps, is the policy's (the limits go
to it as a Proposal)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TypeVar

from core.clock import DAY_NAMES
from core.errors import InvalidRequest
from core.iam.schemas import GrantPublic, GrantUpdate, LimitSet, TimeWindow
from core.models.iam import Grant, Role
from core.policy.facts import Proposal

T = TypeVar("T")


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
class GrantConditions:
    """When and for how much a grant holds: its limits, its time window, its validity."""

    limits: LimitSet | None = None
    window: TimeWindow | None = None
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None


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
    )
    check_validity(conditions.valid_from, conditions.valid_until)
    return conditions


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
