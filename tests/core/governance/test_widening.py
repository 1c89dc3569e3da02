"""Which changes to a grant or a role give new rights (core.governance.widening): only those
that provably narrow, or change nothing of what the holder may do, give none; whatever widens
or is unclear does. Pure: no database."""

from __future__ import annotations

from typing import Any

import pytest

from core.governance.widening import grant_widens, role_widens

EUR = {"currency": "EUR", "per_transfer": 1000, "daily": 5000, "monthly": None}
WINDOW = {"days": ["mon", "tue", "wed"], "start": "09:00", "end": "17:00", "time_zone": "UTC"}
NIGHT = {"days": ["fri"], "start": "22:00", "end": "02:00", "time_zone": "UTC"}

GRANT: dict[str, Any] = {
    "id": 7,
    "user_id": 3,
    "role_id": 4,
    "role_key": "payer",
    "role_name": "Payer",
    "tenant_id": 1,
    "all_accounts": False,
    "account_ids": [1, 2],
    "limits": EUR,
    "window": WINDOW,
    "valid_from": "2026-11-01T00:00:00Z",
    "valid_until": "2026-12-31T00:00:00Z",
    "approval_group": "B",
    "approval_limit": 10_000,
    "approval_daily_limit": 20_000,
    "created_by": 2,
    "created_at": "2026-11-01T00:00:00Z",
    "revoked_at": None,
}


def changed(**fields: Any) -> dict[str, Any]:
    return {**GRANT, **fields}


NARROWER_OR_SAME = {
    "nothing changes": changed(),
    "a lower per-transfer limit": changed(limits={**EUR, "per_transfer": 500}),
    "a monthly limit where there was none": changed(limits={**EUR, "monthly": 50_000}),
    "fewer accounts": changed(account_ids=[1]),
    "fewer days in the window": changed(window={**WINDOW, "days": ["mon"]}),
    "a shorter window": changed(window={**WINDOW, "start": "10:00", "end": "16:00"}),
    "an earlier valid_until": changed(valid_until="2026-12-01T00:00:00Z"),
    "a later valid_from": changed(valid_from="2026-11-15T00:00:00Z"),
    "a lower approval limit": changed(approval_limit=5_000),
    "a lower daily approval limit": changed(approval_daily_limit=1),
    "group B to no group (both fill places that need not be group A)": changed(approval_group=None),
    "only names and times differ": changed(role_name="Payer (renamed)", created_at="2026-11-02"),
}

WIDER_OR_UNCLEAR = {
    "another role": changed(role_id=5, role_key="approver"),
    "a higher daily limit": changed(limits={**EUR, "daily": 6000}),
    "a limit removed": changed(limits={**EUR, "daily": None}),
    "every limit removed": changed(limits=None),
    "limits in another currency": changed(limits={**EUR, "currency": "USD"}),
    "all accounts instead of a list": changed(all_accounts=True, account_ids=[]),
    "another account": changed(account_ids=[1, 3]),
    "the window removed": changed(window=None),
    "a longer window": changed(window={**WINDOW, "end": "18:00"}),
    "a day added": changed(window={**WINDOW, "days": ["mon", "tue", "wed", "thu"]}),
    "the window in another zone": changed(window={**WINDOW, "time_zone": "Europe/Berlin"}),
    "the expiry cleared": changed(valid_until=None),
    "a later expiry": changed(valid_until="2027-01-31T00:00:00Z"),
    "the start cleared": changed(valid_from=None),
    "an earlier start": changed(valid_from="2026-10-01T00:00:00Z"),
    "group B to group A": changed(approval_group="A"),
    "the approval limit cleared": changed(approval_limit=None),
    "a higher approval limit": changed(approval_limit=20_000),
    "the daily approval limit cleared": changed(approval_daily_limit=None),
    "not a grant at all": {"id": 7},
}


@pytest.mark.parametrize("after", NARROWER_OR_SAME.values(), ids=NARROWER_OR_SAME.keys())
def test_a_grant_change_that_only_narrows_gives_no_new_rights(after):
    assert not grant_widens(GRANT, after)


@pytest.mark.parametrize("after", WIDER_OR_UNCLEAR.values(), ids=WIDER_OR_UNCLEAR.keys())
def test_a_grant_change_that_widens_or_is_unclear_gives_new_rights(after):
    assert grant_widens(GRANT, after)


def test_windows_past_midnight_compare_minute_by_minute():
    night = changed(window=NIGHT)
    assert not grant_widens(night, changed(window={**NIGHT, "end": "01:00"}))
    assert not grant_widens(night, changed(window={**NIGHT, "start": "23:00", "end": "24:00"}))
    assert grant_widens(night, changed(window={**NIGHT, "end": "03:00"}))
    # The whole day is no narrower than a night that runs past it into Saturday.
    whole_friday = {**NIGHT, "start": "00:00", "end": "24:00"}
    assert grant_widens(night, changed(window=whole_friday))
    assert not grant_widens(changed(window=None), night)  # a window where there was none


def test_limits_and_a_validity_where_there_were_none_narrow():
    free = changed(limits=None, valid_from=None, valid_until=None, approval_limit=None)
    assert not grant_widens(free, GRANT)
    assert grant_widens(GRANT, free)


def test_group_a_to_group_b_narrows():
    assert not grant_widens(changed(approval_group="A"), GRANT)


ROLE: dict[str, Any] = {
    "id": 9,
    "tenant_id": 1,
    "key": "custom:9",
    "name": "Clerk",
    "description": "",
    "builtin": False,
    "level": "tenant",
    "permissions": ["account.read", "statement.read"],
    "limits": EUR,
}

ROLE_CHANGES = [
    ("renamed", {"name": "Senior clerk"}, False),
    ("a permission removed", {"permissions": ["account.read"]}, False),
    ("a limit lowered", {"limits": {**EUR, "daily": 10}}, False),
    (
        "a permission added",
        {"permissions": ["account.read", "statement.read", "payment.create"]},
        True,
    ),
    (
        "one permission swapped for another",
        {"permissions": ["account.read", "payment.create"]},
        True,
    ),
    ("a limit raised", {"limits": {**EUR, "per_transfer": 2000}}, True),
    ("the limits cleared", {"limits": None}, True),
    ("not a role at all", {"permissions": None}, True),
]


@pytest.mark.parametrize(
    ("fields", "widens"), [c[1:] for c in ROLE_CHANGES], ids=[c[0] for c in ROLE_CHANGES]
)
def test_a_role_change_gives_new_rights_only_when_it_adds_or_raises(fields, widens):
    assert role_widens(ROLE, {**ROLE, **fields}) is widens
