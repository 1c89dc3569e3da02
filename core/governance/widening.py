"""Whether a change to a grant or a role gives its holders new rights: the fact behind
change_grants_approver_rights and grantee_tied_to_approver (core.governance.facts) for
grant.update and role.update. Pure: it compares the public shapes before and after (the
change request keeps both; "after" is what applying gives, since an approval applies only to
an unchanged "before").

A change gives no new rights only when every part of it is the same or narrower: lower limits
or new ones, fewer accounts, fewer days or hours in the window, a later start or an earlier end
of validity, a lower approval limit, group A to group B, a role with permissions only taken
away. Anything else — another role, a limit raised or removed, limits in another currency, all
accounts, a window removed or in another zone, a validity cleared, more permissions — widens,
and so does whatever cannot be read as a grant or a role (fails closed)."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from pydantic import ValidationError

from core.clock import DAY_NAMES
from core.iam.schemas import GrantPublic, LimitSet, RolePublic, TimeWindow

MINUTES_A_DAY = 24 * 60
# A limit (minor units) or an end (a time): higher is wider.
Bound = TypeVar("Bound", int, dt.datetime)
# With an approval group, group A fills any place of a panel, anyone else only places that
# need not be group A's (approvals.polar: fills_a_place): so no group ranks as group B.
GROUP_RANK = {"A": 2, "B": 1, None: 1}


def grant_widens(before: Any, after: Any) -> bool:
    """Whether the grant `after` may do anything the grant `before` may not."""
    try:
        old, new = GrantPublic.model_validate(before), GrantPublic.model_validate(after)
    except ValidationError:
        return True
    return (
        new.role_id != old.role_id
        or _scope_widens(old, new)
        or limits_widen(old.limits, new.limits)
        or _window_widens(old.window, new.window)
        or _starts_earlier(old.valid_from, new.valid_from)
        or _higher(old.valid_until, new.valid_until)
        or GROUP_RANK[new.approval_group] > GROUP_RANK[old.approval_group]
        or _higher(old.approval_limit, new.approval_limit)
        or _higher(old.approval_daily_limit, new.approval_daily_limit)
    )


def role_widens(before: Any, after: Any) -> bool:
    """Whether the role `after` lets its holders do anything the role `before` does not."""
    try:
        old, new = RolePublic.model_validate(before), RolePublic.model_validate(after)
    except ValidationError:
        return True
    return not set(new.permissions) <= set(old.permissions) or limits_widen(old.limits, new.limits)


def limits_widen(old: LimitSet | None, new: LimitSet | None) -> bool:
    """Limits widen when one is raised or removed, or they move to another currency (a grant
    with limits in a currency moves no money in another; none at all: no limit)."""
    if new is None:
        return old is not None
    if old is None:
        return False
    if new.currency != old.currency:
        return True
    return any(
        _higher(getattr(old, kind), getattr(new, kind))
        for kind in ("per_transfer", "daily", "monthly")
    )


def _higher(old: Bound | None, new: Bound | None) -> bool:
    """A limit or an end (None: none) raised or removed."""
    if new is None:
        return old is not None
    return old is not None and new > old


def _scope_widens(old: GrantPublic, new: GrantPublic) -> bool:
    if new.all_accounts:
        return not old.all_accounts
    return not old.all_accounts and not set(new.account_ids) <= set(old.account_ids)


def _starts_earlier(old: dt.datetime | None, new: dt.datetime | None) -> bool:
    if new is None:
        return old is not None
    return old is not None and new < old


def _window_widens(old: TimeWindow | None, new: TimeWindow | None) -> bool:
    """A window widens when it is removed, moves to another zone, or covers a minute of the
    week the old one did not (compared minute by minute, so windows past midnight too)."""
    if new is None:
        return old is not None
    if old is None:
        return False
    return new.time_zone != old.time_zone or not week_minutes(new) <= week_minutes(old)


def week_minutes(window: TimeWindow) -> frozenset[int]:
    """The minutes of the week (0: Monday 00:00) the window covers, as limits.polar reads it:
    from start to end on each of its days, or, with an end before the start, from start to
    midnight and on from the next day's midnight to the end."""
    start, end = TimeWindow.minutes(window.start), TimeWindow.minutes(window.end)
    week = 7 * MINUTES_A_DAY
    covered: set[int] = set()
    for name in window.days:
        day = DAY_NAMES.index(name) * MINUTES_A_DAY
        stop = end if start < end else end + MINUTES_A_DAY
        covered.update((day + minute) % week for minute in range(start, stop))
    return frozenset(covered)
